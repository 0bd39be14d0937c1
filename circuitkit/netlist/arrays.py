"""Arrays of 2T2R synapses: shared word lines and bit lines with wire RC, one PCSA per column.

Layout (rows x columns): row r has word line `wl_r<r>`, driven from the left end; column
c has the bit lines `bl_c<c>`, `blb_c<c>` and the source line `sl_c<c>`, which run from
the column's PCSA (below row 0) up to the last row. Every wire is an RC ladder with one
resistor and one capacitor per cell pitch (`WireParasitics`); node `bl_c<c>_r<r>` is the
bit line at the cell of row r, `bl_c<c>_sa` its end at the sense amplifier.

One read cycle per row (the `ReadTiming` phases of `circuitkit.netlist.pcsa`): read r
raises only `wl_r<r>`, every column's PCSA senses its cell in that row. Row r's branch
currents cross 2 (r + 1) wire pitches (bit line and source line), so the rows far from
the sense amplifiers see the most series resistance: it adds to both branches and
shrinks the relative difference between LRS and HRS currents, i.e. the sense margin.

The weights are programmed states: each cell's `gap_init` is the LRS or HRS gap of its
weight. `weight_pattern` makes small patterns to program. `ArrayReadBench` is the bench;
its `measure(result)` returns an `ArrayRead` (every cell's value, delay and margin).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.netlist import common as c
from circuitkit.netlist import pcsa
from circuitkit.netlist.bench import Bench
from circuitkit.netlist.readout import energy_measure, read_measures, unit_read
from circuitkit.spice.runner import SimResult

MAX_CELLS = 4096


@dataclasses.dataclass(frozen=True)
class WireParasitics:
    """Resistance (ohm) and capacitance (F) of each wire per cell pitch.

    Defaults: about 1 ohm and 0.2 fF per micron-scale pitch of a narrow metal-1 line in a
    130 nm process (unverified; set your own). Bit lines, complementary bit lines and
    source lines share `r_bitline` / `c_bitline`; word lines use `r_wordline` /
    `c_wordline`. Resistances must be > 0 (a wire is never ideal in this model).
    """

    r_bitline: float = c.netlist_param("r_bl_pitch", "bit-line / source-line resistance per cell pitch (ohm)", 1.0)
    c_bitline: float = c.netlist_param("c_bl_pitch", "bit-line / source-line capacitance per cell pitch (F)", 0.2e-15)
    r_wordline: float = c.netlist_param("r_wl_pitch", "word-line resistance per cell pitch (ohm)", 1.0)
    c_wordline: float = c.netlist_param("c_wl_pitch", "word-line capacitance per cell pitch (F)", 0.2e-15)

    def __post_init__(self) -> None:
        c.check_fields_positive(self, allow_zero=("c_bitline", "c_wordline"))

    def params(self) -> list[c.ParamEntry]:
        return c.netlist_params(self)


PATTERNS = ("checkerboard", "rows", "columns", "diagonal", "random")


def weight_pattern(rows: int, cols: int, kind: str = "checkerboard", *, seed: int = 0,
                 ternary: bool = False) -> tuple[tuple[int, ...], ...]:
    """A small weight pattern to program: `checkerboard` (+1/-1 alternating), `rows` /
    `columns` (alternating by row / column), `diagonal` (+1 on the diagonal, -1 elsewhere;
    0 elsewhere if `ternary`), `random` (seeded; values from {-1, +1} or {-1, 0, +1})."""
    _check_shape(rows, cols)
    r, k = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    if kind == "checkerboard":
        grid = np.where((r + k) % 2 == 0, 1, -1)
    elif kind == "rows":
        grid = np.where(r % 2 == 0, 1, -1)
    elif kind == "columns":
        grid = np.where(k % 2 == 0, 1, -1)
    elif kind == "diagonal":
        grid = np.where(r == k, 1, 0 if ternary else -1)
    elif kind == "random":
        values = (-1, 0, 1) if ternary else (-1, 1)
        grid = np.random.default_rng(seed).choice(values, size=(rows, cols))
    else:
        raise CircuitkitError(f"unknown test pattern {kind!r}; expected one of {', '.join(PATTERNS)}")
    return tuple(tuple(int(v) for v in row) for row in grid)


def _check_shape(rows: int, cols: int) -> None:
    for name, value in (("rows", rows), ("cols", cols)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CircuitkitError(f"array: {name}={value!r}: expected a positive integer")
    if rows * cols > MAX_CELLS:
        raise CircuitkitError(f"array: {rows} x {cols} cells is more than this generator's limit of {MAX_CELLS}")


def _check_weights(weights: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    rows = len(weights)
    cols = len(weights[0]) if rows else 0
    _check_shape(rows, cols)
    for r, row in enumerate(weights):
        if len(row) != cols:
            raise CircuitkitError(f"array: row {r} has {len(row)} weights, row 0 has {cols}: expected a rectangle")
        for k, weight in enumerate(row):
            c.check_weight(weight, where=f"array: weight[{r}][{k}]")
    return tuple(tuple(int(w) for w in row) for row in weights)


def _ladder(name: str, start: str, nodes: Sequence[str], r_param: str, c_param: str) -> list[str]:
    """RC ladder: a resistor from the previous node to each node, a capacitor at each."""
    lines, previous = [], start
    for index, node in enumerate(nodes):
        lines.append(f"R{name}_{index} {previous} {node} {{{r_param}}}")
        lines.append(f"C{name}_{index} {node} 0 {{{c_param}}}")
        previous = node
    return lines


@dataclasses.dataclass(frozen=True)
class ArrayReadBench(Bench["ArrayRead"]):
    """A rows x cols 2T2R array storing `weights` (rows of +1/0/-1), read row by row (read
    r = row r) with one PCSA per column.

    Measures per cell (row r, column c): `q_r<r>_c<c>`, `qb_...`, `tq_...`, `tqb_...`,
    `mq_...`, `mqb_...` as in `readout.read_measures`; per row read `e_r<r>` (J, whole array).
    """

    kind = "array"

    weights: Sequence[Sequence[int]]
    timing: pcsa.ReadTiming = pcsa.ReadTiming()
    sizing: pcsa.PcsaSizing = pcsa.PcsaSizing()
    states: c.RramStates = c.RramStates()
    wires: WireParasitics = WireParasitics()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "weights", _check_weights(self.weights))
        self.states.gaps(self.card)

    @property
    def rows(self) -> int:
        return len(self.weights)

    @property
    def cols(self) -> int:
        return len(self.weights[0])

    def header(self) -> dict[str, Any]:
        return pcsa.read_header(self, self.kind, self.timing, rows=self.rows, cols=self.cols,
                                weights=[list(row) for row in self.weights], r_bitline=self.wires.r_bitline,
                                r_wordline=self.wires.r_wordline)

    def to_netlist(self) -> str:
        weights, rows, cols = self.weights, self.rows, self.cols
        title = f"{rows} x {cols} 2T2R array, one PCSA per column, read row by row, {self.label()}"
        lines = pcsa.read_preamble(
            self, title, "circuitkit.netlist.arrays, array", timing=self.timing,
            sizing_params=[p for p in self.sizing.params() if p[0] not in ("c_bitline", "w_sw")] + self.wires.params(),
            states=self.states, extra_params=[("rows", rows, "word lines; one read per row")])
        lines += pcsa.clock_lines(word_line=False)
        lines.append("Vdd vdd 0 {vdd}")
        lines += c.section("word lines: row r is on during read r (driver at the left end, RC per column pitch)")
        for r in range(rows):
            start = "t_pre-t_wl_lead" if r == 0 else f"t_pre-t_wl_lead+{r}*t_period"
            lines.append(f"Vwl_r{r} wl_r{r}_drv 0 PULSE(0 {{v_wl}} {{{start}}} {{t_edge}} {{t_edge}} "
                         "{t_eval+t_wl_lead-2*t_edge} {rows*t_period})")
            lines += _ladder(f"wl_r{r}", f"wl_r{r}_drv", [f"wl_r{r}_c{k}" for k in range(cols)], "r_wl_pitch",
                             "c_wl_pitch")
        lines += c.section("bit lines, complementary bit lines, source lines: PCSA end, then one node per row")
        for k in range(cols):
            for wire in ("bl", "blb", "sl"):
                lines += _ladder(f"{wire}_c{k}", f"{wire}_c{k}_sa", [f"{wire}_c{k}_r{r}" for r in range(rows)],
                                 "r_bl_pitch", "c_bl_pitch")
        lines += c.section("sense amplifiers, one per column")
        for k in range(cols):
            lines.append(f"Xsa_c{k} vdd preb se bl_c{k}_sa blb_c{k}_sa sl_c{k}_sa q_c{k} qb_c{k} pcsa")
        lines += c.section("2T2R cells, programmed with the weights")
        for r in range(rows):
            lines.append(f"* row {r}: weights {' '.join(f'{w:+d}' for w in weights[r])}")
            for k in range(cols):
                gap_bl, gap_blb = c.gap_params(weights[r][k])
                lines.append(f"Xc_r{r}_c{k} bl_c{k}_r{r} blb_c{k}_r{r} wl_r{r}_c{k} sl_c{k}_r{r} syn_2t2r "
                             f"gap_init_bl={{{gap_bl}}} gap_init_blb={{{gap_blb}}}")
        lines += c.section("measurements per cell (read r senses row r) and energy per row read")
        for r in range(rows):
            for k in range(cols):
                lines += read_measures(f"r{r}_c{k}", f"q_c{k}", f"qb_c{k}", cycle=r)
            lines.append(energy_measure(f"r{r}", "vdd", r))
        lines += c.section("analysis")
        saves = ["v(preb)", "v(se)", "i(vdd)"] + [f"v(wl_r{r}_c{cols - 1})" for r in range(rows)]
        saves += [f"v({node}_c{k})" for k in range(cols) for node in ("q", "qb")]
        lines += c.wrap_words(".save", saves)
        lines.append(f".tran {c.spice_number(self.timing.t_step)} {{t_pre+rows*t_period}}")
        return c.finish(lines)

    def measure(self, result: SimResult) -> ArrayRead:
        return measure_array(result, self.weights, self.point.vdd, self.timing.t_evaluate)


@dataclasses.dataclass(frozen=True)
class ArrayRead:
    """Every cell of an array read back: values, delays (s), margins (V); energy per row read (J)."""

    expected: np.ndarray
    values: np.ndarray
    delay_s: np.ndarray
    margin_v: np.ndarray
    energy_j: np.ndarray

    @property
    def errors(self) -> int:
        return int(np.sum(self.values != self.expected))

    def table(self) -> str:
        lines = []
        for r in range(self.values.shape[0]):
            cells = [f"{int(v):+d}/{int(e):+d} {d * 1e12:6.0f}ps {m * 1e3:5.0f}mV"
                     for v, e, d, m in zip(self.values[r], self.expected[r], self.delay_s[r], self.margin_v[r])]
            lines.append(f"row {r}: " + " | ".join(cells) + f"   E {self.energy_j[r] * 1e15:.1f} fJ")
        return "\n".join(lines)


def measure_array(result: SimResult, weights: Sequence[Sequence[int]], vdd: float, t_eval: float) -> ArrayRead:
    """Read value, delay and margin of every cell (read/expected as +1/0/-1) of an array
    storing `weights`."""
    rows, cols = len(weights), len(weights[0])
    reads = [[unit_read(result, f"r{r}_c{k}", vdd, t_eval, weights[r][k]) for k in range(cols)]
             for r in range(rows)]
    return ArrayRead(
        expected=np.array(weights, dtype=int),
        values=np.array([[read.value for read in row] for row in reads], dtype=int),
        delay_s=np.array([[read.delay_s for read in row] for row in reads]),
        margin_v=np.array([[read.margin_v for read in row] for row in reads]),
        energy_j=np.array([result.measures.get(f"e_r{r}", math.nan) for r in range(rows)]),
    )
