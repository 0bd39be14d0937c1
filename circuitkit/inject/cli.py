"""`circuitkit inject`: network accuracy under the conditions of a bit-error table, or
along a synthetic BER sweep (the classic tolerance curve).

    circuitkit inject --ber-table FILE [--network bnn|tnn|PATH.npz] [--trials T] [--seed S] -o OUTDIR
    circuitkit inject --sweep-ber 1e-6:1e-1 [--sweep-points N] ... -o OUTDIR

Writes OUTDIR/accuracy.csv and OUTDIR/accuracy_vs_ber.png (a sweep also writes the
synthetic table it injected, OUTDIR/ber_table.csv, so the run can be traced).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from circuitkit import CircuitkitError
from circuitkit.ber_table import BOUNDS, SCHEME_ALPHABETS, BerTable
from circuitkit.inject.accuracy import evaluate_table, plot_accuracy_vs_ber, sweep_table, write_accuracy_csv
from circuitkit.inject.data import load_dataset
from circuitkit.inject.networks import load_network


def _ber_range(text: str) -> tuple[float, float]:
    start, separator, stop = text.partition(":")
    try:
        if not separator:
            raise ValueError
        return float(start), float(stop)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:STOP such as 1e-6:1e-1, got {text!r}") from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inject",
        help="accuracy of a BNN/TNN under a bit-error table or a BER sweep",
        description="Inject read errors into network weights (T seeded trials per condition) and "
                    "report test accuracy with a 95 %% interval.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ber-table", type=Path, metavar="FILE", help="bit-error table CSV (written by the corners stage)")
    source.add_argument("--sweep-ber", type=_ber_range, metavar="START:STOP",
                        help="synthetic symmetric tables at log-spaced BERs, e.g. 1e-6:1e-1")
    parser.add_argument("--sweep-points", type=int, default=11, metavar="N", help="BER points of a sweep (default 11)")
    parser.add_argument("--network", default="bnn", metavar="bnn|tnn|PATH.npz",
                        help="bundled 'bnn' or 'tnn' (digits) or a weight file (default bnn)")
    parser.add_argument("--dataset", default="digits", metavar="digits|mnist:DIR",
                        help="test data: bundled 'digits' (default) or 'mnist:DIRECTORY' with IDX files")
    parser.add_argument("--trials", type=int, default=100, metavar="T", help="corrupted copies per condition (default 100)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the injection draws (default 0)")
    parser.add_argument("--bound", choices=BOUNDS, default="estimate",
                        help="inject at the point estimate or at ci_high (pessimistic); default estimate")
    parser.add_argument("--scheme", choices=tuple(SCHEME_ALPHABETS),
                        help="only the table's conditions of this scheme (a table may hold both)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.trials < 1:
        raise CircuitkitError(f"--trials must be >= 1, got {args.trials}")
    network = load_network(args.network)
    dataset = load_dataset(args.dataset)
    if args.ber_table is not None:
        table = BerTable.read(args.ber_table)
        title = f"{args.network} under {args.ber_table.name}"
    else:
        start, stop = args.sweep_ber
        table = sweep_table(start, stop, args.sweep_points, args.scheme or network.scheme)
        title = f"{args.network}: tolerance to symmetric bit errors"
    conditions = [c for c in table.conditions() if args.scheme is None or c.scheme == args.scheme]
    if not conditions:
        raise CircuitkitError(f"{table.source}: no condition with scheme {args.scheme!r}")
    clean = network.accuracy(dataset.x_test, dataset.y_test)
    results = evaluate_table(network, dataset.x_test, dataset.y_test, table, trials=args.trials, seed=args.seed,
                             bound=args.bound, conditions=conditions)
    args.output.mkdir(parents=True, exist_ok=True)
    if args.sweep_ber is not None:
        table.write(args.output / "ber_table.csv")
    csv_path = write_accuracy_csv(results, args.output / "accuracy.csv")
    png_path = plot_accuracy_vs_ber(results, args.output / "accuracy_vs_ber.png", clean_accuracy=clean,
                                    title=title, label_points=args.ber_table is not None)
    print(f"{network.kind} {network.layer_sizes}, {dataset.name} test set ({len(dataset.y_test)} images): "
          f"accuracy without errors {clean:.4f}")
    for r in results:
        a = r.accuracy
        print(f"  {r.condition.label():<40} ber {r.ber:9.3g}  accuracy {a.mean:.4f} +- {a.std:.4f} "
              f"(95% CI {a.low:.4f}-{a.high:.4f}, {a.samples} trials)")
    print(f"wrote {csv_path} and {png_path}")
    return 0
