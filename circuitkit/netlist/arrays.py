"""Arrays of 2T2R synapses: shared word lines and bit lines with wire RC, one PCSA per column.

Layout (rows x columns): row r has word line `wl_r<r>`, driven from the left end; column
c has the bit lines `bl_c<c>`, `blb_c<c>` and the source line `sl_c<c>`, which run from
the column's PCSA (below row 0) up to the last row. Every wire is an RC ladder with one
resistor and one capacitor per cell pitch (`WireParasitics`); node `bl_c<c>_r<r>` is the
bit line at the cell of row r, `bl_c<c>_sa` its end at the sense amplifier.

Two read cycles per read row (the first conditions the bit lines, the second is measured: `CYCLES_PER_ROW`) (the `ReadTiming` phases of `circuitkit.netlist.pcsa`): read i
raises only the word line of `read_rows[i]` (all rows by default), every column's PCSA
senses its cell in that row.

Bit-line precharge. The PCSA alone precharges its inputs through its latch NMOS (source
followers from Q/Qb). That is enough for one cell's few fF, not for a column of 64+ cells:
at 64 rows the bit lines were still recharging (from the previous evaluation's discharge)
when the next word line rose, Q/Qb had not returned to VDD (the 0.5 um precharge PMOS fed
the bit lines through the latch), and each read started from its predecessor's state: the
first read of a deck (precharged at t = 0 by the DC operating point) sensed in 24 ps with
1.06 V of margin, every later one in 114 ps with 0.37 V, whichever row it read, with ideal
wires and at reltol 1e-3 or 1e-4 alike (64 x 2, tt 1.8 V). So every column has its own
precharge (`bl_precharge`): PMOS switches from the precharge level `vblpre` to BL and BLb
and an equaliser between them, `m_blpre` devices in parallel (default one per 8 rows: the
switch's RC follows the column's load), on while `preb_bl` is low, i.e. until the word
line rises (the word-line lead then develops the signal on floating bit lines, as in the
single-cell bench). `vblpre` is the level the PCSA's own follower gives its inputs (a
replica of the latch NMOS, gate and drain at VDD, biased at `i_blpre` and buffered), so a
read starts from the state of the DC operating point's first read, every time. Each
measured read records the far end of the last column's bit lines as the precharge switches
start to open (`ArrayRead.precharge_error_v`: how far from `vblpre` the precharge left
them; the switches' gate edge then kicks both bit lines alike by some tens of mV). With a
complete precharge the bit-line capacitance sets the sensing delay (64 rows: ~0.2 ns,
128 rows: ~0.57 ns at 1.8 V): `array_timing` measures it and places the margin time and
the evaluation like `ReadTiming.for_supply` does for one cell. A chip-size array reads a chosen set of rows (e.g. first,
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
import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.netlist import common as c
from circuitkit.netlist import pcsa
from circuitkit.netlist.bench import Bench
from circuitkit.operating import Corner, OperatingPoint
from circuitkit.spice.binning import FetSizes
from circuitkit.netlist.readout import cycle_start, energy_measure, read_measures, unit_read
from circuitkit.spice.runner import SimResult

MAX_CELLS = 128 * 128
# A read's margin depends on the cycle before it: the PCSA recharges the bit lines through
# its latch transistors (a source follower that never quite finishes in t_pre), so with
# ideal wires the first read after t = 0 measured 16 % less margin than later ones and
# reads after different rows differed by 0.5 %. Every read row is therefore read twice in
# a row and measured on the second read: each measurement has the same history (itself).
# At 64 rows and more that was not enough by itself (the first read of a deck sensed in 24 ps,
# every later one in 114 ps): the cause was the bit-line precharge (module docstring), fixed
# by the columns' own precharge; the conditioning read stays for the source lines' history.
CYCLES_PER_ROW = 2
ROWS_PER_PRECHARGE_DEVICE = 8
# The tighter transient tolerance of resistive-wire decks (`ArrayReadBench` doc): its `options`.
ARRAY_RELTOL = {"reltol": 1e-4}


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

    ngspice's transient tolerance is one of the bench's `options` (`ARRAY_RELTOL`: with
    resistive word lines some decks, 16 x 16 at 50 ohm/pitch, 64 x 64 at metal 1's 0.89,
    stopped at a word-line edge with "timestep too small" at ngspice's default 1e-3 and ran
    at 1e-4, about 3x the CPU time).

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
    # Bit-line precharge switches per column (None: one per `ROWS_PER_PRECHARGE_DEVICE` rows)
    # and the bias current of the precharge level's replica follower (A).
    bl_precharge_devices: int | None = None
    i_blpre: float = 1e-9

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "weights", _check_weights(self.weights))
        if self.bl_precharge_devices is None:
            object.__setattr__(self, "bl_precharge_devices", -(-self.rows // ROWS_PER_PRECHARGE_DEVICE))
        if isinstance(self.bl_precharge_devices, bool) or not isinstance(self.bl_precharge_devices, int) \
                or self.bl_precharge_devices < 1:
            raise CircuitkitError(f"array: bl_precharge_devices={self.bl_precharge_devices!r}: expected a positive integer")
        if not self.i_blpre > 0:
            raise CircuitkitError(f"array: i_blpre={self.i_blpre!r}: expected a bias current > 0 A")
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
        return bl_precharge_subckt() + [""] + (pcsa.xnor_subckt() + [""] if self.xnor else [])

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
            extra_params=[("reads", reads, "read cycles, one per read row"),
                          ("m_blpre", self.bl_precharge_devices, "bit-line precharge switches per bit line"),
                          ("i_blpre", self.i_blpre, "bias of the precharge level's replica follower (A)")],
            extra_subckts=self._extra_subckts())
        lines += pcsa.clock_lines(word_line=False)
        # (released one edge before the word line rises: a release on the word line's edge stopped
        # ngspice there with "timestep too small", 32 x 32 at 50 ohm/pitch)
        lines += ["* bit-line precharge: on (low) until just before the word line rises, off with preb",
                  "Vpreb_bl preb_bl 0 PULSE(0 {vdd} {t_pre-t_wl_lead-t_edge} {t_edge} {t_edge} "
                  "{t_eval+t_wl_lead-t_edge} {t_period})"]
        lines.append("Vdd vdd 0 {vdd}")
        lines += c.section("bit-line precharge level: a replica of the PCSA's latch NMOS follower, buffered")
        lines += [str(c.fet_line("MREP", "vdd", "vdd", "blpre_rep", "0", "n", "w_ln")),
                  "Irep blpre_rep 0 {i_blpre}",
                  "Eblpre vblpre 0 blpre_rep 0 1"]
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
            lines.append(f"Xpre_c{k} vdd preb_bl vblpre bl_c{k}_sa blb_c{k}_sa bl_precharge")
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
            precharged = f"{{{cycle_start(cycle)}-t_wl_lead-t_edge}}"   # as the switches start to open
            for wire in ("bl", "blb"):
                lines.append(f".meas tran pre_{wire}_r{r} find v({wire}_c{cols - 1}_r{rows - 1}) at={precharged}")
        lines.append(".meas tran v_blpre find v(vblpre) at={t_pre}")
        lines += c.section("analysis")
        saves = ["v(preb)", "v(se)", "i(vdd)"] + [f"v(wl_r{r}_c{cols - 1})" for r in read_rows]
        saves += [f"v({node}_c{k})" for k in range(cols) for node in ("q", "qb")]
        saves += ["v(vblpre)", f"v(bl_c{cols - 1}_r{rows - 1})", f"v(blb_c{cols - 1}_r{rows - 1})"]
        lines += c.wrap_words(".save", saves)
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


def bl_precharge_subckt() -> list[str]:
    """A column's bit-line precharge: BL and BLb switched to the level `vpre`, and equalised,
    while `preb_bl` is low (precharge-PMOS size, `m_blpre` in parallel)."""
    return [
        "* bit-line precharge of one column: bl, blb to vpre and to each other while preb_bl = 0",
        ".subckt bl_precharge vdd preb_bl vpre bl blb",
        c.fet_line("MPBL", "bl", "preb_bl", "vpre", "vdd", "p", "w_pre", multiplier="m_blpre"),
        c.fet_line("MPBLB", "blb", "preb_bl", "vpre", "vdd", "p", "w_pre", multiplier="m_blpre"),
        c.fet_line("MEQ", "bl", "preb_bl", "blb", "vdd", "p", "w_pre", multiplier="m_blpre"),
        ".ends bl_precharge",
    ]


@functools.cache
def array_timing(rows: int, vdd: float = 1.8, t_precharge: float = 1e-9) -> pcsa.ReadTiming:
    """Read timing for a column of `rows` cells: like `ReadTiming.for_supply` for one cell,
    the margin is taken at 1.5x and the evaluation lasts at least 6x the column's nominal
    sensing delay, measured here (ngspice, rows x 2 checkerboard, ideal wires, tt, 27 C,
    default sizing and states, the first and last row, the slower of the two): with the
    bit lines fully precharged their capacitance sets the delay (about 0.2 ns at 64 rows,
    0.57 ns at 128, 1.8 V). Cached per process."""
    probe = pcsa.ReadTiming(t_precharge=t_precharge, t_evaluate=8e-9, t_margin=1e-9)
    bench = ArrayReadBench(weight_pattern(rows, 2), timing=probe, point=OperatingPoint(Corner.TT, vdd, 27.0),
                           wires=WireParasitics(r_bitline=0.0, r_wordline=0.0),
                           read_rows=tuple(sorted({0, rows - 1})), options=ARRAY_RELTOL)
    read = bench.simulate(name=f"array_timing_{rows}")
    if read.errors or not np.all(np.isfinite(read.delay_s)):
        raise CircuitkitError(f"array_timing: a {rows}-row column does not resolve a nominal read at {vdd:g} V "
                              f"within {probe.t_evaluate:g} s:\n{read.table()}")
    delay = float(np.max(read.delay_s))
    return pcsa.ReadTiming(t_precharge=t_precharge, t_evaluate=max(pcsa.ReadTiming.t_evaluate, 6 * delay),
                           t_margin=1.5 * delay)


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
    # per read row: the largest |V - vblpre| of the far end of the last column's BL and BLb
    # as the precharge switches start to open (how incomplete the precharge was); NaN if not measured
    precharge_error_v: np.ndarray | None = None

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
        precharge_error_v=np.array([max(abs(result.measures.get(f"pre_{wire}_r{r}", math.nan)
                                            - result.measures.get("v_blpre", math.nan)) for wire in ("bl", "blb"))
                                    for r in read_rows]),
    )
