"""Rare-event bit-error rates from the sense amplifier's input-referred offset ("offset").

Brute-force Monte Carlo cannot see a BER of 1e-9. This method splits the read into the
two things that vary:

1. The sense amplifier (transistor mismatch, the PDK's own AGAUSS) decides +1 when the
   log resistance ratio x = ln(R_BLb / R_BL) exceeds its threshold x0 + sigma*Z: a
   Gaussian input-referred offset, in log-ratio units. It is *measured* by simulation:
   many mismatch samples read cells with fixed ratios exp(x_k) around zero, and a probit
   maximum-likelihood fit of P(read +1 | x) = Phi((x - x0) / sigma) gives x0 and sigma
   with their covariance.
2. The programmed resistances follow the campaign's distribution models
   (`device.nonideality.ProgrammedStates`: the card's chosen lognormal, mixture or
   empirical-with-GPD-tails per state). For lognormal states a cell storing +1 has
   x ~ N(D, s^2) with D = ln(HRS median / LRS median), s^2 = s_LRS^2 + s_HRS^2, and

       P(read -1 | stored +1) = Phi((x0 - D) / sqrt(s^2 + sigma^2))
       P(read +1 | stored -1) = Phi((-D - x0) / sqrt(s^2 + sigma^2))

   exactly, however small; any other model is integrated numerically (to ~1e-16). That
   integral, with `OffsetFit`, lives in `circuitkit.sense_offset` (the inject stage
   places errors with it too); its names are importable from here as before.

What the table says (`offset_table`): every row names the device models it assumed; the
campaign records the estimate under every other model the card's fit compared
(`model_form_sensitivity`: same fit, same reads); reads that decided nothing are fitted
both ways; a separated fit (every point read one way) is flagged and bounded over its
95 % likelihood-ratio region, never given an invented sigma or covariance; a condition
with nothing to fit is a row group that says why.

The fixed-ratio cells are placed at the most probable failure point: the pair (R_BL,
R_BLb) of highest joint density on the line ln R_BLb - ln R_BL = x, so the absolute
resistance level the amplifier sees is the one at which errors really happen.

Assumptions (checked against brute-force Monte Carlo by tests/test_corners.py at a
condition with a measurable BER): the amplifier's decision depends on the ratio near
that level, and its offset is Gaussian. The 95 % interval propagates the probit fit's
covariance and, for lognormal states fitted from a finite number of cells, their
parameters' sampling error (delta method on the Phi argument); for other models the
fit's covariance only (the model-form sensitivity shows the device model's weight).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from circuitkit.ber_table import BerRow, BerTable, Condition, method_text
from circuitkit.corners.outcomes import UNRESOLVED_READ
from circuitkit.device.distributions import Lognormal
from circuitkit.device.nonideality import ProgrammedStates
from circuitkit.sense_offset import Z95, OffsetFit, conditional_error_probabilities, error_probabilities

__all__ = ["METHOD_NAME", "OffsetFit", "OffsetTally", "binary_rows", "conditional_error_probabilities", "decided_fit",
           "design_point", "design_point_resistances", "error_probabilities", "fit_offset", "offset_tallies",
           "offset_table"]

METHOD_NAME = "offset"


def design_point(bl, blb, log_ratio: float) -> np.ndarray:
    """(ln R_BL, ln R_BLb) with ln R_BLb - ln R_BL = `log_ratio` of highest joint density
    of the BL and BLb devices' resistance models (any model with `ln_logpdf`): the most
    probable failing pair of a cell read at that ratio. Two lognormals in closed form; any
    other model (a mixture may have two modes) by a grid over both devices' ranges, which
    finds the right mode, refined by a bounded scalar search within a grid step."""
    if isinstance(bl, Lognormal) and isinstance(blb, Lognormal):
        var_bl, var_blb = bl.sigma ** 2, blb.sigma ** 2
        total = var_bl + var_blb
        gap = blb.mu - bl.mu
        if total == 0:
            middle = 0.5 * (bl.mu + blb.mu)
        else:
            # Each device gives up the margin gap - log_ratio in proportion to its variance; centred.
            ln_bl = bl.mu + var_bl * (gap - log_ratio) / total
            ln_blb = blb.mu - var_blb * (gap - log_ratio) / total
            middle = 0.5 * (ln_bl + ln_blb)
        return np.array([middle - log_ratio / 2, middle + log_ratio / 2])

    def negative_log_density(a: np.ndarray) -> np.ndarray:
        return -(bl.ln_logpdf(a) + blb.ln_logpdf(a + log_ratio))

    centre_bl, centre_blb = math.log(bl.median), math.log(blb.median) - log_ratio
    width = 10.0 * max(bl.sigma_ln, blb.sigma_ln, 1e-3)
    grid = np.linspace(min(centre_bl, centre_blb) - width, max(centre_bl, centre_blb) + width, 4001)
    best = int(np.argmin(negative_log_density(grid)))
    step = grid[1] - grid[0]
    solution = optimize.minimize_scalar(lambda a: float(negative_log_density(np.array(a))), method="bounded",
                                        bounds=(grid[best] - step, grid[best] + step),
                                        options={"xatol": 1e-10})
    ln_bl = float(solution.x)
    return np.array([ln_bl, ln_bl + log_ratio])


def design_point_resistances(states: ProgrammedStates, point: float) -> np.ndarray:
    """(R_BL, R_BLb) with ln(R_BLb/R_BL) = point at the most probable failure point of
    the programmed `states` (a `ProgrammedStates`, or a `DeviceNonideality`'s): the pair
    (R_LRS, R_HRS) of highest joint density (`design_point`)."""
    states = getattr(states, "states", states)
    return np.exp(design_point(states.state("lrs"), states.state("hrs"), point))


@dataclasses.dataclass(frozen=True)
class OffsetTally:
    """One condition's offset reads, over its sorted offset points."""

    points: np.ndarray
    trials: np.ndarray  # reads that decided (+1 or -1)
    read_plus: np.ndarray  # reads of +1
    undecided: np.ndarray  # reads that decided nothing (unresolved, or in a job that did not converge)
    errors: tuple[str, ...]  # the failed jobs' errors, in the results' order


def offset_tallies(results, conditions: Iterable[Condition] = ()) -> dict[Condition, OffsetTally]:
    """The `OffsetTally` of each condition of offset jobs' `results` ((job, outcome) pairs).
    Every one of `conditions` is a key, in their order, even with no results."""
    by_condition: dict[Condition, dict[float, list[int]]] = {condition: {} for condition in conditions}
    errors: dict[Condition, list[str]] = {}
    for job, outcome in results:
        tally = by_condition.setdefault(job.condition, {}).setdefault(job.offset_point, [0, 0, 0])
        if outcome.status != "ok":
            tally[2] += job.count
            errors.setdefault(job.condition, []).append(outcome.error)
            continue
        tally[0] += sum(1 for value in outcome.read if value != UNRESOLVED_READ)
        tally[1] += sum(1 for value in outcome.read if value == +1)
        tally[2] += sum(1 for value in outcome.read if value == UNRESOLVED_READ)
    tallies = {}
    for condition, by_point in by_condition.items():
        points = np.array(sorted(by_point))
        trials, read_plus, undecided = (np.array([by_point[p][k] for p in points]) for k in range(3))
        tallies[condition] = OffsetTally(points, trials, read_plus, undecided, tuple(errors.get(condition, ())))
    return tallies


def decided_fit(points: np.ndarray, trials: np.ndarray, read_plus: np.ndarray) -> OffsetFit | None:
    """The probit fit of the reads that decided, at the points where any did; None when
    fewer than two points did (nothing to fit)."""
    used = trials > 0
    if used.sum() < 2:
        return None
    return fit_offset(points[used], trials[used], read_plus[used])


def binary_rows(condition: Condition, stored: int, error: float, low: float, high: float, samples: int,
                method: str) -> list[BerRow]:
    """The two rows of a binary read of `stored` at `condition`, from its misread
    probability `error` and 95 % interval [low, high]: read -1 then read +1."""
    rows = []
    for read in (-1, +1):
        values = (1.0 - error, 1.0 - high, 1.0 - low) if read == stored else (error, low, high)
        rows.append(BerRow(condition.corner, condition.vdd, condition.temp_c, condition.scheme, stored, read,
                           samples, 0, *values, method))
    return rows


def fit_offset(points: np.ndarray, trials: np.ndarray, read_plus: np.ndarray) -> OffsetFit:
    points = np.asarray(points, float)
    trials = np.asarray(trials, float)
    read_plus = np.asarray(read_plus, float)
    order = np.argsort(points)
    points, trials, read_plus = points[order], trials[order], read_plus[order]
    mixed = (read_plus > 0) & (read_plus < trials)
    if not mixed.any():
        return _separated_fit(points, trials, read_plus)

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


# Grid of the 95 % likelihood-ratio region of a separated fit: x0 beyond the points by
# this much (log-ratio units) counts as unbounded; sigma from a step to far wider than
# any point spacing.
_REGION_MARGIN = 2.0
_REGION_SIGMAS = np.geomspace(1e-4, 4.0, 241)


def _separated_fit(points: np.ndarray, trials: np.ndarray, read_plus: np.ndarray) -> OffsetFit:
    """Perfect separation: every read at a point went one way, so the likelihood is
    largest as sigma -> 0 with x0 anywhere between the last all-minus and the first
    all-plus point; no sigma or covariance is resolved. What the reads do say is the 95 %
    likelihood-ratio region of (x0, sigma) (deviance <= chi2(2) 95 % point, the maximum
    log-likelihood being 0); it is kept as its box (`OffsetFit.region`, +-inf where the
    points do not bound it) and the misread rates are bounded over it. Reported: x0 the
    bracket's middle, sigma the region's largest (an upper bound), covariance NaN."""
    minus = points[read_plus == 0]
    plus = points[read_plus == trials]
    low = minus.max() if minus.size else -math.inf
    high = plus.min() if plus.size else math.inf
    x0_grid = np.linspace(points.min() - _REGION_MARGIN, points.max() + _REGION_MARGIN, 801)
    z = (points[None, None, :] - x0_grid[:, None, None]) / _REGION_SIGMAS[None, :, None]
    log_likelihood = np.sum(read_plus * special.log_ndtr(z) + (trials - read_plus) * special.log_ndtr(-z), axis=2)
    inside = -2.0 * log_likelihood <= stats.chi2.ppf(0.95, 2)
    x0_inside = x0_grid[inside.any(axis=1)]
    sigma_inside = _REGION_SIGMAS[inside.any(axis=0)]
    x0_low = -math.inf if x0_inside.min() <= x0_grid[0] else float(x0_inside.min())
    x0_high = math.inf if x0_inside.max() >= x0_grid[-1] else float(x0_inside.max())
    sigma_high = math.inf if sigma_inside.max() >= _REGION_SIGMAS[-1] else float(sigma_inside.max())
    middle = 0.5 * (low + high) if math.isfinite(low + high) else (low if math.isfinite(low) else high)
    return OffsetFit(float(middle), float(sigma_inside.max()), np.full((2, 2), np.nan), points, trials, read_plus,
                     True, (x0_low, x0_high, sigma_high))


def _bounded_probabilities(fits: list[OffsetFit], states) -> dict[int, tuple[float, float, float]]:
    """The first fit's misread rates, with an interval covering every fit's (the others
    count the undecided reads one way or the other)."""
    each = [error_probabilities(fit, states) for fit in fits]
    return {stored: (each[0][stored][0], min(p[stored][1] for p in each), max(p[stored][2] for p in each))
            for stored in (+1, -1)}


def model_form_sensitivity(fits: list[OffsetFit], states: ProgrammedStates) -> list[dict[str, Any]]:
    """The offset estimate recomputed, from the same fit, with every distribution model a
    fit of the cells produced (`ProgrammedStates.fitted`; the same kind for both states):
    BER = mean over stored values of the misread rate, with its interval."""
    kinds = [kind for kind in states.fitted.get("lrs", {}) if kind in states.fitted.get("hrs", {})]
    entries = []
    for kind in kinds:
        alternative = ProgrammedStates(states.fitted["lrs"][kind], states.fitted["hrs"][kind],
                                       source=f"{states.source} ({kind})")
        probabilities = _bounded_probabilities(fits, alternative)
        entries.append({"lrs": kind, "hrs": kind,
                        "ber": float(np.mean([probabilities[s][0] for s in (+1, -1)])),
                        "ci95": [float(np.mean([probabilities[s][i] for s in (+1, -1)])) for i in (1, 2)]})
    return entries


def offset_table(results, config) -> tuple[BerTable, list[dict[str, Any]]]:
    """The binary BER table of a campaign run with the offset method, one row group per
    condition of `config` (a condition whose jobs all failed is a row group saying so),
    and one fit record per condition (campaign.json `offset_fits`).

    Reads that decided nothing (unresolved, or in a job that did not converge) stay in the
    accounting: the interval covers the fit with them counted as +1 and as -1. The method
    names the device models the integral assumed and flags a separated fit; the record
    holds the model-form sensitivity (`model_form_sensitivity`)."""
    states = config.device.states
    rows: list[BerRow] = []
    records = []
    for condition, tally in offset_tallies(results, config.conditions()).items():
        points, trials, read_plus, undecided = tally.points, tally.trials, tally.read_plus, tally.undecided
        place = (condition.corner, condition.vdd, condition.temp_c, condition.scheme)
        decided = decided_fit(points, trials, read_plus)
        if decided is None:
            # Nothing to fit: the condition stays, as rows that say what happened.
            reason = (f"failed: {int(undecided.sum())} offset reads did not converge or decide, "
                      f"{int(trials.sum())} did")
            text = method_text(METHOD_NAME, states.model_label(), reason)
            rows.extend(BerRow(*place, stored, read, 0, 0, 0.5, 0.0, 1.0, text) for stored in (-1, +1) for read in (-1, +1))
            records.append({**dataclasses.asdict(condition), "status": reason,
                            "errors": sorted(set(tally.errors))[:5]})
            continue
        fits = [decided]
        if undecided.any():
            fits += [fit_offset(points, trials + undecided, read_plus + undecided),
                     fit_offset(points, trials + undecided, read_plus)]
        probabilities = _bounded_probabilities(fits, states)
        flags = [states.model_label()]
        if fits[0].separated:
            flags.append("separated: no sigma resolved, estimate at sigma 0, interval over the 95 % likelihood region")
        if undecided.any():
            flags.append(f"undecided {int(undecided.sum())} of {int((trials + undecided).sum())} reads in the interval")
        text = method_text(METHOD_NAME, *flags)
        simulations = int((trials + undecided).sum())
        records.append({**dataclasses.asdict(condition), **fits[0].to_dict(), "status": "ok",
                        "undecided_reads": undecided.tolist(), "assumed": states.model_label(),
                        "ber": {str(stored): list(values) for stored, values in probabilities.items()},
                        "model_form_sensitivity": model_form_sensitivity(fits, states)})
        for stored in (-1, +1):
            rows.extend(binary_rows(condition, stored, *probabilities[stored], simulations, text))
    return BerTable(rows, source="<offset method>"), records
