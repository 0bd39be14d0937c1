"""Programming benches: SET, RESET and forming of 1T1R and 2T2R cells through their access
transistors, in one ngspice transient per batch of cells.

A 1T1R cell is bit line - RRAM (te -> be) - node x - access transistor (drain x, gate on
the word line, source on the source line, bulk 0), as `device.resimulate.one_t_one_r_netlist`
and the pulse model (`device.pulse`) have it. A 2T2R cell is two of them on one word line
and one source line, with bit lines BL and BLb. The word-line voltage sets the transistor's
current, i.e. the compliance; the pulsed line (BL for SET and forming, SL for RESET) carries
a trapezoidal pulse (amplitude, plateau width, rise = fall = `edge`).

A bench applies its `pulses` in order (phases), then reads every device at the read bias
(BL at `ReadBias.v_read`, the word line at `ReadBias.v_wl`, SL at 0) and measures, per cell:

- the gap after every phase and the resistance at the read bias (V(te, be) / I in the read
  phase: the device alone, as the pulse model's and the data's R are);
- the peak cell current of each phase;
- the energy drawn from each source (word line, bit line(s), source line) over the pulse
  phases (-integral of v i dt; the read phase is counted apart);
- whether the cell switched: R moved by at least `SWITCH_RATIO` in the operation's direction.

In a 2T2R cell a SET phase acts on the device the weight wants in LRS and a RESET phase on
the one it wants in HRS (`device.nonideality.CELL_STATES`); during a RESET the other device's
bit line follows the source line (inhibit: no voltage across it). A forming phase forms both.

Forming. The compact model (verilog-a/rram_hfox.va) has no separate forming physics: a
virgin cell is a cell at the widest gap the card knows (`gmax`, `virgin_gap`), and forming
is a SET from there with a larger pulse; the same equations move it.

Bad input before any simulation (`check_programming`):
- a pulse exceeding the access transistor's voltage rating. The installed PDK's model files
  (models_fet.spice) carry no safe-operating-area parameters (no vgsmax/vdsmax/vbsmax: the
  test checks); SkyWater states the operating voltages where its SPICE models are valid in
  the PDK's device documentation (skywater-pdk, docs/rules/device-details/<device>/index.rst):
  nfet_01v8 V_DS 0 to 1.95 V, V_GS 0 to 1.95 V, V_BS +0.3 to -1.95 V; nfet_g5v0d10v5 V_DS 0 to
  11.0 V, V_GS 0 to 5.5 V, V_BS 0 to -5.5 V (`VOLTAGE_RATINGS`). Bounds used per terminal:
  V_GS <= the word line, V_DS <= the pulse amplitude, and in a RESET (source on the cell
  side) V_SB up to the amplitude;
- a pulse that cannot switch a cell: the local field across the switching core at the
  plateau, with the cell voltage solved against the transistor at the cell's starting gap
  (`device.pulse.solve_cell_voltage`), not above the card's threshold (fmin_set or
  fmin_reset). Below it the model moves nothing at all, and the field only falls as the
  gap moves the way the pulse pushes it.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.device.access import AccessTransistor, fet_table
from circuitkit.device.model import ModelCard
from circuitkit.device.nonideality import CELL_STATES
from circuitkit.device.pulse import solve_cell_voltage
from circuitkit.device.resimulate import pwl_source
from circuitkit.netlist import common as c
from circuitkit.netlist.bench import Bench
from circuitkit.spice.binning import FetSizes
from circuitkit.spice.runner import SimResult

SWITCH_RATIO = 2.0  # a cell switched if R moved by this factor in the operation's direction


class Operation(enum.StrEnum):
    SET = "set"
    RESET = "reset"
    FORM = "form"


class Structure(enum.StrEnum):
    ONE_T_ONE_R = "1t1r"
    TWO_T_TWO_R = "2t2r"


@dataclasses.dataclass(frozen=True)
class VoltageRating:
    """Where the PDK says its SPICE model is valid (V): 0..vds_max, 0..vgs_max, vbs_min..0."""

    vds_max: float
    vgs_max: float
    vbs_min: float
    source: str


_DOC = "SkyWater sky130 PDK documentation, docs/rules/device-details/{}/index.rst, 'Operating Voltages where SPICE models are valid'"
VOLTAGE_RATINGS = {
    "sky130_fd_pr__nfet_01v8": VoltageRating(1.95, 1.95, -1.95, _DOC.format("nfet_01v8")),
    "sky130_fd_pr__nfet_g5v0d10v5": VoltageRating(11.0, 5.5, -5.5, _DOC.format("nfet_g5v0d10v5")),
}


@dataclasses.dataclass(frozen=True)
class ProgrammingPulse:
    """One programming pulse: the operation, the word-line voltage during it (the
    compliance), the pulsed line's amplitude (BL for SET/forming, SL for RESET), the plateau
    width and the rise/fall time (s)."""

    operation: Operation
    v_wl: float
    amplitude: float
    width: float
    edge: float = 2e-9

    def __post_init__(self) -> None:
        object.__setattr__(self, "operation", Operation(self.operation))
        owner = f"ProgrammingPulse({self.operation})"
        c.check_positive(owner, "v_wl", self.v_wl, "V")
        c.check_positive(owner, "amplitude", self.amplitude, "V")
        c.check_positive(owner, "width", self.width, "s")
        c.check_positive(owner, "edge", self.edge, "s")

    @property
    def duration(self) -> float:
        """Word line up, pulse, word line down (s)."""
        return self.width + 4 * self.edge

    def terminals(self) -> tuple[float, float, float]:
        """(V_WL, V_BL, V_SL) of the plateau (the pulse model's `PulseCondition` order)."""
        if self.operation is Operation.RESET:
            return self.v_wl, 0.0, self.amplitude
        return self.v_wl, self.amplitude, 0.0

    def label(self) -> str:
        return f"{self.operation} WL {self.v_wl:g} V, {self.amplitude:g} V x {self.width:g} s"


DEFAULT_SET = ProgrammingPulse(Operation.SET, v_wl=1.5, amplitude=2.0, width=1e-6)
DEFAULT_RESET = ProgrammingPulse(Operation.RESET, v_wl=3.3, amplitude=3.0, width=1e-6)
DEFAULT_FORM = ProgrammingPulse(Operation.FORM, v_wl=1.5, amplitude=3.3, width=10e-6)


@dataclasses.dataclass(frozen=True)
class ReadBias:
    """The read after the pulses: BL at `v_read` (None: the card's read voltage), word line
    at `v_wl` (1.8 V: within both access devices' rating), held for `duration` (s)."""

    v_read: float | None = None
    v_wl: float = 1.8
    duration: float = 50e-9

    def __post_init__(self) -> None:
        if self.v_read is not None:
            c.check_positive("ReadBias", "v_read", self.v_read, "V")
        c.check_positive("ReadBias", "v_wl", self.v_wl, "V")
        c.check_positive("ReadBias", "duration", self.duration, "s")


def virgin_gap(card: ModelCard) -> float:
    """The gap of a virgin (unformed) cell: the widest the card models (`gmax`)."""
    return float(card.value("gmax"))


def check_rating(pulse: ProgrammingPulse | ReadBias, transistor: AccessTransistor, where: str) -> None:
    """A clear error if the pulse drives the access transistor beyond the PDK's rating."""
    rating = VOLTAGE_RATINGS.get(transistor.device)
    if rating is None:
        raise CircuitkitError(f"{where}: no voltage rating known for {transistor.device}; known: "
                              f"{', '.join(VOLTAGE_RATINGS)}")
    if isinstance(pulse, ReadBias):
        checks = [("v_wl", pulse.v_wl, "V_GS", rating.vgs_max)]
    else:
        checks = [("v_wl", pulse.v_wl, "V_GS", rating.vgs_max), ("amplitude", pulse.amplitude, "V_DS", rating.vds_max)]
        if pulse.operation is Operation.RESET:
            checks.append(("amplitude", pulse.amplitude, "V_SB", -rating.vbs_min))
    for name, value, terminal, limit in checks:
        if value > limit:
            raise CircuitkitError(
                f"{where}: {name}={value:g} V puts {terminal} up to {value:g} V on {transistor.device}, beyond its "
                f"rating {terminal} <= {limit:g} V ({rating.source}); lower {name} or use "
                + ("the thick-oxide sky130_fd_pr__nfet_g5v0d10v5" if "01v8" in transistor.device else "a device rated for it"))


def switching_margin(card: ModelCard, transistor: AccessTransistor, pulse: ProgrammingPulse, gaps) -> np.ndarray:
    """Field across the core at the plateau over the card's threshold for the pulse's
    direction (<= 1: the pulse cannot move a cell starting at that gap)."""
    v_wl, v_bl, v_sl = pulse.terminals()
    gaps = np.atleast_1d(np.asarray(gaps, dtype=float))
    v_core = solve_cell_voltage(card, fet_table(transistor), v_wl, v_bl, v_sl, gaps, temp_c=transistor.temp_c)
    field = card.local_field(v_core, gaps, core=True)  # the state equation's gamma(g) v_core / tox
    if pulse.operation is Operation.RESET:
        return -field / max(card.value("fmin_reset"), 1e-300)
    return field / max(card.value("fmin_set"), 1e-300)


def check_switching(card: ModelCard, transistor: AccessTransistor, pulse: ProgrammingPulse, gaps, where: str) -> None:
    """A clear error if the pulse cannot move a cell from its starting gap (field below threshold)."""
    margin = switching_margin(card, transistor, pulse, gaps)
    stuck = np.flatnonzero(margin <= 1.0)
    if stuck.size:
        k = int(stuck[0])
        threshold = "fmin_reset" if pulse.operation is Operation.RESET else "fmin_set"
        gap = float(np.atleast_1d(gaps)[k])
        raise CircuitkitError(
            f"{where}: {pulse.label()} cannot switch {stuck.size} of {margin.size} cells (first: cell {k}, gap "
            f"{gap * 1e9:.3f} nm, R {float(card.resistance(gap)):.4g} ohm): the field across the cell at the plateau is "
            f"{margin[k] * card.value(threshold):.3g} V/m, not above the card's threshold {threshold} = "
            f"{card.value(threshold):.3g} V/m, below which the model moves nothing; raise amplitude or v_wl")


@dataclasses.dataclass(frozen=True)
class ProgrammingResult:
    """Per cell (rows) and device (columns: 1 for 1T1R, BL and BLb for 2T2R)."""

    structure: Structure
    pulses: tuple[ProgrammingPulse, ...]
    gap_before: np.ndarray       # (cells, devices) m
    gap_after: np.ndarray        # (phases, cells, devices) m, after each phase
    r_before: np.ndarray         # (cells, devices) ohm at the read voltage (card)
    r_read: np.ndarray           # (cells, devices) ohm: V(te, be) / I in the read phase
    v_read: float
    peak_current: np.ndarray     # (phases, cells, devices) A, cell current
    energy: dict[str, np.ndarray]  # source -> (cells,) J over the pulse phases
    read_energy: np.ndarray      # (cells,) J drawn in the read phase (all sources)
    switched: np.ndarray         # (phases, cells) bool: every targeted device switched

    @property
    def energy_total(self) -> np.ndarray:
        return sum(self.energy.values())

    @property
    def gap_final(self) -> np.ndarray:
        return self.gap_after[-1]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProgrammingBench(Bench[ProgrammingResult]):
    """Batched programming of independent cells: every cell gets the same `pulses`, each
    device starts at its own `gap_before` (cells x devices) with its own `rate_scale`
    (cells x devices; None: 1): the pulse model's per-pulse switching-speed draw, an
    instance parameter of the .va, so one value per device and run (one bench per pulse
    where every pulse needs its own draw, as the verify loop does)."""

    pulses: tuple[ProgrammingPulse, ...] = (DEFAULT_SET,)
    structure: Structure = Structure.ONE_T_ONE_R
    gap_before: Any = None
    weights: tuple[int, ...] | None = None
    rate_scale: Any = None
    transistor: AccessTransistor = AccessTransistor()
    read: ReadBias = ReadBias()
    check_switching: bool = True
    # Largest internal time step (s); None: ngspice's own choice (breakpoints at every PWL
    # corner). A cell whose rate_scale draw is extreme can switch within picoseconds of the
    # pulse edge; a step of a fraction of the edge (`fine_step`) carries it where the default fails.
    max_step: float | None = None
    kind = "program"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "structure", Structure(self.structure))
        pulses = (self.pulses,) if isinstance(self.pulses, ProgrammingPulse) else tuple(self.pulses)
        if not pulses or not all(isinstance(p, ProgrammingPulse) for p in pulses):
            raise CircuitkitError("ProgrammingBench: pulses: expected one or more ProgrammingPulse")
        object.__setattr__(self, "pulses", pulses)
        # the transistor at the bench's corner and temperature (its surrogate checks switching)
        object.__setattr__(self, "transistor", dataclasses.replace(
            self.transistor, corner=str(self.point.corner), temp_c=self.point.temp_c))
        devices = self.devices
        if self.gap_before is None:
            raise CircuitkitError("ProgrammingBench: gap_before: expected the starting gap (m) of every device")
        gaps = np.asarray(self.gap_before, dtype=float).reshape(-1, devices)
        object.__setattr__(self, "gap_before", gaps)
        for k, g in enumerate(gaps.ravel()):
            self.card.instance_for_gap(float(g), f"ProgrammingBench cell {k // devices}")  # refuses a gap below 0
        scale = np.ones(gaps.shape) if self.rate_scale is None else \
            np.asarray(self.rate_scale, dtype=float).reshape(-1, devices) * np.ones(gaps.shape)
        if np.any(~(scale > 0)) or np.any(~np.isfinite(scale)):
            raise CircuitkitError("ProgrammingBench: rate_scale: expected finite numbers > 0")
        object.__setattr__(self, "rate_scale", scale)
        if self.structure is Structure.TWO_T_TWO_R:
            if self.weights is None or len(self.weights) != gaps.shape[0]:
                raise CircuitkitError(f"ProgrammingBench: weights: expected one stored weight (+1/-1) per 2T2R cell "
                                      f"({gaps.shape[0]})")
            object.__setattr__(self, "weights", tuple(c.check_weight(w, ternary=False, where="ProgrammingBench weight")
                                                      for w in self.weights))
        for pulse in pulses:
            check_rating(pulse, self.transistor, f"ProgrammingBench {pulse.operation} pulse")
        check_rating(self.read, self.transistor, "ProgrammingBench read")
        if self.check_switching:
            touched = np.zeros(gaps.shape, dtype=bool)
            for phase, pulse in enumerate(pulses):
                # a device an earlier phase programmed starts where that phase leaves it: unknown here
                targets = self._targets(phase) & ~touched
                if targets.any():
                    check_switching(self.card, self.transistor, pulse, gaps[targets],
                                    f"ProgrammingBench {pulse.operation} pulse")
                touched |= self._targets(phase)

    # -- layout
    @property
    def fine_step(self) -> float:
        """A quarter of the shortest pulse edge: the step that carries the fastest switching."""
        return min(p.edge for p in self.pulses) / 4

    @property
    def devices(self) -> int:
        return 1 if self.structure is Structure.ONE_T_ONE_R else 2

    @property
    def cells(self) -> int:
        return self.gap_before.shape[0]

    @property
    def v_read(self) -> float:
        return self.read.v_read if self.read.v_read is not None else self.card.read_voltage

    def _targets(self, phase: int) -> np.ndarray:
        """(cells, devices) bool: the devices the phase programs."""
        pulse = self.pulses[phase]
        if self.structure is Structure.ONE_T_ONE_R or pulse.operation is Operation.FORM:
            return np.ones(self.gap_before.shape, dtype=bool)
        want = "lrs" if pulse.operation is Operation.SET else "hrs"
        return np.array([[CELL_STATES[w][d].lower() == want for d in range(2)] for w in self.weights])

    def _phase_times(self) -> list[tuple[float, float]]:
        """(start, end) of each phase and of the read (last), in s."""
        times, t = [], 0.0
        for pulse in self.pulses:
            times.append((t, t + pulse.duration))
            t += pulse.duration
        edge = min(p.edge for p in self.pulses)
        times.append((t, t + self.read.duration + 2 * edge))
        return times

    def _waveforms(self, targets: Sequence[np.ndarray], times: Sequence[tuple[float, float]]
                   ) -> dict[str, tuple[list[float], list[float]]]:
        """(time, voltage) corners of every source of one cell; `targets`: per phase, the
        devices of the cell it programs (a row of `_targets(phase)`), and `times` the
        `_phase_times()`, both built once per deck."""
        lines = ["wl", "bl", "sl"] + (["blb"] if self.devices == 2 else [])
        wave = {name: ([0.0], [0.0]) for name in lines}

        def ramp(name: str, t0: float, level: float, edge: float) -> None:
            t, v = wave[name]
            t += [t0, t0 + edge]
            v += [v[-1], level]

        for phase, pulse in enumerate(self.pulses):
            start, _ = times[phase]
            e = pulse.edge
            ramp("wl", start, pulse.v_wl, e)
            if pulse.operation is Operation.RESET:
                driven = ["sl"] + [line for line, hit in zip(("bl", "blb"), targets[phase])
                                   if not hit and self.devices == 2]
            else:
                driven = [line for line, hit in zip(("bl", "blb"), targets[phase]) if hit]
            for name in driven:
                ramp(name, start + e, pulse.amplitude, e)
                ramp(name, start + 2 * e + pulse.width, 0.0, e)
            ramp("wl", start + 3 * e + pulse.width, 0.0, e)
        start, end = times[-1]
        e = min(p.edge for p in self.pulses)
        ramp("wl", start, self.read.v_wl, e)
        for name in ("bl", "blb")[: self.devices]:
            ramp(name, start, self.v_read, e)
        for name in wave:  # hold to the end
            wave[name][0].append(end)
            wave[name][1].append(wave[name][1][-1])
        return wave

    # -- Bench verbs
    def header(self) -> dict[str, Any]:
        return {"kind": self.kind, "structure": str(self.structure), "cells": self.cells,
                "pulses": [p.label() for p in self.pulses], "transistor": self.transistor.describe(),
                "v_read": self.v_read}

    def fet_sizes(self) -> FetSizes:
        return FetSizes.of([(self.transistor.device, self.transistor.w_um, self.transistor.l_um)])

    def to_netlist(self) -> str:
        t = self.transistor
        lines = self.preamble(f"{self.structure} programming bench: {len(self.pulses)} phase(s), {self.cells} cells",
                              "circuitkit.netlist.programming", [("v_read", self.v_read, "read voltage (V)")],
                              self.fet_sizes())
        lines += c.section("cells: RRAM te on the bit line, be on node x, access transistor x-wl-sl")
        targets = [self._targets(phase) for phase in range(len(self.pulses))]  # once: each is (cells, devices)
        times = self._phase_times()
        for k in range(self.cells):
            for name, (time, voltage) in self._waveforms([phase[k] for phase in targets], times).items():
                lines.append(pwl_source(f"{name}{k}", f"{name}{k}", time, voltage))
            for d, bitline in enumerate(("bl", "blb")[: self.devices]):
                gap = float(self.gap_before[k, d])
                instance = self.card.instance_for_gap(gap, f"cell {k}") | {
                    "rate_scale": float(self.rate_scale[k, d])}
                lines.append(f"N{k}_{d} {bitline}{k} x{k}_{d} rram "
                             f"{self.card.instance_parameters(where=f'cell {k}', **instance)}")
                lines.append(f"XM{k}_{d} x{k}_{d} wl{k} sl{k} 0 {t.device} w={t.w_um:g} l={t.l_um:g}")
        end = times[-1][1]
        lines += c.section("analysis")
        if self.max_step is None:  # the output step; ngspice breaks at every PWL corner itself
            lines.append(f".tran {c.spice_number(end / 400)} {c.spice_number(end)}")
        else:
            step = c.check_positive("ProgrammingBench", "max_step", self.max_step, "s")
            lines.append(f".tran {c.spice_number(min(step, end / 400))} {c.spice_number(end)} 0 {c.spice_number(step)}")
        return c.finish(lines)

    def measure(self, result: SimResult) -> ProgrammingResult:
        time = np.asarray(result["time"], dtype=float)
        times = self._phase_times()
        n, devices, phases = self.cells, self.devices, len(self.pulses)
        gap_after = np.empty((phases, n, devices))
        peak = np.empty((phases, n, devices))
        r_read = np.empty((n, devices))
        sources = ["wl", "bl", "sl"] + (["blb"] if devices == 2 else [])
        energy = {name: np.zeros(n) for name in sources}
        read_energy = np.zeros(n)
        pulse_end = times[-2][1]
        for k in range(n):
            for d, bitline in enumerate(("bl", "blb")[:devices]):
                dgap = np.asarray(result[f"v(n{k}_{d}#dgap)"], dtype=float)
                current = -np.asarray(result[f"i(v{bitline}{k})"], dtype=float)  # into te
                for phase, (_, stop) in enumerate(times[:-1]):
                    gap_after[phase, k, d] = self.gap_before[k, d] + np.interp(stop, time, dgap) * 1e-9
                    start = times[phase][0]
                    inside = (time >= start) & (time <= stop)
                    peak[phase, k, d] = np.max(np.abs(current[inside])) if inside.any() else 0.0
                v_cell = np.asarray(result[f"v({bitline}{k})"]) - np.asarray(result[f"v(x{k}_{d})"])
                r_read[k, d] = v_cell[-1] / current[-1] if current[-1] != 0 else math.inf
            for name in sources:
                power = -np.asarray(result[f"v({name}{k})"]) * np.asarray(result[f"i(v{name}{k})"])
                energy[name][k] = _integral(time, power, 0.0, pulse_end)
                read_energy[k] += _integral(time, power, pulse_end, time[-1])
        r_before = np.asarray(self.card.resistance(self.gap_before, self.v_read), dtype=float)
        switched = np.empty((phases, n), dtype=bool)
        previous = self.gap_before
        for phase, pulse in enumerate(self.pulses):
            targets = self._targets(phase)
            r0 = np.asarray(self.card.resistance(previous, self.v_read))
            r1 = np.asarray(self.card.resistance(gap_after[phase], self.v_read))
            moved = r0 / r1 if pulse.operation is not Operation.RESET else r1 / r0
            switched[phase] = np.all((moved >= SWITCH_RATIO) | ~targets, axis=1)
            previous = gap_after[phase]
        return ProgrammingResult(self.structure, self.pulses, self.gap_before, gap_after, r_before, r_read,
                                 self.v_read, peak, energy, read_energy, switched)


def _integral(time: np.ndarray, values: np.ndarray, start: float, stop: float) -> float:
    """Trapezoidal integral of `values` over [start, stop] (the end points interpolated)."""
    inside = (time > start) & (time < stop)
    t = np.concatenate([[start], time[inside], [stop]])
    v = np.concatenate([[np.interp(start, time, values)], values[inside], [np.interp(stop, time, values)]])
    return float(np.sum(0.5 * (v[1:] + v[:-1]) * np.diff(t)))


def one_t_one_r_program(pulse: ProgrammingPulse, gap_before: Sequence[float] | float, **fields: Any) -> ProgrammingBench:
    """1T1R cells (one per starting gap) programmed by one pulse."""
    return ProgrammingBench(pulses=(pulse,), structure=Structure.ONE_T_ONE_R,
                            gap_before=np.atleast_1d(np.asarray(gap_before, dtype=float)), **fields)


def two_t_two_r_write(weights: Sequence[int], gap_before, set_pulse: ProgrammingPulse = DEFAULT_SET,
                      reset_pulse: ProgrammingPulse = DEFAULT_RESET, **fields: Any) -> ProgrammingBench:
    """2T2R cells written to `weights`: a SET of the device the weight wants in LRS, then a
    RESET of the other (its partner's bit line inhibited)."""
    return ProgrammingBench(pulses=(set_pulse, reset_pulse), structure=Structure.TWO_T_TWO_R,
                            gap_before=gap_before, weights=tuple(weights), **fields)


def form(structure: Structure | str, cells: int, card: ModelCard, pulse: ProgrammingPulse = DEFAULT_FORM,
         **fields: Any) -> ProgrammingBench:
    """Forming of `cells` virgin cells (every device at `virgin_gap(card)`)."""
    structure = Structure(structure)
    devices = 1 if structure is Structure.ONE_T_ONE_R else 2
    weights = (+1,) * cells if devices == 2 else None
    return ProgrammingBench(pulses=(pulse,), structure=structure, card=card,
                            gap_before=np.full((cells, devices), virgin_gap(card)), weights=weights, **fields)
