"""Integrate-and-fire neuron with positive and negative spikes (in the style of SPIRIT).

Blocks (all transistors sky130 1.8 V devices):

- synaptic read, one per input polarity: the RRAM (be on the read node, te on its access
  transistor: read current in the RESET direction) is held at `v_read` (<= 100 mV) by a
  regulated cascode: a PMOS-input OTA compares the read node with `v_read` and drives the
  gate of an NMOS clamp, whose drain current is the cell current. A PMOS mirror copies
  1/`mirror_division` of it (10 unit devices in, one out); the positive synapse's copy
  flows into the membrane, the negative synapse's copy goes through an NMOS mirror that
  pulls the same current out of the membrane.
- membrane: capacitor `c_mem` (200 fF) from `vmem` to ground, resting at `v_rest`.
- two comparators: `vmem` > `v_rest + v_th` (NMOS-input OTA) and `vmem` < `v_rest - v_th`
  (PMOS-input OTA, for the low common mode), each an OTA plus a common-source stage,
  followed by an inverter. Their delay for a slow ramp grows like 1/sqrt(slope), the
  period like 1/slope: copying a tenth of the cell current (0.1-0.9 uA for 100 k-10 k
  cells) keeps it a few per cent of the period, where a full copy (1-9 uA) made it 30 %.
- spike generation: a comparator output that is not blocked by the refractory signal
  triggers a one-shot (a NOR latch that resets itself through an RC delay) which emits
  the spike (`spk_p` or `spk_n`, width `t_spike`). While a spike is high a transmission
  gate resets the membrane to `v_rest`, and a PMOS charges the refractory capacitor to
  VDD; afterwards a resistor discharges it, and `ref` (capacitor above VDD/2) lasts
  `t_refractory` from the spike's start. No new spike can start while `ref` is high,
  but the membrane keeps integrating, so a neuron whose input crossed the threshold
  during the refractory period fires as soon as it ends. (A latch one-shot for the
  refractory period was tried first: retriggered right at its end, it restarted from a
  half-discharged timing node and produced short, wrong refractory windows.)

Expected spike period for a constant input current I (after the first spike):
    T = max(t_spike + C * v_th / I, t_refractory)
(the membrane is held at rest for t_spike, then integrates v_th; if that ends inside the
refractory period the spike waits for its end), plus the comparator and logic delays.
C is `c_mem` (the device capacitance on `vmem` adds about 10 fF, 5 %). The one-shot
durations come from RC delays (R = t / (c_delay ln 2)), but the NOR gate's output
resistance adds to R and the inverter threshold is not exactly VDD/2, so the measured
widths differ from the nominal ones by up to a nanosecond or so; `NeuronBench.measure`
uses the measured spike width and refractory windows in the expected period.

`NeuronBench` (`if_neuron` names its two resistances) is the bench; its
`measure(result)` returns `NeuronSpikes`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.device.model import ModelCard
from circuitkit.netlist import common as c
from circuitkit.netlist.bench import Bench
from circuitkit.spice.runner import SimResult

READ_VOLTAGE_MAX = 0.1


@dataclasses.dataclass(frozen=True)
class NeuronParams:
    """Electrical parameters of the neuron (SI units).

    `v_read` (V) is the voltage across a synaptic RRAM during a read (at most 0.1 V);
    the membrane receives 1/`mirror_division` of the cell current (the mirror's input side
    is `mirror_division` unit devices in parallel, its output side one). Copying a
    fraction keeps the membrane's ramp slow compared with the comparators' delay.
    """

    c_mem: float = c.netlist_param("c_mem", "membrane capacitor (F)", 200e-15)
    v_rest: float = c.netlist_param("v_rest", "resting membrane voltage (V)", 0.9)
    v_th: float = c.netlist_param("v_th", "threshold distance from rest, both polarities (V)", 0.3)
    v_read: float = c.netlist_param("v_read", "voltage across a synaptic RRAM during a read (V), <= 100 mV", 0.1)
    t_spike: float = c.netlist_param("t_spike", "spike width = membrane reset time (s)", 5e-9)
    t_refractory: float = c.netlist_param("t_refractory", "refractory period from the start of a spike (s)", 50e-9)
    c_delay: float = c.netlist_param("c_delay", "one-shot timing capacitor (F)", 50e-15)
    c_comp: float = c.netlist_param("c_comp", "compensation capacitor of each read regulator (F)", 0.5e-12)
    i_bias: float = c.netlist_param("i_bias", "bias current of every OTA (A)", 5e-6)
    mirror_division: int = c.netlist_param("mirror_div", "the membrane gets 1/mirror_div of the cell current", 10)

    def __post_init__(self) -> None:
        c.check_fields_positive(self)
        if isinstance(self.mirror_division, bool) or not isinstance(self.mirror_division, int):
            raise CircuitkitError(
                f"NeuronParams: mirror_division={self.mirror_division!r}: expected a positive integer"
            )
        if self.v_read > READ_VOLTAGE_MAX:
            raise CircuitkitError(
                f"NeuronParams: v_read={self.v_read!r} V: the synaptic read must keep at most "
                f"{READ_VOLTAGE_MAX} V across the RRAM"
            )
        if self.t_refractory <= self.t_spike:
            raise CircuitkitError(
                f"NeuronParams: t_refractory={self.t_refractory!r} s must be longer than t_spike={self.t_spike!r} s"
            )

    def check_supply(self, vdd: float) -> None:
        if not (0.3 <= self.v_rest - self.v_th and self.v_rest + self.v_th <= vdd - 0.3):
            raise CircuitkitError(
                f"NeuronParams: thresholds {self.v_rest - self.v_th:g} V and {self.v_rest + self.v_th:g} V "
                f"(v_rest +- v_th) must stay 0.3 V inside the supply 0..{vdd:g} V for the mirrors to work"
            )

    def params(self) -> list[c.ParamEntry]:
        return c.netlist_params(self, derived={"c_delay": [
            ("r_spike", "{t_spike/(c_delay*ln(2))}", "one-shot resistors: t = R C ln 2"),
            ("r_refractory", "{(t_refractory-t_spike)/(c_delay*ln(2))}", "refractory discharge resistor"),
        ]})


@dataclasses.dataclass(frozen=True)
class NeuronSizing:
    """Widths and lengths (um). Analog devices are longer than minimum for matching."""

    w_mirror: float = c.netlist_param("w_mir", "current-mirror unit device width (um)", 1.0)
    l_mirror: float = c.netlist_param("l_mir", "current-mirror length (um)", 0.5)
    w_clamp: float = c.netlist_param("w_clamp", "read clamp NMOS width (um)", 2.0)
    w_ota_in: float = c.netlist_param("w_in", "OTA input pair width (um)", 2.0)
    w_ota_load: float = c.netlist_param("w_load", "OTA mirror load width (um)", 1.0)
    w_ota_tail: float = c.netlist_param("w_tail", "OTA tail / bias width (um)", 2.0)
    l_analog: float = c.netlist_param("l_ana", "OTA and clamp length (um)", 0.5)
    w_access: float = c.netlist_param("w_acc", "synapse access NMOS width (um)", 1.0)
    w_logic_n: float = c.netlist_param("w_ln", "logic NMOS width (um)", 0.42)
    w_logic_p: float = c.netlist_param("w_lp", "logic PMOS width (um)", 0.84)
    w_reset: float = c.netlist_param("w_rst", "membrane reset transmission-gate width (um)", 2.0)
    l_min: float = c.netlist_param("l_min", "logic and switch length (um)", 0.15)
    l_diff: float = c.netlist_param(
        "l_diff", "source/drain diffusion length for junction area and perimeter (um)", 0.29)

    def __post_init__(self) -> None:
        c.check_sizes(self)

    def params(self) -> list[c.ParamEntry]:
        return c.netlist_params(self, derived={"w_ota_load": [
            ("w_cs", "{2*w_load}", "comparator second-stage width (um): twice the load, i_bias at balance")]})


def _rails(kind: str) -> tuple[str, str, str, str]:
    """(input device type, its rail, load device type, its rail) of an n- or p-input stage."""
    return ("n", "0", "p", "vdd") if kind == "n" else ("p", "vdd", "n", "0")


def _ota(kind: str) -> list[str]:
    """5-transistor OTA `ota_<kind>` (input pair of type `kind`, tail biased from vb<kind>)."""
    f, (fet, rail, load, load_rail), bias = c.fet_line, _rails(kind), f"vb{kind}"
    return [f".subckt ota_{kind} vdd {bias} inp inn out",
            f("MT", "tail", bias, rail, rail, fet, "w_tail", "l_ana"),
            f("M1", "x", "inp", "tail", rail, fet, "w_in", "l_ana"),
            f("M2", "out", "inn", "tail", rail, fet, "w_in", "l_ana"),
            f("M3", "x", "x", load_rail, load_rail, load, "w_load", "l_ana"),
            f("M4", "out", "x", load_rail, load_rail, load, "w_load", "l_ana"),
            f".ends ota_{kind}"]


def _comparator(kind: str) -> list[str]:
    """`cmp_<kind>`: `ota_<kind>` with swapped inputs and a common-source second stage."""
    f, (fet, rail, load, load_rail), bias = c.fet_line, _rails(kind), f"vb{kind}"
    return [f".subckt cmp_{kind} vdd {bias} inp inn out",
            f"Xota vdd {bias} inn inp o1 ota_{kind}",
            f("M5", "out", "o1", load_rail, load_rail, load, "w_cs", "l_ana"),
            f("M6", "out", bias, rail, rail, fet, "w_tail", "l_ana"),
            f".ends cmp_{kind}"]


def _subcircuits(card: ModelCard) -> list[str]:
    f = c.fet_line
    return [
        "* inverter, 2-input NOR",
        ".subckt inv vdd a y",
        f("MP", "y", "a", "vdd", "vdd", "p", "w_lp"),
        f("MN", "y", "a", "0", "0", "n", "w_ln"),
        ".ends inv",
        ".subckt nor2 vdd a b y",
        f("MPA", "mid", "a", "vdd", "vdd", "p", "w_lp"),
        f("MPB", "y", "b", "mid", "vdd", "p", "w_lp"),
        f("MNA", "y", "a", "0", "0", "n", "w_ln"),
        f("MNB", "y", "b", "0", "0", "n", "w_ln"),
        ".ends nor2",
        "",
        "* one-shot: NOR latch set by trig, reset by its own output delayed through r_delay, c_delay",
        "* (q high for r_delay*c_delay*ln 2). Whenever q is low the delay node is discharged at once,",
        "* also while trig and the reset are both high, so it can be retriggered right after it ends",
        ".subckt oneshot vdd trig q qb r_delay=1e4",
        "Xset vdd trig q qb nor2",
        "Xrst vdd done qb q nor2",
        "Rdelay q dly {r_delay}",
        "Cdelay dly 0 {c_delay}",
        "Xqn vdd q qn inv",
        f("MDIS", "dly", "qn", "0", "0", "n", "w_ln"),
        "Xb1 vdd dly dlyb inv",
        "Xb2 vdd dlyb done inv",
        ".ends oneshot",
        "",
        "* 5-transistor OTAs: out rises when inp > inn; NMOS input (high common mode) and",
        "* PMOS input (low common mode); tails biased from vbn / vbp",
        *_ota("n"),
        *_ota("p"),
        "",
        "* comparators: OTA + common-source second stage (the OTA's inputs swapped, so that",
        "* out rises when inp > inn); the second stage is sized to carry i_bias at balance",
        *_comparator("n"),
        *_comparator("p"),
        "",
        "* synaptic read: the OTA holds the read node at v_read (be at rd, te at the access FET:",
        "* RESET direction); the clamp's drain current (= cell current) leaves through `mir`",
        f".subckt syn_read vdd vbp vread wl mir {c.rram_subckt_defaults(('r',), card)}",
        "Xreg vdd vbp vread rd gate ota_p",
        "Ccomp gate 0 {c_comp}",
        f("MCL", "mir", "gate", "rd", "0", "n", "w_clamp", "l_ana"),
        c.rram_instance_line("Nr", "cell", "rd", "r", card),
        f("MA", "cell", "wl", "0", "0", "n", "w_acc"),
        ".ends syn_read",
    ]


@dataclasses.dataclass(frozen=True)
class NeuronBench(Bench["NeuronSpikes"]):
    """The IF neuron driven by a positive and/or a negative synapse whose RRAMs read
    `r_positive` / `r_negative` ohm at 0.1 V (None: no synapse of that sign), read
    continuously (word lines held high) for `t_stop` seconds. `t_step` is the print step
    and largest internal step (the solver refines it around every edge).

    Saved waveforms: v(vmem), v(spk_p), v(spk_n), v(ref), i(vi_p), i(vi_n) (synaptic
    currents into / out of the membrane). Measures: `t_p1`, `t_p2`, `t_n1`, `t_n2` (first
    spike times), `i_p`, `i_n` (mean synaptic currents, A).

    `additions`: netlist lines a caller needs beyond these (a stimulus such as a charge
    packet source on `vmem`, more `.save`/`.meas` statements), written after the analysis
    under a comment naming `added_by`; their measures arrive in the result's `measures`
    beside the bench's own.
    """

    kind = "if-neuron"

    r_positive: float | None = 30e3
    r_negative: float | None = None
    params: NeuronParams = NeuronParams()
    sizing: NeuronSizing = NeuronSizing()
    t_stop: float = 2e-6
    t_step: float = 1e-9
    additions: tuple[str, ...] = ()
    added_by: str = "caller"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "additions", tuple(self.additions))
        if self.r_positive is None and self.r_negative is None:
            raise CircuitkitError("if_neuron needs at least one synapse: give r_positive and/or r_negative")
        self.params.check_supply(self.point.vdd)
        self.gaps()
        c.check_positive("if_neuron", "t_stop", self.t_stop, "s")
        c.check_positive("if_neuron", "t_step", self.t_step, "s")
        if self.t_stop < 2 * self.params.t_refractory:
            raise CircuitkitError(f"if_neuron: t_stop={self.t_stop!r} s must cover at least two refractory periods")

    def gaps(self) -> dict[str, float]:
        """`gap_init` (m) of the positive ('p') and negative ('n') synapse present."""
        gaps = {}
        for sign, resistance in (("p", self.r_positive), ("n", self.r_negative)):
            if resistance is not None:
                c.check_positive("if_neuron", f"r_{'positive' if sign == 'p' else 'negative'}", resistance, "ohm")
                gaps[sign] = float(self.card.gap_for_resistance(resistance))
                self.card.instance_parameters(gap_init=gaps[sign])
        return gaps

    def header(self) -> dict[str, Any]:
        point, params = self.point, self.params
        return {"kind": self.kind, "corner": point.corner, "vdd": point.vdd, "temp_c": point.temp_c,
                "r_positive": self.r_positive, "r_negative": self.r_negative, "c_mem": params.c_mem,
                "v_th": params.v_th, "t_spike": params.t_spike, "t_refractory": params.t_refractory,
                "t_stop": self.t_stop}

    def to_netlist(self) -> str:
        gaps = self.gaps()
        lines = self.preamble(f"integrate-and-fire neuron with positive/negative spikes, {self.label()}",
                              "circuitkit.netlist.neuron, if-neuron",
                              [*self.params.params(), *self.sizing.params(),
                               *[(f"gap_{s}", g, f"{'positive' if s == 'p' else 'negative'} synapse gap (m)")
                                 for s, g in gaps.items()],
                               ("t_stop", self.t_stop, "simulated time (s)")])
        lines += c.section("subcircuits")
        lines += _subcircuits(self.card)
        lines += self._circuit(gaps)
        if self.additions:
            lines += [f"* ---- {self.added_by}: added measurements ----", *self.additions]
        return c.finish(lines)

    def measure(self, result: SimResult) -> NeuronSpikes:
        return measure_spikes(result, self.point.vdd, self.params.c_mem, self.params.v_th, self.params.t_refractory)

    def _circuit(self, gaps: dict[str, float]) -> list[str]:
        lines: list[str] = []
        f = c.fet_line
        lines += c.section("supplies and biases")
        lines += [
            "Vdd vdd 0 {vdd}",
            "Vrest rest 0 {v_rest}",
            "Vthp thp 0 {v_rest+v_th}",
            "Vthn thn 0 {v_rest-v_th}",
            "Vread vread 0 {v_read}",
            "* word lines held on: the synapses are read continuously",
            "Vwl wl 0 {vdd}",
            "Ibn vdd vbn {i_bias}",
            f("MBN", "vbn", "vbn", "0", "0", "n", "w_tail", "l_ana"),
            "Ibp vbp 0 {i_bias}",
            f("MBP", "vbp", "vbp", "vdd", "vdd", "p", "w_tail", "l_ana"),
        ]
        lines += c.section("synapses: regulated read, PMOS mirror copy into (positive) or out of (negative) the membrane")
        if "p" in gaps:
            lines += [
                f"Xsyn_p vdd vbp vread wl mir_p syn_read gap_init_r={{gap_p}}",
                f("MMP_IN", "mir_p", "mir_p", "vdd", "vdd", "p", "w_mir", "l_mir", "mirror_div"),
                f("MMP_OUT", "inj_p", "mir_p", "vdd", "vdd", "p", "w_mir", "l_mir"),
                "* ammeter: synaptic current into the membrane",
                "Vi_p inj_p vmem 0",
            ]
        if "n" in gaps:
            lines += [
                f"Xsyn_n vdd vbp vread wl mir_n syn_read gap_init_r={{gap_n}}",
                f("MMN_IN", "mir_n", "mir_n", "vdd", "vdd", "p", "w_mir", "l_mir", "mirror_div"),
                f("MMN_OUT", "nmir", "mir_n", "vdd", "vdd", "p", "w_mir", "l_mir"),
                f("MNN_IN", "nmir", "nmir", "0", "0", "n", "w_mir", "l_mir"),
                f("MNN_OUT", "ext_n", "nmir", "0", "0", "n", "w_mir", "l_mir"),
                "* ammeter: synaptic current out of the membrane",
                "Vi_n vmem ext_n 0",
            ]
        lines += c.section("membrane and its reset switch (closed while a spike is high)")
        lines += [
            "Cmem vmem 0 {c_mem}",
            f("MRN", "vmem", "rst", "rest", "0", "n", "w_rst"),
            f("MRP", "vmem", "rstb", "rest", "vdd", "p", "w_rst"),
        ]
        lines += c.section("comparators: vmem above v_rest+v_th (cp), below v_rest-v_th (cn)")
        lines += [
            "Xcmp_p vdd vbn vmem thp cmp_p_raw cmp_n",
            "Xcp1 vdd cmp_p_raw cpb inv",
            "Xcmp_n vdd vbp thn vmem cmp_n_raw cmp_p",
            "Xcn1 vdd cmp_n_raw cnb inv",
        ]
        lines += c.section("spike logic: fire = comparator AND NOT refractory; one-shots for spikes and refractory")
        lines += [
            "Xfire_p vdd cpb ref fire_p nor2",
            "Xfire_n vdd cnb ref fire_n nor2",
            "Xspk_p vdd fire_p spk_p spk_pb oneshot r_delay={r_spike}",
            "Xspk_n vdd fire_n spk_n spk_nb oneshot r_delay={r_spike}",
            "* rst = spk_p OR spk_n",
            "Xrst vdd spk_p spk_n rstb nor2",
            "Xrsti vdd rstb rst inv",
        ]
        lines += c.section("refractory timer: a spike charges c_ref to VDD, r_ref then discharges it; ref = V(c_ref) > VDD/2")
        lines += [
            f("MREF", "cref", "rstb", "vdd", "vdd", "p", "w_lp"),
            "Rref cref 0 {r_refractory}",
            "Cref cref 0 {c_delay}",
            "Xref1 vdd cref crefb inv",
            "Xref2 vdd crefb ref inv",
        ]
        lines += c.section("initial state: membrane at rest, no spike, not refractory")
        lines.append(".ic v(vmem)={v_rest} v(spk_p)=0 v(spk_n)=0 v(cref)=0")
        lines += c.section("measurements")
        lines += [
            ".meas tran t_p1 when v(spk_p)={vdd/2} rise=1",
            ".meas tran t_p2 when v(spk_p)={vdd/2} rise=2",
            ".meas tran t_n1 when v(spk_n)={vdd/2} rise=1",
            ".meas tran t_n2 when v(spk_n)={vdd/2} rise=2",
        ]
        saves = ["v(vmem)", "v(spk_p)", "v(spk_n)", "v(ref)", "v(cref)", "v(rst)"]
        if "p" in gaps:
            lines.append(".meas tran i_p avg i(vi_p) from={t_stop/4} to={t_stop}")
            saves += ["i(vi_p)", "v(xsyn_p.rd)"]
        if "n" in gaps:
            lines.append(".meas tran i_n avg i(vi_n) from={t_stop/4} to={t_stop}")
            saves += ["i(vi_n)", "v(xsyn_n.rd)"]
        lines += c.section("analysis")
        lines += c.wrap_words(".save", saves)
        lines.append(f".tran {c.spice_number(self.t_step)} {{t_stop}}")
        return lines


def if_neuron(r_positive: float | None = 30e3, r_negative: float | None = None, **fields: Any) -> NeuronBench:
    """The neuron bench of `circuitkit netlist if-neuron`: `NeuronBench(r_positive, r_negative, **fields)`."""
    return NeuronBench(r_positive, r_negative, **fields)


@dataclasses.dataclass(frozen=True)
class NeuronSpikes:
    """Spikes of one neuron simulation.

    `period_s`: mean interval between consecutive spikes of the dominant polarity (NaN
    with fewer than two); `expected_period_s`: max(t_spike + C v_th / I, t_refractory)
    with the measured mean synaptic current I, spike width and refractory period;
    `refractory_windows`: (start, end) of every refractory interval, measured on the
    timing capacitor (V(cref) above VDD/2, the trip point of the inverter that makes
    `ref`: the logic signal itself only dips for a moment when the next spike follows at
    once); `membrane_at_spikes_v`: V(vmem) at each spike's start;
    `read_voltage_v`: largest voltage on a synaptic read node (RRAM plus its access
    transistor, so an upper bound of the RRAM's voltage) after the start-up (first 10 %).
    """

    positive_s: tuple[float, ...]
    negative_s: tuple[float, ...]
    current_a: float
    period_s: float
    expected_period_s: float
    refractory_windows: tuple[tuple[float, float], ...]
    membrane_at_spikes_v: tuple[float, ...]
    spike_width_s: float
    read_voltage_v: float

    @property
    def count(self) -> int:
        return len(self.positive_s) + len(self.negative_s)


def _rising_edges(time: np.ndarray, wave: np.ndarray, level: float) -> np.ndarray:
    above = wave > level
    index = np.nonzero(~above[:-1] & above[1:])[0]
    # Linear interpolation of the crossing between the two samples.
    t0, t1, v0, v1 = time[index], time[index + 1], wave[index], wave[index + 1]
    return t0 + (level - v0) * (t1 - t0) / (v1 - v0)


def _windows(time: np.ndarray, wave: np.ndarray, level: float) -> tuple[tuple[float, float], ...]:
    rises = _rising_edges(time, wave, level)
    falls = _rising_edges(time, -wave, -level)
    windows = []
    for start in rises:
        later = falls[falls > start]
        windows.append((float(start), float(later[0]) if later.size else float(time[-1])))
    return tuple(windows)


def measure_spikes(result: SimResult, vdd: float, c_mem: float, v_th: float, t_refractory: float) -> NeuronSpikes:
    """Spike times, mean synaptic current and period of a neuron simulation (`t_refractory`
    is the nominal period, used when no refractory window closed)."""
    time = np.asarray(result["time"])
    positive = _rising_edges(time, np.asarray(result["v(spk_p)"]), vdd / 2)
    negative = _rising_edges(time, np.asarray(result["v(spk_n)"]), vdd / 2)
    current = 0.0
    for name, sign in (("i_p", +1), ("i_n", -1)):
        value = result.measures.get(name)
        if c.finite(value):
            current += sign * value
    spikes = positive if len(positive) >= len(negative) else negative
    period = float(np.mean(np.diff(spikes))) if len(spikes) >= 2 else math.nan
    pulses = _windows(time, np.asarray(result["v(rst)"]), vdd / 2)
    width = float(np.mean([end - start for start, end in pulses])) if pulses else math.nan
    refractory = _windows(time, np.asarray(result["v(cref)"]), vdd / 2)
    # A refractory window still open at the end of the run is not a full one.
    closed = [end - start for start, end in refractory if end < time[-1]]
    t_ref = float(np.mean(closed)) if closed else t_refractory
    integrate = c_mem * v_th / abs(current) if current else math.inf
    expected = max(width + integrate, t_ref)
    settled = time > 0.1 * time[-1]
    reads = [np.max(np.abs(np.asarray(result[f"v(xsyn_{s}.rd)"])[settled]))
             for s in ("p", "n") if f"v(xsyn_{s}.rd)" in result.vectors]
    return NeuronSpikes(
        positive_s=tuple(float(t) for t in positive),
        negative_s=tuple(float(t) for t in negative),
        current_a=current,
        period_s=period,
        expected_period_s=expected,
        refractory_windows=refractory,
        membrane_at_spikes_v=tuple(float(np.interp(t, time, np.asarray(result["v(vmem)"])))
                                   for t in sorted((*positive, *negative))),
        spike_width_s=width,
        read_voltage_v=float(max(reads)) if reads else math.nan,
    )
