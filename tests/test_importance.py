"""Importance sampling of the read (`--method is`): the estimator against an exact answer,
the proposal for any device model, and (ngspice) resume and worker-count identity."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from scipy import special

from circuitkit import CircuitkitError
from circuitkit.ber_table import BerTable
from circuitkit.corners.batch import ReadBatch
from circuitkit.corners.campaign import CampaignConfig, run_campaign
from circuitkit.corners.importance import NORMAL_INTERVAL, Proposal, design_point, importance_table, target_log_ratio
from circuitkit.device.distributions import Lognormal, LognormalMixture
from circuitkit.device.nonideality import DeviceNonideality, ProgrammedStates
from circuitkit.sense_offset import OffsetFit


@dataclasses.dataclass(frozen=True)
class ThresholdReads:
    """A read whose answer is known exactly, for the statistics only (no circuit claim):
    +1 when ln(R_BLb/R_BL) > x0 + sigma Z, Z standard normal from the job's seed (an
    amplifier with a Gaussian offset). P(misread | stored +1) = Phi((x0 - D) / sqrt(s^2 +
    sigma^2)) exactly (circuitkit.sense_offset)."""

    x0: float = 0.02
    sigma: float = 0.17

    def timing(self, scheme, vdd):
        return {"synthetic": True}

    def __call__(self, point, scheme, resistances, spice_seed, *, stored, card, tighter, mismatch):
        offsets = self.x0 + self.sigma * np.random.default_rng(spice_seed).standard_normal(len(resistances))
        ratio = np.log(resistances[:, 1] / resistances[:, 0])
        read = np.where(ratio > offsets, 1, -1)
        return ReadBatch(read, np.full(len(read), 1e-10), np.abs(ratio - offsets))


# D = ln(321k / 10k) = 3.47, s = 0.5 sqrt(2): P(misread) near 1e-6, far beyond brute force. The
# cells' spread dominates the amplifier's (0.17): the regime the resistance proposal serves
# (module doc of corners/importance.py).
RARE = DeviceNonideality.given(10e3, 0.5, 321e3, 0.5)


def _exact(device: DeviceNonideality, reads: ThresholdReads, stored: int) -> float:
    lrs, hrs = device.states.lognormal("lrs"), device.states.lognormal("hrs")
    gap, spread = hrs.mu - lrs.mu, math.sqrt(lrs.sigma ** 2 + hrs.sigma ** 2 + reads.sigma ** 2)
    return float(special.ndtr(((reads.x0 - gap) if stored == +1 else (-gap - reads.x0)) / spread))


@pytest.fixture(scope="module")
def rare_campaign(tmp_path_factory):
    reads = ThresholdReads()
    config = CampaignConfig(samples=4000, batch_size=500, pilot_samples=200, seed=5, method="is", device=RARE)
    result = run_campaign(config, tmp_path_factory.mktemp("is"), simulator=reads, workers=1, progress=False)
    return config, reads, result


def test_importance_sampling_finds_a_one_in_a_million_error_within_its_interval(rare_campaign):
    config, reads, result = rare_campaign
    rows = {row["stored"]: row for row in result.summary["importance"]["rows"]}
    for stored in (+1, -1):
        row, exact = rows[stored], _exact(RARE, reads, stored)
        print(f"stored {stored:+d}: exact {exact:.3e}; is {row['estimate']:.3e} +- {row['standard_error']:.2e} "
              f"[{row['ci95'][0]:.3e}, {row['ci95'][1]:.3e}], {row['failures_seen']} failing of {row['reads']} reads, "
              f"effective sample size {row['effective_sample_size']:.0f}")
        assert 1e-7 < exact < 1e-5
        assert row["ci95"][0] <= exact <= row["ci95"][1]
        assert row["standard_error"] < 0.15 * row["estimate"]          # far tighter than brute force could be
        assert row["failures_seen"] > 100 and row["reads"] == 4000 and row["effective_sample_size"] > 50
        assert row["interval"] == NORMAL_INTERVAL
        table_row = next(r for r in result.table if r.stored == stored and r.read == -stored)
        assert (table_row.method, table_row.samples, table_row.probability) == \
            ("is; device lrs:lognormal hrs:lognormal", 4000, row["estimate"])
    assert BerTable.read(result.outdir / "ber_table.csv") == result.table      # plain floats, exactly
    assert result.summary["importance"]["pilot_samples_simulated"] == 200 * len(config.offset_points)


def test_the_same_reads_without_the_likelihood_ratio_miss_by_orders_of_magnitude(rare_campaign, monkeypatch):
    """What the interval test above guards: the weights. Unit weights (the fraction of
    failing proposal draws) or the proposal's density left out both miss the exact value."""
    config, reads, result = rare_campaign
    from circuitkit.corners.importance import pilot_fits
    from circuitkit.corners.jobs import SampleStore, collect, plan_importance_jobs, plan_jobs

    store = SampleStore(result.outdir / "samples")
    pilot = dataclasses.replace(config, method="offset", samples=config.pilot_samples)

    fits = pilot_fits(collect(plan_jobs(pilot), store)["offset"])
    outcomes = collect(plan_importance_jobs(config, fits), store)["is"]
    exact = _exact(RARE, reads, +1)
    for wrong in (lambda self, states, r: np.zeros(len(r)),                                       # w = 1
                  lambda self, states, r: sum(m.ln_logpdf(np.log(r[:, k]))                           # w = p
                                              for k, m in enumerate((states.lrs, states.hrs)))):
        monkeypatch.setattr(Proposal, "log_weights", wrong)
        _, rows = importance_table(outcomes, config)
        estimate = next(row for row in rows if row["stored"] == +1)
        print(f"wrong weights: {estimate['estimate']:.3e} [{estimate['ci95'][0]:.3e}, {estimate['ci95'][1]:.3e}]")
        assert not estimate["ci95"][0] <= exact <= estimate["ci95"][1]


def test_the_proposal_sits_at_the_most_probable_failure_of_any_model():
    states = RARE.states
    fit = OffsetFit(0.02, 0.17, np.zeros((2, 2)), np.zeros(3), np.zeros(3), np.zeros(3), False)
    x_star = target_log_ratio(states, +1, fit)
    gap, cells = math.log(321e3 / 10e3), 2 * 0.5 ** 2
    assert x_star == pytest.approx(gap + (0.02 - gap) * cells / (cells + 0.17 ** 2), rel=1e-6)
    # Lognormal states: the closed-form most probable pair (corners.rare's design point).
    from circuitkit.corners.rare import design_point_resistances

    np.testing.assert_allclose(np.exp(design_point(states, +1, x_star)), design_point_resistances(states, x_star),
                               rtol=1e-6)
    # Stored -1 swaps the devices: BL is the HRS.
    ln_bl, ln_blb = design_point(states, -1, -x_star)
    assert ln_bl - ln_blb == pytest.approx(x_star) and ln_bl < math.log(321e3)
    # A mixture: its log-density, not a lognormal summary, decides. A far sub-population of
    # the HRS that sits near the LRS pulls the design point to it.
    mixture = LognormalMixture(weights=(0.99, 0.01), mus=(math.log(321e3), math.log(14e3)), sigmas=(0.5, 0.1),
                               samples=0, data_range=(1e3, 1e6))
    mixed = ProgrammedStates(states.lrs, mixture)
    ln_bl, ln_blb = design_point(mixed, +1, 0.3)
    assert abs(ln_blb - math.log(14e3)) < 0.15
    proposal = Proposal.at(mixed, +1, 0.3)
    resistances = proposal.draw(np.random.default_rng(1), 5)
    assert np.all(np.isfinite(proposal.log_weights(mixed, resistances)))


def test_the_pilot_places_the_proposal_with_the_offset_tables_own_fit():
    """The pilot's fit is the offset method's fit of the decided reads (one tally, one fit:
    `corners.rare`): a point whose reads all went unresolved and a job that did not converge
    add no trials to it, and a condition with one decided point has no fit."""
    from circuitkit.corners.importance import pilot_fits
    from circuitkit.corners.jobs import JobOutcome, plan_jobs
    from circuitkit.corners.outcomes import UNRESOLVED_READ
    from circuitkit.corners.rare import offset_table
    from scipy import stats as scipy_stats

    config = CampaignConfig(vdd=(1.8, 1.2), method="offset", samples=64, batch_size=32, seed=3, device=RARE,
                            offset_points=(-0.3, -0.1, 0.0, 0.1, 0.3))
    rng = np.random.default_rng(4)
    results = []
    for job in plan_jobs(config):
        plus = rng.random(job.count) < scipy_stats.norm.cdf((job.offset_point - 0.03) / 0.12)
        read = np.where(plus, 1, -1)
        if job.offset_point == 0.3:
            read[:] = UNRESOLVED_READ                       # this point decided nothing
        status = "failed" if (job.offset_point == 0.1 and job.batch == 0) else "ok"
        if job.point.vdd == 1.2 and job.offset_point != -0.3:
            status = "failed"                               # 1.2 V: only one point decided anything
        results.append((job, JobOutcome(job.key, status, 1, 0.0, [], read.tolist() if status == "ok" else [], [], [],
                                        1, "" if status == "ok" else "timestep too small")))
    fits = pilot_fits(results)
    _, records = offset_table(results, config)
    [table_fit] = [record for record in records if record["vdd"] == 1.8]
    [fit] = fits.values()
    assert [condition.vdd for condition in fits] == [1.8]
    assert (fit.x0, fit.sigma) == (table_fit["x0"], table_fit["sigma"])
    assert fit.points.tolist() == [-0.3, -0.1, 0.0, 0.1] and fit.trials.tolist() == [64, 64, 64, 32]


def test_is_settings_are_checked_and_recorded_only_for_is_campaigns():
    with pytest.raises(CircuitkitError, match="is .*binary"):
        CampaignConfig(method="is", scheme="ternary")
    with pytest.raises(CircuitkitError, match="pilot_samples"):
        CampaignConfig(method="is", pilot_samples=0)
    assert "pilot_samples" not in CampaignConfig().to_dict()          # older campaign_config.json files still match
    config = CampaignConfig(method="is", pilot_samples=12)
    assert CampaignConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


# ---------------------------------------------------------------- ngspice


@pytest.mark.spice
@pytest.mark.slow
def test_an_is_campaign_resumes_to_the_same_table_with_any_worker_count(tmp_path):
    from circuitkit.corners.reads import PcsaReadSimulator

    config = CampaignConfig(samples=16, batch_size=8, pilot_samples=8, offset_points=(-0.4, -0.1, 0.0, 0.1, 0.4),
                            seed=6, method="is", device=DeviceNonideality.given(20e3, 0.3, 60e3, 0.3))
    one = run_campaign(config, tmp_path / "one", simulator=PcsaReadSimulator(), workers=1, progress=False)
    two = run_campaign(config, tmp_path / "two", simulator=PcsaReadSimulator(), workers=2, progress=False)
    assert two.table == one.table
    # A kill loses at most the jobs in flight: drop one pilot and one sampling job and resume.
    samples = tmp_path / "two" / "samples"
    dropped = [next(samples.glob("*_offset_*.json")), next(samples.glob("*_is_*.json"))]
    for path in dropped:
        path.unlink()
    resumed = run_campaign(config, tmp_path / "two", simulator=PcsaReadSimulator(), workers=2, progress=False)
    assert resumed.summary["jobs_run_this_time"] == 2 and resumed.summary["jobs"] == 5 + 4
    assert resumed.table == one.table
    assert (tmp_path / "two" / "ber_table.csv").read_text() == (tmp_path / "one" / "ber_table.csv").read_text()
    rows = resumed.summary["importance"]["rows"]
    print(json.dumps(rows, indent=1))
    assert {row["stored"] for row in rows} == {+1, -1} and all(row["reads"] == 16 for row in rows)
    assert all(r.method.startswith("is; ") for r in resumed.table)


def test_the_ber_command_runs_is_with_its_pilot_size():
    from circuitkit.cli import build_parser
    from circuitkit.corners.cli import config_from_args

    args = build_parser().parse_args(["ber", "--method", "is", "--pilot-samples", "4", "--samples", "64", "-o", "x"])
    config = config_from_args(args, None)
    assert (config.method, config.pilot_samples, config.samples) == ("is", 4, 64)


def test_a_row_with_few_or_no_failing_reads_says_what_its_interval_is():
    from circuitkit.corners.importance import NORMAL_INTERVAL, _estimate
    from circuitkit.stats import binomial_interval

    weights = np.full(1000, 1e-4)
    none = _estimate(weights, np.zeros(1000))
    # Nothing failed: no estimate, an upper bound = the proposal's Clopper-Pearson bound x the largest weight.
    assert none["estimate"] == 0 and none["ci95"][0] == 0 and "no failure" in none["interval"]
    assert none["ci95"][1] == pytest.approx(binomial_interval(0, 1000).high * 1e-4)
    few = _estimate(weights, (np.arange(1000) < 4).astype(float))
    assert few["effective_sample_size"] == pytest.approx(4) and "fewer than 10" in few["interval"]
    many = _estimate(weights, (np.arange(1000) < 100).astype(float))
    assert many["interval"] == NORMAL_INTERVAL and many["estimate"] == pytest.approx(1e-5)
