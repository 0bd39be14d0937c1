"""Benchmark and validation of multi-level write-verify (prints figures, never fails on time).

    .venv/bin/python bench/bench_mlc.py [throughput|compare|schemes|misses|all]

throughput: write-verify Monte Carlo cells per second, the vectorized loop (all cells of a
    batch step together) against the same engine programming one cell at a time, in the
    same run (the same cells, the same scheme, the campaigns' measured read noise);
compare:    32 levels x 256 cells by the real run's scheme (dual-direction) beside the two
    bundled real 32-level runs: in-band fractions, distinguishable levels (chain and
    adjacent pairs), the confusion tables, also with a quarter of the measured read noise
    (a what-if: how much of the later-read spread the read itself makes);
schemes:    ISPP, dual-direction, fixed word line for 8, 16 and 32 levels: in band at the
    last verify (95 % interval), pulses, energy per cell, later-read level errors, and a
    verify-tolerance sweep;
misses:     which cells miss verify (by their own rate offset), ISPP and fixed word line
    with and without the cells' own offsets, and how much of a crossbar layer's programming
    error the missed cells carry.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from circuitkit.crossbar.layer import AnalogLinear, CrossbarConfig, Programmer
from circuitkit.device.pulse import PulseModel
from circuitkit.mlc import LevelMap, ProgrammingEngine, scheme_by_name, write_verify
from circuitkit.mlc.campaign import MlcConfig, default_cards, run_mlc_campaign
from circuitkit.mlc.compare import compare
from circuitkit.mlc.engine import with_measured_read_noise
from circuitkit.stats import binomial_interval


def _real_card_32_levels():
    """The bundled real card programmed as campaigns do (verify reads with the measured read
    noise, which sets the pulse count), 32 levels, dual-direction."""
    pulse_card, start_card = default_cards()
    model, _ = with_measured_read_noise(PulseModel.from_card(pulse_card))
    levels = LevelMap(32)
    scheme = scheme_by_name("dual-direction", model, levels)
    return model, levels, scheme, ProgrammingEngine.for_scheme(model, scheme), start_card


def throughput() -> None:
    model, levels, scheme, engine, start_card = _real_card_32_levels()
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


def misses_by_offset(cells: int = 8192) -> None:
    """Which cells miss verify: the miss fraction by the cell's own rate offset z (its ln
    rate scale is sigma_cell x z), with the offsets drawn here and handed to write-verify."""
    model, levels, scheme, engine, start_card = _real_card_32_levels()
    rng = np.random.default_rng(3)
    target = np.arange(cells) % 32
    r0 = start_card.distribution("HRS").sample(rng, cells)
    cell_z = model.draw_cell_z(cells, rng)
    result = write_verify(engine, scheme, levels, target, r0, rng, cell_z=cell_z)
    missed = ~result.success
    print(f"\nmissed verify, 32 levels, dual-direction, {cells} cells: {missed.mean():.1%} ({missed.sum()}; "
          f"{np.mean(result.pulses[missed] >= scheme.max_pulses):.0%} of them at the {scheme.max_pulses}-pulse budget, "
          f"the rest given up); by the cell's own SET rate offset z (SET ln rate scale {model.sigma_ln_rate_cell[0]:.3g} z; RESET has no cell part):")
    edges = (-np.inf, -2, -1, 0, 1, 2, np.inf)
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (cell_z >= low) & (cell_z < high)
        band = binomial_interval(int(missed[inside].sum()), int(inside.sum()))
        print(f"  z in [{low:g}, {high:g}): {inside.sum():5d} cells, missed {band.estimate:.1%} "
              f"[{band.low:.1%}, {band.high:.1%}]")


def schemes_without_the_split(cells: int = 2048) -> None:
    """ISPP and fixed word line, 32 levels, with the card's split (each cell keeps its own
    rate offset) and with all of the rate spread redrawn per pulse (the law before the split)."""
    model, levels, _, _, start_card = _real_card_32_levels()
    print(f"\n32 levels, {cells} cells: in band at the last verify, with and without each cell's own rate offset")
    for law, law_model in (("split", model), ("all per pulse", dataclasses.replace(model, sigma_ln_rate_pulse=None))):
        for name in ("ispp", "fixed-wl"):
            scheme = scheme_by_name(name, law_model, levels)
            rng = np.random.default_rng(7)
            target = np.arange(cells) % 32
            r0 = start_card.distribution("HRS").sample(rng, cells)
            result = write_verify(ProgrammingEngine.for_scheme(law_model, scheme), scheme, levels, target, r0, rng)
            band = binomial_interval(int(result.success.sum()), cells)
            print(f"  {law:13s} {name:8s} {band.estimate:.1%} [{band.low:.1%}, {band.high:.1%}], "
                  f"{result.pulses.mean():.0f} pulses per cell")


def crossbar_misses(chips: int = 3) -> None:
    """How much of a crossbar layer's programming error the cells that miss verify carry: a
    256 x 16 layer (weights N(0, 1), 32 levels) programmed on `chips` chips; the share of the
    squared weight error (programmed minus the target levels' weights) in the differential
    pairs that hold a missed cell."""
    config = CrossbarConfig()
    programmer = Programmer(config)
    weights = np.random.default_rng(0).normal(0.0, 1.0, (256, 16))
    levels = config.level_map
    print(f"\ncrossbar layer 256 x 16, {config.levels} levels, write-verify misses and the programming error:")
    for chip in range(chips):
        layer = AnalogLinear.program(weights, config, programmer, np.random.default_rng(10 + chip))
        pair_targets = levels.targets[layer.target].reshape(weights.shape[0], -1, 2)
        target_weights = (pair_targets[..., 0] - pair_targets[..., 1]) * layer.w_max / ((levels.levels - 1)
                                                                                         * levels.spacing)
        squared = (layer.effective_weights() - target_weights) ** 2
        missed_pair = (~layer.programming.success).reshape(weights.shape[0], -1, 2).any(axis=-1)
        missed_g = layer.conductance.ravel()[~layer.programming.success] * 1e6
        print(f"  chip {chip}: {np.mean(~layer.programming.success):.1%} of {layer.conductance.size:,} cells missed "
              f"verify (left at {np.quantile(missed_g, 0.1):.0f}-{np.quantile(missed_g, 0.9):.0f} uS, 10-90 %); the "
              f"{missed_pair.mean():.1%} of pairs holding one carry {squared[missed_pair].sum() / squared.sum():.1%} "
              f"of the squared weight error (rms {np.sqrt(squared.mean()):.3f} of w_max {layer.w_max:.2f})")


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
    if what in ("misses", "all"):
        misses_by_offset()
        schemes_without_the_split()
        crossbar_misses()
    if what in ("schemes", "all"):
        schemes()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
