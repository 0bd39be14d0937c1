"""`circuitkit` command line: one argparse subcommand per stage of the flow.

Each stage module exposes `add_parser(subparsers)`; the subcommand's handler is stored
as the parser default `handler` and returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from circuitkit import CircuitkitError, __version__

# Stage modules that contribute subcommands, in the order `--help` lists them.
STAGE_MODULES = (
    "circuitkit.toolchain_cli",
    "circuitkit.netlist.cli",
    "circuitkit.device.cli",
    "circuitkit.corners.cli",
    "circuitkit.corners.disturb_cli",
    "circuitkit.flow",
    "circuitkit.inject.cli",
    "circuitkit.snn.cli",
    "circuitkit.mlc.cli",
    "circuitkit.crossbar.cli",
    "circuitkit.program.cli",
    "circuitkit.learn.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="circuitkit",
        description="HfOx RRAM in-memory computing: fit, netlist, simulate, PVT bit-error tables, network accuracy.",
    )
    parser.add_argument("--version", action="version", version=f"circuitkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in STAGE_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except CircuitkitError as error:
        print(f"circuitkit {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"circuitkit {args.command}: interrupted; finished work is kept on disk", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
