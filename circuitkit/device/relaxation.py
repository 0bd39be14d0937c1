"""Resistance relaxation after programming: how each state's median drifts and its spread
widens with the time since programming and the temperature, fitted from retention data
(`circuitkit fit --kind retention`) and carried on the model card (`ModelCard.relaxation`).

The model (`RelaxationModel`), for a cell read R_0 at programming (level x = ln(R_0 / r_ref),
r_ref = 10 kohm) and read again after a time t spent at temperature T:

    ln R(t) = ln R_0 + m(x) w(t) + s(x) w(t) Z,      Z ~ N(0, 1)
    w(t)    = (t_eq / t_unit) ** alpha                power law in time, t_unit = 1 h
    t_eq    = t exp(Ea / k (1 / T_ref - 1 / T))       Arrhenius: time at T as time at T_ref = 25 C
    m(x)    = m0 + m1 x + m2 x^2                      median drift of ln R after 1 h at T_ref
    s(x)    = exp(s0 + s1 x + s2 x^2)                 spread (sigma of ln R) after 1 h at T_ref

The change between two reads at equivalent times t_b < t_a has independent increments:
mean m(x) (w_a - w_b), variance s(x)^2 (w_a^2 - w_b^2). A power law of the spread in time is
what the group that measured the bundled array reported for the mean absolute conductance
deviation; the level dependence (quadratic in ln R) lets intermediate levels drift fastest
in conductance, as they also reported (the bundled bakes show it: see the README). Both
median drift and widening share one time law and one activation energy (one relaxation
mechanism); with one bake duration per temperature they could not be told apart anyway.

What data identify (`fit_relaxation` says which applied, in its settings and flags):
- alpha needs >= 2 distinct equivalent times at one temperature (several bake durations,
  or a time series); Ea needs >= 2 temperatures *and* alpha. Two temperatures with one bake
  duration each (the bundled data) fix only the product alpha Ea: the fit then holds alpha
  at a value the user gives (`time_exponent=`), else at `ASSUMED_TIME_EXPONENT` (an
  assumption, announced in the flags, the card and the report), and Ea's interval is
  conditional on that alpha.
- Pairs whose after-read has nothing to do with the before-read (a mis-addressed block, a
  failed read) would pass for enormous relaxation; a per-file fraction of unrelated pairs,
  a broad normal in ln R_a - ln R_b, takes them out of the relaxation fit and is reported
  (the bundled 85 C bake has half its pairs unrelated, in whole address blocks).

Intervals: Wald intervals from the observed information (a finite-difference Hessian of
the log-likelihood) for every parameter; for Ea a profile-likelihood interval
(2 delta log L <= 3.84), which stays right at the bound Ea = 0. Predictions carry a 95 %
band from parameter draws of the covariance (`spread_interval`).

`RelaxationModel.sample(resistance, t_s, temp_c, rng)` is the drift hook of the crossbar
layer; `relax_state(model, t_s, temp_c)` gives a state's resistance distribution at a read
time (what a campaign's `--read-after` draws from). `extrapolation(t_s, temp_c)` says where
the data end: times beyond the longest equivalent time measured, temperatures outside the
measured ones.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from circuitkit import CircuitkitError

BOLTZMANN_EV = 8.617333262e-5  # eV/K
T_REF_C = 25.0  # reference (storage) temperature of the equivalent time
TIME_UNIT_S = 3600.0  # the spread/drift coefficients are those after 1 h at T_REF_C
REFERENCE_OHM = 1e4  # level coordinate x = ln(R / 10 kohm)
# The time exponent held when the data cannot identify it (one bake duration per
# temperature): an ASSUMPTION with no measurement behind it, announced wherever it is used.
# Small (sub-linear, slower than diffusive) because a larger one would make the bundled
# array's 1 h spread grow by more than the whole HRS window within a year.
ASSUMED_TIME_EXPONENT = 0.1
ASSUMED_SOURCE = ("assumed, not measured: the data have one bake duration per temperature, which identifies only "
                  "the product alpha Ea; give --time-exponent from a bake series of >= 2 durations")
DURATIONS = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "y": 365.25 * 86400.0}


class RelaxationError(CircuitkitError):
    """A relaxation model or retention fit that cannot be used as asked."""


def parse_duration(text: str | float) -> float:
    """Seconds of '1s', '15min', '2h', '1d', '10y' (or a number of seconds)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        raw = str(text).strip().lower()
        unit = next((u for u in sorted(DURATIONS, key=len, reverse=True) if raw.endswith(u)), None)
        try:
            value = float(raw[: -len(unit)] if unit else raw) * (DURATIONS[unit] if unit else 1.0)
        except ValueError:
            raise RelaxationError(f"read time {text!r}: expected a number with a unit of {', '.join(DURATIONS)} "
                                  "(e.g. 1s, 1d, 10y) or seconds") from None
    if not (value >= 0 and math.isfinite(value)):
        raise RelaxationError(f"read time {text!r}: expected a time >= 0")
    return value


def format_duration(seconds: float) -> str:
    """'1 s', '1 d', '10 y': the largest unit that gives a number >= 1."""
    if seconds <= 0:
        return "0 s"
    for unit in ("y", "d", "h", "min", "s"):
        if seconds >= DURATIONS[unit] or unit == "s":
            return f"{seconds / DURATIONS[unit]:.3g} {unit}"
    return f"{seconds:g} s"


def acceleration(temp_c: np.ndarray | float, activation_energy_ev: float,
                 reference_temp_c: float = T_REF_C) -> np.ndarray:
    """Arrhenius factor: how many seconds at T_ref one second at `temp_c` is worth."""
    t_k = np.asarray(temp_c, dtype=float) + 273.15
    return np.exp(activation_energy_ev / BOLTZMANN_EV * (1.0 / (reference_temp_c + 273.15) - 1.0 / t_k))


# ---------------------------------------------------------------------------- the model

PARAMETERS = ("activation_energy_ev", "time_exponent", "m0", "m1", "m2", "s0", "s1", "s2")


@dataclasses.dataclass(frozen=True)
class RelaxationModel:
    """Drift of the median and widening of the spread of ln R with time and temperature (module docstring).

    `covariance` (over `PARAMETERS` in order, fixed parameters with zero rows) gives the
    prediction bands; `data_span` what the fit saw (equivalent times in s at T_ref,
    temperatures in C, resistances in ohm, pair count); `fixed` the parameters held and why;
    `intervals` 95 % intervals by parameter name.
    """

    activation_energy_ev: float
    time_exponent: float
    m0: float = 0.0
    m1: float = 0.0
    m2: float = 0.0
    s0: float = -5.0
    s1: float = 0.0
    s2: float = 0.0
    reference_temp_c: float = T_REF_C
    time_unit_s: float = TIME_UNIT_S
    reference_ohm: float = REFERENCE_OHM
    covariance: tuple[tuple[float, ...], ...] = ()
    intervals: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    data_span: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    fixed: Mapping[str, str] = dataclasses.field(default_factory=dict)
    source: str = "given"

    def __post_init__(self) -> None:
        for name in PARAMETERS:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise RelaxationError(f"relaxation parameter {name}={value!r}: expected a finite number")
        if self.time_exponent < 0:
            raise RelaxationError(f"relaxation time_exponent={self.time_exponent!r}: expected >= 0")
        if self.covariance and (len(self.covariance) != len(PARAMETERS)
                                or any(len(row) != len(PARAMETERS) for row in self.covariance)):
            raise RelaxationError(f"relaxation covariance must be {len(PARAMETERS)} x {len(PARAMETERS)}")

    # -- time and level
    def equivalent_time(self, t_s: np.ndarray | float, temp_c: np.ndarray | float) -> np.ndarray:
        """Seconds at the reference temperature worth `t_s` seconds at `temp_c`."""
        return np.asarray(t_s, dtype=float) * acceleration(temp_c, self.activation_energy_ev, self.reference_temp_c)

    def time_scale(self, t_eq_s: np.ndarray | float) -> np.ndarray:
        """w = (t_eq / t_unit) ** alpha (0 at t = 0)."""
        return np.power(np.maximum(np.asarray(t_eq_s, dtype=float), 0.0) / self.time_unit_s, self.time_exponent)

    def level(self, resistance: np.ndarray | float) -> np.ndarray:
        return np.log(np.asarray(resistance, dtype=float) / self.reference_ohm)

    def drift_per_unit(self, resistance: np.ndarray | float) -> np.ndarray:
        """m(x): median shift of ln R after 1 h at T_ref."""
        x = self.level(resistance)
        return self.m0 + self.m1 * x + self.m2 * x * x

    def spread_per_unit(self, resistance: np.ndarray | float) -> np.ndarray:
        """s(x): sigma of the change of ln R after 1 h at T_ref."""
        x = self.level(resistance)
        return np.exp(self.s0 + self.s1 * x + self.s2 * x * x)

    def median_shift(self, resistance, t_s, temp_c) -> np.ndarray:
        """Median change of ln R of cells read `resistance` at programming, after t_s at temp_c."""
        return self.drift_per_unit(resistance) * self.time_scale(self.equivalent_time(t_s, temp_c))

    def spread(self, resistance, t_s, temp_c) -> np.ndarray:
        """Sigma of the change of ln R after t_s at temp_c."""
        return self.spread_per_unit(resistance) * self.time_scale(self.equivalent_time(t_s, temp_c))

    def pair_change(self, r_before, t_before_s, duration_s, temp_c, read_noise: float = 0.0
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sigma of ln(R_after / R_before) of cells read `r_before` at `t_before_s`
        (equivalent seconds at T_ref since programming) and read again `duration_s` later,
        spent at `temp_c`: independent increments, mean m(x) (w_a - w_b), variance s(x)^2
        (w_a^2 - w_b^2) (floored at 1e-12, as in the fit's likelihood, so that a pair read
        twice at once keeps a width), plus both reads' noise 2 read_noise^2. With
        t_before_s = 0 and no read noise: `median_shift` and `spread`."""
        w_b = self.time_scale(t_before_s)
        w_a = self.time_scale(np.asarray(t_before_s, dtype=float) + self.equivalent_time(duration_s, temp_c))
        mean = self.drift_per_unit(r_before) * (w_a - w_b)
        sd = np.sqrt(self.spread_per_unit(r_before) ** 2 * np.maximum(w_a ** 2 - w_b ** 2, 1e-12) + 2 * read_noise ** 2)
        return mean, sd

    def sample(self, resistance: np.ndarray, t_s: float, temp_c: float, rng: np.random.Generator) -> np.ndarray:
        """Resistances after t_s at temp_c of cells programmed to `resistance` (the crossbar drift hook)."""
        resistance = np.asarray(resistance, dtype=float)
        w = self.time_scale(self.equivalent_time(t_s, temp_c))
        z = rng.standard_normal(resistance.shape)
        return resistance * np.exp((self.drift_per_unit(resistance) + self.spread_per_unit(resistance) * z) * w)

    # -- where the data end
    def extrapolation(self, t_s: float, temp_c: float) -> str:
        """'' inside the data; else a sentence saying how far beyond them the read lies."""
        span = self.data_span
        notes = []
        if span.get("equivalent_time_s"):
            low, high = span["equivalent_time_s"]
            t_eq = float(self.equivalent_time(t_s, temp_c))
            if t_eq > high * (1 + 1e-9):
                notes.append(f"{format_duration(t_s)} at {temp_c:g} C is {t_eq / high:.3g}x the longest equivalent time "
                             f"measured ({format_duration(high)} at {self.reference_temp_c:g} C)")
            elif 0 < t_eq < low * (1 - 1e-9):
                notes.append(f"{format_duration(t_s)} at {temp_c:g} C is shorter than the shortest equivalent time "
                             f"measured ({format_duration(low)} at {self.reference_temp_c:g} C)")
        if span.get("temperatures_c") and t_s > 0:
            temps = span["temperatures_c"]
            if not min(temps) <= temp_c <= max(temps):
                notes.append(f"{temp_c:g} C lies outside the measured temperatures ({', '.join(f'{t:g}' for t in temps)} C)")
        durations = span.get("durations_s") or []
        measured = any(abs(t_s / d - 1) < 1e-6 for d in durations if d > 0)
        if "time_exponent" in self.fixed and t_s > 0 and (notes or not measured):
            # Only the measured durations are free of the exponent when it is not identified.
            notes.append(f"a time other than the measured ({', '.join(format_duration(d) for d in durations)}) "
                         f"rests on the time exponent, {self.fixed['time_exponent']}")
        return "extrapolated: " + "; ".join(notes) if notes else ""

    # -- prediction bands
    def _draws(self, count: int, seed: int) -> list["RelaxationModel"]:
        if not self.covariance:
            return [self] * 2
        mean = np.array([getattr(self, name) for name in PARAMETERS])
        cov = np.asarray(self.covariance)
        draws = np.random.default_rng(seed).multivariate_normal(mean, cov, size=count, method="eigh")
        draws[:, 0] = np.maximum(draws[:, 0], 0.0)  # Ea >= 0
        draws[:, 1] = np.maximum(draws[:, 1], 0.0)
        return [dataclasses.replace(self, **dict(zip(PARAMETERS, row)), covariance=()) for row in draws]

    def spread_interval(self, resistance, t_s, temp_c, *, t_before_s: float = 0.0, read_noise: float = 0.0,
                        level: float = 0.95, draws: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """`level` band of the predicted spread from the parameters' covariance (their
        uncertainty only): of ln R after t_s at temp_c (`spread`), or with `t_before_s` and
        `read_noise` of the pair change from a read at t_before_s (`pair_change`)."""
        values = np.array([m.pair_change(resistance, t_before_s, t_s, temp_c, read_noise)[1]
                           for m in self._draws(draws, seed)])
        tail = 100 * (1 - level) / 2
        return np.percentile(values, tail, axis=0), np.percentile(values, 100 - tail, axis=0)

    # -- files
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["covariance"] = [list(row) for row in self.covariance]
        data["intervals"] = {k: list(v) for k, v in self.intervals.items()}
        data["data_span"] = dict(self.data_span)
        data["fixed"] = dict(self.fixed)
        data["equations"] = ("ln R(t) = ln R0 + (m0 + m1 x + m2 x^2) w + exp(s0 + s1 x + s2 x^2) w Z; "
                             "x = ln(R0/reference_ohm); w = (t_eq/time_unit_s)^time_exponent; "
                             "t_eq = t exp(activation_energy_ev/k (1/T_ref - 1/T))")
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RelaxationModel":
        try:
            fields = {f.name for f in dataclasses.fields(cls)}
            values = {k: v for k, v in data.items() if k in fields}
            values["covariance"] = tuple(tuple(float(x) for x in row) for row in data.get("covariance", ()))
            values["intervals"] = {k: (float(v[0]), float(v[1])) for k, v in (data.get("intervals") or {}).items()}
            return cls(**values)
        except (TypeError, ValueError, IndexError) as error:
            raise RelaxationError(f"malformed relaxation model: {error}") from None

    def describe(self) -> str:
        fixed = f" ({'; '.join(f'{k} {v}' for k, v in self.fixed.items())})" if self.fixed else ""
        return (f"relaxation: power law in time, alpha {self.time_exponent:.3g}, Ea {self.activation_energy_ev:.3g} eV, "
                f"spread after 1 h at {self.reference_temp_c:g} C {math.exp(self.s0):.3g} at 10 kohm{fixed}; {self.source}")


# ---------------------------------------------------------------------------- relaxed states


def relax_state(model: Any, relaxation: RelaxationModel, t_s: float, temp_c: float):
    """A state's resistance distribution (`device.distributions`) read t_s after programming
    at temp_c: each lognormal (component) keeps its form, its median moved by m(x) w and its
    sigma widened to sqrt(sigma^2 + s(x)^2 w^2), with x at that (component's) median. Exact
    for a narrow state; for a wide one the level dependence is taken at its median. t_s = 0
    returns the model itself."""
    from circuitkit.device.distributions import Lognormal, LognormalMixture

    if t_s == 0:
        return model

    def moved(mu: float, sigma: float) -> tuple[float, float]:
        median = math.exp(mu)
        shift = float(relaxation.median_shift(median, t_s, temp_c))
        width = float(relaxation.spread(median, t_s, temp_c))
        return mu + shift, math.hypot(sigma, width)

    if isinstance(model, Lognormal):
        mu, sigma = moved(model.mu, model.sigma)
        return Lognormal(mu, sigma, model.samples, model.data_range)
    if isinstance(model, LognormalMixture):
        parts = [moved(mu, sigma) for mu, sigma in zip(model.mus, model.sigmas)]
        return LognormalMixture(model.weights, tuple(p[0] for p in parts), tuple(p[1] for p in parts),
                                model.samples, model.data_range)
    raise RelaxationError(f"a {getattr(model, 'kind', type(model).__name__)} state cannot be relaxed (only lognormal "
                          "and lognormal-mixture states): use the card's lognormal summary or its mixture")


# ---------------------------------------------------------------------------- the fit


@dataclasses.dataclass(frozen=True)
class RetentionPairs:
    """Before/after reads of cells: the before read `t_before_s` after programming (at the
    reference temperature), the after read `duration_s` later spent at `temp_c`. `group`
    tells files (or conditions) apart for the unrelated-pair fraction."""

    r_before: np.ndarray
    r_after: np.ndarray
    duration_s: np.ndarray
    temp_c: np.ndarray
    t_before_s: np.ndarray
    group: np.ndarray
    group_names: tuple[str, ...]
    cell: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.r_before)

    def rows(self, selection: np.ndarray) -> "RetentionPairs":
        pick = lambda x: None if x is None else x[selection]  # noqa: E731
        return dataclasses.replace(self, r_before=self.r_before[selection], r_after=self.r_after[selection],
                                   duration_s=self.duration_s[selection], temp_c=self.temp_c[selection],
                                   t_before_s=self.t_before_s[selection], group=self.group[selection],
                                   cell=pick(self.cell))

    @property
    def conditions(self) -> list[tuple[float, float, float]]:
        """Distinct (temperature, duration, before time)."""
        return sorted(set(zip(self.temp_c.tolist(), self.duration_s.tolist(), self.t_before_s.tolist())))


def identification(pairs: RetentionPairs) -> dict[str, bool]:
    """Which of alpha and Ea these pairs can determine (module docstring)."""
    by_temp: dict[float, set] = {}
    for temp, duration, before in pairs.conditions:
        by_temp.setdefault(temp, set()).add((duration, before))
    alpha = any(len(times) >= 2 for times in by_temp.values())
    return {"time_exponent": alpha, "activation_energy_ev": alpha and len(by_temp) >= 2,
            "alpha_times_ea": len(by_temp) >= 2}


_BOUNDS = {"activation_energy_ev": (0.0, 3.0), "time_exponent": (0.005, 1.5), "m0": (-5, 5), "m1": (-5, 5),
           "m2": (-5, 5), "s0": (-12, 3), "s1": (-6, 6), "s2": (-6, 6)}
_OUTLIER = ("unrelated_mean", "unrelated_log_sigma")
# Unrelated pairs change ln R by more than this (sigma): the after read has nothing to do with
# the before read. It keeps the two components from swapping roles; a relaxation spread
# this wide would leave no state distinguishable anyway.
UNRELATED_MIN_SIGMA = 1.0


class _Likelihood:
    """Negative log-likelihood of the pairs under the model plus an unrelated-pair component per group."""

    def __init__(self, pairs: RetentionPairs, reference_temp_c: float, read_noise: float = 0.0):
        self.pairs = pairs
        self.read_noise_var = 2.0 * read_noise ** 2  # both reads of a pair carry it
        self.d = np.log(pairs.r_after / pairs.r_before)
        self.x = np.log(pairs.r_before / REFERENCE_OHM)
        self.inv_t = 1.0 / (pairs.temp_c + 273.15) - 1.0 / (reference_temp_c + 273.15)
        self.groups = len(pairs.group_names)

    def _parts(self, theta: Mapping[str, float]) -> dict[str, Any]:
        p = self.pairs
        factor = np.exp(-theta["activation_energy_ev"] / BOLTZMANN_EV * self.inv_t)
        alpha = theta["time_exponent"]
        t_a = p.t_before_s + p.duration_s * factor
        w_b = np.power(p.t_before_s / TIME_UNIT_S, alpha)
        w_a = np.power(t_a / TIME_UNIT_S, alpha)
        x = self.x
        drift = theta["m0"] + theta["m1"] * x + theta["m2"] * x * x
        mean = drift * (w_a - w_b)
        log_s = theta["s0"] + theta["s1"] * x + theta["s2"] * x * x
        capped = log_s > 5.0
        s2 = np.exp(2 * np.minimum(log_s, 5.0))
        growth = w_a * w_a - w_b * w_b
        clamped = growth < 1e-12
        var = s2 * np.maximum(growth, 1e-12) + 1e-10 + self.read_noise_var
        relax = -0.5 * (self.d - mean) ** 2 / var - 0.5 * np.log(2 * math.pi * var)
        sd_o = math.exp(theta["unrelated_log_sigma"])
        unrelated = -0.5 * ((self.d - theta["unrelated_mean"]) / sd_o) ** 2 - math.log(sd_o) - 0.5 * math.log(2 * math.pi)
        return locals()

    def terms(self, theta: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """Per pair: log density as relaxation, log density as unrelated."""
        parts = self._parts(theta)
        return parts["relax"], parts["unrelated"]

    def _eps(self, theta: Mapping[str, float]) -> np.ndarray:
        eps = np.array([theta[f"unrelated_{g}"] for g in range(self.groups)])[self.pairs.group]
        return np.clip(eps, 1e-12, 1 - 1e-12)

    def nll_and_gradient(self, theta: Mapping[str, float], names: Sequence[str]) -> tuple[float, np.ndarray]:
        """-log L and its gradient with respect to `names` (analytic)."""
        q = self._parts(theta)
        eps = self._eps(theta)
        a, b = np.log1p(-eps) + q["relax"], np.log(eps) + q["unrelated"]
        total = np.logaddexp(a, b)
        value = -float(np.sum(total))
        if not np.isfinite(value):
            return 1e300, np.zeros(len(names))
        if not names:
            return value, np.zeros(0)
        r = np.exp(a - total)  # posterior of relaxation
        u = 1.0 - r
        x, d, mean, var = self.x, self.d, q["mean"], q["var"]
        da_dmean = (d - mean) / var
        da_dvar = 0.5 * ((d - mean) ** 2 / var ** 2 - 1.0 / var)
        w_a, w_b, alpha = q["w_a"], q["w_b"], q["alpha"]
        live = ~q["clamped"]
        dwa_dea = alpha * w_a / q["t_a"] * self.pairs.duration_s * q["factor"] * (-self.inv_t / BOLTZMANN_EV)
        with np.errstate(divide="ignore", invalid="ignore"):
            dwa_dalpha = np.where(w_a > 0, w_a * np.log(q["t_a"] / TIME_UNIT_S), 0.0)
            dwb_dalpha = np.where(w_b > 0, w_b * np.log(self.pairs.t_before_s / TIME_UNIT_S), 0.0)
        s2 = q["s2"]
        growth = np.maximum(q["growth"], 1e-12)
        sd_o = math.exp(theta["unrelated_log_sigma"])
        z_o = (d - theta["unrelated_mean"]) / sd_o
        grad = []
        for name in names:
            if name == "activation_energy_ev":
                da = da_dmean * q["drift"] * dwa_dea + da_dvar * s2 * 2 * w_a * dwa_dea * live
            elif name == "time_exponent":
                da = (da_dmean * q["drift"] * (dwa_dalpha - dwb_dalpha)
                      + da_dvar * s2 * 2 * (w_a * dwa_dalpha - w_b * dwb_dalpha) * live)
            elif name in ("m0", "m1", "m2"):
                da = da_dmean * x ** int(name[1]) * (w_a - w_b)
            elif name in ("s0", "s1", "s2"):
                da = da_dvar * 2 * s2 * growth * x ** int(name[1]) * ~q["capped"]
            elif name == "unrelated_mean":
                grad.append(-float(np.sum(u * z_o / sd_o)))
                continue
            elif name == "unrelated_log_sigma":
                grad.append(-float(np.sum(u * (z_o ** 2 - 1.0))))
                continue
            else:  # unrelated_<g>
                g = int(name.rsplit("_", 1)[1])
                sel = self.pairs.group == g
                grad.append(-float(np.sum(u[sel] / eps[sel] - r[sel] / (1 - eps[sel]))))
                continue
            grad.append(-float(np.sum(r * da)))
        return value, np.array(grad)

    def unrelated_probability(self, theta: Mapping[str, float]) -> np.ndarray:
        relax, unrelated = self.terms(theta)
        eps = self._eps(theta)
        a, b = np.log1p(-eps) + relax, np.log(eps) + unrelated
        return np.exp(b - np.logaddexp(a, b))


def _robust_start(pairs: RetentionPairs) -> dict[str, float]:
    d = np.log(pairs.r_after / pairs.r_before)
    x = np.log(pairs.r_before / REFERENCE_OHM)
    med = float(np.median(d))
    mad = float(1.4826 * np.median(np.abs(d - med))) or 0.05
    # Quadratic in x of the log of the binned robust spread: the start of s(x).
    edges = np.unique(np.percentile(x, np.linspace(0, 100, 9)))
    centres, widths = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (x >= lo) & (x <= hi)
        if sel.sum() >= 10:
            q = np.percentile(d[sel], [25, 75])
            centres.append(float(np.median(x[sel])))
            widths.append(max(float(q[1] - q[0]) / 1.349, 1e-4))
    if len(centres) >= 3:
        s2, s1, s0 = np.polyfit(centres, np.log(widths), 2)
    else:
        s0, s1, s2 = math.log(mad), 0.0, 0.0
    return {"m0": med, "m1": 0.0, "m2": 0.0, "s0": float(np.clip(s0, -11, 2)), "s1": float(np.clip(s1, -5, 5)),
            "s2": float(np.clip(s2, -5, 5)), "unrelated_mean": med, "unrelated_log_sigma": math.log(max(3 * mad, 2 * UNRELATED_MIN_SIGMA))}


@dataclasses.dataclass
class RelaxationFit:
    """What `fit_relaxation` found: the model, the unrelated-pair fractions, flags, and the
    numbers the report shows."""

    model: RelaxationModel
    parameters: dict[str, dict[str, Any]]
    unrelated: dict[str, dict[str, Any]]
    flags: list[dict[str, str]]
    settings: dict[str, Any]
    log_likelihood: float
    pairs: int
    unrelated_probability: np.ndarray


def fit_relaxation(pairs: RetentionPairs, *, time_exponent: float | None = None,
                   activation_energy_ev: float | None = None, reference_temp_c: float = T_REF_C,
                   profile: bool = True, source: str = "fitted", read_noise: float = 0.0) -> RelaxationFit:
    """Maximum-likelihood fit of `RelaxationModel` to before/after pairs (module docstring).

    `time_exponent`, `activation_energy_ev`: hold that parameter at the value given (else
    fitted where the data identify it; alpha held at `ASSUMED_TIME_EXPONENT` and flagged
    where they do not). `profile`: a profile-likelihood interval for Ea. `read_noise`: sigma of
    ln R of one read (e.g. from a time series, `read_noise_and_relaxation`), taken out of the
    spread (0: the fitted spread includes the read noise of both reads).
    """
    if len(pairs) < 10:
        raise RelaxationError(f"a relaxation fit needs at least 10 before/after pairs, got {len(pairs)}")
    ident = identification(pairs)
    flags: list[dict[str, str]] = []
    fixed: dict[str, str] = {}
    held: dict[str, float] = {}
    if time_exponent is not None:
        held["time_exponent"], fixed["time_exponent"] = float(time_exponent), f"held at {time_exponent:g} (given)"
    elif not ident["time_exponent"]:
        held["time_exponent"] = ASSUMED_TIME_EXPONENT
        fixed["time_exponent"] = f"held at {ASSUMED_TIME_EXPONENT:g}: {ASSUMED_SOURCE}"
        flags.append({"what": "time_exponent", "problem": "assumed",
                      "message": f"time exponent alpha held at {ASSUMED_TIME_EXPONENT:g}, an assumption: "
                      f"{ASSUMED_SOURCE}; times other than the bakes' are extrapolated with it"})
    if activation_energy_ev is not None:
        held["activation_energy_ev"] = float(activation_energy_ev)
        fixed["activation_energy_ev"] = f"held at {activation_energy_ev:g} eV (given)"
    elif not ident["alpha_times_ea"]:
        held["activation_energy_ev"] = 0.0
        fixed["activation_energy_ev"] = "held at 0 eV: the data hold one temperature, so nothing measures an acceleration"
        flags.append({"what": "activation_energy_ev", "problem": "not_identified",
                      "message": "one temperature only: the activation energy is not measured (held at 0 eV, no "
                      "acceleration); other temperatures are extrapolated"})
    elif not ident["activation_energy_ev"] and time_exponent is None:
        flags.append({"what": "activation_energy_ev", "problem": "conditional",
                      "message": "two temperatures with one bake duration each identify only alpha x Ea: the activation "
                      "energy and its interval hold only for the assumed time exponent"})

    likelihood = _Likelihood(pairs, reference_temp_c, read_noise)
    start = _robust_start(pairs) | {"activation_energy_ev": 0.5, "time_exponent": 0.3}
    groups = len(pairs.group_names)
    names = [n for n in PARAMETERS if n not in held] + list(_OUTLIER) + [f"unrelated_{g}" for g in range(groups)]
    bounds = [_BOUNDS.get(n, (-10.0, 10.0) if n == "unrelated_mean" else (math.log(UNRELATED_MIN_SIGMA), math.log(20.0))
                          if n == "unrelated_log_sigma" else (0.0, 0.99)) for n in names]

    def theta_of(vector: np.ndarray, extra: Mapping[str, float]) -> dict[str, float]:
        return dict(zip(names_now, vector)) | held | dict(extra)

    def solve(extra: Mapping[str, float], x0: Mapping[str, float]) -> tuple[np.ndarray, float, Any]:
        nonlocal names_now
        names_now = [n for n in names if n not in extra]
        b = [bounds[names.index(n)] for n in names_now]
        v0 = np.array([np.clip(x0.get(n, 0.02), *bounds[names.index(n)]) for n in names_now], dtype=float)
        scale = len(pairs)
        def objective(v: np.ndarray) -> tuple[float, np.ndarray]:
            value, gradient = likelihood.nll_and_gradient(theta_of(v, extra), names_now)
            return value / scale, gradient / scale

        result = optimize.minimize(objective, v0, jac=True, method="L-BFGS-B", bounds=b,
                                   options={"maxiter": 5000, "maxfun": 20000})
        return result.x, result.fun * scale, result

    names_now = names
    start = start | {f"unrelated_{g}": 0.05 for g in range(groups)}
    best = None
    # Two starts for Ea (the product alpha Ea may make the likelihood flat in it).
    for ea0 in ((0.3, 1.0) if "activation_energy_ev" not in held else (None,)):
        x0 = start | ({"activation_energy_ev": ea0} if ea0 is not None else {})
        vector, value, result = solve({}, x0)
        if best is None or value < best[1]:
            best = (vector, value, result)
    vector, nll, result = best
    theta = theta_of(vector, {})
    if not result.success:
        flags.append({"what": "optimizer", "problem": "not_converged",
                      "message": f"the optimiser did not converge ({result.message}): the model is the last point reached"})

    # Observed information by central differences (in the fit's own coordinates).
    hessian = _hessian(lambda v: likelihood.nll_and_gradient(theta_of(v, {}), names)[1], vector, bounds)
    try:
        covariance = np.linalg.pinv(hessian, rcond=1e-12)
        # Nearest positive semi-definite matrix (round-off at parameters the data hardly see).
        values, vectors = np.linalg.eigh(0.5 * (covariance + covariance.T))
        covariance = (vectors * np.clip(values, 0.0, None)) @ vectors.T
        stderr = np.sqrt(np.clip(np.diag(covariance), 0, None))
    except np.linalg.LinAlgError:
        covariance, stderr = np.full_like(hessian, np.nan), np.full(len(vector), np.nan)
    rows: dict[str, dict[str, Any]] = {}
    z = stats.norm.ppf(0.975)
    for k, name in enumerate(names):
        at_bound = min(abs(vector[k] - bounds[k][0]), abs(vector[k] - bounds[k][1])) <= 1e-4 * (bounds[k][1] - bounds[k][0])
        err = float(stderr[k]) if np.isfinite(stderr[k]) and not at_bound else None
        rows[name] = {"value": float(vector[k]), "stderr": err, "vary": True, "bounds": list(bounds[k]),
                      "ci95": [float(vector[k] - z * err), float(vector[k] + z * err)] if err is not None else None,
                      "interval": "Wald (observed information)" if err is not None else None}
        if at_bound and name in PARAMETERS and name != "activation_energy_ev":
            flags.append({"what": name, "problem": "at_bound",
                          "message": f"{name} = {vector[k]:.4g} sits at a bound of its range {list(bounds[k])}"})
    for name, value in held.items():
        rows[name] = {"value": value, "stderr": None, "vary": False, "held": fixed[name]}
    if "activation_energy_ev" not in held and profile:
        rows["activation_energy_ev"] |= _profile_interval(solve, theta, nll, names)
    names_now = names
    intervals = {name: tuple(row["ci95"]) for name, row in rows.items() if row.get("ci95")}
    full_cov = np.zeros((len(PARAMETERS), len(PARAMETERS)))
    index = {n: k for k, n in enumerate(names)}
    for i, a in enumerate(PARAMETERS):
        for j, b in enumerate(PARAMETERS):
            if a in index and b in index and np.isfinite(covariance[index[a], index[b]]):
                full_cov[i, j] = covariance[index[a], index[b]]
    equivalent = pairs.t_before_s + pairs.duration_s * acceleration(pairs.temp_c, theta["activation_energy_ev"],
                                                                    reference_temp_c)
    span = {"equivalent_time_s": [float(equivalent.min()), float(equivalent.max())],
            "temperatures_c": sorted(set(pairs.temp_c.tolist())),
            "durations_s": sorted(set(pairs.duration_s.tolist())),
            "resistance_ohm": [float(pairs.r_before.min()), float(pairs.r_before.max())],
            "pairs": len(pairs)}
    model = RelaxationModel(**{n: float(theta[n]) for n in PARAMETERS}, reference_temp_c=reference_temp_c,
                            covariance=tuple(tuple(float(v) for v in row) for row in full_cov),
                            intervals=intervals, data_span=span, fixed=fixed, source=source)
    unrelated_p = likelihood.unrelated_probability(theta)
    unrelated = {}
    for g, group_name in enumerate(pairs.group_names):
        sel = pairs.group == g
        row = rows[f"unrelated_{g}"]
        unrelated[group_name] = {"fraction": row["value"], "ci95": row.get("ci95"), "pairs": int(sel.sum()),
                                 "pairs_more_likely_unrelated": int(np.sum(unrelated_p[sel] > 0.5))}
        if row["value"] > 0.01:
            flags.append({"what": group_name, "problem": "unrelated_pairs",
                          "message": f"{group_name}: {row['value']:.1%} of its before/after pairs are unrelated (the "
                          "after read does not follow the before read: a failed read or mis-addressed cells, not "
                          "relaxation); left out of the relaxation by the mixture"})
    settings = {"model": RelaxationModel.to_dict(model)["equations"] + "; plus a per-file fraction of unrelated pairs, "
                "ln(R_after/R_before) ~ N(mean, sigma) shared", "identified": ident, "fixed": fixed,
                "reference_temp_c": reference_temp_c, "time_unit_s": TIME_UNIT_S, "reference_ohm": REFERENCE_OHM,
                "read_noise_sigma_ln": read_noise,
                "confidence": "95 %: Wald from the observed information; Ea: profile likelihood",
                "optimizer": {"success": bool(result.success), "message": str(result.message),
                              "evaluations": int(result.nfev)}}
    return RelaxationFit(model=model, parameters=rows, unrelated=unrelated, flags=flags, settings=settings,
                         log_likelihood=-nll, pairs=len(pairs), unrelated_probability=unrelated_p)


def _hessian(gradient, x: np.ndarray, bounds: Sequence[tuple[float, float]]) -> np.ndarray:
    """Central differences of the analytic gradient (stepping inward at a bound), symmetrised."""
    n = len(x)
    h = np.array([1e-5 * max(1.0, abs(v)) for v in x])
    centre = np.array([min(max(v, lo + 2 * s), hi - 2 * s) for v, (lo, hi), s in zip(x, bounds, h)])
    out = np.zeros((n, n))
    for i in range(n):
        step = np.zeros(n)
        step[i] = h[i]
        out[i] = (gradient(centre + step) - gradient(centre - step)) / (2 * h[i])
    return 0.5 * (out + out.T)


def _profile_interval(solve, theta: Mapping[str, float], nll: float, names: Sequence[str]) -> dict[str, Any]:
    """95 % profile-likelihood interval of Ea: every other parameter re-fitted on a grid."""
    best = theta["activation_energy_ev"]
    limit = stats.chi2.ppf(0.95, 1) / 2
    lo_bound, hi_bound = _BOUNDS["activation_energy_ev"]

    def excess(ea: float) -> float:
        _, value, _ = solve({"activation_energy_ev": ea}, dict(theta))
        return value - nll - limit

    ends = []
    for direction, edge in ((-1, lo_bound), (1, hi_bound)):
        step, inner, found = 0.05, best, None
        while True:
            outer = min(max(inner + direction * step, lo_bound), hi_bound)
            if outer == inner:
                break
            if excess(outer) > 0:
                found = optimize.brentq(excess, min(inner, outer), max(inner, outer), xtol=2e-3)
                break
            inner, step = outer, step * 2
        ends.append(found if found is not None else edge)
    return {"ci95": [float(ends[0]), float(ends[1])], "interval": "profile likelihood (2 delta log L <= 3.84)",
            "ci95_reaches_bound": [ends[0] == lo_bound, ends[1] == hi_bound]}


def read_noise_and_relaxation(time_s: np.ndarray, resistance: np.ndarray) -> dict[str, float]:
    """One cell read many times: its read noise (sigma of ln R between consecutive reads / sqrt 2,
    robust), against its net drift over the series (median ln R of the last tenth minus the first
    tenth), both in ln R."""
    order = np.argsort(time_s)
    ln_r = np.log(np.asarray(resistance, dtype=float)[order])
    t = np.asarray(time_s, dtype=float)[order]
    step = np.diff(ln_r)
    noise = float(1.4826 * np.median(np.abs(step - np.median(step))) / math.sqrt(2))
    tenth = max(len(ln_r) // 10, 1)
    return {"reads": int(len(ln_r)), "span_s": float(t[-1] - t[0]), "median_ohm": float(np.exp(np.median(ln_r))),
            "read_noise_sigma_ln": noise, "net_drift_ln": float(np.median(ln_r[-tenth:]) - np.median(ln_r[:tenth])),
            "sigma_ln_over_series": float(np.std(ln_r, ddof=1))}


def predictive_coverage(model: RelaxationModel, pairs: RetentionPairs, keep: np.ndarray,
                        quantiles: tuple[float, float] = (0.1, 0.9), read_noise: float = 0.0) -> dict[str, Any]:
    """Fraction of pairs (`keep`: those not judged unrelated) whose ln(R_after/R_before) falls in the
    model's central predictive interval, with a Clopper-Pearson 95 % interval."""
    from circuitkit.stats import binomial_interval

    p = pairs.rows(keep)
    mean, sd = model.pair_change(p.r_before, p.t_before_s, p.duration_s, p.temp_c, read_noise)
    d = np.log(p.r_after / p.r_before)
    lo, hi = mean + sd * special.ndtri(quantiles[0]), mean + sd * special.ndtri(quantiles[1])
    inside = int(np.sum((d >= lo) & (d <= hi)))
    interval = binomial_interval(inside, len(p))
    return {"target": quantiles[1] - quantiles[0], "coverage": interval.estimate, "ci95": [interval.low, interval.high],
            "pairs": len(p)}


# ---------------------------------------------------------------------------- from files to a card

SERIES_READS = 100  # a cell read this often is a time series of its read noise: analysed apart, not fitted


def pairs_from_tables(tables: Sequence[Any], runs: Sequence[str] | None = None
                      ) -> tuple[RetentionPairs | None, dict[str, Any]]:
    """Before/after pairs from retention tables (`measurements.RetentionTable`), and what was
    set apart. Pair files give their pairs; series files are joined by (run, address): a
    cell's earliest read is its before read, each later read an after read whose time since
    the first was spent at that read's temperature. `runs`: one label per file (files of
    one run hold reads of the same cells, e.g. a pre-bake and a post-bake file); default:
    one run. Cells read >= SERIES_READS times are set apart (`read_noise_and_relaxation`);
    files of such cells only give no pairs (None)."""
    if runs is not None and len(runs) not in (1, len(tables)):
        raise RelaxationError(f"--runs: give one label per file ({len(tables)}) or one for all, got {len(runs)}")
    labels = [runs[k] if runs and len(runs) == len(tables) else (runs[0] if runs else "run") for k in range(len(tables))]
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("rb", "ra", "dur", "temp", "tb", "group", "cell")}
    names: list[str] = []

    def add(rb, ra, dur, temp, tb, name, cell):
        if name not in names:
            names.append(name)
        for key, value in zip(("rb", "ra", "dur", "temp", "tb", "cell"), (rb, ra, dur, temp, tb, cell)):
            parts[key].append(np.asarray(value))
        parts["group"].append(np.full(len(rb), names.index(name)))

    series = {"run": [], "address": [], "time": [], "temp": [], "r": [], "tb": [], "file": []}
    for k, table in enumerate(tables):
        name = _file_name(table)
        if table.is_pairs:
            cell = table.address if table.address is not None else np.arange(len(table)).astype(str)
            add(table.r_before, table.resistance, table.time, table.temperature, table.time_before,
                f"{name} ({labels[k]})" if runs else name, np.char.add(f"{labels[k]}:", cell.astype(str)))
            continue
        address = table.address if table.address is not None else np.full(len(table), f"file{k}")
        series["run"].append(np.full(len(table), labels[k]))
        series["address"].append(address.astype(str))
        for key, value in (("time", table.time), ("temp", table.temperature), ("r", table.resistance),
                           ("tb", table.time_before), ("file", np.full(len(table), name))):
            series[key].append(np.asarray(value))
    apart: dict[str, Any] = {}
    if series["run"]:
        cat = {key: np.concatenate(value) for key, value in series.items()}
        key = np.char.add(np.char.add(cat["run"].astype(str), ":"), cat["address"])
        order = np.lexsort((cat["time"], key))
        key_sorted = key[order]
        starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
        counts = np.diff(np.r_[starts, len(order)])
        first = np.repeat(order[starts], counts)
        for cell_key, start, count in zip(key_sorted[starts], starts, counts):
            if count >= SERIES_READS:
                rows = order[start:start + count]
                apart[str(cell_key)] = read_noise_and_relaxation(cat["time"][rows], cat["r"][rows]) | {
                    "_time_s": cat["time"][rows], "_resistance": cat["r"][rows]}  # for the plot, not the report
        later = np.ones(len(order), bool)
        later[starts] = False
        busy = np.repeat(counts >= SERIES_READS, counts)
        use = later & ~busy
        rows, ref = order[use], first[use]
        if rows.size:
            groups = np.char.add(np.char.add(cat["run"][rows].astype(str), ": "), cat["file"][rows].astype(str))
            for group in dict.fromkeys(groups.tolist()):
                sel = groups == group
                r, f = rows[sel], ref[sel]
                add(cat["r"][f], cat["r"][r], cat["time"][r] - cat["time"][f], cat["temp"][r], cat["tb"][f], group,
                    key[r])
    if not parts["rb"] and apart:
        return None, apart
    if not parts["rb"]:
        raise RelaxationError("no before/after pairs: give pair files (with r_before), or series files whose cells "
                              "are read at least twice (the same address in one run)"
                              + (f"; {len(apart)} cell(s) read >= {SERIES_READS} times were analysed as time series "
                                 "only" if apart else ""))
    cat = {key: np.concatenate(value) for key, value in parts.items()}
    pairs = RetentionPairs(r_before=cat["rb"].astype(float), r_after=cat["ra"].astype(float),
                           duration_s=cat["dur"].astype(float), temp_c=cat["temp"].astype(float),
                           t_before_s=cat["tb"].astype(float), group=cat["group"].astype(int),
                           group_names=tuple(names), cell=cat["cell"].astype(str))
    return pairs, apart


def _file_name(table: Any) -> str:
    return str(getattr(table.source.path, "name", table.source.path))


def fit_retention(tables: Sequence[Any], *, runs: Sequence[str] | None = None, time_exponent: float | None = None,
                  activation_energy_ev: float | None = None, read_noise: float | None = None, holdout: float = 0.5,
                  seed: int = 1) -> tuple[RelaxationFit | None, RetentionPairs | None, dict[str, Any], list[str]]:
    """`circuitkit fit --kind retention` on retention tables: the relaxation fit, its pairs, the
    metrics and the summary sentences (`device.fit.fit_retention` puts them on a card). The fit
    is judged by cross-validation across cells: fitted on a random part of the cells, its
    central 80 % predictive interval of ln(R_after/R_before) is checked on the rest
    (`holdout`, the held-out fraction). Cells read as long time series give the read noise
    (`read_noise_and_relaxation`), which is then taken out of the spread unless `read_noise`
    is given; files of such cells only give that analysis and no model (fit None)."""
    pairs, apart = pairs_from_tables(tables, runs)
    series_lines = [f"time series {name}: {entry['reads']} reads over {entry['span_s']:.0f} s at "
                    f"{entry['median_ohm']:.4g} ohm: read noise {entry['read_noise_sigma_ln']:.4f} in ln R per read "
                    f"(consecutive reads), net drift {entry['net_drift_ln']:+.4f} in ln R over the series"
                    for name, entry in apart.items()]
    noise_origin = "given" if read_noise is not None else "none (the spread includes both reads' noise)"
    if read_noise is None and apart:
        read_noise = float(np.median([entry["read_noise_sigma_ln"] for entry in apart.values()]))
        noise_origin = f"median of the {len(apart)} time series' read noise"
    read_noise = float(read_noise or 0.0)
    metrics: dict[str, Any] = {"time_series": {name: {k: v for k, v in entry.items() if not k.startswith("_")}
                                               for name, entry in apart.items()},
                               "read_noise": {"sigma_ln": read_noise, "origin": noise_origin}}
    if pairs is None:
        return None, None, metrics | {"series": apart}, series_lines + [
            "no relaxation model: the files hold time series of single cells only (read noise against relaxation "
            "of those cells); the spread across cells needs before/after reads of many cells"]
    cells = np.unique(pairs.cell)
    if len(cells) < 10:
        raise RelaxationError(f"a relaxation fit needs at least 10 cells (the spread it fits is a spread across cells), "
                              f"got {len(cells)}")
    source = "fitted from " + " + ".join(_file_name(t) for t in tables)
    fit = fit_relaxation(pairs, time_exponent=time_exponent, activation_energy_ev=activation_energy_ev,
                         source=source, read_noise=read_noise)
    metrics |= {"pairs": len(pairs), "cells": int(len(cells)), "log_likelihood": fit.log_likelihood,
                "unrelated_pairs": fit.unrelated}
    if holdout > 0:
        rng = np.random.default_rng(seed)
        held = set(rng.choice(cells, size=max(1, int(round(holdout * len(cells)))), replace=False).tolist())
        test = np.isin(pairs.cell, list(held))
        train_fit = fit_relaxation(pairs.rows(~test), time_exponent=fit.model.time_exponent if "time_exponent" in
                                   fit.model.fixed else time_exponent, activation_energy_ev=activation_energy_ev,
                                   profile=False, read_noise=read_noise)
        test_pairs = pairs.rows(test)
        unrelated = _Likelihood(test_pairs, train_fit.model.reference_temp_c, read_noise).unrelated_probability(
            {**{n: getattr(train_fit.model, n) for n in PARAMETERS},
             **{k: v["value"] for k, v in train_fit.parameters.items() if k.startswith("unrelated")}})
        keep = unrelated < 0.5
        coverage = predictive_coverage(train_fit.model, test_pairs, keep, read_noise=read_noise)
        by_group = {}
        for g, name in enumerate(pairs.group_names):
            sel = keep & (test_pairs.group == g)
            if sel.sum() >= 10:
                by_group[name] = predictive_coverage(train_fit.model, test_pairs, sel, read_noise=read_noise)
        metrics["cross_validation"] = {"method": f"fitted on {len(cells) - len(held)} cells, judged on the other "
                                       f"{len(held)} (seed {seed}); pairs judged unrelated (p > 0.5) left out",
                                       "all": coverage, "by_file": by_group}
    model = fit.model
    summary = [model.describe(), f"{len(pairs)} pairs of {len(cells)} cells; temperatures "
               f"{', '.join(f'{t:g}' for t in model.data_span['temperatures_c'])} C, equivalent times "
               f"{format_duration(model.data_span['equivalent_time_s'][0])} .. "
               f"{format_duration(model.data_span['equivalent_time_s'][1])} at {model.reference_temp_c:g} C"]
    ea = fit.parameters["activation_energy_ev"]
    if ea.get("ci95"):
        summary.append(f"activation energy {ea['value']:.3g} eV, 95 % CI {ea['ci95'][0]:.3g} .. {ea['ci95'][1]:.3g} "
                       f"({ea.get('interval')})" + (f"; time exponent {model.fixed['time_exponent']}" if
                                                    "time_exponent" in model.fixed else ""))
    if "cross_validation" in metrics:
        c = metrics["cross_validation"]["all"]
        summary.append(f"held-out cells: {c['coverage']:.1%} of pairs inside the 10-90 % predictive interval "
                       f"(95 % CI {c['ci95'][0]:.1%} .. {c['ci95'][1]:.1%}, {c['pairs']} pairs; target 80 %)")
    summary.append(f"read noise taken out of the spread: {read_noise:.4g} in ln R per read ({noise_origin})")
    return fit, pairs, metrics, summary + series_lines




# ---------------------------------------------------------------------------- reading later


@dataclasses.dataclass(frozen=True)
class RetentionRead:
    """Read the cells `read_after_s` after programming, the time spent at `temp_c`: the
    states a campaign draws are the relaxed ones (`corners.config.relax_device`). `relaxation` is the
    card's `RelaxationModel.to_dict()`, kept whole so that a campaign's settings say
    exactly which model moved its states."""

    read_after_s: float
    temp_c: float
    relaxation: Mapping[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "read_after_s", parse_duration(self.read_after_s))
        if not (isinstance(self.temp_c, (int, float)) and -273.15 < self.temp_c < 1000):
            raise RelaxationError(f"retention temperature {self.temp_c!r}: expected degrees Celsius")
        object.__setattr__(self, "temp_c", float(self.temp_c))
        self.model()  # malformed models fail here

    def model(self) -> RelaxationModel:
        return RelaxationModel.from_dict(self.relaxation)

    @property
    def label(self) -> str:
        return f"read {format_duration(self.read_after_s)} after programming at {self.temp_c:g} C"

    @property
    def extrapolation(self) -> str:
        """'' for a read at 0 s (the programmed states) or inside the data; else how far beyond."""
        return self.model().extrapolation(self.read_after_s, self.temp_c) if self.read_after_s > 0 else ""

    def to_dict(self) -> dict[str, Any]:
        return {"read_after_s": self.read_after_s, "temp_c": self.temp_c, "relaxation": dict(self.relaxation)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RetentionRead":
        try:
            return cls(data["read_after_s"], data["temp_c"], data["relaxation"])
        except (KeyError, TypeError) as error:
            raise RelaxationError(f"malformed retention read {dict(data)!r}: {error}") from None
