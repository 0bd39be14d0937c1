"""`circuitkit fit`: fit the rram_hfox model to a measurement CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from circuitkit import CircuitkitError
from circuitkit.device.characterize import KINDS, FitOptions, characterize, summary
from circuitkit.device.fit import LOSSES
from circuitkit.device.model import ModelCard

EPILOG = """\
outputs: OUTDIR/model_card.json, OUTDIR/fit_report.json, OUTDIR/fit.png

I-V files need a time column or --sweep-rate (V/s): without time, each point's time is
the accumulated |dV| divided by the sweep rate. Units come from the header (current_uA,
'Current (uA)') or from --unit current=uA; columns are matched by name (see
circuitkit/measurements.py) or mapped with --column voltage=Vforce.
Chain fits: fit the I-V sweep first, then pass its card with --card to a pulse or
distribution fit (they keep the card's current equation and add to it).
"""


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    pairs = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise CircuitkitError(f"{option} expects QUANTITY=VALUE, got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "fit", help="fit the RRAM Verilog-A model to a measurement CSV (I-V sweep, pulse table, distribution)",
        description="Fit rram_hfox.va to measurements with lmfit, re-simulate the fitted card in ngspice, "
                    "and write the model card, a fit report and a plot.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="measurement CSV")
    parser.add_argument("--kind", required=True, choices=KINDS, help="measurement shape")
    parser.add_argument("-o", "--outdir", type=Path, help="output directory (default: fit-<data file stem>)")
    parser.add_argument("--card", type=Path, help="model card JSON to start from (default: the .va defaults)")
    parser.add_argument("--loss", default="linear", choices=LOSSES, help="least-squares loss; soft_l1 etc. are "
                        "robust to outliers beyond ~10 %% in ln units (default: linear)")
    parser.add_argument("--sweep-rate", type=float, help="I-V sweep rate in V/s when the file has no time column")
    parser.add_argument("--temp", type=float, default=27.0, help="device temperature in C (default: 27)")
    parser.add_argument("--current-floor", type=float, help="current noise floor in A for the log residual "
                        "(default: 1e-3 x median |I|, at least 1 pA)")
    parser.add_argument("--compliance", type=float, help="I-V compliance current in A: points at it are not fitted")
    parser.add_argument("--v-read", type=float, default=0.1, help="read voltage of the resistances in V (default 0.1)")
    parser.add_argument("--unit", action="append", metavar="QUANTITY=UNIT", help="unit of a column, e.g. current=uA")
    parser.add_argument("--column", action="append", metavar="QUANTITY=NAME", help="column for a quantity")
    parser.add_argument("--no-ngspice", action="store_true", help="skip the ngspice re-simulation")
    parser.add_argument("--seed", type=int, default=1, help="ngspice Monte Carlo seed (distributions)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    options = FitOptions(
        start=ModelCard.load(args.card) if args.card else None, loss=args.loss, temp_c=args.temp,
        sweep_rate=args.sweep_rate, current_floor=args.current_floor, compliance=args.compliance,
        v_read=args.v_read, units=_pairs(args.unit, "--unit"), columns=_pairs(args.column, "--column"),
        ngspice=not args.no_ngspice, seed=args.seed,
    )
    outdir = args.outdir or Path(f"fit-{args.data.stem}")
    if args.quiet:
        result = characterize(args.data, args.kind, outdir, options)
    else:
        from tqdm import tqdm

        with tqdm(desc="circuitkit fit: model evaluations", unit=" eval", leave=False, file=sys.stderr,
                  mininterval=0.5) as bar:
            def progress(evaluations: int, cost: float) -> None:
                bar.update(evaluations - bar.n)
                bar.set_postfix(cost=f"{cost:.4g}", refresh=False)

            def log(message: str) -> None:
                bar.write(f"circuitkit fit: {message}", file=sys.stderr)

            result = characterize(args.data, args.kind, outdir, options, progress=progress, log=log)
    print(summary(result))
    return 0
