"""Cycling logs: one cell pulsed SET / RESET over and over, read after every pulse.

The format is an event log, one event per line, comma-separated, no header (the bundled
array's `endurance_log.csv.gz`, see its README):

    chip, unix time (s), address, operation, fields...

- `SET` / `RESET` rows: V_WL, V_BL, V_SL (V), pulse width (s);
- `READ` rows: R (ohm), then G, current, voltage (not used);
- `ENDURANCE` rows start a cycle (their fields, the cycle's settings, are not used; a
  field may be a quoted tuple such as `"(2.5, 1.3)"`).

`read_cycling` pairs every pulse with the read before it (R before: the previous read of
the same cell, whatever operation preceded it) and the read after it (R after): a
`PulseTable` (terminal voltages, addresses) plus each pulse's position in its cell's sequence
(the unix time is checked, not kept: nothing reads it).
A pulse without a read before it (the first of a cell) or after it (the last) is dropped
and counted; a malformed row (an unknown operation, a missing or non-numeric field, a
resistance <= 0) is a `MeasurementError` naming the file, the line and the field.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
from pathlib import Path

import numpy as np

from circuitkit.measurements.kinds import PulseTable
from circuitkit.measurements.reader import (MeasurementError, MeasurementFile, _decode, _decompressed,
                                            _read_bytes_raw)

PULSES = ("SET", "RESET")
OPERATIONS = PULSES + ("READ", "ENDURANCE")
_PULSE_FIELDS = ("V_WL", "V_BL", "V_SL", "pulse width")


@dataclasses.dataclass(frozen=True)
class CyclingRecord:
    """Pulses of a cycling log, each with the reads around it."""

    pulses: PulseTable  # one row per pulse: terminals, width, R before / after, address
    order: np.ndarray  # the pulse's position in its cell's sequence (0, 1, ...)
    dropped: dict[str, int]  # reason -> pulses

    def __len__(self) -> int:
        return len(self.pulses)

    @property
    def is_set(self) -> np.ndarray:
        return self.pulses.bl_voltage > self.pulses.sl_voltage

    @property
    def cells(self) -> np.ndarray:
        return np.unique(self.pulses.address)


def _number(cell: str, path: Path, line: int, what: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise MeasurementError(f"{cell!r} is not a number (expected the {what})", path=path, line=line,
                               column=what) from None
    if not np.isfinite(value):
        raise MeasurementError(f"{cell!r} is not finite (expected the {what})", path=path, line=line, column=what)
    return value


def read_cycling(path: Path | str, read_voltage: float | None = None) -> CyclingRecord:
    """The pulses of a cycling log (format in the module docstring), each paired with the
    read before and after it."""
    path = Path(path)
    stored = _read_bytes_raw(path)
    text = _decode(path, _decompressed(path, stored))
    rows: dict[str, list] = {key: [] for key in ("address", "v_wl", "v_bl", "v_sl", "width", "before", "after")}
    last_read: dict[str, float] = {}
    pending: dict[str, tuple] = {}  # address -> pulse waiting for its read
    dropped = {"no_read_before": 0, "no_read_after": 0}
    lines = 0
    for line, fields in enumerate(csv.reader(io.StringIO(text), skipinitialspace=True), start=1):
        if not fields or not "".join(fields).strip() or fields[0].lstrip().startswith("#"):
            continue
        lines += 1
        if len(fields) < 4:
            raise MeasurementError(f"expected chip, unix time, address, operation, ...; found {len(fields)} field(s)",
                                   path=path, line=line)
        address, operation = fields[2].strip(), fields[3].strip().upper()
        if operation not in OPERATIONS:
            raise MeasurementError(f"unknown operation {fields[3]!r}; expected one of {', '.join(OPERATIONS)}",
                                   path=path, line=line, column="operation")
        _number(fields[1], path, line, "unix time")  # checked: a malformed log is named, not half read
        if operation in PULSES:
            if len(fields) < 8:
                raise MeasurementError(f"a {operation} row needs {', '.join(_PULSE_FIELDS)} after the operation; found "
                                       f"{len(fields) - 4} field(s)", path=path, line=line)
            values = tuple(_number(cell, path, line, what) for cell, what in zip(fields[4:8], _PULSE_FIELDS))
            if not values[3] > 0:
                raise MeasurementError(f"pulse width {values[3]!r} s: expected > 0", path=path, line=line,
                                       column="pulse width")
            if address in pending:
                dropped["no_read_after"] += 1
            pending[address] = (values, last_read.get(address), line)
        elif operation == "READ":
            if len(fields) < 5:
                raise MeasurementError("a READ row needs R (ohm) after the operation", path=path, line=line)
            resistance = _number(fields[4], path, line, "R")
            if not resistance > 0:
                raise MeasurementError(f"R = {resistance!r} ohm: expected > 0", path=path, line=line, column="R")
            pulse = pending.pop(address, None)
            if pulse is not None:
                values, before, _ = pulse
                if before is None:
                    dropped["no_read_before"] += 1
                else:
                    for key, value in zip(("address", "v_wl", "v_bl", "v_sl", "width", "before", "after"),
                                          (address, *values, before, resistance)):
                        rows[key].append(value)
            last_read[address] = resistance
    dropped["no_read_after"] += len(pending)
    if not rows["address"]:
        raise MeasurementError("no SET or RESET pulse with a READ before and after it: expected a cycling log of "
                               "chip, unix time, address, operation (SET/RESET/READ/ENDURANCE), fields", path=path)
    arrays = {key: np.asarray(value, dtype=object if key == "address" else float) for key, value in rows.items()}
    if np.any(arrays["v_bl"] == arrays["v_sl"]):
        bad = int(np.flatnonzero(arrays["v_bl"] == arrays["v_sl"])[0])
        raise MeasurementError(f"pulse {bad} has V_BL = V_SL: a SET pulses the bit line, a RESET the source line",
                               path=path)
    address = arrays["address"].astype(str)
    order = np.zeros(address.size, dtype=np.int64)
    for cell in np.unique(address):
        pick = address == cell
        order[pick] = np.arange(pick.sum())
    source = MeasurementFile(path=path, sha256=hashlib.sha256(stored).hexdigest(), metadata={},
                             columns={"operation": "#4", "address": "#3", "wl_voltage": "#5 (SET/RESET)",
                                      "bl_voltage": "#6 (SET/RESET)", "sl_voltage": "#7 (SET/RESET)",
                                      "width": "#8 (SET/RESET)", "r_before": "#5 of the READ before",
                                      "r_after": "#5 of the READ after"},
                             units={"voltage": "V", "width": "s", "resistance": "ohm"}, header=False, delimiter=",",
                             rows_in_file=lines, rows_used=int(address.size),
                             read_voltage=read_voltage, read_voltage_origin="given" if read_voltage else "not given")
    table = PulseTable(amplitude=arrays["v_bl"] - arrays["v_sl"], width=arrays["width"], r_before=arrays["before"],
                       r_after=arrays["after"], wl_voltage=arrays["v_wl"], address=address, source=source,
                       amplitude_origin="V_BL - V_SL", bl_voltage=arrays["v_bl"], sl_voltage=arrays["v_sl"])
    return CyclingRecord(table, order, dropped)
