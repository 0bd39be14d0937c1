"""`circuitkit disturb`: read disturb over a lifetime, per scheme, corner and read bias.

The command line's front end to `circuitkit.corners.disturb`: options named as the
`DisturbConfig` fields they fill; the settings are checked (supplies, clamp voltages,
word-line rise time, read count) before any simulation; writes OUTDIR/disturb_table.csv, disturb.json and
reads_to_failure.png.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from circuitkit.argtypes import comma_floats, comma_names
from circuitkit.corners.disturb import FIGURE_FILE, JSON_FILE, TABLE_FILE, DisturbConfig


def _optional(what: str):
    """An argparse type: a number (`what` says its unit) or none/off."""
    def parse(text: str) -> float | None:
        if text.strip().lower() in ("none", "off", ""):
            return None
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} or 'none', got {text!r}") from None
    return parse


_optional_volts = _optional("a voltage in V")


def config_from_args(args: argparse.Namespace) -> DisturbConfig:
    return DisturbConfig(schemes=args.schemes, corners=args.corners, vdd=args.vdd, ternary_vdd=args.ternary_vdd,
                         temp_c=args.temp_c, reads=args.reads, clamp_v=args.clamp_v,
                         ternary_clamp_v=args.ternary_clamp_v, wl_rise=args.wl_rise, wl_lead=args.wl_lead,
                         margin_fraction=args.margin_fraction,
                         horizon=args.horizon)


def _disturb(args: argparse.Namespace) -> int:
    from circuitkit.corners.disturb import card_source, run_disturb, write_disturb
    from circuitkit.device.model import ModelCard

    config = config_from_args(args)  # every setting checked before anything runs
    card = ModelCard.load(args.model_card) if args.model_card else ModelCard.default()
    result = run_disturb(config, card, card_source(args.model_card), log=(lambda _: None) if args.quiet else print)
    paths = write_disturb(result, args.output, card)
    print(f"{'scheme':<8} {'w':>2} {'corner':<20} {'bias':<22} {'peak V':>7} {'SET mV':>7} {'fJ/read':>8} "
          f"{'dg/read pm':>11} {'delay ps':>8} {'margin':>7} {'read fJ':>8}  reads to failure")
    for row in result.rows:
        worst = max(row.devices, key=lambda d: d.peak_reset_v)
        change = max((abs(d.change_per_read_m) for d in row.devices))
        rtf = (row.status if row.reads_to_failure is None else
               f"{row.reads_to_failure:.3g} [{row.interval[0]:.3g}, {row.interval[1]:.3g}]")
        peak_set = max(d.peak_set_v for d in row.devices)
        print(f"{row.scheme:<8} {row.weight:>+2d} {row.point.label():<20} {row.bias:<22} {worst.peak_reset_v:>7.3f} "
              f"{peak_set * 1e3:>7.1f} {sum(d.energy_per_read_j for d in row.devices) * 1e15:>8.3f} "
              f"{change * 1e12:>11.3g} {row.delay_s * 1e12 if math.isfinite(row.delay_s) else math.nan:>8.1f} "
              f"{row.margin_v:>7.3f} {row.energy_j * 1e15:>8.2f}  {rtf}")
    for failure in result.failures:
        print(f"FAILED (no rows): {failure}")
    for retry in result.retries:
        print(f"RETRIED (ngspice did not converge with its default settings): {retry}")
    print(f"reads simulated per transient: {config.reads}; beyond them every number is the drift law's "
          f"extrapolation (see 'basis' in {paths['table']})")
    print(f"wrote {Path(args.output) / TABLE_FILE}, {JSON_FILE}, {FIGURE_FILE}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    defaults = DisturbConfig()
    parser = subparsers.add_parser(
        "disturb", help="read disturb over a lifetime: cell stress per read, drift law, reads to failure",
        description="Simulates consecutive reads in ngspice for each scheme x corner x supply x temperature, "
        "as designed, with a bit-line clamp, a slew-limited word line or an early word line; fits the state drift per read and extrapolates the reads until the "
        "sense margin or the read fails. Writes OUTDIR/disturb_table.csv, disturb.json, reads_to_failure.png.",
    )
    parser.add_argument("--output", "-o", required=True, type=Path, help="output directory")
    parser.add_argument("--model-card", help="model card JSON (default: the Verilog-A defaults)")
    parser.add_argument("--schemes", type=comma_names, default=defaults.schemes, help="binary,ternary,xnor (default binary,ternary)")
    parser.add_argument("--corners", type=comma_names, default=defaults.corners, help="process corners (default tt,ff)")
    parser.add_argument("--vdd", type=comma_floats, default=defaults.vdd, help="binary- and XNOR-read supplies in V (default 1.8,1.98)")
    parser.add_argument("--ternary-vdd", type=comma_floats, default=defaults.ternary_vdd,
                        help="ternary-read supplies in V (default 0.9,0.99)")
    parser.add_argument("--temp-c", "--temp", dest="temp_c", type=comma_floats, default=defaults.temp_c,
                        help="temperatures in C (default 27,125)")
    parser.add_argument("--reads", type=int, default=defaults.reads,
                        help=f"consecutive reads simulated per transient, >= 8 (default {defaults.reads})")
    parser.add_argument("--clamp-v", type=_optional_volts, default=defaults.clamp_v,
                        help=f"bit-line clamp gate voltage of the binary and XNOR reads, or none (default {defaults.clamp_v})")
    parser.add_argument("--ternary-clamp-v", type=_optional_volts, default=defaults.ternary_clamp_v,
                        help=f"clamp gate voltage of the ternary reads, or none (default {defaults.ternary_clamp_v})")
    parser.add_argument("--wl-rise", type=_optional("a rise time in s"), default=defaults.wl_rise,
                        help="rise time (s) of the slew-limited word line every scheme is also read with, against "
                        f"the SET-direction glitch of the rising word line, or none (default {defaults.wl_rise:g})")
    parser.add_argument("--wl-lead", type=_optional("a time in s"), default=defaults.wl_lead,
                        help="also read with the word line raised this long (s) before evaluation, while the bit "
                        "line still precharges (another sequencing against the same glitch), or none (default none)")
    parser.add_argument("--margin-fraction", type=float, default=defaults.margin_fraction,
                        help="a read fails when its margin falls below this fraction of the fresh unclamped "
                        f"margin (default {defaults.margin_fraction})")
    parser.add_argument("--horizon", type=float, default=defaults.horizon,
                        help=f"largest read count extrapolated to (default {defaults.horizon:g})")
    parser.add_argument("--quiet", action="store_true", help="no per-row progress lines")
    parser.set_defaults(handler=_disturb)
