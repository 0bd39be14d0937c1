"""Resistance distribution models: exact round trips, tails far out, states found, models chosen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, special, stats

from circuitkit.device import distributions as D
from circuitkit.device.fit import fit_distribution
from circuitkit.device.model import ModelCard
from circuitkit.measurements import MeasurementFile, ResistanceDistribution

ROOT = Path(__file__).resolve().parents[1]
UNLABELLED = MeasurementFile(Path("cells.tsv"), "", {}, {"resistance": "#2"}, {})


def issue_cells(seed: int = 5) -> tuple[np.ndarray, dict]:
    """The issue's file: 39,680 cells near 10.5 kohm (sigma 0.048) and 640 near 86 kohm
    (1-99 %: 47-277 kohm, sigma 0.38), no state column."""
    rng = np.random.default_rng(seed)
    truth = {"LRS": (39680, 10.5e3, 0.048), "HRS": (640, 86e3, 0.38)}
    r = np.concatenate([median * np.exp(sigma * rng.standard_normal(n)) for n, median, sigma in truth.values()])
    return rng.permutation(r), truth


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(1)
    x = np.concatenate([10e3 * np.exp(0.1 * rng.standard_normal(3000)), 30e3 * np.exp(0.3 * rng.standard_normal(600))])
    return {"lognormal": D.fit_lognormal(x), "lognormal_mixture": D.fit_mixture(x), "empirical_gpd": D.fit_empirical_gpd(x)}


@pytest.mark.parametrize("kind", ["lognormal", "lognormal_mixture", "empirical_gpd"])
def test_exact_json_round_trip(models, kind):
    model = models[kind]
    again = D.distribution_from_dict(json.loads(json.dumps(model.to_dict())))
    assert again == model and type(again) is type(model)
    r = np.geomspace(1e3, 1e6, 50)
    np.testing.assert_array_equal(again.logpdf(r), model.logpdf(r))


@pytest.mark.parametrize("kind", ["lognormal", "lognormal_mixture", "empirical_gpd"])
def test_quantiles_and_tails_are_accurate_far_out(models, kind):
    model = models[kind]
    # 1e-300 too where the tail is unbounded; a bounded GPD tail (shape < 0) is resolved to
    # its end point within double precision of ln R, which limits q to about 1e-15 there.
    bounded = kind == "empirical_gpd" and min(model.lower.shape, model.upper.shape) < 0
    q = np.array(([] if bounded else [1e-300]) + [1e-15, 1e-12, 1e-9, 1e-6, 1e-3, 0.1, 0.5])
    lower, upper = model.ppf(q), model.isf(q)
    np.testing.assert_allclose(model.cdf(lower), q, rtol=1e-6)
    np.testing.assert_allclose(model.sf(upper), q, rtol=1e-6)
    np.testing.assert_allclose(np.exp(model.logsf(upper)), q, rtol=1e-6)
    assert np.all(np.diff(lower) > 0) and np.all(np.diff(upper) < 0)
    assert model.median == pytest.approx(float(model.ppf(0.5)))
    assert model.samples == 3600 and model.data_range[0] < model.median < model.data_range[1]
    draws = model.sample(np.random.default_rng(3), 20000)
    assert stats.kstest(np.log(draws), lambda v: model.cdf(np.exp(v))).pvalue > 1e-3
    # the density integrates to the distribution function
    grid = np.geomspace(model.ppf(1e-6), model.isf(1e-6), 4001)
    mass = np.trapezoid(np.exp(model.logpdf(grid)), grid)
    assert mass == pytest.approx(1 - 2e-6, abs=2e-3)


def test_lognormal_and_mixture_tails_match_closed_forms():
    lognormal = D.Lognormal(np.log(85e3), 0.37, 100, (1.0, 2.0))
    assert float(lognormal.isf(1e-9)) == pytest.approx(85e3 * np.exp(0.37 * -special.ndtri(1e-9)), rel=1e-13)
    mixture = D.LognormalMixture((0.9, 0.1), (np.log(10e3), np.log(40e3)), (0.05, 0.3), 100, (1.0, 2.0))
    for q in (1e-12, 1e-9, 1e-4):
        exact = optimize.brentq(lambda x: np.log(mixture._sf(x)) - np.log(q), np.log(1e3), np.log(1e8), xtol=1e-14)
        assert float(mixture.isf(q)) == pytest.approx(np.exp(exact), rel=1e-10)
    single = D.LognormalMixture((1.0,), (np.log(85e3),), (0.37,), 100, (1.0, 2.0))
    np.testing.assert_allclose(single.isf([1e-9, 1e-3]), lognormal.isf([1e-9, 1e-3]), rtol=1e-10)


def test_two_states_found_without_a_state_column():
    r, truth = issue_cells()
    split = D.find_states(r)
    summary = split.summary(r)
    assert split.names == ("LRS", "HRS")
    for name, (count, median, _) in truth.items():
        state = summary["states"][name]
        low, high = state["fraction_ci95"]
        print(name, state["cells"], state["median_ohm"], state["median_ci95_ohm"], state["overlap_fraction"])
        assert low * len(r) <= count <= high * len(r)
        assert state["median_ci95_ohm"][0] < median < state["median_ci95_ohm"][1]
    assert 0 <= summary["overlap_fraction_ci95"][0] <= summary["overlap_fraction"] <= summary["overlap_fraction_ci95"][1]
    split = D.find_states(r, threshold_ohm=[25e3], names=["low", "high"])
    assert split.names == ("LOW", "HIGH") and (split.labels == "HIGH").sum() == pytest.approx(640, abs=15)
    with pytest.raises(D.DistributionError, match="without cells"):
        D.find_states(r, threshold_ohm=[1e9])


def test_a_handful_of_cells_is_one_state_not_a_traceback():
    r = np.array([151240.0, 123855.0, 9726.0])
    split = D.find_states(r)
    assert split.names == ("ALL",) and split.components == 1
    outcome = fit_distribution(ResistanceDistribution(r, np.full(3, "ALL"), None, UNLABELLED))
    assert set(outcome.card.state_fit("ALL").models) == {"lognormal"}
    assert any(flag["problem"] == "few_cells" for flag in outcome.flags)


def test_the_issue_file_is_no_longer_one_lognormal_and_the_lognormal_is_flagged():
    r, truth = issue_cells()
    data = ResistanceDistribution(r, np.full(r.size, "ALL"), None, UNLABELLED)
    outcome = fit_distribution(data, ModelCard.default(), v_read=0.2)
    states = outcome.metrics["states"]
    assert set(states) == {"LRS", "HRS"}
    assert states["LRS"]["n"] + states["HRS"]["n"] == r.size
    assert outcome.card.variability["median_r_lrs"] == pytest.approx(10.5e3, rel=0.01)
    assert outcome.card.variability["sigma_lnR_lrs"] == pytest.approx(0.048, rel=0.1)
    assert outcome.card.variability["median_r_hrs"] == pytest.approx(86e3, rel=0.1)
    assert set(outcome.card.distributions) == {"LRS", "HRS"}
    assert outcome.card.read_voltage == 0.2


def test_ks_rejected_model_is_flagged():
    rng = np.random.default_rng(2)
    # one labelled state that is two populations: no single lognormal describes it
    r = np.concatenate([10e3 * np.exp(0.05 * rng.standard_normal(4000)), 25e3 * np.exp(0.05 * rng.standard_normal(400))])
    source = MeasurementFile(Path("one_state.csv"), "", {}, {"resistance": "r", "state": "state"}, {})
    outcome = fit_distribution(ResistanceDistribution(r, np.full(r.size, "HRS"), None, source))
    fit = outcome.card.state_fit("HRS")
    assert fit.fits["lognormal"].ks_rejects and fit.chosen != "lognormal"
    assert any(flag["problem"] == "ks_rejects" and "lognormal" in flag["what"] for flag in outcome.flags)
    clean = 10e3 * np.exp(0.05 * rng.standard_normal(4000))
    outcome = fit_distribution(ResistanceDistribution(clean, np.full(clean.size, "LRS"), None, source))
    assert outcome.flags == [] and outcome.card.state_fit("LRS").chosen == "lognormal"


def test_heavy_tail_is_followed_by_the_gpd_not_the_lognormal():
    """ln R with Student-t (5 dof) tails, 40,000 cells: extrapolated to 1e-5 (two decades
    beyond the data's 1/n), the GPD tail lands within 35 % of the true distance from the
    median and at most half as far off as the lognormal, which misses it by a factor ~3.
    (POT at a 10 % threshold still underestimates the t's asymptotic shape 0.2: it sees
    0.08-0.13, an honest limit of extrapolation that the report's data_range makes visible.)"""
    rng = np.random.default_rng(4)
    t = stats.t(df=5, loc=np.log(80e3), scale=0.3)
    r = np.exp(t.rvs(40000, random_state=rng))
    fit = D.fit_state(r, "HRS")
    truth = t.isf(1e-5) - t.median()
    gpd = np.log(fit.models["empirical_gpd"].isf(1e-5)) - t.median()
    lognormal = np.log(fit.models["lognormal"].isf(1e-5)) - t.median()
    print(f"ln-distance of the 1e-5 upper quantile from the median: truth {truth:.2f}, GPD {gpd:.2f}, "
          f"lognormal {lognormal:.2f}; chosen {fit.chosen}")
    assert abs(gpd / truth - 1) < 0.35
    assert abs(gpd - truth) < 0.5 * abs(lognormal - truth)
    assert fit.chosen != "lognormal" and fit.fits["lognormal"].ks_rejects


def test_card_carries_models_and_old_cards_still_load(tmp_path):
    r, _ = issue_cells()
    data = ResistanceDistribution(r, np.full(r.size, "ALL"), None, UNLABELLED)
    card = fit_distribution(data, ModelCard.default()).card
    path = card.save(tmp_path / "card.json")
    again = ModelCard.load(path)
    assert again.distributions == json.loads(path.read_text())["distributions"]
    for state in ("LRS", "HRS"):
        assert again.distribution(state) == card.distribution(state)
        assert set(again.state_fit(state).models) >= {"lognormal", "lognormal_mixture", "empirical_gpd"}
        assert again.distribution(state, "lognormal").median == pytest.approx(card.variability[f"median_r_{state.lower()}"])
    old = ModelCard.load(ROOT / "characterization" / "fits" / "iv_sweep" / "model_card.json")
    assert old.distributions == {} and old.pulse_model == {}
    broken = json.loads(path.read_text())
    broken["distributions"]["LRS"]["models"]["lognormal"]["model"]["kind"] = "weibull"
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(Exception, match=r"distributions\['LRS'\].*unknown distribution kind 'weibull'"):
        ModelCard.load(tmp_path / "broken.json")
