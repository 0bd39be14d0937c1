"""Benchmark and validation of multi-level write-verify (prints figures, never fails on time).

    .venv/bin/python bench/bench_mlc.py [throughput|compare|schemes|all]

throughput: write-verify Monte Carlo cells per second, the vectorized loop (all cells of a
    batch step together) against the same engine programming one cell at a time, in the
    same run (the same cells, the same scheme, the campaigns' measured read noise);
compare:    32 levels x 256 cells by the real run's scheme (dual-direction) beside the two
    bundled real 32-level runs: in-band fractions, distinguishable levels (chain and
    adjacent pairs), the confusion tables, also with a quarter of the measured read noise
    (a what-if: how much of the later-read spread the read itself makes);
schemes:    ISPP, dual-direction, fixed word line for 8, 16 and 32 levels: in band at the
    last verify (95 % interval), pulses, energy per cell, later-read level errors, and a
    verify-tolerance sweep.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from circuitkit.device.pulse import PulseModel
from circuitkit.mlc import LevelMap, ProgrammingEngine, scheme_by_name, write_verify
from circuitkit.mlc.campaign import MlcConfig, default_cards, run_mlc_campaign
from circuitkit.mlc.compare import compare
from circuitkit.mlc.engine import with_measured_read_noise
from circuitkit.stats import binomial_interval


def throughput() -> None:
    pulse_card, start_card = default_cards()
    # the model campaigns program with: verify reads carry the measured read noise, which sets the pulse count
    model, _ = with_measured_read_noise(PulseModel.from_card(pulse_card))
    levels = LevelMap(32)
    scheme = scheme_by_name("dual-direction", model, levels)
    engine = ProgrammingEngine.for_scheme(model, scheme)
    cells = 8192
    target = np.arange(cells) % 32
    r0 = start_card.distribution("HRS").sample(np.random.default_rng(0), cells)
    started = time.perf_counter()
    result = write_verify(engine, scheme, levels, target, r0, np.random.default_rng(1))
    vectorized = time.perf_counter() - started
    subset = 64
    started = time.perf_counter()
    loop = [write_verify(engine, scheme, levels, target[i:i + 1], r0[i:i + 1], np.random.default_rng(100 + i))
            for i in range(subset)]
    naive = (time.perf_counter() - started) / subset
    print(f"write-verify, 32 levels, dual-direction, {cells} cells: {vectorized:.2f} s, "
          f"{cells / vectorized:,.0f} cells/s ({result.pulses.sum():,} pulses, {result.pulses.sum() / vectorized:,.0f} "
          f"pulses/s)")
    print(f"one cell at a time ({subset} cells): {1 / naive:,.0f} cells/s; vectorized / loop = "
          f"{cells / vectorized * naive:.0f}x (mean pulses per cell {result.pulses.mean():.1f} vs "
          f"{np.mean([r.pulses[0] for r in loop]):.1f})")


def comparison() -> None:
    for scale in (1.0, 0.25):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            campaign = run_mlc_campaign(MlcConfig(cells_per_level=256, read_noise_scale=scale), Path(tmp), log=None)
            summary = compare(campaign, Path(tmp))
            elapsed = time.perf_counter() - started
        print(f"\n32 levels, dual-direction, {len(campaign.result)} cells, read noise x {scale:g} ({elapsed:.1f} s); "
              f"threshold {summary['threshold']:g}; drift: {summary['drift'][:60]}...")
        if scale == 1.0:  # what every figure below assumed, once
            print(f"  card: {campaign.summary['pulse_card']}; rate spread: {campaign.summary['rate_split']}")
            print(f"  reads: {campaign.summary['read_noise']}")
        success = campaign.summary["success"]
        print(f"  in band at the last verify: {success['fraction']:.1%} [{success['ci_low']:.1%}, "
              f"{success['ci_high']:.1%}], {campaign.summary['pulses_mean']:.1f} pulses/cell, "
              f"{campaign.summary['pulse_energy_j_mean'] * 1e12:.0f} pJ/cell")
        for name, entry in summary["populations"].items():
            if scale != 1.0 and name.startswith("measured"):
                continue
            count = int(round(entry["in_band_fraction"] * entry["cells"]))
            band = binomial_interval(count, entry["cells"])
            print(f"  {name:28s} {entry['cells']:5d} cells: later read in band {band.estimate:.1%} "
                  f"[{band.low:.1%}, {band.high:.1%}], mean adjacent confusion {entry['mean_adjacent_confusion']:.3f}, "
                  f"distinguishable levels {entry['distinguishable_levels']} (chain {entry['chain']}), adjacent "
                  f"pairs {entry['adjacent_pairs_distinguishable']}/31")


def schemes() -> None:
    print("\nscheme         levels  in band at verify [95 % CI]   pulses  SET/RESET   pJ/cell  later-read level errors")
    for name in ("ispp", "dual-direction", "fixed-wl"):
        for levels in (8, 16, 32):
            with tempfile.TemporaryDirectory() as tmp:
                campaign = run_mlc_campaign(MlcConfig(levels=levels, scheme=name, cells_per_level=2048 // levels),
                                            Path(tmp), log=None)
            s = campaign.summary
            result = campaign.result
            errors = s["level_error_rate"]
            print(f"{name:14s} {levels:6d}  {s['success']['fraction']:6.1%} [{s['success']['ci_low']:.1%}, "
                  f"{s['success']['ci_high']:.1%}]  {s['pulses_mean']:6.1f}  {result.set_pulses.mean():4.1f}/"
                  f"{result.reset_pulses.mean():4.1f}  {s['pulse_energy_j_mean'] * 1e12:8.0f}  "
                  f"{errors['fraction']:.1%} [{errors['ci_low']:.1%}, {errors['ci_high']:.1%}]")
    print("\nverify tolerance sweep (8 levels, dual-direction): tolerance -> later-read level errors, pulses")
    for tolerance in (None, 6e-6, 4e-6, 2e-6, 1e-6):
        with tempfile.TemporaryDirectory() as tmp:
            campaign = run_mlc_campaign(MlcConfig(levels=8, tolerance=tolerance, cells_per_level=256), Path(tmp),
                                        log=None)
        errors = campaign.summary["level_error_rate"]
        label = "band (8 uS)" if tolerance is None else f"{tolerance * 1e6:g} uS"
        print(f"  {label:12s} {errors['fraction']:.1%} [{errors['ci_low']:.1%}, {errors['ci_high']:.1%}], "
              f"{campaign.summary['pulses_mean']:.1f} pulses, in band at verify {campaign.summary['success']['fraction']:.1%}")


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "all"
    if what in ("throughput", "all"):
        throughput()
    if what in ("compare", "all"):
        comparison()
    if what in ("schemes", "all"):
        schemes()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
