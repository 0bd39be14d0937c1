"""The corners stage's bookkeeping and statistics (no circuit claims: no ngspice here)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from scipy import stats

from circuitkit import CircuitkitError
from circuitkit.corners.campaign import _check_or_save_config
from circuitkit.corners.config import CampaignConfig
from circuitkit.corners.jobs import plan_jobs
from circuitkit.corners.rare import design_point_resistances, error_probabilities, fit_offset
from circuitkit.corners.spread import DeviceSpread, StateDistribution


def test_probit_fit_recovers_a_known_offset():
    rng = np.random.default_rng(3)
    points = np.linspace(-0.4, 0.4, 11)
    trials = np.full(points.size, 400)
    x0, sigma = 0.06, 0.12
    read_plus = rng.binomial(trials, stats.norm.cdf((points - x0) / sigma))
    fit = fit_offset(points, trials, read_plus)
    errors = np.sqrt(np.diag(fit.covariance))
    print(f"x0 {fit.x0:.4f} +- {errors[0]:.4f}, sigma {fit.sigma:.4f} +- {errors[1]:.4f}")
    assert abs(fit.x0 - x0) < 3 * errors[0]
    assert abs(fit.sigma - sigma) < 3 * errors[1]
    assert errors[0] < 0.02 and not fit.separated


def test_closed_form_error_rate_matches_direct_sampling():
    spread = DeviceSpread(StateDistribution(20e3, 0.3), StateDistribution(40e3, 0.4))
    fit = fit_offset(np.array([-0.5, 0.0, 0.5]), np.array([10**6] * 3),
                     np.round(10**6 * stats.norm.cdf((np.array([-0.5, 0.0, 0.5]) - 0.05) / 0.2)).astype(int))
    probabilities = error_probabilities(fit, spread)
    rng = np.random.default_rng(0)
    n = 2_000_000
    threshold = fit.x0 + fit.sigma * rng.standard_normal(n)
    x_plus = rng.normal(np.log(40e3), 0.4, n) - rng.normal(np.log(20e3), 0.3, n)
    direct_plus = np.mean(x_plus < threshold)
    direct_minus = np.mean(-x_plus > threshold)
    assert probabilities[+1][0] == pytest.approx(direct_plus, rel=0.01)
    assert probabilities[-1][0] == pytest.approx(direct_minus, rel=0.01)
    for estimate, low, high in probabilities.values():
        assert low <= estimate <= high


def test_rare_rates_reach_far_below_what_sampling_could_see():
    spread = DeviceSpread()  # 10.5 k / 85.8 k: well separated
    fit = fit_offset(np.array([-0.1, 0.0, 0.1]), np.array([200, 200, 200]), np.array([10, 100, 190]))
    estimate, low, high = error_probabilities(fit, spread)[+1]
    print(f"P(read -1 | +1) = {estimate:.3g} [{low:.3g}, {high:.3g}]")
    assert 0 < low <= estimate <= high < 1e-6


def test_design_point_keeps_the_requested_ratio():
    spread = DeviceSpread(StateDistribution(10e3, 0.1), StateDistribution(100e3, 0.4))
    for point in (-0.3, 0.0, 0.5):
        r_bl, r_blb = design_point_resistances(spread, point)
        assert np.log(r_blb / r_bl) == pytest.approx(point)
        # The failure point sits between the two medians, nearer the wider (HRS) state's tail.
        assert 10e3 < np.sqrt(r_bl * r_blb) < 100e3


def test_job_seeds_depend_on_values_not_on_grid_order():
    one = plan_jobs(CampaignConfig(corners=("tt", "ss"), vdd=(1.8, 0.9), samples=100, batch_size=40))
    other = plan_jobs(CampaignConfig(corners=("ss", "tt"), vdd=(0.9, 1.8), samples=100, batch_size=40))
    seeds = {job.key: job.seed_sequence().generate_state(4).tolist() for job in one}
    assert seeds == {job.key: job.seed_sequence().generate_state(4).tolist() for job in other}
    assert sum(job.count for job in one) == 2 * 2 * 2 * 100  # corners x supplies x stored values x samples
    # Common random numbers: conditions share streams; stored values and batches do not.
    streams = {}
    for job in one:
        streams.setdefault((job.stored, job.batch), set()).add(tuple(seeds[job.key]))
    assert all(len(group) == 1 for group in streams.values())
    assert len({next(iter(group)) for group in streams.values()}) == len(streams)


def test_bad_settings_are_rejected_before_any_simulation():
    with pytest.raises(CircuitkitError, match="unknown process corner 'xx'"):
        CampaignConfig(corners=("xx",))
    with pytest.raises(CircuitkitError, match=r"vdd=5.0 V is outside .*0.5..1.98 V"):
        CampaignConfig(vdd=(5.0,))
    with pytest.raises(CircuitkitError, match="ternary"):
        CampaignConfig(scheme="ternary", method="offset")
    with pytest.raises(CircuitkitError, match=r"samples='64': expected a whole number >= 1"):
        CampaignConfig(samples="64")          # e.g. a quoted number in a flow file
    assert CampaignConfig(vdd=(1,), temp_c=(27,)).to_dict()["temp_c"] == [27.0]
    with pytest.raises(CircuitkitError, match="HRS median"):
        DeviceSpread(StateDistribution(50e3, 0.1), StateDistribution(20e3, 0.1))


def test_a_directory_never_mixes_campaign_settings(tmp_path):
    path = tmp_path / "campaign_config.json"
    _check_or_save_config(CampaignConfig(samples=10), path)
    _check_or_save_config(CampaignConfig(samples=10), path)  # same settings: resumable
    with pytest.raises(CircuitkitError, match="samples differ"):
        _check_or_save_config(CampaignConfig(samples=20), path)
    assert json.loads(path.read_text())["samples"] == 10


def test_spread_comes_from_a_fitted_distribution_card():
    from circuitkit.device.model import ModelCard

    card = ModelCard.load("characterization/fits/resistance_distribution/model_card.json")
    spread = DeviceSpread.from_model_card(card)
    assert spread.lrs.median_ohm == pytest.approx(card.variability["median_r_lrs"])
    assert spread.hrs.sigma_ln == pytest.approx(card.variability["sigma_lnR_hrs"])
    assert spread.lrs.samples and spread.hrs.samples  # the fit's cell counts feed the rare-event interval
    with pytest.raises(CircuitkitError, match="no resistance-distribution fit"):
        DeviceSpread.from_model_card(ModelCard.default())


@pytest.mark.parametrize("field, value, message", [
    ("vdd", (1.8, 0.4), r"campaign: operating point: vdd=0.4 V is outside .*\(0.5..1.98 V\)"),
    ("temp_c", (-50.0,), r"campaign: operating point: temp_c=-50.0 C is outside -40..125 C"),
    ("temp_c", (150.0,), r"campaign: operating point: temp_c=150.0 C is outside -40..125 C"),
])
def test_campaigns_and_flows_accept_exactly_the_netlists_operating_range(tmp_path, field, value, message):
    """One range (OPERATING_RANGE) for netlists, campaigns and flows: what a campaign
    accepts, its first job can simulate."""
    from circuitkit.flow import FLOW_CAMPAIGN, FlowConfig
    from circuitkit.operating import OPERATING_RANGE, OperatingPoint

    with pytest.raises(CircuitkitError, match=message):
        CampaignConfig(**{field: value})
    with pytest.raises(CircuitkitError, match=message.split(": ", 1)[1]):
        FlowConfig(output=tmp_path, campaign=dataclasses.replace(FLOW_CAMPAIGN, **{field: value}))
    with pytest.raises(CircuitkitError, match=r"flow campaign ber_ternary: campaign: operating point: vdd=0.4 V"):
        FlowConfig(output=tmp_path, ternary={"vdd": (0.4,)})   # a derived campaign is checked too
    for vdd in (OPERATING_RANGE.vdd_min, OPERATING_RANGE.vdd_max):
        CampaignConfig(vdd=(vdd,), temp_c=(OPERATING_RANGE.temp_min_c, OPERATING_RANGE.temp_max_c))
        OperatingPoint("tt", vdd, OPERATING_RANGE.temp_max_c)


def test_out_of_range_supply_stops_the_cli_before_anything_runs(tmp_path, capsys):
    from circuitkit.cli import main

    assert main(["ber", "--vdd", "0.4", "--quiet", "-o", str(tmp_path / "campaign")]) == 2
    assert "vdd=0.4 V is outside" in capsys.readouterr().err
    assert not (tmp_path / "campaign").exists()


FITTED_CARD = "characterization/fits/resistance_distribution/model_card.json"


def _ber_args(*options):
    from circuitkit.cli import build_parser

    return build_parser().parse_args(["ber", *options, "-o", "unused"])


def test_spread_options_override_the_card_field_by_field():
    from circuitkit.corners.cli import _spread
    from circuitkit.device.model import ModelCard

    card = ModelCard.load(FITTED_CARD)
    fitted = DeviceSpread.from_model_card(card)
    spread = _spread(_ber_args("--model-card", FITTED_CARD, "--hrs-sigma", "0.5"), card)
    assert spread.lrs == fitted.lrs                       # the card's LRS fit, cell count included
    assert spread.hrs.median_ohm == fitted.hrs.median_ohm and spread.hrs.sigma_ln == 0.5
    assert spread.hrs.samples is None                     # no longer the fitted distribution
    assert spread.source == "fitted from characterization/resistance_distribution.csv; hrs_sigma_ln=0.5 given explicitly"
    # An explicit zero is a value, never 'not given': a zero sigma is used, a zero median refused.
    assert _spread(_ber_args("--lrs-sigma", "0"), None).lrs.sigma_ln == 0.0
    with pytest.raises(CircuitkitError, match="median resistance must be a positive number of ohms, got 0.0"):
        _spread(_ber_args("--model-card", FITTED_CARD, "--lrs-median", "0"), card)
    everything = _spread(_ber_args("--lrs-median", "20e3", "--lrs-sigma", "0.3", "--hrs-median", "40e3",
                                   "--hrs-sigma", "0.3"), None)
    assert everything == DeviceSpread(StateDistribution(20e3, 0.3), StateDistribution(40e3, 0.3))
    assert everything.source == "given explicitly" and not everything.uses_literature_defaults


def test_literature_default_spread_matches_its_cited_percentiles():
    """LRS 1-99 % = 9.3-11.6 kohm and HRS 47-277 kohm: sigma(ln R) is the lognormal's whose
    1-99 % span is that span (0.0475 for LRS, not 0.095)."""
    from scipy import stats

    spread = DeviceSpread()
    z99 = stats.norm.ppf(0.99)
    for state, (low, high) in ((spread.lrs, (9.3e3, 11.6e3)), (spread.hrs, (47e3, 277e3))):
        assert math.exp(2 * z99 * state.sigma_ln) == pytest.approx(high / low, rel=1e-9)
    assert spread.lrs.sigma_ln == pytest.approx(0.0475, abs=1e-4)
    assert spread.hrs.sigma_ln == pytest.approx(0.381, abs=1e-3)
    assert (spread.lrs.median_ohm, spread.hrs.median_ohm) == (10.5e3, 85.8e3)


def test_the_default_spread_says_where_it_comes_from_and_is_announced(capsys):
    from circuitkit.corners.spread import LITERATURE_SOURCE, announce_spread, device_spread
    from circuitkit.device.model import ModelCard

    default = device_spread(ModelCard.default())
    assert default.source == LITERATURE_SOURCE == "literature defaults, not your data"
    assert default == DeviceSpread() and default.uses_literature_defaults
    assert announce_spread(default) is not None
    assert "device spread: literature defaults, not your data (LRS median 10.5 kohm" in capsys.readouterr().err
    fitted = device_spread(ModelCard.load(FITTED_CARD))
    assert fitted.source == "fitted from characterization/resistance_distribution.csv"
    assert announce_spread(fitted) is None and capsys.readouterr().err == ""
    # A partial override of the defaults still uses defaults for the rest: still announced.
    partial = device_spread(None, {"hrs_sigma_ln": 0.2})
    assert partial.uses_literature_defaults and partial.hrs.sigma_ln == 0.2
    restored = CampaignConfig.from_dict(CampaignConfig(spread=partial).to_dict())
    assert restored.spread == partial and restored.spread.source == partial.source


def test_the_source_tree_cites_sources_by_name_never_files_users_do_not_have():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    files = [*root.glob("circuitkit/**/*.py"), *root.glob("bench/*.py"), root / "README.md", root / "Makefile"]
    offenders = [f"{path.relative_to(root)}:{number}" for path in files
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if "REFERENCES" in line or "shared/" in line]
    assert offenders == []
