"""The reader core every measurement kind shares: a file (gzip, delimiters, comments and
`# key: value` metadata, an optional header) becomes a table; header names, aliases and
positions map to quantities (`QUANTITIES`) with their units (`unit_scale`); bad rows are
dropped and counted per reason (`DROP_REASONS`) or, with `strict`, refused; the result is
described by `MeasurementFile`. The package docstring (`circuitkit.measurements`) is the
user's guide; `kinds` builds the four kinds on this.
"""


from __future__ import annotations

import dataclasses
import gzip
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
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
    "time": {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12, "min": 60.0, "h": 3600.0,
             "hour": 3600.0, "hours": 3600.0, "day": 86400.0, "days": 86400.0},
    # Celsius only: a unit here is a factor, and kelvin needs an offset.
    "temperature": {"c": 1.0, "degc": 1.0, "celsius": 1.0},
}
SI_UNIT = {"voltage": "V", "current": "A", "resistance": "ohm", "time": "s", "temperature": "C"}


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
                       "vforce", "v_force", "v_applied", "v_read", "vread", "read_voltage"), "voltage"),
        _q("current", ("i", "ite", "i_te", "imeas", "i_meas", "measured_current", "i_sense", "isense"), "current"),
        _q("time", ("t", "timestamp", "elapsed", "elapsed_time"), "time", required=False),
        _q("cycle", ("cycle_index", "cycle_number", "cycle_no", "cyc", "sweep", "sweep_index", "sweep_number"),
           None, "integer", required=False),
        _q("address", ("addr", "cell", "device", "cell_address"), None, "text", required=False),
    ),
    "pulse": (
        _q("amplitude", ("pulse_amplitude", "v_pulse", "vpulse", "pulse_voltage", "v_cell", "cell_voltage",
                         "vcell"), "voltage", required=False),
        _q("bl_voltage", ("v_bl", "vbl", "bitline_voltage", "bit_line_voltage", "bl"), "voltage", required=False),
        _q("sl_voltage", ("v_sl", "vsl", "sourceline_voltage", "source_line_voltage", "sl"), "voltage",
           required=False),
        _q("line_voltage", ("v_line", "pulsed_line_voltage"), "voltage", required=False),
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
    # Retention: a read `resistance` at `time` (after programming, or the bake duration of a
    # before/after pair) and `temperature`; `r_before` makes each row a pair.
    "retention": (
        _q("resistance", ("r", "r_read", "r_after", "resistance_after", "r_post", "rpost", "r_final"), "resistance"),
        _q("time", ("t", "bake_time", "time_after_programming", "elapsed", "elapsed_time", "duration",
                    "timestamp"), "time"),
        _q("temperature", ("temp", "temp_c", "bake_temperature", "t_bake", "temperature_c"), "temperature"),
        _q("r_before", ("resistance_before", "r_pre", "rpre", "r_initial", "r0"), "resistance", required=False),
        _q("time_before", ("t_before", "time_before_bake"), "time", required=False),
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


# ---------------------------------------------------------------------------- bad data

# Cells spreadsheet programs write where a formula failed: bad data, never a comment line.
EXCEL_ERRORS = ("#N/A", "#N/A!", "#NA", "#VALUE!", "#REF!", "#DIV/0!", "#NUM!", "#NAME?", "#NULL!", "#SPILL!",
                "#CALC!", "#FIELD!", "#GETTING_DATA", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!")
_EXCEL_ERRORS = {token.upper() for token in EXCEL_ERRORS}
DROP_REASONS = {
    "excel_error": "Excel error cell (#N/A, #VALUE!, ...)",
    "empty": "empty cell",
    "non_finite": "NaN or infinite value",
    "not_positive": "value <= 0 where only positive values make sense",
    "open_circuit": "resistance above the open-circuit ceiling",
}


def is_excel_error(cell: str) -> bool:
    return cell.strip().strip('"').upper() in _EXCEL_ERRORS


# ---------------------------------------------------------------------------- table reading


@dataclasses.dataclass(frozen=True)
class MeasurementFile:
    """Where a measurement came from, how its columns were read and which rows were dropped."""

    path: Path
    sha256: str
    metadata: Mapping[str, str]
    columns: Mapping[str, str]  # quantity -> header cell (or '#<position>' in a file without a header)
    units: Mapping[str, str]  # quantity -> unit used (as written, or the SI default)
    ignored_columns: tuple[str, ...] = ()
    header: bool = True
    delimiter: str = ","
    rows_in_file: int = 0
    rows_used: int = 0
    dropped: Mapping[str, int] = dataclasses.field(default_factory=dict)  # reason -> rows
    dropped_lines: Mapping[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)  # reason -> first lines
    constants: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # quantity -> value given for the file
    read_voltage: float | None = None  # V, bias of the resistance reads, if known
    read_voltage_origin: str = "not given"
    open_circuit_ohm: float | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "sha256": self.sha256, "metadata": dict(self.metadata),
            "columns": dict(self.columns), "units": dict(self.units), "ignored_columns": list(self.ignored_columns),
            "header": self.header, "delimiter": {"\t": "tab", None: "white space"}.get(self.delimiter, self.delimiter),
            "rows_in_file": self.rows_in_file, "rows_used": self.rows_used,
            "dropped": {reason: {"rows": count, "meaning": DROP_REASONS[reason],
                                 "first_lines": list(self.dropped_lines.get(reason, ()))}
                        for reason, count in self.dropped.items()},
            "constants": dict(self.constants), "read_voltage_V": self.read_voltage,
            "read_voltage_origin": self.read_voltage_origin, "open_circuit_ohm": self.open_circuit_ohm,
        }

    def summary(self) -> str:
        """What was read, in words: rows, columns and units used, rows dropped and why."""
        columns = ", ".join(f"{q} <- {c} [{self.units.get(q, '-')}]" for q, c in self.columns.items())
        lines = [f"{self.path}: {self.rows_used} of {self.rows_in_file} data rows used "
                 f"({'header row' if self.header else 'no header row'}); columns: {columns}"]
        if self.constants:
            lines.append("  given for the whole file: " + ", ".join(f"{k} = {v}" for k, v in self.constants.items()))
        if self.read_voltage is not None or self.read_voltage_origin != "not given":
            lines.append(f"  resistances read at {self.read_voltage:g} V ({self.read_voltage_origin})")
        for reason, count in self.dropped.items():
            first = ", ".join(str(n) for n in self.dropped_lines.get(reason, ())[:5])
            ceiling = f" {self.open_circuit_ohm:g} ohm" if reason == "open_circuit" else ""
            lines.append(f"  dropped {count} row(s): {DROP_REASONS[reason]}{ceiling} (first at line {first})")
        if self.ignored_columns:
            lines.append("  not used: " + ", ".join(self.ignored_columns))
        return "\n".join(lines)


@dataclasses.dataclass
class _Table:
    path: Path
    sha256: str
    metadata: dict[str, str]
    header: list[str]
    has_header: bool
    header_line: int
    rows: list[list[str]]
    lines: list[int]
    delimiter: str | None


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


def _first_cell(line: str) -> str:
    return re.split(r"[,;\t ]", line.strip(), maxsplit=1)[0]


def _is_comment(line: str) -> bool:
    return line.startswith("#") and not is_excel_error(_first_cell(line))


def _decompressed(path: Path, data: bytes) -> bytes:
    if path.suffix.lower() == ".gz" or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            raise MeasurementError(f"cannot decompress the gzip file: {error}", path=path) from None
    return data


def _looks_numeric(cell: str) -> bool:
    return _is_number(cell) or is_excel_error(cell) or cell == ""


def _read_table(path: Path | str, header: bool | None = None) -> _Table:
    """Rows of a delimited text file. `header`: True (first row names the columns), False
    (no header: columns are named '1', '2', ...), None (a first row of numbers only is data)."""
    path = Path(path)
    stored = _read_bytes_raw(path)
    data = _decompressed(path, stored)
    text = _decode(path, data)
    metadata: dict[str, str] = {}
    first: list[str] | None = None
    first_line = 0
    delimiter: str | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if _is_comment(line):
            match = _METADATA.match(line.lstrip("#").strip())
            if match and first is None:
                metadata.setdefault(match.group(1).strip().lower(), match.group(2))
            continue
        if first is None:
            delimiter = next((d for d in (",", ";", "\t") if d in line), None)
            first = _split(line, delimiter)
            first_line = number
            continue
        rows.append(_split(line, delimiter))
        lines.append(number)
    if first is None:
        raise MeasurementError("the file is empty: expected an optional header row naming the columns, then data rows",
                               path=path)
    numeric_first = all(_looks_numeric(cell) for cell in first) and any(_is_number(cell) for cell in first)
    has_header = (not numeric_first) if header is None else header
    if has_header and numeric_first:
        raise MeasurementError(
            f"the first non-comment row {first!r} looks like data, not a header: name the columns "
            "(e.g. 'time_s,voltage_V,current_uA,cycle'), or read the file without a header (--no-header, "
            "header=False) and give the columns by position (--column resistance=2)", path=path, line=first_line)
    if not has_header:
        rows.insert(0, first)
        lines.insert(0, first_line)
        width = max(len(row) for row in rows)
        names = [str(k + 1) for k in range(width)]
        header_line = 0
    else:
        names = first
        header_line = first_line
    if names and names[-1] == "" and has_header:  # a trailing delimiter on every line
        names = names[:-1]
        rows = [row[:-1] if row and row[-1] == "" else row for row in rows]
    empty = [k + 1 for k, cell in enumerate(names) if not cell]
    if empty:
        raise MeasurementError(f"header field(s) {empty} are empty", path=path, line=header_line)
    for k, (number, row) in enumerate(zip(lines, rows)):
        if len(row) != len(names):
            what = f"like the header ({', '.join(names)})" if has_header else "like the rows before it"
            raise MeasurementError(f"expected {len(names)} fields {what}, found {len(row)}",
                                   path=path, line=number, row=k + 1)
    if not rows:
        raise MeasurementError("the file has a header but no data rows", path=path, line=header_line)
    if delimiter == ";":  # European exports: decimal comma
        rows = [[re.sub(r"^([-+]?\d+),(\d+)", r"\1.\2", cell) for cell in row] for row in rows]
    return _Table(path, hashlib.sha256(stored).hexdigest(), metadata, names, has_header, header_line, rows, lines,
                  delimiter)


def _read_bytes_raw(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise MeasurementError(f"cannot read the file: {error.strerror or error}", path=path) from error


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _position(value: Any) -> int | None:
    """1-based column position given as an int or a string of digits (None if a name)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def _column_label(table: _Table, column: int) -> str:
    return table.header[column] if table.has_header else f"#{column + 1}"


def _map_columns(table: _Table, kind: str, columns: Mapping[str, Any] | None, units: Mapping[str, str] | None,
                 given: Sequence[str] = ()) -> tuple[dict[str, int], dict[str, str], dict[str, float], list[str]]:
    """quantity -> (column index, unit label, scale); raises on missing/duplicate columns.
    `given` names quantities supplied as constants (not looked for in the header)."""
    quantities = {q.name: q for q in QUANTITIES[kind]}
    columns = {k.lower(): v for k, v in (columns or {}).items()}
    units = {k.lower(): v for k, v in (units or {}).items()}
    for key in list(columns) + list(units):
        if key not in quantities:
            raise MeasurementError(f"option names unknown quantity {key!r}; a {kind} file has "
                                   f"{', '.join(quantities)}", path=table.path)
    split = [split_header(cell) for cell in table.header] if table.has_header else [(None, None)] * len(table.header)
    index: dict[str, int] = {}
    header_units: dict[str, str | None] = {}
    for name, wanted in columns.items():
        position = _position(wanted)
        if position is not None:
            if not 1 <= position <= len(table.header):
                raise MeasurementError(f"column position {position} (given for {name}) is outside the file's "
                                       f"{len(table.header)} columns (positions count from 1)", path=table.path,
                                       line=table.header_line or table.lines[0])
            matches = [position - 1]
        else:
            if not table.has_header:
                raise MeasurementError(f"the file has no header row, so column {wanted!r} (given for {name}) cannot be "
                                       f"found by name: give its position, e.g. {name}=2", path=table.path)
            matches = [k for k, cell in enumerate(table.header) if cell.strip().lower() == str(wanted).strip().lower()]
        if not matches:
            raise MeasurementError(f"no column named {wanted!r} (given for {name}); columns: "
                                   f"{', '.join(table.header)}", path=table.path, line=table.header_line)
        index[name] = matches[0]
        header_units[name] = split[matches[0]][1]
    for quantity in quantities.values():
        if quantity.name in index or quantity.name in given or not table.has_header:
            continue
        hits = [k for k, (stem, unit) in enumerate(split) if stem in quantity.aliases and k not in index.values()]
        if len(hits) > 1:
            names = ", ".join(repr(table.header[k]) for k in hits)
            raise MeasurementError(f"several columns could be the {quantity.name} ({names}); pick one with "
                                   f"columns={{'{quantity.name}': ...}}", path=table.path, line=table.header_line)
        if hits:
            index[quantity.name] = hits[0]
            header_units[quantity.name] = split[hits[0]][1]
    missing = [q for q in quantities.values() if q.required and q.name not in index and q.name not in given]
    for quantity in missing if table.has_header else ():  # 'current_furlong': the right name, an unknown unit
        for k, cell in enumerate(table.header):
            tokens = [token for token in re.split(r"[\s\-._]+", cell) if token]
            if len(tokens) > 1 and _canonical("_".join(tokens[:-1])) in quantity.aliases and k not in index.values():
                raise MeasurementError(
                    f"unknown {quantity.dimension} unit {tokens[-1]!r} for the {quantity.name}; known: "
                    f"{', '.join(sorted(DIMENSIONS[quantity.dimension]))}", path=table.path, line=table.header_line,
                    column=cell)
    if missing:
        if not table.has_header:
            example = " ".join(f"--column {q.name}=N" for q in missing)
            raise MeasurementError(
                f"the file has no header row and {len(table.header)} columns (first row: "
                f"{' '.join(table.rows[0])}): give the position of each needed column, counting from 1 "
                f"({example}; in Python columns={{'{missing[0].name}': N}})", path=table.path, line=table.lines[0])
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
            raise MeasurementError(str(error), path=table.path, line=table.header_line or None,
                                   column=_column_label(table, column)) from None
        labels[name] = label
    for name in units:
        if name not in index and name not in given:
            raise MeasurementError(f"a unit is given for {name}, but no column holds it", path=table.path)
    ignored = [_column_label(table, k) for k in range(len(table.header)) if k not in index.values()]
    return index, labels, scales, ignored


class _Drops:
    """Rows dropped as bad data, by reason (the first few lines of each kept for the report)."""

    def __init__(self, table: _Table, strict: bool):
        self.table = table
        self.strict = strict
        self.keep = np.ones(len(table.rows), bool)
        self.counts: dict[str, int] = {}
        self.lines: dict[str, list[int]] = {}

    def drop(self, rows: np.ndarray, reason: str, message: str, column: str | None) -> None:
        rows = np.flatnonzero(rows & self.keep) if rows.dtype == bool else rows[self.keep[rows]]
        if rows.size == 0:
            return
        if self.strict:
            k = int(rows[0])
            raise MeasurementError(f"{message} (strict reading: bad rows are errors, not dropped)",
                                   path=self.table.path, line=self.table.lines[k], row=k + 1, column=column)
        self.keep[rows] = False
        self.counts[reason] = self.counts.get(reason, 0) + int(rows.size)
        self.lines.setdefault(reason, []).extend(self.table.lines[int(k)] for k in rows[:10])


def _column(table: _Table, column: int, quantity: Quantity, scale: float, drops: _Drops) -> np.ndarray:
    name = _column_label(table, column)
    if quantity.kind == "text":
        texts = np.array([row[column] for row in table.rows], dtype=str)
        errors = np.array([is_excel_error(cell) for cell in texts], bool)
        if errors.any():
            first = texts[np.flatnonzero(errors)[0]]
            drops.drop(errors, "excel_error", f"{DROP_REASONS['excel_error']} {first!r} where the {quantity.name} is "
                       "expected", name)
        return texts
    values = np.empty(len(table.rows))
    bad: dict[str, list[int]] = {}
    for k, (row, line) in enumerate(zip(table.rows, table.lines)):
        cell = row[column]
        if cell == "":
            bad.setdefault("empty", []).append(k)
            values[k] = math.nan
            continue
        try:
            value = float(cell)
        except ValueError:
            if is_excel_error(cell):
                bad.setdefault("excel_error", []).append(k)
                values[k] = math.nan
                continue
            raise MeasurementError(f"{cell!r} is not a number (expected the {quantity.name})",
                                   path=table.path, line=line, row=k + 1, column=name) from None
        if not math.isfinite(value) or not math.isfinite(value * scale):
            bad.setdefault("non_finite", []).append(k)
            values[k] = math.nan
            continue
        if quantity.kind == "integer" and value != int(value):
            raise MeasurementError(f"{cell!r} is not a whole number (expected the {quantity.name} index)",
                                   path=table.path, line=line, row=k + 1, column=name)
        values[k] = value * scale
    for reason, rows in bad.items():
        first = table.rows[rows[0]][column]
        drops.drop(np.asarray(rows), reason, f"{DROP_REASONS[reason]} {first!r} where the {quantity.name} is expected",
                   name)
    return values


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    """How to read a file (all optional). `columns` values are header names or 1-based
    positions; `constants` give a quantity for the whole file (e.g. sl_voltage=0 for a
    SET sweep with the source line grounded, state='HRS'); `open_circuit_ohm` drops
    resistances above it; `read_voltage` (V) is the bias the resistances were read at."""

    header: bool | None = None
    columns: Mapping[str, Any] | None = None
    units: Mapping[str, str] | None = None
    constants: Mapping[str, Any] | None = None
    strict: bool = False
    open_circuit_ohm: float | None = 1e9
    read_voltage: float | None = None
    pulsed_line: str | None = None


def _read_columns(path, kind: str, options: ReadOptions) -> tuple[_Table, dict[str, np.ndarray], _Drops, dict]:
    table = _read_table(path, options.header)
    quantities = {q.name: q for q in QUANTITIES[kind]}
    constants = dict(options.constants or {})
    for key in constants:
        if key not in quantities:
            raise MeasurementError(f"a constant is given for unknown quantity {key!r}; a {kind} file has "
                                   f"{', '.join(quantities)}", path=table.path)
    index, labels, scales, ignored = _map_columns(table, kind, options.columns, options.units, given=list(constants))
    clash = sorted(set(constants) & set(index))
    if clash:
        raise MeasurementError(f"{', '.join(clash)} given both as a column and as a constant", path=table.path)
    drops = _Drops(table, options.strict)
    values = {name: _column(table, column, quantities[name], scales.get(name, 1.0), drops)
              for name, column in index.items()}
    for name, value in constants.items():
        quantity = quantities[name]
        if quantity.kind == "text":
            values[name] = np.full(len(table.rows), str(value))
        else:
            number = _constant_number(table, name, value, quantity)
            values[name] = np.full(len(table.rows), number)
            labels[name] = SI_UNIT[quantity.dimension] if quantity.dimension else ""
    meta = {"index": index, "labels": labels, "ignored": ignored, "constants": constants}
    return table, values, drops, meta


def _constant_number(table: _Table, name: str, value: Any, quantity: Quantity) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MeasurementError(f"the constant given for {name} ({value!r}) is not a number in "
                               f"{SI_UNIT.get(quantity.dimension or '', 'SI units')}", path=table.path) from None
    if not math.isfinite(number):
        raise MeasurementError(f"the constant given for {name} is not finite", path=table.path)
    return number


def _drop_not_positive(drops: _Drops, values: Mapping[str, np.ndarray], names: Mapping[str, str],
                       meta: dict) -> None:
    """Drop rows where a quantity that must be positive is not (`names`: quantity -> what it is)."""
    table = drops.table
    for name, what in names.items():
        bad = ~(values[name] > 0) & np.isfinite(values[name])
        if bad.any():
            k = int(np.flatnonzero(bad & drops.keep)[0]) if (bad & drops.keep).any() else int(np.flatnonzero(bad)[0])
            column = _column_label(table, meta["index"][name]) if name in meta["index"] else name
            cell = table.rows[k][meta["index"][name]] if name in meta["index"] else values[name][k]
            sign = "negative" if values[name][k] < 0 else "zero"
            drops.drop(bad, "not_positive", f"{sign} {what} {cell!r}: {what}s must be positive", column)


def _drop_open_circuit(drops: _Drops, values: Mapping[str, np.ndarray], names: Sequence[str], meta: dict,
                       ceiling: float | None) -> None:
    if ceiling is None:
        return
    for name in names:
        above = values[name] > ceiling
        if above.any():
            column = _column_label(drops.table, meta["index"][name]) if name in meta["index"] else name
            drops.drop(above, "open_circuit", f"resistance above the open-circuit ceiling {ceiling:g} ohm", column)


def _read_voltage(table: _Table, options: ReadOptions) -> tuple[float | None, str]:
    if options.read_voltage is not None:
        if not (options.read_voltage > 0 and math.isfinite(options.read_voltage)):
            raise MeasurementError(f"read voltage {options.read_voltage!r} V: expected a positive number",
                                   path=table.path)
        return float(options.read_voltage), "given (--read-voltage)"
    for key in ("read_voltage", "v_read", "read voltage", "vread", "read bias", "read_bias"):
        if key in table.metadata:
            text = table.metadata[key].strip()
            match = re.match(r"^([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*(m?V)?$", text)
            if match:
                scale = 1e-3 if (match.group(2) or "V") == "mV" else 1.0
                return float(match.group(1)) * scale, f"file comment '# {key}: {text}'"
            raise MeasurementError(f"comment '# {key}: {text}' is not a voltage (e.g. 0.2 V)", path=table.path)
    return None, "not given"


def _finish(table: _Table, drops: _Drops, meta: dict, options: ReadOptions, minimum: int, what: str,
            kind: str) -> MeasurementFile:
    used = int(drops.keep.sum())
    if used < minimum:
        reasons = "; ".join(f"{n} {DROP_REASONS[r]}" for r, n in drops.counts.items())
        detail = f" after dropping bad rows ({reasons})" if drops.counts else ""
        raise MeasurementError(f"only {used} usable data row(s){detail}: at least {minimum} {what} are needed to fit",
                               path=table.path, line=table.lines[0], row=1)
    read_voltage, origin = _read_voltage(table, options)
    return MeasurementFile(
        path=table.path, sha256=table.sha256, metadata=table.metadata,
        columns={name: _column_label(table, column) for name, column in meta["index"].items()},
        units=meta["labels"], ignored_columns=tuple(meta["ignored"]), header=table.has_header,
        delimiter=table.delimiter, rows_in_file=len(table.rows), rows_used=used, dropped=dict(drops.counts),
        dropped_lines={k: tuple(v) for k, v in drops.lines.items()}, constants=dict(meta["constants"]),
        read_voltage=read_voltage, read_voltage_origin=origin,
        open_circuit_ohm=options.open_circuit_ohm if kind != "iv" else None,
    )


def _options(options: ReadOptions | None, columns: Mapping[str, Any] | None, units: Mapping[str, str] | None,
             **reader: Any) -> ReadOptions:
    """`options` with the keyword arguments of a reader call applied (columns/units only when given)."""
    options = options or ReadOptions()
    unknown = sorted(set(reader) - {f.name for f in dataclasses.fields(ReadOptions)})
    if unknown:
        raise TypeError(f"unknown reader option(s) {', '.join(unknown)}")
    overrides = {"columns": columns, "units": units}
    overrides = {k: v for k, v in overrides.items() if v is not None} | reader
    return dataclasses.replace(options, **overrides) if overrides else options
