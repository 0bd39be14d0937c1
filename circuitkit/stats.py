"""Confidence intervals shared by the stages that count errors and average accuracies.

Every statistic here carries the sample count it was computed from, so a reader of a
CSV or a plot can always tell a 3-sample estimate from a 30 000-sample one.

- `binomial_interval` / `binomial_bounds`: an interval for a probability estimated as
  count / samples (bit-error rates). Clopper-Pearson ("exact", conservative: coverage is
  at least the nominal level) is the default because rare-event BERs often have zero or
  a handful of errors, where the normal approximation fails; Wilson is offered as the
  tighter, approximately-covering alternative.
- `mean_interval`: mean, sample standard deviation and Student-t interval of the mean of
  independent repeats (accuracy over error-injection trials).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats as _scipy_stats

from circuitkit import CircuitkitError

BinomialMethod = Literal["clopper-pearson", "wilson"]
BINOMIAL_METHODS: tuple[str, ...] = ("clopper-pearson", "wilson")


@dataclass(frozen=True)
class BinomialInterval:
    """A proportion count / samples with its two-sided confidence interval."""

    count: int
    samples: int
    estimate: float
    low: float
    high: float
    confidence: float
    method: str


@dataclass(frozen=True)
class MeanInterval:
    """Mean of `samples` independent values, their standard deviation (ddof=1) and the
    Student-t confidence interval of the mean. With one sample the spread is unknown:
    std and the interval are NaN rather than a misleading zero width."""

    mean: float
    std: float
    low: float
    high: float
    samples: int
    confidence: float


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise CircuitkitError(f"confidence must be in (0, 1), got {confidence!r}")


def binomial_bounds(
    count: npt.ArrayLike,
    samples: npt.ArrayLike,
    confidence: float = 0.95,
    method: BinomialMethod = "clopper-pearson",
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized two-sided interval bounds (low, high) for count / samples.

    `count` and `samples` broadcast against each other; counts must be integers with
    0 <= count <= samples and samples >= 1.
    """
    _check_confidence(confidence)
    k = np.asarray(count)
    n = np.asarray(samples)
    if not (np.issubdtype(k.dtype, np.integer) and np.issubdtype(n.dtype, np.integer)):
        raise CircuitkitError(f"count and samples must be integers, got dtypes {k.dtype} and {n.dtype}")
    if np.any(n < 1):
        raise CircuitkitError("samples must be >= 1 for a binomial interval")
    if np.any((k < 0) | (k > n)):
        raise CircuitkitError("count must satisfy 0 <= count <= samples")
    k, n = np.broadcast_arrays(k.astype(np.float64), n.astype(np.float64))
    alpha = 1.0 - confidence
    if method == "clopper-pearson":
        # Quantiles of the beta distribution; the bound is pinned at 0 (1) when no
        # (all) samples failed, where the beta quantile is undefined.
        with np.errstate(invalid="ignore"):
            low = np.where(k > 0, _scipy_stats.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
            high = np.where(k < n, _scipy_stats.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    elif method == "wilson":
        z = _scipy_stats.norm.ppf(1 - alpha / 2)
        p = k / n
        denominator = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half_width = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
        low = np.clip(centre - half_width, 0.0, 1.0)
        high = np.clip(centre + half_width, 0.0, 1.0)
    else:
        raise CircuitkitError(f"unknown binomial interval method {method!r}; expected one of {BINOMIAL_METHODS}")
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def binomial_interval(
    count: int,
    samples: int,
    confidence: float = 0.95,
    method: BinomialMethod = "clopper-pearson",
) -> BinomialInterval:
    """Estimate count / samples with its confidence interval (scalar form of `binomial_bounds`)."""
    low, high = binomial_bounds(int(count), int(samples), confidence, method)
    return BinomialInterval(
        count=int(count),
        samples=int(samples),
        estimate=int(count) / int(samples),
        low=float(low),
        high=float(high),
        confidence=confidence,
        method=method,
    )


def mean_interval(values: npt.ArrayLike, confidence: float = 0.95) -> MeanInterval:
    """Mean, standard deviation and Student-t interval of the mean of independent values."""
    _check_confidence(confidence)
    data = np.asarray(values, dtype=np.float64).ravel()
    if data.size == 0:
        raise CircuitkitError("mean_interval needs at least one value")
    mean = float(data.mean())
    if data.size == 1:
        return MeanInterval(mean, float("nan"), float("nan"), float("nan"), 1, confidence)
    std = float(data.std(ddof=1))
    half_width = float(_scipy_stats.t.ppf(0.5 + confidence / 2, df=data.size - 1)) * std / np.sqrt(data.size)
    return MeanInterval(mean, std, float(mean - half_width), float(mean + half_width), int(data.size), confidence)
