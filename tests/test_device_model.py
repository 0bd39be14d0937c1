"""ModelCard JSON and variability keys; the Python equations against the .va running in ngspice.

The fit evaluates the model in Python, so the spice-marked tests here are the proof that
Python and the compiled Verilog-A in ngspice agree on the same parameters.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from circuitkit import CircuitkitError
from circuitkit.device.model import ModelCard, parameter_specs, variability_meaning
from circuitkit.device.resimulate import ngspice_pulses, ngspice_read, ngspice_sweep
from circuitkit.device.simulate import ModelSimulationError, simulate_pulses, simulate_sweep

# A card away from the defaults with every term of the model at work (state-dependent shape,
# thermal activation, series resistance, asymmetric field thresholds, self-heating), so
# agreement is not an accident of defaults.
FITTED_LIKE = {"i0": 6e-5, "v0": 0.3, "g_h": 0.6e-9, "eac": 0.12, "rs": 1.5e3, "gamma0": 14.0, "beta": 3.0,
               "vel0": 100.0, "fmin_set": 1.0e9, "fmin_reset": 1.3e9, "rth": 3e5, "gmax": 0.725e-9}


def triangle_sweep(cycles: int, points: int, v_set: float, v_reset: float, duration: float):
    quarter = points // 4
    up, down = np.linspace(0, v_set, quarter + 1), np.linspace(0, v_reset, quarter + 1)
    one = np.concatenate([up[:-1], up[::-1][:-1], down[:-1], down[::-1][:-1]])
    voltage = np.append(np.tile(one, cycles), 0.0)
    return np.linspace(0.0, duration * cycles, len(voltage)), voltage


# ------------------------------------------------------------------ card


def test_card_json_round_trip_with_units_bounds_and_variability(tmp_path):
    card = ModelCard.from_values(FITTED_LIKE).with_values(
        variability={"v_read": 0.1, "gap_nom_lrs": 2e-10, "sigma_gap_lrs": 1.2e-11, "sigma_lnR_lrs": 0.048},
        provenance={"data_sha256": "ab" * 32, "fit_quality": {"rms_ln_current": 0.07}})
    path = card.save(tmp_path / "card.json")
    again = ModelCard.load(path)
    assert again == card
    assert again.to_json() == card.to_json()
    data = json.loads(path.read_text())
    assert data["parameter_info"]["i0"] == {"unit": "A", "lower": 0.0, "upper": "inf", "scope": "model",
                                            "description": "current prefactor"}
    assert data["parameter_info"]["gmax"]["scope"] == "instance"
    assert data["variability_info"]["sigma_gap_lrs"]["unit"] == "m"
    assert "LRS" in data["variability_info"]["gap_nom_lrs"]["meaning"]


def test_with_values_checks_ranges_and_keeps_api():
    card = ModelCard.default()
    with pytest.raises(CircuitkitError, match="outside its range"):
        card.with_values({"g0": -1.0})
    changed = card.with_values({"gmax": 0.8e-9, "i0": 1e-4})
    assert changed.instance_defaults["gmax"] == 0.8e-9 and changed.parameters["i0"] == 1e-4
    assert "gmax=8e-10" in changed.instance_parameters()
    assert "i0=0.0001" in changed.model_line("rr")


def test_gap_init_expression_and_variability_meaning():
    card = ModelCard.default().with_values(variability={"gap_nom_hrs": 7.5e-10, "sigma_gap_hrs": 9.5e-11})
    assert card.gap_init_expression("HRS") == "{7.5e-10 + agauss(0, 9.5e-11, 1)}"
    with pytest.raises(CircuitkitError, match="no device-to-device spread for state 'LRS'.*hrs"):
        card.gap_init_expression("LRS")
    assert variability_meaning("median_r_lrs")["unit"] == "ohm"
    assert variability_meaning("something_else")["meaning"] == "not a key circuitkit writes"


def test_scalar_and_array_rate_are_the_same_equations():
    card = ModelCard.from_values(FITTED_LIKE)
    scalar = card.rate_function(scalar=True)
    rng = np.random.default_rng(3)
    voltage = rng.uniform(-2, 2, 200)
    gap = rng.uniform(0.1e-9, 1.0e-9, 200)
    expected = card.gap_rate(voltage, gap)
    got = np.array([scalar(float(v), float(g)) for v, g in zip(voltage, gap)])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


def test_resistance_and_gap_are_inverse():
    card = ModelCard.from_values(FITTED_LIKE)
    r = np.array([5e3, 1e4, 8.6e4, 1e6])
    np.testing.assert_allclose(card.resistance(card.gap_for_resistance(r)), r, rtol=1e-12)


def test_parameter_specs_cover_the_card():
    specs = parameter_specs()
    assert set(ModelCard.default().parameters) == {k for k, s in specs.items() if not s.instance}


# ------------------------------------------------------------------ Python vs ngspice


@pytest.mark.spice
@pytest.mark.parametrize("values, v_set, v_reset, duration, gap_init, temp_c", [
    (FITTED_LIKE, 1.5, -1.5, 2.0, 0.725e-9, 27.0),  # quasi-static, seconds per cycle
    (FITTED_LIKE, 1.5, -1.5, 2.0, 0.725e-9, 125.0),
    ({}, 1.6, -1.6, 40e-6, 1.2e-9, 85.0),  # the .va defaults, microseconds per cycle
])
def test_python_sweep_matches_ngspice_within_one_percent(values, v_set, v_reset, duration, gap_init, temp_c):
    card = ModelCard.from_values(values)
    time, voltage = triangle_sweep(3, 400, v_set, v_reset, duration)
    spice = ngspice_sweep(card, time, voltage, gap_init, temp_c=temp_c)
    python = simulate_sweep(card, time, voltage, gap_init, temp_c=temp_c)
    assert spice.gap.min() < card.value("gmin") + 0.05e-9  # it did switch, both ways
    assert spice.gap.max() > card.value("gmax") - 0.05e-9
    # Away from the 0 V crossings and from the instants of an abrupt (self-heated) switching
    # event, where the two solvers' time steps place the event a fraction of a sample apart.
    measurable = np.abs(spice.current) > 1e-9
    steady = np.abs(np.gradient(python.gap)) < 0.002e-9
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 at the 0 V crossings, not used
        relative = np.abs(python.current / spice.current - 1.0)
    print(f"{temp_c} C: max relative current difference {relative[measurable & steady].max():.2e} "
          f"({(measurable & ~steady).sum()} samples inside switching events: max {relative[measurable].max():.2e}); "
          f"max gap difference {np.abs(python.gap - spice.gap).max() * 1e9:.2e} nm")
    assert relative[measurable & steady].max() < 0.01
    assert (relative[measurable] > 0.01).sum() <= 0.01 * measurable.sum()


@pytest.mark.spice
@pytest.mark.parametrize("temp_c, rate_scale", [(27.0, 1.0), (125.0, 1.0), (27.0, 20.0)])
def test_python_pulses_match_ngspice(temp_c, rate_scale):
    card = ModelCard.from_values(FITTED_LIKE)
    rng = np.random.default_rng(7)
    n = 60
    amplitude = np.where(np.arange(n) % 2 == 0, rng.uniform(1.2, 2.2, n), rng.uniform(-2.3, -1.3, n))
    width = rng.choice([1e-6, 10e-6, 50e-6], n)
    gap_before = np.where(amplitude > 0, 0.7e-9, 0.21e-9)
    spice = card.resistance(ngspice_pulses(card, amplitude, width, gap_before, temp_c=temp_c,
                                           instance=[{"rate_scale": rate_scale}] * n))
    python = card.resistance(simulate_pulses(card, amplitude, width, gap_before, temp_c=temp_c,
                                             rate_scale=rate_scale))
    moved = np.abs(np.log(spice / card.resistance(gap_before))) > 0.1
    print(f"{temp_c} C, rate_scale {rate_scale}: {moved.sum()} of {n} cells moved")
    assert 10 < moved.sum() < n  # a mix of switched, partly switched and untouched cells
    relative = np.abs(python / spice - 1.0)
    print(f"R after: max relative difference {relative.max():.2e}")
    assert relative.max() < 0.01


def test_rate_scale_is_a_stretched_pulse():
    """The motion at constant voltage is autonomous: rate_scale m over a width w ends where
    rate_scale 1 over m * w ends (how ngspice benches and the pulse model replay a draw)."""
    card = ModelCard.from_values(FITTED_LIKE)
    amplitude = np.array([1.3, 1.6, 2.0, -1.5, -1.9, -2.3])
    gap_before = np.where(amplitude > 0, 0.7e-9, 0.21e-9)
    width = np.full(amplitude.size, 2e-6)
    scaled = simulate_pulses(card, amplitude, width, gap_before, rate_scale=7.0)
    stretched = simulate_pulses(card, amplitude, 7.0 * width, gap_before)
    np.testing.assert_allclose(scaled, stretched, rtol=1e-9)
    assert np.any(np.abs(scaled - simulate_pulses(card, amplitude, width, gap_before)) > 1e-12)


@pytest.mark.spice
@pytest.mark.parametrize("temp_c", [-40.0, 27.0, 125.0])
def test_dc_read_in_ngspice_is_card_resistance(temp_c):
    card = ModelCard.from_values(FITTED_LIKE)
    gaps = np.array([0.2e-9, 0.45e-9, 0.725e-9])
    for v_read in (0.1, 0.3):
        np.testing.assert_allclose(ngspice_read(card, list(gaps), v_read=v_read, temp_c=temp_c),
                                   card.resistance(gaps, v_read, temp_c), rtol=1e-9)


def test_series_resistance_adds_to_the_core():
    """With rs the terminal voltage splits as v_core + rs I; at low field (ohmic) R grows by rs."""
    card = ModelCard.from_values(FITTED_LIKE)
    bare = card.with_values({"rs": 0.0})
    gaps = np.array([0.2e-9, 0.5e-9, 0.7e-9])
    v_core = card.core_voltage(0.8, gaps)
    np.testing.assert_allclose(v_core + card.value("rs") * card.core_current(v_core, gaps), 0.8, rtol=1e-12)
    np.testing.assert_allclose(card.current(0.8, gaps), bare.current(v_core, gaps), rtol=1e-12)
    np.testing.assert_allclose(card.resistance(gaps, 1e-4) - bare.resistance(gaps, 1e-4), card.value("rs"), rtol=1e-6)


@pytest.mark.spice
def test_agauss_draw_of_the_card_spread_in_ngspice():
    sigma_lnr = 0.3
    card = ModelCard.from_values(FITTED_LIKE)
    card = card.with_values(variability={"gap_nom_hrs": 0.7e-9, "sigma_gap_hrs": sigma_lnr * card.value("g0")})
    r = ngspice_read(card, [card.gap_init_expression("hrs")] * 400, seed=5)
    again = ngspice_read(card, [card.gap_init_expression("hrs")] * 400, seed=5)
    np.testing.assert_array_equal(r, again)
    ln_r = np.log(r)
    # 400 draws: the standard error of sigma is ~0.011, of the median ~1.5 %.
    assert abs(np.std(ln_r, ddof=1) - sigma_lnr) < 0.04
    assert abs(np.exp(np.median(ln_r)) / card.resistance(0.7e-9) - 1) < 0.06


def test_python_integration_fails_cleanly_on_runaway_or_costly_parameters():
    card = ModelCard.from_values(FITTED_LIKE)
    time, voltage = triangle_sweep(1, 200, 1.4, -1.4, 2.0)
    with pytest.raises(ModelSimulationError, match="ran away"):
        simulate_sweep(card, time, voltage, gap_init=-1e-6)  # exp(+4000): the state is unphysical
    with pytest.raises(ModelSimulationError, match="more than 1000 evaluations"):
        simulate_sweep(card.with_values({"vel0": 1e6}), time, voltage, 0.7e-9, max_evaluations=1000)


def test_an_initial_state_outside_its_bounds_is_refused_before_any_netlist():
    """The generators' check (rram_hfox.va refuses the same state in ngspice): the error
    names the instance, the gap, the bounds and their resistances."""
    card = ModelCard.default()
    gmax = card.value("gmax")
    with pytest.raises(CircuitkitError, match=r"device N3: gap_init = 1\.9e-09 m .* lies above gmax: .*"
                                              r"\[gmin, gmax\] = \[2e-10, 1\.7e-09\] m"):
        card.instance_parameters(where="device N3", gap_init=1.9e-9)
    with pytest.raises(CircuitkitError, match=r"lies below gmin"):
        card.instance_parameters(where="device N3", gap_init=0.1e-9)
    assert "gap_init=1.9e-09" in card.instance_parameters(gap_init=1.9e-9, gmax=2e-9)  # its own bound holds it
    assert "gap_init=" in card.instance_parameters(gap_init=gmax)


def test_a_bench_refuses_a_device_state_outside_its_bounds_naming_the_unit():
    from circuitkit.netlist.pcsa import PcsaReadBench, ReadUnit

    card = ModelCard.default()
    with pytest.raises(CircuitkitError, match=r"ReadUnit w7 rram_blb: gap_init = 2\.5e-09 m"):
        PcsaReadBench([ReadUnit("w7", +1, rram_blb={"gap_init": 2.5e-9})], card=card)
    # a Monte Carlo draw beyond the card's bound is a device with its own bound, not an error
    far = float(card.resistance(card.value("gmax"))) * 1.5
    unit = ReadUnit.with_resistances("w8", +1, 10e3, far, card=card)
    assert unit.rram_blb["gmax"] == unit.rram_blb["gap_init"] > card.value("gmax")
    PcsaReadBench([unit], card=card)


@pytest.mark.spice
@pytest.mark.parametrize("card_file", [None, "characterization/fits/real_1t1r/distribution/model_card.json"])
def test_a_draw_more_conductive_than_the_closed_gap_reads_at_its_resistance_in_ngspice(card_file):
    """The real mixtures' low tails reach below R(gap 0): such a draw is a device at gap 0 with
    a wider filament (i0_scale > 1), read at the drawn resistance by ngspice, not an error that
    stops a campaign (the demo's did)."""
    from pathlib import Path

    from circuitkit.spice.runner import run_batch

    root = Path(__file__).resolve().parents[1]
    card = ModelCard.default() if card_file is None else ModelCard.load(root / card_file)
    v_read = card.read_voltage
    closed = float(card.resistance(0.0))
    drawn = np.array([0.4, 0.8, 0.999]) * closed
    lines = ["* reads below the closed gap", card.model_line("rram")]
    for k, r in enumerate(drawn):
        instance = card.programmed_instance(r, where=f"draw {k}")
        assert instance["gap_init"] == 0.0 and instance["i0_scale"] > 1
        lines += [f"Vr{k} r{k} 0 {v_read}", f"N{k} r{k} 0 rram {card.instance_parameters(**instance)}"]
    result = run_batch("\n".join(lines + [".op", ".end"]) + "\n")
    read = np.array([v_read / -float(np.asarray(result[f"i(vr{k})"]).ravel()[0]) for k in range(len(drawn))])
    np.testing.assert_allclose(read, drawn, rtol=1e-6)
