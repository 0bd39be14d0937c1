"""Argument types and option groups the subcommands share (argparse), so that the same
quantity is spelled and parsed the same way everywhere: option names follow the Python
field they fill (`--vdd` -> `vdd`, `--temp-c` -> `temp_c`, `--batch-size` ->
`batch_size`), and a list is comma-separated (`--vdd 0.9,1.2,1.8`).

Neutral ground: no stage imports here except through these small parsers, and this
module imports no stage (only the neutral `OperatingPoint`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from circuitkit.operating import OperatingPoint

T = TypeVar("T")


def comma_separated(item: Callable[[str], T], what: str) -> Callable[[str], tuple[T, ...]]:
    """An argparse type: comma-separated values, each parsed by `item` (empty items are
    skipped), e.g. `comma_separated(float, "numbers")('0.9,1.8')` -> (0.9, 1.8)."""

    def parse(text: str) -> tuple[T, ...]:
        try:
            return tuple(item(part.strip()) for part in text.split(",") if part.strip())
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from None

    parse.__name__ = f"comma-separated {what}"   # argparse names the type in its messages
    return parse


# Comma-separated numbers, as `circuitkit ber --vdd` and `circuitkit snn --ratios` take them.
comma_floats = comma_separated(float, "numbers")
comma_names = comma_separated(str, "names")


def weight(text: str) -> int:
    """A stored weight: +1, 0 or -1 (range-checked by the bench)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a weight: use +1, 0 or -1") from None


def add_operating_point_options(parser: argparse.ArgumentParser) -> None:
    """`--corner`, `--vdd`, `--temp-c` (alias `--temp`): one `OperatingPoint`; each left
    out takes the bench's default (None here)."""
    parser.add_argument("--corner", help="process corner tt ff ss sf fs (default tt)")
    parser.add_argument("--vdd", type=float, help="supply in V (default 1.8; ternary 0.9)")
    parser.add_argument("--temp-c", "--temp", dest="temp_c", type=float, help="temperature in C (default 27)")


def operating_point(args: argparse.Namespace, default: OperatingPoint = OperatingPoint()) -> OperatingPoint:
    """The point `add_operating_point_options` asked for; what they leave out comes from `default`."""
    return OperatingPoint(
        args.corner or default.corner,
        default.vdd if args.vdd is None else args.vdd,
        default.temp_c if args.temp_c is None else args.temp_c,
    )


def add_stuck_cell_options(parser: argparse.ArgumentParser, default: str) -> None:
    """`--stuck-lrs P`, `--stuck-hrs P`: the stuck-cell part of a device nonideality
    (`default` says what leaving both out means for this command)."""
    parser.add_argument("--stuck-lrs", type=float, default=None, metavar="P",
                        help=f"probability that a cell programmed to HRS stays in LRS ({default})")
    parser.add_argument("--stuck-hrs", type=float, default=None, metavar="P",
                        help=f"probability that a cell programmed to LRS stays in HRS ({default})")
