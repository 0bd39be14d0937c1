"""Read disturb over a lifetime: what every read does to the cells it reads, and how many
reads the stored weight survives.

For each read scheme (binary 2T2R PCSA, ternary, XNOR), each corner (process x supply x
temperature) and each read bias (as designed, with a `BitLineClamp`, with a
`WordLineSlew`, and with the word line raised early, `DisturbConfig.wl_lead`):

1. **Stress, simulated.** One transient of `reads` consecutive reads in ngspice (the
   Verilog-A model moves its state during every read). Per device and per read: the peak
   voltage across its terminals in the RESET direction (the read current's) and in the SET
   direction (coupling when the word line or the sense enable switch), the peak local
   field against the card's field thresholds (`fmin_reset`, `fmin_set`), the energy it
   dissipates, and its gap at the end of the read (`readout.measure_cell_stress`).
2. **Drift law, fitted.** The gap change after the first read, D(m) = g(read m+1) -
   g(read 1), is fitted by a power law |D| = a m^p (least squares in log-log: p = 1 is a
   constant change per read, p < 1 a slowing one). The first read is left out of the fit:
   it includes the bench's power-up transient (nodes start at 0 V).
3. **Reads to failure, extrapolated.** The fitted law moves both devices to their state
   after n reads (n on a log grid from the simulated reads to `horizon`; clipped at the
   card's bounds, where the model's window stops the motion); one more ngspice bench reads
   a cell in each of those states. A +-1 read fails when its sense margin falls below
   `margin_fraction` of the fresh cell's margin or it reads wrong; a 0 (ternary) fails when
   it reads as +-1. Reads to failure: the margin interpolated linearly in log n between the
   last grid state that passes and the first that fails. Everything beyond `reads` is an
   extrapolation of the law, and the table says so (`simulated_reads`, `basis`). Its
   interval is the spread between the law fitted to all reads and to each half of them,
   mapped through the same failure drift: a deterministic simulation has no sampling noise,
   so the interval measures how far the law itself is determined by the data, not chance.
4. **No motion.** With issue 15's field thresholds a read below threshold does not move the
   state at all: then no failure is predicted, and the row says so with the threshold
   margin (peak field / threshold) instead of a number.

Each option's cost is reported beside its gain: the fresh read's sense delay, margin and
energy with and without it (the margin is the BER's proxy here: at a fixed sampling time a
smaller margin is a larger error rate under the same offset spread). The two options act
on different mechanisms: the clamp limits the RESET-direction voltage the read current
puts across the cells; the slew-limited word line removes the SET-direction glitch the
rising word line couples onto them, the disturb that moves HRS towards LRS on a card
whose SET threshold is near zero (the refitted real card). Raising the word line early,
while the bit line is still low in its precharge, removes the same glitch by sequencing
(the bit line then rises onto a cell already tied to the source line), at the cost of a
cell current during the whole precharge.

This module simulates and fits; it draws nothing (`circuitkit.report.disturb_plots`) and
parses no command line (`circuitkit.corners.disturb_cli`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.corners.reads import TIGHTER_OPTIONS, read_timing
from circuitkit.device.model import ModelCard
from circuitkit.device.nonideality import CELL_STATES
from circuitkit.files import file_hash, write_json, write_rows_csv
from circuitkit.netlist.common import RramStates
from circuitkit.netlist.pcsa import (
    TERNARY_TIMING,
    BitLineClamp,
    PcsaReadBench,
    ReadTiming,
    ReadUnit,
    WordLineSlew,
)
from circuitkit.netlist.readout import CellStress, PcsaRead, PcsaReads, measure_cell_stress
from circuitkit.operating import Corner, OperatingPoint
from circuitkit.spice.runner import SimulationError, run_batch

T = TypeVar("T")

SCHEMES = ("binary", "ternary", "xnor")
# The weights each scheme's stress bench holds: -1 mirrors +1 (the same devices, swapped).
# An XNOR read is a binary read through the input swap, with input 1 (straight through).
SCHEME_WEIGHTS = {"binary": (+1,), "ternary": (+1, 0), "xnor": (+1,)}
SCHEME_KINDS = {"binary": "2t2r-pcsa", "ternary": "ternary-pcsa", "xnor": "xnor-pcsa"}
# A gap change below this after all simulated reads is "no motion" (1e-6 pm: ngspice's
# state integrates exactly 0 below the field threshold; above it even 1e3 reads of a slow
# drift move far more).
MOTION_FLOOR_M = 1e-18
# What a row's reads to failure is (`DisturbRow.status`), from the start of its basis.
STATUSES = {"the fresh read already fails": "fails fresh",
            "no failure predicted by the model below": "below threshold",
            "no failure predicted up to": "no failure to horizon",
            "no motion resolved": "undetermined", "no reads to failure": "undetermined"}
# The stress transient's largest step, per clock edge: the SET-direction glitch a 50 ps
# word-line edge couples onto the HRS cell is what drifts it, and the per-read drift is
# what gets extrapolated 1e4-1e6 times. Measured (real card, binary, tt/1.8 V/125 C, 40
# reads): ngspice's own 20 ps step gave an HRS drift 1.5x too large and, on the early word
# line, "Timestep too small"; t_edge/10 (5 ps) is within 3 % of a 2 ps step in drift and peak.
STRESS_STEPS_PER_EDGE = 10
TABLE_FILE = "disturb_table.csv"
JSON_FILE = "disturb.json"
FIGURE_FILE = "reads_to_failure.png"
ASSUMPTIONS = (
    "state change per read simulated in ngspice (Verilog-A model, sky130 FETs) over `reads` consecutive reads "
    "in one transient, nominal devices (the card's programmed LRS/HRS), no transistor mismatch",
    "drift law: power law |g(read m+1) - g(read 1)| = a m^p fitted in log-log to reads 2..N (read 1 holds the "
    "bench's power-up transient and is not fitted); beyond N reads the law is extrapolated",
    "extrapolated states are clipped at the card's gap bounds gmin/gmax (the model's window stops the motion there)",
    "a +-1 read fails when its sense margin falls below margin_fraction of the fresh cell's margin (or it reads "
    "wrong); a 0 fails when it reads +-1; margins from one ngspice read of a cell in the extrapolated state",
    "interval: reads to failure by the law fitted to all reads and to each half of them (the law's spread; "
    "the simulation is deterministic, so no sampling interval exists)",
    "the law checked over one decade (bench/bench_disturb.py, 100 -> 1000 reads): a drift at a near-constant rate "
    "per read (the real card's) within 4-30 %; a runaway drift above the RESET threshold is not a power law "
    "(accelerating LRS underestimated 0.64x, HRS at its bound overestimated)",
    f"stress transient's time step at most t_edge/{STRESS_STEPS_PER_EDGE} (5 ps for the 50 ps clock edges; the "
    "per-read drift on the word-line edge within 3 % of a 2 ps step); a bench ngspice does not finish is retried "
    "once with Gear integration and tighter tolerances (the row's `retried` names it)",
    "energy per read: integral of V(te,be) I over the read, I the card's current at ngspice's voltage and state",
    "no motion over the simulated reads with the peak field below the card's thresholds: no failure predicted "
    "by the model (it has no sub-threshold motion); the threshold margin is the peak field / threshold",
    "read biases: the clamp is re-timed to its own delay; the word-line ramp (WordLineSlew) and the early word line "
    "are ideal word-line sources (the driver's size, delay and energy are not simulated; the read energy is the "
    "read unit's supply only), one nominal 2T2R pair, no word-line wire RC of an array row",
)


@dataclasses.dataclass(frozen=True)
class DisturbConfig:
    """What `circuitkit disturb` simulates (every field is checked when the config is made,
    before any simulation).

    The grid is `corners` x supplies x `temp_c` for each of `schemes` (binary, ternary,
    xnor; default the first two); the binary and XNOR reads use `vdd` and `clamp_v`, the
    ternary reads `ternary_vdd` (their near-threshold supply) and `ternary_clamp_v`. `reads`:
    consecutive reads simulated per transient (the data the drift law is fitted to; at
    least 8). `clamp_v` / `ternary_clamp_v`: the gate voltage of the bit-line clamp each
    scheme is also simulated with (None: without a clamp only); at most the scheme's lowest
    supply. `wl_rise`: the rise time (s) of the slew-limited word line (`WordLineSlew`) every
    scheme is also simulated with (None: not simulated); it must fit in the scheme's
    precharge. `wl_lead`: the early word line every scheme is also simulated with: it rises
    this long (s) before evaluation instead of `ReadTiming.t_wl_lead` (None: not simulated);
    shorter than the scheme's precharge. `margin_fraction`: a +-1 read fails when its margin falls below this fraction
    of the fresh margin. `horizon`: the largest read count extrapolated to.
    """

    schemes: tuple[str, ...] = ("binary", "ternary")
    corners: tuple[str, ...] = ("tt", "ff")
    vdd: tuple[float, ...] = (1.8, 1.98)
    ternary_vdd: tuple[float, ...] = (0.9, 0.99)
    temp_c: tuple[float, ...] = (27.0, 125.0)
    reads: int = 200
    clamp_v: float | None = 1.4
    ternary_clamp_v: float | None = 0.8
    wl_rise: float | None = 0.4e-9
    wl_lead: float | None = None
    margin_fraction: float = 0.5
    horizon: float = 1e15

    def __post_init__(self) -> None:
        for name in ("schemes", "corners", "vdd", "ternary_vdd", "temp_c"):
            value = getattr(self, name)
            if isinstance(value, (str, int, float)):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        unknown = [s for s in self.schemes if s not in SCHEMES]
        if unknown or not self.schemes:
            raise CircuitkitError(f"DisturbConfig: schemes={self.schemes!r}: expected some of {', '.join(SCHEMES)}")
        object.__setattr__(self, "corners", tuple(str(Corner.parse(c)) for c in self.corners))
        if isinstance(self.reads, bool) or not isinstance(self.reads, int) or self.reads < 8:
            raise CircuitkitError(f"DisturbConfig: reads={self.reads!r}: expected a whole number of consecutive "
                                  "reads of at least 8 (the drift law is fitted to reads 2..reads)")
        if not 0 < self.margin_fraction < 1:
            raise CircuitkitError(f"DisturbConfig: margin_fraction={self.margin_fraction!r}: expected a fraction "
                                  "of the fresh margin between 0 and 1")
        if not (isinstance(self.horizon, (int, float)) and math.isfinite(self.horizon) and self.horizon > 10 * self.reads):
            raise CircuitkitError(f"DisturbConfig: horizon={self.horizon!r}: expected a finite read count above "
                                  f"10 x reads ({10 * self.reads})")
        for scheme in self.schemes:
            points = self.points(scheme)  # checks the supplies and temperatures against the operating range
            clamp = self.clamp(scheme)
            if clamp is not None:
                for point in points:
                    clamp.check_supply(point.vdd, f"DisturbConfig {scheme} reads at {point.label()}")
            # the phases a scheme's timing keeps from ReadTiming's defaults (for_supply sets only the
            # evaluation and the margin time), so no simulation is needed to check the word line
            phases = TERNARY_TIMING if scheme == "ternary" else ReadTiming()
            slew = self.wl_slew()
            if slew is not None:
                slew.check_timing(phases, f"DisturbConfig {scheme}")
            if self.wl_lead is not None:
                try:
                    ReadBias(wl_lead=self.wl_lead).timing(phases)
                except CircuitkitError as error:
                    raise CircuitkitError(f"DisturbConfig {scheme}: wl_lead: {error}") from None

    def supplies(self, scheme: str) -> tuple[float, ...]:
        return self.ternary_vdd if scheme == "ternary" else self.vdd

    def points(self, scheme: str) -> list[OperatingPoint]:
        return [OperatingPoint(corner, vdd, temp) for corner in self.corners for vdd in self.supplies(scheme)
                for temp in self.temp_c]

    def clamp(self, scheme: str) -> BitLineClamp | None:
        gate = self.ternary_clamp_v if scheme == "ternary" else self.clamp_v
        if gate is None:
            return None
        try:
            return BitLineClamp(v_gate=gate)
        except CircuitkitError as error:
            raise CircuitkitError(f"DisturbConfig {scheme}: {error}") from None

    def wl_slew(self) -> WordLineSlew | None:
        if self.wl_rise is None:
            return None
        try:
            return WordLineSlew(t_rise=self.wl_rise)
        except CircuitkitError as error:
            raise CircuitkitError(f"DisturbConfig: {error}") from None

    def biases(self, scheme: str) -> list["ReadBias"]:
        """The read biases each point is simulated with: as designed first (the reference
        the failure limit is taken from), then each configured option alone."""
        clamp, slew, lead = self.clamp(scheme), self.wl_slew(), self.wl_lead
        return ([ReadBias()] + ([ReadBias(clamp=clamp)] if clamp else []) + ([ReadBias(wl_slew=slew)] if slew else [])
                + ([ReadBias(wl_lead=lead)] if lead is not None else []))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ReadBias:
    """One read-bias design option of the read benches (all None: as designed): a bit-line
    clamp, a slew-limited word line, or the word line raised `wl_lead` seconds before
    evaluation (a timing, `ReadTiming.t_wl_lead`: no new circuit)."""

    clamp: BitLineClamp | None = None
    wl_slew: WordLineSlew | None = None
    wl_lead: float | None = None

    def label(self) -> str:
        return bias_label(self.clamp and self.clamp.v_gate, self.wl_slew and self.wl_slew.t_rise, self.wl_lead)

    def bench_fields(self) -> dict[str, Any]:
        return {"clamp": self.clamp, "wl_slew": self.wl_slew}

    def timing(self, base: ReadTiming) -> ReadTiming:
        """`base` with this bias's word-line lead (unchanged without one)."""
        return base if self.wl_lead is None else dataclasses.replace(base, t_wl_lead=self.wl_lead)


def bias_label(clamp_v: float | None, wl_rise_s: float | None, wl_lead_s: float | None = None) -> str:
    """How a read bias is named in the table, the console and the figure."""
    if clamp_v is not None:
        return f"clamp at {clamp_v:g} V"
    if wl_lead_s is not None:
        return f"word line {wl_lead_s * 1e12:.0f} ps early"
    return "as designed" if wl_rise_s is None else f"word-line rise {wl_rise_s * 1e12:.0f} ps"


# --------------------------------------------------------------------------- drift law


@dataclasses.dataclass(frozen=True)
class DriftLaw:
    """|g(read m+1) - g(read 1)| = amplitude_m * m^exponent, with the sign of the motion
    (+1: the gap grows, towards HRS / RESET; -1: it shrinks, towards LRS / SET)."""

    sign: int
    amplitude_m: float
    exponent: float
    first_read: int
    last_read: int

    def drift_m(self, reads: float | np.ndarray) -> np.ndarray:
        """Gap change from the end of read 1 to the end of read `reads` (m)."""
        m = np.maximum(np.asarray(reads, dtype=float) - 1.0, 0.0)
        return self.sign * self.amplitude_m * m ** self.exponent

    def reads_for(self, drift_m: float) -> float:
        """The read count at which the law reaches |drift| = `drift_m`."""
        return 1.0 + (abs(drift_m) / self.amplitude_m) ** (1.0 / self.exponent)

    def label(self) -> str:
        return f"{self.sign * self.amplitude_m * 1e12:+.3g} pm x m^{self.exponent:.3f}"


def fit_drift_law(gap_m: np.ndarray, first: int = 1, last: int | None = None) -> DriftLaw | None:
    """The power law of the drift after read 1 (`gap_m[k]`: gap at the end of read k+1),
    fitted to reads `first`+1 .. `last`+1 (0-based indices into the drift after read 1);
    None when the state did not move."""
    drift = np.asarray(gap_m, dtype=float)[1:] - float(gap_m[0])
    m = np.arange(1, len(drift) + 1, dtype=float)
    window = slice(first - 1, last)
    drift, m = drift[window], m[window]
    if len(drift) == 0 or abs(drift[-1]) < MOTION_FLOOR_M:
        return None
    sign = 1 if drift[-1] > 0 else -1
    moving = sign * drift > MOTION_FLOOR_M
    if moving.sum() < 3:
        return None
    exponent, log_amplitude = np.polyfit(np.log(m[moving]), np.log(sign * drift[moving]), 1)
    if exponent <= 0:
        return None
    return DriftLaw(sign, float(np.exp(log_amplitude)), float(exponent), int(m[moving][0]) + 1, int(m[moving][-1]) + 1)


# --------------------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True)
class DeviceDisturb:
    """One device of a stressed cell over the simulated reads (reads 2..N: read 1 holds
    the power-up transient)."""

    side: str
    state: str
    peak_reset_v: float
    peak_set_v: float
    reset_field_ratio: float   # peak RESET-direction field / fmin_reset (inf: no threshold)
    set_field_ratio: float     # peak SET-direction field / fmin_set
    energy_per_read_j: float   # median over reads 2..N
    change_per_read_m: float   # mean gap change per read over reads 2..N
    law: DriftLaw | None

    @property
    def below_threshold(self) -> bool:
        return self.reset_field_ratio < 1 and self.set_field_ratio < 1


@dataclasses.dataclass(frozen=True)
class DisturbRow:
    """One stored weight at one corner and read bias: stress, drift and reads to failure."""

    scheme: str
    point: OperatingPoint
    clamp_v: float | None
    weight: int
    simulated_reads: int
    devices: tuple[DeviceDisturb, ...]
    delay_s: float                     # fresh read (read 1), se -> first latch node at VDD/2
    margin_v: float                    # fresh read's sense margin (the failure limit's reference)
    margin_limit_v: float              # margin_fraction x the unclamped fresh margin
    t_margin_s: float                  # when the margin is taken (re-set for a clamp's delay)
    reads_to_failure: float | None     # None: no failure predicted (see `basis`)
    interval: tuple[float, float] | None
    basis: str
    wl_rise_s: float | None = None     # the slew-limited word line's rise time (None: the clock edge)
    wl_lead_s: float | None = None     # the early word line's lead before evaluation (None: the timing's)
    energy_j: float = math.nan         # fresh read's energy from the unit's supply (evaluation + precharge)
    retried: str = ""                  # the benches of this row ngspice only finished on the retry ("": none)

    @property
    def bias(self) -> str:
        return bias_label(self.clamp_v, self.wl_rise_s, self.wl_lead_s)

    @property
    def status(self) -> str:
        """extrapolated / within simulated reads (a number), or why there is none."""
        if self.reads_to_failure is not None:
            return "extrapolated" if self.reads_to_failure > self.simulated_reads else "within simulated reads"
        return next((status for start, status in STATUSES.items() if self.basis.startswith(start)), "undetermined")

    def to_csv_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"scheme": self.scheme, "corner": str(self.point.corner), "vdd": self.point.vdd,
                               "temp_c": self.point.temp_c, "bias": self.bias,
                               "clamp_v": "" if self.clamp_v is None else self.clamp_v,
                               "wl_rise_s": "" if self.wl_rise_s is None else self.wl_rise_s,
                               "wl_lead_s": "" if self.wl_lead_s is None else self.wl_lead_s,
                               "weight": self.weight, "simulated_reads": self.simulated_reads}
        for d in self.devices:
            law = d.law
            row |= {f"{d.side}_state": d.state, f"{d.side}_peak_reset_v": d.peak_reset_v,
                    f"{d.side}_peak_set_v": d.peak_set_v, f"{d.side}_reset_field_ratio": d.reset_field_ratio,
                    f"{d.side}_set_field_ratio": d.set_field_ratio, f"{d.side}_energy_per_read_j": d.energy_per_read_j,
                    f"{d.side}_change_per_read_m": d.change_per_read_m,
                    f"{d.side}_law_amplitude_m": "" if law is None else law.sign * law.amplitude_m,
                    f"{d.side}_law_exponent": "" if law is None else law.exponent}
        row |= {"delay_s": self.delay_s, "margin_v": self.margin_v, "read_energy_j": self.energy_j,
                "margin_limit_v": self.margin_limit_v,
                "t_margin_s": self.t_margin_s,
                "reads_to_failure": "" if self.reads_to_failure is None else self.reads_to_failure,
                "rtf_low": "" if self.interval is None else self.interval[0],
                "rtf_high": "" if self.interval is None else self.interval[1],
                "extrapolated": self.reads_to_failure is not None and self.reads_to_failure > self.simulated_reads,
                "status": self.status, "basis": self.basis, "retried": self.retried}
        return row


@dataclasses.dataclass(frozen=True)
class DisturbResult:
    config: DisturbConfig
    rows: tuple[DisturbRow, ...]
    card_source: str
    failures: tuple[str, ...] = ()   # points ngspice could not simulate (no rows), with its message
    retries: tuple[str, ...] = ()    # benches ngspice finished only on the retry with safer settings

    def row(self, scheme: str, point: OperatingPoint, clamp: bool = False, weight: int = +1,
            slew: bool = False, early: bool = False) -> DisturbRow:
        """The row of one weight at one point and bias: as designed, with the clamp, with
        the slew-limited word line or with the early word line."""
        key = (scheme, point, clamp, slew, early, weight)
        for row in self.rows:
            if (row.scheme, row.point, row.clamp_v is not None, row.wl_rise_s is not None, row.wl_lead_s is not None,
                    row.weight) == key:
                return row
        raise KeyError((scheme, point.label(), clamp, slew, early, weight))


# --------------------------------------------------------------------------- simulation

RETRY_SETTINGS = ", ".join(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
                           for name, value in TIGHTER_OPTIONS.items())


def with_retry(attempt: Callable[[Mapping[str, Any] | None], T], what: str, retries: list[str] | None) -> T:
    """`attempt(None)` (the simulator's default settings); when ngspice does not converge,
    once more with the campaigns' safer settings (`TIGHTER_OPTIONS`: Gear integration, tighter
    tolerances, more iterations per step), noted in `retries`. The trapezoidal rule can ring
    on a stiff edge until Newton meets a singular matrix (the real card's early word line at
    evaluation start: "Timestep too small" with the gaps still); Gear damps it. A second
    failure propagates."""
    try:
        return attempt(None)
    except SimulationError as error:
        note = f"{what}: {str(error).splitlines()[0][:160]}; retried with {RETRY_SETTINGS}"
        if retries is not None:
            retries.append(note)
        return attempt(TIGHTER_OPTIONS)




def _bench(scheme: str, units: Sequence[ReadUnit], point: OperatingPoint, card: ModelCard,
           bias: ReadBias, timing: ReadTiming, reads: int, **fields: Any) -> PcsaReadBench:
    return PcsaReadBench(tuple(units), point=point, timing=timing, card=card, states=RramStates.of_card(card),
                         kind=SCHEME_KINDS[scheme], xnor=scheme == "xnor", reads=reads, waveforms=False,
                         **bias.bench_fields(), **fields)


def read_unit(scheme: str, name: str, weight: int, **fields: Any) -> ReadUnit:
    """A read unit of `scheme` (an XNOR read's input is 1: it reads the weight itself)."""
    return ReadUnit(name, weight, input_bit=1 if scheme == "xnor" else None, **fields)


def clamped_timing(scheme: str, point: OperatingPoint, card: ModelCard, clamp: BitLineClamp, base: ReadTiming,
                   unclamped_delay_s: float, retries: list[str] | None = None) -> ReadTiming:
    """The read timing re-set for a clamp: the clamp slows the discharge, so the margin time
    (and a binary read's evaluation) stretch by the clamped read's delay over the unclamped
    one at this point, and the margin is compared while the latch is still deciding, as
    without the clamp; the delay is the clamp's cost. A ternary read keeps its sampling
    time (it is what tells 0 from +-1); only its margin time moves, up to the sampling time.
    A clamp that keeps the fresh read from resolving keeps `base` (the rows then say that
    the fresh read fails)."""
    probe = with_retry(lambda options: _bench(
        scheme, [read_unit(scheme, "p", +1)], point, card, ReadBias(clamp=clamp), base, 1, options=options,
        title=f"bit-line clamp delay, {scheme}, {point.label()}").simulate(name="disturb_clamp_delay"),
        "clamp delay probe", retries)["p"]
    if not (probe.correct and math.isfinite(probe.delay_s)):
        return base
    stretch = max(1.0, probe.delay_s / unclamped_delay_s)
    if scheme != "ternary":
        return dataclasses.replace(base, t_evaluate=base.t_evaluate * stretch, t_margin=base.t_margin * stretch)
    return dataclasses.replace(base, t_margin=min(base.t_margin * stretch, base.sample_after_eval))


def stress_cells(scheme: str, units: Sequence[ReadUnit], point: OperatingPoint, card: ModelCard,
                 bias: ReadBias, timing: ReadTiming, reads: int,
                 retries: list[str] | None = None) -> tuple[PcsaReads, list[CellStress]]:
    """`reads` consecutive reads of `units` in one ngspice transient (`with_retry`): the
    first and last read of each unit, and what every read did to each device."""
    def attempt(options: Mapping[str, Any] | None) -> tuple[PcsaReadBench, Any]:
        bench = _bench(scheme, units, point, card, bias, timing, reads, save_cells=True, options=options,
                       max_step=timing.t_edge / STRESS_STEPS_PER_EDGE, title=f"read disturb: {reads} reads, {scheme}, {point.label()}")
        return bench, run_batch(bench.to_netlist(), name="disturb_stress")

    bench, result = with_retry(attempt, f"stress transient ({reads} reads)", retries)
    return bench.measure(result), measure_cell_stress(result, bench.initial_gaps(), card, point.temp_c,
                                                      timing.period, reads)


def device_disturb(stress: CellStress, state: str, card: ModelCard) -> DeviceDisturb:
    steady = slice(1, None)  # reads 2..N
    ratio = (lambda peak, threshold: float(peak / threshold) if threshold > 0 else math.inf)
    gap = stress.gap_m
    return DeviceDisturb(
        stress.side, state,
        peak_reset_v=float(stress.peak_reset_v[steady].max()), peak_set_v=float(stress.peak_set_v[steady].max()),
        reset_field_ratio=ratio(stress.peak_reset_field[steady].max(), card.value("fmin_reset")),
        set_field_ratio=ratio(stress.peak_set_field[steady].max(), card.value("fmin_set")),
        energy_per_read_j=float(np.median(stress.energy_j[steady])),
        change_per_read_m=float((gap[-1] - gap[0]) / (len(gap) - 1)), law=fit_drift_law(gap))


def _fails(read: PcsaRead, limit_v: float) -> bool:
    return not read.correct or (read.expected != 0 and read.margin_v < limit_v)


def fresh_failure(read: PcsaRead, stored: int, limit_v: float, bias: ReadBias) -> str:
    """The basis of a row whose fresh read already fails; a read-bias option is named as
    its cost."""
    return (f"the fresh read already fails: it reads {read.value:+d} (stored {stored:+d}), margin "
            f"{read.margin_v * 1e3:.0f} mV against the limit {limit_v * 1e3:.0f} mV"
            + (f": the cost of the {bias.label()}" if bias != ReadBias() else ""))


@dataclasses.dataclass(frozen=True)
class _Stressed:
    """What the reads-to-failure search needs of one stressed cell."""

    scheme: str
    point: OperatingPoint
    card: ModelCard
    bias: ReadBias
    timing: ReadTiming
    weight: int
    devices: tuple[DeviceDisturb, ...]
    gaps_after_first: tuple[float, float]
    retries: list[str] = dataclasses.field(default_factory=list)

    def read_states(self, reads: Sequence[float], fresh: bool = True) -> tuple[PcsaRead | None, list[PcsaRead]]:
        """One ngspice bench: a cell in the state the drift laws give after each of `reads`
        reads (clipped at the card's bounds) and, with `fresh`, a fresh cell (else None)."""
        gmin, gmax = self.card.value("gmin"), self.card.value("gmax")
        units = [read_unit(self.scheme, "fresh", self.weight)] if fresh else []
        for index, n in enumerate(reads):
            gaps = [float(np.clip(g1 + (d.law.drift_m(n) if d.law else 0.0), gmin, gmax))
                    for d, g1 in zip(self.devices, self.gaps_after_first)]
            units.append(read_unit(self.scheme, f"n{index}", self.weight, rram_bl={"gap_init": gaps[0]},
                                   rram_blb={"gap_init": gaps[1]}))
        measured = with_retry(lambda options: _bench(
            self.scheme, units, self.point, self.card, self.bias, self.timing, 1, options=options,
            title=f"read disturb: extrapolated states, {self.scheme}, {self.point.label()}"
        ).simulate(name="disturb_states"), "extrapolated-state reads", self.retries)
        return measured["fresh"] if fresh else None, [measured[f"n{index}"] for index in range(len(reads))]


def reads_to_failure(cell: _Stressed, limit_v: float, config: DisturbConfig) -> tuple[float | None, str]:
    """(reads to failure, basis): the drifted states on a log grid from the simulated reads
    to the horizon, then a finer grid inside the first bracket that fails; a +-1 read's
    margin is interpolated linearly in log n to the limit, a 0's failure is the bracket's
    geometric middle."""
    grid = np.unique(np.round(np.geomspace(config.reads, config.horizon, 14)))
    fresh, reads = cell.read_states(grid)
    if _fails(fresh, limit_v):
        return None, fresh_failure(fresh, cell.weight, limit_v, cell.bias)
    failing = [index for index, read in enumerate(reads) if _fails(read, limit_v)]
    if not failing:
        return None, (f"no failure predicted up to {config.horizon:.0e} reads (drift law extrapolated from "
                      f"{config.reads} simulated reads)")
    index = failing[0]
    n_lo, read_lo = (1.0, fresh) if index == 0 else (float(grid[index - 1]), reads[index - 1])
    fine = np.geomspace(n_lo, grid[index], 10)[1:-1]
    _, fine_reads = cell.read_states(fine, fresh=False)  # the bracket's low end holds the fresh read if needed
    ns, measured = [n_lo, *fine, float(grid[index])], [read_lo, *fine_reads, reads[index]]
    j = next(k for k in range(1, len(ns)) if _fails(measured[k], limit_v))
    (n_lo, read_lo), (n_hi, read_hi) = (ns[j - 1], measured[j - 1]), (ns[j], measured[j])
    if cell.weight != 0:
        share = (read_lo.margin_v - limit_v) / (read_lo.margin_v - read_hi.margin_v)
        n_fail = float(np.exp(np.log(n_lo) + share * (np.log(n_hi) - np.log(n_lo))))
    else:
        n_fail = float(np.sqrt(n_lo * n_hi))
    dominant = cell.devices[dominant_device(cell.devices, n_fail)]
    where = "extrapolated" if n_fail > config.reads else "within the simulated reads"
    return n_fail, (f"{where}: power law of the {dominant.state.upper()} ({dominant.side}) device fitted to "
                    f"reads 2..{config.reads}, {dominant.law.label()}; fails between {n_lo:.3g} and {n_hi:.3g} reads")


def dominant_device(devices: Sequence[DeviceDisturb], n_fail: float) -> int:
    """The index of the device a failure after `n_fail` reads is laid to: of the devices
    drifting towards the other state (an LRS gap growing, an HRS gap shrinking: what closes
    a +-1's margin), the one that has moved most; without such a device (a ternary 0's
    pair), the one that has moved most. An HRS deepening by more picometres than the LRS
    rises does not fail the read: the LRS does."""
    moving = [index for index, d in enumerate(devices) if d.law]
    closing = [index for index in moving if (devices[index].state == "lrs") == (devices[index].law.sign > 0)]
    return max(closing or moving, key=lambda index: abs(devices[index].law.drift_m(n_fail)))


def _law_interval(devices: Sequence[DeviceDisturb], stresses: Sequence[CellStress], n_fail: float,
                  reads: int) -> tuple[float, float]:
    """Reads to failure by the dominant device's law fitted to all reads and to each half."""
    index = dominant_device(devices, n_fail)
    dominant = devices[index]
    target = abs(dominant.law.drift_m(n_fail))
    gap = stresses[index].gap_m
    half = (reads - 1) // 2
    estimates = [n_fail]
    for law in (fit_drift_law(gap, 1, half), fit_drift_law(gap, half + 1, None)):
        if law is not None and law.sign == dominant.law.sign:
            estimates.append(law.reads_for(target))
    return float(min(estimates)), float(max(estimates))


def _no_motion_basis(devices: Sequence[DeviceDisturb], reads: int) -> str:
    ratios = ", ".join(f"{d.state.upper()} ({d.side}) RESET {d.reset_field_ratio:.2f}x / SET "
                       f"{d.set_field_ratio:.2f}x" for d in devices)
    if all(d.below_threshold for d in devices):
        return (f"no failure predicted by the model below its field threshold: no motion in {reads} reads, "
                f"peak field / threshold {ratios}")
    return (f"no motion resolved in {reads} reads although a peak field exceeds its threshold ({ratios}): "
            "simulate more reads")


def disturb_rows(scheme: str, point: OperatingPoint, card: ModelCard, config: DisturbConfig) -> list[DisturbRow]:
    """Stress, drift laws and reads to failure of each weight of `scheme` at one point,
    as designed and with each read-bias option of the config (`DisturbConfig.biases`). The
    margin limit is the same for every bias: `margin_fraction` of the fresh read's margin as
    designed. The clamped read is re-timed to its own delay (`clamped_timing`); the
    slew-limited word line ends its ramp where the clock edge did, so it keeps the timing;
    the early word line changes only its lead."""
    units = [read_unit(scheme, {+1: "p", 0: "z"}[w], w) for w in SCHEME_WEIGHTS[scheme]]
    base = read_timing(scheme, point.vdd)
    reference: dict[int, PcsaRead] = {}
    rows = []
    for bias in config.biases(scheme):
        retries: list[str] = []  # shared by this bias's rows: one stress transient holds all its units
        timing = (bias.timing(base) if bias.clamp is None else
                  clamped_timing(scheme, point, card, bias.clamp, base, reference[+1].delay_s, retries))
        first_reads, stresses = stress_cells(scheme, units, point, card, bias, timing, config.reads, retries)
        for unit in units:
            row_retries = list(retries)
            read = first_reads[unit.name]
            reference.setdefault(unit.weight, read)
            limit = config.margin_fraction * reference[unit.weight].margin_v
            own = [s for s in stresses if s.unit == unit.name]
            devices = tuple(device_disturb(s, state, card) for s, state in zip(own, CELL_STATES[unit.weight]))
            n_fail, interval = None, None
            if _fails(read, limit):
                basis = fresh_failure(read, unit.weight, limit, bias)
            elif any(d.law for d in devices):
                cell = _Stressed(scheme, point, card, bias, timing, unit.weight, devices,
                                 (float(own[0].gap_m[0]), float(own[1].gap_m[0])), row_retries)
                try:
                    n_fail, basis = reads_to_failure(cell, limit, config)
                except SimulationError as error:  # this row only; the others (and their work) stand
                    basis = (f"no reads to failure: ngspice failed reading the drift law's extrapolated states "
                             f"({str(error).splitlines()[0][:200]})")
                if n_fail is not None:
                    interval = _law_interval(devices, own, n_fail, config.reads)
            else:
                basis = _no_motion_basis(devices, config.reads)
            rows.append(DisturbRow(scheme, point, bias.clamp and bias.clamp.v_gate, unit.weight, config.reads,
                                   devices, read.delay_s, read.margin_v, limit, timing.t_margin, n_fail, interval,
                                   basis, wl_rise_s=bias.wl_slew and bias.wl_slew.t_rise, wl_lead_s=bias.wl_lead,
                                   energy_j=read.energy_j, retried="; ".join(row_retries)))
    return rows


def run_disturb(config: DisturbConfig, card: ModelCard | None = None, card_source: str = "model defaults",
                log: Callable[[str], None] = print) -> DisturbResult:
    """Every scheme x corner x read bias of `config` (see the module docstring)."""
    card = card or ModelCard.default()
    rows: list[DisturbRow] = []
    failures: list[str] = []
    retries: list[str] = []
    for scheme in config.schemes:
        for point in config.points(scheme):
            try:
                new = disturb_rows(scheme, point, card, config)
            except SimulationError as error:  # this point only: the others (and their work) stand
                failures.append(f"{scheme} at {point.label()}: {str(error).splitlines()[0][:300]}")
                log(f"disturb {scheme} {point.label()}: FAILED, no rows ({failures[-1]})")
                continue
            rows += new
            for row in new:
                bias = row.bias
                if row.retried:
                    retries.append(f"{scheme} w{row.weight:+d} at {point.label()}, {bias}: {row.retried}")
                    log(f"disturb {scheme} w{row.weight:+d} {point.label()} {bias}: WARNING ngspice did not "
                        f"converge with its default settings ({row.retried})")
                log(f"disturb {scheme} w{row.weight:+d} {point.label()} {bias}: {_rtf_text(row)}")
    if not rows:
        raise CircuitkitError("read disturb: no point could be simulated: " + "; ".join(failures))
    return DisturbResult(config, tuple(rows), card_source, tuple(failures), tuple(retries))


def _rtf_text(row: DisturbRow) -> str:
    if row.reads_to_failure is None:
        return row.basis
    low, high = row.interval or (math.nan, math.nan)
    return f"{row.reads_to_failure:.3g} reads to failure [{low:.3g}, {high:.3g}] ({row.basis})"


def write_disturb(result: DisturbResult, directory: Path | str, card: ModelCard | None = None) -> dict[str, Path]:
    """The table (CSV), its settings and assumptions (JSON) and the reads-to-failure figure."""
    from circuitkit import toolchain as tc
    from circuitkit.report.disturb_plots import plot_reads_to_failure

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    card = card or ModelCard.default()
    table = [row.to_csv_row() for row in result.rows]
    paths = {"table": write_rows_csv(directory / TABLE_FILE, table)}
    thresholds = {name: card.value(name) for name in ("fmin_set", "fmin_reset", "gamma0", "tox", "vel0", "ea")}
    paths["json"] = write_json(directory / JSON_FILE, {
        "settings": result.config.to_dict(), "card": {"source": result.card_source, "thresholds": thresholds,
                                                       "json": card.to_json()},
        "toolchain": tc.toolchain().fingerprint(), "assumptions": list(ASSUMPTIONS), "rows": table,
        "failed_points": list(result.failures), "retried_simulations": list(result.retries)})
    paths["figure"] = plot_reads_to_failure(table, directory / FIGURE_FILE, horizon=result.config.horizon)
    return paths


def card_source(path: Path | str | None) -> str:
    """How a card is named in the artefacts: its file and content hash, or the defaults."""
    return f"{path} (sha256 {file_hash(path)[:16]})" if path else "model defaults (rram_hfox.va)"
