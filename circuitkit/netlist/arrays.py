"""Arrays of 2T2R synapses: shared word lines and bit lines with wire RC, one PCSA per column.

Layout (rows x columns): row r has word line `wl_r<r>`, driven from the left end; column
c has the bit lines `bl_c<c>`, `blb_c<c>` and the source line `sl_c<c>`, which run from
the column's PCSA (below row 0) up to the last row. Every wire is an RC ladder with one
resistor and one capacitor per cell pitch (`WireParasitics`); node `bl_c<c>_r<r>` is the
bit line at the cell of row r, `bl_c<c>_sa` its end at the sense amplifier.

Two read cycles per read row (the first conditions the bit lines, the second is measured: `CYCLES_PER_ROW`) (the `ReadTiming` phases of `circuitkit.netlist.pcsa`): read i
raises only the word line of `read_rows[i]` (all rows by default), every column's PCSA
senses its cell in that row. A chip-size array reads a chosen set of rows (e.g. first,
middle, last) in one deck: the word lines of rows that are not read stay at 0 V, so their
cells' gates are tied to ground (no word-line ladder: nothing there carries a signal)
while their transistors still load the bit lines. Row r's branch
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
from circuitkit.spice.binning import FetSizes
from circuitkit.netlist.readout import energy_measure, read_measures, unit_read
from circuitkit.spice.runner import SimResult

MAX_CELLS = 128 * 128
# A read's margin depends on the cycle before it: the PCSA recharges the bit lines through
# its latch transistors (a source follower that never quite finishes in t_pre), so with
# ideal wires the first read after t = 0 measured 16 % less margin than later ones and
# reads after different rows differed by 0.5 %. Every read row is therefore read twice in
# a row and measured on the second read: each measurement has the same history (itself).
# Not enough at 64 rows and more: there the first row a deck reads senses in 24 ps and every
# later one in 100-118 ps, with ideal wires too (64 x 64, tt 1.8 V); compare positions only
# against the same schedule with ideal wires (`corners.positions`), or read one row per deck.
CYCLES_PER_ROW = 2


@dataclasses.dataclass(frozen=True)
class WireParasitics:
    """Resistance (ohm) and capacitance (F) of each wire per cell pitch.

    Defaults: about 1 ohm and 0.2 fF per micron-scale pitch of a narrow metal-1 line in a
    130 nm process (unverified; set your own). Bit lines, complementary bit lines and
    source lines share `r_bitline` / `c_bitline`; word lines use `r_wordline` /
    `c_wordline`. Derive them from a layout with `netlist.wires.WireGeometry`. A zero
    resistance is an ideal wire (the array bench shorts the segment with a 0 V source: the
    reference a position-dependent margin is compared with); the crossbar's solver needs
    resistances > 0.
    """

    r_bitline: float = c.netlist_param("r_bl_pitch", "bit-line / source-line resistance per cell pitch (ohm)", 1.0)
    c_bitline: float = c.netlist_param("c_bl_pitch", "bit-line / source-line capacitance per cell pitch (F)", 0.2e-15)
    r_wordline: float = c.netlist_param("r_wl_pitch", "word-line resistance per cell pitch (ohm)", 1.0)
    c_wordline: float = c.netlist_param("c_wl_pitch", "word-line capacitance per cell pitch (F)", 0.2e-15)

    def __post_init__(self) -> None:
        c.check_fields_positive(self, allow_zero=("r_bitline", "c_bitline", "r_wordline", "c_wordline"))

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


def _ladder(name: str, start: str, nodes: Sequence[str], r_param: str, c_param: str,
            ideal: bool = False) -> list[str]:
    """RC ladder: a resistor from the previous node to each node, a capacitor at each
    (`ideal`: a 0 V source instead of each resistor, for a zero wire resistance)."""
    lines, previous = [], start
    for index, node in enumerate(nodes):
        lines.append(f"V{name}_{index} {previous} {node} 0" if ideal else f"R{name}_{index} {previous} {node} {{{r_param}}}")
        lines.append(f"C{name}_{index} {node} 0 {{{c_param}}}")
        previous = node
    return lines


@dataclasses.dataclass(frozen=True)
class ArrayReadBench(Bench["ArrayRead"]):
    """A rows x cols 2T2R array storing `weights` (rows of +1/0/-1) with one PCSA per
    column, reading the rows `read_rows` (default: all, in order) one per read cycle.

    `inputs` (optional, one +1/-1 per read row) makes it an XNOR array: an input swap
    between each column's bit lines and its PCSA (`pcsa.xnor_subckt`, the XNOR PCSA's)
    crosses them for input -1, so read i returns weight x input (XNOR of the bits).

    Measures per read cell (row r, column c): `q_r<r>_c<c>`, `qb_...`, `tq_...`, `tqb_...`,
    `mq_...`, `mqb_...` as in `readout.read_measures`; per read row `e_r<r>` (J, whole array),
    all of the measured (second) read of each row.
    """

    kind = "array"

    weights: Sequence[Sequence[int]]
    timing: pcsa.ReadTiming = pcsa.ReadTiming()
    sizing: pcsa.PcsaSizing = pcsa.PcsaSizing()
    states: c.RramStates = c.RramStates()
    wires: WireParasitics = WireParasitics()
    read_rows: Sequence[int] | None = None
    inputs: Sequence[int] | None = None
    # ngspice's transient tolerance (None: its default 1e-3). With resistive word lines some
    # decks (16 x 16 at 50 ohm/pitch, 64 x 64 at metal 1's 0.89) stopped at a word-line edge
    # with "timestep too small" at 1e-3 and ran at 1e-4 (about 3x the CPU time).
    reltol: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "weights", _check_weights(self.weights))
        rows = len(self.weights)
        read_rows = tuple(range(rows)) if self.read_rows is None else tuple(self.read_rows)
        if not read_rows or len(set(read_rows)) != len(read_rows) or any(
                isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 0 <= r < rows for r in read_rows):
            raise CircuitkitError(f"array: read_rows={self.read_rows!r}: expected distinct row indices 0..{rows - 1}")
        object.__setattr__(self, "read_rows", tuple(int(r) for r in read_rows))
        if self.inputs is not None:
            inputs = tuple(self.inputs)
            if len(inputs) != len(read_rows) or any(x not in (-1, 1) for x in inputs):
                raise CircuitkitError(f"array: inputs={self.inputs!r}: expected one +1/-1 per read row "
                                      f"({len(read_rows)} read rows)")
            object.__setattr__(self, "inputs", tuple(int(x) for x in inputs))
        if self.reltol is not None and not 0 < self.reltol < 1:
            raise CircuitkitError(f"array: reltol={self.reltol!r}: expected a relative tolerance in (0, 1)")
        self.states.gaps(self.card)

    @property
    def rows(self) -> int:
        return len(self.weights)

    @property
    def cols(self) -> int:
        return len(self.weights[0])

    @property
    def xnor(self) -> bool:
        return self.inputs is not None

    def expected(self) -> np.ndarray:
        """What each read returns, per read row and column: the weight (x the input)."""
        stored = np.array(self.weights, dtype=int)[list(self.read_rows)]
        return stored * np.array(self.inputs, dtype=int)[:, None] if self.xnor else stored

    def header(self) -> dict[str, Any]:
        return pcsa.read_header(self, self.kind, self.timing, rows=self.rows, cols=self.cols,
                                weights=[list(row) for row in self.weights], read_rows=list(self.read_rows),
                                inputs=None if self.inputs is None else list(self.inputs),
                                r_bitline=self.wires.r_bitline, r_wordline=self.wires.r_wordline)

    def _sizing_params(self) -> list[c.ParamEntry]:
        excluded = ("c_bitline",) if self.xnor else ("c_bitline", "w_sw")
        return [p for p in self.sizing.params() if p[0] not in excluded]

    def _extra_subckts(self) -> list[str]:
        return pcsa.xnor_subckt() + [""] if self.xnor else []

    def fet_sizes(self) -> FetSizes:
        return c.fet_sizes(pcsa.read_subckts(self.card, self._extra_subckts()), self._sizing_params())

    def to_netlist(self) -> str:
        weights, rows, cols, read_rows = self.weights, self.rows, self.cols, self.read_rows
        reads = len(read_rows)
        what = "XNOR-read" if self.xnor else "read"
        title = (f"{rows} x {cols} 2T2R array, one PCSA per column, {what} rows {_row_list(read_rows)}, "
                 f"{self.label()}")
        lines = pcsa.read_preamble(
            self, title, "circuitkit.netlist.arrays, array", timing=self.timing,
            sizing_params=self._sizing_params() + self.wires.params(), states=self.states,
            extra_params=[("reads", reads, "read cycles, one per read row")], extra_subckts=self._extra_subckts())
        lines += pcsa.clock_lines(word_line=False)
        lines.append("Vdd vdd 0 {vdd}")
        lines += c.section("word lines of the read rows: read i raises row read_rows[i] "
                           "(driver at the left end, RC per column pitch); the other rows' gates are at 0 V")
        for index, r in enumerate(read_rows):
            # one PULSE per cycle of this row, in series: the word-line driver's voltage is their sum
            nodes = [f"wl_r{r}_drv"] + [f"wl_r{r}_p{n}" for n in range(1, CYCLES_PER_ROW)] + ["0"]
            for n in range(CYCLES_PER_ROW):
                start = f"t_pre-t_wl_lead+{CYCLES_PER_ROW * index + n}*t_period"
                lines.append(f"Vdrv_r{r}_{n} {nodes[n]} {nodes[n + 1]} PULSE(0 {{v_wl}} {{{start}}} {{t_edge}} "
                             "{t_edge} {t_eval+t_wl_lead-2*t_edge} {2*reads*t_period})")
            lines += _ladder(f"wl_r{r}", f"wl_r{r}_drv", [f"wl_r{r}_c{k}" for k in range(cols)], "r_wl_pitch",
                             "c_wl_pitch", ideal=self.wires.r_wordline == 0)
        lines += c.section("bit lines, complementary bit lines, source lines: PCSA end, then one node per row")
        for k in range(cols):
            for wire in ("bl", "blb", "sl"):
                lines += _ladder(f"{wire}_c{k}", f"{wire}_c{k}_sa", [f"{wire}_c{k}_r{r}" for r in range(rows)],
                                 "r_bl_pitch", "c_bl_pitch", ideal=self.wires.r_bitline == 0)
        if self.xnor:
            lines += c.section("XNOR inputs: held for a whole read cycle (precharge + evaluation), one per read")
            lines += self._input_sources()
        lines += c.section("sense amplifiers, one per column" + (" behind the XNOR input swap" if self.xnor else ""))
        for k in range(cols):
            if self.xnor:
                lines.append(f"Xsw_c{k} in inb bl_c{k}_sa blb_c{k}_sa sa_c{k} sab_c{k} xnor_swap")
                lines.append(f"Xsa_c{k} vdd preb se sa_c{k} sab_c{k} sl_c{k}_sa q_c{k} qb_c{k} pcsa")
            else:
                lines.append(f"Xsa_c{k} vdd preb se bl_c{k}_sa blb_c{k}_sa sl_c{k}_sa q_c{k} qb_c{k} pcsa")
        lines += c.section("2T2R cells, programmed with the weights")
        for r in range(rows):
            gate = f"wl_r{r}_c{{k}}" if r in read_rows else "0"
            lines.append(f"* row {r}: weights {' '.join(f'{w:+d}' for w in weights[r])}")
            for k in range(cols):
                gap_bl, gap_blb = c.gap_params(weights[r][k])
                lines.append(f"Xc_r{r}_c{k} bl_c{k}_r{r} blb_c{k}_r{r} {gate.format(k=k)} sl_c{k}_r{r} syn_2t2r "
                             f"gap_init_bl={{{gap_bl}}} gap_init_blb={{{gap_blb}}}")
        lines += c.section("measurements per read cell (read i senses row read_rows[i]) and energy per read")
        for index, r in enumerate(read_rows):
            cycle = CYCLES_PER_ROW * index + CYCLES_PER_ROW - 1
            for k in range(cols):
                lines += read_measures(f"r{r}_c{k}", f"q_c{k}", f"qb_c{k}", cycle=cycle)
            lines.append(energy_measure(f"r{r}", "vdd", cycle))
        lines += c.section("analysis")
        saves = ["v(preb)", "v(se)", "i(vdd)"] + [f"v(wl_r{r}_c{cols - 1})" for r in read_rows]
        saves += [f"v({node}_c{k})" for k in range(cols) for node in ("q", "qb")]
        lines += c.wrap_words(".save", saves)
        if self.reltol is not None:
            lines.append(f".options reltol={self.reltol:g}")
        lines.append(f".tran {c.spice_number(self.timing.t_step)} {{t_pre+{CYCLES_PER_ROW}*reads*t_period}}")
        return c.finish(lines)

    def _input_sources(self) -> list[str]:
        """PWL sources `in` / `inb`: input i from the start of read i's precharge."""
        period, edge = self.timing.period, self.timing.t_edge
        points = {"in": [], "inb": []}
        for cycle, x in enumerate(x for x in self.inputs for _ in range(CYCLES_PER_ROW)):
            t0 = cycle * period
            for node, high in (("in", x > 0), ("inb", x < 0)):
                level = "{vdd}" if high else "0"
                points[node] += [c.spice_number(t0 + edge if cycle else 0.0), level,
                                 c.spice_number(t0 + period), level]
        return [f"V{node} {node} 0 PWL({' '.join(values)})" for node, values in points.items()]

    def measure(self, result: SimResult) -> ArrayRead:
        return measure_array(result, self.weights, self.point.vdd, self.timing.t_evaluate,
                             read_rows=self.read_rows, expected=self.expected())


def _row_list(rows: Sequence[int]) -> str:
    return ", ".join(str(r) for r in rows) if len(rows) <= 8 else f"{rows[0]}..{rows[-1]} ({len(rows)} rows)"


@dataclasses.dataclass(frozen=True)
class ArrayRead:
    """The read rows of an array read back, per read row (the array rows `rows`) and column:
    values, delays (s), margins (V); energy per row read (J)."""

    expected: np.ndarray
    values: np.ndarray
    delay_s: np.ndarray
    margin_v: np.ndarray
    energy_j: np.ndarray
    rows: np.ndarray | None = None

    @property
    def errors(self) -> int:
        return int(np.sum(self.values != self.expected))

    def table(self) -> str:
        lines = []
        rows = range(self.values.shape[0]) if self.rows is None else self.rows
        for i, r in enumerate(rows):
            cells = [f"{int(v):+d}/{int(e):+d} {d * 1e12:6.0f}ps {m * 1e3:5.0f}mV"
                     for v, e, d, m in zip(self.values[i], self.expected[i], self.delay_s[i], self.margin_v[i])]
            lines.append(f"row {r}: " + " | ".join(cells) + f"   E {self.energy_j[i] * 1e15:.1f} fJ")
        return "\n".join(lines)


def measure_array(result: SimResult, weights: Sequence[Sequence[int]], vdd: float, t_eval: float, *,
                  read_rows: Sequence[int] | None = None, expected: np.ndarray | None = None) -> ArrayRead:
    """Read value, delay and margin of every cell of the rows `read_rows` (default all) of an
    array storing `weights`; `expected` (read row x column, +1/0/-1) defaults to the weights."""
    cols = len(weights[0])
    read_rows = tuple(range(len(weights))) if read_rows is None else tuple(read_rows)
    if expected is None:
        expected = np.array(weights, dtype=int)[list(read_rows)]
    reads = [[unit_read(result, f"r{r}_c{k}", vdd, t_eval, int(expected[i][k])) for k in range(cols)]
             for i, r in enumerate(read_rows)]
    return ArrayRead(
        expected=np.asarray(expected, dtype=int),
        values=np.array([[read.value for read in row] for row in reads], dtype=int),
        delay_s=np.array([[read.delay_s for read in row] for row in reads]),
        margin_v=np.array([[read.margin_v for read in row] for row in reads]),
        energy_j=np.array([result.measures.get(f"e_r{r}", math.nan) for r in read_rows]),
        rows=np.array(read_rows, dtype=int),
    )
