"""Benchmark of programming in ngspice (prints figures, never fails on time).

    .venv/bin/python bench/bench_program.py [throughput|grid|all]

throughput: program-and-verify Monte Carlo cells per second (the bundled real card, SET from
    the fitted HRS, compliance ladder with verify), batched (`--batch` cells per ngspice deck,
    one deck per pulse step over the unverified cells) against the baseline of one cell per
    deck, in the same run on the same cells;
grid:       the wall time of the demo's trade-off grid (`flow.demo.demo_flow`'s [program]:
    programming, the PCSA offset fit, the 2T2R read campaigns, the networks' accuracy) from
    an empty directory, and its table.
"""

from __future__ import annotations

import sys
import tempfile
import time

import numpy as np

from circuitkit.device.pulse import PulseModel
from circuitkit.mlc.campaign import default_cards
from circuitkit.netlist.programming import ProgrammingPulse
from circuitkit.program.verify import VerifyScheme, program_and_verify

SCHEME = VerifyScheme(ProgrammingPulse("set", 1.0, 2.0, 1e-6), 20e3, max_pulses=6, step_v_wl=0.1)


def throughput(cells: int = 256, batch: int = 128, baseline_cells: int = 16) -> None:
    pulse_card, start_card = default_cards()
    model = PulseModel.from_card(pulse_card)
    start = start_card.distribution("HRS").sample(np.random.default_rng(1), cells)
    started = time.perf_counter()
    outcomes = [program_and_verify(model, SCHEME, start[s:s + batch], np.random.default_rng(2 + s))
                for s in range(0, cells, batch)]
    batched = time.perf_counter() - started
    pulses = sum(int(o.pulses.sum()) for o in outcomes)
    started = time.perf_counter()
    for k in range(baseline_cells):
        program_and_verify(model, SCHEME, start[k:k + 1], np.random.default_rng(2 + k))
    single = time.perf_counter() - started
    rate, base = cells / batched, baseline_cells / single
    print(f"program-and-verify in ngspice, {SCHEME.describe()}")
    print(f"  batched ({batch} cells per deck): {cells} cells, {pulses} pulses in {batched:.1f} s = {rate:.1f} cells/s, "
          f"{pulses / batched:.1f} pulses/s")
    print(f"  baseline (1 cell per deck):      {baseline_cells} cells in {single:.1f} s = {base:.2f} cells/s")
    print(f"  ratio: x{rate / base:.1f}")


def grid() -> None:
    from circuitkit.flow.demo import demo_flow
    from circuitkit.program.tradeoff import run_tradeoff

    config = demo_flow("unused").program
    with tempfile.TemporaryDirectory(prefix="bench-program-") as tmp:
        started = time.perf_counter()
        result = run_tradeoff(config, tmp, log=None)
        elapsed = time.perf_counter() - started
    print(f"demo trade-off grid: {len(result.rows) // 2} conditions x {config.cells} cells, {config.read_samples} "
          f"mc reads per stored weight and architecture, offset fit {config.offset_samples} per point: {elapsed:.1f} s")
    for row in result.rows:
        print(f"  {row['condition']:24s} {row['architecture']}: {row['energy_per_bit_j'] * 1e12:7.1f} pJ/bit, write "
              f"failures {row['write_failure']:.1%}, BER {row['ber']:.3g} [{row['ber_ci_low']:.3g}, "
              f"{row['ber_ci_high']:.3g}], mc {row['ber_mc']:.3g} [{row['ber_mc_ci_low']:.3g}, {row['ber_mc_ci_high']:.3g}] "
              f"of {row['ber_mc_reads']}")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("throughput", "all"):
        throughput()
    if what in ("grid", "all"):
        grid()
