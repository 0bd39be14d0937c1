"""An analog crossbar read in ngspice: input voltages on the rows, column currents into
virtual grounds, every wire segment a resistor, every cell the compiled RRAM model.

Layout (rows x cols, the same conventions as `netlist.arrays`): row i is driven from its
left end by an ideal source `Vin_r<i>` through one wire pitch, and runs past the cells of
columns 0 .. cols-1 (node `in_r<i>_c<j>`); column j is held at 0 V at its sense end
(below row 0) by `Vsense_c<j>`, an ideal transimpedance input whose current is the
column's output, and runs up past rows 0 .. rows-1 (node `out_c<j>_r<i>`). Cell (i, j)
is one `rram_hfox` device from `in_r<i>_c<j>` (top electrode) to `out_c<j>_r<i>`, with
the gap that gives its programmed read conductance at the card's read voltage. In a
1T1R array the access transistor is on during the read; the measured conductances the
levels come from were read through it, so the cell here is the RRAM alone carrying the
whole read conductance (no transistor added twice). Differential pairs are two columns
(`crossbar.mapping` decides which).

The wires are `WireParasitics` per cell pitch (`netlist.wires.WireGeometry` derives them
from a layout): rows use the word-line values, columns the bit-line values; their
capacitors are written too but do not enter the DC solution.

Analysis: one DC operating point per input vector, in one ngspice run (`alter` the row
sources between `op`s, print every column current with 12 digits). The RRAM state is
pinned at its `gap_init` in DC (see the .va), so a read never disturbs it.
`CrossbarReadBench.measure` returns a `CrossbarRead`: currents (vectors x cols).
`circuitkit.crossbar.solver` solves the same network vectorized; `tests/test_crossbar.py`
proves both agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.netlist import common as c
from circuitkit.netlist.arrays import WireParasitics, _ladder
from circuitkit.netlist.bench import Bench
from circuitkit.spice.runner import SimResult

MAX_CROSSBAR_CELLS = 16384
# Tight tolerances: the bench is the reference the vectorized solver is judged against.
PRECISE_OPTIONS = {"reltol": 1e-9, "abstol": 1e-18, "vntol": 1e-12, "gmin": 1e-18}


def _gap_text(gap: float) -> str:
    return f"{gap:.15g}"


@dataclasses.dataclass(frozen=True)
class CrossbarRead:
    """Column currents (A) into the virtual grounds, one row per input vector."""

    inputs: np.ndarray  # (vectors, rows) V
    currents: np.ndarray  # (vectors, cols) A


@dataclasses.dataclass(frozen=True)
class CrossbarReadBench(Bench[CrossbarRead]):
    """A rows x cols crossbar with conductances `conductance` (S, read at the card's read
    voltage), read with each input vector of `inputs` (V per row)."""

    kind = "crossbar"

    conductance: Any
    inputs: Any
    wires: WireParasitics = WireParasitics()

    def __post_init__(self) -> None:
        super().__post_init__()
        g = np.array(self.conductance, dtype=float, ndmin=2)
        x = np.array(self.inputs, dtype=float, ndmin=2)
        if g.ndim != 2 or g.size == 0 or g.size > MAX_CROSSBAR_CELLS:
            raise CircuitkitError(f"crossbar: conductance must be a rows x cols matrix of at most "
                                  f"{MAX_CROSSBAR_CELLS} cells, got shape {g.shape}")
        if not np.all(np.isfinite(g)) or np.any(g <= 0):
            raise CircuitkitError("crossbar: every conductance must be a finite number > 0 S")
        if x.shape[1] != g.shape[0] or not np.all(np.isfinite(x)):
            raise CircuitkitError(f"crossbar: inputs must be finite vectors of {g.shape[0]} row voltages, got "
                                  f"shape {x.shape}")
        g.flags.writeable = False
        x.flags.writeable = False
        object.__setattr__(self, "conductance", g)
        object.__setattr__(self, "inputs", x)
        if self.options is None:
            object.__setattr__(self, "options", dict(PRECISE_OPTIONS))

    @property
    def rows(self) -> int:
        return self.conductance.shape[0]

    @property
    def cols(self) -> int:
        return self.conductance.shape[1]

    def gaps(self) -> np.ndarray:
        """gap_init (m) of every cell: the gap whose read conductance is the programmed one."""
        return self.card.gap_for_resistance(1.0 / self.conductance)

    def header(self) -> dict[str, Any]:
        return {"kind": self.kind, "corner": self.point.corner.value, "vdd": self.point.vdd,
                "temp_c": self.point.temp_c, "rows": self.rows, "cols": self.cols,
                "vectors": int(self.inputs.shape[0]), "inputs": self.inputs.tolist()}

    def to_netlist(self) -> str:
        rows, cols = self.rows, self.cols
        title = f"{rows} x {cols} analog crossbar, DC read of {self.inputs.shape[0]} input vector(s), {self.label()}"
        lines = self.preamble(title, "circuitkit.netlist.crossbar, crossbar", [
            *self.wires.params(),
            *((f"vin_r{i}", repr(float(self.inputs[0, i])), "row input voltages (V) of the first vector" if i == 0 else "")
              for i in range(rows))])
        lines += c.section("row drivers and word (input) lines: driver at the left end, one resistor per pitch")
        for i in range(rows):
            lines.append(f"Vin_r{i} in_r{i}_drv 0 DC {{vin_r{i}}}")
            lines += _ladder(f"in_r{i}", f"in_r{i}_drv", [f"in_r{i}_c{j}" for j in range(cols)], "r_wl_pitch",
                             "c_wl_pitch")
        lines += c.section("bit (output) lines: virtual ground at the sense end below row 0, one resistor per pitch")
        for j in range(cols):
            lines.append(f"Vsense_c{j} out_c{j}_sa 0 0")
            lines += _ladder(f"out_c{j}", f"out_c{j}_sa", [f"out_c{j}_r{i}" for i in range(rows)], "r_bl_pitch",
                             "c_bl_pitch")
        lines += c.section("cells: one RRAM per crossing, gap_init from its programmed read conductance")
        gaps = self.gaps()
        for i in range(rows):
            for j in range(cols):
                lines.append(f"N_r{i}_c{j} in_r{i}_c{j} out_c{j}_r{i} rram "
                             f"{self.card.instance_parameters(gap_init=_gap_text(gaps[i, j]))}")
        lines += c.section("analysis: one operating point per input vector, column currents printed")
        lines += [".control", "set numdgt=12"]
        for v, vector in enumerate(self.inputs):
            if v:
                lines += [f"alter vin_r{i} dc = {float(vector[i])!r}" for i in range(rows)]
            lines.append("op")
            for j in range(cols):
                lines += [f"let i_v{v}_c{j} = i(vsense_c{j})", f"print i_v{v}_c{j}"]
        lines.append(".endc")
        return c.finish(lines)

    def measure(self, result: SimResult) -> CrossbarRead:
        return measure_crossbar(result, self.inputs, self.cols)


def measure_crossbar(result: SimResult, inputs: Sequence[Sequence[float]], cols: int) -> CrossbarRead:
    """Column currents (flowing from the array into each virtual ground) of every vector."""
    x = np.asarray(inputs, dtype=float)
    currents = np.array([[result.measure(f"i_v{v}_c{j}") for j in range(cols)] for v in range(x.shape[0])])
    return CrossbarRead(x, currents)
