"""Binomial and mean confidence intervals (circuitkit.stats)."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from circuitkit import CircuitkitError
from circuitkit.stats import binomial_bounds, binomial_interval, mean_interval


def test_clopper_pearson_matches_scipy_exact_interval():
    for count, samples in [(0, 10), (3, 10), (10, 10), (7, 12345)]:
        ours = binomial_interval(count, samples)
        reference = scipy_stats.binomtest(count, samples).proportion_ci(0.95, method="exact")
        assert ours.low == pytest.approx(reference.low, abs=1e-12)
        assert ours.high == pytest.approx(reference.high, abs=1e-12)
        assert (ours.count, ours.samples, ours.method) == (count, samples, "clopper-pearson")


def test_wilson_matches_scipy_and_is_inside_clopper_pearson():
    ours = binomial_interval(3, 40, method="wilson")
    reference = scipy_stats.binomtest(3, 40).proportion_ci(0.95, method="wilson")
    assert (ours.low, ours.high) == pytest.approx((reference.low, reference.high), abs=1e-12)
    exact = binomial_interval(3, 40)
    assert exact.low <= ours.low and ours.high <= exact.high


def test_zero_errors_upper_bound_is_closed_form():
    # With no error in n samples the two-sided 95 % upper bound is 1 - 0.025**(1/n),
    # about 3.69/n (the one-sided "rule of three" gives 3/n).
    interval = binomial_interval(0, 100_000)
    assert interval.estimate == 0.0 and interval.low == 0.0
    assert interval.high == pytest.approx(1 - 0.025 ** (1 / 100_000), rel=1e-9)


def test_binomial_bounds_vectorized_shapes():
    low, high = binomial_bounds(np.array([[0, 5], [10, 2]]), np.array([[10], [10]]))
    assert low.shape == high.shape == (2, 2)
    assert low[0, 0] == 0.0 and high[1, 0] == 1.0


@pytest.mark.parametrize(
    "count, samples, kwargs",
    [(3, 0, {}), (11, 10, {}), (-1, 10, {}), (1.5, 10, {}), (1, 10, {"confidence": 1.0}), (1, 10, {"method": "normal"})],
)
def test_bad_binomial_input_raises_clear_error(count, samples, kwargs):
    with pytest.raises(CircuitkitError):
        binomial_bounds(count, samples, **kwargs)


def test_mean_interval_t_distribution():
    values = np.array([0.90, 0.92, 0.91, 0.95])
    result = mean_interval(values)
    half = scipy_stats.t.ppf(0.975, 3) * values.std(ddof=1) / 2
    assert result.mean == pytest.approx(values.mean())
    assert result.std == pytest.approx(values.std(ddof=1))
    assert (result.low, result.high) == pytest.approx((values.mean() - half, values.mean() + half))
    assert result.samples == 4


def test_mean_interval_single_value_has_unknown_spread():
    result = mean_interval([0.5])
    assert result.mean == 0.5 and result.samples == 1
    assert np.isnan(result.std) and np.isnan(result.low) and np.isnan(result.high)
    with pytest.raises(CircuitkitError):
        mean_interval([])
