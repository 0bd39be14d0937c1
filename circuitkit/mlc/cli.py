"""`circuitkit mlc`: multi-level write-verify Monte Carlo with the fitted pulse model, and
its comparison with the real 32-level runs.

    circuitkit mlc [--levels 32] [--scheme dual-direction|ispp|fixed-wl] [--tolerance-us T]
                   [--max-pulses 300] [--cells-per-level 256] [--seed 1] [--workers N]
                   [--pulse-card CARD] [--start-card CARD] [--drift-card CARD [--read-after 22.5min]]
                   [--threshold 0.05] [--no-compare] -o OUTDIR

Writes into OUTDIR: ber_table.csv (confusion, scheme mlc<N>), levels.csv, summary.json,
samples/ (checkpoints: rerun the same command to resume); for 32 levels over 0-128 uS also
measured_vs_simulated.csv, measured_ber_table.csv, comparison.json, mlc_levels.png
(probit) and mlc_confusion.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from circuitkit import CircuitkitError
from circuitkit.device.model import ModelCard
from circuitkit.device.relaxation import parse_duration
from circuitkit.mlc.analysis import DEFAULT_THRESHOLD
from circuitkit.mlc.campaign import MlcConfig, add_card_options, run_mlc_campaign
from circuitkit.mlc.levels import LevelMap
from circuitkit.mlc.measured import LEVELS, READ_AFTER_S
from circuitkit.mlc.schemes import SCHEMES


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mlc", help="multi-level 1T1R write-verify Monte Carlo: pulses, errors, confusion table, energy, "
                    "beside the real 32-level data",
        description="Program many cells to N conductance levels by closed-loop write-verify with the fitted "
                    "stochastic pulse model (per-pulse spread, read noise on every verify read); checkpointed and "
                    "resumable. For 32 levels over 0-128 uS the result is compared with the bundled real runs.")
    parser.add_argument("--levels", type=int, default=32, help="conductance levels N, 2 .. 64 (default 32)")
    parser.add_argument("--g-high-us", type=float, default=128.0, help="top of the conductance range in uS "
                        "(default 128, the real run's; bands of (g_high - g_low) / N)")
    parser.add_argument("--g-low-us", type=float, default=0.0, help="bottom of the range in uS (default 0)")
    parser.add_argument("--scheme", choices=SCHEMES, default="dual-direction",
                        help="write-verify scheme (default dual-direction, the real run's)")
    parser.add_argument("--tolerance-us", type=float, default=None,
                        help="verify acceptance: target +- this many uS (default: anywhere in the level's band)")
    parser.add_argument("--max-pulses", type=int, default=MlcConfig.max_pulses, help="pulse budget per cell")
    parser.add_argument("--cells-per-level", type=int, default=MlcConfig.cells_per_level)
    parser.add_argument("--batch-size", type=int, default=MlcConfig.batch_size, help="cells per checkpoint")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes for the batches (same results for any number; default 1)")
    parser.add_argument("--read-noise-scale", type=float, default=1.0,
                        help="multiply the read noise on every read (measured on the bundled read series; what-if; "
                        "default 1)")
    add_card_options(parser)
    parser.add_argument("--drift-card", type=Path, help="model card with a fitted relaxation model (`circuitkit fit "
                        "--kind retention`): the later read relaxes each cell by it (default: fresh reads, drift off)")
    parser.add_argument("--read-after", default=f"{READ_AFTER_S / 60:g}min", help="with --drift-card: time of the "
                        f"later read after programming (default {READ_AFTER_S / 60:g}min, the middle of the bundled runs' "
                        "15-30 min)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="misclassification below which two levels count as distinguishable (default 0.05)")
    parser.add_argument("--no-compare", action="store_true", help="skip the comparison with the real runs")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = MlcConfig(levels=args.levels, g_low=args.g_low_us * 1e-6, g_high=args.g_high_us * 1e-6,
                       scheme=args.scheme, tolerance=None if args.tolerance_us is None else args.tolerance_us * 1e-6,
                       max_pulses=args.max_pulses, cells_per_level=args.cells_per_level, batch_size=args.batch_size,
                       seed=args.seed, read_noise_scale=args.read_noise_scale)
    # a card not given is the bundled real-device card: the campaign loads it, announces and records it
    pulse = ModelCard.load(args.pulse_card) if args.pulse_card else None
    start = ModelCard.load(args.start_card) if args.start_card else None
    drift, drift_t_s = None, 0.0
    if args.drift_card is not None:
        drift = ModelCard.load(args.drift_card).relaxation_model()
        if drift is None:
            raise CircuitkitError(f"mlc: --drift-card {args.drift_card}: the card holds no relaxation model (fit one "
                                  "with `circuitkit fit ... --kind retention --card CARD`)")
        drift_t_s = parse_duration(args.read_after)
    campaign = run_mlc_campaign(config, args.output, pulse_card=pulse, start_card=start, drift=drift,
                                drift_t_s=drift_t_s, distinguish_threshold=args.threshold, workers=args.workers)
    if not args.no_compare and config.level_map == LevelMap(LEVELS):
        from circuitkit.mlc.compare import compare

        summary = compare(campaign, args.output, threshold=args.threshold)
        for name, entry in summary["populations"].items():
            print(f"  {name:28s} {entry['cells']:6d} cells, in band {entry['in_band_fraction']:.1%}, "
                  f"{entry['distinguishable_levels']} distinguishable levels")
    print(f"wrote {args.output}/ber_table.csv, levels.csv, summary.json")
    return 0
