"""`circuitkit learn`: learning with the simulated analog hardware in the loop.

    circuitkit learn hybrid  [--levels 8,16,32] [--chips 8] [--epochs 2] [--train-images N] [--test-images N]
                             [--wires|--ideal-wires] [--read-noise-scale 1] [--pulse-card CARD]
                             [--start-card CARD] -o OUTDIR
    circuitkit learn stellar [--asymmetry 0.25,1,4] [--nonlinearity 0,1] [--runs 5] [--threshold 0.5]
                             [--train-images N] [--test-images N] [--pulse-card CARD] [--start-card CARD]
                             -o OUTDIR

hybrid writes hybrid.csv (per level count: software, after transfer, after retraining,
with intervals over chips), hybrid_chips.csv, hybrid.json and hybrid.png; stellar writes
stellar.csv (per rule and device deformation: accuracy with its interval over runs,
pulses and energy per weight), stellar.json and stellar.png. Both use real MNIST (the
bundled 5,000 digits) and your fitted devices: `--pulse-card` (a card with a fitted pulse
model, `circuitkit fit ... --kind pulse`) and `--start-card` (a fitted HRS distribution,
`--kind distribution`); a card not given is the bundled real-device card, announced on the
console and recorded in the JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from circuitkit.argtypes import comma_floats, comma_separated
from circuitkit.crossbar.layer import CrossbarConfig
from circuitkit.files import write_json, write_rows_csv
from circuitkit.inject.data import load_mnist5k
from circuitkit.mlc.campaign import add_card_options, load_cards

comma_ints = comma_separated(int, "integers")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "learn", help="hybrid training of a CNN on multi-level crossbars, STELLAR on-chip learning",
        description="Learning with the simulated analog hardware in the loop, on real MNIST and the fitted devices.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    hybrid = verbs.add_parser("hybrid", help="software CNN -> multi-level crossbars -> last layer retrained in situ")
    hybrid.add_argument("--levels", type=comma_ints, default=(8, 16, 32), help="level counts (default 8,16,32)")
    hybrid.add_argument("--chips", type=int, default=8, help="independently programmed chips per level count")
    hybrid.add_argument("--epochs", type=int, default=2, help="in-situ retraining epochs")
    hybrid.add_argument("--train-images", type=int, default=None, help="training images for retraining (default all)")
    hybrid.add_argument("--test-images", type=int, default=None, help="test images (default all 1,000)")
    hybrid.add_argument("--ideal-wires", action="store_true", help="no wire resistance (default: the sky130 metal-1 "
                        "wire model of netlist.wires)")
    hybrid.add_argument("--read-noise-scale", type=float, default=1.0, help="multiply the fitted read noise")
    hybrid.add_argument("--seed", type=int, default=1)
    add_card_options(hybrid)
    hybrid.add_argument("-o", "--output", type=Path, required=True)
    hybrid.set_defaults(handler=run_hybrid_command)

    stellar = verbs.add_parser("stellar", help="sign/threshold updates as identical SET/RESET pulses")
    stellar.add_argument("--asymmetry", type=comma_floats, default=(0.25, 1.0, 4.0),
                         help="RESET step scales (1: the fitted model's own; default 0.25,1,4)")
    stellar.add_argument("--nonlinearity", type=comma_floats, default=(0.0, 2.0),
                         help="extra state dependence exponents (0: the model's own; default 0,2)")
    stellar.add_argument("--runs", type=int, default=5, help="runs per case (device draws, image order)")
    stellar.add_argument("--threshold", type=float, default=0.5, help="STELLAR error threshold (default 0.5)")
    stellar.add_argument("--epochs", type=int, default=1)
    stellar.add_argument("--train-images", type=int, default=None)
    stellar.add_argument("--test-images", type=int, default=None)
    add_card_options(stellar)
    stellar.add_argument("-o", "--output", type=Path, required=True)
    stellar.set_defaults(handler=run_stellar_command)


def run_hybrid_command(args: argparse.Namespace) -> int:
    from circuitkit.learn.cnn import load_bundled
    from circuitkit.learn.hybrid import HybridConfig, run_hybrid
    from circuitkit.report.analog import plot_hybrid

    hardware = CrossbarConfig(read_noise_scale=args.read_noise_scale,
                              **({"wires": None} if args.ideal_wires else {}))
    config = HybridConfig(levels=args.levels, chips=args.chips, retrain_epochs=args.epochs,
                          train_images=args.train_images, test_images=args.test_images, crossbar=hardware,
                          seed=args.seed)
    pulse_card, start_card, cards = load_cards(args.pulse_card, args.start_card)
    result = {**run_hybrid(load_bundled(), load_mnist5k(), config, pulse_card=pulse_card, start_card=start_card),
              "cards": cards}
    args.output.mkdir(parents=True, exist_ok=True)
    write_rows_csv(args.output / "hybrid.csv", result["rows"])
    write_rows_csv(args.output / "hybrid_chips.csv", [{k: (str(v) if isinstance(v, list) else v) for k, v in row.items()}
                                                      for row in result["chips"]])
    write_json(args.output / "hybrid.json", result)
    plot_hybrid(result, args.output / "hybrid.png")
    software = result["software"]
    print(f"software {software['accuracy']:.2%} [{software['ci_low']:.2%}, {software['ci_high']:.2%}] on "
          f"{software['test_images']} images; published (Yao et al., Nature 2020) 96.19 %")
    for row in result["rows"]:
        print(f"  {row['levels']:2d} levels, {row['chips']} chips: after transfer {row['after_transfer']:.2%} "
              f"[{row['after_transfer_ci_low']:.2%}, {row['after_transfer_ci_high']:.2%}], after retraining "
              f"{row['after_retraining']:.2%} [{row['after_retraining_ci_low']:.2%}, {row['after_retraining_ci_high']:.2%}]")
    return 0


def run_stellar_command(args: argparse.Namespace) -> int:
    from circuitkit.device.pulse import PulseModel
    from circuitkit.learn.stellar import PulseResponse, StellarConfig, compare_rules
    from circuitkit.mlc.engine import with_measured_read_noise
    from circuitkit.report.analog import plot_stellar

    pulse_card, start_card, cards = load_cards(args.pulse_card, args.start_card)
    model, read_noise = with_measured_read_noise(PulseModel.from_card(pulse_card))
    response = PulseResponse.from_model(model)
    base = StellarConfig(threshold=args.threshold, epochs=args.epochs, train_images=args.train_images,
                         test_images=args.test_images)
    dataset = load_mnist5k()
    rows = compare_rules(dataset, response, model, start_card, seeds=args.runs, rules=("ideal",), base=base)
    for nonlinearity in args.nonlinearity:
        for scale in args.asymmetry:
            device = response.deformed(reset_scale=scale, nonlinearity=nonlinearity)
            rows += compare_rules(dataset, device, model, start_card, seeds=args.runs, rules=("stellar", "sign"),
                                  base=base)
    args.output.mkdir(parents=True, exist_ok=True)
    write_rows_csv(args.output / "stellar.csv", rows)
    write_json(args.output / "stellar.json", {"rows": rows, "device": response.describe(), "read_noise": read_noise,
                                              "config": dataclasses.asdict(base), "cards": cards,
                                              "reference": "Zhang et al., Science 2023 (STELLAR)"})
    plot_stellar(rows, args.output / "stellar.png")
    print(f"wrote {args.output}/stellar.csv, stellar.json, stellar.png")
    return 0
