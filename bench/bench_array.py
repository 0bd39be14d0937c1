"""Chip-size 2T2R arrays read in ngspice: time per read and the read margin by position
(prints figures, never fails on time).

    .venv/bin/python bench/bench_array.py [--sizes 32x32,64x64,128x64] [--width-um 0.14]
                                          [--wordline-width-um 0.14] [--reltol 1e-4]
                                          [--offset-campaign DIR] [--out DIR]

For each size: the column's read timing (`netlist.arrays.array_timing`: margin at 1.5x the
sensing delay of a fully precharged column, measured once per size, time printed), then one
deck reads the first, middle and last row (each twice, the second read
measured: `netlist.arrays.CYCLES_PER_ROW`) for all columns with the wires of
`WireGeometry(bitline_width_um=..., wordline_width_um=...)` (sky130 metal 1, 1 um pitch:
0.89 ohm and 0.2 fF per pitch at the minimum width), then the same deck with ideal wires.
Printed: ngspice wall and CPU time per deck, per read cycle and per measured cell read;
the margin (mV) and sensing delay (ps) at the first/middle/last column of each read row,
their loss against ideal wires, how far from its level the precharge left the bit lines,
and, with `--offset-campaign DIR` (a campaign run with `circuitkit ber --method offset` at
tt 1.8 V 27 C), the misread probability P(read -1 | stored +1) by position from the offset
method with that campaign's fitted offset and device states; the table is written to
`--out DIR/positions_<rows>x<columns>.csv` (for `circuitkit inject --position-table`).

    .venv/bin/circuitkit ber --method offset --corners tt --vdd 1.8 --temp-c 27 --samples 64 -o out/offset
    .venv/bin/python bench/bench_array.py --sizes 64x64,128x64 --offset-campaign out/offset --out out/positions
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.corners.positions import campaign_position_rates, default_read_rows
from circuitkit.netlist.arrays import CYCLES_PER_ROW, ArrayReadBench, array_timing, weight_pattern
from circuitkit.netlist.wires import WireGeometry
from circuitkit.spice.runner import SimulationError, run_batch


def child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_reads(benches: dict[str, ArrayReadBench], name: str, timeout: float):
    """Each deck in its own ngspice, at the same time (threads waiting on subprocesses):
    {label: read or the SimulationError}, wall time, CPU time of all of them together."""
    wall, cpu = time.perf_counter(), child_cpu_s()

    def one(label: str):
        try:
            return benches[label].measure(run_batch(benches[label].to_netlist(), name=f"{name}_{label}",
                                                    timeout=timeout))
        except SimulationError as error:
            return error

    with ThreadPoolExecutor(max_workers=len(benches)) as pool:
        reads = dict(zip(benches, pool.map(one, benches)))
    return reads, time.perf_counter() - wall, child_cpu_s() - cpu


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="32x32,64x64,128x64")
    parser.add_argument("--width-um", type=float, default=0.14, help="drawn width of the bit and source lines (um)")
    parser.add_argument("--wordline-width-um", type=float, default=0.14, help="drawn width of the word lines (um)")
    parser.add_argument("--offset-campaign", type=Path, metavar="DIR",
                        help="campaign run with --method offset at tt 1.8 V 27 C: its offset fit makes the rate table")
    parser.add_argument("--out", type=Path, default=Path("out/positions"), metavar="DIR",
                        help="where the position-rate tables go (default out/positions)")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the ideal-wire deck (time and margins only; no loss or misread probability)")
    parser.add_argument("--reltol", type=float, default=1e-4, help="ngspice reltol (ArrayReadBench options)")
    parser.add_argument("--read-rows", choices=("first-middle-last", "first-last"), default="first-middle-last",
                        help="rows each deck reads (first-last: two thirds of the time; the table interpolates)")
    parser.add_argument("--timeout", type=float, default=4 * 3600.0, help="seconds per ngspice deck (default 4 h)")
    args = parser.parse_args(argv)
    geometry = WireGeometry(bitline_width_um=args.width_um, wordline_width_um=args.wordline_width_um)
    wires = geometry.parasitics()
    ideal = dataclasses.replace(wires, r_bitline=0.0, r_wordline=0.0)
    print(f"wires: {wires.r_bitline:.3g} ohm and {wires.c_bitline * 1e15:.3g} fF per pitch "
          f"(bit line width {args.width_um} um, {geometry.sheet_ohm} ohm/sq), word line {wires.r_wordline:.3g} ohm/pitch; ideal reference: 0 ohm, same C")
    for size in args.sizes.split(","):
        rows, columns = (int(v) for v in size.lower().split("x"))
        read_rows = default_read_rows(rows) if args.read_rows == "first-middle-last" else (0, rows - 1)
        weights = weight_pattern(rows, columns, "checkerboard")
        wall, cpu = time.perf_counter(), child_cpu_s()
        timing = array_timing(rows)
        print(f"{rows:4d} rows: sensing delay {timing.t_margin / 1.5 * 1e12:.0f} ps -> margin at {timing.t_margin * 1e12:.0f} ps, "
              f"evaluation {timing.t_evaluate * 1e9:.2f} ns (calibration {time.perf_counter() - wall:.1f} s wall, "
              f"{child_cpu_s() - cpu:.1f} s CPU)")
        benches = {label: ArrayReadBench(weights, wires=w, read_rows=read_rows, options={"reltol": args.reltol},
                                          timing=timing)
                   for label, w in (("wires", wires),) + (() if args.no_reference else (("ideal", ideal),))}
        outcomes, wall, cpu = timed_reads(benches, f"array_{rows}x{columns}", args.timeout)
        cycles = CYCLES_PER_ROW * len(read_rows) * len(benches)
        cells = len(read_rows) * columns * len(benches)
        print(f"{rows:4d} x {columns:<4d}: {len(benches)} decks at once: ngspice {wall:6.1f} s wall, {cpu:6.1f} s CPU "
              f"together; {cpu / cycles:6.2f} s CPU per read cycle ({columns} columns), "
              f"{cpu / cells * 1e3:6.1f} ms CPU per measured cell read")
        reads = {}
        for label, outcome in outcomes.items():
            if isinstance(outcome, SimulationError):
                print(f"{rows:4d} x {columns:<4d} {label:5s}: ngspice failed: {outcome}")
            else:
                reads[label] = outcome
                print(f"{rows:4d} x {columns:<4d} {label:5s}: errors {outcome.errors} of {outcome.values.size} reads")
        if len(reads) < 2:
            for label, read in reads.items():
                for i, r in enumerate(read.rows):
                    print(f"    {label} row {r:3d}: " + "  ".join(f"c{k}: {read.margin_v[i, k] * 1e3:6.1f} mV, "
                                                                f"{read.delay_s[i, k] * 1e12:5.1f} ps"
                                                                for k in sorted({0, columns // 2, columns - 1})))
            continue
        read, reference = reads["wires"], reads["ideal"]
        picked = sorted({0, columns // 2, columns - 1})
        table = None
        if args.offset_campaign is None:
            print("    no position table: no --offset-campaign (the rates need a measured offset)")
        else:
            try:
                table = campaign_position_rates(read, reference, (rows, columns), args.offset_campaign,
                                                ArrayReadBench(weights).point)
            except CircuitkitError as error:   # e.g. a read failed even with ideal wires: margins only
                print(f"    no position table: {error}")
        for i, r in enumerate(read.rows):
            cells = "  ".join(
                f"c{k}: {read.margin_v[i, k] * 1e3:6.1f} mV (-{(reference.margin_v[i, k] - read.margin_v[i, k]) * 1e3:4.1f}),"
                f" {read.delay_s[i, k] * 1e12:5.1f} ps" + (f", P {table.p_plus[i, k, 0]:.3g}" if table else "")
                for k in picked)
            print(f"    row {r:3d}: {cells}; misread {int(np.sum(read.values[i] != read.expected[i]))} of {columns}; "
                  f"precharge left {read.precharge_error_v[i] * 1e3:.1f} mV")
        if table:
            ideal_table = campaign_position_rates(reference, reference, (rows, columns), args.offset_campaign,
                                                  ArrayReadBench(weights).point)
            args.out.mkdir(parents=True, exist_ok=True)
            path = table.write_csv(args.out / f"positions_{rows}x{columns}.csv")
            print(f"    array mean misread probability (rows interpolated): {table.mean_error_rate:.3g}; "
                  f"ideal wires would give {ideal_table.mean_error_rate:.3g}; offset: {table.offset}; wrote {path}")

if __name__ == "__main__":
    main()
