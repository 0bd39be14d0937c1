"""Importance sampling of the full read circuit (`--method is`): rare bit-error rates
whose every sample is a real ngspice read.

Brute-force Monte Carlo draws each cell's (BL, BLb) resistances from the device model
and almost never lands where a read fails. This method draws them instead from a
proposal q shifted toward the failure region, simulates every draw in ngspice (the
campaign's batched `ReadSimulator`, transistor mismatch from the PDK's AGAUSS at its
nominal spread), and weights each read by the likelihood ratio w = p / q of the device
model p to the proposal:

    P(misread | stored) = E_q[w 1{misread}]  ~  mean_i(w_i y_i)

unbiased for any proposal that covers the failure region, with standard error
std(w y) / sqrt(n) and a normal 95 % interval. No tail of the amplifier's offset is
assumed: the circuit decides every read.

Where the proposal sits comes from a short pilot run: the campaign first runs the
`offset` characterisation (`corners/rare.py`: reads of fixed resistance ratios around
zero, `pilot_samples` mismatch samples per point) and fits the amplifier's threshold
x0 and spread sigma (log-ratio units). With device spread s (s^2 = sigma_BL^2 +
sigma_BLb^2 of ln R) and median log ratio D (= ln(R_BLb / R_BL), +-ln(HRS/LRS)), the most
probable failure splits the margin D - x0 between the cell and the amplifier in
proportion to their variances, so the cells' most probable failing log ratio is

    x* = D + (x0 - D) s^2 / (s^2 + sigma^2)

and the proposal is, per device, a normal in ln R of the device's own spread
(`sigma_ln`) centred at the most probable (ln R_BL, ln R_BLb) with that ratio
(`design_point`: the maximum of the model's log-density on the line, the offset
method's search in `corners/rare.py`: closed form for lognormal states, numerical for
any other model with a log-density: mixture, empirical with a tail). The pilot only places the proposal; a poor pilot costs efficiency (a
small effective sample size), never bias.

Transistor mismatch is sampled at its nominal spread, not tilted: where the amplifier's
offset dominates the failures (sigma >> s) the proposal gains little over brute force,
and the effective sample size and the interval say so. (Scaled-sigma sampling of the
mismatch, the PDK's `mismatch_factor`, is not implemented.)

Each row's estimator, standard error, interval, effective sample size (of the weighted
failures) and failure count go into campaign.json (`importance`); the table carries the estimate, the
interval, the reads behind it (`samples`) and `method` = "is".
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy import stats

from circuitkit import CircuitkitError
from circuitkit.ber_table import BerRow, BerTable, Condition, method_text
from circuitkit.corners import rare
from circuitkit.device.nonideality import CELL_STATES, ProgrammedStates
from circuitkit.sense_offset import Z95, OffsetFit
from circuitkit.stats import binomial_interval

__all__ = ["ESTIMATOR", "METHOD_NAME", "Proposal", "design_point", "importance_table", "pilot_fits",
           "target_log_ratio"]

METHOD_NAME = "is"
ESTIMATOR = ("importance sampling on the full circuit: every sample an ngspice read; (BL, BLb) resistances from "
             "a normal proposal in ln R (each device's sigma_ln) centred at the most probable failing pair of the "
             "device model, placed by a pilot offset fit; transistor mismatch at the PDK's nominal spread; weights "
             "= likelihood ratio device model / proposal; unbiased mean of w*error, standard error "
             "std(w*error)/sqrt(n), normal 95 % interval")


# Below this many effective failing reads the weighted mean is far from normal and its
# standard error unreliable: the row says so.
MIN_EFFECTIVE_FAILURES = 10
NORMAL_INTERVAL = "normal interval of the weighted mean"


def _devices(states: ProgrammedStates, stored: int) -> tuple:
    """The resistance models of the BL and BLb devices of a cell storing `stored`."""
    if stored not in (+1, -1):
        raise CircuitkitError(f"importance sampling models a binary read; stored {stored!r} is not +1 or -1")
    return tuple(states.state(name) for name in CELL_STATES[stored])


def design_point(states, stored: int, log_ratio: float) -> np.ndarray:
    """(ln R_BL, ln R_BLb) with ln R_BLb - ln R_BL = `log_ratio` of highest joint density
    of the device model (any model with `ln_logpdf`), for a cell storing `stored`: the
    offset method's search (`corners.rare.design_point`) on that cell's devices."""
    return rare.design_point(*_devices(getattr(states, "states", states), stored), log_ratio)


def target_log_ratio(states, stored: int, fit: OffsetFit) -> float:
    """The cells' most probable failing log ratio x* (module doc) for an amplifier with
    threshold fit.x0 and spread fit.sigma."""
    states = getattr(states, "states", states)
    bl, blb = _devices(states, stored)
    median_ratio = math.log(blb.median) - math.log(bl.median)
    cell_variance = bl.sigma_ln ** 2 + blb.sigma_ln ** 2
    return median_ratio + (fit.x0 - median_ratio) * cell_variance / (cell_variance + fit.sigma ** 2)


@dataclasses.dataclass(frozen=True)
class Proposal:
    """Where an importance-sampling job draws its cells: per device (BL, BLb) a normal in
    ln R with `centre` and `width`."""

    stored: int
    centre: tuple[float, float]
    width: tuple[float, float]

    @classmethod
    def at(cls, states, stored: int, log_ratio: float) -> "Proposal":
        """Centred at the device model's most probable pair with ln(R_BLb/R_BL) = log_ratio,
        each device's own spread (sigma_ln) as width."""
        states = getattr(states, "states", states)
        widths = tuple(float(model.sigma_ln) for model in _devices(states, stored))
        if min(widths) <= 0:
            raise CircuitkitError("importance sampling needs a device spread (sigma of ln R > 0) in both states")
        return cls(stored, tuple(float(v) for v in design_point(states, stored, log_ratio)), widths)

    def draw(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """`count` (R_BL, R_BLb) pairs in ohm."""
        return np.exp(np.asarray(self.centre) + np.asarray(self.width) * rng.standard_normal((count, 2)))

    def log_weights(self, states, resistances: np.ndarray) -> np.ndarray:
        """ln(p / q) of each (R_BL, R_BLb) pair: the device model's joint log-density over
        the proposal's, both in ln R (the Jacobians cancel)."""
        states = getattr(states, "states", states)
        ln_r = np.log(np.asarray(resistances, dtype=float).reshape(-1, 2))
        model = sum(device.ln_logpdf(ln_r[:, k]) for k, device in enumerate(_devices(states, self.stored)))
        proposal = stats.norm.logpdf(ln_r, loc=self.centre, scale=self.width).sum(axis=1)
        return model - proposal


def pilot_fits(results) -> dict[Condition, OffsetFit]:
    """The pilot's probit fit of the amplifier's offset per condition: the offset table's
    fit of the decided reads (`corners.rare.decided_fit`; failed jobs and unresolved reads
    add no trials; a condition with fewer than two points that decided any has no fit). An
    unresolved *sampled* read counts as an error (`importance_table`), as in `mc` rows."""
    fits = {}
    for condition, tally in rare.offset_tallies(results).items():
        fit = rare.decided_fit(tally.points, tally.trials, tally.read_plus)
        if fit is not None:
            fits[condition] = fit
    return fits


def _estimate(weights: np.ndarray, errors: np.ndarray) -> dict[str, Any]:
    """The importance-sampling estimate of P(error) from per-read weights and outcomes."""
    reads = int(weights.size)
    terms = weights * errors
    estimate = float(terms.mean())
    standard_error = float(terms.std(ddof=1) / math.sqrt(reads)) if reads > 1 else math.inf
    hits = int(errors.sum())
    if hits:
        low, high = float(max(0.0, estimate - Z95 * standard_error)), float(min(1.0, estimate + Z95 * standard_error))
        interval_note = NORMAL_INTERVAL
    else:
        # No failure drawn: P = E_q[w 1F] <= max_F(w) q(F), with q(F) at its Clopper-Pearson
        # bound and max_F(w) taken as the largest weight drawn (an assumption, stated).
        high = float(min(1.0, binomial_interval(0, reads).high * float(weights.max())))
        low = 0.0
        interval_note = ("no failure in the proposal's draws: upper bound = Clopper-Pearson bound of the proposal's "
                         "failure probability x the largest likelihood ratio drawn (assumes none larger where reads fail)")
    # Kish's effective sample size of the weighted failures: how many equally weighted
    # failing reads the estimate is worth (the weights of reads that did not fail carry
    # nothing of it; a Kish size over all weights would mostly measure those).
    effective = float(terms.sum() ** 2 / np.sum(terms ** 2)) if hits else 0.0
    if hits and effective < MIN_EFFECTIVE_FAILURES:
        interval_note += (f"; fewer than {MIN_EFFECTIVE_FAILURES} effective failing reads: the normal interval may be "
                          "too narrow (sample more)")
    return {"reads": reads, "failures_seen": hits, "estimate": estimate, "standard_error": standard_error,
            "ci95": [low, high], "effective_sample_size": effective,
            "relative_error": standard_error / estimate if estimate > 0 else math.inf, "interval": interval_note}


def importance_table(results, config) -> tuple[BerTable, list[dict[str, Any]]]:
    """The binary BER table of an importance-sampling campaign and, per row, its estimate,
    standard error, interval and effective sample sizes (failed jobs add no reads; the
    campaign summary counts them)."""
    samples: dict[tuple[Condition, int], dict[str, list]] = {}
    proposals: dict[tuple[int, float], Proposal] = {}   # one search per (stored, point), not per job
    for job, outcome in results:
        if outcome.status != "ok":
            continue
        entry = samples.setdefault((job.condition, job.stored), {"log_weights": [], "errors": [], "x": job.offset_point})
        key = (job.stored, job.offset_point)
        if key not in proposals:
            proposals[key] = Proposal.at(config.device.states, *key)
        entry["log_weights"].extend(proposals[key].log_weights(config.device.states, np.array(outcome.resistances_ohm)))
        entry["errors"].extend(1.0 if value != job.stored else 0.0 for value in outcome.read)
    empty = [f"{c.label()} stored {s:+d}" for c in config.conditions() for s in (+1, -1) if (c, s) not in samples]
    if empty:
        raise CircuitkitError("importance sampling: every job failed to converge for " + "; ".join(empty))
    rows: list[BerRow] = []
    records = []
    method = method_text(METHOD_NAME, config.device.states.model_label())
    for condition in config.conditions():
        for stored in (+1, -1):
            entry = samples[(condition, stored)]
            result = _estimate(np.exp(np.array(entry["log_weights"])), np.array(entry["errors"]))
            low, high = result["ci95"]
            estimate = min(result["estimate"], 1.0)   # an unbiased weighted mean can overshoot 1 by chance
            records.append({**dataclasses.asdict(condition), "stored": stored, "method": METHOD_NAME,
                            "proposal_log_ratio": entry["x"], **result})
            rows.extend(rare.binary_rows(condition, stored, estimate, low, high, result["reads"], method))
    return BerTable(rows, source="<importance sampling>"), records
