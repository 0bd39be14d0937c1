"""The sense amplifier's input-referred offset and the misread probabilities it implies:
the integral behind the rare-event (`offset`) bit-error rates.

A precharge sense amplifier decides +1 when the log resistance ratio
x = ln(R_BLb / R_BL) of the cell it reads exceeds its threshold x0 + sigma * Z: a
Gaussian input-referred offset in log-ratio units, measured by a campaign
(`corners.rare.fit_offset`) and held in an `OffsetFit`. With lognormal programmed
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


def _lognormal_states(states) -> tuple:
    """The (LRS, HRS) lognormals of a `ProgrammedStates`, or of a `DeviceNonideality`'s."""
    states = getattr(states, "states", states)
    return states.lognormal("lrs"), states.lognormal("hrs")


def error_probabilities(fit: OffsetFit, states, log_ratio_scale: float = 1.0) -> dict[int, tuple[float, float, float]]:
    """P(misread | stored) for stored +1 and -1: (estimate, ci_low, ci_high), over the
    lognormal `states` (a `ProgrammedStates`, or a `DeviceNonideality`'s).

    `log_ratio_scale` < 1 shrinks the median log ratio D the amplifier sees (a cell far
    along resistive wires: `position_rates` sets it from the ngspice margins)."""
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
    always or never.
    """
    lrs, hrs = _lognormal_states(states)
    offsets = np.asarray(offsets, dtype=np.float64)
    difference = hrs.mu - lrs.mu
    s = math.hypot(lrs.sigma, hrs.sigma)
    margin = {+1: fit.x0 + offsets - difference, -1: -difference - fit.x0 - offsets}
    if s == 0:
        return {stored: (value > 0).astype(np.float64) for stored, value in margin.items()}
    return {stored: special.ndtr(value / s) for stored, value in margin.items()}
