"""circuitkit: from HfOx RRAM measurements to 2T2R/PCSA bit-error tables to network accuracy."""

__version__ = "0.1.0"


class CircuitkitError(Exception):
    """Base class of every error circuitkit raises on purpose.

    Messages name the file, row, column or parameter at fault and what was expected,
    so a user never has to read a traceback from deep inside numpy or ngspice.
    """
