"""Resistance distribution models of one programmed state, their fits, and finding states.

Every model describes ln R (R in ohm, read at the card's read voltage) and offers the same
small protocol, so that Monte Carlo, importance sampling and rare-event integrals can use
any of them:

    kind                  'lognormal' | 'lognormal_mixture' | 'empirical_gpd'
    samples               cells behind the fit
    data_range            (smallest, largest) measured resistance: beyond it is extrapolation
    cdf(r), sf(r)         P(R <= r), P(R > r); sf is computed directly, never as 1 - cdf
    logcdf(r), logsf(r)   their logarithms, finite far into the tails
    ppf(q), isf(q)        quantiles: ppf for lower-tail probabilities, isf(q) = ppf(1 - q)
                          without the cancellation (lognormal and mixture: accurate to
                          q = 1e-300; a bounded GPD tail reaches its end point near 1e-15)
    logpdf(r)             log density of R (per ohm)
    sample(rng, n)        n draws
    median, sigma_ln      summaries; sigma_ln is robust: half the width of the central
                          68.27 % interval of ln R (equal to sigma for a lognormal)
    to_dict(), from_dict  exact JSON round trip (`distribution_from_dict` dispatches on kind)

Models:
- `Lognormal`: ln R normal (maximum likelihood: mean and std of ln R).
- `LognormalMixture`: ln R a mixture of K normals (EM, `_em`),
  K chosen by BIC; the model for a state with a sub-population (e.g. cells that did not
  fully switch).
- `EmpiricalGpd`: the measured quantile function in the body (piecewise linear in ln R
  through K+1 knots at fixed probabilities) and a generalized Pareto tail fitted by
  maximum likelihood to the exceedances of ln R beyond each threshold quantile (the
  peaks-over-threshold model of extreme-value theory, Pickands-Balkema-de Haan: the tail
  of almost any distribution beyond a high threshold is GPD). The body follows the data
  without a shape assumption; the tails extrapolate with the shape the outermost cells
  show (shape xi < 0: a bounded tail, xi = 0: exponential in ln R, i.e. lognormal-like
  power law in R; xi > 0: heavier).

`fit_state` fits all three to one state's cells and reports their goodness of fit
(Kolmogorov-Smirnov, Anderson-Darling, log-likelihood, AIC, BIC) and the model an
information criterion chooses; `find_states` splits a file without a state column into
its populations.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy import special, stats

from circuitkit import CircuitkitError
from circuitkit.stats import binomial_interval

_LOG_TINY = -745.0  # log of the smallest positive double: stands in for log(0)
_SIGMA_1 = float(special.ndtr(-1.0))  # 0.1587: the central 68.27 % interval's lower probability


class DistributionError(CircuitkitError):
    """A distribution cannot be fitted or rebuilt (too few cells, a malformed dictionary)."""


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(x), _LOG_TINY)


class _LnRModel:
    """Shared protocol; subclasses describe x = ln R with `_cdf`, `_sf`, `_logcdf`, `_logsf`,
    `_logpdf`, `_ppf`, `_isf` on numpy arrays."""

    kind: ClassVar[str]
    samples: int
    data_range: tuple[float, float]

    # -- the protocol, in resistance
    def cdf(self, r):
        return self._cdf(np.log(np.asarray(r, dtype=float)))

    def sf(self, r):
        return self._sf(np.log(np.asarray(r, dtype=float)))

    def logcdf(self, r):
        return self._logcdf(np.log(np.asarray(r, dtype=float)))

    def logsf(self, r):
        return self._logsf(np.log(np.asarray(r, dtype=float)))

    def logpdf(self, r):
        x = np.log(np.asarray(r, dtype=float))
        return self._logpdf(x) - x

    def ppf(self, q):
        return np.exp(self._ppf(np.asarray(q, dtype=float)))

    def isf(self, q):
        return np.exp(self._isf(np.asarray(q, dtype=float)))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.random(int(n))
        # Upper half through isf: keeps tail draws exact rather than rounded at 1 - 2^-53.
        x = np.where(u < 0.5, self._ppf(np.minimum(u, 0.5)), self._isf(np.minimum(1.0 - u, 0.5)))
        return np.exp(x)

    @property
    def median(self) -> float:
        return float(np.exp(self._ppf(np.array(0.5))))

    @property
    def sigma_ln(self) -> float:
        return float(self._isf(np.array(_SIGMA_1)) - self._ppf(np.array(_SIGMA_1))) / 2.0

    def ln_logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log density of ln R (what likelihoods and information criteria use)."""
        return self._logpdf(np.asarray(x, dtype=float))

    def to_dict(self) -> dict[str, Any]:
        parameters = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                      if f.name not in ("samples", "data_range")
                      and not (f.metadata.get("omitted_when_none") and getattr(self, f.name) is None)}
        return {"kind": self.kind, "samples": int(self.samples), "data_range_ohm": list(self.data_range),
                "parameters": parameters}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        if data.get("kind") != cls.kind:
            raise DistributionError(f"a {cls.kind} cannot be built from a {data.get('kind')!r} dictionary")
        try:
            parameters = {k: _tuple(v) for k, v in data["parameters"].items()}
            lower, upper = data["data_range_ohm"]
            return cls(**parameters, samples=int(data["samples"]), data_range=(float(lower), float(upper)))
        except (KeyError, TypeError, ValueError) as error:
            raise DistributionError(f"malformed {cls.kind} dictionary: {error}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, GpdTail):
        return dataclasses.asdict(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _tuple(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuple(v) for v in value)
    if isinstance(value, dict) and set(value) == {f.name for f in dataclasses.fields(GpdTail)}:
        return GpdTail(**value)
    return value


# ---------------------------------------------------------------------------- lognormal


@dataclasses.dataclass(frozen=True)
class Lognormal(_LnRModel):
    """ln R ~ N(mu, sigma^2). sigma = 0 is a point mass at exp(mu) (a state given without
    spread). `median_ohm` keeps a median given as a number (`from_median`) exactly, since
    exp(log(m)) need not give m back in floating point; a fitted lognormal has None."""

    kind: ClassVar[str] = "lognormal"
    mu: float
    sigma: float
    samples: int = 0
    data_range: tuple[float, float] = (math.nan, math.nan)
    median_ohm: float | None = dataclasses.field(default=None, metadata={"omitted_when_none": True})

    def __post_init__(self):
        if not (self.sigma >= 0 and math.isfinite(self.sigma) and math.isfinite(self.mu)):
            raise DistributionError(f"lognormal needs a finite mu and sigma >= 0, got mu={self.mu!r}, sigma={self.sigma!r}")

    @classmethod
    def from_median(cls, median_ohm: float, sigma: float, samples: int = 0) -> "Lognormal":
        """The lognormal of a median resistance (ohm) and sigma of ln R, e.g. a state given
        by its numbers; `samples`: the cells behind them (0: given, taken as exact)."""
        median = float(median_ohm)
        if not (median > 0 and math.isfinite(median)):
            raise DistributionError(f"median resistance must be a positive number of ohms, got {median_ohm!r}")
        return cls(math.log(median), float(sigma), int(samples), median_ohm=median)

    @property
    def median(self) -> float:
        return float(np.exp(self.mu)) if self.median_ohm is None else self.median_ohm

    @property
    def sigma_ln(self) -> float:
        # The robust width of the protocol is sigma itself for a lognormal: give it exactly.
        return float(self.sigma)

    def _z(self, x):
        if self.sigma > 0:
            return (x - self.mu) / self.sigma
        # Point mass: every resistance at or above it is "above" (P(R <= median) = 1).
        return np.where(x >= self.mu, np.inf, -np.inf)

    def _cdf(self, x):
        return special.ndtr(self._z(x))

    def _sf(self, x):
        return special.ndtr(-self._z(x))

    def _logcdf(self, x):
        return special.log_ndtr(self._z(x))

    def _logsf(self, x):
        return special.log_ndtr(-self._z(x))

    def _logpdf(self, x):
        if self.sigma == 0:
            return np.where(x == self.mu, np.inf, -np.inf)
        z = self._z(x)
        return -0.5 * z * z - math.log(self.sigma) - 0.5 * math.log(2 * math.pi)

    def _ppf(self, q):
        return self.mu + self.sigma * special.ndtri(q) if self.sigma > 0 else np.full(np.shape(q), self.mu)

    def _isf(self, q):
        return self.mu - self.sigma * special.ndtri(q) if self.sigma > 0 else np.full(np.shape(q), self.mu)

    @property
    def parameter_count(self) -> int:
        return 2


# ---------------------------------------------------------------------------- mixture


@dataclasses.dataclass(frozen=True)
class LognormalMixture(_LnRModel):
    """ln R ~ sum_k w_k N(mu_k, sigma_k^2)."""

    kind: ClassVar[str] = "lognormal_mixture"
    weights: tuple[float, ...]
    mus: tuple[float, ...]
    sigmas: tuple[float, ...]
    samples: int = 0
    data_range: tuple[float, float] = (math.nan, math.nan)

    def __post_init__(self):
        w = np.asarray(self.weights)
        if not (len(self.weights) == len(self.mus) == len(self.sigmas) >= 1 and np.all(w > 0)
                and abs(w.sum() - 1.0) < 1e-9 and np.all(np.asarray(self.sigmas) > 0)):
            raise DistributionError("a lognormal mixture needs matching weights (positive, summing to 1), mus and "
                                    "positive sigmas")

    def _parts(self, x):
        x = np.asarray(x, dtype=float)[..., None]
        return (x - np.asarray(self.mus)) / np.asarray(self.sigmas), np.log(np.asarray(self.weights))

    def _cdf(self, x):
        z, _ = self._parts(x)
        return special.ndtr(z) @ np.asarray(self.weights)

    def _sf(self, x):
        z, _ = self._parts(x)
        return special.ndtr(-z) @ np.asarray(self.weights)

    def _logcdf(self, x):
        z, logw = self._parts(x)
        return special.logsumexp(special.log_ndtr(z) + logw, axis=-1)

    def _logsf(self, x):
        z, logw = self._parts(x)
        return special.logsumexp(special.log_ndtr(-z) + logw, axis=-1)

    def _logpdf(self, x):
        z, logw = self._parts(x)
        return special.logsumexp(-0.5 * z * z - np.log(np.asarray(self.sigmas)) - 0.5 * math.log(2 * math.pi) + logw,
                                 axis=-1)

    def _solve(self, q, upper: bool):
        """x with logcdf(x) = log q (upper=False) or logsf(x) = log q (upper=True): bisection
        in a bracket that always holds the root (the components' own quantiles at q)."""
        q = np.asarray(q, dtype=float)
        target = _log(q)
        mus, sigmas = np.asarray(self.mus), np.asarray(self.sigmas)
        z = special.ndtri(q)[..., None]
        own = mus - sigmas * z if upper else mus + sigmas * z
        low, high = own.min(axis=-1), own.max(axis=-1)
        low, high = low - 1e-9 * (1 + np.abs(low)), high + 1e-9 * (1 + np.abs(high))
        for _ in range(200):
            middle = 0.5 * (low + high)
            value = self._logsf(middle) if upper else self._logcdf(middle)
            below = value > target if upper else value < target  # root lies above `middle`
            low, high = np.where(below, middle, low), np.where(below, high, middle)
            if np.all(high - low <= 4e-16 * np.maximum(1.0, np.abs(middle))):
                break
        result = 0.5 * (low + high)
        return np.where(q <= 0, -np.inf if not upper else np.inf, np.where(q >= 1, np.inf if not upper else -np.inf,
                                                                           result))

    def _ppf(self, q):
        return self._solve(q, upper=False)

    def _isf(self, q):
        return self._solve(q, upper=True)

    @property
    def parameter_count(self) -> int:
        return 3 * len(self.weights) - 1


# ---------------------------------------------------------------------------- empirical body + GPD tails


@dataclasses.dataclass(frozen=True)
class GpdTail:
    """Generalized Pareto tail of ln R beyond `threshold` (ln ohm): a fraction `probability`
    of the cells lies beyond it, and the excess y = |ln R - threshold| has
    P(Y > y) = (1 + shape * y / scale) ** (-1 / shape) (exp(-y / scale) for shape 0)."""

    threshold: float
    probability: float
    shape: float
    scale: float
    exceedances: int

    def log_survival(self, y):
        """log P(Y > y) for y >= 0 (-inf beyond a bounded tail's end)."""
        y = np.asarray(y, dtype=float)
        if abs(self.shape) < 1e-12:
            return -y / self.scale
        argument = 1.0 + self.shape * y / self.scale
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(argument > 0, -np.log(np.maximum(argument, 1e-300)) / self.shape, -np.inf)

    def log_density(self, y):
        y = np.asarray(y, dtype=float)
        if abs(self.shape) < 1e-12:
            return -math.log(self.scale) - y / self.scale
        argument = 1.0 + self.shape * y / self.scale
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(argument > 0, -math.log(self.scale) - (1.0 / self.shape + 1.0)
                            * np.log(np.maximum(argument, 1e-300)), -np.inf)

    def excess_at(self, log_survival):
        """y with log P(Y > y) = log_survival (<= 0)."""
        s = np.asarray(log_survival, dtype=float)
        if abs(self.shape) < 1e-12:
            return -s * self.scale
        return self.scale / self.shape * np.expm1(-self.shape * s)

    @property
    def end(self) -> float:
        """Largest excess the tail allows (inf unless shape < 0)."""
        return -self.scale / self.shape if self.shape < 0 else math.inf


@dataclasses.dataclass(frozen=True)
class EmpiricalGpd(_LnRModel):
    """Piecewise-linear quantile function of ln R through `knot_ln` at probabilities
    `knot_p` (the body), generalized Pareto tails below knot_p[0] and above knot_p[-1]."""

    kind: ClassVar[str] = "empirical_gpd"
    knot_p: tuple[float, ...]
    knot_ln: tuple[float, ...]
    lower: GpdTail
    upper: GpdTail
    samples: int = 0
    data_range: tuple[float, float] = (math.nan, math.nan)

    def __post_init__(self):
        p, x = np.asarray(self.knot_p), np.asarray(self.knot_ln)
        if len(p) != len(x) or len(p) < 2 or np.any(np.diff(p) <= 0) or np.any(np.diff(x) <= 0):
            raise DistributionError("empirical body knots must be strictly increasing in probability and ln R")
        if not (math.isclose(self.lower.probability, p[0]) and math.isclose(self.upper.probability, 1 - p[-1])):
            raise DistributionError("the GPD tails must start where the body ends")

    def _arrays(self):
        return np.asarray(self.knot_p), np.asarray(self.knot_ln)

    def _cdf(self, x):
        return np.exp(self._logcdf(x))

    def _sf(self, x):
        return np.exp(self._logsf(x))

    def _logcdf(self, x):
        x = np.asarray(x, dtype=float)
        p, k = self._arrays()
        low = math.log(self.lower.probability) + self.lower.log_survival(np.maximum(k[0] - x, 0.0))
        high = np.log1p(-np.exp(math.log(self.upper.probability) + self.upper.log_survival(np.maximum(x - k[-1], 0.0))))
        body = _log(np.interp(x, k, p))
        return np.where(x < k[0], low, np.where(x > k[-1], high, body))

    def _logsf(self, x):
        x = np.asarray(x, dtype=float)
        p, k = self._arrays()
        high = math.log(self.upper.probability) + self.upper.log_survival(np.maximum(x - k[-1], 0.0))
        low = np.log1p(-np.exp(math.log(self.lower.probability) + self.lower.log_survival(np.maximum(k[0] - x, 0.0))))
        body = _log(np.interp(x, k, 1.0 - p))
        return np.where(x > k[-1], high, np.where(x < k[0], low, body))

    def _logpdf(self, x):
        x = np.asarray(x, dtype=float)
        p, k = self._arrays()
        density = np.diff(p) / np.diff(k)
        segment = np.clip(np.searchsorted(k, x, side="right") - 1, 0, len(density) - 1)
        body = np.log(density[segment])
        low = math.log(self.lower.probability) + self.lower.log_density(np.maximum(k[0] - x, 0.0))
        high = math.log(self.upper.probability) + self.upper.log_density(np.maximum(x - k[-1], 0.0))
        return np.where(x < k[0], low, np.where(x > k[-1], high, body))

    def _ppf(self, q):
        q = np.asarray(q, dtype=float)
        p, k = self._arrays()
        with np.errstate(divide="ignore"):
            tail = k[0] - self.lower.excess_at(np.log(q) - math.log(self.lower.probability))
            upper_tail = k[-1] + self.upper.excess_at(np.log1p(-q) - math.log(self.upper.probability))
        body = np.interp(q, p, k)
        return np.where(q < p[0], tail, np.where(q > p[-1], upper_tail, body))

    def _isf(self, q):
        q = np.asarray(q, dtype=float)
        p, k = self._arrays()
        with np.errstate(divide="ignore"):
            tail = k[-1] + self.upper.excess_at(np.log(q) - math.log(self.upper.probability))
            lower_tail = k[0] - self.lower.excess_at(np.log1p(-q) - math.log(self.lower.probability))
        body = np.interp(1.0 - q, p, k)
        return np.where(q < 1 - p[-1], tail, np.where(q > 1 - p[0], lower_tail, body))

    @property
    def parameter_count(self) -> int:
        return len(self.knot_ln) + 4  # knot positions, and shape and scale of each tail


MODELS: dict[str, type[_LnRModel]] = {m.kind: m for m in (Lognormal, LognormalMixture, EmpiricalGpd)}
Distribution = Lognormal | LognormalMixture | EmpiricalGpd


def distribution_from_dict(data: Mapping[str, Any]) -> Distribution:
    """Any model from its `to_dict()` form."""
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind not in MODELS:
        raise DistributionError(f"unknown distribution kind {kind!r}; known: {', '.join(MODELS)}")
    return MODELS[kind].from_dict(data)


# ---------------------------------------------------------------------------- fitting

MIN_CELLS_MIXTURE = 20
MIN_EXCEEDANCES = 40  # cells beyond each GPD threshold: fewer and the shape is noise
MIN_CELLS_EMPIRICAL = 8 * MIN_EXCEEDANCES


def _data_range(ln_r: np.ndarray) -> tuple[float, float]:
    return float(np.exp(ln_r.min())), float(np.exp(ln_r.max()))


def _as_ln(resistance: np.ndarray) -> np.ndarray:
    r = np.asarray(resistance, dtype=float).ravel()
    if r.size < 2 or not np.all(np.isfinite(r) & (r > 0)):
        raise DistributionError(f"need at least 2 finite positive resistances, got {r.size}")
    return np.log(r)


def fit_lognormal(resistance: np.ndarray) -> Lognormal:
    """Maximum likelihood (sigma with ddof=0, the MLE; the report gives the ddof=1 value too)."""
    x = _as_ln(resistance)
    sigma = float(np.std(x))
    if sigma == 0:
        raise DistributionError("all resistances are equal: no spread to fit")
    return Lognormal(float(np.mean(x)), sigma, samples=x.size, data_range=_data_range(x))


@dataclasses.dataclass(frozen=True)
class _Em:
    """A 1-D Gaussian mixture fitted by EM (components sorted by mean)."""

    weights: np.ndarray
    means: np.ndarray
    sigmas: np.ndarray
    log_likelihood: float

    def responsibilities(self, x: np.ndarray) -> np.ndarray:
        z = (x[:, None] - self.means) / self.sigmas
        log_p = -0.5 * z * z - np.log(self.sigmas) + np.log(self.weights)
        return np.exp(log_p - _logsumexp_rows(log_p)[:, None])

    def bic(self, n: int) -> float:
        return (3 * len(self.weights) - 1) * math.log(n) - 2 * self.log_likelihood


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    top = a.max(axis=1)
    return top + np.log(np.exp(a - top[:, None]).sum(axis=1))


_EM_BINS = 4096  # above this many cells EM runs on a histogram of ln R (bin width ~1e-3 of the range)


def _em(x: np.ndarray, components: int, max_iter: int = 500, tol: float = 1e-8) -> _Em:
    """EM for a 1-D Gaussian mixture, vectorized numpy, on the cells or (for large samples)
    on a 4096-bin histogram of them, whose bin width is far below any sigma of interest;
    the likelihood reported is of the cells themselves. Deterministic starts: equal-count
    slices of the sorted data, then two splits weighted to the tails (so that a small
    sub-population at either end gets its own start); the best likelihood wins. A sigma
    floor of 1e-3 of the data's spread keeps a component from collapsing onto one value."""
    n = x.size
    spread = float(np.std(x)) or 1.0
    floor = 1e-3 * spread
    order = np.sort(x)
    if n > _EM_BINS:
        counts, edges_ = np.histogram(x, bins=_EM_BINS)
        used = counts > 0
        points, weights = (0.5 * (edges_[1:] + edges_[:-1]))[used], counts[used].astype(float)
    else:
        points, weights = x, np.ones(n)
    starts = [np.linspace(0, n, components + 1).astype(int),
              np.concatenate([[0], np.linspace(0.05 * n, n, components).astype(int)]),
              np.concatenate([np.linspace(0, 0.95 * n, components).astype(int), [n]])]
    best: _Em | None = None
    for cuts in starts[: 1 if components == 1 else 3]:
        cuts = np.maximum.accumulate(np.clip(cuts, 0, n))
        parts = [order[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
        if any(part.size < 2 for part in parts):
            continue
        w = np.array([part.size / n for part in parts])
        m = np.array([part.mean() for part in parts])
        s = np.array([max(part.std(), floor) for part in parts])
        previous = -math.inf
        for _ in range(max_iter):
            z = (points[:, None] - m) / s
            log_p = -0.5 * z * z - np.log(s) + np.log(w) - 0.5 * math.log(2 * math.pi)
            total = _logsumexp_rows(log_p)
            loglik = float(weights @ total)
            r = np.exp(log_p - total[:, None]) * weights[:, None]
            nk = r.sum(axis=0) + 1e-300
            w = nk / n
            m = (r * points[:, None]).sum(axis=0) / nk
            s = np.maximum(np.sqrt((r * (points[:, None] - m) ** 2).sum(axis=0) / nk), floor)
            if loglik - previous < tol * n:
                break
            previous = loglik
        keep = w > 1e-12
        sort = np.argsort(m[keep])
        w, m, s = w[keep][sort] / w[keep].sum(), m[keep][sort], s[keep][sort]
        z = (x[:, None] - m) / s
        loglik = float(_logsumexp_rows(-0.5 * z * z - np.log(s) + np.log(w) - 0.5 * math.log(2 * math.pi)).sum())
        fit = _Em(w, m, s, loglik)
        if best is None or fit.log_likelihood > best.log_likelihood:
            best = fit
    if best is None:
        raise DistributionError(f"too few cells ({n}) for {components} mixture components")
    return best


def fit_mixture(resistance: np.ndarray, components: int | Sequence[int] = (2, 3, 4)) -> LognormalMixture:
    """EM fit of a mixture of lognormals; with several component counts, the one with the lowest BIC."""
    x = _as_ln(resistance)
    counts = [components] if isinstance(components, int) else list(components)
    counts = [k for k in counts if x.size >= MIN_CELLS_MIXTURE * k] or counts[:1]
    best = min((_em(x, k) for k in counts), key=lambda fit: fit.bic(x.size))
    return LognormalMixture(tuple(float(w) for w in best.weights), tuple(float(m) for m in best.means),
                            tuple(float(v) for v in best.sigmas), samples=x.size, data_range=_data_range(x))


def _knot_count(n: int) -> int:
    """Body knots: about 2 n^(1/3) (the Freedman-Diaconis rate), between 8 and 64."""
    return int(np.clip(round(2 * n ** (1 / 3)), 8, 64))


def fit_empirical_gpd(resistance: np.ndarray, tail_fraction: float | None = None) -> EmpiricalGpd:
    """Empirical body between the tail thresholds; GPD (maximum likelihood) beyond them.

    The threshold leaves `tail_fraction` of the cells in each tail: by default 10 %, or more
    when needed for MIN_EXCEEDANCES cells per tail (at most 25 %)."""
    x = np.sort(_as_ln(resistance))
    n = x.size
    if n < MIN_CELLS_EMPIRICAL:
        raise DistributionError(f"{n} cells: the empirical model with GPD tails needs at least {MIN_CELLS_EMPIRICAL} "
                                f"({MIN_EXCEEDANCES} beyond each tail threshold)")
    fraction = tail_fraction if tail_fraction is not None else min(max(0.10, MIN_EXCEEDANCES / n), 0.25)
    knots = _knot_count(n)
    probabilities = np.linspace(fraction, 1.0 - fraction, knots + 1)
    positions = np.quantile(x, probabilities)
    keep = np.concatenate([[True], np.diff(positions) > 1e-12 * (1 + np.abs(positions[1:]))])
    probabilities, positions = probabilities[keep], positions[keep]
    if probabilities[-1] != 1.0 - fraction:  # a tie at the top knot: keep the tail start exact
        probabilities[-1], positions[-1] = 1.0 - fraction, np.quantile(x, 1.0 - fraction)
    if len(positions) < 2 or np.any(np.diff(positions) <= 0):
        raise DistributionError("the resistances take too few distinct values for an empirical body")

    def tail(excess: np.ndarray, threshold: float, probability: float) -> GpdTail:
        excess = excess[excess > 0]
        if excess.size < MIN_EXCEEDANCES // 2:
            raise DistributionError(f"only {excess.size} distinct cells beyond a tail threshold")
        shape, _, scale = stats.genpareto.fit(excess, floc=0.0)
        if shape < 0 and excess.max() > -scale / shape:  # MLE at the boundary: keep every cell inside the support
            shape = -scale / (excess.max() * (1 + 1e-9))
        return GpdTail(float(threshold), float(probability), float(shape), float(scale), int(excess.size))

    lower = tail(positions[0] - x[x < positions[0]], positions[0], probabilities[0])
    upper = tail(x[x > positions[-1]] - positions[-1], positions[-1], 1.0 - probabilities[-1])
    return EmpiricalGpd(tuple(float(p) for p in probabilities), tuple(float(v) for v in positions), lower, upper,
                        samples=n, data_range=_data_range(x))


# ---------------------------------------------------------------------------- goodness of fit


@dataclasses.dataclass(frozen=True)
class GoodnessOfFit:
    """How well a model describes the cells it was fitted to."""

    cells: int
    parameters: int
    log_likelihood: float  # of ln R
    aic: float
    bic: float
    ks_statistic: float
    ks_pvalue: float  # approximate: the parameters come from the same cells, so it is optimistic
    anderson_darling: float  # A^2 against the fitted model
    anderson_darling_critical_1pct: float | None  # for the lognormal (estimated mean and sigma), else None

    @property
    def ks_rejects(self) -> bool:
        return self.ks_pvalue < 0.01

    @property
    def ad_rejects(self) -> bool:
        return self.anderson_darling_critical_1pct is not None and self.anderson_darling > \
            self.anderson_darling_critical_1pct

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"ks_rejects_at_1pct": self.ks_rejects, "ad_rejects_at_1pct": self.ad_rejects}


def goodness_of_fit(model: Distribution, resistance: np.ndarray) -> GoodnessOfFit:
    x = np.sort(_as_ln(resistance))
    n = x.size
    loglik = float(np.sum(model.ln_logpdf(x)))
    k = model.parameter_count
    ks = stats.kstest(x, lambda v: model._cdf(np.asarray(v)))
    logcdf = np.maximum(model._logcdf(x), _LOG_TINY)
    logsf = np.maximum(model._logsf(x), _LOG_TINY)
    i = np.arange(1, n + 1)
    a2 = float(-n - np.sum((2 * i - 1) * (logcdf + logsf[::-1])) / n)
    critical = None
    if model.kind == "lognormal":
        # Case 3 (mean and variance estimated) of Stephens (1974): 1 % point 1.035, small-sample corrected.
        critical = 1.035 / (1.0 + 0.75 / n + 2.25 / n ** 2)
    return GoodnessOfFit(n, k, loglik, 2 * k - 2 * loglik, k * math.log(n) - 2 * loglik, float(ks.statistic),
                         float(ks.pvalue), a2, critical)


CRITERIA = ("bic", "aic")


@dataclasses.dataclass(frozen=True)
class StateFit:
    """All models fitted to one state, with their goodness of fit and the chosen one."""

    state: str
    models: Mapping[str, Distribution]
    fits: Mapping[str, GoodnessOfFit]
    chosen: str
    criterion: str
    not_fitted: Mapping[str, str]  # kind -> why it was not fitted
    sigma_ln_sample: float  # std of ln R with ddof=1 (the lognormal summary on the card)

    @property
    def model(self) -> Distribution:
        return self.models[self.chosen]

    @property
    def samples(self) -> int:
        return self.model.samples

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "chosen": self.chosen, "criterion": self.criterion,
                "models": {kind: {"model": model.to_dict(), "goodness_of_fit": self.fits[kind].as_dict()}
                           for kind, model in self.models.items()},
                "not_fitted": dict(self.not_fitted), "sigma_lnR_sample": self.sigma_ln_sample}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StateFit":
        try:
            models = {kind: distribution_from_dict(entry["model"]) for kind, entry in data["models"].items()}
            fits = {kind: GoodnessOfFit(**{k: v for k, v in entry["goodness_of_fit"].items()
                                           if k in {f.name for f in dataclasses.fields(GoodnessOfFit)}})
                    for kind, entry in data["models"].items()}
            return cls(data["state"], models, fits, data["chosen"], data["criterion"], dict(data.get("not_fitted", {})),
                       float(data["sigma_lnR_sample"]))
        except (KeyError, TypeError) as error:
            raise DistributionError(f"malformed state distribution entry: {error}") from None


def fit_state(resistance: np.ndarray, state: str = "ALL", criterion: str = "bic",
              kinds: Sequence[str] = tuple(MODELS)) -> StateFit:
    """Fit the lognormal, the lognormal mixture and the empirical body with GPD tails (or
    the `kinds` named) to one state's cells; choose by `criterion` ('bic' or 'aic', lower is
    better). The lognormal is always fitted: the card's summary keys come from it."""
    if criterion not in CRITERIA:
        raise DistributionError(f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    unknown = sorted(set(kinds) - set(MODELS))
    if unknown:
        raise DistributionError(f"unknown distribution kind(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    x = _as_ln(resistance)
    models: dict[str, Distribution] = {"lognormal": fit_lognormal(resistance)}
    not_fitted: dict[str, str] = {}
    if "lognormal_mixture" in kinds:
        if x.size >= 2 * MIN_CELLS_MIXTURE:
            models["lognormal_mixture"] = fit_mixture(resistance)
        else:
            not_fitted["lognormal_mixture"] = f"{x.size} cells: a mixture needs at least {2 * MIN_CELLS_MIXTURE}"
    if "empirical_gpd" in kinds:
        try:
            models["empirical_gpd"] = fit_empirical_gpd(resistance)
        except DistributionError as error:
            not_fitted["empirical_gpd"] = str(error)
    fits = {kind: goodness_of_fit(model, resistance) for kind, model in models.items()}
    chosen = min(fits, key=lambda kind: getattr(fits[kind], criterion))
    return StateFit(state, models, fits, chosen, criterion, not_fitted, float(np.std(x, ddof=1)))


# ---------------------------------------------------------------------------- finding states


def median_interval(resistance: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free interval for the median: the order statistics whose ranks bound it
    with binomial probability `confidence`."""
    r = np.sort(np.asarray(resistance, dtype=float))
    n = r.size
    low = int(stats.binom.ppf((1 - confidence) / 2, n, 0.5))
    high = int(stats.binom.isf((1 - confidence) / 2, n, 0.5))
    return float(r[max(low - 1, 0)]), float(r[min(high, n - 1)])


@dataclasses.dataclass(frozen=True)
class StateSplit:
    """Populations found in cells without a state column."""

    labels: np.ndarray  # state name per cell
    names: tuple[str, ...]  # from low to high resistance
    method: str  # 'mixture (BIC over 1..K components, unimodal neighbours merged)' or 'threshold ...'
    components: int  # mixture components BIC chose (0 for a threshold split)
    boundaries_ohm: tuple[float, ...]  # resistance where the assignment changes
    ambiguous: np.ndarray  # cells whose state posterior is below `certainty`
    certainty: float

    def summary(self, resistance: np.ndarray) -> dict[str, Any]:
        n = len(resistance)
        amb = binomial_interval(int(self.ambiguous.sum()), n)
        states = {}
        for name in self.names:
            cells = self.labels == name
            r = resistance[cells]
            share = binomial_interval(int(cells.sum()), n)
            in_overlap = binomial_interval(int((self.ambiguous & cells).sum()), int(cells.sum()))
            states[name] = {"cells": int(cells.sum()), "fraction": share.estimate,
                            "fraction_ci95": [share.low, share.high], "median_ohm": float(np.median(r)),
                            "median_ci95_ohm": list(median_interval(r)),
                            "sigma_lnR": float(np.std(np.log(r), ddof=1)) if r.size > 1 else None,
                            "overlap_fraction": in_overlap.estimate,
                            "overlap_fraction_ci95": [in_overlap.low, in_overlap.high]}
        return {"method": self.method, "components": self.components, "boundaries_ohm": list(self.boundaries_ohm),
                "certainty": self.certainty, "overlap_cells": int(self.ambiguous.sum()), "overlap_fraction":
                amb.estimate, "overlap_fraction_ci95": [amb.low, amb.high], "states": states}


def state_names(count: int, names: Sequence[str] | None = None) -> tuple[str, ...]:
    if names:
        if len(names) != count:
            raise DistributionError(f"{len(names)} state names given ({', '.join(names)}) for {count} states found")
        return tuple(n.upper() for n in names)
    if count == 2:
        return ("LRS", "HRS")
    return ("ALL",) if count == 1 else tuple(f"S{k + 1}" for k in range(count))


def _unimodal(weights, mus, sigmas) -> bool:
    """True if the sub-mixture's density has no dip between its outermost means (Hennig's
    ridgeline/modality criterion for merging Gaussian components into one cluster)."""
    grid = np.linspace(min(mus), max(mus), 400)
    density = sum(w * stats.norm.pdf(grid, m, s) for w, m, s in zip(weights, mus, sigmas))
    interior = density[1:-1]
    dips = (interior < density[:-2]) & (interior < density[2:])
    return not dips.any()


def find_states(resistance: np.ndarray, *, threshold_ohm: Sequence[float] | None = None, max_components: int = 4,
                names: Sequence[str] | None = None, certainty: float = 0.99) -> StateSplit:
    """Populations of a file without a state column.

    With `threshold_ohm` (one or more resistances) the cells are split there. Otherwise a
    Gaussian mixture on ln R with 1..max_components components is fitted (BIC chooses the
    count) and neighbouring components whose joint density is unimodal are merged into one
    state (a skewed state needs two Gaussians, yet is one population). Cells whose state
    posterior is below `certainty` are counted as the overlap between states.
    """
    x = _as_ln(resistance)
    if threshold_ohm:
        cuts = np.sort(np.log(np.asarray(threshold_ohm, dtype=float)))
        index = np.searchsorted(cuts, x)
        labels_all = state_names(len(cuts) + 1, names)
        present = sorted(set(index.tolist()))
        return StateSplit(np.array(labels_all, dtype=object)[index].astype(str), labels_all,
                          f"threshold at {', '.join(f'{math.exp(c):.6g}' for c in cuts)} ohm", 0,
                          tuple(float(math.exp(c)) for c in cuts), np.zeros(x.size, bool), certainty) \
            if len(present) == len(labels_all) else _threshold_error(cuts, present)
    fits = [_em(x, k) for k in range(1, max_components + 1) if k == 1 or x.size >= MIN_CELLS_MIXTURE * k]
    best = min(fits, key=lambda fit: fit.bic(x.size))
    weights, mus, sigmas = best.weights, best.means, best.sigmas
    groups: list[list[int]] = [[0]]
    for k in range(1, len(mus)):
        candidate = groups[-1] + [k]
        if _unimodal(weights[candidate], mus[candidate], sigmas[candidate]):
            groups[-1] = candidate
        else:
            groups.append([k])
    posterior = best.responsibilities(x)
    by_group = np.column_stack([posterior[:, g].sum(axis=1) for g in groups])
    index = np.argmax(by_group, axis=1)
    labels_all = state_names(len(groups), names)
    labels = np.array(labels_all, dtype=object)[index].astype(str)
    boundaries = []
    for k in range(len(groups) - 1):
        high = x[index == k].max() if np.any(index == k) else math.nan
        low = x[index == k + 1].min() if np.any(index == k + 1) else math.nan
        boundaries.append(float(math.exp(0.5 * (high + low))))
    return StateSplit(labels, labels_all, f"Gaussian mixture on ln R (EM), BIC over 1..{max_components} components, "
                      "neighbouring components with a unimodal joint density merged", len(mus), tuple(boundaries),
                      by_group.max(axis=1) < certainty, certainty)


def _threshold_error(cuts, present):
    raise DistributionError(f"the thresholds {', '.join(f'{math.exp(c):.4g}' for c in cuts)} ohm leave "
                            f"{len(cuts) + 1 - len(present)} state(s) without cells")
