"""Monte Carlo read samples per second: the campaign engine against the naive way.

Naive: one PySpice circuit (a single 2T2R + PCSA read unit) built and simulated per
sample, sequentially, in-process (PySpice shared ngspice).
circuitkit: many read units per ngspice run (`--batch-size`), a process pool of workers.
Both are measured here, in the same run, on the same condition and device spread.

    .venv/bin/python bench/bench_corners.py [--naive-samples 8] [--samples 256] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from circuitkit.corners.campaign import CampaignConfig, run_campaign
from circuitkit.corners.reads import PcsaReadSimulator, read_bench
from circuitkit.device.nonideality import DeviceNonideality
from circuitkit.operating import OperatingPoint
from circuitkit.spice.runner import SharedSession


def naive(samples: int) -> float:
    """Samples per second, one in-process PySpice simulation per sample."""
    session = SharedSession.get()
    rng = np.random.default_rng(0)
    point = OperatingPoint("tt", 1.8, 27.0)
    spread = DeviceNonideality()
    started = time.perf_counter()
    for index in range(samples):
        resistances = spread.draw(rng, +1, 1)
        bench = read_bench(point, "binary", resistances, spice_seed=index + 1)
        bench.measure(session.run(bench.to_netlist()))
    return samples / (time.perf_counter() - started)


def batched(samples: int, workers: int, batch_size: int) -> float:
    config = CampaignConfig(corners=("tt",), vdd=(1.8,), samples=samples // 2, batch_size=batch_size, seed=1)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        run_campaign(config, out, simulator=PcsaReadSimulator(), workers=workers, progress=False)
        return samples / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--naive-samples", type=int, default=8)
    parser.add_argument("--samples", type=int, default=256, help="total reads (both stored values)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    baseline = naive(args.naive_samples)
    print(f"naive (one PySpice circuit per sample, sequential): {baseline:8.2f} samples/s ({args.naive_samples} samples)")
    single = batched(args.samples, 1, args.batch_size)
    print(f"circuitkit, batch {args.batch_size}, 1 worker:          {single:8.2f} samples/s ({args.samples} samples)"
          f"  x{single / baseline:.1f}")
    pooled = batched(args.samples, args.workers, args.batch_size)
    print(f"circuitkit, batch {args.batch_size}, {args.workers} workers:         {pooled:8.2f} samples/s ({args.samples} samples)"
          f"  x{pooled / baseline:.1f} vs naive (target >= 8)")


if __name__ == "__main__":
    main()
