"""`circuitkit netlist KIND -o FILE` and `circuitkit simulate FILE`: the netlist stage's
command line. It turns options into one `OperatingPoint` and one bench, and writes the
bench's text; `simulate` measures a file through `circuitkit.netlist.run`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from circuitkit import CircuitkitError
from circuitkit.argtypes import add_operating_point_options, comma_separated, operating_point, weight
from circuitkit.device.model import ModelCard
from circuitkit.netlist import arrays as array_mod
from circuitkit.netlist import common, neuron, pcsa
from circuitkit.netlist.bench import Bench
from circuitkit.netlist.run import format_outcome, simulate_file
from circuitkit.netlist.wires import WireGeometry

KINDS = (*pcsa.KINDS, array_mod.ArrayReadBench.kind, neuron.NeuronBench.kind)


def _card(args: argparse.Namespace) -> ModelCard | None:
    return ModelCard.load(args.model_card) if args.model_card else None


def _timing(args: argparse.Namespace, default: pcsa.ReadTiming) -> pcsa.ReadTiming:
    fields = {"t_precharge": args.t_precharge, "t_evaluate": args.t_evaluate, "t_sample": args.t_sample,
              "t_margin": args.t_margin}
    return dataclasses.replace(default, **{k: v for k, v in fields.items() if v is not None})


def build(args: argparse.Namespace) -> Bench:
    """The bench the command line asks for (all validation happens here)."""
    common_fields = {"card": _card(args), "mismatch": args.mismatch}
    states = common.RramStates(args.lrs, args.hrs)
    if args.kind == "2t2r-pcsa":
        return pcsa.two_t_two_r_pcsa(args.weight, point=operating_point(args),
                                     timing=_timing(args, pcsa.ReadTiming()),
                                     states=states, reads=args.reads, **common_fields)
    if args.kind == "ternary-pcsa":
        return pcsa.ternary_pcsa(args.weights or (+1, 0, -1), point=operating_point(args, pcsa.TERNARY_POINT),
                                 timing=_timing(args, pcsa.TERNARY_TIMING), states=states, **common_fields)
    if args.kind == "xnor-pcsa":
        return pcsa.xnor_pcsa(point=operating_point(args), timing=_timing(args, pcsa.ReadTiming()), states=states,
                              **common_fields)
    if args.kind == "array":
        weights = array_mod.weight_pattern(args.rows, args.cols, args.pattern, seed=args.seed,
                                           ternary=args.ternary)
        wires = array_mod.WireParasitics(args.r_bitline, args.c_bitline, args.r_wordline, args.c_wordline)
        if args.wire_width_um is not None:
            wires = WireGeometry(wordline_width_um=args.wire_width_um, bitline_width_um=args.wire_width_um).parasitics()
        return array_mod.ArrayReadBench(weights, point=operating_point(args),
                                        timing=_timing(args, pcsa.ReadTiming()),
                                        states=states, wires=wires, read_rows=args.read_rows, inputs=args.inputs,
                                        options=None if args.reltol is None else {"reltol": args.reltol},
                                        **common_fields)
    params = neuron.NeuronParams(c_mem=args.c_mem, v_th=args.v_th, t_refractory=args.t_refractory)
    return neuron.if_neuron(args.r_positive, args.r_negative, point=operating_point(args), params=params,
                            t_stop=args.t_stop, **common_fields)


def _netlist(args: argparse.Namespace) -> int:
    bench = build(args)
    if args.output is None or str(args.output) == "-":
        sys.stdout.write(bench.to_netlist())
    else:
        path = bench.write(args.output)
        print(f"wrote {path} ({args.kind})", file=sys.stderr)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        text = path.read_text()
    except OSError as error:
        raise CircuitkitError(f"cannot read netlist {path}: {error}") from error
    print(format_outcome(simulate_file(text, workdir=args.workdir, name=path.stem)))
    return 0


def _optional_resistance(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    net = subparsers.add_parser(
        "netlist", help="write a 2T2R/PCSA, ternary, XNOR, array or IF-neuron netlist",
        description="Generate a readable ngspice netlist (sky130 FETs, rram_hfox RRAMs) with its measurements.",
    )
    net.add_argument("kind", choices=KINDS, metavar="KIND", help=f"one of {', '.join(KINDS)}")
    net.add_argument("-o", "--output", type=Path, help="netlist file to write (default: standard output)")
    add_operating_point_options(net)
    net.add_argument("--mismatch", action="store_true", help="per-instance transistor mismatch (<corner>_mm)")
    net.add_argument("--model-card", help="RRAM model card JSON (default: the .va defaults)")
    net.add_argument("--lrs", type=float, default=common.RramStates.lrs,
                     help="LRS read resistance in ohm at the card's read voltage (default %(default)g: the median of "
                          "the default device states)")
    net.add_argument("--hrs", type=float, default=common.RramStates.hrs,
                     help="HRS read resistance in ohm at the card's read voltage (default %(default)g)")
    reads = net.add_argument_group("2t2r-pcsa, ternary-pcsa, xnor-pcsa, array")
    reads.add_argument("--weight", type=weight, default=+1, help="2t2r-pcsa stored weight +1 or -1 (default +1)")
    reads.add_argument("--weights", type=comma_separated(weight, "weights"), help="ternary-pcsa weights, e.g. 1,0,-1")
    reads.add_argument("--reads", type=int, default=1, help="2t2r-pcsa: consecutive reads (default 1)")
    for name in ("precharge", "evaluate", "sample", "margin"):
        reads.add_argument(f"--t-{name}", type=float, help=f"read timing: t_{name} in s")
    arr = net.add_argument_group("array")
    arr.add_argument("--rows", type=int, default=4)
    arr.add_argument("--cols", type=int, default=4)
    arr.add_argument("--pattern", default="random", choices=array_mod.PATTERNS)
    arr.add_argument("--seed", type=int, default=1, help="seed of the random pattern")
    arr.add_argument("--ternary", action="store_true", help="patterns with 0 weights (HRS/HRS)")
    defaults = array_mod.WireParasitics()
    arr.add_argument("--r-bitline", type=float, default=defaults.r_bitline, help="ohm per cell pitch")
    arr.add_argument("--c-bitline", type=float, default=defaults.c_bitline, help="F per cell pitch")
    arr.add_argument("--r-wordline", type=float, default=defaults.r_wordline, help="ohm per cell pitch")
    arr.add_argument("--c-wordline", type=float, default=defaults.c_wordline, help="F per cell pitch")
    arr.add_argument("--wire-width-um", type=float,
                     help="derive every wire's R and C from this drawn line width on sky130 metal 1 at a 1 um cell "
                          "pitch (netlist.wires.WireGeometry; overrides --r-*/--c-*)")
    arr.add_argument("--read-rows", type=comma_separated(int, "rows"),
                     help="rows to read, e.g. 0,63,127 (default: every row), each in its own read cycle")
    arr.add_argument("--inputs", type=comma_separated(weight, "inputs"),
                     help="XNOR array: one input +1/-1 per read row (an input swap before each column's PCSA)")
    arr.add_argument("--reltol", type=float, help="ngspice transient reltol (default ngspice's 1e-3)")
    neu = net.add_argument_group("if-neuron")
    p = neuron.NeuronParams()
    neu.add_argument("--r-positive", type=_optional_resistance, default=30e3,
                     help="positive synapse RRAM in ohm, or none (default 30k)")
    neu.add_argument("--r-negative", type=_optional_resistance, default=None,
                     help="negative synapse RRAM in ohm, or none (default none)")
    neu.add_argument("--c-mem", type=float, default=p.c_mem, help="membrane capacitor in F (default 200f)")
    neu.add_argument("--v-th", type=float, default=p.v_th, help="threshold distance from rest in V")
    neu.add_argument("--t-refractory", type=float, default=p.t_refractory, help="refractory period in s")
    neu.add_argument("--t-stop", type=float, default=2e-6, help="simulated time in s (default 2 us)")
    net.set_defaults(handler=_netlist)

    sim = subparsers.add_parser(
        "simulate", help="run a generated netlist in ngspice and print what it measures",
        description="Runs FILE (written by `circuitkit netlist`) with ngspice and prints the decisions, "
                    "delays, margins and energies (PCSA, array) or spike counts and period (IF neuron).",
    )
    sim.add_argument("file", help="netlist written by `circuitkit netlist`")
    sim.add_argument("--workdir", type=Path, help="keep the ngspice deck, log and raw file here")
    sim.set_defaults(handler=_simulate)
