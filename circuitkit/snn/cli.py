"""`circuitkit snn`: the SPIRIT-style spiking system from circuit characterization to
accuracy and energy, on 12x12 MNIST by default (the reference's set-up).

    circuitkit snn [--dataset mnist5k|digits|mnist:DIR] [--coding both|poisson|regular]
                   [--corner tt --vdd 1.8 --temp-c 27] [--table FILE | --characterize] [--weights FILE.csv]
                   [--chips C] [--stuck-lrs P --stuck-hrs P] [--ber P | --ber-table FILE] -o OUTDIR

The operating point options are those of every command (`argtypes.add_operating_point_options`):
they choose the characterization (a table made elsewhere is refused). The device is the
table's (`CharacterizationTable.device`: the programmed states it was characterized with,
its read noise) with the stuck cells of `--stuck-lrs/--stuck-hrs` (default: the dataset
default of `device.nonideality.StuckCells`); every default part is announced once.

Writes into OUTDIR:
    snn_accuracy.csv        per input coding: the quantized network and the SNN ideal / with spread /
                            with spread + stuck cells (and the what-if cell flips when asked)
    snn_summary.json        dataset, codings, chips, the neuron threshold spread with its Monte Carlo
                            sample count and interval, the stuck-cell rates and their source, the reference
    snn_leakage.csv         SNN accuracy against the HRS/LRS ratio (HRS leakage), first coding
    snn_energy.json         energy per synaptic event and per image (inputs and results kept apart)
    snn_raster.png          input and output spikes of one classification
    snn_accuracy_vs_leakage.png
    snn_neuron_transfer.png the characterized neuron: spike rate vs input current, spikes per input charge
    snn_weights.csv         the -4..+4 weights used (trained here unless --weights was given)
    snn_characterization.json   the table the run used (copied, or simulated with --characterize)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import sys
from pathlib import Path

from circuitkit import CircuitkitError
from circuitkit.ber_table import BerTable, TransitionMatrix
from circuitkit.argtypes import add_operating_point_options, add_stuck_cell_options, comma_floats, operating_point
from circuitkit.device.nonideality import DeviceNonideality, StuckCells
from circuitkit.inject.data import DATASET_SPECS, DEFAULT_DATASET
from circuitkit.snn.cells import MIN_THRESHOLD_SAMPLES, threshold_spread
from circuitkit.snn.evaluate import REFERENCE, energy_summary, leakage_sweep, raster, spirit_comparison, write_cases_csv
from circuitkit.report.snn_plots import plot_leakage, plot_raster, plot_transfer
from circuitkit.snn.config import SnnConfig
from circuitkit.snn.simulate import CODINGS, RateCoding
from circuitkit.snn.table import CharacterizationTable, load_table
from circuitkit.snn.train import TanhConfig, WeightError, load_snn_dataset, read_weights, train_snn_weights, write_weights

DEFAULT_RATIOS = (4.0, 2.0, 1.5)
CODING_CHOICES = (*CODINGS, "both")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "snn",
        help="single-layer SNN on RRAM synapses and IF neurons: accuracy and energy from the circuit",
        description="Train -4..+4 weights, simulate the spiking network event by event on many chips with the "
                    "characterized neuron and RRAM read, and report accuracy (95 % intervals) and energy.",
    )
    parser.add_argument("--dataset", default=DEFAULT_DATASET, metavar="SPEC",
                        help=f"{DATASET_SPECS}, or a directory with the MNIST IDX files; 28x28 images are "
                             "downscaled to 12x12 (default mnist5k, the 5,000 real MNIST digits)")
    add_operating_point_options(parser)   # of the characterization; a --table made elsewhere is refused
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--table", type=Path, metavar="FILE", help="characterization table JSON (default: bundled)")
    source.add_argument("--characterize", action="store_true",
                        help="simulate the characterization in ngspice for --corner first (30-60 s on 2 cores)")
    parser.add_argument("--mc-samples", type=int, default=None, help="mismatch samples of --characterize")
    parser.add_argument("--weights", type=Path, metavar="FILE.csv",
                        help="integer weights -4..4, one row per input, one column per class (default: train)")
    parser.add_argument("--chips", "--trials", dest="chips", type=int, default=SnnConfig.chips, metavar="C",
                        help="simulated chips per SNN case (default %(default)s; --trials is the older spelling)")
    parser.add_argument("--coding", choices=CODING_CHOICES, default="both",
                        help="input spike code: random (poisson) or evenly spaced (regular) spikes, or both "
                             "(default both: the coding moves the accuracy more than the devices do)")
    parser.add_argument("--max-spikes", type=float, default=RateCoding.max_spikes,
                        help="mean input spikes of a full-intensity pixel per image, an input (default %(default)s: "
                             "about the reference's 136 input spikes per 12x12 MNIST image)")
    parser.add_argument("--window", type=float, default=RateCoding.window_s, help="presentation time per image in s (default %(default)g)")
    add_stuck_cell_options(parser, "default: the public 1T1R array's cycling log, announced as a dataset default")
    errors = parser.add_mutually_exclusive_group()
    errors.add_argument("--ber", type=float, default=None,
                        help="what-if case: flip cell states (LRS<->HRS) with this symmetric probability "
                             "(not the 1T1R mechanism; off by default)")
    errors.add_argument("--ber-table", type=Path, metavar="FILE",
                        help="what-if case: flip cell states with the binary condition of this table at exactly "
                             "the characterization's corner, supply and temperature")
    parser.add_argument("--ratios", type=comma_floats, default=DEFAULT_RATIOS, metavar="R1,R2,...",
                        help="HRS/LRS current ratios of the leakage sweep besides the characterized one "
                             "(default 4,2,1.5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of devices, input spikes, bit errors (default 0)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR")
    parser.set_defaults(handler=run)


def _flips(args: argparse.Namespace, table: CharacterizationTable) -> tuple[TransitionMatrix | None, str]:
    """The what-if cell-flip matrix, if asked: symmetric, or the table's condition at
    exactly the characterization's corner, supply and temperature (never another one)."""
    if args.ber_table is None:
        if args.ber is None:
            return None, ""
        symmetric = BerTable.symmetric(args.ber, "binary")
        return symmetric.transition_matrix(symmetric.conditions()[0]), f"synthetic symmetric flips {args.ber:g}"
    bers = BerTable.read(args.ber_table)
    exact = [c for c in bers.conditions() if c.scheme == "binary" and c.corner == table.corner
             and math.isclose(c.vdd, table.vdd) and math.isclose(c.temp_c, table.temp_c)]
    if len(exact) != 1:
        have = ", ".join(c.label() for c in bers.conditions()) or "none"
        raise CircuitkitError(
            f"{args.ber_table}: expected one binary condition at exactly the characterization's {table.label()} "
            f"and found {len(exact)}; the table has: {have}. Characterize that condition (--characterize --corner) "
            "or pass a table simulated there")
    transition = bers.transition_matrix(exact[0])
    return transition, f"{args.ber_table.name}: {exact[0].label()}, flip rate {transition.error_rate:.3g}"


def _device(args: argparse.Namespace, table: CharacterizationTable) -> DeviceNonideality:
    """The table's device with the stuck cells asked for (else the dataset default),
    every default part announced on stderr."""
    if args.stuck_lrs is None and args.stuck_hrs is None:
        stuck = StuckCells.dataset_default()
    else:
        stuck = StuckCells(args.stuck_lrs or 0.0, args.stuck_hrs or 0.0, "given on the command line")
    device = dataclasses.replace(table.device(), stuck=stuck)
    device.announce(lambda message: print(f"snn: {message}", file=sys.stderr))
    return device


def _table(args: argparse.Namespace) -> CharacterizationTable:
    if not args.characterize:
        table = load_table(args.table, corner=args.corner)
        table.check_condition(vdd=args.vdd, temp_c=args.temp_c)
        return table
    from circuitkit.snn.characterize import DEFAULT_MC_SAMPLES, characterize

    command = "circuitkit snn " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    table = characterize(operating_point(args), command=command, mc_samples=args.mc_samples or DEFAULT_MC_SAMPLES)
    return CharacterizationTable.read(table.write(args.output / "snn_characterization.json"))


def run(args: argparse.Namespace) -> int:
    if args.chips < 2:
        raise CircuitkitError(f"--chips must be >= 2 (an interval over chips needs two), got {args.chips}")
    codings = [RateCoding(kind, args.max_spikes, args.window) for kind in (CODINGS if args.coding == "both"
                                                                            else (args.coding,))]
    dataset = load_snn_dataset(args.dataset)
    if any(not r > 1 for r in args.ratios):
        raise CircuitkitError(f"--ratios must all be > 1 (HRS above LRS), got {args.ratios}")
    args.output.mkdir(parents=True, exist_ok=True)
    table = _table(args)
    if not args.characterize:
        table.write(args.output / "snn_characterization.json")
    flips, flips_label = _flips(args, table)
    device = _device(args, table)
    spread = threshold_spread(table)
    if not spread.enough:
        print(f"snn: warning: the neuron threshold spread of {table.source} comes from {spread.samples} Monte Carlo "
              f"samples (< {MIN_THRESHOLD_SAMPLES}); characterize with --mc-samples {MIN_THRESHOLD_SAMPLES} or more",
              file=sys.stderr)
    if args.weights is not None:
        weights = read_weights(args.weights)
        if weights.shape != (dataset.n_features, dataset.n_classes):
            raise WeightError(f"{args.weights}: {weights.shape[0]} rows x {weights.shape[1]} columns, expected "
                              f"{dataset.n_features} x {dataset.n_classes} (one row per input pixel of "
                              f"{dataset.name}, one column per class)")
        origin = str(args.weights)
    else:
        trained = train_snn_weights(dataset, TanhConfig(seed=args.seed))
        weights = trained.weights
        origin = f"trained here (tanh single layer, float test accuracy {trained.float_accuracy:.4f}, quantized)"
    write_weights(weights, args.output / "snn_weights.csv")
    x, y = dataset.x_test, dataset.y_test

    cases, evaluations, summary = spirit_comparison(weights, table, dataset, chips=args.chips, codings=codings,
                                                    device=device, flips=flips, flips_label=flips_label,
                                                    seed=args.seed, weights_origin=origin)
    accuracy_csv = write_cases_csv(cases, args.output / "snn_accuracy.csv")
    first = codings[0]
    nominal = table.synapse.on_off_ratio
    ratios = tuple(sorted({nominal, *args.ratios}, reverse=True))
    sweep = leakage_sweep(weights, table, x, y, ratios, chips=args.chips, coding=first, seed=args.seed)
    write_cases_csv(sweep, args.output / "snn_leakage.csv", extra=[("hrs_lrs_ratio", ratios)])
    plot_leakage(sweep, ratios, args.output / "snn_accuracy_vs_leakage.png", nominal_ratio=nominal,
                 quantized=cases[0].mean, title=f"{dataset.name}, {table.label()}, {first.kind} coding")
    energy = energy_summary(weights, table, x, evaluations[first.kind].runs["snn_spread"], first)
    energy["weights"] = origin
    (args.output / "snn_energy.json").write_text(json.dumps(energy, indent=1) + "\n")
    (args.output / "snn_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot_raster(raster(weights, table, x[0], int(y[0]), coding=first, seed=args.seed),
                args.output / "snn_raster.png", n_out=weights.shape[1], corner=table.corner)
    plot_transfer(table, args.output / "snn_neuron_transfer.png")

    print(f"{dataset.name}: {x.shape[1]} inputs x {weights.shape[1]} IF neurons, {len(y)} test images, "
          f"{table.label()} ({table.source}), {args.chips} chips per case")
    print(f"neuron threshold spread {spread.sigma_rel:.3g} (95 % CI {spread.low:.3g}-{spread.high:.3g}, "
          f"{spread.samples} Monte Carlo samples); stuck cells LRS {device.stuck.stuck_lrs:.3g}, "
          f"HRS {device.stuck.stuck_hrs:.3g}")
    print(f"{'coding':<8} {'case':<24} {'accuracy':>9}  95 % interval        agreement  ties")
    for case in cases:
        if case.case == "quantized":
            print(f"{'-':<8} {case.case:<24} {case.mean:9.4f}  [{case.low:.4f}, {case.high:.4f}]  (test images)")
        else:
            print(f"{case.coding:<8} {case.case:<24} {case.mean:9.4f}  [{case.low:.4f}, {case.high:.4f}]  "
                  f"{case.agreement:9.4f}  {case.ties:.3f}")
    print(f"reference (SPIRIT, Valentian et al., IEDM 2019): {REFERENCE['accuracy_measured']:.0%} measured, "
          f"{REFERENCE['accuracy_ideal_topology']:.0%} ideal simulation of the topology")
    print(f"HRS/LRS ratio -> accuracy (SNN with spread, {first.kind}): " + ", ".join(
        f"{r:.3g}: {s.mean:.4f} [{s.low:.4f}, {s.high:.4f}]" for r, s in zip(ratios, sweep)))
    results = energy["results"]
    per_event = results["energy_per_synaptic_event_j"]
    print(f"energy per synaptic event (result): read + integration {per_event['dynamic_read_and_integration'] * 1e12:.2f} pJ, "
          f"total {per_event['total'] * 1e12:.2f} pJ with the static bias over the chosen {first.window_s * 1e6:g} us "
          f"window; reference {REFERENCE['energy_per_synaptic_event_j'] * 1e12:.1f} pJ")
    print(f"input spikes per image {energy['inputs']['input_spikes_per_image']['mean']:.1f} (an input: "
          f"--max-spikes {first.max_spikes:g}); energy per image {results['energy_per_image_j']['total'] * 1e9:.2f} nJ")
    print(f"wrote {accuracy_csv} and the rest of {args.output}/snn_*")
    return 0
