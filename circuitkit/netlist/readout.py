"""What a PCSA read measured, and the `.meas` statements it is measured with.

The writer of the measurement statements (`read_measures`, `energy_measure`) and their
reader (`unit_read`, `measure_reads`) live together because they share the names
(`q_<unit>`, `tq_<unit>`, `mq_<unit>`, `e_<unit>` ...); a bench (`PcsaReadBench`,
`ArrayReadBench`) writes the one and measures with the other. Definitions of decision,
delay, margin and energy: the `circuitkit.netlist.pcsa` docstring.

This module reads simulation results; it builds no circuit and reads no netlist text.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.device.model import ModelCard
from circuitkit.spice.runner import SimResult

# --------------------------------------------------------------------------- statements


def read_measures(name: str, q: str, qb: str, cycle: int = 0, supply: str | None = None) -> list[str]:
    """`.meas` statements of one read (read number `cycle`, from 0) sensed on nodes q, qb:
    `q_<name>`, `qb_<name>` (V at the sampling time), `tq_`/`tqb_` (se -> Q/Qb falling
    through VDD/2), `mq_`/`mqb_` (Q, Qb at the margin time) and, if a supply source is given, `e_<name>` (J, evaluation + following precharge)."""
    start = cycle_start(cycle)
    td = "" if cycle == 0 else f" td={{{start}}}"
    lines = [
        f".meas tran q_{name} find v({q}) at={{{start}+t_sample}}",
        f".meas tran qb_{name} find v({qb}) at={{{start}+t_sample}}",
        f".meas tran tq_{name} trig v(se) val={{vdd/2}} rise=1{td} targ v({q}) val={{vdd/2}} fall=1{td}",
        f".meas tran tqb_{name} trig v(se) val={{vdd/2}} rise=1{td} targ v({qb}) val={{vdd/2}} fall=1{td}",
        f".meas tran mq_{name} find v({q}) at={{{start}+t_margin}}",
        f".meas tran mqb_{name} find v({qb}) at={{{start}+t_margin}}",
    ]
    if supply:
        lines += energy_measure(name, supply, cycle).splitlines()
    return lines


def cycle_start(cycle: int) -> str:
    """Netlist expression for the time read `cycle` (from 0) begins its evaluation."""
    return "t_pre" if cycle == 0 else f"t_pre+{cycle}*t_period"


def energy_measure(name: str, supply: str, cycle: int = 0) -> str:
    """`.meas` `e_<name>`: energy (J) the voltage source `supply` (at `vdd`) delivers over
    read `cycle`'s evaluation and the following precharge. Two statements, as one text:
    the charge `qdd_<name>` (the integral of the source's current), then -vdd times it.
    (Not `integ par('-v*i')`: ngspice makes a hidden source per `par()`, at most 99 per
    deck, and measures them only in a second run of the analysis.)"""
    start = cycle_start(cycle)
    return (f".meas tran qdd_{name} integ i({supply}) from={{{start}}} to={{{start}+t_period}}\n"
            f".meas tran e_{name} param='-vdd*qdd_{name}'")


def dgap_node(unit: str, side: str) -> str:
    """Internal state node (gap change, 1 V = 1 nm) of a read unit's BL / BLb device."""
    return f"n.xu_{unit}.xsyn.n{side}#dgap"


# --------------------------------------------------------------------------- outcomes


@dataclasses.dataclass(frozen=True)
class PcsaRead:
    """The outcome of one read of one unit (see the module docstring for definitions).

    `value`: +1 (Q high, Qb low), -1 (Q low, Qb high) or 0 (both high: not resolved at
    the sampling time; both low, which a working latch never gives, also reads 0).
    `delay_s`: NaN when no latch node fell through VDD/2 during the evaluation.
    `margin_v`: signed differential at the margin time (see the module docstring).
    """

    name: str
    value: int
    expected: int
    q_v: float
    qb_v: float
    delay_s: float
    margin_v: float
    energy_j: float
    vdd: float

    @property
    def correct(self) -> bool:
        return self.value == self.expected

    @property
    def resolved(self) -> bool:
        return self.value != 0


def decide(q_v: float, qb_v: float, vdd: float) -> int:
    """(Q, Qb) logic levels at the sampling time -> +1, -1 or 0 (see `PcsaRead`)."""
    q_high, qb_high = q_v > vdd / 2, qb_v > vdd / 2
    if q_high and not qb_high:
        return +1
    if qb_high and not q_high:
        return -1
    return 0


def _measure(result: SimResult, name: str) -> float:
    value = result.measures.get(name.lower(), math.nan)
    return float(value)


def unit_read(result: SimResult, name: str, vdd: float, t_eval: float, expected: int = 0) -> PcsaRead:
    """Decision, delay, margin and energy of one read unit from a bench's measures."""
    q_v, qb_v = _measure(result, f"q_{name}"), _measure(result, f"qb_{name}")
    if not (math.isfinite(q_v) and math.isfinite(qb_v)):
        raise CircuitkitError(f"the simulation has no Q/Qb measures for read unit {name!r}")
    delays = {side: _measure(result, f"t{side}_{name}") for side in ("q", "qb")}
    # Only a fall during this evaluation counts (a later read may fall on the other side).
    delays = {side: t for side, t in delays.items() if math.isfinite(t) and 0 < t < t_eval}
    delay = min(delays.values()) if delays else math.nan
    differential = _measure(result, f"mq_{name}") - _measure(result, f"mqb_{name}")
    margin = differential * expected if expected else -abs(differential) + 0.0  # never -0.0
    return PcsaRead(name, decide(q_v, qb_v, vdd), expected, q_v, qb_v, delay, margin,
                    _measure(result, f"e_{name}"), vdd)


@dataclasses.dataclass(frozen=True)
class RramDrift:
    """State of one RRAM before and after the bench's reads."""

    unit: str
    side: str
    gap_before_m: float
    gap_after_m: float
    r_before_ohm: float
    r_after_ohm: float

    @property
    def gap_change_m(self) -> float:
        return self.gap_after_m - self.gap_before_m

    @property
    def relative_resistance_change(self) -> float:
        return self.r_after_ohm / self.r_before_ohm - 1.0


@dataclasses.dataclass(frozen=True)
class PcsaReads(Mapping[str, PcsaRead]):
    """What a PCSA-read bench measured: a mapping of unit name to its first read (so
    `reads["w"]`, `reads.values()`); with several reads also `last` (the last read of
    every unit) and `drift` (every device's gap and resistance before and after)."""

    first: Mapping[str, PcsaRead]
    last: Mapping[str, PcsaRead] = dataclasses.field(default_factory=dict)
    drift: tuple[RramDrift, ...] = ()

    def __getitem__(self, name: str) -> PcsaRead:
        return self.first[name]

    def __iter__(self):
        return iter(self.first)

    def __len__(self) -> int:
        return len(self.first)


def measure_reads(result: SimResult, expected: Mapping[str, int], vdd: float, t_eval: float, reads: int = 1,
                  initial_gaps: Mapping[str, tuple[float | None, float | None]] | None = None,
                  card: ModelCard | None = None) -> PcsaReads:
    """The reads of units named as in `expected` (unit name -> the value a correct read
    returns); with `reads` > 1 the last read too and, from `initial_gaps` (unit ->
    (BL, BLb) gap_init in m) and the `card`, the drift of every device."""
    first = {name: unit_read(result, name, vdd, t_eval, value) for name, value in expected.items()}
    if reads < 2:
        return PcsaReads(first)
    last = {name: dataclasses.replace(unit_read(result, f"{name}_last", vdd, t_eval, value), name=name)
            for name, value in expected.items()}
    return PcsaReads(first, last, tuple(rram_drift(result, initial_gaps or {}, card or ModelCard.default())))


def rram_drift(result: SimResult, initial_gaps: Mapping[str, tuple[float | None, float | None]],
               card: ModelCard) -> list[RramDrift]:
    """Gap and read resistance of every RRAM at the start and at the end of the bench."""
    drifts = []
    for name, side, gap0 in numeric_gaps(initial_gaps, "drift"):
        dgap = np.asarray(result[f"v({dgap_node(name, side)})"])
        before, after = gap0 + float(dgap[0]) * 1e-9, gap0 + float(dgap[-1]) * 1e-9
        drifts.append(RramDrift(name, side, before, after, float(card.resistance(before)),
                                float(card.resistance(after))))
    return drifts


def numeric_gaps(initial_gaps: Mapping[str, tuple[float | None, float | None]], what: str):
    """(unit, side, gap_init) of every device; an expression (a Monte Carlo draw) is refused:
    `what` needs the number."""
    for name, gaps in initial_gaps.items():
        for side, gap0 in zip(("bl", "blb"), gaps):
            if gap0 is None:
                raise CircuitkitError(f"unit {name}: gap_init of the {side} device is an expression; "
                                      f"{what} needs numeric initial gaps")
            yield name, side, gap0


# --------------------------------------------------------------------------- cell stress per read


def cell_nodes(unit: str) -> list[str]:
    """Saved vectors of a read unit's two RRAMs: bottom electrode (the bit line), top
    electrode (the access transistor's drain) and state node, BL then BLb."""
    return [node for side in ("bl", "blb")
            for node in (f"v(xu_{unit}.{side})", f"v(xu_{unit}.xsyn.cell_{side})", f"v({dgap_node(unit, side)})")]


@dataclasses.dataclass(frozen=True)
class CellStress:
    """What each read of a bench did to one RRAM (arrays with one entry per read).

    Read k spans its precharge and its evaluation, [k, k+1) read periods from the start.
    `peak_reset_v` / `peak_set_v`: the largest voltage across the device terminals in the
    RESET direction (V(be,te), the read current's direction) and in the SET direction
    (V(te,be): coupling when the word line or the sense enable switch), V;
    `peak_reset_field` / `peak_set_field`: the largest local field in each direction
    (`ModelCard.local_field`, V/m, magnitudes) to compare with `fmin_reset` / `fmin_set`;
    `energy_j`: the energy dissipated in the device over the read (integral of V I, with I
    the card's current at ngspice's voltage and state); `gap_m`: the gap at the end of the
    read. `gap_init_m` is the gap before the first read.
    """

    unit: str
    side: str
    gap_init_m: float
    peak_reset_v: np.ndarray
    peak_set_v: np.ndarray
    peak_reset_field: np.ndarray
    peak_set_field: np.ndarray
    energy_j: np.ndarray
    gap_m: np.ndarray

    @property
    def reads(self) -> int:
        return len(self.gap_m)


def measure_cell_stress(result: SimResult, initial_gaps: Mapping[str, tuple[float | None, float | None]],
                        card: ModelCard, temp_c: float, period_s: float, reads: int) -> list[CellStress]:
    """Per-read peak voltage, peak field, energy and end-of-read gap of every RRAM of a
    bench run with `save_cells` (unit -> (BL, BLb) gap_init in `initial_gaps`, numeric)."""
    time = np.asarray(result["time"], dtype=float)
    edges = np.arange(reads + 1) * period_s
    edges[-1] = max(edges[-1], time[-1])
    read_of = np.clip(np.searchsorted(edges, time, side="right") - 1, 0, reads - 1)
    stresses = []
    def per_read_max(values: np.ndarray) -> np.ndarray:
        peak = np.full(reads, -np.inf)
        np.maximum.at(peak, read_of, values)
        return np.maximum(peak, 0.0)

    for name, side, gap0 in numeric_gaps(initial_gaps, "the cell stress"):
        v_te_be = (np.asarray(result[f"v(xu_{name}.xsyn.cell_{side})"], dtype=float)
                   - np.asarray(result[f"v(xu_{name}.{side})"], dtype=float))
        gap = gap0 + np.asarray(result[f"v({dgap_node(name, side)})"], dtype=float) * 1e-9
        field = card.local_field(v_te_be, gap, temp_c=temp_c)
        power = v_te_be * card.current(v_te_be, gap, temp_c=temp_c)
        energy = np.concatenate(([0.0], np.cumsum(0.5 * (power[1:] + power[:-1]) * np.diff(time))))
        stresses.append(CellStress(
            name, side, gap0,
            peak_reset_v=per_read_max(-v_te_be), peak_set_v=per_read_max(v_te_be),
            peak_reset_field=per_read_max(-field), peak_set_field=per_read_max(field),
            energy_j=np.diff(np.interp(edges, time, energy)), gap_m=np.interp(edges[1:], time, gap)))
    return stresses
