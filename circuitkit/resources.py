"""Files that ship inside the circuitkit package: the Verilog-A models and the bundled
characterization data the demo fits.

They live at the top of the repository (`verilog-a/`, `characterization/`, fixed by the
product card) and are linked into the package directory (`circuitkit/verilog-a`,
`circuitkit/characterization`, symbolic links in the source tree), so the wheel carries
them as package data and an installed circuitkit finds them next to its own code,
editable or not. Nothing here, or anywhere in the package, looks for a repository.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from circuitkit import CircuitkitError

VERILOG_A = "verilog-a"
BUNDLED_DATA = "characterization"


def package_path(*parts: str) -> Path:
    """A path inside the installed package."""
    return Path(str(resources.files("circuitkit").joinpath(*parts)))


def verilog_a_dir() -> Path:
    """The directory of the Verilog-A models (`<module>.va`)."""
    return package_path(VERILOG_A)


def bundled_data(name: str) -> Path:
    """A file or folder of the bundled characterization data (e.g. 'iv_sweep.csv',
    'rram-1t1r-130nm'), by its real path (in a source tree, `characterization/<name>`,
    which provenance records then name)."""
    path = package_path(BUNDLED_DATA, name)
    if not path.exists():
        raise CircuitkitError(f"the bundled data file {name!r} is missing from this installation ({path})")
    return path.resolve()
