"""The measurement kinds, on the reader core (`measurements.reader`): I-V sweeps
(`read_iv`, `IVSweep`), pulse programming tables (`read_pulse`, `PulseTable`) and
resistance distributions (`read_distribution`, `ResistanceDistribution`) and retention reads
(`read_retention`, `RetentionTable`); `read_measurement`
reads any of them by name. What each kind takes is in the package docstring.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from circuitkit.measurements.reader import (
    MeasurementError,
    MeasurementFile,
    ReadOptions,
    _column_label,
    _drop_not_positive,
    _drop_open_circuit,
    _Drops,
    _finish,
    _options,
    _read_columns,
    _Table,
)


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
    address: np.ndarray | None = None

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


def _kept(table: _Table, drops: _Drops) -> _Table:
    """The table without its dropped rows (so later messages quote the right lines)."""
    keep = np.flatnonzero(drops.keep)
    return dataclasses.replace(table, rows=[table.rows[k] for k in keep], lines=[table.lines[k] for k in keep])


def read_iv(path: Path | str, *, columns: Mapping[str, Any] | None = None, units: Mapping[str, str] | None = None,
            sweep_rate: float | None = None, options: ReadOptions | None = None, **reader: Any) -> IVSweep:
    """Read an I-V sweep file. `sweep_rate` (V/s) gives the time base when there is no time column."""
    options = _options(options, columns=columns, units=units, **reader)
    table, values, drops, meta = _read_columns(path, "iv", options)
    source = _finish(table, drops, meta, options, 2, "points", "iv")
    keep = drops.keep
    values = {name: value[keep] for name, value in values.items()}
    table = _kept(table, drops)
    columns_used = source.columns
    voltage, current = values["voltage"], values["current"]
    if np.ptp(voltage) == 0:
        raise MeasurementError(f"the voltage never changes (all {voltage[0]:g} V): this is not a sweep",
                               path=table.path, line=table.lines[0], column=columns_used.get("voltage"))
    if "cycle" in values:
        raw = values["cycle"].astype(int)
        steps = np.flatnonzero(np.diff(raw) < 0)
        if steps.size:
            k = int(steps[0]) + 1
            raise MeasurementError(f"cycle index goes back from {raw[k - 1]} to {raw[k]}: rows must be in "
                                   "measurement order", path=table.path, line=table.lines[k], row=k + 1,
                                   column=columns_used["cycle"])
        cycle = np.unique(raw, return_inverse=True)[1]
    else:
        cycle = _infer_cycles(voltage)
    if "time" in values:
        time = _continuous_time(table, meta["index"].get("time"), columns_used["time"], values["time"], cycle)
        origin = "file"
    else:
        if sweep_rate is None or not (sweep_rate > 0 and math.isfinite(sweep_rate)):
            raise MeasurementError(
                "no time column: give the sweep rate in V/s (--sweep-rate, or sweep_rate=) to build the time base",
                path=table.path, line=table.header_line or None)
        step = np.abs(np.diff(voltage)) / sweep_rate
        typical = float(np.median(step[step > 0])) if np.any(step > 0) else 1.0 / sweep_rate
        time = np.concatenate([[0.0], np.cumsum(np.where(step > 0, step, typical))])
        origin = f"sweep rate {sweep_rate:g} V/s"
    return IVSweep(time=time, voltage=voltage, current=current, cycle=cycle, source=source, time_origin=origin,
                   address=values.get("address"))


def _continuous_time(table: _Table, index: int | None, column: str, time: np.ndarray, cycle: np.ndarray) -> np.ndarray:
    """Strictly increasing time; a clock that restarts with each cycle is offset to continue."""
    time = time.copy()
    for k in range(1, len(time)):
        if time[k] > time[k - 1]:
            continue
        restart = cycle[k] != cycle[k - 1]
        if restart:
            step = time[k - 1] - time[k - 2] if k >= 2 and cycle[k - 2] == cycle[k - 1] else 1.0
            time[k:] += time[k - 1] + max(step, 0.0) - time[k]
            continue
        cells = (table.rows[k - 1][index], table.rows[k][index]) if index is not None else (time[k - 1], time[k])
        raise MeasurementError(
            f"time does not increase ({cells[0]} then {cells[1]}) within cycle {cycle[k]}: rows must be in time order",
            path=table.path, line=table.lines[k], row=k + 1, column=column)
    return time


# ---------------------------------------------------------------------------- pulse tables

PULSED_LINES = ("bl", "sl")


@dataclasses.dataclass(frozen=True)
class PulseTable:
    """One programming pulse per row.

    `amplitude` is V_BL - V_SL (or the cell voltage column of a file without a transistor):
    positive SETs. `bl_voltage`, `sl_voltage`, `wl_voltage` are the 1T1R terminal voltages
    when the file gives them (None otherwise): the pulse model then solves the cell voltage
    with the access transistor in the loop. `file_index` tells rows of joined files apart.
    """

    amplitude: np.ndarray
    width: np.ndarray  # s
    r_before: np.ndarray  # ohm
    r_after: np.ndarray  # ohm
    wl_voltage: np.ndarray | None
    address: np.ndarray | None
    source: MeasurementFile
    amplitude_origin: str  # 'column <name>', 'V_BL - V_SL'
    bl_voltage: np.ndarray | None = None
    sl_voltage: np.ndarray | None = None
    file_index: np.ndarray | None = None
    sources: tuple[MeasurementFile, ...] = ()

    def __len__(self) -> int:
        return len(self.amplitude)

    @property
    def has_terminals(self) -> bool:
        return self.wl_voltage is not None and self.bl_voltage is not None and self.sl_voltage is not None

    @property
    def read_voltage(self) -> float | None:
        return self.source.read_voltage

    def rows(self, selection: np.ndarray) -> "PulseTable":
        """The table restricted to `selection` (a boolean mask or row indices)."""
        pick = lambda x: None if x is None else x[selection]  # noqa: E731
        return dataclasses.replace(self, amplitude=self.amplitude[selection], width=self.width[selection],
                                   r_before=self.r_before[selection], r_after=self.r_after[selection],
                                   wl_voltage=pick(self.wl_voltage), address=pick(self.address),
                                   bl_voltage=pick(self.bl_voltage), sl_voltage=pick(self.sl_voltage),
                                   file_index=pick(self.file_index))

    @classmethod
    def join(cls, tables: Sequence["PulseTable"]) -> "PulseTable":
        """Rows of several files as one table (e.g. a SET and a RESET sweep for a joint fit)."""
        if len(tables) == 1:
            table = tables[0]
            return dataclasses.replace(table, file_index=np.zeros(len(table), int), sources=(table.source,))
        origins = {t.amplitude_origin for t in tables}
        terminals = {t.has_terminals for t in tables}
        if len(terminals) > 1:
            raise MeasurementError("some pulse files give the word-, bit- and source-line voltages and some do not: "
                                   "a joint fit needs the same description of the pulse in every file",
                                   path=tables[0].source.path)
        voltages = {t.read_voltage for t in tables}
        if len(voltages) > 1:
            raise MeasurementError(f"the files were read at different read voltages ({sorted(map(str, voltages))} V): "
                                   "a joint fit needs one read voltage", path=tables[0].source.path)

        def cat(name: str) -> np.ndarray | None:
            parts = [getattr(t, name) for t in tables]
            return None if any(p is None for p in parts) else np.concatenate(parts)

        return cls(amplitude=cat("amplitude"), width=cat("width"), r_before=cat("r_before"), r_after=cat("r_after"),
                   wl_voltage=cat("wl_voltage"), address=cat("address"), source=tables[0].source,
                   amplitude_origin=" + ".join(sorted(origins)), bl_voltage=cat("bl_voltage"),
                   sl_voltage=cat("sl_voltage"),
                   file_index=np.concatenate([np.full(len(t), k) for k, t in enumerate(tables)]),
                   sources=tuple(t.source for t in tables))


def read_pulse(path: Path | str, *, columns: Mapping[str, Any] | None = None,
               units: Mapping[str, str] | None = None, options: ReadOptions | None = None, **reader: Any) -> PulseTable:
    options = _options(options, columns=columns, units=units, **reader)
    if options.pulsed_line is not None and options.pulsed_line not in PULSED_LINES:
        raise MeasurementError(f"pulsed line {options.pulsed_line!r}: expected 'bl' (a SET pulse on the bit line) "
                               "or 'sl' (a RESET pulse on the source line)", path=path)
    table, values, drops, meta = _read_columns(path, "pulse", options)
    if "line_voltage" in values:
        if options.pulsed_line is None:
            raise MeasurementError("the file gives the pulsed line's voltage (line_voltage): say which line was pulsed "
                                   "with --pulsed-line bl (SET) or sl (RESET)", path=table.path)
        other = "sl_voltage" if options.pulsed_line == "bl" else "bl_voltage"
        values[f"{options.pulsed_line}_voltage"] = values.pop("line_voltage")
        values.setdefault(other, np.zeros(len(table.rows)))
        meta["constants"].setdefault(other, 0.0)
        meta["labels"][f"{options.pulsed_line}_voltage"] = meta["labels"].pop("line_voltage", "V")
        meta["index"][f"{options.pulsed_line}_voltage"] = meta["index"].pop("line_voltage")
    elif options.pulsed_line is not None:
        raise MeasurementError("--pulsed-line is given but no column holds the pulsed line's voltage: map it with "
                               "--column line_voltage=N", path=table.path)
    has_bl, has_sl = "bl_voltage" in values, "sl_voltage" in values
    if "amplitude" in values:
        amplitude = values["amplitude"]
        origin = f"column {_column_label(table, meta['index']['amplitude'])!r}" if "amplitude" in meta["index"] \
            else "constant"
    elif has_bl and has_sl:
        amplitude = values["bl_voltage"] - values["sl_voltage"]
        origin = "V_BL - V_SL"
    elif has_bl or has_sl:
        present, absent = ("bit", "sl_voltage") if has_bl else ("source", "bl_voltage")
        raise MeasurementError(
            f"the file has the {present}-line voltage but not the {absent.replace('_voltage', '').upper()} voltage: "
            f"give it with --constant {absent}=0 (constants={{'{absent}': 0.0}}) if that line was grounded, map its "
            "column, or use --column line_voltage=N --pulsed-line bl|sl", path=table.path)
    else:
        raise MeasurementError(
            "missing the pulse amplitude: give an amplitude column (e.g. pulse_amplitude_V) or both the bit-line "
            f"and source-line voltages (bl_voltage_V, sl_voltage_V); the header has {', '.join(table.header)}",
            path=table.path, line=table.header_line or None)
    values["amplitude"] = amplitude
    _drop_not_positive(drops, values, {"width": "pulse width", "r_before": "resistance", "r_after": "resistance"},
                       meta)
    _drop_open_circuit(drops, values, ("r_before", "r_after"), meta, options.open_circuit_ohm)
    drops.drop(~np.isfinite(amplitude), "non_finite", "the pulse amplitude is not finite", None)
    source = _finish(table, drops, meta, options, 2, "pulses", "pulse")
    keep = drops.keep
    get = lambda name: values[name][keep] if name in values else None  # noqa: E731
    return PulseTable(amplitude=amplitude[keep], width=get("width"), r_before=get("r_before"),
                      r_after=get("r_after"), wl_voltage=get("wl_voltage"), address=get("address"), source=source,
                      amplitude_origin=origin, bl_voltage=get("bl_voltage"), sl_voltage=get("sl_voltage"))


# ---------------------------------------------------------------------------- distributions


@dataclasses.dataclass(frozen=True)
class ResistanceDistribution:
    """One read resistance per cell (ohm), with its state label (upper case; 'ALL' if the file has none)."""

    resistance: np.ndarray
    state: np.ndarray
    address: np.ndarray | None
    source: MeasurementFile
    sources: tuple[MeasurementFile, ...] = ()

    @property
    def states(self) -> list[str]:
        return list(dict.fromkeys(self.state.tolist()))

    @property
    def labelled(self) -> bool:
        """True when the states come from the data (a column, or a label per file)."""
        return self.states != ["ALL"]

    @property
    def read_voltage(self) -> float | None:
        return self.source.read_voltage

    def of(self, state: str) -> np.ndarray:
        return self.resistance[self.state == state]

    def __len__(self) -> int:
        return len(self.resistance)

    @classmethod
    def join(cls, parts: Sequence["ResistanceDistribution"]) -> "ResistanceDistribution":
        """Cells of several files as one distribution (each file's states kept)."""
        if len(parts) == 1:
            return dataclasses.replace(parts[0], sources=(parts[0].source,))
        voltages = {p.read_voltage for p in parts}
        if len(voltages) > 1:
            raise MeasurementError(f"the files were read at different read voltages ({sorted(map(str, voltages))} V)",
                                   path=parts[0].source.path)
        if any(p.states == ["ALL"] for p in parts):
            raise MeasurementError("several distribution files need a state label each (a state column, or "
                                   "--states LRS,HRS with one label per file)", path=parts[0].source.path)
        address = None if any(p.address is None for p in parts) else np.concatenate([p.address for p in parts])
        return cls(resistance=np.concatenate([p.resistance for p in parts]),
                   state=np.concatenate([p.state for p in parts]), address=address, source=parts[0].source,
                   sources=tuple(p.source for p in parts))


def read_distribution(path: Path | str, *, columns: Mapping[str, Any] | None = None,
                      units: Mapping[str, str] | None = None, options: ReadOptions | None = None,
                      **reader: Any) -> ResistanceDistribution:
    options = _options(options, columns=columns, units=units, **reader)
    table, values, drops, meta = _read_columns(path, "distribution", options)
    _drop_not_positive(drops, values, {"resistance": "resistance"}, meta)
    _drop_open_circuit(drops, values, ("resistance",), meta, options.open_circuit_ohm)
    source = _finish(table, drops, meta, options, 2, "cells", "distribution")
    keep = drops.keep
    table = _kept(table, drops)
    if "state" in values:
        state = np.char.upper(np.char.strip(values["state"][keep]))
        empty = np.flatnonzero(state == "")
        if empty.size:
            k = int(empty[0])
            raise MeasurementError("empty state label", path=table.path, line=table.lines[k], row=k + 1,
                                   column=source.columns.get("state"))
    else:
        state = np.full(len(table.rows), "ALL")
    for label in dict.fromkeys(state.tolist()):
        rows = np.flatnonzero(state == label)
        if rows.size < 2:
            k = int(rows[0])
            raise MeasurementError(f"state {label!r} has a single cell: at least 2 are needed for a spread",
                                   path=table.path, line=table.lines[k], row=k + 1,
                                   column=source.columns.get("state"))
    address = values["address"][keep] if "address" in values else None
    return ResistanceDistribution(resistance=values["resistance"][keep], state=state, address=address, source=source)


# ---------------------------------------------------------------------------- retention


@dataclasses.dataclass(frozen=True)
class RetentionTable:
    """Resistance reads after programming, at a temperature.

    Pairs (`r_before` given): each row a cell read before and after `time` spent at
    `temperature` (a bake); `time_before` is when the before read was taken after
    programming (0 when the file does not say: `time_before_origin`). Series (no
    `r_before`): each row one read of cell `address` at `time` (after programming, or any
    clock: a cell's first read is its reference) and `temperature`.
    """

    resistance: np.ndarray  # ohm (the after read of a pair)
    time: np.ndarray  # s
    temperature: np.ndarray  # C
    r_before: np.ndarray | None
    time_before: np.ndarray  # s
    address: np.ndarray | None
    source: MeasurementFile
    time_before_origin: str = "file"

    def __len__(self) -> int:
        return len(self.resistance)

    @property
    def is_pairs(self) -> bool:
        return self.r_before is not None

    @property
    def read_voltage(self) -> float | None:
        return self.source.read_voltage


def read_retention(path: Path | str, *, columns: Mapping[str, Any] | None = None,
                   units: Mapping[str, str] | None = None, options: ReadOptions | None = None,
                   **reader: Any) -> RetentionTable:
    options = _options(options, columns=columns, units=units, **reader)
    table, values, drops, meta = _read_columns(path, "retention", options)
    positive = {"resistance": "resistance"} | ({"r_before": "resistance"} if "r_before" in values else {})
    _drop_not_positive(drops, values, positive, meta)
    _drop_open_circuit(drops, values, tuple(positive), meta, options.open_circuit_ohm)
    drops.drop(~(values["time"] >= 0) & np.isfinite(values["time"]), "not_positive",
               "negative time: times after programming (or bake durations) are >= 0",
               _column_label(table, meta["index"]["time"]) if "time" in meta["index"] else "time")
    drops.drop(~(values["temperature"] > -273.15) & np.isfinite(values["temperature"]), "not_positive",
               "temperature below absolute zero (temperatures are in Celsius)",
               _column_label(table, meta["index"]["temperature"]) if "temperature" in meta["index"] else "temperature")
    source = _finish(table, drops, meta, options, 2, "reads", "retention")
    keep = drops.keep
    get = lambda name: values[name][keep] if name in values else None  # noqa: E731
    before = get("time_before")
    return RetentionTable(resistance=get("resistance"), time=get("time"), temperature=get("temperature"),
                          r_before=get("r_before"), time_before=before if before is not None else np.zeros(int(keep.sum())),
                          address=get("address"), source=source,
                          time_before_origin="file" if before is not None else "not given: 0 s (the before read "
                          "taken as the programmed state)")


@dataclasses.dataclass(frozen=True)
class RetentionFiles:
    """The retention tables of one fit, file by file (pairs and series are not joined: the
    relaxation fit pairs the reads of one cell across files)."""

    tables: tuple[RetentionTable, ...]

    @property
    def sources(self) -> tuple[MeasurementFile, ...]:
        return tuple(t.source for t in self.tables)

    @property
    def source(self) -> MeasurementFile:
        return self.tables[0].source

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables)


READERS = {"iv": read_iv, "pulse": read_pulse, "distribution": read_distribution, "retention": read_retention}


def read_measurement(path: Path | str, kind: str, **options: Any):
    """`read_iv`, `read_pulse`, `read_distribution` or `read_retention` by `kind` (keyword options as those take)."""
    if kind not in READERS:
        raise MeasurementError(f"unknown measurement kind {kind!r}; known: {', '.join(READERS)}", path=path)
    return READERS[kind](path, **options)
