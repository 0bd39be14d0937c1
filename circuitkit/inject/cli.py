"""`circuitkit inject`: network accuracy under the conditions of a bit-error table, along
a synthetic BER sweep, as tolerance curves with their knees, or with errors placed where
the hardware puts them.

    circuitkit inject --ber-table FILE [--network bnn|tnn|NAME|PATH.npz] [--dataset SPEC] [--trials T] -o OUTDIR
    circuitkit inject --ber-table FILE --layer-conditions "ss,1.2,27;tt,1.8,27;..." ... -o OUTDIR
    circuitkit inject --sweep-ber 1e-6:1e-1 [--sweep-points N] ... -o OUTDIR
    circuitkit inject --tolerance [--networks bnn,tnn,...] [--ber-range 1e-5:0.2] ... -o OUTDIR
    circuitkit inject --offset-campaign DIR [--rows R] ... -o OUTDIR
    circuitkit inject --position-table FILE ... -o OUTDIR

Writes OUTDIR/accuracy.csv and OUTDIR/accuracy_vs_ber.png (a sweep also writes the
synthetic table it injected, OUTDIR/ber_table.csv); --tolerance writes one
tolerance_<network>.csv per network, knees.csv and tolerance.png; --offset-campaign
writes placement.csv (column-correlated vs independent injection at the same mean BER);
--position-table (a table of `bench/bench_array.py --offset-campaign`, i.e.
`corners.positions.campaign_position_rates`) writes position_placement.csv (each weight
misread with its array position's rate vs the same mean rate everywhere).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

from circuitkit import CircuitkitError
from circuitkit.ber_table import BOUNDS, SCHEME_ALPHABETS, BerTable, Condition
from circuitkit.inject.accuracy import evaluate_table, placement_comparison, sweep_table, trial_accuracies, write_accuracy_csv
from circuitkit.inject.config import NetworkConfig
from circuitkit.inject.data import DATASET_SPECS, DEFAULT_DATASET, load_dataset
from circuitkit.inject.networks import ALIASES, PRETRAINED, load_network
from circuitkit.inject.placement import ArrayGeometry, HardwareErrors, IndependentErrors, PositionErrors, offset_models
from circuitkit.position_rates import PositionRates
from circuitkit.seeding import value_seed
from circuitkit.inject.tolerance import PUBLISHED, read_rows, tolerance_curve, write_knees_csv
from circuitkit.report.plots import plot_accuracy_vs_ber, plot_tolerance
from circuitkit.stats import mean_interval

PLACEMENT_COLUMNS = ("corner", "vdd", "temp_c", "placement", "mean_ber", "accuracy_mean", "accuracy_std", "ci_low",
                     "ci_high", "trials", "amplifiers", "difference_to_independent", "difference_ci_low",
                     "difference_ci_high")


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
        help="accuracy of a BNN/TNN under a bit-error table, a BER sweep, tolerance knees or hardware-placed errors",
        description="Inject read errors into network weights (T seeded trials per condition) and "
                    "report test accuracy with a 95 %% interval.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ber-table", type=Path, metavar="FILE", help="bit-error table CSV (written by the corners stage)")
    source.add_argument("--sweep-ber", type=_ber_range, metavar="START:STOP",
                        help="synthetic symmetric tables at log-spaced BERs, e.g. 1e-6:1e-1")
    source.add_argument("--tolerance", action="store_true",
                        help="tolerance curves of --networks with their 1- and 5-point knees (bootstrap intervals)")
    source.add_argument("--offset-campaign", type=Path, metavar="DIR",
                        help="a campaign run with --method offset: per-amplifier offsets make whole columns weak; "
                             "compared with independent errors at the same mean BER")
    source.add_argument("--position-table", type=Path, metavar="FILE",
                        help="a position-rate table (bench/bench_array.py --offset-campaign): each weight misread with "
                             "its array position's rate (the table's array shape is the tile); compared with independent "
                             "errors at the same mean BER")
    parser.add_argument("--sweep-points", type=int, default=11, metavar="N", help="BER points of a sweep (default 11)")
    names = (*ALIASES, *PRETRAINED)
    parser.add_argument("--network", default="bnn", metavar="NAME|PATH.npz",
                        help=f"a bundled network ({', '.join(names)}) or a weight file (default bnn)")
    parser.add_argument("--networks", default="bnn,tnn", metavar="N1,N2,...",
                        help="networks of --tolerance (default bnn,tnn)")
    parser.add_argument("--dataset", default=DEFAULT_DATASET, metavar="SPEC",
                        help=f"test data: {DATASET_SPECS}")
    parser.add_argument("--trials", type=int, default=NetworkConfig.trials, metavar="T",
                        help="corrupted copies per condition (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the injection draws (default 0)")
    parser.add_argument("--bound", choices=BOUNDS, default="estimate",
                        help="inject at the point estimate or at ci_high (pessimistic); default estimate")
    parser.add_argument("--scheme", choices=tuple(SCHEME_ALPHABETS),
                        help="only the table's conditions of this scheme (a table may hold both)")
    parser.add_argument("--layer-conditions", metavar="C1;C2;...",
                        help="with --ber-table: one condition per weight layer, each 'corner,vdd,temp_c' "
                             "(per-condition tables per layer)")
    parser.add_argument("--ber-range", type=_ber_range, default=NetworkConfig.ber_range, metavar="START:STOP",
                        help="BER grid of --tolerance (default 1e-5:0.2)")
    parser.add_argument("--points-per-decade", type=int, default=NetworkConfig.points_per_decade,
                        help="grid density of --tolerance (default %(default)s)")
    parser.add_argument("--bootstrap", type=int, default=NetworkConfig.bootstrap,
                        help="bootstrap resamples of the knees (default %(default)s)")
    parser.add_argument("--rows", type=int, default=ArrayGeometry.rows,
                        help=f"rows per array, i.e. weights per sense amplifier (default {ArrayGeometry.rows})")
    parser.add_argument("--columns", type=int, default=ArrayGeometry.columns,
                        help=f"columns (sense amplifiers) per array (default {ArrayGeometry.columns})")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.trials < 2 if args.tolerance else args.trials < 1:
        raise CircuitkitError(f"--trials must be >= {2 if args.tolerance else 1}, got {args.trials}")
    dataset = load_dataset(args.dataset)
    args.output.mkdir(parents=True, exist_ok=True)
    if args.tolerance:
        return _tolerance(args, dataset)
    network = load_network(args.network)
    if args.offset_campaign is not None:
        return _placement(args, network, dataset)
    if args.position_table is not None:
        return _positions(args, network, dataset)
    clean = network.accuracy(dataset.x_test, dataset.y_test)
    print(f"{network.describe()}, {dataset.name} test set ({len(dataset.y_test)} images): "
          f"accuracy without errors {clean:.4f}")
    if args.ber_table is not None:
        table = BerTable.read(args.ber_table)
        if args.layer_conditions:
            return _per_layer(args, network, dataset, table)
        title = f"{args.network} under {args.ber_table.name}"
    else:
        start, stop = args.sweep_ber
        table = sweep_table(start, stop, args.sweep_points, args.scheme or network.scheme)
        title = f"{args.network}: tolerance to symmetric bit errors"
    conditions = [c for c in table.conditions() if args.scheme is None or c.scheme == args.scheme]
    if not conditions:
        raise CircuitkitError(f"{table.source}: no condition with scheme {args.scheme!r}")
    results = evaluate_table(network, dataset.x_test, dataset.y_test, table, trials=args.trials, seed=args.seed,
                             bound=args.bound, conditions=conditions)
    if args.sweep_ber is not None:
        table.write(args.output / "ber_table.csv")
    csv_path = write_accuracy_csv(results, args.output / "accuracy.csv")
    png_path = plot_accuracy_vs_ber(results, args.output / "accuracy_vs_ber.png", clean_accuracy=clean,
                                    title=title, label_points=args.ber_table is not None)
    for r in results:
        a = r.accuracy
        print(f"  {r.condition.label():<40} ber {r.ber:9.3g}  accuracy {a.mean:.4f} +- {a.std:.4f} "
              f"(95% CI {a.low:.4f}-{a.high:.4f}, {a.samples} trials)")
    print(f"wrote {csv_path} and {png_path}")
    return 0


def network_config(args: argparse.Namespace) -> NetworkConfig:
    """The `NetworkConfig` the options describe, field by field (`--network` fills bnn)."""
    return NetworkConfig(bnn=args.network, dataset=args.dataset, trials=args.trials, ber_range=args.ber_range,
                         points_per_decade=args.points_per_decade, bootstrap=args.bootstrap)


def _tolerance(args: argparse.Namespace, dataset) -> int:
    config = network_config(args).tolerance(args.seed)
    curves = []
    for name in [n for n in args.networks.split(",") if n]:
        network = load_network(name)
        print(f"{name}: {network.describe()}")
        curve = tolerance_curve(name, network, dataset.x_test, dataset.y_test, config, progress=True)
        curve.write_csv(args.output / f"tolerance_{Path(name).stem}.csv")
        curves.append(curve)
    knees_path = write_knees_csv(curves, args.output / "knees.csv")
    plot_tolerance({c.name: read_rows(args.output / f"tolerance_{Path(c.name).stem}.csv") for c in curves},
                   args.output / "tolerance.png", clean={c.name: c.clean_accuracy for c in curves},
                   knees=read_rows(knees_path), published=PUBLISHED)
    print(f"knees ({dataset.name}, {len(dataset.y_test)} test images, {args.trials} trials per BER, "
          f"{args.bootstrap} bootstrap resamples; 95 % intervals):")
    for curve in curves:
        print(f"  {curve.name:<16} clean {curve.clean_accuracy:.4f}  "
              + "  ".join(f"-{k.loss * 100:g} pt: {k.text()}" for k in curve.knees))
    print(f"wrote {knees_path}, {args.output / 'tolerance.png'} and the curves")
    return 0


def _per_layer(args: argparse.Namespace, network, dataset, table: BerTable) -> int:
    specs = [part for part in args.layer_conditions.split(";") if part.strip()]
    models = []
    for spec in specs:
        try:
            corner, vdd, temp = (item.strip() for item in spec.split(","))
            condition = Condition(corner, float(vdd), float(temp), network.scheme)
        except ValueError:
            raise CircuitkitError(f"--layer-conditions: {spec!r} is not 'corner,vdd,temp_c'") from None
        models.append(IndependentErrors(table.transition_matrix(condition, args.bound), condition.label()))
    errors = HardwareErrors.per_layer(network, models)
    accuracies = trial_accuracies(network, dataset.x_test, dataset.y_test, errors, args.trials,
                                  value_seed(args.seed, "per-layer", *[m.label for m in models]))
    interval = mean_interval(accuracies)
    path = args.output / "accuracy_per_layer.json"
    path.write_text(json.dumps({
        "layers": [{"layer": i, "condition": m.label, "ber": m.mean_error_rate} for i, m in enumerate(models)],
        "mean_ber_by_weight": errors.mean_error_rate(network), "accuracy_mean": interval.mean,
        "accuracy_std": interval.std, "ci_low": interval.low, "ci_high": interval.high, "trials": interval.samples,
    }, indent=1) + "\n")
    for i, m in enumerate(models):
        print(f"  layer {i}: {m.label}, BER {m.mean_error_rate:.3g}")
    print(f"accuracy {interval.mean:.4f} (95% CI {interval.low:.4f}-{interval.high:.4f}, {interval.samples} trials); "
          f"wrote {path}")
    return 0


def _placement(args: argparse.Namespace, network, dataset) -> int:
    geometry = ArrayGeometry(args.rows, args.columns)
    models = offset_models(args.offset_campaign / "campaign.json", geometry)
    rows = []
    print(f"{network.describe()} on {sum(geometry.arrays(l.matrix_shape) for l in network.weight_layers)} arrays of "
          f"{geometry.rows} x {geometry.columns}")
    for condition, model in models.items():
        comparison = placement_comparison(network, dataset.x_test, dataset.y_test, model, args.trials,
                                          value_seed(args.seed, "placement", condition.corner, condition.vdd,
                                                     condition.temp_c))
        amplifiers = sum(geometry.amplifiers(layer.matrix_shape) for layer in network.weight_layers)
        for fields, difference in _comparison_rows(comparison, "column"):
            rows.append([condition.corner, repr(condition.vdd), repr(condition.temp_c), *fields, amplifiers,
                         *difference])
        print(f"  {condition.label():<36} " + _comparison_text(comparison, "column", args.trials))
    _write_rows(args.output / "placement.csv", PLACEMENT_COLUMNS, rows)
    return 0 if not any(math.isnan(float(r[5])) for r in rows) else 1


def _comparison_rows(comparison, placement: str) -> list[tuple[list, list]]:
    """(placement, mean BER, accuracy mean/std/interval, trials) and the difference to the
    independent placement, for the independent row and then the `placement` row."""
    rows = []
    for name, interval in (("independent", comparison.independent), (placement, comparison.column)):
        difference = comparison.difference if name == placement else (0.0, 0.0, 0.0)
        rows.append(([name, repr(comparison.mean_ber), repr(interval.mean), repr(interval.std), repr(interval.low),
                      repr(interval.high), interval.samples], [repr(v) for v in difference]))
    return rows


def _comparison_text(comparison, placement: str, trials: int) -> str:
    d, low, high = comparison.difference
    return (f"mean BER {comparison.mean_ber:.3g}: independent {comparison.independent.mean:.4f}, {placement} "
            f"{comparison.column.mean:.4f}, difference {d * 100:+.2f} points (95 % CI {low * 100:+.2f} .. "
            f"{high * 100:+.2f}, {trials} trials each)")


def _write_rows(path: Path, columns: tuple[str, ...], rows: list[list]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    print(f"wrote {path}")


POSITION_COLUMNS = ("placement", "mean_ber", "accuracy_mean", "accuracy_std", "ci_low", "ci_high", "trials", "arrays",
                    "difference_to_independent", "difference_ci_low", "difference_ci_high", "table", "offset")


def _positions(args: argparse.Namespace, network, dataset) -> int:
    table = PositionRates.read_csv(args.position_table)
    model = PositionErrors(table, f"positions of {args.position_table.name}")
    arrays = sum(model.geometry.arrays(layer.matrix_shape) for layer in network.weight_layers)
    print(f"{network.describe()} on {arrays} arrays of {table.array_rows} x {table.array_columns} "
          f"(rows {', '.join(str(r) for r in table.rows)} measured, the others interpolated); "
          f"offset: {table.offset or 'not stated'}")
    comparison = placement_comparison(network, dataset.x_test, dataset.y_test, model, args.trials,
                                      value_seed(args.seed, "positions", str(args.position_table.name)))
    rows = [[*fields, arrays, *difference, str(args.position_table), table.offset]
            for fields, difference in _comparison_rows(comparison, "position")]
    print("  " + _comparison_text(comparison, "position", args.trials))
    _write_rows(args.output / "position_placement.csv", POSITION_COLUMNS, rows)
    return 0
