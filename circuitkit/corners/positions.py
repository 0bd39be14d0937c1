"""Read margin and misread probability by position in a chip-size 2T2R array, in ngspice.

`array_position_reads` reads the chosen rows (default first, middle, last) of a
rows x columns array with one PCSA per column twice: with the layout's wires
(`netlist.wires.WireGeometry(...).parasitics()` or any `WireParasitics`) and with ideal
wires (zero resistance, same capacitance, same read schedule), in one ngspice deck each.
`array_position_rates` turns the two into a `position_rates.PositionRates` table with the
offset method (see that module for the model), which `inject.placement.PositionErrors`
places on network weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from circuitkit.netlist.arrays import ArrayRead, ArrayReadBench, WireParasitics, weight_pattern
from circuitkit.position_rates import PositionRates, position_rates
from circuitkit.sense_offset import OffsetFit


def default_read_rows(rows: int) -> tuple[int, ...]:
    """First, middle and last row."""
    return tuple(sorted({0, rows // 2, rows - 1}))


def array_position_reads(rows: int, columns: int, wires: WireParasitics, *, read_rows: Sequence[int] | None = None,
                         pattern: str = "checkerboard", seed: int = 0, **bench_fields) -> tuple[ArrayRead, ArrayRead]:
    """(read with `wires`, read with ideal wires) of the rows `read_rows`; `bench_fields`
    go to `ArrayReadBench` (point, timing, states, inputs ...)."""
    weights = weight_pattern(rows, columns, pattern, seed=seed)
    read_rows = default_read_rows(rows) if read_rows is None else tuple(read_rows)
    ideal = dataclasses.replace(wires, r_bitline=0.0, r_wordline=0.0)
    return tuple(ArrayReadBench(weights, wires=w, read_rows=read_rows, **bench_fields).simulate(name=f"array_{label}")
                 for w, label in ((wires, "wires"), (ideal, "ideal")))


def array_position_rates(read: ArrayRead, ideal: ArrayRead, array_shape: tuple[int, int], fit: OffsetFit,
                         states) -> PositionRates:
    """The position-rate table of two `array_position_reads` results."""
    return position_rates(read.margin_v, ideal.margin_v, read.rows, array_shape, fit, states)
