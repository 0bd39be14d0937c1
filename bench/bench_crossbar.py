"""Benchmark and validation of the analog crossbar and the learning on it (prints figures,
never fails on time).

    .venv/bin/python bench/bench_crossbar.py [solver|throughput|hybrid|stellar|all]

solver:     the ngspice DC solution of a 32 x 32 crossbar netlist against the vectorized
            solver (time and largest difference), the solver at network size (a 128 x 64
            tile and a 256 x 256 array: nonlinear solve of 64 input vectors, transfer matrix),
            and the transfer matrix's error for bit-serial and analog inputs;
throughput: a 512 x 128 layer on programmed 32-level tiles (bit-serial 8-bit inputs, IR
            drop, read noise, ADC) in MACs/s against a naive per-cell Python loop doing only
            the multiply-accumulates of one bit plane, in the same run;
hybrid:     the bundled CNN on 8, 16 and 32-level chips (4 chips each, one retraining epoch
            over 2,000 training images, all 1,000 test images; `circuitkit learn hybrid
            --chips 4 --epochs 1 --train-images 2000`): software, after transfer, after
            hybrid retraining, with intervals, beside Yao et al.'s 96.19 % (about 15 minutes
            on 2 shared cores);
stellar:    STELLAR, plain sign-SGD and ideal-device SGD on real MNIST (5 runs per case):
            accuracy against SET/RESET asymmetry and nonlinearity, pulses and energy per weight.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from circuitkit.crossbar.layer import AnalogLinear, CrossbarConfig, Programmer
from circuitkit.crossbar.solver import CrossbarNetwork
from circuitkit.mlc.campaign import default_cards
from circuitkit.netlist.arrays import WireParasitics
from circuitkit.netlist.crossbar import CrossbarReadBench
from circuitkit.netlist.wires import WireGeometry


def solver() -> None:
    card = default_cards()[0]
    rng = np.random.default_rng(0)
    wires = WireGeometry().parasitics()
    for r_pitch in (wires.r_bitline, 10.0):
        w = WireParasitics(r_bitline=r_pitch, r_wordline=r_pitch)
        g = rng.uniform(2e-6, 128e-6, (32, 32))
        x = np.vstack([0.2 * (rng.random((3, 32)) > 0.5), rng.uniform(0, 0.2, (1, 32))])
        started = time.perf_counter()
        spice = CrossbarReadBench(g, x, w, card=card).simulate()
        spice_s = time.perf_counter() - started
        started = time.perf_counter()
        solved = CrossbarNetwork(g, card, w).currents(x)
        solver_s = time.perf_counter() - started
        ideal = CrossbarNetwork(g, card, None).currents(x)
        print(f"32 x 32, {r_pitch:.3g} ohm/pitch, 4 vectors: ngspice {spice_s:.2f} s, solver {solver_s * 1e3:.1f} ms; "
              f"largest relative difference {np.max(np.abs(solved / spice.currents - 1)):.1e}; IR drop moves the "
              f"currents by up to {np.max(np.abs(ideal / spice.currents - 1)):.2%}")
    for shape in ((128, 64), (256, 256)):
        g = rng.uniform(2e-6, 128e-6, shape)
        started = time.perf_counter()
        network = CrossbarNetwork(g, card, wires)
        factor_s = time.perf_counter() - started
        bits = 0.2 * (rng.random((64, shape[0])) > 0.5)
        started = time.perf_counter()
        exact, iterations = network.currents(bits, return_iterations=True)
        solve_s = time.perf_counter() - started
        started = time.perf_counter()
        transfer = network.transfer_matrix()
        transfer_s = time.perf_counter() - started
        analog = rng.uniform(0, 0.2, (64, shape[0]))
        analog_error = np.max(np.abs(analog @ transfer / network.currents(analog) - 1))
        print(f"{shape[0]} x {shape[1]} ({2 * g.size:,} nodes), sky130 metal-1 wires: factorisation {factor_s:.2f} s, "
              f"nonlinear solve of 64 vectors {solve_s:.2f} s ({iterations} chord iterations), transfer matrix "
              f"{transfer_s:.2f} s; transfer-matrix error {np.max(np.abs(bits @ transfer / exact - 1)):.2e} "
              f"(bit-serial), {analog_error:.2e} (analog amplitudes); worst IR loss "
              f"{1 - np.min(transfer / g):.2%} of a cell's conductance")


def throughput() -> None:
    rng = np.random.default_rng(1)
    config = CrossbarConfig()
    programmer = Programmer(config)
    weights = rng.normal(0, 1, (512, 128))
    started = time.perf_counter()
    layer = AnalogLinear.program(weights, config, programmer, rng)
    program_s = time.perf_counter() - started
    x = rng.random((256, 512))
    layer.calibrate(x[:64])
    layer(x[:8], rng)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        layer(x, rng)
        best = min(best, time.perf_counter() - started)
    macs = x.shape[0] * weights.size
    print(f"layer 512 x 128 on {len(layer.tiles)} tiles of {config.tile_rows} x {config.tile_cols}, programmed "
          f"({layer.conductance.size:,} cells) in {program_s:.1f} s; batch of {x.shape[0]}: {best * 1e3:.1f} ms, "
          f"{macs / best:.3g} MACs/s (8 bit planes, IR drop, read noise, ADC)")
    transfer = layer.tiles[0].transfer
    vectors = 2
    started = time.perf_counter()
    for b in range(vectors):
        bits = (np.rint(x[b, :128] * 255).astype(int) & 1) * 0.2
        out = [0.0] * transfer.shape[1]
        for j in range(transfer.shape[1]):
            for i in range(transfer.shape[0]):
                out[j] += bits[i] * transfer[i, j]
    naive_s = time.perf_counter() - started
    naive_rate = vectors * transfer.size / naive_s
    print(f"naive per-cell loop (one plane of one tile, multiply-accumulate only): {naive_rate:.3g} MACs/s; "
          f"vectorized / naive = {macs / best / naive_rate:.0f}x (the vectorized figure counts a weight's "
          "multiply-accumulate once although it does 8 planes and two cells)")


def hybrid() -> None:
    from circuitkit.inject.data import load_mnist5k
    from circuitkit.learn.cnn import load_bundled
    from circuitkit.learn.hybrid import HybridConfig, run_hybrid

    started = time.perf_counter()
    result = run_hybrid(load_bundled(), load_mnist5k(), HybridConfig(chips=4, retrain_epochs=1, train_images=2000),
                        log=None)
    software = result["software"]
    print(f"hybrid training ({time.perf_counter() - started:.0f} s): software {software['accuracy']:.2%} "
          f"[{software['ci_low']:.2%}, {software['ci_high']:.2%}] on {software['test_images']} images; "
          "Yao et al., Nature 2020: 96.19 % (32 levels, 10,000 images)")
    for row in result["rows"]:
        chips = [c for c in result["chips"] if c["levels"] == row["levels"]]
        print(f"  {row['levels']:2d} levels, {row['chips']} chips: after transfer {row['after_transfer']:.2%} "
              f"[{row['after_transfer_ci_low']:.2%}, {row['after_transfer_ci_high']:.2%}], after retraining "
              f"{row['after_retraining']:.2%} [{row['after_retraining_ci_low']:.2%}, {row['after_retraining_ci_high']:.2%}]"
              f", gain {row['gain']:.2%} [{row['gain_ci_low']:.2%}, {row['gain_ci_high']:.2%}]; cells in band "
              f"{np.mean([np.mean(c['cells_in_band']) for c in chips]):.1%}, retraining rewrote "
              f"{np.mean([c['cells_rewritten'] for c in chips]):.0f} cells with "
              f"{np.mean([c['pulses'] for c in chips]):.0f} pulses per chip; chips after transfer "
              f"{min(c['after_transfer'] for c in chips):.1%}-{max(c['after_transfer'] for c in chips):.1%}, after "
              f"retraining {min(c['after_retraining'] for c in chips):.1%}-{max(c['after_retraining'] for c in chips):.1%}"
              f", {sum(c['after_retraining'] > c['after_transfer'] for c in chips)} of {len(chips)} gained")


def stellar() -> None:
    from circuitkit.device.pulse import PulseModel
    from circuitkit.inject.data import load_mnist5k
    from circuitkit.learn.stellar import PulseResponse, StellarConfig, compare_rules

    from circuitkit.mlc.engine import with_measured_read_noise

    pulse_card, start_card = default_cards()
    # the weight reads carry the measured read noise, as `circuitkit learn stellar` does
    model, read_noise = with_measured_read_noise(PulseModel.from_card(pulse_card))
    response = PulseResponse.from_model(model)
    print(f"read noise: {read_noise}")
    dataset = load_mnist5k()
    print(f"device: {response.describe()}")
    started = time.perf_counter()
    rows = compare_rules(dataset, response, model, start_card, seeds=5, rules=("ideal",), log=None)
    for nonlinearity in (0.0, 1.0, 3.0):
        for scale in ((0.25, 0.5, 1.0, 2.0, 4.0) if nonlinearity == 0 else (0.25, 1.0, 4.0)):
            rows += compare_rules(dataset, response.deformed(scale, nonlinearity), model, start_card, seeds=5,
                                  rules=("stellar", "sign"), log=None)
    print(f"({time.perf_counter() - started:.0f} s; 4,000 training images, one epoch, 1,000 test images, 5 runs each)")
    print("rule      asym  nonlin  accuracy [95 % CI over runs]  pulses/weight  energy/weight")
    for r in rows:
        asymmetry = "-" if r["asymmetry"] is None else f"{r['asymmetry']:.2f}"
        print(f"{r['rule']:8s} {asymmetry:>5s}  {r['nonlinearity']:5.1f}  {r['accuracy']:.1%} [{r['ci_low']:.1%}, "
              f"{r['ci_high']:.1%}]  {r['pulses_per_weight']:12.1f}  {r['energy_per_weight_j'] * 1e12:9.2f} pJ")


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "all"
    for name, function in (("solver", solver), ("throughput", throughput), ("stellar", stellar), ("hybrid", hybrid)):
        if what in (name, "all"):
            function()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
