"""Rare-event bit-error rates from the sense amplifier's input-referred offset ("offset").

Brute-force Monte Carlo cannot see a BER of 1e-9. This method splits the read into the
two things that vary:

1. The sense amplifier (transistor mismatch, the PDK's own AGAUSS) decides +1 when the
   log resistance ratio x = ln(R_BLb / R_BL) exceeds its threshold x0 + sigma*Z: a
   Gaussian input-referred offset, in log-ratio units. It is *measured* by simulation:
   many mismatch samples read cells with fixed ratios exp(x_k) around zero, and a probit
   maximum-likelihood fit of P(read +1 | x) = Phi((x - x0) / sigma) gives x0 and sigma
   with their covariance.
2. The programmed resistances are lognormal (`DeviceSpread`), so for a cell storing +1
   x ~ N(D, s^2) with D = ln(HRS median / LRS median), s^2 = s_LRS^2 + s_HRS^2, and

       P(read -1 | stored +1) = Phi((x0 - D) / sqrt(s^2 + sigma^2))
       P(read +1 | stored -1) = Phi((-D - x0) / sqrt(s^2 + sigma^2))

   exactly, however small.

The fixed-ratio cells are placed at the most probable failure point: the pair (R_BL,
R_BLb) of highest joint density on the line ln R_BLb - ln R_BL = x, so the absolute
resistance level the amplifier sees is the one at which errors really happen.

Assumptions (checked against brute-force Monte Carlo by tests/test_corners.py at a
condition with a measurable BER): the amplifier's decision depends on the ratio near
that level, and its offset is Gaussian. The 95 % interval propagates the probit fit's
covariance and, when the distributions were fitted from a finite number of cells, their
parameters' sampling error (delta method on the Phi argument).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from circuitkit.ber_table import BerRow, BerTable, Condition
from circuitkit.corners.spread import DeviceSpread

METHOD_NAME = "offset"
Z95 = stats.norm.ppf(0.975)


def design_point_resistances(spread: DeviceSpread, point: float) -> np.ndarray:
    """(R_BL, R_BLb) with ln(R_BLb/R_BL) = point at the most probable failure point."""
    mu_l, mu_h = spread.lrs.mu_ln, spread.hrs.mu_ln
    var_l, var_h = spread.lrs.sigma_ln ** 2, spread.hrs.sigma_ln ** 2
    total = var_l + var_h
    gap = mu_h - mu_l
    if total == 0:
        middle = 0.5 * (mu_l + mu_h)
    else:
        # Most probable (ln R_LRS, ln R_HRS) with ln R_HRS - ln R_LRS = point, centred.
        ln_lrs = mu_l + var_l * (gap - point) / total
        ln_hrs = mu_h - var_h * (gap - point) / total
        middle = 0.5 * (ln_lrs + ln_hrs)
    return np.exp([middle - point / 2, middle + point / 2])


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

    def to_dict(self) -> dict[str, Any]:
        return {"x0": self.x0, "sigma": self.sigma, "covariance": self.covariance.tolist(),
                "points": self.points.tolist(), "trials": self.trials.tolist(),
                "read_plus": self.read_plus.tolist(), "separated": self.separated}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "OffsetFit":
        """Inverse of `to_dict` (extra keys, such as a campaign's condition, are ignored)."""
        return cls(float(data["x0"]), float(data["sigma"]), np.asarray(data["covariance"], dtype=float),
                   np.asarray(data["points"], dtype=float), np.asarray(data["trials"], dtype=float),
                   np.asarray(data["read_plus"], dtype=float), bool(data["separated"]))


def fit_offset(points: np.ndarray, trials: np.ndarray, read_plus: np.ndarray) -> OffsetFit:
    points = np.asarray(points, float)
    trials = np.asarray(trials, float)
    read_plus = np.asarray(read_plus, float)
    order = np.argsort(points)
    points, trials, read_plus = points[order], trials[order], read_plus[order]
    mixed = (read_plus > 0) & (read_plus < trials)
    if not mixed.any():
        # Perfect separation: the threshold lies between the last all-minus and the first
        # all-plus point; take the middle, and the bracket width as a pessimistic sigma.
        minus = points[read_plus == 0]
        plus = points[read_plus == trials]
        low = minus.max() if minus.size else points.min() - 1.0
        high = plus.min() if plus.size else points.max() + 1.0
        width = max(high - low, 1e-6)
        covariance = np.diag([(width / 2 / Z95) ** 2, (width / 2 / Z95) ** 2])
        return OffsetFit(0.5 * (low + high), width / 2, covariance, points, trials, read_plus, True)

    def negative_log_likelihood(theta: np.ndarray) -> float:
        x0, log_sigma = theta
        z = (points - x0) / math.exp(log_sigma)
        return -float(np.sum(read_plus * special.log_ndtr(z) + (trials - read_plus) * special.log_ndtr(-z)))

    fraction = read_plus.sum() / trials.sum()
    start = np.array([float(np.interp(0.5, read_plus / trials, points)) if fraction else 0.0, math.log(0.1)])
    solution = optimize.minimize(negative_log_likelihood, start, method="Nelder-Mead",
                                 options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
    x0, sigma = float(solution.x[0]), float(math.exp(solution.x[1]))
    # Fisher information of the probit model in (x0, sigma).
    z = (points - x0) / sigma
    probability = np.clip(special.ndtr(z), 1e-300, 1 - 1e-16)
    weight = trials * stats.norm.pdf(z) ** 2 / (probability * (1 - probability))
    gradient = np.stack([-np.ones_like(z) / sigma, -z / sigma])
    information = (gradient * weight) @ gradient.T
    covariance = np.linalg.pinv(information)
    return OffsetFit(x0, sigma, covariance, points, trials, read_plus, False)


def error_probabilities(fit: OffsetFit, spread: DeviceSpread) -> dict[int, tuple[float, float, float]]:
    """P(misread | stored) for stored +1 and -1: (estimate, ci_low, ci_high)."""
    # Parameters and their variances: x0, sigma from the fit; medians and sigmas of the
    # lognormal states from their sample counts (zero variance when given, not fitted).
    def variance_of(state) -> tuple[float, float]:
        if not state.samples:
            return 0.0, 0.0
        return state.sigma_ln ** 2 / state.samples, state.sigma_ln ** 2 / (2 * state.samples)

    var_mu_l, var_s_l = variance_of(spread.lrs)
    var_mu_h, var_s_h = variance_of(spread.hrs)
    theta = np.array([fit.x0, fit.sigma, spread.lrs.mu_ln, spread.hrs.mu_ln, spread.lrs.sigma_ln, spread.hrs.sigma_ln])
    covariance = np.zeros((6, 6))
    covariance[:2, :2] = fit.covariance
    covariance[2:, 2:] = np.diag([var_mu_l, var_mu_h, var_s_l, var_s_h])

    def argument(parameters: np.ndarray, stored: int) -> float:
        x0, sigma, mu_l, mu_h, s_l, s_h = parameters
        spread_total = math.sqrt(s_l ** 2 + s_h ** 2 + sigma ** 2)
        difference = mu_h - mu_l
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


def conditional_error_probabilities(fit: OffsetFit, spread: DeviceSpread,
                                     offsets: np.ndarray) -> dict[int, np.ndarray]:
    """P(misread | stored, o) for sense amplifiers whose own input-referred offset is o
    (log-ratio units; across amplifiers o ~ N(0, fit.sigma^2) around the threshold fit.x0).

    One amplifier decides +1 when x > x0 + o, and over the cells it reads x ~ N(+-D, s^2)
    (s^2 = s_LRS^2 + s_HRS^2), so

        P(read -1 | stored +1, o) = Phi((x0 + o - D) / s)
        P(read +1 | stored -1, o) = Phi((-D - x0 - o) / s)

    Averaged over o these are the estimates of `error_probabilities` (the same integral
    taken the other way round); a whole column read by a weak amplifier fails together.
    With s = 0 (no device spread) an amplifier fails always or never.
    """
    offsets = np.asarray(offsets, dtype=np.float64)
    difference = spread.hrs.mu_ln - spread.lrs.mu_ln
    s = math.hypot(spread.lrs.sigma_ln, spread.hrs.sigma_ln)
    margin = {+1: fit.x0 + offsets - difference, -1: -difference - fit.x0 - offsets}
    if s == 0:
        return {stored: (value > 0).astype(np.float64) for stored, value in margin.items()}
    return {stored: special.ndtr(value / s) for stored, value in margin.items()}


def offset_table(results, config) -> tuple[BerTable, list[dict[str, Any]]]:
    """The binary BER table of a campaign run with the offset method (failed jobs add no
    simulations; the campaign summary counts them)."""
    by_condition: dict[Condition, dict[float, list[int]]] = {}
    for job, outcome in results:
        if outcome.status != "ok":
            continue
        tally = by_condition.setdefault(job.condition, {}).setdefault(job.offset_point, [0, 0])
        tally[0] += len(outcome.read)
        tally[1] += sum(1 for value in outcome.read if value == +1)
    rows: list[BerRow] = []
    fits = []
    for condition, tallies in by_condition.items():
        points = np.array(sorted(tallies))
        trials = np.array([tallies[p][0] for p in points])
        read_plus = np.array([tallies[p][1] for p in points])
        fit = fit_offset(points, trials, read_plus)
        probabilities = error_probabilities(fit, config.spread)
        simulations = int(trials.sum())
        fits.append({**dataclasses.asdict(condition), **fit.to_dict(),
                     "ber": {str(stored): list(values) for stored, values in probabilities.items()}})
        for stored in (-1, +1):
            error, low, high = probabilities[stored]
            for read in (-1, +1):
                if read == stored:
                    estimate, ci_low, ci_high = 1.0 - error, 1.0 - high, 1.0 - low
                else:
                    estimate, ci_low, ci_high = error, low, high
                rows.append(BerRow(condition.corner, condition.vdd, condition.temp_c, condition.scheme,
                                   stored, read, simulations, 0, estimate, ci_low, ci_high, METHOD_NAME))
    return BerTable(rows, source="<offset method>"), fits
