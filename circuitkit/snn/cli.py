"""`circuitkit snn`: the SPIRIT-style spiking system from circuit characterization to
accuracy and energy.

    circuitkit snn [--dataset digits|DIR] [--corner tt] [--table FILE | --characterize]
                   [--weights FILE.csv] [--trials T] [--ber P | --ber-table FILE] -o OUTDIR

Writes into OUTDIR:
    snn_accuracy.csv        quantized network and the SNN ideal / with spread / with spread + bit errors
    snn_leakage.csv         SNN accuracy against the HRS/LRS ratio (HRS leakage)
    snn_energy.json         energy per synaptic event and per image, input spikes per image, vs the reference
    snn_raster.png          input and output spikes of one classification
    snn_accuracy_vs_leakage.png
    snn_neuron_transfer.png the characterized neuron: spike rate vs input current, spikes per input charge
    snn_weights.csv         the -4..+4 weights used (trained here unless --weights was given)
    snn_characterization.json   the table the run used (copied, or simulated with --characterize)
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

from circuitkit import CircuitkitError
from circuitkit.ber_table import BerTable, TransitionMatrix
from circuitkit.argtypes import comma_floats  # comma-separated numbers, as `circuitkit ber` takes them
from circuitkit.snn.evaluate import (
    REFERENCE,
    energy_summary,
    evaluate_cases,
    leakage_sweep,
    plot_leakage,
    plot_raster,
    plot_transfer,
    write_cases_csv,
)
from circuitkit.snn.simulate import CODINGS, RateCoding
from circuitkit.snn.table import CharacterizationTable, load_table
from circuitkit.snn.train import TanhConfig, WeightError, load_snn_dataset, read_weights, train_snn_weights, write_weights

DEFAULT_BER = 1e-2
DEFAULT_RATIOS = (4.0, 2.0, 1.5)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "snn",
        help="single-layer SNN on RRAM synapses and IF neurons: accuracy and energy from the circuit",
        description="Train -4..+4 weights, simulate the spiking network event by event on many chips with the "
                    "characterized neuron and RRAM read, and report accuracy (95 % intervals) and energy.",
    )
    parser.add_argument("--dataset", default="digits", metavar="digits|DIR",
                        help="bundled 'digits' (8x8, default) or a directory with the MNIST IDX files (12x12)")
    parser.add_argument("--corner", default=None, help="process corner of the characterization (default tt); "
                        "a --table made at another corner is refused")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--table", type=Path, metavar="FILE", help="characterization table JSON (default: bundled)")
    source.add_argument("--characterize", action="store_true",
                        help="simulate the characterization in ngspice for --corner first (30-60 s on 2 cores)")
    parser.add_argument("--mc-samples", type=int, default=None, help="mismatch samples of --characterize")
    parser.add_argument("--weights", type=Path, metavar="FILE.csv",
                        help="integer weights -4..4, one row per input, one column per class (default: train)")
    parser.add_argument("--trials", type=int, default=20, metavar="T", help="chips per SNN case (default 20)")
    parser.add_argument("--coding", choices=CODINGS, default=RateCoding.kind, help="input rate code (default poisson)")
    parser.add_argument("--max-spikes", type=float, default=RateCoding.max_spikes,
                        help="mean input spikes of a full-intensity pixel per image (default %(default)s: about "
                             "the reference's 136 input spikes per digits image)")
    parser.add_argument("--window", type=float, default=RateCoding.window_s, help="presentation time per image in s (default %(default)g)")
    errors = parser.add_mutually_exclusive_group()
    errors.add_argument("--ber", type=float, default=None,
                        help=f"symmetric cell bit-error rate (LRS<->HRS) of the bit-error case (default {DEFAULT_BER:g})")
    errors.add_argument("--ber-table", type=Path, metavar="FILE",
                        help="bit-error table: its binary condition at the characterization's corner "
                             "is applied to cell states (+1 LRS, -1 HRS)")
    parser.add_argument("--ratios", type=comma_floats, default=DEFAULT_RATIOS, metavar="R1,R2,...",
                        help="HRS/LRS current ratios of the leakage sweep besides the characterized one "
                             "(default 4,2,1.5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of devices, input spikes, bit errors (default 0)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR")
    parser.set_defaults(handler=run)


def _transition(args: argparse.Namespace, table: CharacterizationTable) -> tuple[TransitionMatrix, str]:
    if args.ber_table is None:
        ber = DEFAULT_BER if args.ber is None else args.ber
        symmetric = BerTable.symmetric(ber, "binary")
        return symmetric.transition_matrix(symmetric.conditions()[0]), f"synthetic symmetric BER {ber:g}"
    bers = BerTable.read(args.ber_table)
    matching = [c for c in bers.conditions() if c.scheme == "binary" and c.corner == table.corner]
    exact = [c for c in matching if math.isclose(c.vdd, table.vdd) and math.isclose(c.temp_c, table.temp_c)]
    chosen = exact or matching
    if len(chosen) != 1:
        have = ", ".join(c.label() for c in bers.conditions()) or "none"
        raise CircuitkitError(
            f"{args.ber_table}: expected one binary condition at corner {table.corner} "
            f"(vdd {table.vdd:g} V, {table.temp_c:g} C, as the characterization) and found {len(chosen)}; "
            f"the table has: {have}")
    transition = bers.transition_matrix(chosen[0])
    return transition, f"{args.ber_table.name}: {chosen[0].label()}, BER {transition.error_rate:.3g}"


def _table(args: argparse.Namespace) -> CharacterizationTable:
    if not args.characterize:
        return load_table(args.table, corner=args.corner)
    from circuitkit.operating import OperatingPoint
    from circuitkit.snn.characterize import DEFAULT_MC_SAMPLES, characterize

    command = "circuitkit snn " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    table = characterize(OperatingPoint(args.corner or "tt"), command=command,
                         mc_samples=args.mc_samples or DEFAULT_MC_SAMPLES)
    return CharacterizationTable.read(table.write(args.output / "snn_characterization.json"))


def run(args: argparse.Namespace) -> int:
    if args.trials < 2:
        raise CircuitkitError(f"--trials must be >= 2 (an interval over chips needs two), got {args.trials}")
    coding = RateCoding(args.coding, args.max_spikes, args.window)
    dataset = load_snn_dataset(args.dataset)
    args.output.mkdir(parents=True, exist_ok=True)
    table = _table(args)
    if not args.characterize:
        table.write(args.output / "snn_characterization.json")
    transition, bit_error_label = _transition(args, table)
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

    evaluation = evaluate_cases(weights, table, x, y, chips=args.trials, coding=coding, transition=transition,
                                bit_error_label=bit_error_label, seed=args.seed)
    accuracy_csv = write_cases_csv(evaluation.cases, args.output / "snn_accuracy.csv")
    nominal = table.synapse.on_off_ratio
    if any(not r > 1 for r in args.ratios):
        raise CircuitkitError(f"--ratios must all be > 1 (HRS above LRS), got {args.ratios}")
    ratios = tuple(sorted({nominal, *args.ratios}, reverse=True))
    sweep = leakage_sweep(weights, table, x, y, ratios, chips=args.trials, coding=coding, seed=args.seed)
    write_cases_csv(sweep, args.output / "snn_leakage.csv", extra=[("hrs_lrs_ratio", ratios)])
    plot_leakage(sweep, ratios, args.output / "snn_accuracy_vs_leakage.png", nominal_ratio=nominal,
                 quantized=evaluation.cases[0].mean, title=f"{dataset.name}, {table.label()}")
    energy = energy_summary(weights, table, x, evaluation.runs["snn_spread"], coding)
    energy["weights"] = origin
    (args.output / "snn_energy.json").write_text(json.dumps(energy, indent=1) + "\n")
    plot_raster(weights, table, x[0], int(y[0]), args.output / "snn_raster.png", coding=coding, seed=args.seed)
    plot_transfer(table, args.output / "snn_neuron_transfer.png")

    print(f"{dataset.name}: {x.shape[1]} inputs x {weights.shape[1]} IF neurons, {len(y)} test images, "
          f"{table.label()} ({table.source}), {args.trials} chips per case, {coding.kind} coding")
    print(f"{'case':<24} {'accuracy':>9}  95 % interval        agreement  ties")
    for case in evaluation.cases:
        print(f"{case.case:<24} {case.mean:9.4f}  [{case.low:.4f}, {case.high:.4f}]  "
              f"{case.agreement:9.4f}  {case.ties:.3f}" if case.case != "quantized" else
              f"{case.case:<24} {case.mean:9.4f}  [{case.low:.4f}, {case.high:.4f}]  (test images)")
    print("HRS/LRS ratio -> accuracy (SNN with spread): " + ", ".join(
        f"{r:.3g}: {s.mean:.4f} [{s.low:.4f}, {s.high:.4f}]" for r, s in zip(ratios, sweep)))
    per_event = energy["energy_per_synaptic_event_j"]
    spikes = energy["input_spikes_per_image"]["mean"]
    print(f"energy per synaptic event {per_event['total'] * 1e12:.2f} pJ "
          f"(read + integration {per_event['dynamic_read_and_integration'] * 1e12:.2f} pJ, the rest static bias and "
          f"output spikes); reference {REFERENCE['energy_per_synaptic_event_j'] * 1e12:.1f} pJ")
    print(f"input spikes per image {spikes:.1f}; reference {REFERENCE['input_spikes_per_image']:.0f}; "
          f"energy per image {energy['energy_per_image_j']['total'] * 1e9:.2f} nJ")
    print(f"wrote {accuracy_csv} and the rest of {args.output}/snn_*")
    return 0
