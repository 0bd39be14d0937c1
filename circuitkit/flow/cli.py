"""`circuitkit run FLOW.toml` and `circuitkit demo`: the flow from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from circuitkit.flow.config import FlowConfig
from circuitkit.flow.demo import demo_flow
from circuitkit.flow.stages import run_flow


def _run(args) -> int:
    config = FlowConfig.from_toml(args.flow)
    if args.output is not None:
        config = dataclasses.replace(config, output=args.output)
    if args.workers is not None:
        config = dataclasses.replace(config, workers=args.workers)
    return _execute(config)


def _demo(args) -> int:
    config = demo_flow(args.output)
    if args.workers is not None:
        config = dataclasses.replace(config, workers=args.workers)
    return _execute(config)


def _execute(config: FlowConfig) -> int:
    started = time.perf_counter()
    records = run_flow(config)
    ran = [name for name, record in records.items() if record.ran]
    print(f"flow finished in {time.perf_counter() - started:.1f} s: {len(ran)} of {len(records)} stages ran "
          f"({', '.join(ran) or 'none: everything was up to date'}); report: {Path(config.output) / 'report.html'}")
    return 0


def add_parser(subparsers) -> None:
    run = subparsers.add_parser(
        "run", help="run the whole flow from a FLOW.toml (stages skipped when up to date)",
        description="Fit, netlists, PVT campaigns, network accuracy and the report, from a configuration file; "
                    "a stage whose inputs (content hashes) are unchanged is skipped.")
    run.add_argument("flow", type=Path, help="FLOW.toml (see the README)")
    run.add_argument("-o", "--output", type=Path, help="output directory (overrides [flow] output)")
    run.add_argument("--workers", type=int, help="worker processes (overrides [flow] workers)")
    run.set_defaults(handler=_run)
    demo = subparsers.add_parser(
        "demo", help="the whole flow on the bundled data (what `make demo` runs)",
        description="Fits real devices (the bundled 130 nm 1T1R array data: low-field reads, SET/RESET sweeps with "
                    "the access transistor in the loop, LRS/HRS distributions), generates the 2T2R + PCSA netlists, "
                    "runs a small PVT campaign (binary, ternary, rare-event rows), injects the tables into the "
                    "bundled BNN and TNN and writes OUTDIR/report.html.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("-o", "--output", type=Path, default=Path("out/demo"), help="output directory")
    demo.add_argument("--workers", type=int, help="worker processes (default 2)")
    demo.set_defaults(handler=_demo)
