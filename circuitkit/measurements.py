"""Read and validate RRAM measurement CSVs into typed arrays (SI units).

Three shapes (see characterization/README.md for examples):

- I-V sweeps (`read_iv`): voltage and current, optional time and cycle index; several
  cycles in one file. Without a time column the sweep rate (V/s) must be given: the time
  of each point is then the accumulated |dV| divided by that rate. Without a cycle column
  a new cycle starts wherever the voltage turns positive again after a negative excursion.
  A time column that restarts at each cycle is made continuous.
- pulse programming tables (`read_pulse`): pulse amplitude (or bit-line and source-line
  voltages, the amplitude across the cell is then V_BL - V_SL; positive SETs), pulse
  width, resistance before and after, optional word-line voltage and address.
- resistance distributions (`read_distribution`): one resistance per cell, optional state
  label (e.g. LRS/HRS) and address.

Files: one header row naming the columns, then one row per point; `#` starts a comment
line (`# key: value` comments are kept as metadata); the delimiter is `,`, `;`, tab or
white space (with `;`, a decimal comma is accepted). Column names are matched
case-insensitively against the aliases in `QUANTITIES`; a unit is read from the header
(`current_uA`, `current (uA)`, `current [uA]`, `current/uA`) or given per quantity with
`units={"current": "uA"}`; otherwise the SI unit is assumed and recorded. `columns=`
maps a quantity to a header name explicitly. Units are case-insensitive; where that is
ambiguous the plausible one wins (`mohm` is megaohm, `ms` millisecond).

Every problem is a `MeasurementError` naming the file, the line (and data row) and the
column, and saying what was expected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from circuitkit import CircuitkitError


class MeasurementError(CircuitkitError):
    """A measurement file is missing, malformed or physically impossible."""

    def __init__(self, message: str, *, path: Path | str | None = None, line: int | None = None,
                 row: int | None = None, column: str | None = None):
        self.path = Path(path) if path is not None else None
        self.line = line
        self.row = row
        self.column = column
        where = [str(path) if path is not None else "measurement"]
        if line is not None:
            where.append(f"line {line}" + (f" (data row {row})" if row is not None else ""))
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")


# ---------------------------------------------------------------------------- units

DIMENSIONS: dict[str, dict[str, float]] = {
    "voltage": {"v": 1.0, "mv": 1e-3, "uv": 1e-6, "kv": 1e3, "volt": 1.0, "volts": 1.0},
    "current": {"a": 1.0, "ma": 1e-3, "ua": 1e-6, "na": 1e-9, "pa": 1e-12, "amp": 1.0, "amps": 1.0},
    "resistance": {"ohm": 1.0, "ohms": 1.0, "kohm": 1e3, "kohms": 1e3, "mohm": 1e6, "mohms": 1e6,
                   "megohm": 1e6, "gohm": 1e9},
    "time": {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12},
}
SI_UNIT = {"voltage": "V", "current": "A", "resistance": "ohm", "time": "s"}


def _normalize_unit(unit: str) -> str:
    unit = unit.strip().replace("\u00b5", "u").replace("\u03bc", "u").replace("\u2126", "ohm").replace("\u03a9", "ohm")
    return unit.lower().replace(" ", "")


def unit_scale(unit: str, dimension: str) -> float:
    """Factor from `unit` to the SI unit of `dimension` (raises CircuitkitError if unknown)."""
    key = _normalize_unit(unit)
    if key not in DIMENSIONS[dimension]:
        raise CircuitkitError(
            f"unknown {dimension} unit {unit!r}; known: {', '.join(sorted(DIMENSIONS[dimension]))}"
        )
    return DIMENSIONS[dimension][key]


# ---------------------------------------------------------------------------- quantities


@dataclasses.dataclass(frozen=True)
class Quantity:
    """A column a reader looks for: accepted names, physical dimension (None: no unit)."""

    name: str
    aliases: tuple[str, ...]
    dimension: str | None
    kind: str = "float"  # float | integer | text
    required: bool = True


def _q(name, aliases, dimension, kind="float", required=True):
    return Quantity(name, (name, *aliases), dimension, kind, required)


QUANTITIES: dict[str, tuple[Quantity, ...]] = {
    "iv": (
        _q("voltage", ("v", "vte", "v_te", "bias", "vbias", "v_bias", "applied_voltage", "vapp", "v_app",
                       "vforce", "v_force", "v_applied"), "voltage"),
        _q("current", ("i", "ite", "i_te", "imeas", "i_meas", "measured_current", "i_sense", "isense"), "current"),
        _q("time", ("t", "timestamp", "elapsed", "elapsed_time"), "time", required=False),
        _q("cycle", ("cycle_index", "cycle_number", "cycle_no", "cyc", "sweep", "sweep_index", "sweep_number"),
           None, "integer", required=False),
    ),
    "pulse": (
        _q("amplitude", ("pulse_amplitude", "v_pulse", "vpulse", "pulse_voltage", "v_cell", "cell_voltage",
                         "vcell"), "voltage", required=False),
        _q("bl_voltage", ("v_bl", "vbl", "bitline_voltage", "bit_line_voltage", "bl"), "voltage", required=False),
        _q("sl_voltage", ("v_sl", "vsl", "sourceline_voltage", "source_line_voltage", "sl"), "voltage",
           required=False),
        _q("wl_voltage", ("v_wl", "vwl", "wordline_voltage", "word_line_voltage", "wl", "gate_voltage", "v_gate"),
           "voltage", required=False),
        _q("width", ("pulse_width", "pw", "t_pulse", "tpulse", "pulse_duration", "duration"), "time"),
        _q("r_before", ("resistance_before", "r_pre", "rpre", "r_initial", "r_init", "rbefore", "r0"), "resistance"),
        _q("r_after", ("resistance_after", "r_post", "rpost", "r_final", "rafter", "r1"), "resistance"),
        _q("address", ("addr", "cell", "device", "cell_address"), None, "text", required=False),
    ),
    "distribution": (
        _q("resistance", ("r", "r_read", "resistance_read", "rread"), "resistance"),
        _q("state", ("label", "target", "level", "target_state"), None, "text", required=False),
        _q("address", ("addr", "cell", "device", "cell_address"), None, "text", required=False),
    ),
}

_BRACKETED = re.compile(r"^(.*?)\s*[\[(]\s*([^\])]*?)\s*[\])]\s*$")
_SLASHED = re.compile(r"^(.*?)\s*/\s*([^/]+)$")
_IN_UNIT = re.compile(r"^(.*?)\s+in\s+(\S+)$", re.IGNORECASE)


def _canonical(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", name.strip().lower()).strip("_")


def split_header(cell: str) -> tuple[str, str | None]:
    """('current', 'uA') from 'current_uA', 'Current (uA)', 'current [uA]', 'current/uA'."""
    cell = cell.strip().strip('"').strip("'")
    for pattern in (_BRACKETED, _SLASHED, _IN_UNIT):
        match = pattern.match(cell)
        if match and match.group(1).strip():
            return _canonical(match.group(1)), match.group(2).strip()
    tokens = [token for token in re.split(r"[\s\-._]+", cell) if token]
    if len(tokens) > 1 and any(_normalize_unit(tokens[-1]) in units for units in DIMENSIONS.values()):
        return _canonical("_".join(tokens[:-1])), tokens[-1]
    return _canonical(cell), None


# ---------------------------------------------------------------------------- table reading


@dataclasses.dataclass(frozen=True)
class MeasurementFile:
    """Where a measurement came from and how its columns were read."""

    path: Path
    sha256: str
    metadata: Mapping[str, str]
    columns: Mapping[str, str]  # quantity -> header cell
    units: Mapping[str, str]  # quantity -> unit used (as written, or the SI default)
    ignored_columns: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "sha256": self.sha256, "metadata": dict(self.metadata),
            "columns": dict(self.columns), "units": dict(self.units), "ignored_columns": list(self.ignored_columns),
        }


@dataclasses.dataclass(frozen=True)
class _Table:
    path: Path
    sha256: str
    metadata: dict[str, str]
    header: list[str]
    header_line: int
    rows: list[list[str]]
    lines: list[int]


_COMMENT_PREFIXES = ("#",)
_METADATA = re.compile(r"^\s*([^:=]+?)\s*[:=]\s*(.*?)\s*$")


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data:
        raise MeasurementError("contains NUL bytes: this is not a text (CSV) file", path=path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # e.g. Windows instrument exports with a 'µ'


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    return [cell.strip().strip('"').strip() for cell in line.split(delimiter)]


def _read_table(path: Path | str) -> _Table:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise MeasurementError(f"cannot read the file: {error.strerror or error}", path=path) from error
    text = _decode(path, data)
    metadata: dict[str, str] = {}
    header: list[str] | None = None
    header_line = 0
    delimiter: str | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(_COMMENT_PREFIXES):
            match = _METADATA.match(line.lstrip("#").strip())
            if match and header is None:
                metadata.setdefault(match.group(1).strip().lower(), match.group(2))
            continue
        if header is None:
            delimiter = next((d for d in (",", ";", "\t") if d in line), None)
            header = _split(line, delimiter)
            header_line = number
            continue
        rows.append(_split(line, delimiter))
        lines.append(number)
    if header is None:
        raise MeasurementError("the file is empty: expected a header row naming the columns, then data rows", path=path)
    if header and header[-1] == "":  # a trailing delimiter on every line
        header = header[:-1]
        rows = [row[:-1] if row and row[-1] == "" else row for row in rows]
    if any(_is_number(cell) for cell in header):
        raise MeasurementError(
            f"the first non-comment row {header!r} looks like data, not a header: name the columns "
            "(e.g. 'time_s,voltage_V,current_uA,cycle')", path=path, line=header_line)
    empty = [k + 1 for k, cell in enumerate(header) if not cell]
    if empty:
        raise MeasurementError(f"header field(s) {empty} are empty", path=path, line=header_line)
    for k, (number, row) in enumerate(zip(lines, rows)):
        if len(row) != len(header):
            raise MeasurementError(
                f"expected {len(header)} fields like the header ({', '.join(header)}), found {len(row)}",
                path=path, line=number, row=k + 1)
    if not rows:
        raise MeasurementError("the file has a header but no data rows", path=path, line=header_line)
    if delimiter == ";":  # European exports: decimal comma
        rows = [[re.sub(r"^([-+]?\d+),(\d+)", r"\1.\2", cell) for cell in row] for row in rows]
    return _Table(path, hashlib.sha256(data).hexdigest(), metadata, header, header_line, rows, lines)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _map_columns(table: _Table, kind: str, columns: Mapping[str, str] | None,
                 units: Mapping[str, str] | None) -> tuple[dict[str, int], dict[str, str], dict[str, float], list[str]]:
    """quantity -> (column index, unit label, scale); raises on missing/duplicate columns."""
    quantities = {q.name: q for q in QUANTITIES[kind]}
    columns = {k.lower(): v for k, v in (columns or {}).items()}
    units = {k.lower(): v for k, v in (units or {}).items()}
    for key in list(columns) + list(units):
        if key not in quantities:
            raise MeasurementError(f"option names unknown quantity {key!r}; a {kind} file has "
                                   f"{', '.join(quantities)}", path=table.path)
    split = [split_header(cell) for cell in table.header]
    index: dict[str, int] = {}
    header_units: dict[str, str | None] = {}
    for name, wanted in columns.items():
        matches = [k for k, cell in enumerate(table.header) if cell.strip().lower() == wanted.strip().lower()]
        if not matches:
            raise MeasurementError(f"no column named {wanted!r} (given for {name}); columns: "
                                   f"{', '.join(table.header)}", path=table.path, line=table.header_line)
        index[name] = matches[0]
        header_units[name] = split[matches[0]][1]
    for quantity in quantities.values():
        if quantity.name in index:
            continue
        hits = [k for k, (stem, unit) in enumerate(split) if stem in quantity.aliases and k not in index.values()]
        if len(hits) > 1:
            names = ", ".join(repr(table.header[k]) for k in hits)
            raise MeasurementError(f"several columns could be the {quantity.name} ({names}); pick one with "
                                   f"columns={{'{quantity.name}': ...}}", path=table.path, line=table.header_line)
        if hits:
            index[quantity.name] = hits[0]
            header_units[quantity.name] = split[hits[0]][1]
    missing = [q for q in quantities.values() if q.required and q.name not in index]
    for quantity in missing:  # 'current_furlong': the right name with a unit nobody knows
        for k, cell in enumerate(table.header):
            tokens = [token for token in re.split(r"[\s\-._]+", cell) if token]
            if len(tokens) > 1 and _canonical("_".join(tokens[:-1])) in quantity.aliases and k not in index.values():
                raise MeasurementError(
                    f"unknown {quantity.dimension} unit {tokens[-1]!r} for the {quantity.name}; known: "
                    f"{', '.join(sorted(DIMENSIONS[quantity.dimension]))}", path=table.path, line=table.header_line,
                    column=cell)
    if missing:
        wanted = "; ".join(f"{q.name} (e.g. {', '.join(q.aliases[:3])})" for q in missing)
        raise MeasurementError(f"missing column(s): {wanted}; the header has {', '.join(table.header)}",
                               path=table.path, line=table.header_line)
    labels: dict[str, str] = {}
    scales: dict[str, float] = {}
    for name, column in index.items():
        quantity = quantities[name]
        if quantity.dimension is None:
            continue
        label = units.get(name) or header_units.get(name) or SI_UNIT[quantity.dimension]
        try:
            scales[name] = unit_scale(label, quantity.dimension)
        except CircuitkitError as error:
            raise MeasurementError(str(error), path=table.path, line=table.header_line,
                                   column=table.header[column]) from None
        labels[name] = label
    ignored = [cell for k, cell in enumerate(table.header) if k not in index.values()]
    return index, labels, scales, ignored


def _column(table: _Table, column: int, quantity: Quantity, scale: float = 1.0) -> np.ndarray:
    name = table.header[column]
    if quantity.kind == "text":
        return np.array([row[column] for row in table.rows], dtype=str)
    values = np.empty(len(table.rows))
    for k, (row, line) in enumerate(zip(table.rows, table.lines)):
        cell = row[column]
        where = dict(path=table.path, line=line, row=k + 1, column=name)
        if cell == "":
            raise MeasurementError(f"empty cell: expected a number for the {quantity.name}", **where)
        try:
            value = float(cell)
        except ValueError:
            raise MeasurementError(f"{cell!r} is not a number (expected the {quantity.name})", **where) from None
        if math.isnan(value):
            raise MeasurementError(f"NaN where the {quantity.name} is expected", **where)
        if math.isinf(value):
            raise MeasurementError(f"{cell!r} is not finite (expected the {quantity.name})", **where)
        if quantity.kind == "integer" and value != int(value):
            raise MeasurementError(f"{cell!r} is not a whole number (expected the {quantity.name} index)", **where)
        values[k] = value * scale
        if not math.isfinite(values[k]):
            raise MeasurementError(f"{cell!r} overflows after unit conversion", **where)
    return values


def _read_columns(path, kind, columns, units) -> tuple[_Table, dict[str, np.ndarray], MeasurementFile]:
    table = _read_table(path)
    index, labels, scales, ignored = _map_columns(table, kind, columns, units)
    quantities = {q.name: q for q in QUANTITIES[kind]}
    values = {name: _column(table, column, quantities[name], scales.get(name, 1.0)) for name, column in index.items()}
    source = MeasurementFile(
        path=table.path, sha256=table.sha256, metadata=table.metadata,
        columns={name: table.header[column] for name, column in index.items()}, units=labels,
        ignored_columns=tuple(ignored),
    )
    return table, values, source


def _require_positive(table: _Table, source: MeasurementFile, name: str, values: np.ndarray, what: str) -> None:
    bad = np.flatnonzero(~(values > 0))
    if bad.size:
        k = int(bad[0])
        sign = "negative" if values[k] < 0 else "zero"
        raise MeasurementError(f"{sign} {what} {table.rows[k][table.header.index(source.columns[name])]!r}: "
                               f"{what}s must be positive", path=table.path, line=table.lines[k], row=k + 1,
                               column=source.columns[name])


def _require_points(table: _Table, minimum: int = 2, what: str = "points") -> None:
    if len(table.rows) < minimum:
        raise MeasurementError(f"only {len(table.rows)} data row: at least {minimum} {what} are needed to fit",
                               path=table.path, line=table.lines[0], row=1)


# ---------------------------------------------------------------------------- I-V sweeps


@dataclasses.dataclass(frozen=True)
class IVSweep:
    """Quasi-static I-V sweep(s), in time order. Positive voltage is V(te, be) (SET)."""

    time: np.ndarray  # s, strictly increasing
    voltage: np.ndarray  # V
    current: np.ndarray  # A
    cycle: np.ndarray  # int, non-decreasing, from 0
    source: MeasurementFile
    time_origin: str  # 'file' or 'sweep rate <r> V/s'

    @property
    def cycles(self) -> int:
        return int(self.cycle.max()) + 1

    def __len__(self) -> int:
        return len(self.voltage)


def _infer_cycles(voltage: np.ndarray) -> np.ndarray:
    """A new cycle where the voltage turns positive after a negative excursion. Excursions
    count beyond 10 % of the largest |V|, so noise around 0 V does not start cycles; the
    cycle starts just after the last point at or below 0 V before the positive excursion."""
    threshold = 0.1 * float(np.abs(voltage).max())
    starts, seen_negative, last_non_positive = [], False, 0
    for k, v in enumerate(voltage):
        if v <= 0:
            last_non_positive = k
        if v < -threshold:
            seen_negative = True
        elif v > threshold and seen_negative:
            starts.append(last_non_positive + 1)
            seen_negative = False
    cycle = np.zeros(len(voltage), dtype=int)
    for start in starts:
        cycle[start:] += 1
    return cycle


def read_iv(path: Path | str, *, columns: Mapping[str, str] | None = None, units: Mapping[str, str] | None = None,
            sweep_rate: float | None = None) -> IVSweep:
    """Read an I-V sweep file. `sweep_rate` (V/s) gives the time base when there is no time column."""
    table, values, source = _read_columns(path, "iv", columns, units)
    _require_points(table)
    voltage, current = values["voltage"], values["current"]
    if np.ptp(voltage) == 0:
        raise MeasurementError(f"the voltage never changes (all {voltage[0]:g} V): this is not a sweep",
                               path=table.path, line=table.lines[0], column=source.columns["voltage"])
    if "cycle" in values:
        raw = values["cycle"].astype(int)
        steps = np.flatnonzero(np.diff(raw) < 0)
        if steps.size:
            k = int(steps[0]) + 1
            raise MeasurementError(f"cycle index goes back from {raw[k - 1]} to {raw[k]}: rows must be in "
                                   "measurement order", path=table.path, line=table.lines[k], row=k + 1,
                                   column=source.columns["cycle"])
        cycle = np.unique(raw, return_inverse=True)[1]
    else:
        cycle = _infer_cycles(voltage)
    if "time" in values:
        time = _continuous_time(table, source, values["time"], cycle)
        origin = "file"
    else:
        if sweep_rate is None or not (sweep_rate > 0 and math.isfinite(sweep_rate)):
            raise MeasurementError(
                "no time column: give the sweep rate in V/s (--sweep-rate, or sweep_rate=) to build the time base",
                path=table.path, line=table.header_line)
        step = np.abs(np.diff(voltage)) / sweep_rate
        typical = float(np.median(step[step > 0])) if np.any(step > 0) else 1.0 / sweep_rate
        time = np.concatenate([[0.0], np.cumsum(np.where(step > 0, step, typical))])
        origin = f"sweep rate {sweep_rate:g} V/s"
    return IVSweep(time=time, voltage=voltage, current=current, cycle=cycle, source=source, time_origin=origin)


def _continuous_time(table: _Table, source: MeasurementFile, time: np.ndarray, cycle: np.ndarray) -> np.ndarray:
    """Strictly increasing time; a clock that restarts with each cycle is offset to continue."""
    time = time.copy()
    column = source.columns["time"]
    for k in range(1, len(time)):
        if time[k] > time[k - 1]:
            continue
        restart = cycle[k] != cycle[k - 1]
        if restart:
            step = time[k - 1] - time[k - 2] if k >= 2 and cycle[k - 2] == cycle[k - 1] else 1.0
            time[k:] += time[k - 1] + max(step, 0.0) - time[k]
            continue
        raise MeasurementError(
            f"time does not increase ({table.rows[k - 1][table.header.index(column)]} then "
            f"{table.rows[k][table.header.index(column)]}) within cycle {cycle[k]}: rows must be in time order",
            path=table.path, line=table.lines[k], row=k + 1, column=column)
    return time


# ---------------------------------------------------------------------------- pulse tables


@dataclasses.dataclass(frozen=True)
class PulseTable:
    """One programming pulse per row: amplitude across the cell (V, positive SETs)."""

    amplitude: np.ndarray
    width: np.ndarray  # s
    r_before: np.ndarray  # ohm
    r_after: np.ndarray  # ohm
    wl_voltage: np.ndarray | None
    address: np.ndarray | None
    source: MeasurementFile
    amplitude_origin: str  # 'column <name>' or 'V_BL - V_SL'

    def __len__(self) -> int:
        return len(self.amplitude)


def read_pulse(path: Path | str, *, columns: Mapping[str, str] | None = None,
               units: Mapping[str, str] | None = None) -> PulseTable:
    table, values, source = _read_columns(path, "pulse", columns, units)
    _require_points(table, what="pulses")
    if "amplitude" in values:
        amplitude = values["amplitude"]
        origin = f"column {source.columns['amplitude']!r}"
    elif "bl_voltage" in values and "sl_voltage" in values:
        amplitude = values["bl_voltage"] - values["sl_voltage"]
        origin = "V_BL - V_SL"
    else:
        raise MeasurementError(
            "missing the pulse amplitude: give an amplitude column (e.g. pulse_amplitude_V) or both the bit-line "
            f"and source-line voltages (bl_voltage_V, sl_voltage_V); the header has {', '.join(table.header)}",
            path=table.path, line=table.header_line)
    for name, what in (("width", "pulse width"), ("r_before", "resistance"), ("r_after", "resistance")):
        _require_positive(table, source, name, values[name], what)
    return PulseTable(amplitude=amplitude, width=values["width"], r_before=values["r_before"],
                      r_after=values["r_after"], wl_voltage=values.get("wl_voltage"),
                      address=values.get("address"), source=source, amplitude_origin=origin)


# ---------------------------------------------------------------------------- distributions


@dataclasses.dataclass(frozen=True)
class ResistanceDistribution:
    """One read resistance per cell (ohm), with its state label (upper case; 'ALL' if the file has none)."""

    resistance: np.ndarray
    state: np.ndarray
    address: np.ndarray | None
    source: MeasurementFile

    @property
    def states(self) -> list[str]:
        return list(dict.fromkeys(self.state.tolist()))

    def of(self, state: str) -> np.ndarray:
        return self.resistance[self.state == state]

    def __len__(self) -> int:
        return len(self.resistance)


def read_distribution(path: Path | str, *, columns: Mapping[str, str] | None = None,
                      units: Mapping[str, str] | None = None) -> ResistanceDistribution:
    table, values, source = _read_columns(path, "distribution", columns, units)
    _require_points(table, what="cells")
    _require_positive(table, source, "resistance", values["resistance"], "resistance")
    if "state" in values:
        state = np.char.upper(values["state"])
        empty = np.flatnonzero(state == "")
        if empty.size:
            k = int(empty[0])
            raise MeasurementError("empty state label", path=table.path, line=table.lines[k], row=k + 1,
                                   column=source.columns["state"])
    else:
        state = np.full(len(table.rows), "ALL")
    for label in dict.fromkeys(state.tolist()):
        rows = np.flatnonzero(state == label)
        if rows.size < 2:
            k = int(rows[0])
            raise MeasurementError(f"state {label!r} has a single cell: at least 2 are needed for a spread",
                                   path=table.path, line=table.lines[k], row=k + 1,
                                   column=source.columns.get("state"))
    return ResistanceDistribution(resistance=values["resistance"], state=state, address=values.get("address"),
                                  source=source)


READERS = {"iv": read_iv, "pulse": read_pulse, "distribution": read_distribution}


def read_measurement(path: Path | str, kind: str, **options: Any):
    """`read_iv`, `read_pulse` or `read_distribution` by `kind`."""
    if kind not in READERS:
        raise MeasurementError(f"unknown measurement kind {kind!r}; known: {', '.join(READERS)}", path=path)
    return READERS[kind](path, **options)
