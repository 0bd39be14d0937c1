"""2T2R synapses read by a precharge sense amplifier (PCSA): binary, ternary and XNOR reads.

Circuit (one read unit, `.subckt read_2t2r`):

    vdd ──┬──────────┬──────────┬──────────┐
        MPP1(preb)  MPL(q)     MPR(qb)   MPP2(preb)      precharge PMOS + latch PMOS
          └── qb ────┴─┐      ┌─┴──── q ───┘
                     MNL(q)  MNR(qb)                     latch NMOS (cross-coupled)
                       │        │
                      bl       blb                       bit lines (C_bitline each)
                  [RRAM_BL] [RRAM_BLb]                   be at the bit line, te at the access FET
                    MA(wl)   MAB(wl)                     access transistors
                       └──sl────┘                        source line
                          MD(se)                         discharge ("sense enable") to ground

Phases (`ReadTiming`): precharge (preb = se = 0: q, qb pulled to VDD, the discharge
path open), then evaluation (preb = se = 1): both branches discharge their latch node
through their RRAM; the branch with the lower resistance falls first and the
cross-coupled pair latches. The BL-side latch node is `qb`, so a weight of +1
(BL in LRS, BLb in HRS) reads Q = 1, Qb = 0.

Orientation: each RRAM has its bottom electrode on the bit line and its top electrode on
the access transistor; the read current (bit line -> source line) therefore flows in the
RESET direction (V(te,be) < 0). The LRS device sees the smaller voltage (it is the
low-resistance arm of the divider with the access transistor) and the read is over in
about a hundred picoseconds: `tests/test_netlist_pcsa.py` measures the drift after 1000
reads. Not every volt is in the RESET direction: when the word line rises onto a floating
source line, coupling puts about 0.1 V across the cells in the SET direction for tens of
picoseconds, which moves an HRS cell towards LRS on a card whose SET threshold is near
zero (the refitted real card). `circuitkit disturb` (`circuitkit.corners.disturb`) measures
both, per read, and the reads until the weight fails.

Read bias: `BitLineClamp` (the bench's `clamp`, default None: no clamp, today's netlist)
puts an NMOS with its gate at `v_gate` between each latch input and its bit line, which
limits the RESET-direction voltage across the cells at a cost in sensing delay.
`WordLineSlew` (the bench's `wl_slew`, default None: the word line rises with the clock
edge, today's netlist) ramps the word line slowly enough for the HRS cell to bleed off
the charge its rising gate couples onto the cell, which removes most of the
SET-direction glitch (on the real card at tt/1.8 V/125 C, a 0.4 ns ramp: peak 133 ->
27 mV across the HRS cell, its drift per read 27x smaller, sensing delay unchanged).
Raising the word line early (`ReadTiming.t_wl_lead` near `t_precharge`), while the bit
line is still low, removes the same glitch by sequencing, at a cell current through the
precharge (`bench/bench_disturb.py --slew` compares both).

Single-ended 1T1R read (`SingleEndedReference`, the bench's `reference`, default None:
today's netlists): the same read unit with its BLb device replaced by a reference cell at a
set level; the BL device is the 1T1R cell, and the PCSA reads +1 for a cell below the
reference (LRS), -1 above it (HRS).

Decision at the sampling time (`ReadTiming.t_sample` after evaluation starts), from the
logic levels of Q and Qb (threshold VDD/2): (1, 0) -> +1, (0, 1) -> -1, (1, 1) -> 0
(not resolved). A binary read samples at the end of evaluation, where 0 means the latch
failed to resolve (an error).

Ternary read (`ternary_pcsa`, see `TERNARY_POINT` / `TERNARY_TIMING`): one sense per
weight, sampled early. With both devices in HRS the branch currents are small and nearly
equal, so the latch regenerates only from the HRS/HRS imbalance and takes several times
longer than for LRS/HRS. Sampling (Q, Qb) at a fixed time between the two resolution
times reads (1, 0) / (0, 1) for +-1 and (1, 1) for 0. Measured with this sizing (delay to
the first node at VDD/2, nominal devices):

    supply  corner  LRS/HRS   HRS/HRS imbalance 1.4x   2x
    0.9 V   ff      0.43 ns   1.22 ns                  0.84 ns
    0.9 V   tt      0.56 ns   1.52 ns                  1.05 ns
    0.9 V   ss      0.78 ns   2.02 ns                  1.37 ns
    1.8 V   tt      0.078 ns  0.23 ns                  0.17 ns

The ratio of the two times (about 2.5-3x for a 1.4x imbalance) hardly depends on the
supply; what the low supply buys is time: at 0.9 V the window is about 0.5-1 ns wide,
so one fixed sampling time (1.0 ns, set by an ordinary clock) serves the ff, tt and ss
corners, whereas at 1.8 V it would have to sit inside a ~100 ps window. At 0.9 V a
perfectly symmetric HRS/HRS pair also stays unresolved for the whole evaluation, with
both nodes near 0.65-0.75 V, well above the VDD/2 logic threshold. The 0.9 V / 1.0 ns
choice tolerates HRS/HRS imbalances up to about 1.5x (ff), 2x (tt), 3x (ss); larger
ones read as +-1: those 0 -> +-1 errors, set by the HRS spread, are what the Monte Carlo
stage counts. LRS/HRS never reads as the opposite sign in nominal simulation.

Sense margin (`PcsaRead.margin_v`): the differential voltage V(q) - V(qb) a fixed time
`ReadTiming.t_margin` after evaluation begins, signed by the expected value (positive:
towards the correct decision; for a stored 0 it is -|V(q) - V(qb)|, how far the latch has
left the unresolved state). Choose t_margin near the nominal sensing delay (100 ps at
1.8 V, 0.5 ns at 0.9 V), where the latch is still developing its decision: the margin
then shrinks with anything that weakens or slows the branch-current difference (a smaller
LRS/HRS ratio, series wire resistance, a low supply, a slow corner), whereas the latch's
final state, once resolved, is the full supply whatever the input. (A self-timed
definition, the losing node's voltage when the winner falls through VDD/2, was tried and
rejected: the latch's regeneration makes it nearly independent of series resistance.)

Delay (`PcsaRead.delay_s`): from the sense-enable edge (se at VDD/2) to the first latch
node falling through VDD/2. Energy (`PcsaRead.energy_j`): integral of VDD times the read
unit's own supply current over one evaluation plus the following precharge (the
precharge restores what the evaluation discharged); the ideal clock sources that drive
preb, se and wl are not included.

Benches: `PcsaReadBench` puts any number of read units in one netlist (Monte Carlo), each
with its own supply source (per-unit energy), its own RRAM instance parameters
(`ReadUnit.rram_bl` / `rram_blb`, e.g. `{"gap_init": "{gap_hrs + agauss(0, 0.09n, 1)}"}`)
and, with `mismatch=True`, its own transistor mismatch; `bench.measure(result)` returns
one `PcsaRead` per unit (`PcsaReads`). `two_t_two_r_pcsa`, `ternary_pcsa` and `xnor_pcsa`
are the named benches `circuitkit netlist` writes.

This module builds read benches (`circuitkit.netlist.readout` holds what they measure
and how); it does not draw cells from distributions or count errors (that is
`circuitkit.corners`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from circuitkit import CircuitkitError
from circuitkit import toolchain as tc
from circuitkit.device.model import ModelCard
from circuitkit.files import write_atomic
from circuitkit.netlist import common as c
from circuitkit.netlist.bench import Bench
from circuitkit.netlist.readout import PcsaReads, cell_nodes, dgap_node, measure_reads, read_measures
from circuitkit.operating import OPERATING_RANGE, Corner, OperatingPoint
from circuitkit.spice.binning import FetSizes
from circuitkit.spice.runner import SimResult


@dataclasses.dataclass(frozen=True)
class PcsaSizing:
    """Transistor widths and lengths in microns; bit-line capacitance in farads.

    `c_bitline` is the lumped capacitance of each bit line in the single-synapse bench
    (the array generator uses wire capacitance per cell pitch instead).
    """

    w_precharge: float = c.netlist_param("w_pre", "precharge PMOS width (um)", 0.5)
    w_latch_p: float = c.netlist_param("w_lp", "latch PMOS width (um)", 0.5)
    w_latch_n: float = c.netlist_param("w_ln", "latch NMOS width (um)", 1.0)
    w_access: float = c.netlist_param("w_acc", "2T2R access NMOS width (um)", 1.0)
    w_discharge: float = c.netlist_param("w_dis", "discharge (sense-enable) NMOS width (um)", 2.0)
    w_xnor: float = c.netlist_param("w_sw", "XNOR input-swap NMOS width (um)", 1.0)
    l_min: float = c.netlist_param("l_min", "channel length of every transistor (um)", 0.15)
    l_diff: float = c.netlist_param(
        "l_diff", "source/drain diffusion length for junction area and perimeter (um)", 0.29)
    c_bitline: float = c.netlist_param("c_bitline", "lumped capacitance of each bit line (F)", 2e-15)

    def __post_init__(self) -> None:
        c.check_sizes(self)

    def params(self) -> list[c.ParamEntry]:
        return c.netlist_params(self)


@dataclasses.dataclass(frozen=True)
class ReadTiming:
    """Clock phases of one read, repeated for every read of a bench (seconds).

    precharge (preb = se = 0) for `t_precharge`, then evaluation (preb = se = 1) for
    `t_evaluate`; edges last `t_edge`. The word line rises `t_wl_lead` before evaluation
    and falls with se. Q and Qb are sampled `t_sample` after evaluation begins (None: at
    the end of evaluation); the sense margin is taken `t_margin` after evaluation begins
    (choose it near the nominal sensing delay at the supply of interest: 100 ps suits
    1.8 V; `ReadTiming.for_supply(vdd)` picks it from a simulated delay). `v_wl` is the word-line high level (None: VDD). `t_step` is the
    transient's print step (also its largest internal step).
    """

    t_precharge: float = c.netlist_param("t_pre", "precharge phase (s)", 1e-9)
    t_evaluate: float = c.netlist_param("t_eval", "evaluation phase (s)", 2e-9)
    t_edge: float = c.netlist_param("t_edge", "rise/fall time of preb, se, wl (s)", 50e-12)
    t_wl_lead: float = c.netlist_param("t_wl_lead", "word line rises this long before evaluation (s)", 0.2e-9)
    t_sample: float | None = c.netlist_param(
        "t_sample", "Q/Qb sampled this long after evaluation begins (s)", None)
    t_margin: float = c.netlist_param(
        "t_margin", "sense margin V(q)-V(qb) taken this long after evaluation begins (s)", 100e-12)
    v_wl: float | None = c.netlist_param("v_wl", "word-line high level (V)", None)
    t_step: float = 20e-12

    def __post_init__(self) -> None:
        c.check_fields_positive(self, allow_zero=("t_wl_lead",))
        if self.t_wl_lead >= self.t_precharge:
            raise CircuitkitError(
                f"ReadTiming: t_wl_lead={self.t_wl_lead!r} s must be shorter than t_precharge={self.t_precharge!r} s"
            )
        if 3 * self.t_edge > self.t_evaluate or 2 * self.t_edge > self.t_precharge:
            raise CircuitkitError(
                f"ReadTiming: t_edge={self.t_edge!r} s is too long for t_precharge={self.t_precharge!r} s "
                f"and t_evaluate={self.t_evaluate!r} s (need 2 edges in the precharge and 3 in the evaluation)"
            )
        if self.t_sample is not None and not (self.t_edge < self.t_sample <= self.t_evaluate - 2 * self.t_edge):
            raise CircuitkitError(
                f"ReadTiming: t_sample={self.t_sample!r} s must lie inside the evaluation phase "
                f"({self.t_edge:g} .. {self.t_evaluate - 2 * self.t_edge:g} s after it begins)"
            )
        if not self.t_edge < self.t_margin <= self.t_evaluate - 2 * self.t_edge:
            raise CircuitkitError(
                f"ReadTiming: t_margin={self.t_margin!r} s must lie inside the evaluation phase "
                f"({self.t_edge:g} .. {self.t_evaluate - 2 * self.t_edge:g} s after it begins)"
            )
        if self.v_wl is not None:
            c.check_positive("ReadTiming", "v_wl", self.v_wl, "V")

    @classmethod
    def for_supply(cls, vdd: float, **fields: Any) -> "ReadTiming":
        """Binary-read timing suited to a supply: the margin is taken at 1.5x and the
        evaluation lasts at least 6x the nominal sensing delay at that supply
        (`nominal_delay_s`: simulated with this toolchain, tt, 27 C, default sizing), so
        that the margin is measured while the latch is still deciding and the slow
        corners still resolve. `fields` override any field."""
        delay = nominal_delay_s(vdd)
        t_evaluate = max(cls.t_evaluate, 6 * delay)
        return cls(**{"t_evaluate": t_evaluate, "t_margin": 1.5 * delay, **fields})

    @property
    def period(self) -> float:
        return self.t_precharge + self.t_evaluate

    @property
    def sample_after_eval(self) -> float:
        return self.t_evaluate - 2 * self.t_edge if self.t_sample is None else self.t_sample

    def params(self) -> list[c.ParamEntry]:
        # t_sample and v_wl are written resolved: the end of evaluation, the supply.
        resolved = {"t_sample": self.sample_after_eval, "v_wl": "{vdd}" if self.v_wl is None else self.v_wl}
        entries = c.netlist_params(self, derived={"t_wl_lead": [("t_period", "{t_pre+t_eval}", "one read")]})
        return [(name, resolved.get(name, value), comment) for name, value, comment in entries]


@dataclasses.dataclass(frozen=True)
class BitLineClamp:
    """A read-bias option that limits the voltage across the cells: a bit-line clamp.

    One NMOS in each discharge branch, between the sense amplifier's input (the latch
    NMOS source) and the bit line, its gate held at `v_gate`: the bit line then follows
    at most about `v_gate` - Vth, so the precharged bit line cannot put the full latch
    swing across the RRAM at the start of evaluation. Its cost: the clamp is a series
    resistance in the discharge path (slower sensing, a smaller margin at a fixed time),
    which `circuitkit disturb` reports beside the disturb it saves. A bench without a
    clamp (`PcsaReadBench.clamp=None`, the default) writes the same netlist as before the
    option existed."""

    v_gate: float = c.netlist_param("v_clamp", "bit-line clamp gate voltage (V)", 1.2)
    w_clamp: float = c.netlist_param("w_clamp", "bit-line clamp NMOS width (um)", 1.0)

    def __post_init__(self) -> None:
        c.check_sizes(self)

    def params(self) -> list[c.ParamEntry]:
        return c.netlist_params(self)

    def check_supply(self, vdd: float, where: str) -> None:
        """A clamp gate above the supply is no clamp (and no on-chip bias gives it)."""
        if self.v_gate > vdd:
            raise CircuitkitError(f"{where}: bit-line clamp v_gate={self.v_gate!r} V lies above the supply "
                                  f"vdd={vdd!r} V: expected 0 < v_gate <= vdd")


@dataclasses.dataclass(frozen=True)
class WordLineSlew:
    """A read-bias option against the SET-direction disturb: a slew-limited word line.

    When the word line rises onto the floating source line, its gate coupling lifts each
    cell's top electrode (the access transistor's drain) above the precharged bit line
    for tens of picoseconds: about 0.1 V in the SET direction across the HRS cell, whose
    RC (its resistance times the drain node's capacitance) is too slow to follow. On a
    card whose SET threshold is near zero (the refitted real card) that glitch, not the
    read current, moves an HRS cell towards LRS on every read. Ramping the word line over
    `t_rise` instead of the clock edge lets the cell discharge the coupled charge while
    it arrives: the glitch scales with the slope. The ramp starts earlier by `t_rise` -
    `t_edge`, so the word line is fully on at the same time before evaluation as without
    the option; the sensing itself is unchanged (its cost, a slower word-line driver, an
    earlier word-line start and a few fJ, is what `circuitkit disturb` reports beside the
    gain). A bench without it (`PcsaReadBench.wl_slew=None`, the default) writes the same
    netlist as before the option existed."""

    t_rise: float = c.netlist_param("t_wl_rise", "word-line rise time (slew-limited driver) (s)", 0.4e-9)

    def __post_init__(self) -> None:
        c.check_positive("WordLineSlew", "t_rise", self.t_rise, "s")

    def params(self) -> list[c.ParamEntry]:
        return c.netlist_params(self)

    def check_timing(self, timing: "ReadTiming", where: str) -> None:
        """The slower ramp has to fit in the precharge, after the previous read's word line fell."""
        if self.t_rise < timing.t_edge or timing.t_wl_lead + self.t_rise - timing.t_edge > timing.t_precharge:
            raise CircuitkitError(
                f"{where}: word-line rise t_rise={self.t_rise!r} s must lie between the clock edge "
                f"t_edge={timing.t_edge!r} s and t_precharge - t_wl_lead + t_edge = "
                f"{timing.t_precharge - timing.t_wl_lead + timing.t_edge:g} s (the ramp starts after the "
                "previous read's word line fell and ends t_wl_lead - t_edge before evaluation)")


def clock_lines(word_line: bool = True, wl_slew: bool = False) -> list[str]:
    """PULSE sources for preb, se and (if `word_line`) a common wl, one read per period;
    `wl_slew`: the word line ramps over `t_wl_rise` (a `WordLineSlew`), ending where the
    clock-edge ramp ends."""
    lines = [
        *c.section("clock phases: precharge (preb = se = 0), then evaluation (preb = se = 1)"),
        "Vpreb preb 0 PULSE(0 {vdd} {t_pre} {t_edge} {t_edge} {t_eval-2*t_edge} {t_period})",
        "Vse se 0 PULSE(0 {vdd} {t_pre} {t_edge} {t_edge} {t_eval-2*t_edge} {t_period})",
    ]
    if word_line and wl_slew:
        lines += [
            "* word line: slew-limited, ramps over t_wl_rise to be on t_wl_lead-t_edge before evaluation, until se falls",
            "Vwl wl 0 PULSE(0 {v_wl} {t_pre-t_wl_lead-t_wl_rise+t_edge} {t_wl_rise} {t_edge} "
            "{t_eval+t_wl_lead-2*t_edge} {t_period})",
        ]
    elif word_line:
        lines += [
            "* word line: on from t_wl_lead before evaluation until se falls",
            "Vwl wl 0 PULSE(0 {v_wl} {t_pre-t_wl_lead} {t_edge} {t_edge} {t_eval+t_wl_lead-2*t_edge} {t_period})",
        ]
    return lines


def read_header(bench: Bench, kind: str, timing: ReadTiming, **fields: Any) -> dict[str, Any]:
    """The header description shared by every PCSA-read bench (single cells and arrays)."""
    return {"kind": kind, "corner": bench.point.corner, "vdd": bench.point.vdd, "temp_c": bench.point.temp_c,
            "mismatch": bench.mismatch, "t_pre": timing.t_precharge, "t_eval": timing.t_evaluate,
            "t_edge": timing.t_edge, "t_sample": timing.sample_after_eval, **fields}


def read_preamble(bench: Bench, title: str, generator: str, *, timing: ReadTiming,
                  sizing_params: Sequence[c.ParamEntry], states: c.RramStates,
                  extra_params: Sequence[c.ParamEntry], extra_subckts: Sequence[str] = ()) -> list[str]:
    """Header, parameters, options, process and the PCSA + 2T2R subcircuits (then
    `extra_subckts`) of a read bench; the process loads the bin-resolved library of the
    subcircuits' transistor sizes (`sizing_params`) unless the bench asks for the full one."""
    card = bench.card
    gap_lrs, gap_hrs = states.gaps(card, check=False)  # checked by the bench, where its units use them
    r_lrs, r_hrs = states.resistances(card, check=False)
    subckts = read_subckts(card, extra_subckts)
    lines = bench.preamble(title, generator, [
        *timing.params(),
        *extra_params,
        ("gap_lrs", gap_lrs, f"programmed LRS gap (m): {r_lrs:.4g} ohm at 0.1 V"),
        ("gap_hrs", gap_hrs, f"programmed HRS gap (m): {r_hrs:.4g} ohm at 0.1 V"),
        *sizing_params,
    ], fet_sizes=c.fet_sizes(subckts, sizing_params))
    lines += c.section("subcircuits")
    return lines + subckts


def read_subckts(card: ModelCard, extra: Sequence[str] = ()) -> list[str]:
    """The subcircuits every read bench defines (the PCSA, the 2T2R synapse), then `extra`."""
    return pcsa_subckt() + [""] + synapse_subckt(card) + [""] + list(extra)


# The timing reference cell: the model header's nominal 10 kohm / 100 kohm. It calibrates
# every campaign's read timing (and so their tables); a reference read, not the default
# device (`RramStates()`), so the timing stays as calibrated when the device defaults move.
TIMING_REFERENCE_STATES = c.RramStates(10e3, 100e3)


def nominal_delay_bench(vdd: float, t_evaluate: float = 2e-9) -> PcsaReadBench:
    """The bench behind `nominal_delay_s`: weights +1 and -1 (`TIMING_REFERENCE_STATES`, the
    default card), default sizing, tt, 27 C, no mismatch."""
    return PcsaReadBench((ReadUnit("p", +1), ReadUnit("n", -1)), point=OperatingPoint(Corner.TT, vdd, 27.0),
                         timing=ReadTiming(t_evaluate=t_evaluate), states=TIMING_REFERENCE_STATES,
                         title=f"nominal sensing delay at {vdd:g} V")


_NOMINAL_DELAYS: dict[str, float] = {}


def nominal_delay_s(vdd: float) -> float:
    """Nominal sensing delay (se -> first latch node at VDD/2, the slower of weights +1
    and -1) of the default sizing at `vdd`, tt, 27 C, simulated in ngspice.

    Measured, not copied: cached on disk (`<cache>/measured/`) keyed by the bench netlist
    and the toolchain fingerprint, so another PDK or ngspice measures it again; a new
    supply costs one short transient, a known one nothing."""
    vdd = OPERATING_RANGE.check_vdd(vdd, "nominal_delay_s")
    fingerprint = tc.toolchain().fingerprint()
    netlist = nominal_delay_bench(vdd).to_netlist()
    key = hashlib.sha256((netlist + json.dumps(fingerprint, sort_keys=True)).encode()).hexdigest()[:20]
    if key in _NOMINAL_DELAYS:
        return _NOMINAL_DELAYS[key]
    path = tc.cache_dir() / "measured" / f"pcsa_nominal_delay-{key}.json"
    if path.exists():
        delay = float(json.loads(path.read_text())["delay_s"])
    else:
        # Lengthen the evaluation until both reads resolve (near 0.5 V the latch needs tens of ns).
        for t_evaluate in (2e-9, 8e-9, 32e-9, 128e-9):
            reads = nominal_delay_bench(vdd, t_evaluate).simulate(name="nominal_delay")
            if all(read.correct and math.isfinite(read.delay_s) for read in reads.values()):
                break
        else:
            raise CircuitkitError(f"the PCSA does not resolve a nominal read at {vdd:g} V (tt, 27 C) within "
                                  f"{t_evaluate:g} s of evaluation: no read timing for this supply")
        delay = max(read.delay_s for read in reads.values())
        write_atomic(path, json.dumps({"vdd": vdd, "delay_s": delay, "t_evaluate": t_evaluate,
                                       "toolchain": fingerprint, "bench": netlist}, indent=1) + "\n")
    _NOMINAL_DELAYS[key] = delay
    return delay


# Ternary read: the operating point and sampling time at which one sense separates +1, 0, -1 (see
# the module docstring for the measurements behind them).
TERNARY_POINT = OperatingPoint(Corner.TT, 0.9, 27.0)
TERNARY_TIMING = ReadTiming(t_precharge=1e-9, t_evaluate=3e-9, t_sample=1.0e-9, t_margin=0.5e-9)

_NAME = re.compile(r"[a-z0-9_]{1,24}")


@dataclasses.dataclass(frozen=True)
class ReadUnit:
    """One 2T2R synapse with its own PCSA in a bench.

    `weight` is the stored value (+1: BL LRS / BLb HRS, -1: the reverse, 0: HRS/HRS).
    `rram_bl` / `rram_blb` override RRAM instance parameters of the BL / BLb device:
    numbers (range-checked) or ngspice expressions in braces, e.g.
    `{"gap_init": 7.7e-10}` or `{"i0_scale": "{agauss(1, 0.1, 1)}"}`; the netlist
    parameters `gap_lrs` and `gap_hrs` may be used in expressions. `input_bit` (0 or 1)
    is the activation of an XNOR read.
    """

    name: str
    weight: int = +1
    input_bit: int | None = None
    rram_bl: Mapping[str, float | str] = dataclasses.field(default_factory=dict)
    rram_blb: Mapping[str, float | str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise CircuitkitError(
                f"ReadUnit: name={self.name!r}: expected 1-24 characters of a-z, 0-9, _ (they become node names)"
            )
        c.check_weight(self.weight, where=f"ReadUnit {self.name}: weight")
        if self.input_bit is not None and (isinstance(self.input_bit, bool) or self.input_bit not in (0, 1)):
            raise CircuitkitError(f"ReadUnit {self.name}: input_bit={self.input_bit!r}: expected 0 or 1")

    @classmethod
    def with_resistances(cls, name: str, weight: int, r_bl: float, r_blb: float | None, card: ModelCard | None = None,
                         **fields: Any) -> "ReadUnit":
        """A unit whose devices read `r_bl` / `r_blb` ohm at 0.1 V (e.g. Monte Carlo draws);
        `r_blb` None for a single-ended read, whose BLb holds the bench's reference cell."""
        card = card or ModelCard.default()
        # each device's gap, with its own bound where the draw lies beyond the card's (rram_hfox.va's check)
        states = [card.programmed_instance(c.check_positive(f"ReadUnit {name}", side, r, "ohm"),
                                           where=f"ReadUnit {name} {side}") if r is not None else {}
                  for side, r in (("r_bl", r_bl), ("r_blb", r_blb))]
        return cls(name, weight, rram_bl=states[0], rram_blb=states[1], **fields)

    @property
    def expected(self) -> int:
        """What a correct read returns: the weight, or XNOR(input, weight) for XNOR reads."""
        if self.input_bit is None:
            return self.weight
        return self.weight if self.input_bit == 1 else -self.weight


@dataclasses.dataclass(frozen=True)
class SingleEndedReference:
    """The fixed reference of a single-ended (1T1R) read: a reference cell on BLb, an RRAM
    device of the bench's card programmed to read `ohm` at 0.1 V, behind its own access
    transistor (the BLb half of the read unit, so the PCSA, its mismatch and the timing are
    the 2T2R read's). The PCSA then reads +1 (Q = 1) when the 1T1R cell on BL conducts more
    than the reference (a cell below `ohm`: LRS) and -1 when it conducts less (HRS).

    A reference cell rather than a linear resistor: it shares the cell's voltage and
    temperature dependence, so `ohm` compares with the cells' read resistances on the same
    0.1 V scale the campaign draws and the offset integral uses. `between(lrs, hrs)` puts it
    at the geometric mean of the two state medians (the level a designer trims to, and what
    `program.tradeoff`'s 1T1R offset integral assumes); any other level may be given."""

    ohm: float

    def __post_init__(self) -> None:
        # refused before any netlist is written, with the parameter named
        object.__setattr__(self, "ohm", c.check_positive("SingleEndedReference", "ohm", self.ohm, "ohm"))

    @classmethod
    def between(cls, lrs_median_ohm: float, hrs_median_ohm: float) -> "SingleEndedReference":
        """The reference at the geometric mean of the LRS and HRS medians."""
        lrs = c.check_positive("SingleEndedReference.between", "lrs_median_ohm", lrs_median_ohm, "ohm")
        hrs = c.check_positive("SingleEndedReference.between", "hrs_median_ohm", hrs_median_ohm, "ohm")
        return cls(math.sqrt(lrs * hrs))

    def instance(self, card: ModelCard) -> dict[str, float]:
        """The reference cell's RRAM instance parameters (its gap) on `card`."""
        return card.programmed_instance(self.ohm, where="SingleEndedReference")


# --------------------------------------------------------------------------- subcircuits


def pcsa_subckt() -> list[str]:
    """The precharge sense amplifier: inputs sa (BL side) and sab (BLb side)."""
    return [
        "* precharge sense amplifier: sa/sab discharge through the BL/BLb branch; sl to ground via MD",
        ".subckt pcsa vdd preb se sa sab sl q qb",
        "* precharge: q and qb to VDD while preb = 0",
        c.fet_line("MPP1", "qb", "preb", "vdd", "vdd", "p", "w_pre"),
        c.fet_line("MPP2", "q", "preb", "vdd", "vdd", "p", "w_pre"),
        "* cross-coupled latch: the BL side is qb, the BLb side is q",
        c.fet_line("MPL", "qb", "q", "vdd", "vdd", "p", "w_lp"),
        c.fet_line("MNL", "qb", "q", "sa", "0", "n", "w_ln"),
        c.fet_line("MPR", "q", "qb", "vdd", "vdd", "p", "w_lp"),
        c.fet_line("MNR", "q", "qb", "sab", "0", "n", "w_ln"),
        "* discharge (sense enable): opens the path from the source line to ground",
        c.fet_line("MD", "sl", "se", "0", "0", "n", "w_dis"),
        ".ends pcsa",
    ]


def synapse_subckt(card: ModelCard) -> list[str]:
    """The 2T2R synapse; each RRAM takes its instance parameters from `<name>_bl/_blb`."""
    return [
        "* 2T2R synapse: bit line -> RRAM (be, te) -> access NMOS (word line) -> source line",
        "* the read current flows be -> te (RESET direction): a read never SETs an HRS device",
        f".subckt syn_2t2r bl blb wl sl {c.rram_subckt_defaults(('bl', 'blb'), card)}",
        c.rram_instance_line("Nbl", "cell_bl", "bl", "bl", card),
        c.rram_instance_line("Nblb", "cell_blb", "blb", "blb", card),
        c.fet_line("MA", "cell_bl", "wl", "sl", "0", "n", "w_acc"),
        c.fet_line("MAB", "cell_blb", "wl", "sl", "0", "n", "w_acc"),
        ".ends syn_2t2r",
    ]


def xnor_subckt() -> list[str]:
    return [
        "* XNOR input swap: in = 1 connects sa-bl and sab-blb, in = 0 crosses them,",
        "* so the PCSA reads XNOR(input, weight)",
        ".subckt xnor_swap in inb bl blb sa sab",
        c.fet_line("MS1", "sa", "in", "bl", "0", "n", "w_sw"),
        c.fet_line("MS2", "sab", "in", "blb", "0", "n", "w_sw"),
        c.fet_line("MS3", "sa", "inb", "blb", "0", "n", "w_sw"),
        c.fet_line("MS4", "sab", "inb", "bl", "0", "n", "w_sw"),
        ".ends xnor_swap",
    ]


def clamp_subckt() -> list[str]:
    return [
        "* bit-line clamp: the sense amplifier's inputs ca/cab reach the bit lines sa/sab through",
        "* an NMOS whose gate is at v_clamp, so a bit line rises to at most about v_clamp - Vth",
        ".subckt bl_clamp vclamp sa sab ca cab",
        c.fet_line("MC1", "ca", "vclamp", "sa", "0", "n", "w_clamp"),
        c.fet_line("MC2", "cab", "vclamp", "sab", "0", "n", "w_clamp"),
        ".ends bl_clamp",
    ]


def _pass_through(sides: Sequence[str], card: ModelCard) -> str:
    return " ".join(f"{name}={{{name}}}" for name in c.rram_param_names(sides[0], card) + c.rram_param_names(sides[1], card))


def read_unit_subckt(card: ModelCard, xnor: bool, clamp: bool = False) -> list[str]:
    """A 2T2R synapse, its bit-line capacitances and its PCSA (through a bit-line clamp if
    `clamp`): one Monte Carlo sample."""
    ports = "vdd preb se wl q qb" + (" in inb" if xnor else "") + (" vclamp" if clamp else "")
    sa, sab = ("sa", "sab") if xnor else ("bl", "blb")
    lines = [
        "* read unit: 2T2R synapse + bit lines + PCSA" + (" + XNOR input swap" if xnor else "")
        + (" + bit-line clamp" if clamp else ""),
        f".subckt read_2t2r {ports} {c.rram_subckt_defaults(('bl', 'blb'), card)}",
        f"Xsyn bl blb wl sl syn_2t2r {_pass_through(('bl', 'blb'), card)}",
        "Cbl bl 0 {c_bitline}",
        "Cblb blb 0 {c_bitline}",
    ]
    if xnor:
        lines.append("Xswap in inb bl blb sa sab xnor_swap")
    if clamp:
        lines.append(f"Xclamp vclamp {sa} {sab} ca cab bl_clamp")
        sa, sab = "ca", "cab"
    lines += [f"Xsa vdd preb se {sa} {sab} sl q qb pcsa", ".ends read_2t2r"]
    return lines


# --------------------------------------------------------------------------- benches


KINDS = ("2t2r-pcsa", "ternary-pcsa", "xnor-pcsa", "1t1r-pcsa")


@dataclasses.dataclass(frozen=True)
class PcsaReadBench(Bench[PcsaReads]):
    """`reads` consecutive reads of every unit, one PCSA each, shared clocks.

    Measures (`.meas`, see `read_measures`) of each unit's first read, suffixed
    `_<name>`, and of its last read, suffixed `_<name>_last`. The RRAM states of every
    read are in the waveforms `v(n.xu_<name>.xsyn.nbl#dgap)` / `...nblb#dgap` (gap
    change, nm). `kind` names the read scheme in the header (2t2r-pcsa, ternary-pcsa,
    xnor-pcsa); `title` replaces the generated first line. `waveforms=False` saves only
    what the measurements need (Q, Qb, se, each unit's supply current; the state nodes
    when reads > 1): a Monte Carlo batch keeps a fraction of the vectors in memory.
    `clamp` (a `BitLineClamp`; None: none, today's circuit) limits the cell voltage;
    `wl_slew` (a `WordLineSlew`; None: the clock edge, today's circuit) limits the word
    line's slope, and with it the SET-direction glitch it couples onto the cells;
    `save_cells` also saves both terminals of every RRAM and its state, for the per-read
    cell voltage and energy of `circuitkit.netlist.readout.measure_cell_stress`.
    `reference` (a `SingleEndedReference`; None: today's 2T2R read) makes every unit a
    single-ended 1T1R read (kind `1t1r-pcsa`): its BL device is the cell storing the unit's
    weight (+1: LRS, -1: HRS), its BLb device the reference cell.
    """

    units: Sequence[ReadUnit]
    timing: ReadTiming = ReadTiming()
    sizing: PcsaSizing = PcsaSizing()
    states: c.RramStates = c.RramStates()
    xnor: bool = False
    reads: int = 1
    kind: str = "2t2r-pcsa"
    title: str | None = None
    waveforms: bool = True
    clamp: BitLineClamp | None = None
    save_cells: bool = False
    wl_slew: WordLineSlew | None = None
    reference: SingleEndedReference | None = None
    # the transient's largest time step (s); None: ngspice's own choice. A bench whose cell
    # state is integrated over many reads (read disturb) resolves the clock edges with it.
    max_step: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._place_reference()
        if self.max_step is not None and not (isinstance(self.max_step, (int, float)) and 0 < self.max_step):
            raise CircuitkitError(f"PcsaReadBench: max_step={self.max_step!r}: expected a positive time step (s) or None")
        if self.clamp is not None:
            if not isinstance(self.clamp, BitLineClamp):
                raise CircuitkitError(f"PcsaReadBench: clamp={self.clamp!r}: expected a BitLineClamp or None")
            self.clamp.check_supply(self.point.vdd, "PcsaReadBench")
        if self.wl_slew is not None:
            if not isinstance(self.wl_slew, WordLineSlew):
                raise CircuitkitError(f"PcsaReadBench: wl_slew={self.wl_slew!r}: expected a WordLineSlew or None")
            self.wl_slew.check_timing(self.timing, "PcsaReadBench")
        object.__setattr__(self, "units", tuple(self.units))
        if not self.units:
            raise CircuitkitError("a PCSA bench needs at least one ReadUnit")
        names = [u.name for u in self.units]
        if len(set(names)) != len(names):
            raise CircuitkitError(f"ReadUnit names must be unique, got {names}")
        if isinstance(self.reads, bool) or not isinstance(self.reads, int) or self.reads < 1:
            raise CircuitkitError(f"reads={self.reads!r}: expected a positive integer number of reads")
        if self.kind not in KINDS:
            raise CircuitkitError(f"PcsaReadBench: kind={self.kind!r}: expected one of {', '.join(KINDS)}")
        for unit in self.units:
            if self.xnor and unit.input_bit is None:
                raise CircuitkitError(f"ReadUnit {unit.name}: an XNOR bench needs input_bit (0 or 1) on every unit")
            if not self.xnor and unit.input_bit is not None:
                raise CircuitkitError(f"ReadUnit {unit.name}: input_bit is only meaningful with xnor=True")
        # Range-checks every override against the model's instance parameters.
        self._overrides()
        # the programmed states, where a unit uses them (a unit with its own gap_init on both
        # sides, e.g. a Monte Carlo draw, does not)
        if any("gap_init" not in u.rram_bl or "gap_init" not in u.rram_blb for u in self.units):
            self.states.gaps(self.card)

    def _place_reference(self) -> None:
        """A single-ended bench: the reference cell becomes every unit's BLb device."""
        if self.reference is None:
            if self.kind == "1t1r-pcsa":
                raise CircuitkitError("PcsaReadBench: kind='1t1r-pcsa' needs a reference (a SingleEndedReference)")
            return
        if not isinstance(self.reference, SingleEndedReference):
            raise CircuitkitError(f"PcsaReadBench: reference={self.reference!r}: expected a SingleEndedReference or None")
        if self.kind != "1t1r-pcsa" or self.xnor:
            raise CircuitkitError(f"PcsaReadBench: a reference makes a single-ended read: kind must be '1t1r-pcsa' "
                                  f"without xnor, got kind={self.kind!r}, xnor={self.xnor}")
        reference = self.reference.instance(self.card)
        units = []
        for unit in self.units:
            if unit.weight == 0 or set(unit.rram_blb) & set(reference):
                raise CircuitkitError(f"ReadUnit {unit.name}: a single-ended read stores +1 or -1 in its BL cell and "
                                      f"holds the reference on BLb; got weight {unit.weight}, rram_blb {dict(unit.rram_blb)}")
            units.append(dataclasses.replace(unit, rram_blb={**unit.rram_blb, **reference}))
        object.__setattr__(self, "units", tuple(units))

    def _overrides(self) -> dict[str, tuple[list[str], list[str]]]:
        return {u.name: tuple(c.instance_overrides(side, values, self.card, where=f"ReadUnit {u.name} rram_{side}")
                              for side, values in (("bl", u.rram_bl), ("blb", u.rram_blb)))
                for u in self.units}

    def initial_gaps(self) -> dict[str, tuple[float | None, float | None]]:
        """(BL, BLb) `gap_init` of every unit in metres; None where an override is an ngspice
        expression (a Monte Carlo draw)."""
        gap_lrs, gap_hrs = self.states.gaps(self.card, check=False)
        by_state = {"lrs": gap_lrs, "hrs": gap_hrs}

        def gap(unit: ReadUnit, side: str, state: str) -> float | None:
            value = (unit.rram_bl if side == "bl" else unit.rram_blb).get("gap_init")
            if value is None:
                return by_state[state]
            return None if isinstance(value, str) else float(value)

        return {u.name: tuple(gap(u, side, state) for side, state in zip(("bl", "blb"), c.WEIGHT_STATES[u.weight]))
                for u in self.units}

    def header(self) -> dict[str, Any]:
        gaps = self.initial_gaps()
        units = [{"name": u.name, "weight": u.weight, "input": u.input_bit, "expected": u.expected,
                  "gap_bl": gaps[u.name][0], "gap_blb": gaps[u.name][1]} for u in self.units]
        # the clamp only where there is one: a bench without it keeps today's header
        # each read-bias option only where there is one: a bench without them keeps today's header
        options = {name: dataclasses.asdict(value) for name, value in (("clamp", self.clamp),
                                                                        ("wl_slew", self.wl_slew)) if value}
        reference = {"reference_ohm": self.reference.ohm} if self.reference else {}
        return read_header(self, self.kind, self.timing, reads=self.reads, xnor=self.xnor, units=units, **options,
                           **reference)

    def to_netlist(self) -> str:
        units, reads, xnor = self.units, self.reads, self.xnor
        overrides = self._overrides()
        what = "XNOR read" if xnor else ("ternary read" if self.kind == "ternary-pcsa" else "read")
        if self.reference:
            what = f"single-ended 1T1R read against a {self.reference.ohm:.4g} ohm reference cell"
        title = self.title or f"2T2R + precharge sense amplifier, {what} of {len(units)} synapse(s), {self.label()}"
        lines = read_preamble(self, title, f"circuitkit.netlist.pcsa, {self.kind}", timing=self.timing,
                              sizing_params=self.sizing.params() + self._clamp_params(), states=self.states,
                              extra_params=[("reads", reads, "consecutive reads simulated"),
                                            *(self.wl_slew.params() if self.wl_slew else [])],
                              extra_subckts=self._extra_subckts())
        lines += read_unit_subckt(self.card, xnor, clamp=self.clamp is not None)
        lines += clock_lines(wl_slew=self.wl_slew is not None)
        if self.clamp:
            lines += ["* bit-line clamp gate bias", "Vclamp vclamp 0 {v_clamp}"]
        lines += c.section("read units (each with its own supply, for its energy)")
        saves = ["v(preb)", "v(se)", "v(wl)"] if self.waveforms else ["v(se)"]
        for unit in units:
            n = unit.name
            gap_bl, gap_blb = c.gap_params(unit.weight)
            bl_state, blb_state = (s.upper() for s in c.WEIGHT_STATES[unit.weight])
            extra_bl, extra_blb = overrides[n]
            # the weight's programmed gaps, unless the unit overrides gap_init itself
            params = [f"gap_init_{side}={{{gap}}}" for side, gap, own in
                      (("bl", gap_bl, unit.rram_bl), ("blb", gap_blb, unit.rram_blb)) if "gap_init" not in own]
            params += extra_bl + extra_blb
            inputs = ""
            comment = f"* unit {n}: weight {unit.weight:+d} (BL {bl_state}, BLb {blb_state})" if not self.reference else \
                f"* unit {n}: 1T1R cell storing {unit.weight:+d} (BL {bl_state}), BLb the reference cell"
            if xnor:
                comment += f", input {unit.input_bit}: expected Q = {int(unit.expected > 0)}"
                inputs = f" in_{n} inb_{n}"
            lines.append(comment + (" [RRAM parameters overridden]" if extra_bl or extra_blb else ""))
            lines.append(f"Vdd_{n} vdd_{n} 0 {{vdd}}")
            if xnor:
                lines.append(f"Vin_{n} in_{n} 0 {{{'vdd' if unit.input_bit else '0'}}}")
                lines.append(f"Vinb_{n} inb_{n} 0 {{{'0' if unit.input_bit else 'vdd'}}}")
            if self.clamp:
                inputs += " vclamp"
            lines.append(f"Xu_{n} vdd_{n} preb se wl q_{n} qb_{n}{inputs} read_2t2r " + " ".join(params))
            if self.waveforms:
                saves += [f"v(q_{n})", f"v(qb_{n})", f"v(vdd_{n})", f"i(vdd_{n})", f"v(xu_{n}.bl)", f"v(xu_{n}.blb)",
                          f"v({dgap_node(n, 'bl')})", f"v({dgap_node(n, 'blb')})"]
            else:
                saves += [f"v(q_{n})", f"v(qb_{n})", f"i(vdd_{n})"]
                saves += [f"v({dgap_node(n, side)})" for side in ("bl", "blb")] if reads > 1 else []
            if self.save_cells:
                saves += [node for node in cell_nodes(n) if node not in saves]
        lines += c.section("measurements: Q/Qb at the sampling time, se -> output delays, margins, energy per read")
        for unit in units:
            n = unit.name
            lines.append(f"* unit {n}, first read" + (f"; then read {reads} (suffix _last)" if reads > 1 else ""))
            lines += read_measures(n, f"q_{n}", f"qb_{n}", supply=f"vdd_{n}")
            if reads > 1:
                lines += read_measures(f"{n}_last", f"q_{n}", f"qb_{n}", cycle=reads - 1, supply=f"vdd_{n}")
        lines += c.section("analysis")
        lines += c.wrap_words(".save", saves)
        lines.append(f".tran {c.spice_number(self.timing.t_step)} {{t_pre+reads*t_period}}"
                     + ("" if self.max_step is None else f" 0 {c.spice_number(self.max_step)}"))
        return c.finish(lines)

    def _extra_subckts(self) -> list[str]:
        return (xnor_subckt() + [""] if self.xnor else []) + (clamp_subckt() + [""] if self.clamp else [])

    def _clamp_params(self) -> list[c.ParamEntry]:
        return self.clamp.params() if self.clamp else []

    def fet_sizes(self) -> FetSizes:
        return c.fet_sizes(read_subckts(self.card, self._extra_subckts()), self.sizing.params() + self._clamp_params())

    def measure(self, result: SimResult) -> PcsaReads:
        """The first read of every unit; with reads > 1 also the last read and the drift of
        every device from its programmed gap."""
        return measure_reads(result, {u.name: u.expected for u in self.units}, self.point.vdd,
                             self.timing.t_evaluate, self.reads, self.initial_gaps(), self.card)


def two_t_two_r_pcsa(weight: int = +1, **fields: Any) -> PcsaReadBench:
    """One 2T2R synapse storing `weight` (+1 or -1) read by a PCSA (unit name `w`);
    `fields` are `PcsaReadBench` fields (point, timing, reads, card ...)."""
    c.check_weight(weight, ternary=False)
    return PcsaReadBench((ReadUnit("w", weight),), **fields)


def ternary_pcsa(weights: Sequence[int] = (+1, 0, -1), *, point: OperatingPoint = TERNARY_POINT,
                 timing: ReadTiming = TERNARY_TIMING, **fields: Any) -> PcsaReadBench:
    """Ternary read of each weight in `weights` (units `p` for +1, `z` for 0, `n` for -1,
    numbered when repeated): one sense, sampled at `timing.t_sample`, at the ternary
    scheme's point and timing unless given."""
    units = []
    for index, weight in enumerate(weights):
        letter = {+1: "p", 0: "z", -1: "n"}[c.check_weight(weight)]
        units.append(ReadUnit(letter if list(weights).count(weight) == 1 else f"{letter}{index}", weight))
    return PcsaReadBench(tuple(units), point=point, timing=timing, kind="ternary-pcsa", **fields)


def xnor_pcsa(**fields: Any) -> PcsaReadBench:
    """The XNOR truth table: four units `x<input><w>` for input in (0, 1), weight in (-1, +1)."""
    units = [ReadUnit(f"x{bit}{'p' if w > 0 else 'n'}", w, input_bit=bit) for bit in (0, 1) for w in (-1, +1)]
    return PcsaReadBench(tuple(units), xnor=True, kind="xnor-pcsa", **fields)
