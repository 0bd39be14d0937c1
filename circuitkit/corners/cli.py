"""`circuitkit ber`: PVT bit-error tables of the 2T2R + PCSA read."""

from __future__ import annotations

import argparse
from pathlib import Path

from circuitkit import CircuitkitError
from circuitkit.corners.campaign import METHODS, CampaignConfig, run_campaign
from circuitkit.corners.executors import EXECUTORS
from circuitkit.corners.spread import DeviceSpread, device_spread


def comma_floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _spread(args: argparse.Namespace, card) -> DeviceSpread:
    """The card's fitted spread (or the literature defaults), each given option replacing one field."""
    return device_spread(card, {"lrs_median_ohm": args.lrs_median, "lrs_sigma_ln": args.lrs_sigma,
                                "hrs_median_ohm": args.hrs_median, "hrs_sigma_ln": args.hrs_sigma})


def _ber(args: argparse.Namespace) -> int:
    from circuitkit.device.model import ModelCard

    card = ModelCard.load(args.model_card) if args.model_card else None
    config = CampaignConfig(
        corners=args.corners, vdds=args.vdd, temps_c=args.temp, scheme=args.scheme, samples=args.samples,
        seed=args.seed, method=args.method, batch_size=args.batch_size, spread=_spread(args, card),
        mismatch=not args.no_mismatch,
    )
    if args.executor == "dask" and not args.scheduler:
        raise CircuitkitError("--executor dask needs --scheduler ADDRESS")
    result = run_campaign(config, args.output, workers=args.workers, executor=args.executor,
                          scheduler=args.scheduler, card=card, progress=not args.quiet)
    from circuitkit.report.plots import condition_error_rates

    print(f"{'corner':<6} {'vdd':>5} {'temp':>6} {'scheme':<8} {'method':<7} {'BER':>10}  95 % interval")
    for rate in condition_error_rates(result.table):
        c = rate["condition"]
        print(f"{c.corner:<6} {c.vdd:>5.2f} {c.temp_c:>6.1f} {c.scheme:<8} {rate['method']:<7} {rate['ber']:>10.3g}  "
              f"[{rate['ci_low']:.3g}, {rate['ci_high']:.3g}]")
    summary = result.summary
    print(f"device spread: {summary['device_spread']}")
    print(f"{summary['samples_simulated']} samples ({summary['failed_samples']} failed to converge), "
          f"{summary['jobs_run_this_time']} of {summary['jobs']} jobs run now, "
          f"{summary['wall_time_s_this_run']:.1f} s; wrote {Path(args.output) / 'ber_table.csv'}, campaign.json, ber_vs_vdd.png")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ber", help="PVT Monte Carlo bit-error tables of the 2T2R + PCSA read",
        description="Runs (or resumes: rerun the same command) a campaign of corners x supplies x temperatures x "
        "stored weights x samples; writes OUTDIR/ber_table.csv, campaign.json and ber_vs_vdd.png.",
    )
    parser.add_argument("--corners", type=_names, default=("tt",), help="process corners, e.g. tt,ss,ff (default tt)")
    parser.add_argument("--vdd", type=comma_floats, default=(1.8,), help="supplies in V, e.g. 0.8,1.2,1.8")
    parser.add_argument("--temp", type=comma_floats, default=(27.0,), help="temperatures in C, e.g. -40,27,125")
    parser.add_argument("--samples", type=int, default=256, help="samples per condition and stored value (per offset point for --method offset)")
    parser.add_argument("--scheme", choices=("binary", "ternary"), default="binary")
    parser.add_argument("--method", choices=METHODS, default="mc",
                        help="mc: brute-force Monte Carlo; offset: rare-event estimate from the sense amplifier's measured offset")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (local executor)")
    parser.add_argument("--executor", choices=EXECUTORS, default="process")
    parser.add_argument("--scheduler", help="Dask scheduler address for --executor dask")
    parser.add_argument("--batch-size", type=int, default=64, help="sense circuits simulated per ngspice run")
    parser.add_argument("--model-card", type=Path,
                        help="fitted model_card.json (its resistance-distribution fit sets the spread; without one, "
                             "literature defaults are used and announced)")
    parser.add_argument("--lrs-median", type=float, help="LRS median resistance, ohm (replaces that field only)")
    parser.add_argument("--lrs-sigma", type=float, help="LRS sigma of ln R (replaces that field only)")
    parser.add_argument("--hrs-median", type=float, help="HRS median resistance, ohm (replaces that field only)")
    parser.add_argument("--hrs-sigma", type=float, help="HRS sigma of ln R (replaces that field only)")
    parser.add_argument("--no-mismatch", action="store_true", help="switch off transistor mismatch")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output directory (resumable)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_ber)
