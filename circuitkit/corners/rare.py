"""Rare-event bit-error rates from the sense amplifier's input-referred offset ("offset").

Brute-force Monte Carlo cannot see a BER of 1e-9. This method splits the read into the
two things that vary:

1. The sense amplifier (transistor mismatch, the PDK's own AGAUSS) decides +1 when the
   log resistance ratio x = ln(R_BLb / R_BL) exceeds its threshold x0 + sigma*Z: a
   Gaussian input-referred offset, in log-ratio units. It is *measured* by simulation:
   many mismatch samples read cells with fixed ratios exp(x_k) around zero, and a probit
   maximum-likelihood fit of P(read +1 | x) = Phi((x - x0) / sigma) gives x0 and sigma
   with their covariance.
2. The programmed resistances are lognormal (the campaign's
   `device.nonideality.ProgrammedStates`), so for a cell storing +1 x ~ N(D, s^2) with
   D = ln(HRS median / LRS median), s^2 = s_LRS^2 + s_HRS^2, and

       P(read -1 | stored +1) = Phi((x0 - D) / sqrt(s^2 + sigma^2))
       P(read +1 | stored -1) = Phi((-D - x0) / sqrt(s^2 + sigma^2))

   exactly, however small. That integral, with `OffsetFit`, lives in
   `circuitkit.sense_offset` (the inject stage places errors with it too); its names
   are importable from here as before.

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
from circuitkit.device.nonideality import ProgrammedStates
from circuitkit.sense_offset import Z95, OffsetFit, conditional_error_probabilities, error_probabilities

__all__ = ["METHOD_NAME", "OffsetFit", "conditional_error_probabilities", "design_point_resistances",
           "error_probabilities", "fit_offset", "offset_table"]

METHOD_NAME = "offset"


def design_point_resistances(states: ProgrammedStates, point: float) -> np.ndarray:
    """(R_BL, R_BLb) with ln(R_BLb/R_BL) = point at the most probable failure point of
    the lognormal `states` (a `ProgrammedStates`, or a `DeviceNonideality`'s)."""
    states = getattr(states, "states", states)
    lrs, hrs = states.lognormal("lrs"), states.lognormal("hrs")
    mu_l, mu_h = lrs.mu, hrs.mu
    var_l, var_h = lrs.sigma ** 2, hrs.sigma ** 2
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
        probabilities = error_probabilities(fit, config.device.states)
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
