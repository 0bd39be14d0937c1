"""The one device-nonideality object: where its numbers come from (and that defaults are
announced from one place), the draws campaigns make, the exact JSON round trip, the
card's fitted models, stuck cells, and the one weight -> state map (no ngspice here)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from circuitkit import CircuitkitError
from circuitkit.corners.config import CampaignConfig
from circuitkit.device.model import ModelCard
from circuitkit.device.nonideality import (
    CELL_STATES,
    CHOSEN,
    LITERATURE_SOURCE,
    DeviceNonideality,
    NonidealityError,
    ProgrammedStates,
    ReadNoise,
    StuckCells,
    device_nonideality,
)
from circuitkit.stats import binomial_interval

FITTED_CARD = "characterization/fits/resistance_distribution/model_card.json"
REAL_CARD = "characterization/fits/real_1t1r/distribution/model_card.json"


def _ber_args(*options):
    from circuitkit.cli import build_parser

    return build_parser().parse_args(["ber", *options, "-o", "unused"])


def test_literature_default_states_match_their_cited_percentiles():
    """LRS 1-99 % = 9.3-11.6 kohm and HRS 47-277 kohm: sigma(ln R) is the lognormal's whose
    1-99 % span is that span (0.0475 for LRS, not 0.095)."""
    device = DeviceNonideality()
    z99 = stats.norm.ppf(0.99)
    for name, (low, high) in (("lrs", (9.3e3, 11.6e3)), ("hrs", (47e3, 277e3))):
        assert math.exp(2 * z99 * device.state(name).sigma_ln) == pytest.approx(high / low, rel=1e-9)
    assert device.state("lrs").sigma_ln == pytest.approx(0.0475, abs=1e-4)
    assert device.state("hrs").sigma_ln == pytest.approx(0.381, abs=1e-3)
    assert (device.state("lrs").median, device.state("hrs").median) == (10.5e3, 85.8e3)
    assert device.state("lrs").kind == "lognormal" and device.alternatives("lrs") == {}


def test_the_draws_are_the_ones_campaigns_have_always_made():
    """A lognormal state draws exp(N(ln median, sigma)) with rng.normal, BL then BLb: the
    same numbers as before the device object existed, so tables stay byte-identical."""
    device = DeviceNonideality.given(9258.572277136293, 0.07693595752500548, 70879.97128603369, 0.8466152878096531)
    for stored in (+1, -1, 0):
        drawn = device.draw(np.random.default_rng(5), stored, 64)
        reference = np.random.default_rng(5)
        columns = []
        for name in {+1: ("lrs", "hrs"), -1: ("hrs", "lrs"), 0: ("hrs", "hrs")}[stored]:
            median, sigma = {"lrs": (9258.572277136293, 0.07693595752500548),
                             "hrs": (70879.97128603369, 0.8466152878096531)}[name]
            columns.append(np.exp(reference.normal(math.log(median), sigma, size=64)))
        np.testing.assert_array_equal(drawn, np.column_stack(columns))
    with pytest.raises(NonidealityError, match="stored weight 2"):
        device.draw(np.random.default_rng(0), 2, 1)


def test_states_come_from_a_fitted_distribution_card_with_their_alternatives():
    card = ModelCard.load(FITTED_CARD)
    device = DeviceNonideality.from_model_card(card)
    assert device.state("lrs").median == card.variability["median_r_lrs"]
    assert device.state("hrs").sigma_ln == card.variability["sigma_lnR_hrs"]
    # The fit's cell counts feed the rare-event interval.
    assert device.state("lrs").samples and device.state("hrs").samples
    assert device.source == "fitted from characterization/resistance_distribution.csv"
    assert set(device.alternatives("hrs")) == {"lognormal", "lognormal_mixture", "empirical_gpd"}
    with pytest.raises(CircuitkitError, match="no resistance-distribution fit"):
        DeviceNonideality.from_model_card(ModelCard.default())
    # The real array's card: the fit chose a two-population mixture for both states.
    real = ModelCard.load(REAL_CARD)
    chosen = DeviceNonideality.from_model_card(real, model=CHOSEN)
    assert chosen.state("hrs").kind == "lognormal_mixture" and "(chosen models)" in chosen.source
    assert chosen.state("hrs") == real.distribution("hrs")
    gpd = DeviceNonideality.from_model_card(real, model="empirical_gpd")
    assert gpd.state("lrs").kind == "empirical_gpd"
    # A mixture state is drawn from its own model, and the offset integral takes it as it is (issue 14).
    from circuitkit.sense_offset import OffsetFit, error_probabilities

    resistances = chosen.draw(np.random.default_rng(1), +1, 20_000)
    low_hrs = np.mean(resistances[:, 1] < 20e3)   # the HRS cells that stayed near LRS (about 7 %)
    assert 0.04 < low_hrs < 0.10
    fit = OffsetFit(0.0, 0.4, np.eye(2) * 1e-4, np.zeros(3), np.ones(3), np.ones(3), False)
    estimate, low, high = error_probabilities(fit, chosen)[+1]
    cells = chosen.draw(np.random.default_rng(2), +1, 60_000)
    direct = np.mean(np.log(cells[:, 1] / cells[:, 0]) < 0.4 * np.random.default_rng(3).standard_normal(len(cells)))
    assert abs(estimate - direct) < 4 * np.sqrt(direct * (1 - direct) / len(cells)) and low <= estimate <= high


def test_spread_options_override_the_card_field_by_field():
    from circuitkit.corners.cli import _device

    card = ModelCard.load(FITTED_CARD)
    fitted = DeviceNonideality.from_model_card(card, model=CHOSEN)   # campaigns draw the fit's chosen models
    device = _device(_ber_args("--model-card", FITTED_CARD, "--hrs-sigma", "0.5"), card)
    assert device.state("lrs") == fitted.state("lrs")      # the card's LRS fit, cell count included
    assert device.state("hrs").median == fitted.state("hrs").median and device.state("hrs").sigma_ln == 0.5
    assert device.state("hrs").samples == 0                # no longer the fitted distribution
    assert device.source == ("fitted from characterization/resistance_distribution.csv (chosen models); "
                             "hrs_sigma_ln=0.5 given explicitly")
    # An explicit zero is a value, never 'not given': a zero sigma is used, a zero median refused.
    assert _device(_ber_args("--lrs-sigma", "0"), None).state("lrs").sigma_ln == 0.0
    with pytest.raises(CircuitkitError, match="median resistance must be a positive number of ohms, got 0.0"):
        _device(_ber_args("--model-card", FITTED_CARD, "--lrs-median", "0"), card)
    everything = _device(_ber_args("--lrs-median", "20e3", "--lrs-sigma", "0.3", "--hrs-median", "40e3",
                                   "--hrs-sigma", "0.3"), None)
    assert everything == DeviceNonideality.given(20e3, 0.3, 40e3, 0.3)
    assert everything.source == "given explicitly" and not everything.uses_defaults
    stuck = _device(_ber_args("--stuck-hrs", "0.01"), None).stuck
    assert (stuck.stuck_lrs, stuck.stuck_hrs, stuck.source) == (0.0, 0.01, "given on the command line")
    with pytest.raises(CircuitkitError, match="unknown device-spread field"):
        device_nonideality(None, {"lrs_median": 1e4})


def test_defaults_say_where_they_come_from_and_are_announced_from_one_place(capsys):
    default = device_nonideality(ModelCard.default())
    assert default.source == LITERATURE_SOURCE == "literature defaults, not your data"
    assert default == DeviceNonideality() and default.uses_defaults
    assert default.announce() is not None
    assert "device spread: literature defaults, not your data (LRS median 10.5 kohm" in capsys.readouterr().err
    fitted = device_nonideality(ModelCard.load(FITTED_CARD))
    assert fitted.source == "fitted from characterization/resistance_distribution.csv"
    assert fitted.announce() is None and capsys.readouterr().err == ""
    # A partial override of the defaults still uses defaults for the rest: still announced.
    partial = device_nonideality(None, {"hrs_sigma_ln": 0.2})
    assert partial.uses_defaults and partial.state("hrs").sigma_ln == 0.2
    restored = CampaignConfig.from_dict(CampaignConfig(device=partial).to_dict())
    assert restored.device == partial and restored.device.source == partial.source
    # Every default part, in one message: assumed read noise and dataset stuck cells too.
    everything = DeviceNonideality(read_noise=ReadNoise.assumed(), stuck=StuckCells.dataset_default())
    logged = []
    message = everything.announce(logged.append)
    assert logged == [message]
    assert "device spread: literature defaults" in message and "read noise 0.02 per read: assumption" in message
    assert "stuck cells: dataset default, not your data" in message
    quiet = DeviceNonideality(ProgrammedStates.from_model_card(ModelCard.load(FITTED_CARD)),
                              ReadNoise(0.01), StuckCells(0.0, 1e-3))
    assert quiet.announce() is None and capsys.readouterr().err == ""


def test_a_device_round_trips_through_json_exactly():
    """Every part, a non-lognormal state and the fitted alternatives included; a lognormal
    state keeps the flat keys campaigns and characterization tables have recorded."""
    real = ModelCard.load(REAL_CARD)
    devices = [
        DeviceNonideality(),
        device_nonideality(ModelCard.load(FITTED_CARD), {"lrs_sigma_ln": 0.0}),
        DeviceNonideality(ProgrammedStates.from_model_card(real, CHOSEN), ReadNoise(0.015, "bench"),
                          StuckCells.dataset_default().upper_bounds()),
        DeviceNonideality(ProgrammedStates.from_model_card(real), stuck=StuckCells.dataset_default()),
    ]
    for device in devices:
        text = json.dumps(device.to_dict())
        again = DeviceNonideality.from_dict(json.loads(text))
        assert again == device and json.dumps(again.to_dict()) == text
    flat = DeviceNonideality().to_dict()["states"]
    assert flat == {"lrs_median_ohm": 10500.0, "lrs_sigma_ln": flat["lrs_sigma_ln"], "lrs_samples": None,
                    "hrs_median_ohm": 85800.0, "hrs_sigma_ln": flat["hrs_sigma_ln"], "hrs_samples": None,
                    "source": LITERATURE_SOURCE}
    # What earlier campaigns stored as `spread` reads as the same device.
    assert DeviceNonideality.from_dict(flat) == DeviceNonideality()
    with pytest.raises(NonidealityError, match="malformed programmed states"):
        DeviceNonideality.from_dict({"lrs_median_ohm": 1e4})


def test_stuck_cells_keep_the_other_state_in_the_draws():
    """Each device sticks with its probability (programmed HRS -> stuck_lrs, LRS ->
    stuck_hrs) and then reads the other state's resistance."""
    states = ProgrammedStates.given(10e3, 0.0, 100e3, 0.0)       # point masses: easy to tell apart
    all_lrs = DeviceNonideality(states, stuck=StuckCells(1.0, 0.0)).draw(np.random.default_rng(0), +1, 50)
    assert np.allclose(all_lrs, 10e3, rtol=1e-12)                 # the HRS device (BLb) stuck in LRS
    rate = 0.1
    drawn = DeviceNonideality(states, stuck=StuckCells(0.0, rate)).draw(np.random.default_rng(1), +1, 20_000)
    assert np.allclose(drawn[:, 1], 100e3, rtol=1e-12)           # HRS devices never stick in LRS here
    interval = binomial_interval(int(np.sum(np.isclose(drawn[:, 0], 100e3))), 20_000)
    assert interval.low < rate < interval.high
    # Without stuck cells nothing else is drawn: the states' numbers are unchanged.
    plain = DeviceNonideality(states).draw(np.random.default_rng(1), -1, 5)
    assert np.allclose(plain, [100e3, 10e3], rtol=1e-12)


def test_one_weight_state_map_and_one_lrs_hrs_default_for_netlists_and_campaigns():
    from circuitkit.netlist import common

    assert common.WEIGHT_STATES is CELL_STATES
    assert CELL_STATES == {+1: ("lrs", "hrs"), -1: ("hrs", "lrs"), 0: ("hrs", "hrs")}
    # A generated netlist's nominal LRS/HRS are the medians campaigns draw around.
    device = DeviceNonideality()
    assert common.RramStates() == common.RramStates.of(device) == common.RramStates(10.5e3, 85.8e3)
    from circuitkit.cli import build_parser

    netlist = build_parser().parse_args(["netlist", "2t2r-pcsa", "-o", "unused.cir"])
    assert (netlist.lrs, netlist.hrs) == (device.state("lrs").median, device.state("hrs").median)


def test_the_read_timing_reference_cell_stays_put_when_the_device_default_moves():
    """Campaigns time their reads from the nominal sensing delay of a reference cell (10 k /
    100 k, as calibrated); the device default (10.5 k / 85.8 k) is not that cell, so the
    campaigns' timing and tables did not move with the default."""
    from circuitkit.netlist import common
    from circuitkit.netlist.pcsa import TIMING_REFERENCE_STATES, nominal_delay_bench

    bench = nominal_delay_bench(1.8)
    assert bench.states == TIMING_REFERENCE_STATES == common.RramStates(10e3, 100e3)
    assert bench.states != common.RramStates()
