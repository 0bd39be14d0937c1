"""`circuitkit ber`: PVT bit-error tables of the 2T2R + PCSA read.

The command line's front end to the corners stage: options named as the `CampaignConfig`
fields they fill (`--vdd` -> `vdd`, `--temp-c` -> `temp_c`, `--batch-size` ->
`batch_size`, `--no-mismatch` -> `mismatch`; the `device` from `--model-card` and the
`--lrs-*`/`--hrs-*`/`--stuck-*` options, through `device_nonideality`), the 2T2R + PCSA
read simulator handed to the campaign, then the campaign's figure (drawn by
`circuitkit.report`) and a text table. `--read-after 1s,1d,10y --retention-temperature 85`
runs one campaign per read time with the states relaxed by the card's relaxation model
and writes the BER against time (`ber_vs_time.csv`, each row saying where it is
extrapolated beyond the retention data).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from circuitkit import CircuitkitError
from circuitkit.ber_table import METHOD_SEPARATOR
from circuitkit.argtypes import add_stuck_cell_options, comma_floats, comma_names
from circuitkit.corners.campaign import run_campaign
from circuitkit.corners.config import DEFAULT_OFFSET_POINTS, METHODS, CampaignConfig
from circuitkit.corners.executors import EXECUTORS
from circuitkit.corners.importance import NORMAL_INTERVAL
from circuitkit.device.nonideality import CHOSEN, DeviceNonideality, StuckCells, device_nonideality
from circuitkit.device.relaxation import RetentionRead, format_duration, parse_duration


def _device(args: argparse.Namespace, card) -> DeviceNonideality:
    """The card's fitted spread, as the distribution models its fit chose (or the
    literature defaults), each given option replacing one field; stuck cells only when given."""
    stuck = None
    if args.stuck_lrs is not None or args.stuck_hrs is not None:
        stuck = StuckCells(args.stuck_lrs or 0.0, args.stuck_hrs or 0.0, "given on the command line")
    return device_nonideality(card, {"lrs_median_ohm": args.lrs_median, "lrs_sigma_ln": args.lrs_sigma,
                                     "hrs_median_ohm": args.hrs_median, "hrs_sigma_ln": args.hrs_sigma},
                              model=CHOSEN, stuck=stuck)


def config_from_args(args: argparse.Namespace, card, read_after_s: float | None = None) -> CampaignConfig:
    """The campaign the options describe (checked before anything runs); `read_after_s`:
    one of the `--read-after` times (the states relaxed by the card's relaxation model)."""
    return CampaignConfig(
        corners=args.corners, vdd=args.vdd, temp_c=args.temp_c, scheme=args.scheme, samples=args.samples,
        seed=args.seed, method=args.method, batch_size=args.batch_size, device=_device(args, card),
        offset_points=args.offset_points, mismatch=args.mismatch, pilot_samples=args.pilot_samples,
        retention=None if read_after_s is None else retention_read(card, read_after_s, args.retention_temperature,
                                                                   args.model_card),
    )


def retention_read(card, read_after_s: float, temp_c: float, card_path: Path | None = None) -> RetentionRead:
    """A `--read-after` time with the card's relaxation model (a clear error without one)."""
    if card is None or card.relaxation_model() is None:
        where = f"model card {card_path}" if card_path else "no --model-card given: the defaults"
        raise CircuitkitError(f"--read-after needs a model card with a relaxation model ({where} has none): fit one "
                              "with `circuitkit fit ... --kind retention --card CARD` and pass its card")
    return RetentionRead(read_after_s, temp_c, card.relaxation)


def read_after_times(text: str) -> tuple[float, ...]:
    """'1s,1d,10y' -> seconds (argparse type)."""
    try:
        return tuple(parse_duration(item) for item in text.split(",") if item.strip())
    except CircuitkitError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _ber_vs_time(args: argparse.Namespace, card) -> int:
    """One campaign per --read-after time (OUTDIR/read_after_<time>/), then ber_vs_time.csv and its figure."""
    from circuitkit.corners.reads import PcsaReadSimulator
    from circuitkit.report.plots import BER_TIME_FIGURE, plot_ber_vs_time

    rows = []
    for seconds in args.retention:
        config = config_from_args(args, card, seconds)
        outdir = Path(args.output) / f"read_after_{format_duration(seconds).replace(' ', '')}"
        print(f"campaign: {config.retention.label} -> {outdir}")
        result = run_campaign(config, outdir, simulator=PcsaReadSimulator(), workers=args.workers,
                              executor=args.executor, scheduler=args.scheduler, card=card, progress=not args.quiet)
        rows.extend(ber_vs_time_rows(result.table, config.retention))
    path = write_ber_vs_time(rows, Path(args.output) / BER_VS_TIME)
    plot_ber_vs_time(rows, Path(args.output) / BER_TIME_FIGURE)
    print(f"{'read after':>12} {'at':>6} {'corner':<6} {'vdd':>5} {'BER':>10}  95 % interval   where")
    for row in rows:
        print(f"{row['read_after']:>12} {row['retention_temp_c']:>5g}C {row['corner']:<6} {row['vdd']:>5.2f} "
              f"{row['ber']:>10.3g}  [{row['ci_low']:.3g}, {row['ci_high']:.3g}]  {row['extrapolation'] or ('as programmed' if row['read_after_s'] == 0 else 'in data')}")
    print(f"wrote {path} and {Path(args.output) / BER_TIME_FIGURE}")
    return 0


BER_VS_TIME = "ber_vs_time.csv"
BER_VS_TIME_COLUMNS = ("read_after_s", "read_after", "retention_temp_c", "corner", "vdd", "temp_c", "scheme", "method",
                       "samples", "ber", "ci_low", "ci_high", "extrapolation")


def ber_vs_time_rows(table, read: RetentionRead) -> list[dict]:
    """Rows of ber_vs_time.csv for one campaign's table: each says its read time, the
    retention temperature, and whether (and how far) it is extrapolated beyond the data."""
    return [{"read_after_s": read.read_after_s, "read_after": format_duration(read.read_after_s),
             "retention_temp_c": read.temp_c, "corner": rate.condition.corner, "vdd": rate.condition.vdd,
             "temp_c": rate.condition.temp_c, "scheme": rate.condition.scheme, "method": rate.method,
             "samples": rate.samples, "ber": rate.ber, "ci_low": rate.ci_low, "ci_high": rate.ci_high,
             "extrapolation": read.extrapolation} for rate in table.error_rates()]


def write_ber_vs_time(rows: list[dict], path: Path) -> Path:
    from circuitkit.files import write_rows_csv

    return write_rows_csv(path, [{column: row[column] for column in BER_VS_TIME_COLUMNS} for row in rows])


def _ber(args: argparse.Namespace) -> int:
    from circuitkit.corners.reads import PcsaReadSimulator
    from circuitkit.device.model import ModelCard
    from circuitkit.report.plots import BER_FIGURE, plot_ber_vs_vdd

    card = ModelCard.load(args.model_card) if args.model_card else None
    if args.retention:  # --read-after
        return _ber_vs_time(args, card)
    config = config_from_args(args, card)
    if args.executor == "dask" and not args.scheduler:
        raise CircuitkitError("--executor dask needs --scheduler ADDRESS")
    result = run_campaign(config, args.output, simulator=PcsaReadSimulator(), workers=args.workers,
                          executor=args.executor, scheduler=args.scheduler, card=card, progress=not args.quiet)
    plot_ber_vs_vdd(result.table, Path(args.output) / BER_FIGURE)
    print(f"{'corner':<6} {'vdd':>5} {'temp':>6} {'scheme':<8} {'method':<7} {'BER':>10}  95 % interval  assumed, flags")
    for rate in result.table.error_rates():
        c = rate.condition
        estimator, _, facts = rate.method.partition(METHOD_SEPARATOR)
        print(f"{c.corner:<6} {c.vdd:>5.2f} {c.temp_c:>6.1f} {c.scheme:<8} {estimator:<7} {rate.ber:>10.3g}  "
              f"[{rate.ci_low:.3g}, {rate.ci_high:.3g}]  {facts}")
    summary = result.summary
    for row in summary.get("importance", {}).get("rows", []):
        print(f"  is {row['corner']} {row['vdd']:g} V {row['temp_c']:g} C stored {row['stored']:+d}: "
              f"{row['estimate']:.3g} +- {row['standard_error']:.2g} (standard error), {row['failures_seen']} "
              f"failing of {row['reads']} reads, effective sample size {row['effective_sample_size']:.0f}"
              + ("" if row["interval"] == NORMAL_INTERVAL else f" ({row['interval']})"))
    print(f"device spread: {summary['device_spread']}")
    print(f"{summary['samples_simulated']} samples ({summary['failed_samples']} failed to converge), "
          f"{summary['jobs_run_this_time']} of {summary['jobs']} jobs run now, "
          f"{summary['wall_time_s_this_run']:.1f} s; wrote {Path(args.output) / 'ber_table.csv'}, campaign.json, {BER_FIGURE}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ber", help="PVT Monte Carlo bit-error tables of the 2T2R + PCSA read",
        description="Runs (or resumes: rerun the same command) a campaign of corners x supplies x temperatures x "
        "stored weights x samples; writes OUTDIR/ber_table.csv, campaign.json and ber_vs_vdd.png.",
    )
    parser.add_argument("--corners", type=comma_names, default=("tt",), help="process corners, e.g. tt,ss,ff (default tt)")
    parser.add_argument("--vdd", type=comma_floats, default=(1.8,), help="supplies in V, e.g. 0.8,1.2,1.8")
    parser.add_argument("--temp-c", "--temp", dest="temp_c", type=comma_floats, default=(27.0,),
                        help="temperatures in C, e.g. -40,27,125")
    parser.add_argument("--samples", type=int, default=256,
                        help="samples per condition and stored value (per offset point for --method offset)")
    parser.add_argument("--scheme", choices=("binary", "ternary"), default="binary")
    parser.add_argument("--method", choices=METHODS, default="mc",
                        help="mc: brute-force Monte Carlo; offset: rare-event estimate from the sense amplifier's "
                             "measured offset; is: importance sampling, every sample an ngspice read of cells drawn "
                             "near the failure region and weighted by their likelihood ratio")
    parser.add_argument("--offset-points", type=comma_floats, default=DEFAULT_OFFSET_POINTS,
                        help="--method offset (and the pilot of --method is): ln(R_BLb/R_BL) ratios at which the "
                             "offset is measured")
    parser.add_argument("--pilot-samples", type=int, default=CampaignConfig.pilot_samples,
                        help="--method is: mismatch samples per offset point of the pilot run that places the proposal")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (local executor)")
    parser.add_argument("--executor", choices=EXECUTORS, default="process")
    parser.add_argument("--scheduler", help="Dask scheduler address for --executor dask")
    parser.add_argument("--batch-size", type=int, default=CampaignConfig.batch_size,
                        help="sense circuits simulated per ngspice run")
    parser.add_argument("--model-card", type=Path,
                        help="fitted model_card.json (its resistance-distribution fit sets the spread; without one, "
                             "literature defaults are used and announced)")
    parser.add_argument("--lrs-median", type=float, help="LRS median resistance, ohm (replaces that field only)")
    parser.add_argument("--lrs-sigma", type=float, help="LRS sigma of ln R (replaces that field only)")
    parser.add_argument("--hrs-median", type=float, help="HRS median resistance, ohm (replaces that field only)")
    parser.add_argument("--hrs-sigma", type=float, help="HRS sigma of ln R (replaces that field only)")
    add_stuck_cell_options(parser, "default: none simulated")
    parser.add_argument("--read-after", dest="retention", type=read_after_times, metavar="T[,...]",
                        help="read the cells these times after programming (e.g. 1s,1d,10y): the states drawn are "
                             "relaxed by the model card's relaxation model; one campaign per time in "
                             "OUTDIR/read_after_<T>/, and OUTDIR/ber_vs_time.csv")
    parser.add_argument("--retention-temperature", type=float, default=25.0, metavar="C",
                        help="temperature (C) the cells spend the --read-after time at (default 25)")
    parser.add_argument("--no-mismatch", dest="mismatch", action="store_false", help="switch off transistor mismatch")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output directory (resumable)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_ber)
