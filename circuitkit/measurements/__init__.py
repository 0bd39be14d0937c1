"""Read and validate RRAM measurement files into typed arrays (SI units).

Three shapes (see characterization/README.md for examples):

- I-V sweeps (`read_iv`): voltage and current, optional time and cycle index; several
  cycles in one file. Without a time column the sweep rate (V/s) must be given: the time
  of each point is then the accumulated |dV| divided by that rate. Without a cycle column
  a new cycle starts wherever the voltage turns positive again after a negative excursion.
  A time column that restarts at each cycle is made continuous.
- pulse programming tables (`read_pulse`): pulse width, resistance before and after, and
  either the voltage across the cell (`amplitude`) or the 1T1R terminal voltages: word
  line, bit line, source line (a SET pulses the bit line, a RESET the source line). A
  file that gives only the pulsed line's voltage (`line_voltage`) says which line it is
  with `pulsed_line="bl"|"sl"`; the other line is then at 0 V. A column the file lacks
  can be given as a constant (`constants={"sl_voltage": 0.0}`).
- resistance distributions (`read_distribution`): one resistance per cell, optional state
  label (e.g. LRS/HRS, or one label for the whole file with `constants={"state": "LRS"}`)
  and address.
- retention reads (`read_retention`): resistance, time and temperature (C); with
  `r_before` each row is a before/after pair around a bake of `time` at `temperature`
  (`time_before`: when the before read was taken after programming), else each row is one
  read of cell `address` in a time series.
- cycling logs (`read_cycling`): one cell pulsed SET / RESET over and over, an event log of
  pulses and reads; each pulse is paired with the read before and after it (a `PulseTable`).

Files: an optional header row naming the columns, then one row per point; `#` starts a
comment line (`# key: value` comments are kept as metadata) unless its first cell is an
Excel error value (`#N/A`, `#VALUE!`...), which is bad data. The delimiter is `,`, `;`,
tab or white space (with `;`, a decimal comma is accepted). Files ending in `.gz` are
read through gzip. Without a header (`header=False`, or detected when the first row is
all numbers) columns are named by their 1-based position; with a header, by name
(case-insensitive, with the aliases in `QUANTITIES`) or by position too:
`columns={"resistance": 4}` or `"4"`. A unit is read from the header (`current_uA`,
`current (uA)`, `current [uA]`, `current/uA`) or given per quantity with
`units={"current": "uA"}`; otherwise the SI unit is assumed and recorded. Units are
case-insensitive; where that is ambiguous the plausible one wins (`mohm` is megaohm).

Bad data: a row whose numeric cell is empty, NaN, infinite or an Excel error, a
resistance or pulse width <= 0, or a resistance above the open-circuit ceiling
(`open_circuit_ohm`) is dropped and counted per reason (`MeasurementFile.dropped`, shown
by `MeasurementFile.summary()`); nothing is skipped silently. `strict=True` turns the
first such row into an error instead. Anything else that is wrong (text where a number
belongs, a missing column, a row with the wrong number of fields) is a
`MeasurementError` naming the file, the line (and data row) and the column, and saying
what was expected.

The package: `reader` is the core every kind shares (the table, units, columns, dropped
rows, `ReadOptions`, `MeasurementFile`); `kinds` holds the four kinds (`read_iv`,
`read_pulse`, `read_distribution`, `read_retention`, `read_measurement`). Import from here.
"""

from circuitkit.measurements.cycling import CyclingRecord, read_cycling
from circuitkit.measurements.kinds import (
    PULSED_LINES,
    READERS,
    IVSweep,
    PulseTable,
    ResistanceDistribution,
    RetentionFiles,
    RetentionTable,
    read_distribution,
    read_iv,
    read_measurement,
    read_pulse,
    read_retention,
)
from circuitkit.measurements.reader import (
    DIMENSIONS,
    DROP_REASONS,
    EXCEL_ERRORS,
    QUANTITIES,
    SI_UNIT,
    MeasurementError,
    MeasurementFile,
    Quantity,
    ReadOptions,
    is_excel_error,
    split_header,
    unit_scale,
)

__all__ = ["CyclingRecord", "read_cycling", "DIMENSIONS", "DROP_REASONS", "EXCEL_ERRORS", "PULSED_LINES", "QUANTITIES", "READERS", "SI_UNIT",
           "IVSweep", "MeasurementError", "MeasurementFile", "PulseTable", "Quantity", "ReadOptions",
           "ResistanceDistribution", "RetentionFiles", "RetentionTable",
           "is_excel_error", "read_distribution", "read_iv",
           "read_measurement", "read_pulse", "read_retention", "split_header", "unit_scale"]
