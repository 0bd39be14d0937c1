"""Read margin and misread probability by position in a chip-size 2T2R array, in ngspice.

`array_position_reads` reads the chosen rows (default first, middle, last) of a
rows x columns array with one PCSA per column twice: with the layout's wires
(`netlist.wires.WireGeometry(...).parasitics()` or any `WireParasitics`) and with ideal
wires (zero resistance, same capacitance, same read schedule), in one ngspice deck each.
`campaign_position_rates` turns the two into a `position_rates.PositionRates` table with the
offset method (see that module for the model) and the sense-amplifier offset a campaign
measured at the array's condition (`circuitkit ber --method offset`), which
`inject.placement.PositionErrors` (`circuitkit inject --position-table`) places on network
weights. Without a `timing`, the reads use `netlist.arrays.array_timing(rows, vdd)`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from circuitkit import CircuitkitError
from circuitkit.ber_table import Condition
from circuitkit.device.nonideality import DeviceNonideality
from circuitkit.netlist.arrays import ArrayRead, ArrayReadBench, WireParasitics, array_timing, weight_pattern
from circuitkit.operating import OperatingPoint
from circuitkit.position_rates import PositionRates, campaign_offset_fits, describe_offset, position_rates
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
    if "timing" not in bench_fields:
        point = bench_fields.get("point")
        bench_fields["timing"] = array_timing(rows, *(() if point is None else (point.vdd,)))
    ideal = dataclasses.replace(wires, r_bitline=0.0, r_wordline=0.0)
    return tuple(ArrayReadBench(weights, wires=w, read_rows=read_rows, **bench_fields).simulate(name=f"array_{label}")
                 for w, label in ((wires, "wires"), (ideal, "ideal")))


def array_position_rates(read: ArrayRead, ideal: ArrayRead, array_shape: tuple[int, int], fit: OffsetFit,
                         states, offset: str = "") -> PositionRates:
    """The position-rate table of two `array_position_reads` results with a given offset
    fit (`offset` says which; `campaign_position_rates` takes a campaign's)."""
    return position_rates(read.margin_v, ideal.margin_v, read.rows, array_shape, fit, states, offset)


def campaign_position_rates(read: ArrayRead, ideal: ArrayRead, array_shape: tuple[int, int], campaign: Path | str,
                            point: OperatingPoint) -> PositionRates:
    """The position-rate table with the offset fit and device states that the campaign in
    directory `campaign` (run with `--method offset`) measured at `point` (binary reads)."""
    path = Path(campaign) / "campaign.json"
    fits, device_settings = campaign_offset_fits(path)
    condition = Condition.at(point, "binary")
    fit = fits.get(condition)
    if fit is None:
        raise CircuitkitError(f"{path}: no offset fit at {condition.label()} (the array's condition); it has "
                              + "; ".join(c.label() for c in fits))
    device = DeviceNonideality.from_dict(device_settings)
    states = device.states
    source = getattr(states, "source", "") or "not stated"
    offset = describe_offset(fit, f"campaign {Path(campaign).name}, {condition.label()}") + (
        f"; device states from that campaign: {states.numbers()} ({source})")
    return array_position_rates(read, ideal, array_shape, fit, device, offset)
