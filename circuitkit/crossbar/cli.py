"""`circuitkit crossbar`: characterise a small crossbar in ngspice against the vectorized
solver, and the multiply-accumulate (MAC) error of an analog layer on programmed tiles.

    circuitkit crossbar [--rows 16] [--cols 12] [--vectors 6] [--wire-width-um 0.14 | --r-pitch OHM]
                        [--layer 256x16] [--levels 32] [--chips 3] [--batch 256] [--seed 0]
                        [--pulse-card CARD] [--start-card CARD] -o OUTDIR

The cells are your fitted device (`--pulse-card`, its HRS start `--start-card`) or, for a card
not given, the bundled real-device card (announced, and recorded in crossbar.json).

1. Characterisation: a rows x cols crossbar of random conductances over the level range
   (the multi-level cells' up to 128 uS, within what the card's gap bounds read), read with binary (0 / read voltage) and
   analog input vectors: every column current from ngspice (`netlist.crossbar.
   CrossbarReadBench`, the compiled Verilog-A cells, every wire pitch a resistor) beside
   the vectorized `CrossbarNetwork` and the same network with ideal wires (the IR drop).
2. Layer: a Gaussian weight matrix (inputs x outputs) programmed by write-verify onto
   differential pairs of `--levels`-level cells (`crossbar.layer.AnalogLinear`: tiles,
   bit-serial 8-bit inputs, IR drop, fitted read noise, 8-bit ADC calibrated on a separate
   batch), one chip per draw; the MAC error of each output against the exact x @ W,
   normalised by the standard deviation of the exact outputs, and its two parts: the
   programming (x @ the programmed weights vs x @ W) and the circuit (the analog output vs
   x @ the programmed weights: IR drop, read noise, ADC). Per chip the rms errors; across
   chips their means with Student-t 95 % intervals.

Writes OUTDIR/characterisation.csv, layer_mac.csv (per chip), crossbar.json (settings,
figures, model notes) and crossbar.png (solver vs ngspice; the MAC errors on a probit axis).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.crossbar.layer import AnalogLinear, CrossbarConfig, Programmer
from circuitkit.crossbar.solver import CrossbarNetwork
from circuitkit.files import write_json, write_rows_csv
from circuitkit.mlc.campaign import add_card_options, load_cards
from circuitkit.netlist.arrays import WireParasitics
from circuitkit.netlist.crossbar import CrossbarReadBench
from circuitkit.netlist.wires import WireGeometry
from circuitkit.report.analog import plot_crossbar
from circuitkit.seeding import trial_generator, value_seed
from circuitkit.stats import mean_interval


def conductance_range(card) -> tuple[float, float]:
    """The characterisation's conductances: the level range (up to `CrossbarConfig.g_high`)
    within what the card's gap bounds can read, 5 % inside them."""
    g_low = 1.0 / float(card.resistance(card.value("gmax")))
    g_high = 1.0 / float(card.resistance(card.value("gmin")))
    return 1.05 * g_low, min(CrossbarConfig.g_high, 0.95 * g_high)


def _shape(text: str) -> tuple[int, int]:
    try:
        inputs, outputs = (int(v) for v in text.lower().split("x"))
        if inputs < 1 or outputs < 1:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected INPUTSxOUTPUTS such as 256x16, got {text!r}") from None
    return inputs, outputs


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "crossbar", help="analog crossbar: ngspice vs the vectorized solver, and an analog layer's MAC error",
        description="Characterise a small crossbar in ngspice against the vectorized solver (IR drop included), "
                    "then the multiply-accumulate error of an analog layer on write-verify-programmed tiles.")
    parser.add_argument("--rows", type=int, default=16, help="characterisation crossbar rows (default 16)")
    parser.add_argument("--cols", type=int, default=12, help="characterisation crossbar columns (default 12)")
    parser.add_argument("--vectors", type=int, default=6, help="input vectors read in ngspice (half binary, "
                        "half analog; default 6)")
    wires = parser.add_mutually_exclusive_group()
    wires.add_argument("--wire-width-um", type=float, default=None,
                       help="drawn width of sky130 metal-1 lines at 1 um pitch (default: minimum width, 0.14 um)")
    wires.add_argument("--r-pitch", type=float, default=None, metavar="OHM",
                       help="wire resistance per cell pitch for bit and word lines instead of a layout")
    parser.add_argument("--layer", type=_shape, default=(256, 16), metavar="INxOUT",
                        help="analog layer size, inputs x outputs (default 256x16: two tiles of 128 rows)")
    parser.add_argument("--levels", type=int, default=CrossbarConfig.levels, help="conductance levels per cell")
    parser.add_argument("--chips", type=int, default=3, help="programmed chips (independent draws; default 3)")
    parser.add_argument("--batch", type=int, default=256, help="input vectors per chip (default 256)")
    parser.add_argument("--read-noise-scale", type=float, default=1.0, help="x the fitted read noise (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    add_card_options(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR")
    parser.set_defaults(handler=run)


def _wires(args: argparse.Namespace) -> tuple[WireParasitics, str]:
    if args.r_pitch is not None:
        if not args.r_pitch > 0:
            raise CircuitkitError(f"--r-pitch {args.r_pitch!r}: expected a resistance > 0 ohm per pitch")
        return WireParasitics(r_bitline=args.r_pitch, r_wordline=args.r_pitch), f"{args.r_pitch:g} ohm per pitch"
    geometry = WireGeometry() if args.wire_width_um is None else WireGeometry(
        bitline_width_um=args.wire_width_um, wordline_width_um=args.wire_width_um)
    wires = geometry.parasitics()
    return wires, (f"sky130 metal 1, {geometry.bitline_width_um:g} um wide at {geometry.pitch_column_um:g} um pitch: "
                   f"{wires.r_bitline:.3g} ohm per pitch")


def characterise(rows: int, cols: int, vectors: int, wires: WireParasitics, card, seed: int,
                 workdir: Path | None = None) -> tuple[list[dict], dict]:
    """ngspice vs the solver (and ideal wires) on one random crossbar: CSV rows and a summary."""
    if rows < 1 or cols < 1 or vectors < 1:
        raise CircuitkitError(f"crossbar: --rows, --cols and --vectors must be >= 1, got {rows}, {cols}, {vectors}")
    rng = np.random.Generator(np.random.PCG64(value_seed(seed, "crossbar characterisation", rows, cols)))
    g_low, g_high = conductance_range(card)
    conductance = rng.uniform(g_low, g_high, (rows, cols))
    v_read = card.read_voltage
    binary = (vectors + 1) // 2
    inputs = np.vstack([v_read * (rng.random((binary, rows)) > 0.5), rng.uniform(0, v_read, (vectors - binary, rows))])
    started = time.perf_counter()
    spice = CrossbarReadBench(conductance, inputs, wires, card=card).simulate(workdir=workdir, name="crossbar")
    spice_s = time.perf_counter() - started
    started = time.perf_counter()
    solved = CrossbarNetwork(conductance, card, wires).currents(inputs)
    solver_s = time.perf_counter() - started
    ideal = CrossbarNetwork(conductance, card, None).currents(inputs)
    difference = solved / spice.currents - 1
    ir_drop = 1 - spice.currents / ideal
    rows_out = [{"vector": v, "input": "binary" if v < binary else "analog", "column": k,
                 "ngspice_a": float(spice.currents[v, k]), "solver_a": float(solved[v, k]),
                 "relative_difference": float(difference[v, k]), "ideal_wires_a": float(ideal[v, k]),
                 "ir_drop_fraction": float(ir_drop[v, k])}
                for v in range(vectors) for k in range(cols)]
    summary = {"rows": rows, "cols": cols, "vectors": vectors, "binary_vectors": binary,
               "conductance_range_s": [g_low, g_high], "read_voltage_v": v_read,
               "ngspice_s": spice_s, "solver_s": solver_s,
               "max_abs_relative_difference": float(np.max(np.abs(difference))),
               "max_ir_drop_fraction": float(np.max(ir_drop)), "mean_ir_drop_fraction": float(np.mean(ir_drop))}
    return rows_out, summary


def layer_mac_errors(inputs: int, outputs: int, config: CrossbarConfig, chips: int, batch: int, seed: int,
                     pulse_card=None, start_card=None) -> tuple[list[dict], dict, np.ndarray]:
    """Per chip: rms normalised MAC error of the analog layer and of its programmed weights
    alone; summary with intervals over chips; every normalised error of the last chip.
    Cells from `pulse_card` and `start_card` (the bundled real-device cards if not given)."""
    if chips < 1 or batch < 2:
        raise CircuitkitError(f"crossbar: --chips must be >= 1 and --batch >= 2, got {chips}, {batch}")
    weights_rng = np.random.Generator(np.random.PCG64(value_seed(seed, "crossbar layer weights", inputs, outputs)))
    weights = weights_rng.normal(0.0, 1.0, (inputs, outputs))
    programmer = Programmer(config, pulse_card, start_card)
    rows, errors = [], None
    for chip in range(chips):
        rng = trial_generator(value_seed(seed, "crossbar layer chips"), chip)
        calibration, x = rng.random((batch, inputs)), rng.random((batch, inputs))
        started = time.perf_counter()
        layer = AnalogLinear.program(weights, config, programmer, rng)
        programmed_s = time.perf_counter() - started
        layer.calibrate(calibration)
        started = time.perf_counter()
        analog = layer(x, rng)
        evaluate_s = time.perf_counter() - started
        exact = x @ weights
        scale = float(exact.std())
        errors = ((analog - exact) / scale).ravel()
        programmed = x @ layer.effective_weights()
        programming_only = ((programmed - exact) / scale).ravel()
        circuit_only = ((analog - programmed) / scale).ravel()
        described = layer.describe()
        rows.append({"chip": chip, "rms_error": float(np.sqrt(np.mean(errors ** 2))),
                     "mean_error": float(errors.mean()), "max_abs_error": float(np.max(np.abs(errors))),
                     "rms_error_programming_only": float(np.sqrt(np.mean(programming_only ** 2))),
                     "rms_error_circuit_only": float(np.sqrt(np.mean(circuit_only ** 2))),
                     "outputs": outputs, "vectors": batch, "programmed_in_band": described["programmed_in_band"],
                     "pulses_per_cell": described["pulses_per_cell"], "program_s": programmed_s,
                     "evaluate_s": evaluate_s, "macs_per_s": batch * inputs * outputs / evaluate_s})
    summary = {"inputs": inputs, "outputs": outputs, "chips": chips, "vectors_per_chip": batch,
               "error_normalisation": "MAC error / standard deviation of the exact outputs x @ W of that chip's batch",
               "drift": described["drift"], "tiles": described["tiles"], "config": config.describe(),
               "read_noise": programmer.read_noise_source}
    summary["error_parts"] = ("rms_error: analog output vs x @ W; programming_only: x @ (the programmed weights, "
                              "G+ - G- in weight units) vs x @ W; circuit_only: analog output vs x @ the programmed "
                              "weights (IR drop, read noise, ADC)")
    for name in ("rms_error", "rms_error_programming_only", "rms_error_circuit_only", "macs_per_s"):
        interval = mean_interval([row[name] for row in rows])
        summary[name] = {"mean": interval.mean, "ci_low": interval.low, "ci_high": interval.high,
                         "chips": interval.samples}
    return rows, summary, errors


def run(args: argparse.Namespace) -> int:
    wires, wire_note = _wires(args)
    card, start_card, cards = load_cards(args.pulse_card, args.start_card)
    args.output.mkdir(parents=True, exist_ok=True)
    print(f"wires: {wire_note}; cells: {cards['pulse_card']} ({card.read_voltage:g} V read)")
    char_rows, char = characterise(args.rows, args.cols, args.vectors, wires, card, args.seed)
    char["wires"] = wire_note
    print(f"characterisation {args.rows} x {args.cols}, {args.vectors} vectors: ngspice {char['ngspice_s']:.2f} s, "
          f"solver {char['solver_s'] * 1e3:.1f} ms, largest relative difference "
          f"{char['max_abs_relative_difference']:.1e}; IR drop up to {char['max_ir_drop_fraction']:.2%} of a column "
          f"current (mean {char['mean_ir_drop_fraction']:.2%})")
    config = CrossbarConfig(levels=args.levels, wires=wires, read_noise_scale=args.read_noise_scale)
    inputs, outputs = args.layer
    layer_rows, layer, errors = layer_mac_errors(inputs, outputs, config, args.chips, args.batch, args.seed,
                                                 card, start_card)
    rms, alone, circuit = layer["rms_error"], layer["rms_error_programming_only"], layer["rms_error_circuit_only"]
    print(f"layer {inputs} x {outputs} on {layer['tiles']} tiles, {args.levels} levels, {args.chips} chips x "
          f"{args.batch} vectors: rms MAC error {rms['mean']:.4f} (95 % CI {rms['ci_low']:.4f}-{rms['ci_high']:.4f}) "
          f"of the exact outputs' spread; programming alone {alone['mean']:.4f}, circuit alone (IR drop, noise, ADC) "
          f"{circuit['mean']:.4f}; "
          f"{layer['macs_per_s']['mean']:.3g} MACs/s; drift {layer['drift']}")
    write_rows_csv(args.output / "characterisation.csv", char_rows)
    write_rows_csv(args.output / "layer_mac.csv", layer_rows)
    write_json(args.output / "crossbar.json", {
        "characterisation": char, "layer": layer, "seed": args.seed, "cards": cards,
        "model": {"cells": "the pulse card (Verilog-A in ngspice; its current equation in the solver)",
                  "solver": "chord method on the same resistive network (crossbar.solver)",
                  "layer": "transfer matrix of each programmed tile (linearised at the read voltage, bit-serial "
                           "inputs), read noise per vector (see layer.read_noise), ADC per bit plane"}})
    plot_crossbar(np.array([[r["ngspice_a"], r["solver_a"], r["ideal_wires_a"]] for r in char_rows]), errors,
                  args.output / "crossbar.png",
                  title=f"{args.rows} x {args.cols} crossbar, {wire_note}; layer {inputs} x {outputs}, {args.levels} levels")
    print(f"wrote {args.output}/characterisation.csv, layer_mac.csv, crossbar.json, crossbar.png")
    return 0
