"""The corners stage's bookkeeping and statistics (no circuit claims: no ngspice here)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy import stats

from circuitkit import CircuitkitError
from circuitkit.corners.campaign import _check_or_save_config
from circuitkit.corners.config import CampaignConfig
from circuitkit.corners.jobs import plan_jobs
from circuitkit.corners.rare import design_point_resistances, error_probabilities, fit_offset
from circuitkit.device.nonideality import DeviceNonideality, ReadNoise, StuckCells


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
    spread = DeviceNonideality.given(20e3, 0.3, 40e3, 0.4)
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
    spread = DeviceNonideality()  # 10.5 k / 85.8 k: well separated
    fit = fit_offset(np.array([-0.1, 0.0, 0.1]), np.array([200, 200, 200]), np.array([10, 100, 190]))
    estimate, low, high = error_probabilities(fit, spread)[+1]
    print(f"P(read -1 | +1) = {estimate:.3g} [{low:.3g}, {high:.3g}]")
    assert 0 < low <= estimate <= high < 1e-6


def test_design_point_keeps_the_requested_ratio():
    spread = DeviceNonideality.given(10e3, 0.1, 100e3, 0.4)
    for point in (-0.3, 0.0, 0.5):
        r_bl, r_blb = design_point_resistances(spread, point)
        assert np.log(r_blb / r_bl) == pytest.approx(point)
        # The failure point sits between the two medians, nearer the wider (HRS) state's tail.
        assert 10e3 < np.sqrt(r_bl * r_blb) < 100e3


def test_the_design_point_of_a_mixture_is_the_joint_density_maximum_not_a_grid_point():
    """Any model other than two lognormals is searched numerically (`corners.rare.design_point`,
    shared by the offset and importance methods): the pair found is the maximum of the joint
    log-density on the line, to far below any grid's step, and keeps the requested ratio."""
    import math

    from circuitkit.corners.rare import design_point
    from circuitkit.device.distributions import Lognormal, LognormalMixture

    lrs = Lognormal(math.log(10e3), 0.2)
    hrs = LognormalMixture(weights=(0.93, 0.07), mus=(math.log(120e3), math.log(15e3)), sigmas=(0.4, 0.15),
                           samples=0, data_range=(1e3, 1e6))
    for bl, blb, ratio in ((lrs, hrs, 0.3), (lrs, hrs, 1.5), (hrs, lrs, -0.8)):
        ln_bl, ln_blb = design_point(bl, blb, ratio)
        assert ln_blb - ln_bl == pytest.approx(ratio, abs=1e-12)
        dense = np.linspace(ln_bl - 0.05, ln_bl + 0.05, 200001)     # a step of 5e-7 in ln R around it
        density = bl.ln_logpdf(dense) + blb.ln_logpdf(dense + ratio)
        found = float(bl.ln_logpdf(np.array(ln_bl)) + blb.ln_logpdf(np.array(ln_blb)))
        assert found >= density.max() - 1e-10
        assert abs(dense[int(np.argmax(density))] - ln_bl) < 1e-6


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
        DeviceNonideality.given(50e3, 0.1, 20e3, 0.1)
    with pytest.raises(CircuitkitError, match="read noise is not simulated by campaigns"):
        CampaignConfig(device=DeviceNonideality(read_noise=ReadNoise(0.02)))
    with pytest.raises(CircuitkitError, match="offset method's integral does not include stuck cells"):
        CampaignConfig(method="offset", device=DeviceNonideality(stuck=StuckCells(1e-3, 0.0)))


def test_a_directory_never_mixes_campaign_settings(tmp_path):
    path = tmp_path / "campaign_config.json"
    _check_or_save_config(CampaignConfig(samples=10), path)
    _check_or_save_config(CampaignConfig(samples=10), path)  # same settings: resumable
    with pytest.raises(CircuitkitError, match="samples differ"):
        _check_or_save_config(CampaignConfig(samples=20), path)
    assert json.loads(path.read_text())["samples"] == 10


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


def test_the_source_tree_cites_sources_by_name_never_files_users_do_not_have():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    files = [*root.glob("circuitkit/**/*.py"), *root.glob("bench/*.py"), root / "README.md", root / "Makefile"]
    offenders = [f"{path.relative_to(root)}:{number}" for path in files
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if "REFERENCES" in line or "shared/" in line]
    assert offenders == []
