"""The sense amplifier's input-referred offset and the misread probabilities it implies:
the integral behind the rare-event (`offset`) bit-error rates.

A precharge sense amplifier decides +1 when the log resistance ratio
x = ln(R_BLb / R_BL) of the cell it reads exceeds its threshold x0 + sigma * Z: a
Gaussian input-referred offset in log-ratio units, measured by a campaign
(`corners.rare.fit_offset`) and held in an `OffsetFit`. With any programmed states,
P(read -1 | stored +1) = P(ln R_HRS < ln R_LRS + x0 + sigma Z), taken numerically in log
space (`misread_probability`). With lognormal programmed
states (`device.nonideality.ProgrammedStates`), a cell storing +1 has x ~ N(D, s^2) with
D = ln(HRS median / LRS median), s^2 = s_LRS^2 + s_HRS^2, so

    P(read -1 | stored +1) = Phi((x0 - D) / sqrt(s^2 + sigma^2))
    P(read +1 | stored -1) = Phi((-D - x0) / sqrt(s^2 + sigma^2))

exactly, however small (`error_probabilities`, with a delta-method interval); and one
amplifier whose own offset is o fails each cell it reads with
`conditional_error_probabilities` (their average over o is the same integral taken the
other way round).

A contract between two stages, like `ber_table`: the corners stage fits the offset and
writes these probabilities into its table; the inject stage places errors with them
(`inject.placement.ColumnOffsetErrors`). So it lives here, where both may use it, and
imports no stage.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy import special, stats

Z95 = stats.norm.ppf(0.975)


@dataclasses.dataclass(frozen=True)
class OffsetFit:
    """Probit fit of P(read +1 | x): threshold x0, spread sigma (log-ratio units)."""

    x0: float
    sigma: float
    covariance: np.ndarray   # of (x0, sigma)
    points: np.ndarray
    trials: np.ndarray
    read_plus: np.ndarray
    separated: bool          # no point with mixed outcomes: sigma is an upper bound
    # Separated fits: (x0 low, x0 high, sigma high), the box around the 95 % likelihood-ratio
    # region of (x0, sigma) (+-inf where the points do not bound it); covariance is NaN then.
    region: tuple[float, float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {"x0": self.x0, "sigma": self.sigma,
                "covariance": None if np.isnan(self.covariance).any() else self.covariance.tolist(),
                "points": self.points.tolist(), "trials": self.trials.tolist(),
                "read_plus": self.read_plus.tolist(), "separated": self.separated}
        if self.region is not None:
            data["region"] = list(self.region)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "OffsetFit":
        """Inverse of `to_dict` (extra keys, such as a campaign's condition, are ignored)."""
        covariance = np.full((2, 2), np.nan) if data["covariance"] is None else np.asarray(data["covariance"], float)
        region = data.get("region")
        return cls(float(data["x0"]), float(data["sigma"]), covariance,
                   np.asarray(data["points"], dtype=float), np.asarray(data["trials"], dtype=float),
                   np.asarray(data["read_plus"], dtype=float), bool(data["separated"]),
                   tuple(float(v) for v in region) if region is not None else None)


def _lognormal_states(states) -> tuple:
    """The (LRS, HRS) lognormals of a `ProgrammedStates`, or of a `DeviceNonideality`'s."""
    states = getattr(states, "states", states)
    return states.lognormal("lrs"), states.lognormal("hrs")


def _state_models(states) -> tuple:
    """The (LRS, HRS) resistance models of a `ProgrammedStates`, or of a `DeviceNonideality`'s."""
    states = getattr(states, "states", states)
    return states.state("lrs"), states.state("hrs")


def _all_lognormal(lrs, hrs) -> bool:
    return lrs.kind == "lognormal" and hrs.kind == "lognormal"


# Grids of the numerical integral (any distribution model): ln R_LRS over its central
# 1 - 2e-16, the amplifier's offset over +-12 sigma. What lies outside is < 2.2e-16 of
# probability, the floor below which a non-lognormal estimate is not resolved.
_LRS_TAIL = 1e-16
_LRS_NODES = 1601
_OFFSET_NODES = 481
_OFFSET_SPAN = 12.0
NUMERICAL_FLOOR = 2.2e-16


def _log_trapezoid(log_values: np.ndarray, step: float, axis: int) -> np.ndarray:
    """log of the trapezoid integral of exp(log_values) along `axis` (uniform step)."""
    weights = np.ones(log_values.shape[axis])
    weights[0] = weights[-1] = 0.5
    shape = [1] * log_values.ndim
    shape[axis] = -1
    return special.logsumexp(log_values + np.log(weights).reshape(shape), axis=axis) + math.log(step)


def _lrs_grid(lrs) -> tuple[np.ndarray, np.ndarray, float]:
    """The numerical integrals' nodes in ln R_LRS (its central 1 - 2 _LRS_TAIL), the LRS
    log-density there and the step."""
    ln_lrs = np.linspace(float(np.log(lrs.ppf(_LRS_TAIL))), float(np.log(lrs.isf(_LRS_TAIL))), _LRS_NODES)
    return ln_lrs, lrs.ln_logpdf(ln_lrs), float(ln_lrs[1] - ln_lrs[0])


def misread_probability(lrs, hrs, shift: float, sigma: float) -> float:
    """P(ln R_HRS < ln R_LRS + shift + sigma * Z), Z standard normal, for any resistance
    models of `device.distributions` (numerically, in log space: exact to ~1e-16 of
    probability, see NUMERICAL_FLOOR). A cell storing +1 is misread with shift = x0 (and
    -1 with shift = -x0): the amplifier decides +1 when ln(R_BLb/R_BL) > x0 + sigma * Z."""
    ln_lrs, log_density, step = _lrs_grid(lrs)
    if sigma > 0:
        z = np.linspace(-_OFFSET_SPAN, _OFFSET_SPAN, _OFFSET_NODES)
        threshold = ln_lrs[:, None] + shift + sigma * z[None, :]
        log_inner = _log_trapezoid(hrs.logcdf(np.exp(threshold)) + stats.norm.logpdf(z)[None, :], z[1] - z[0], axis=1)
    else:
        log_inner = hrs.logcdf(np.exp(ln_lrs + shift))
    log_probability = _log_trapezoid(log_density + log_inner, step, axis=0)
    return float(min(1.0, math.exp(float(log_probability))))


# Beyond this many offsets the numerical conditional rates are taken on a grid and
# interpolated in log probability (smooth in the shift).
_CONDITIONAL_GRID = 512


def conditional_misread_probabilities(lrs, hrs, shifts: np.ndarray) -> np.ndarray:
    """P(ln R_HRS < ln R_LRS + shift) for each shift (no amplifier spread: one amplifier's
    own offset is in the shift), any resistance models, numerically (`misread_probability`
    with sigma 0, vectorized over the shifts)."""
    shifts = np.asarray(shifts, dtype=np.float64)
    flat = shifts.reshape(-1)
    distinct = np.unique(flat)
    on_grid = distinct.size > _CONDITIONAL_GRID
    grid = np.linspace(flat.min(), flat.max(), _CONDITIONAL_GRID) if on_grid else distinct
    ln_lrs, log_density, step = _lrs_grid(lrs)
    log_rates = np.concatenate([
        _log_trapezoid(log_density[:, None] + hrs.logcdf(np.exp(ln_lrs[:, None] + chunk[None, :])), step, axis=0)
        for chunk in np.array_split(grid, max(1, grid.size // 256))])
    values = np.interp(flat, grid, log_rates) if on_grid else log_rates[np.searchsorted(grid, flat)]
    return np.minimum(np.exp(values), 1.0).reshape(shifts.shape)


def _misread_estimates(x0: float, sigma: float, lrs, hrs, log_ratio_scale: float) -> dict[int, float]:
    """P(misread | stored) for stored +1, -1 at (x0, sigma), any state models. A
    `log_ratio_scale` < 1 shifts the log ratio the amplifier sees towards zero by
    (1 - scale) * D, D = ln(HRS median / LRS median)."""
    if _all_lognormal(lrs, hrs) and lrs.sigma ** 2 + hrs.sigma ** 2 + sigma ** 2 > 0:
        total = math.sqrt(lrs.sigma ** 2 + hrs.sigma ** 2 + sigma ** 2)
        difference = log_ratio_scale * (hrs.mu - lrs.mu)
        return {+1: float(special.ndtr((x0 - difference) / total)), -1: float(special.ndtr((-difference - x0) / total))}
    shrink = (1.0 - log_ratio_scale) * math.log(hrs.median / lrs.median)
    return {+1: misread_probability(lrs, hrs, x0 + shrink, sigma), -1: misread_probability(lrs, hrs, -x0 + shrink, sigma)}


def error_probabilities(fit: OffsetFit, states, log_ratio_scale: float = 1.0) -> dict[int, tuple[float, float, float]]:
    """P(misread | stored) for stored +1 and -1: (estimate, ci_low, ci_high), over the
    programmed `states` (a `ProgrammedStates`, or a `DeviceNonideality`'s).

    Lognormal states: the closed form of the module docstring, whose interval propagates
    the probit fit's covariance and the states' sampling error (when fitted from cells).
    Any other model (mixture, empirical body with GPD tails): the same integral taken
    numerically (`misread_probability`), its interval propagating the probit fit's
    covariance only (the device model's own uncertainty is what the campaign's
    model-form sensitivity shows).

    `log_ratio_scale` < 1 shrinks the median log ratio D the amplifier sees (a cell far
    along resistive wires: `position_rates` sets it from the ngspice margins)."""
    lrs_model, hrs_model = _state_models(states)
    if fit.separated and fit.region is not None:
        return _separated_error_probabilities(fit, lrs_model, hrs_model, log_ratio_scale)
    if not _all_lognormal(lrs_model, hrs_model):
        return _numerical_error_probabilities(fit, lrs_model, hrs_model, log_ratio_scale)
    lrs, hrs = _lognormal_states(states)
    # Parameters and their variances: x0, sigma from the fit; medians and sigmas of the
    # lognormal states from their sample counts (zero variance when given, not fitted).
    def variance_of(state) -> tuple[float, float]:
        if not state.samples:
            return 0.0, 0.0
        return state.sigma ** 2 / state.samples, state.sigma ** 2 / (2 * state.samples)

    var_mu_l, var_s_l = variance_of(lrs)
    var_mu_h, var_s_h = variance_of(hrs)
    theta = np.array([fit.x0, fit.sigma, lrs.mu, hrs.mu, lrs.sigma, hrs.sigma])
    covariance = np.zeros((6, 6))
    covariance[:2, :2] = fit.covariance
    covariance[2:, 2:] = np.diag([var_mu_l, var_mu_h, var_s_l, var_s_h])

    def argument(parameters: np.ndarray, stored: int) -> float:
        x0, sigma, mu_l, mu_h, s_l, s_h = parameters
        spread_total = math.sqrt(s_l ** 2 + s_h ** 2 + sigma ** 2)
        difference = log_ratio_scale * (mu_h - mu_l)
        return ((x0 - difference) if stored == +1 else (-difference - x0)) / spread_total

    results = {}
    for stored in (+1, -1):
        centre = argument(theta, stored)
        gradient = np.zeros(6)
        for index in range(6):
            step = 1e-6 * max(1.0, abs(theta[index]))
            shifted = theta.copy()
            shifted[index] += step
            gradient[index] = (argument(shifted, stored) - centre) / step
        standard_error = math.sqrt(max(float(gradient @ covariance @ gradient), 0.0))
        results[stored] = (float(special.ndtr(centre)), float(special.ndtr(centre - Z95 * standard_error)),
                           float(special.ndtr(centre + Z95 * standard_error)))
    return results


def _numerical_error_probabilities(fit: OffsetFit, lrs, hrs, log_ratio_scale: float) -> dict[int, tuple[float, float, float]]:
    """`error_probabilities` for any state models: delta method on probit(P) over (x0, sigma)."""
    theta = np.array([fit.x0, fit.sigma])
    centre = _misread_estimates(fit.x0, fit.sigma, lrs, hrs, log_ratio_scale)
    gradients = {stored: np.zeros(2) for stored in centre}
    for index in range(2):
        step = 1e-4 * max(0.1, abs(theta[index]))
        shifted = theta.copy()
        shifted[index] += step
        moved = _misread_estimates(shifted[0], shifted[1], lrs, hrs, log_ratio_scale)
        for stored in centre:
            gradients[stored][index] = (special.ndtri(moved[stored]) - special.ndtri(centre[stored])) / step
    results = {}
    for stored in (+1, -1):
        probit = float(special.ndtri(centre[stored]))
        if not math.isfinite(probit):   # below the integral's floor (or certain): no width to propagate
            results[stored] = (centre[stored], 0.0 if centre[stored] < 0.5 else centre[stored],
                               NUMERICAL_FLOOR if centre[stored] < 0.5 else 1.0)
            continue
        standard_error = math.sqrt(max(float(gradients[stored] @ fit.covariance @ gradients[stored]), 0.0))
        results[stored] = (centre[stored], float(special.ndtr(probit - Z95 * standard_error)),
                           float(special.ndtr(probit + Z95 * standard_error)))
    return results


def _separated_error_probabilities(fit: OffsetFit, lrs, hrs, log_ratio_scale: float) -> dict[int, tuple[float, float, float]]:
    """A separated offset fit (no sigma resolved): the estimate at the likelihood's
    maximum (sigma -> 0, x0 in the middle of the bracket) and the interval over the box of
    the 95 % region: the misread rates grow with x0 (stored +1) or -x0 (stored -1) and,
    below one half, with sigma, so the box's corners bound them."""
    x0_low, x0_high, sigma_high = fit.region

    def rate(stored: int, x0: float, sigma: float) -> float:
        if not (math.isfinite(x0) and math.isfinite(sigma)):
            return 1.0 if (x0 * stored > 0 or not math.isfinite(sigma)) else 0.0
        return _misread_estimates(x0, sigma, lrs, hrs, log_ratio_scale)[stored]

    estimate = _misread_estimates(fit.x0, 0.0, lrs, hrs, log_ratio_scale)
    results = {}
    for stored, (towards, away) in ((+1, (x0_high, x0_low)), (-1, (x0_low, x0_high))):
        low, high = rate(stored, away, 0.0), rate(stored, towards, sigma_high)
        results[stored] = (min(max(estimate[stored], low), high), low, high)
    return results


def conditional_error_probabilities(fit: OffsetFit, states, offsets: np.ndarray) -> dict[int, np.ndarray]:
    """P(misread | stored, o) for sense amplifiers whose own input-referred offset is o
    (log-ratio units; across amplifiers o ~ N(0, fit.sigma^2) around the threshold fit.x0),
    over the lognormal `states` (a `ProgrammedStates`, or a `DeviceNonideality`'s).

    One amplifier decides +1 when x > x0 + o, and over the cells it reads x ~ N(+-D, s^2)
    (s^2 = s_LRS^2 + s_HRS^2), so

        P(read -1 | stored +1, o) = Phi((x0 + o - D) / s)
        P(read +1 | stored -1, o) = Phi((-D - x0 - o) / s)

    Averaged over o these are the estimates of `error_probabilities`; a whole column read
    by a weak amplifier fails together. With s = 0 (no device spread) an amplifier fails
    always or never. States of any other model (mixture, empirical with GPD tails): the
    same probabilities numerically (`conditional_misread_probabilities`).
    """
    offsets = np.asarray(offsets, dtype=np.float64)
    lrs_model, hrs_model = _state_models(states)
    if not _all_lognormal(lrs_model, hrs_model):
        return {stored: conditional_misread_probabilities(lrs_model, hrs_model, stored * (fit.x0 + offsets))
                for stored in (+1, -1)}
    lrs, hrs = _lognormal_states(states)
    difference = hrs.mu - lrs.mu
    s = math.hypot(lrs.sigma, hrs.sigma)
    margin = {+1: fit.x0 + offsets - difference, -1: -difference - fit.x0 - offsets}
    if s == 0:
        return {stored: (value > 0).astype(np.float64) for stored, value in margin.items()}
    return {stored: special.ndtr(value / s) for stored, value in margin.items()}
