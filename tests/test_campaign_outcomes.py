"""Issue 14, items 3 and 4: campaigns draw the card's own distribution models and say which
one every estimate assumed (with the other fitted models beside it), and every read stays
in the accounting (unresolved, non-converged, separated offset fits, conditions that failed).

The bookkeeping tests feed the accounting job outcomes made here (no circuit claim); the
unresolved read is produced for real in ngspice (marked spice)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from circuitkit.ber_table import UNRESOLVED, BerTable, method_estimator
from circuitkit.corners.config import CampaignConfig
from circuitkit.corners.jobs import JobOutcome, job_resistances, plan_jobs
from circuitkit.corners.outcomes import counted_table, non_converged_bounds, reweighted_sensitivity, tally_reads
from circuitkit.corners.rare import fit_offset, offset_table
from circuitkit.device.model import ModelCard
from circuitkit.device.nonideality import CHOSEN, DeviceNonideality, device_nonideality
from circuitkit.sense_offset import OffsetFit, error_probabilities

REAL_CARD = "characterization/fits/real_1t1r/distribution/model_card.json"   # mixtures chosen for both states
KINDS = {"lognormal", "lognormal_mixture", "empirical_gpd"}


@pytest.fixture(scope="module")
def real_device() -> DeviceNonideality:
    return device_nonideality(ModelCard.load(REAL_CARD), model=CHOSEN)


def _ber_args(*options: str):
    import argparse

    from circuitkit.corners.cli import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["ber", "-o", "unused", *options])


def _outcome(job, read, status="ok", resistances=None) -> JobOutcome:
    return JobOutcome(job.key, status, 1, 0.0, [] if resistances is None else resistances.tolist(),
                      [int(value) for value in read], [], [], 1, "" if status == "ok" else "timestep too small")


def _offset_results(config: CampaignConfig, x0: float, sigma: float, seed: int = 0, failed_vdd: float | None = None):
    """Offset jobs whose reads follow a probit amplifier P(+1 | x) = Phi((x - x0) / sigma);
    every job at `failed_vdd` failed to converge."""
    rng = np.random.default_rng(seed)
    results = []
    for job in plan_jobs(config):
        if job.point.vdd == failed_vdd:
            results.append((job, _outcome(job, [], status="failed")))
            continue
        plus = rng.random(job.count) < stats.norm.cdf((job.offset_point - x0) / sigma)
        results.append((job, _outcome(job, np.where(plus, 1, -1))))
    return results


# ----------------------------------------------------------------------------- item 3


def test_a_mixture_card_makes_the_campaign_draw_its_bimodal_hrs(real_device):
    """`circuitkit ber --model-card` on the real array's card: the HRS cells a campaign reads
    follow the card's mixture (7 % stayed near LRS), not its lognormal summary."""
    from circuitkit.corners.cli import config_from_args

    card = ModelCard.load(REAL_CARD)
    config = config_from_args(_ber_args("--model-card", REAL_CARD, "--samples", "4096", "--batch-size", "512"), card)
    hrs = np.concatenate([job_resistances(job, config, np.random.default_rng(job.seed_sequence()))[:, 1]
                          for job in plan_jobs(config) if job.stored == +1])
    mixture, summary = card.distribution("hrs"), DeviceNonideality.from_model_card(card).state("hrs")
    against_card = stats.kstest(hrs, mixture.cdf)
    against_summary = stats.kstest(hrs, summary.cdf)
    print(f"{hrs.size} HRS draws: KS vs the card's {mixture.kind} p = {against_card.pvalue:.3g}, "
          f"vs its lognormal summary p = {against_summary.pvalue:.3g}; below 20 kohm {np.mean(hrs < 20e3):.3f}")
    assert config.device.state("hrs").kind == "lognormal_mixture"
    assert against_card.pvalue > 1e-3 and against_summary.pvalue < 1e-6
    assert 0.04 < np.mean(hrs < 20e3) < 0.10          # the second population is drawn


def test_the_table_names_the_distribution_model_and_the_sensitivity_lists_each_alternative(real_device):
    from circuitkit.corners.campaign import outcome_lines

    config = CampaignConfig(vdd=(1.8,), method="offset", samples=64, batch_size=64, device=real_device)
    table, records = offset_table(_offset_results(config, x0=0.02, sigma=0.1), config)
    assert {row.method for row in table} == {"offset; device lrs:lognormal_mixture hrs:lognormal_mixture"}
    sensitivity = records[0]["model_form_sensitivity"]
    rates = {entry["hrs"]: entry["ber"] for entry in sensitivity}
    print({kind: f"{rate:.3g}" for kind, rate in rates.items()}, f"table {table.error_rates()[0].ber:.3g}")
    assert set(rates) == KINDS
    # Same fit, same data: the table's estimate is the chosen model's line, and the tail model moves it.
    assert rates["lognormal_mixture"] == pytest.approx(table.error_rates()[0].ber, rel=1e-9)
    assert rates["lognormal_mixture"] > 3 * rates["lognormal"]
    lines = outcome_lines([], [{**records[0], "ber": table.error_rates()[0].ber,
                                "alternatives": sensitivity}], config)
    assert len(lines) == 1 and all(kind in lines[0] for kind in KINDS) and "assuming device lrs:lognormal_mixture" in lines[0]
    # A counted (mc) table names it too; literature states say they are defaults.
    default = CampaignConfig(vdd=(1.8,), samples=8, batch_size=8)
    results = [(job, _outcome(job, [job.stored] * job.count)) for job in plan_jobs(default)]
    counted = counted_table(tally_reads(results, default.conditions()),
                            f"mc; {default.device.states.model_label()}")
    assert {row.method for row in counted} == {"mc; device lrs:lognormal hrs:lognormal (literature default)"}


def test_reweighted_reads_give_each_alternatives_rate():
    """mc sensitivity: reads drawn from the mixture, reweighted to the card's lognormal, give
    the lognormal's own misread rate of a comparator (within the reweighted sampling error)."""
    card = ModelCard.load(REAL_CARD)
    device = device_nonideality(card, model=CHOSEN)
    config = CampaignConfig(vdd=(1.8,), samples=20_000, batch_size=20_000, device=device)
    threshold = math.log(1.25)        # a comparator reading +1 when ln(R_BLb / R_BL) > ln 1.25
    results = []
    for job in plan_jobs(config):
        cells = job_resistances(job, config, np.random.default_rng(job.seed_sequence()))
        read = np.where(np.log(cells[:, 1] / cells[:, 0]) > threshold, 1, -1)
        results.append((job, _outcome(job, read, resistances=cells)))
    entries = {entry["hrs"]: entry for entry in reweighted_sensitivity(results, device)[config.conditions()[0]]}
    assert set(entries) == KINDS
    lrs, hrs = card.distribution("lrs", "lognormal"), card.distribution("hrs", "lognormal")
    total = math.hypot(lrs.sigma, hrs.sigma)
    exact = 0.5 * (stats.norm.cdf((threshold - (hrs.mu - lrs.mu)) / total)
                   + stats.norm.sf((threshold + (hrs.mu - lrs.mu)) / total))
    entry = entries["lognormal"]
    print(f"lognormal: reweighted {entry['ber']:.4g} (ESS {entry['effective_samples']:.0f}), exact {exact:.4g}; "
          f"mixture {entries['lognormal_mixture']['ber']:.4g}")
    error = 4 * math.sqrt(exact / entry["effective_samples"])
    assert abs(entry["ber"] - exact) < error and entries["lognormal_mixture"]["ber"] > 2 * exact


# ----------------------------------------------------------------------------- item 4


def test_non_converged_reads_are_counted_both_ways():
    config = CampaignConfig(vdd=(1.8,), samples=16, batch_size=8, seed=2)
    results = []
    for job in plan_jobs(config):
        if job.stored == -1 and job.batch == 0:
            results.append((job, _outcome(job, [], status="failed")))      # 8 reads lost
        else:
            reads = [job.stored] * job.count
            if job.stored == +1 and job.batch == 1:
                reads[0] = -1                                              # 1 misread of 16
            results.append((job, _outcome(job, reads)))
    tallies = tally_reads(results, config.conditions())
    entry = non_converged_bounds(tallies)[0]
    print(entry)
    assert entry["non_converged_reads"] == 8 and entry["reads"] == 32
    assert entry["ber_counted_as_correct"] == pytest.approx((1 / 16 + 0 / 16) / 2)
    assert entry["ber_counted_as_errors"] == pytest.approx((1 / 16 + 8 / 16) / 2)
    assert entry["ber_without_them"] == pytest.approx((1 / 16 + 0 / 8) / 2)
    table = counted_table(tallies, "mc")
    misread = next(row for row in table if row.stored == -1 and row.read == +1)
    assert (misread.samples, misread.count, misread.probability) == (8, 0, 0.0)
    assert misread.ci_high >= stats.beta.ppf(0.975, 9, 8) - 1e-12   # spans the 8 lost reads counted as errors
    assert "non-converged 8 of 16 reads in the interval" in misread.method
    upper = table.error_rates()[0].ci_high
    assert upper >= entry["ber_counted_as_errors"]
    # The report says exactly that (not "counted, not dropped").
    from circuitkit.report.html import campaign_outcome_lines

    text = " ".join(campaign_outcome_lines({"non_converged": {"by_condition": [entry]}}))
    assert "8 of 32 reads did not converge" in text and "0.0312 counting them as correct" in text
    assert "0.281 counting them as errors" in text


def test_offset_reads_that_decided_nothing_widen_the_interval_both_ways():
    """The offset method: reads that did not converge (a failed job at one point) or did
    not resolve are fitted as +1 and as -1; the interval covers both fits."""
    config = CampaignConfig(vdd=(1.8,), method="offset", samples=64, batch_size=32,
                            device=DeviceNonideality.given(20e3, 0.3, 40e3, 0.3))
    clean = _offset_results(config, 0.02, 0.1, seed=4)
    lossy = [(job, _outcome(job, [], status="failed")) if (job.offset_point == 0.05 and job.batch == 0)
             else (job, _outcome(job, [0 if i < 4 else v for i, v in enumerate(outcome.read)]))
             if job.offset_point == -0.05 else (job, outcome) for job, outcome in clean]
    reference, _ = offset_table([item for item in clean if not (item[0].offset_point == 0.05 and item[0].batch == 0)],
                                config)   # the same reads without the lost job
    table, records = offset_table(lossy, config)
    assert records[0]["undecided_reads"][records[0]["points"].index(0.05)] == 32
    assert records[0]["undecided_reads"][records[0]["points"].index(-0.05)] == 8
    record = records[0]
    points, trials, plus, undecided = (np.array(record[key]) for key in ("points", "trials", "read_plus", "undecided_reads"))
    as_plus = error_probabilities(fit_offset(points, trials + undecided, plus + undecided), config.device)
    as_minus = error_probabilities(fit_offset(points, trials + undecided, plus), config.device)
    for stored in (+1, -1):
        row = next(r for r in table if r.stored == stored and r.read == -stored)
        assert "undecided 40 of 704 reads in the interval" in row.method
        print(f"stored {stored:+d}: {row.probability:.4g} [{row.ci_low:.4g}, {row.ci_high:.4g}]; undecided as +1 "
              f"{as_plus[stored][0]:.4g}, as -1 {as_minus[stored][0]:.4g}")
        plain = next(r for r in reference if r.stored == stored and r.read == -stored)
        assert row.ci_high - row.ci_low > plain.ci_high - plain.ci_low
        for bound in (as_plus, as_minus):       # each way of counting them lies inside, with its own interval
            assert row.ci_low <= bound[stored][1] and bound[stored][2] <= row.ci_high


def test_a_perfectly_separated_offset_set_gives_a_flagged_row_with_an_honest_interval():
    """A sharp amplifier (sigma 0.004) at points 0.05 apart: every point reads one way. The
    row is flagged, no covariance is invented, and the interval holds the true rates."""
    device = DeviceNonideality.given(20e3, 0.3, 40e3, 0.3)
    config = CampaignConfig(vdd=(1.8,), method="offset", samples=64, batch_size=64, device=device,
                            offset_points=(-0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2))
    x0, sigma = 0.021, 0.004
    table, records = offset_table(_offset_results(config, x0, sigma), config)
    record = records[0]
    assert record["separated"] and record["covariance"] is None
    truth = error_probabilities(OffsetFit(x0, sigma, np.zeros((2, 2)), np.zeros(3), np.ones(3), np.ones(3), False), device)
    for row in table:
        assert "separated: no sigma resolved" in row.method
        if row.read == -row.stored:
            print(f"stored {row.stored:+d}: {row.probability:.4g} [{row.ci_low:.4g}, {row.ci_high:.4g}], "
                  f"true {truth[row.stored][0]:.4g}")
            assert row.ci_low <= truth[row.stored][0] <= row.ci_high
            assert row.ci_high - row.ci_low > 0.1 * row.probability    # the bracket is felt, not hidden


def test_a_condition_whose_jobs_all_fail_is_a_row_that_says_so():
    config = CampaignConfig(vdd=(1.8, 1.2), method="offset", samples=32, batch_size=32,
                            device=DeviceNonideality.given(20e3, 0.3, 40e3, 0.3))
    table, records = offset_table(_offset_results(config, 0.0, 0.1, failed_vdd=1.2), config)
    assert [c.vdd for c in table.conditions()] == [1.8, 1.2]
    failed = [row for row in table if row.vdd == 1.2]
    assert len(failed) == 4 and all(row.samples == 0 and (row.ci_low, row.ci_high) == (0.0, 1.0) for row in failed)
    assert all("failed: 352 offset reads did not converge or decide, 0 did" in row.method for row in failed)
    assert records[1]["status"].startswith("failed") and "timestep too small" in records[1]["errors"][0]
    # Counted reads too: every read of one stored value lost is a row group, not an exception.
    counted_config = CampaignConfig(vdd=(1.8,), samples=8, batch_size=8)
    results = [(job, _outcome(job, [job.stored] * job.count) if job.stored == +1 else _outcome(job, [], "failed"))
               for job in plan_jobs(counted_config)]
    counted = counted_table(tally_reads(results, counted_config.conditions()), "mc")
    lost = [row for row in counted if row.stored == -1]
    assert all(row.samples == 0 and "failed: all 8 reads of stored -1 did not converge" in row.method for row in lost)
    assert method_estimator(lost[0].method) == "mc"


def test_an_unresolved_outcome_is_its_own_row_and_injection_reads_it_as_a_misread(tmp_path):
    config = CampaignConfig(vdd=(1.8,), samples=8, batch_size=8)
    results = [(job, _outcome(job, [0, 0] + [job.stored] * (job.count - 2))) for job in plan_jobs(config)]
    table = counted_table(tally_reads(results, config.conditions()), "mc")
    undecided = [row for row in table if row.read == UNRESOLVED]
    assert [(row.stored, row.count, row.probability) for row in undecided] == [(-1, 2, 0.25), (1, 2, 0.25)]
    again = BerTable.read(table.write(tmp_path / "ber_table.csv"))
    assert again == table and "unresolved" in (tmp_path / "ber_table.csv").read_text()
    matrix = again.transition_matrix(again.conditions()[0]).matrix
    np.testing.assert_allclose(matrix, [[0.75, 0.25], [0.25, 0.75]])   # an unresolved read is injected as a misread
    assert again.error_rates()[0].ber == pytest.approx(0.25)
    from circuitkit.inject.sampler import ErrorInjector

    matrix = again.transition_matrix(again.conditions()[0])
    flipped = ErrorInjector(np.ones(20_000, dtype=np.int8), matrix.alphabet, matrix.matrix).corrupted(1, 0)
    assert 0.23 < np.mean(flipped == -1) < 0.27


@pytest.mark.spice
def test_a_read_sampled_before_the_latch_decides_is_unresolved_in_ngspice(tmp_path):
    """Real reads: at 1.8 V tt the latch decides ~80 ps after sense enable; sampled 60 ps
    into evaluation, no read has decided, and the table says so (not -1)."""
    from circuitkit.corners.campaign import run_campaign
    from circuitkit.corners.reads import PcsaReadSimulator

    config = CampaignConfig(vdd=(1.8,), samples=4, batch_size=4, seed=3)
    early = run_campaign(config, tmp_path / "early", simulator=PcsaReadSimulator(sample_after_s=60e-12),
                         workers=1, progress=False, log=lambda message: None)
    rows = {(row.stored, row.read): row for row in early.table}
    print({key: row.count for key, row in rows.items()})
    assert rows[(+1, UNRESOLVED)].count == 4 and rows[(-1, UNRESOLVED)].count == 4
    assert early.table.error_rates()[0].ber == 1.0
    assert early.summary["non_converged"]["by_condition"][0]["unresolved_reads"] == 8
    on_time = run_campaign(config, tmp_path / "on_time", simulator=PcsaReadSimulator(), workers=1, progress=False,
                           log=lambda message: None)
    assert not [row for row in on_time.table if row.read == UNRESOLVED]   # an outcome that did not happen has no row


def test_a_card_without_fitted_models_falls_back_to_its_summary_and_says_so(capsys):
    import dataclasses

    card = ModelCard.load(REAL_CARD)
    old = dataclasses.replace(card, distributions={})
    device = device_nonideality(old, model=CHOSEN)
    assert device.state("hrs").kind == "lognormal"
    assert "lognormal summary: the card holds no fitted distribution models" in device.describe()
    assert device.states.model_label() == "device lrs:lognormal hrs:lognormal"
    # No card at all: literature defaults, announced, and named in every row.
    default = device_nonideality(None, model=CHOSEN)
    assert default.announce() and "literature defaults, not your data" in capsys.readouterr().err
    assert default.states.model_label().endswith("(literature default)")


def test_column_offset_rates_average_to_the_campaign_ber_for_a_mixture(real_device):
    """Placement (`conditional_error_probabilities`) on the card's mixtures: averaged over
    the amplifiers' offsets it is the campaign's integral for the same states."""
    from circuitkit.sense_offset import conditional_error_probabilities

    fit = OffsetFit(0.05, 0.3, np.eye(2) * 1e-4, np.zeros(3), np.ones(3), np.ones(3), False)
    offsets = np.random.default_rng(5).normal(0.0, fit.sigma, 20_000)
    conditional = conditional_error_probabilities(fit, real_device, offsets)
    marginal = error_probabilities(fit, real_device)
    for stored in (+1, -1):
        values = conditional[stored]
        print(f"stored {stored:+d}: mean over amplifiers {values.mean():.5g}, integral {marginal[stored][0]:.5g}")
        assert abs(values.mean() - marginal[stored][0]) < 4 * values.std() / np.sqrt(values.size)
    # A larger offset makes reading +1 harder and -1 easier, monotonically.
    grid = conditional_error_probabilities(fit, real_device, np.linspace(-1, 1, 9))
    assert np.all(np.diff(grid[+1]) > 0) and np.all(np.diff(grid[-1]) < 0)
