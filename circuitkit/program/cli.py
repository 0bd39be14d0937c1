"""`circuitkit program`: program cells in ngspice over a sweep of conditions and write the
energy-versus-bit-error trade-off table.

    circuitkit program [--v-wl 1.0,1.4] [--width 1e-6] [--verify on,off] [--set-amplitude 2.0]
                       [--target-ohm 20000] [--max-pulses 6] [--step-v-wl 0.1] [--cells 384]
                       [--read-samples 128] [--offset-samples 32] [--corner tt --vdd 1.8 --temp-c 27]
                       [--pulse-card CARD] [--start-card CARD] [--seed 1] -o OUTDIR

Writes OUTDIR/tradeoff.csv (one row per condition and architecture: energy per bit with its
interval, write-failure rate with its interval, read BER with its interval and method),
tradeoff.json (settings, bundled-card fallbacks, offset fit, methods), tradeoff.png (BER vs
energy per bit, probit axis) and one directory per condition (the programming campaign's
checkpoints and the 2T2R read campaign): rerun the same command to resume. A card not given
is the bundled real-device one, announced.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from circuitkit.argtypes import comma_floats, comma_separated
from circuitkit.device.distributions import MIN_CELLS_EMPIRICAL
from circuitkit.device.model import ModelCard
from circuitkit.mlc.campaign import add_card_options
from circuitkit.program.tradeoff import TradeoffConfig, run_tradeoff

DEFAULTS = TradeoffConfig()


def _switch(word: str) -> bool:
    if word not in ("on", "off"):
        raise ValueError(word)
    return word == "on"


_switches = comma_separated(_switch, "on/off switches (on, off or on,off)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "program", help="program cells in ngspice over compliance x width x verify; energy vs read BER table",
        description="SET cells from the fitted HRS through the sky130 access transistor in ngspice (the fitted "
                    "card's per-pulse spread, verify reads with its read noise), then read the programmed "
                    "distribution: 2T2R + PCSA in ngspice (mc) and, for 2T2R and 1T1R against a reference, the "
                    "PCSA offset integrated over the programmed cells. Checkpointed: rerun to resume.")
    parser.add_argument("--v-wl", type=comma_floats, default=DEFAULTS.v_wl, help="SET word-line voltages (V), the "
                        "compliance (default 1.0,1.4)")
    parser.add_argument("--width", type=comma_floats, default=DEFAULTS.width, help="SET pulse widths (s)")
    parser.add_argument("--verify", type=_switches, default=DEFAULTS.verify, help="on, off or on,off (default)")
    parser.add_argument("--set-amplitude", type=float, default=DEFAULTS.set_amplitude, help="bit-line amplitude (V)")
    parser.add_argument("--target-ohm", type=float, default=DEFAULTS.target_ohm,
                        help="verify target: a verify read at or below it passes (also the write-failure criterion)")
    parser.add_argument("--max-pulses", type=int, default=DEFAULTS.max_pulses, help="pulse budget with verify")
    parser.add_argument("--step-v-wl", type=float, default=DEFAULTS.step_v_wl,
                        help="word-line increment per verify pulse (V)")
    parser.add_argument("--cells", type=int, default=DEFAULTS.cells, help="cells per condition (at least "
                        f"{MIN_CELLS_EMPIRICAL}: the empirical distribution's tails need them)")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="cells per ngspice deck")
    parser.add_argument("--read-samples", type=int, default=DEFAULTS.read_samples,
                        help="mc reads per stored weight, condition and architecture (2T2R + PCSA, 1T1R vs reference)")
    parser.add_argument("--offset-samples", type=int, default=DEFAULTS.offset_samples,
                        help="reads per offset point of the PCSA offset fit")
    parser.add_argument("--corner", default=DEFAULTS.corner)
    parser.add_argument("--vdd", type=float, default=DEFAULTS.vdd)
    parser.add_argument("--temp-c", type=float, default=DEFAULTS.temp_c)
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    add_card_options(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from circuitkit.report.tradeoff import plot_tradeoff

    config = TradeoffConfig(v_wl=args.v_wl, width=args.width, verify=args.verify, set_amplitude=args.set_amplitude,
                            target_ohm=args.target_ohm, max_pulses=args.max_pulses, step_v_wl=args.step_v_wl,
                            cells=args.cells, batch_size=args.batch_size, read_samples=args.read_samples,
                            offset_samples=args.offset_samples, corner=args.corner, vdd=args.vdd,
                            temp_c=args.temp_c, seed=args.seed)
    pulse = ModelCard.load(args.pulse_card) if args.pulse_card else None  # None: the bundled card, announced
    start = ModelCard.load(args.start_card) if args.start_card else None
    result = run_tradeoff(config, args.output, pulse_card=pulse, start_card=start)
    plot_tradeoff(result.rows, args.output / "tradeoff.png", result.programmed)
    print(f"{'condition':28s} {'arch':5s} {'pJ/bit':>8s} {'write fail':>11s} {'BER':>9s} [95 % interval] method")
    for row in result.rows:
        print(f"{row['condition']:28s} {row['architecture']:5s} {row['energy_per_bit_j'] * 1e12:8.1f} "
              f"{row['write_failure']:11.2%} {row['ber']:9.2e} [{row['ber_ci_low']:.2e}, {row['ber_ci_high']:.2e}] "
              f"{row['ber_method']}")
    print(f"wrote {args.output}/tradeoff.csv, tradeoff.json, tradeoff.png")
    return 0
