"""The analog crossbar: the vectorized network solver against ngspice, IR drop, the
linearised transfer matrix, the wire model from the PDK, and a layer on programmed
multi-level tiles (read noise, ADC)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from circuitkit import CircuitkitError
from circuitkit.crossbar.layer import AnalogLinear, CrossbarConfig, Programmer
from circuitkit.crossbar.solver import CrossbarNetwork
from circuitkit.device.model import ModelCard
from circuitkit.mlc.campaign import default_cards
from circuitkit.netlist.arrays import WireParasitics
from circuitkit.netlist.crossbar import CrossbarReadBench
from circuitkit.netlist.wires import SKY130_M1_SHEET_OHM, WireGeometry


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return default_cards()[0]


@pytest.mark.spice
def test_the_vectorized_solver_equals_ngspice_on_a_small_array_with_wire_resistance(card, tmp_path):
    """8 x 6 cells from 5 to 120 uS, 15-20 ohm per pitch (so that IR drop moves the
    currents by several %), analog and binary input vectors: every column current of the
    solver equals ngspice's DC solution of the generated netlist (compiled .va cells) to
    1e-7, and differs from the wire-free answer by more than 1 %."""
    from circuitkit.netlist.run import simulate_file

    rng = np.random.default_rng(0)
    g = rng.uniform(5e-6, 120e-6, (8, 6))
    inputs = np.vstack([rng.uniform(0, 0.2, 8), 0.2 * (rng.random(8) > 0.5), np.full(8, 0.2)])
    wires = WireParasitics(r_bitline=20.0, r_wordline=15.0)
    bench = CrossbarReadBench(g, inputs, wires, card=card)
    spice = bench.simulate(workdir=tmp_path)
    solved = CrossbarNetwork(g, card, wires).currents(inputs)
    np.testing.assert_allclose(solved, spice.currents, rtol=1e-7)
    ideal = CrossbarNetwork(g, card, None).currents(inputs)
    assert np.max(np.abs(ideal / spice.currents - 1)) > 0.01
    # the written file measures the same through `circuitkit simulate FILE`
    outcome = simulate_file(bench.to_netlist(), workdir=tmp_path, name="file")
    np.testing.assert_allclose(outcome.measured.currents, spice.currents, rtol=1e-12)


def test_ir_drop_grows_with_the_distance_from_driver_and_sense_amplifier(card):
    """Equal cells: the effective conductance of a cell (its entry of the transfer matrix)
    falls strictly along its row away from the driver and along its column away from the
    virtual ground. All rows driven: superposition of those (cells at the read voltage),
    several % below the wire-free current."""
    network = CrossbarNetwork(np.full((16, 12), 60e-6), card, WireParasitics(r_bitline=5.0, r_wordline=5.0))
    m = network.transfer_matrix()
    assert np.all(np.diff(m, axis=1) < 0) and np.all(np.diff(m, axis=0) < 0)
    assert m[0, 0] < 60e-6 and m[-1, -1] < 0.97 * 60e-6
    all_rows = network.currents(np.full((1, 16), 0.2))[0]
    np.testing.assert_allclose(all_rows, 0.2 * m.sum(axis=0), rtol=5e-3)
    assert np.all(all_rows < 0.97 * 0.2 * 16 * 60e-6)


def test_the_transfer_matrix_is_the_network_for_bit_serial_inputs(card):
    """Binary inputs (0 or the read voltage): the linearised network is within 0.5 % of the
    nonlinear solve; analog amplitudes would see the cells' curvature (larger error)."""
    rng = np.random.default_rng(1)
    g = rng.uniform(2e-6, 130e-6, (48, 20))
    network = CrossbarNetwork(g, card, WireGeometry().parasitics())
    bits = 0.2 * (rng.random((12, 48)) > 0.5)
    exact = network.currents(bits)
    linear = bits @ network.transfer_matrix()
    assert np.max(np.abs(linear / exact - 1)) < 0.005
    analog = rng.uniform(0, 0.2, (12, 48))
    assert np.max(np.abs(analog @ network.transfer_matrix() / network.currents(analog) - 1)) > \
        np.max(np.abs(linear / exact - 1))


@pytest.mark.spice
def test_the_sheet_resistance_default_is_the_installed_pdks_metal_1():
    from circuitkit import toolchain

    text = (toolchain.toolchain().sky130.library_dir / "parameters_res_nom.spice").read_text()
    line = next(l for l in text.splitlines() if "sw_sky130_fd_pr__res_generic_m1_rs" in l and l.startswith(".param"))
    assert f"{{{SKY130_M1_SHEET_OHM}+" in line.replace(" ", "")
    per_pitch = WireGeometry().parasitics()
    assert per_pitch.r_wordline == pytest.approx(0.124 / 0.14) and per_pitch.r_bitline == per_pitch.r_wordline


@pytest.fixture(scope="module")
def programmer():
    return Programmer(CrossbarConfig(levels=16, read_noise_scale=1.0))


def test_the_layer_reads_with_the_measured_read_noise_not_the_pulse_cards_read_term(programmer):
    """Verify reads and layer reads carry the bundled read series' noise (0.0125 in ln R at
    its 10.75 kohm), as write-verify campaigns do, not the pulse card's read term (~10x
    that: it also holds what the sweeps cannot attribute to a pulse); artefacts say so."""
    from circuitkit.device.pulse import PulseModel
    from circuitkit.mlc.engine import measured_read_noise

    measured = measured_read_noise()
    at = np.array([measured["median_ohm"]])
    assert programmer.read_noise.sigma_at(at)[0] == pytest.approx(measured["read_noise_sigma_ln"], rel=1e-9)
    assert PulseModel.from_card(programmer.pulse_card).read_noise.sigma_at(at)[0] > 5 * measured["read_noise_sigma_ln"]
    assert "measured on one cell" in programmer.read_noise_source
    half = Programmer(dataclasses.replace(programmer.config, read_noise_scale=0.5), programmer.pulse_card,
                      programmer.start_card)
    assert half.read_noise.sigma_at(at)[0] == pytest.approx(0.5 * measured["read_noise_sigma_ln"], rel=1e-9)
    assert half.read_noise_source.endswith("; x 0.5 (what-if)")


@pytest.mark.spice
def test_a_layer_without_noise_wires_or_adc_computes_x_times_its_programmed_weights(programmer):
    rng = np.random.default_rng(2)
    weights = rng.normal(0, 1, (70, 9))
    config = dataclasses.replace(programmer.config, wires=None, read_noise_scale=0.0, tile_rows=32, tile_cols=8)
    quiet = Programmer(config, programmer.pulse_card, programmer.start_card)
    layer = AnalogLinear.program(weights, config, quiet, rng)
    x = rng.random((40, 70))
    quantised = np.rint(x * 255) / 255
    # the layer multiplies in float32 (outputs ~10 summed over 70 rows x 8 planes): 1e-5 absolute
    np.testing.assert_allclose(layer(x, adc=False), quantised @ layer.effective_weights(), rtol=1e-5, atol=1e-5)
    assert len(layer.tiles) == 3 * 3  # 70 rows in 32-row tiles, 18 columns in 8-column tiles
    # what programming left differs from the intended weights (failures, verify tolerance)
    assert np.corrcoef(layer.effective_weights().ravel(), weights.ravel())[0, 1] < 0.999
    with pytest.raises(CircuitkitError, match="calibrate"):
        layer(x)


@pytest.mark.spice
def test_a_reprogrammed_cell_keeps_its_own_rate_offset(programmer):
    """Reprogramming writes the same physical cells: each keeps the rate offset it was
    fabricated with (the card's per-cell part, sigma ln 7 for SET against 0.24 per pulse),
    so two independent rewrites of the same cells from the same states fail on mostly the
    same cells (the fast ones a SET overshoots); with the offsets redrawn (a new cell each
    time) the failures are mostly different cells."""
    import copy

    assert programmer.model.has_cell_part
    rng = np.random.default_rng(11)
    weights = rng.uniform(0.1, 1.0, (60, 10))
    layer = AnalogLinear.program(weights, programmer.config, programmer, rng)
    assert layer.cell_z is not None and layer.cell_z.shape == (layer.target.size,)
    # half the outputs' + cells move up (SET: its spread is the cell's own), half down
    new = np.where(np.arange(10) < 5, np.minimum(weights * 1.6, 1.0), weights * 0.5)

    def failed(keep_offsets: bool, seed: int) -> np.ndarray:
        rewritten = copy.deepcopy(layer)
        if not keep_offsets:
            rewritten.cell_z = None
        return ~rewritten.reprogram(new, np.random.default_rng(seed)).success

    def overlap(a: np.ndarray, b: np.ndarray) -> float:  # Jaccard index of the failed cells
        return np.sum(a & b) / np.sum(a | b)

    kept, redrawn = overlap(failed(True, 1), failed(True, 2)), overlap(failed(False, 1), failed(False, 2))
    assert kept > 0.5 and redrawn < 0.35, (kept, redrawn)


@pytest.mark.spice
def test_read_noise_and_adc_behave_as_documented(programmer):
    rng = np.random.default_rng(3)
    weights = rng.normal(0, 1, (40, 6))
    layer = AnalogLinear.program(weights, programmer.config, programmer, rng)
    x = rng.random((1, 40)).repeat(4000, axis=0)
    clean = layer(x, adc=False)[0]
    noisy = layer(x, rng, adc=False)
    # Per-cell check of the output noise: one lognormal read of every cell per vector,
    # shared by its bit planes, through the noiseless transfer matrix.
    codes = np.rint(x[0] * 255).astype(int)
    sigma = programmer.read_noise.sigma_at(1.0 / layer.conductance)
    draws = []
    tile = layer.tiles[0]
    for _ in range(1500):
        g = layer.conductance * np.exp(sigma * rng.standard_normal(layer.conductance.shape))
        per_plane = [(((codes >> p) & 1) * 0.2) @ (tile.transfer * g / layer.conductance) for p in range(8)]
        diff = [c[0::2] - c[1::2] for c in per_plane]
        draws.append(sum((1 << p) * d for p, d in enumerate(diff)) * layer.scale)
    np.testing.assert_allclose(noisy.std(axis=0), np.std(draws, axis=0), rtol=0.1)
    np.testing.assert_allclose(noisy.mean(axis=0), clean, atol=0.1 * noisy.std(axis=0).max())
    # ADC: full scale from calibration, error within half a step per plane
    layer.calibrate(rng.random((200, 40)))
    quantised = layer(x[:1])[0]
    steps = sum((1 << p) for p in range(8)) * layer.tiles[0].full_scale / 127 * layer.scale
    assert np.all(np.abs(quantised - clean) <= 0.5 * steps + 1e-12)
    assert layer.describe()["drift"].startswith("off")


@pytest.mark.spice
def test_crossbar_command_characterises_against_ngspice_and_reports_the_mac_error(tmp_path):
    """`circuitkit crossbar`: a 6 x 4 crossbar at 20 ohm per pitch read in ngspice equals the
    vectorized solver (1e-7) while IR drop moves its currents by > 1 %; the layer's MAC
    error is reported per chip with its programming and circuit parts and intervals over
    chips; CSV, JSON and PNG written."""
    import csv
    import json

    from circuitkit.cli import main

    out = tmp_path / "xbar"
    assert main(["crossbar", "--rows", "6", "--cols", "4", "--vectors", "3", "--r-pitch", "20", "--layer", "64x8",
                 "--chips", "2", "--batch", "16", "--seed", "3", "-o", str(out)]) == 0
    with (out / "characterisation.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 * 4 and {r["input"] for r in rows} == {"binary", "analog"}
    assert max(abs(float(r["relative_difference"])) for r in rows) < 1e-7
    assert max(float(r["ir_drop_fraction"]) for r in rows) > 0.01
    summary = json.loads((out / "crossbar.json").read_text())
    assert summary["characterisation"]["max_abs_relative_difference"] < 1e-7
    layer = summary["layer"]
    assert layer["chips"] == 2 and layer["tiles"] == 1 and "off" in layer["drift"]
    for name in ("rms_error", "rms_error_programming_only", "rms_error_circuit_only"):
        assert layer[name]["ci_low"] <= layer[name]["mean"] <= layer[name]["ci_high"] and layer[name]["chips"] == 2
    with (out / "layer_mac.csv").open() as handle:
        chips = list(csv.DictReader(handle))
    assert [int(c["chip"]) for c in chips] == [0, 1] and all(int(c["vectors"]) == 16 for c in chips)
    assert (out / "crossbar.png").stat().st_size > 10_000
    assert main(["crossbar", "--r-pitch", "0", "-o", str(out)]) == 2
    assert main(["crossbar", "--rows", "0", "--r-pitch", "5", "-o", str(out)]) == 2
    # the cells are the card given (none: the bundled one, announced and recorded)
    assert len(summary["cards"]["fallbacks"]) == 2 and summary["cards"]["pulse_card"].startswith("bundled")
    from circuitkit.resources import bundled_data

    assert main(["crossbar", "--pulse-card", str(bundled_data("fits/real_1t1r/levels/model_card.json")),
                 "-o", str(tmp_path / "bad")]) == 2
    given = tmp_path / "given"
    assert main(["crossbar", "--rows", "6", "--cols", "4", "--vectors", "3", "--r-pitch", "20", "--layer", "64x8",
                 "--chips", "2", "--batch", "16", "--seed", "3", "--pulse-card",
                 str(bundled_data("fits/real_1t1r/pulse/model_card.json")), "-o", str(given)]) == 0
    again = json.loads((given / "crossbar.json").read_text())
    assert again["cards"]["fallbacks"] == ["start distribution: none given, using the bundled real-device card "
                                           "(fits/real_1t1r/distribution/model_card.json)"]
    assert again["layer"]["rms_error"] == layer["rms_error"]  # the same card given: the same chips


def test_the_mac_error_splits_into_programming_and_circuit(card):
    """Without read noise and with ideal wires, the analog layer computes x @ its programmed
    weights up to the 8-bit ADC (circuit part < 5 % of the outputs' spread) and its error is
    the programming's; resistive wires (20 ohm per pitch) add a circuit part of their own."""
    from circuitkit.crossbar.cli import layer_mac_errors

    ideal = CrossbarConfig(levels=8, wires=None, read_noise_scale=0.0, tile_rows=64, tile_cols=16)
    rows, summary, _ = layer_mac_errors(64, 8, ideal, chips=2, batch=32, seed=5)
    print("ideal:", [(round(r["rms_error"], 4), round(r["rms_error_programming_only"], 4),
                      round(r["rms_error_circuit_only"], 4)) for r in rows])
    for row in rows:
        assert row["rms_error_circuit_only"] < 0.05
        assert row["rms_error"] == pytest.approx(row["rms_error_programming_only"], abs=0.05)
    resistive = dataclasses.replace(ideal, wires=WireParasitics(r_bitline=20.0, r_wordline=20.0))
    wired, _, _ = layer_mac_errors(64, 8, resistive, chips=2, batch=32, seed=5)
    print("20 ohm/pitch:", [round(r["rms_error_circuit_only"], 4) for r in wired])
    for row, base in zip(wired, rows):
        assert row["rms_error_programming_only"] == base["rms_error_programming_only"]   # same chips
        assert row["rms_error_circuit_only"] > 2 * base["rms_error_circuit_only"]
