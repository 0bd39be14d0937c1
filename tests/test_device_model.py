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

# A card away from the defaults, with strong self-heating, so agreement is not an accident of defaults.
FITTED_LIKE = {"i0": 8.4e-5, "v0": 0.4, "gamma0": 14.0, "beta": 3.0, "vel0": 10 ** -2.5, "gmax": 0.725e-9,
               "rth": 5e3}


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
@pytest.mark.parametrize("values, v_set, v_reset, duration, gap_init", [
    (FITTED_LIKE, 1.4, -1.4, 2.0, 0.725e-9),  # quasi-static, seconds per cycle
    ({}, 1.6, -1.6, 40e-6, 1.2e-9),  # the .va defaults, microseconds per cycle
])
def test_python_sweep_matches_ngspice_within_one_percent(values, v_set, v_reset, duration, gap_init):
    card = ModelCard.from_values(values)
    time, voltage = triangle_sweep(3, 400, v_set, v_reset, duration)
    spice = ngspice_sweep(card, time, voltage, gap_init)
    python = simulate_sweep(card, time, voltage, gap_init)
    assert spice.gap.min() < card.value("gmin") + 0.05e-9  # it did switch, both ways
    assert spice.gap.max() > card.value("gmax") - 0.05e-9
    measurable = np.abs(spice.current) > 1e-9  # away from the 0 V crossings
    relative = np.abs(python.current[measurable] / spice.current[measurable] - 1.0)
    print(f"max relative current difference {relative.max():.2e}, median {np.median(relative):.2e}; "
          f"max gap difference {np.abs(python.gap - spice.gap).max() * 1e9:.2e} nm")
    assert relative.max() < 0.01


@pytest.mark.spice
def test_python_pulses_match_ngspice():
    card = ModelCard.from_values(FITTED_LIKE)
    rng = np.random.default_rng(7)
    n = 60
    amplitude = np.where(np.arange(n) % 2 == 0, rng.uniform(1.2, 2.2, n), rng.uniform(-2.1, -1.1, n))
    width = rng.choice([1e-6, 10e-6, 50e-6], n)
    gap_before = np.where(amplitude > 0, 0.7e-9, 0.21e-9)
    spice = card.resistance(ngspice_pulses(card, amplitude, width, gap_before))
    python = card.resistance(simulate_pulses(card, amplitude, width, gap_before))
    moved = np.abs(np.log(spice / card.resistance(gap_before))) > 0.1
    assert 10 < moved.sum() < n  # a mix of switched, partly switched and untouched cells
    relative = np.abs(python / spice - 1.0)
    print(f"R after: max relative difference {relative.max():.2e}")
    assert relative.max() < 0.01


@pytest.mark.spice
def test_dc_read_in_ngspice_is_card_resistance():
    card = ModelCard.from_values(FITTED_LIKE)
    gaps = np.array([0.2e-9, 0.45e-9, 0.725e-9])
    np.testing.assert_allclose(ngspice_read(card, list(gaps)), card.resistance(gaps), rtol=1e-6)


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
