"""Fit rram_hfox model cards to measurements with lmfit.

Residuals are logarithmic (ln of current, ln of resistance), so a 10 % miss counts the
same in LRS and in HRS. The model is evaluated by the Python integration of the .va's
equations (`device.simulate`), which `tests/test_device_model.py` holds to ngspice within
1 %; the CLI then re-simulates the fitted card in ngspice (`device.resimulate`).

What is fitted, what is fixed, and why (the rest of the card is kept as given):

- I-V sweeps (`fit_iv`): i0 (fitted as log10), v0, gmax, vel0 (log10), gamma0, beta, plus
  the gap at the start of the file (gap_init, a property of the measurement, not of the
  device). Fixed: g0 and gmin (the read current only fixes i0*exp(-gmin/g0), so i0, gmin
  and g0 cannot all be told apart), ea (at one temperature only vel0*exp(-ea/kT) is
  seen), a0 and tox (only gamma*a0/tox is seen), alpha, rth, gwin. c2c_sigma is not
  fitted but estimated from the cycle-to-cycle spread of the LRS/HRS read levels.
- pulse tables (`fit_pulses`): vel0 (log10), gamma0, beta, gmax; the current equation
  (i0, v0, g0, gmin) maps resistances to gaps and is fixed (fit it on an I-V sweep and
  pass that card as the start). R_before is taken as exact: read noise on it moves the
  fit along the flat vel0-gamma0 valley (1 % noise: vel0 ~20 % low, gamma0 ~1 % high)
  beyond what the reported standard errors say.
- resistance distributions (`fit_distribution`): per state, the lognormal, a lognormal
  mixture and an empirical body with generalized Pareto tails (`device.distributions`),
  the chosen one by an information criterion, all on the card with their goodness of fit;
  states found by a mixture on ln R when the file has no state column. The lognormal
  summary goes to the card's `variability` keys (see `device.model.VARIABILITY_KEYS`).
- 1T1R pulse sweeps with word-, bit- and source-line voltages: `device.pulse` (the
  stochastic pulse model with the access transistor in the loop).

Every fit reports `flags`: what a device engineer must know before trusting the card
(a parameter at a bound, an undetermined parameter, a non-converged optimiser, a
distribution model a goodness-of-fit test rejects). A flagged card is still written.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time as _time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lmfit
import numpy as np
from scipy import stats
from scipy.optimize import minimize_scalar

from circuitkit import CircuitkitError
from circuitkit.device.distributions import DistributionError, StateFit, find_states, fit_state, median_interval
from circuitkit.device.model import DEFAULT_READ_VOLTAGE, ModelCard, parameter_specs
from circuitkit.device.simulate import simulate_pulses, simulate_sweep
from circuitkit.measurements import IVSweep, PulseTable, ResistanceDistribution

LOSSES = ("linear", "soft_l1", "huber", "cauchy", "arctan")
ROBUST_F_SCALE = 0.1  # residual (ln units, ~10 %) beyond which a robust loss stops growing quadratically
_FAILED_RESIDUAL = 50.0  # residual of a parameter set the model cannot evaluate: a rejected step, never the optimum


class FitError(CircuitkitError):
    """A fit could not start or did not produce a usable result."""


# ---------------------------------------------------------------------------- free parameters


@dataclasses.dataclass(frozen=True)
class FreeParameter:
    """A card value varied by the fit, in a well-scaled fit space (log10 or nm)."""

    key: str  # rram_hfox parameter, or 'gap_init' (state at the start of a measurement)
    transform: str  # '' | 'log10' | 'nm'
    lower: float  # bounds in fit space
    upper: float

    @property
    def name(self) -> str:
        return {"log10": f"log10_{self.key}", "nm": f"{self.key}_nm"}.get(self.transform, self.key)

    def to_value(self, x: float) -> float:
        return {"log10": lambda: 10.0 ** x, "nm": lambda: x * 1e-9}.get(self.transform, lambda: x)()

    def to_fit(self, value: float) -> float:
        return {"log10": lambda: math.log10(value), "nm": lambda: value * 1e9}.get(self.transform, lambda: value)()

    @property
    def expression(self) -> str:
        return {"log10": f"10**{self.name}", "nm": f"{self.name}*1e-9"}.get(self.transform, self.name)


IV_PARAMETERS = (
    FreeParameter("i0", "log10", -8.0, 0.0),
    FreeParameter("v0", "", 0.05, 3.0),
    FreeParameter("gmax", "nm", 0.25, 3.0),
    FreeParameter("vel0", "log10", -12.0, 14.0),
    FreeParameter("gamma0", "", 0.5, 60.0),
    FreeParameter("beta", "", 0.0, 60.0),
    FreeParameter("gap_init", "nm", 0.0, 4.0),
)
PULSE_PARAMETERS = (
    FreeParameter("vel0", "log10", -12.0, 14.0),
    FreeParameter("gamma0", "", 0.5, 60.0),
    FreeParameter("beta", "", 0.0, 60.0),
    FreeParameter("gmax", "nm", 0.25, 3.0),
)
# Coarse start grids: vel0 over decades (m/s; the field threshold takes exp(a0 fmin q/kT),
# about 1e6 at 300 K, out of the motion, hence the high end); for pulse tables also gamma0,
# which trades off against vel0 and has no level to be read off the data.
IV_SCAN = {"vel0": 10.0 ** np.arange(-8.0, 10.0, 1.0)}
PULSE_SCAN = {"vel0": 10.0 ** np.arange(-8.0, 10.0, 1.0), "gamma0": (6.0, 9.0, 12.0, 15.0, 18.0, 22.0, 28.0)}


@dataclasses.dataclass
class FitOutcome:
    """Result of one fit: the card and everything the report and the plot need."""

    kind: str
    card: ModelCard
    parameters: dict[str, dict[str, Any]]  # name -> value, stderr, unit, vary, bounds, initial
    metrics: dict[str, Any]
    settings: dict[str, Any]  # loss, floors, temperature, fixed-parameter list, ...
    curves: dict[str, Any]  # model arrays (and level/lognormal objects) for the plot and the re-simulation
    measurement_state: dict[str, float] = dataclasses.field(default_factory=dict)  # e.g. gap_init
    nfev: int = 0
    success: bool = True
    message: str = ""
    runtime_s: float = 0.0
    # What the user must know before trusting the card, in words: parameters at a bound,
    # undetermined parameters, a non-converged optimiser, a rejected distribution model.
    # Each: {"what": parameter or state, "problem": short key, "message": sentence}.
    flags: list[dict[str, str]] = dataclasses.field(default_factory=list)


Progress = Callable[[int, float], None]  # (evaluations so far, current cost)


def _card_with(card: ModelCard, values: Mapping[str, float]) -> ModelCard:
    """`card` with fitted values; the gap bounds are always written out (a fitted card must
    not change if the .va's instance defaults do)."""
    bounds = {key: card.value(key) for key in ("gmin", "gmax")}
    return card.with_values(bounds | {k: v for k, v in values.items() if k != "gap_init"})


def _loss_cost(residual: np.ndarray, loss: str) -> float:
    z = (residual / ROBUST_F_SCALE) ** 2 if loss != "linear" else residual ** 2
    rho = {
        "linear": lambda: z,
        "soft_l1": lambda: 2 * (np.sqrt(1 + z) - 1),
        "huber": lambda: np.where(z <= 1, z, 2 * np.sqrt(z) - 1),
        "cauchy": lambda: np.log1p(z),
        "arctan": lambda: np.arctan(z),
    }[loss]()
    return float(0.5 * np.sum(rho) * (ROBUST_F_SCALE ** 2 if loss != "linear" else 1.0))


Residual = Callable[[ModelCard, Mapping[str, float]], np.ndarray]


def _least_squares(residual: Residual, size: int, start: ModelCard, free: Sequence[FreeParameter],
                   initial: Mapping[str, float], loss: str,
                   progress: Progress | None) -> tuple[lmfit.minimizer.MinimizerResult, dict[str, float]]:
    """lmfit least_squares (trust-region reflective, native bounds) over `free`.

    A parameter set the model cannot evaluate gets a large constant residual, so the
    optimiser steps back from it; it can never be the answer: the optimum is evaluated
    once more at the end, and a failure there is a FitError naming the parameters. The
    number of failed evaluations is kept on the result (`failed_evaluations`)."""
    if loss not in LOSSES:
        raise FitError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    params = lmfit.Parameters()
    for p in free:
        x = min(max(p.to_fit(initial[p.key]), p.lower), p.upper)
        params.add(p.name, value=x, min=p.lower, max=p.upper)
        if p.transform:
            params.add(p.key, expr=p.expression)
    calls = [0]
    failures: list[str] = []

    def evaluate(values: Mapping[str, float]) -> tuple[np.ndarray | None, str]:
        try:
            r = residual(_card_with(start, values), values)
        except CircuitkitError as error:  # ModelSimulationError, or a value the card refuses
            return None, str(error)
        if not np.all(np.isfinite(r)):
            return None, "the model gave non-finite values"
        return r, ""

    def objective(params: lmfit.Parameters) -> np.ndarray:
        values = {p.key: p.to_value(params[p.name].value) for p in free}
        r, why = evaluate(values)
        if r is None:
            failures.append(why)
            r = np.full(size, _FAILED_RESIDUAL)
        calls[0] += 1
        if progress is not None:
            progress(calls[0], _loss_cost(r, loss))
        return r

    kws: dict[str, Any] = {"loss": loss, "diff_step": 1e-4, "x_scale": "jac"}
    if loss != "linear":
        kws["f_scale"] = ROBUST_F_SCALE
    result = lmfit.minimize(objective, params, method="least_squares", **kws)
    best = {p.key: p.to_value(result.params[p.name].value) for p in free}
    r, why = evaluate(best)
    if r is None:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in best.items())
        raise FitError(f"the optimiser ended on a parameter set the model cannot evaluate ({shown}): {why}; "
                       f"{len(failures)} of {calls[0]} evaluations failed. Start from a card closer to the data "
                       "(--card) or check the data's units")
    result.failed_evaluations = len(failures)
    return result, best


def parameter_flags(rows: Mapping[str, Mapping[str, Any]], result: Any | None = None,
                    failed_evaluations: int = 0, evaluations: int = 0) -> list[dict[str, str]]:
    """Flags in words for fitted parameters: at a bound of the fit range, a standard error
    larger than the value's own scale (or none at all), and a non-converged optimiser."""
    flags = []
    for name, row in rows.items():
        if not row.get("vary") or "fit_space" not in row:
            continue
        space = row["fit_space"]
        span = space["upper"] - space["lower"]
        for side in ("lower", "upper"):
            if abs(space["value"] - space[side]) <= 1e-3 * span:
                flags.append({"what": name, "problem": f"at_{side}_bound",
                              "message": f"{name} = {row['value']:.4g} {row.get('unit', '')} sits at the {side} end of "
                              f"its fit range ({space['name']} in [{space['lower']:g}, {space['upper']:g}]): the data "
                              "push it out of the range the model allows; its value and error mean nothing".replace(
                                  "  ", " ")})
        stderr = space.get("stderr")
        scale = abs(space["value"]) if space["name"] == name else 1.0  # log10/nm parameters: an absolute scale
        if stderr is None:
            flags.append({"what": name, "problem": "undetermined",
                          "message": f"{name}: no standard error could be computed (the data do not constrain it, or "
                          "it is at a bound)"})
        elif stderr > max(scale, 1e-300):
            flags.append({"what": name, "problem": "uncertain",
                          "message": f"{name}: standard error {stderr:.3g} in {space['name']} is larger than "
                          + ("the value itself" if space["name"] == name else "one unit of it (a factor 10 / 1 nm)")
                          + ": the data hardly determine it"})
    if result is not None and not bool(getattr(result, "success", True)):
        flags.append({"what": "optimizer", "problem": "not_converged",
                      "message": f"the optimiser did not converge ({getattr(result, 'message', '')}): the card is the "
                      "last point it reached, not an optimum"})
    if failed_evaluations:
        flags.append({"what": "optimizer", "problem": "failed_evaluations",
                      "message": f"{failed_evaluations} of {evaluations} model evaluations failed (rejected as "
                      "steps); the optimum itself evaluates"})
    return flags


def _parameter_rows(result: lmfit.minimizer.MinimizerResult, free: Sequence[FreeParameter],
                    initial: Mapping[str, float], card: ModelCard) -> dict[str, dict[str, Any]]:
    """Report rows: fitted parameters (with stderr, fit-space values and bounds), then the fixed ones."""
    specs = parameter_specs(card.module)
    rows: dict[str, dict[str, Any]] = {}
    for p in free:
        fit_param = result.params[p.name]
        value_param = result.params[p.key] if p.transform else fit_param
        unit = specs[p.key].unit if p.key in specs else "m"
        rows[p.key] = {
            "value": float(value_param.value), "stderr": _float_or_none(value_param.stderr), "unit": unit,
            "vary": True, "initial": float(initial[p.key]),
            "fit_space": {"name": p.name, "value": float(fit_param.value), "stderr": _float_or_none(fit_param.stderr),
                          "lower": p.lower, "upper": p.upper},
        }
    for key, spec in specs.items():
        if key not in rows and key in card.parameters | dict(card.instance_defaults):
            rows[key] = {"value": card.value(key), "stderr": None, "unit": spec.unit, "vary": False}
    return rows


def _float_or_none(value: Any) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


# ---------------------------------------------------------------------------- I-V sweeps


def default_current_floor(current: np.ndarray) -> float:
    """Currents below this count as noise in ln(|I| + floor): 1e-3 of the median |I|, at least 1 pA."""
    return max(1e-12, 1e-3 * float(np.median(np.abs(current))))


def apparent_level(voltage: np.ndarray, current: np.ndarray, v0: float) -> np.ndarray:
    """ln(|I| / sinh(|V|/v0)) = ln(i0) - gap/g0: the state seen through the current equation."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.abs(current)) - np.log(np.sinh(np.abs(voltage) / v0))


def _two_levels(level: np.ndarray) -> float:
    """Threshold splitting a bimodal sample in two (Otsu: largest between-class variance)."""
    ordered = np.sort(level)
    n = len(ordered)
    if n < 4:
        return float(np.median(ordered))
    cumulative = np.cumsum(ordered)
    k = np.arange(1, n)
    mean_low = cumulative[:-1] / k
    mean_high = (cumulative[-1] - cumulative[:-1]) / (n - k)
    between = k * (n - k) * (mean_low - mean_high) ** 2
    best = int(np.argmax(between[1:-1])) + 1 if n > 4 else int(np.argmax(between))
    return float(0.5 * (ordered[best] + ordered[best + 1]))


@dataclasses.dataclass(frozen=True)
class IVLevels:
    """LRS/HRS levels read off the data through the current equation."""

    v0: float
    lrs_level: float  # median apparent level of LRS points
    hrs_level: float
    threshold: float
    usable: np.ndarray  # points above the floor and away from 0 V


def iv_levels(sweep: IVSweep, floor: float, v0_start: float) -> IVLevels:
    """Split points into LRS and HRS and find the v0 that makes each state's level flat."""
    usable = (np.abs(sweep.current) > 3 * floor) & (np.abs(sweep.voltage) > 0.02 * np.abs(sweep.voltage).max())
    if usable.sum() < 6:
        raise FitError(f"{sweep.source.path}: fewer than 6 points above the current floor {floor:.3g} A and away "
                       "from 0 V; lower --current-floor or check the current units")
    v, i = sweep.voltage[usable], sweep.current[usable]
    v0 = v0_start
    for _ in range(3):
        level = apparent_level(v, i, v0)
        lrs = level > _two_levels(level)

        def spread(v0_try: float) -> float:
            lv = apparent_level(v, i, v0_try)
            return float(np.var(lv[lrs]) * lrs.sum() + np.var(lv[~lrs]) * (~lrs).sum())

        v0 = float(minimize_scalar(spread, bounds=(0.05, 3.0), method="bounded").x)
    level = apparent_level(v, i, v0)
    threshold = _two_levels(level)
    return IVLevels(v0, float(np.median(level[level > threshold])), float(np.median(level[level <= threshold])),
                    threshold, usable)


def switching_voltages(sweep: IVSweep, current: np.ndarray, levels: IVLevels) -> tuple[np.ndarray, np.ndarray]:
    """Per cycle: first voltage (V > 0) where the state turns LRS, and (V < 0) where it turns HRS."""
    level = apparent_level(sweep.voltage, current, levels.v0)
    sets, resets = np.full(sweep.cycles, np.nan), np.full(sweep.cycles, np.nan)
    for c in range(sweep.cycles):
        rows = np.flatnonzero((sweep.cycle == c) & levels.usable)
        v, lv = sweep.voltage[rows], level[rows]
        was_hrs = lv < levels.threshold
        for k in range(1, len(rows)):
            if v[k] > 0 and was_hrs[k - 1] and not was_hrs[k] and np.isnan(sets[c]):
                sets[c] = v[k]
            if v[k] < 0 and not was_hrs[k - 1] and was_hrs[k] and np.isnan(resets[c]):
                resets[c] = v[k]
    return sets, resets


def iv_metrics(sweep: IVSweep, current: np.ndarray, floor: float, levels: IVLevels,
               mask: np.ndarray | None = None) -> dict[str, Any]:
    """Errors of a model current against the measured one (used for the fit and for ngspice)."""
    mask = np.ones(len(sweep), bool) if mask is None else mask
    r = (np.log(np.abs(current) + floor) - np.log(np.abs(sweep.current) + floor))[mask]
    above = mask & (np.abs(sweep.current) > 10 * floor)
    relative = np.abs(current[above] / sweep.current[above] - 1.0)
    set_data, reset_data = switching_voltages(sweep, sweep.current, levels)
    set_model, reset_model = switching_voltages(sweep, current, levels)
    # LRS/HRS read resistances at 0.1 V, from the median level of the points each state covers.
    data_level = apparent_level(sweep.voltage, sweep.current, levels.v0)[levels.usable]
    model_level = apparent_level(sweep.voltage, current, levels.v0)[levels.usable]
    lrs = data_level > levels.threshold
    v_read = DEFAULT_READ_VOLTAGE

    def read_r(level: np.ndarray) -> float | None:
        return v_read / (math.exp(float(np.median(level))) * math.sinh(v_read / levels.v0)) if level.size else None

    return {
        "lrs_resistance_data": read_r(data_level[lrs]), "lrs_resistance_model": read_r(model_level[lrs]),
        "hrs_resistance_data": read_r(data_level[~lrs]), "hrs_resistance_model": read_r(model_level[~lrs]),
        "points": int(mask.sum()),
        "rms_ln_current": float(np.sqrt(np.mean(r ** 2))),
        "median_abs_ln_current": float(np.median(np.abs(r))),
        "median_relative_current_error": float(np.median(relative)) if relative.size else None,
        "p90_relative_current_error": float(np.percentile(relative, 90)) if relative.size else None,
        "set_voltage_data": _nanmean(set_data), "set_voltage_model": _nanmean(set_model),
        "reset_voltage_data": _nanmean(reset_data), "reset_voltage_model": _nanmean(reset_model),
        "set_voltage_rms_error": _rms_diff(set_model, set_data),
        "reset_voltage_rms_error": _rms_diff(reset_model, reset_data),
    }


def _nanmean(x: np.ndarray) -> float | None:
    return float(np.nanmean(x)) if np.any(np.isfinite(x)) else None


def _rms_diff(a: np.ndarray, b: np.ndarray) -> float | None:
    both = np.isfinite(a) & np.isfinite(b)
    return float(np.sqrt(np.mean((a[both] - b[both]) ** 2))) if both.any() else None


def iv_initial_guess(sweep: IVSweep, start: ModelCard, levels: IVLevels) -> dict[str, float]:
    """Levels from the data: i0 from the LRS level at gmin, gmax from the HRS level, the
    start gap from the first points; v0 from `iv_levels`."""
    g0, gmin = start.value("g0"), start.value("gmin")
    i0 = math.exp(levels.lrs_level + gmin / g0)
    gmax = gmin + g0 * max(levels.lrs_level - levels.hrs_level, 0.5)
    first = apparent_level(sweep.voltage, sweep.current, levels.v0)[levels.usable][:5]
    gap_init = g0 * (math.log(i0) - float(np.median(first)))
    return {"i0": i0, "v0": levels.v0, "gmax": gmax, "gap_init": min(max(gap_init, 0.0), 4e-9),
            "vel0": start.value("vel0"), "gamma0": start.value("gamma0"), "beta": start.value("beta")}


def cycle_spread(sweep: IVSweep, levels: IVLevels, g0: float) -> dict[str, float | None]:
    """Cycle-to-cycle sigma of the LRS and HRS gaps (from per-cycle median levels), pooled."""
    level = apparent_level(sweep.voltage, sweep.current, levels.v0)
    per_state: dict[str, list[float]] = {"lrs": [], "hrs": []}
    for c in range(sweep.cycles):
        rows = levels.usable & (sweep.cycle == c)
        for state, pick in (("lrs", level > levels.threshold), ("hrs", level <= levels.threshold)):
            if np.sum(rows & pick) >= 3:
                per_state[state].append(float(np.median(level[rows & pick])))
    out: dict[str, float | None] = {}
    squares, dof = 0.0, 0
    for state, values in per_state.items():
        if len(values) >= 2:
            out[f"c2c_sigma_gap_{state}"] = float(np.std(values, ddof=1) * g0)
            squares += float(np.var(values, ddof=1) * (len(values) - 1)) * g0 ** 2
            dof += len(values) - 1
        else:
            out[f"c2c_sigma_gap_{state}"] = None
    out["c2c_sigma"] = math.sqrt(squares / dof) if dof else None
    return out


def fit_iv(sweep: IVSweep, start: ModelCard | None = None, *, loss: str = "linear", temp_c: float = 27.0,
           current_floor: float | None = None, compliance: float | None = None,
           free: Sequence[FreeParameter] = IV_PARAMETERS, progress: Progress | None = None) -> FitOutcome:
    """Fit the card to every cycle of an I-V sweep, simulated as one continuous transient."""
    began = _time.perf_counter()
    start = start or ModelCard.default()
    floor = current_floor if current_floor is not None else default_current_floor(sweep.current)
    mask = np.ones(len(sweep), bool)
    if compliance is not None:  # the instrument, not the device, set these currents
        mask &= np.abs(sweep.current) < 0.99 * compliance
    measured = np.log(np.abs(sweep.current) + floor)
    levels = iv_levels(sweep, floor, start.value("v0"))
    initial = iv_initial_guess(sweep, start, levels)

    def residual(card: ModelCard, values: Mapping[str, float]) -> np.ndarray:
        sim = simulate_sweep(card, sweep.time, sweep.voltage, values["gap_init"], temp_c=temp_c)
        return (np.log(np.abs(sim.current) + floor) - measured)[mask]

    initial = _scan(residual, start, initial, loss, IV_SCAN)
    result, best = _least_squares(residual, int(mask.sum()), start, free, initial, loss, progress)
    card = _card_with(start, best)
    spread = cycle_spread(sweep, levels, card.value("g0"))
    if spread["c2c_sigma"] is not None:
        card = card.with_values({"c2c_sigma": spread["c2c_sigma"]})
    # The measurement's start state as the card can hold it: inside [gmin, gmax] (rram_hfox.va
    # refuses a start outside; a cycle's saturation draw can leave the fitted one just past the
    # fitted bound). The metrics, curves and ngspice re-simulation all start there.
    start_gap = float(np.clip(best["gap_init"], card.value("gmin"), card.value("gmax")))
    sim = simulate_sweep(card, sweep.time, sweep.voltage, start_gap, temp_c=temp_c)
    fitted_levels = dataclasses.replace(levels, v0=card.value("v0"))
    metrics = iv_metrics(sweep, sim.current, floor, fitted_levels, mask) | {"cycle_to_cycle": spread}
    fixed = [k for k in parameter_specs(card.module) if k not in {p.key for p in free}]
    rows = _parameter_rows(result, free, initial, card)
    return FitOutcome(
        kind="iv", card=card, parameters=rows, metrics=metrics,
        flags=parameter_flags(rows, result, result.failed_evaluations, int(result.nfev)),
        settings={"loss": loss, "f_scale": ROBUST_F_SCALE if loss != "linear" else None, "temp_c": temp_c,
                  "current_floor_A": floor, "compliance_A": compliance, "excluded_points": int((~mask).sum()),
                  "residual": "ln(|I_model| + floor) - ln(|I_measured| + floor)",
                  "fitted": [p.key for p in free], "fixed": fixed, "time_base": sweep.time_origin,
                  "levels": {"v0_from_levels": levels.v0, "lrs_level": levels.lrs_level, "hrs_level": levels.hrs_level}},
        curves={"time": sweep.time, "voltage": sweep.voltage, "current": sim.current, "gap": sim.gap,
                "mask": mask, "levels": fitted_levels},
        measurement_state={"gap_init": start_gap, "gap_init_fitted": best["gap_init"]},
        nfev=int(result.nfev), success=bool(result.success), message=str(result.message),
        runtime_s=_time.perf_counter() - began,
    )


def _scan(residual: Residual, start: ModelCard, initial: dict[str, float], loss: str,
          grid: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Best point of a coarse grid over some parameters (the rest at `initial`): the
    switching speed spans decades and trades off against gamma0, so least squares needs a
    start in the right valley."""
    best_cost, best = math.inf, initial
    keys = [key for key in grid if key in initial]
    for point in itertools.product(*(grid[key] for key in keys)):
        values = initial | dict(zip(keys, point))
        try:
            r = residual(_card_with(start, values), values)
        except CircuitkitError:
            continue
        cost = _loss_cost(r, loss) if np.all(np.isfinite(r)) else math.inf
        if cost < best_cost:
            best_cost, best = cost, values
    return best


# ---------------------------------------------------------------------------- pulse tables


def pulse_metrics(table: PulseTable, r_after_model: np.ndarray) -> dict[str, Any]:
    r = np.log(r_after_model) - np.log(table.r_after)
    relative = np.abs(r_after_model / table.r_after - 1.0)
    return {
        "rows": len(table),
        "rms_ln_r_after": float(np.sqrt(np.mean(r ** 2))),
        "median_abs_ln_r_after": float(np.median(np.abs(r))),
        "median_relative_r_after_error": float(np.median(relative)),
        "p90_relative_r_after_error": float(np.percentile(relative, 90)),
    }


def pulse_initial_guess(table: PulseTable, start: ModelCard, v_read: float, keys: Sequence[str]) -> dict[str, float]:
    """The start card's values, except gmax: the largest of the gaps RESET pulses reach (90th
    percentile of their R_after) and the gaps SET pulses start from (median R_before)."""
    initial = {key: start.value(key) for key in keys}
    if "gmax" in initial:
        candidates = [float(np.median(table.r_before[table.amplitude > 0]))] if np.any(table.amplitude > 0) else []
        if np.any(table.amplitude < 0):
            candidates.append(float(np.percentile(table.r_after[table.amplitude < 0], 90)))
        if candidates:
            gap = float(start.gap_for_resistance(max(candidates), v_read))
            initial["gmax"] = max(gap, start.value("gmin") + 0.1e-9)
    return initial


def fit_pulses(table: PulseTable, start: ModelCard | None = None, *, loss: str = "linear", temp_c: float = 27.0,
               v_read: float = DEFAULT_READ_VOLTAGE, free: Sequence[FreeParameter] = PULSE_PARAMETERS,
               progress: Progress | None = None) -> FitOutcome:
    """Fit the switching dynamics to R_after of every row, given R_before, amplitude and width."""
    began = _time.perf_counter()
    start = start or ModelCard.default()
    measured = np.log(table.r_after)

    def gaps_before(card: ModelCard) -> np.ndarray:
        return card.gap_for_resistance(table.r_before, v_read)

    def residual(card: ModelCard, values: Mapping[str, float]) -> np.ndarray:
        after = simulate_pulses(card, table.amplitude, table.width, gaps_before(card), temp_c=temp_c)
        return np.log(card.resistance(after, v_read)) - measured

    initial = pulse_initial_guess(table, start, v_read, [p.key for p in free])
    initial = _scan(residual, start, initial, loss, PULSE_SCAN)
    result, best = _least_squares(residual, len(table), start, free, initial, loss, progress)
    card = _card_with(start, best)
    before = gaps_before(card)
    after = simulate_pulses(card, table.amplitude, table.width, before, temp_c=temp_c)
    r_after = card.resistance(after, v_read)
    fixed = [k for k in parameter_specs(card.module) if k not in {p.key for p in free}]
    rows = _parameter_rows(result, free, initial, card)
    return FitOutcome(
        kind="pulse", card=card, parameters=rows,
        flags=parameter_flags(rows, result, result.failed_evaluations, int(result.nfev)),
        metrics=pulse_metrics(table, r_after),
        settings={"loss": loss, "f_scale": ROBUST_F_SCALE if loss != "linear" else None, "temp_c": temp_c,
                  "v_read": v_read, "residual": "ln(R_after_model) - ln(R_after_measured)",
                  "amplitude": table.amplitude_origin, "pulse_shape": "rectangular plateau of the given width",
                  "fitted": [p.key for p in free], "fixed": fixed},
        curves={"r_after": r_after, "gap_before": before, "gap_after": after},
        nfev=int(result.nfev), success=bool(result.success), message=str(result.message),
        runtime_s=_time.perf_counter() - began,
    )


# ---------------------------------------------------------------------------- distributions


def state_summary(fit: StateFit, resistance: np.ndarray) -> dict[str, Any]:
    """Counts, medians and spreads of one state with 95 % intervals, and each model's fit."""
    ln_r = np.log(resistance)
    n = ln_r.size
    sigma = float(np.std(ln_r, ddof=1))
    sigma_ci = (sigma * math.sqrt((n - 1) / stats.chi2.ppf(0.975, n - 1)),
                sigma * math.sqrt((n - 1) / stats.chi2.ppf(0.025, n - 1)))
    lognormal = fit.models["lognormal"]
    return {
        "n": n, "median_ohm": float(np.median(resistance)), "median_ci95_ohm": list(median_interval(resistance)),
        "sigma_lnR": sigma, "sigma_lnR_ci95": list(sigma_ci), "sigma_lnR_robust": fit.model.sigma_ln,
        "data_range_ohm": list(fit.model.data_range),
        "p01_ohm": float(np.quantile(resistance, 0.01)), "p99_ohm": float(np.quantile(resistance, 0.99)),
        "chosen_model": fit.chosen, "criterion": fit.criterion,
        "lognormal_median_ohm": lognormal.median,
        "models": {kind: {"goodness_of_fit": gof.as_dict(), "median_ohm": fit.models[kind].median,
                          "sigma_lnR_robust": fit.models[kind].sigma_ln}
                   for kind, gof in fit.fits.items()},
        "not_fitted": dict(fit.not_fitted),
        # Kept under their old names for readers of earlier reports:
        "ks_statistic": fit.fits["lognormal"].ks_statistic, "ks_pvalue_approx": fit.fits["lognormal"].ks_pvalue,
    }


def variability_for(card: ModelCard, fits: Sequence[StateFit], v_read: float) -> dict[str, float]:
    """Card variability keys for each state (see `device.model.VARIABILITY_KEYS`): the
    lognormal summary (exp(mean ln R), std of ln R) that the corners stage draws from, and
    its gap: the median's gap, and the spread through the local slope dg/d(ln R) there
    (g0 at low field; less where the series resistance or the read's nonlinearity matter)."""
    keys: dict[str, float] = {"v_read": v_read}
    for fit in fits:
        state = fit.state.lower()
        median = fit.models["lognormal"].median
        step = 0.01
        low, high = card.gap_for_resistance(median * np.exp([-step, step]), v_read)
        keys[f"median_r_{state}"] = median
        keys[f"sigma_lnR_{state}"] = fit.sigma_ln_sample
        keys[f"gap_nom_{state}"] = float(card.gap_for_resistance(median, v_read))
        keys[f"sigma_gap_{state}"] = fit.sigma_ln_sample * float(high - low) / (2 * step)
    return keys


def bounds_holding_states(card: ModelCard, variability: Mapping[str, float]) -> tuple[ModelCard, list[dict[str, str]]]:
    """The card with its gap bounds widened, where needed, to hold every state's median gap
    (a nominal state must lie inside its bounds: rram_hfox.va refuses it otherwise), and a
    flag for each widening. Cells programmed to the RESET (SET) saturation sit around gmax
    (gmin): half of them read beyond it, and their median may too."""
    gmin, gmax = card.value("gmin"), card.value("gmax")
    gaps = {key.removeprefix("gap_nom_").upper(): value for key, value in variability.items()
            if key.startswith("gap_nom_")}
    new_min, new_max = min([gmin, *gaps.values()]), max([gmax, *gaps.values()])
    flags = []
    for name, old, new in (("gmin", gmin, new_min), ("gmax", gmax, new_max)):
        if new != old:
            states = ", ".join(s for s, g in gaps.items() if g == new)
            flags.append({"what": name, "problem": "bound_widened",
                          "message": f"the {states} median reads at a gap of {new:.5g} m, beyond the card's {name} "
                          f"{old:.5g} m: {name} widened to it (a nominal state must lie inside its bounds); the "
                          "switching fit's bound was narrower than the programmed states"})
    if not flags:
        return card, flags
    return card.with_values({"gmin": max(new_min, 0.0), "gmax": new_max}), flags


def distribution_flags(fits: Sequence[StateFit], split: dict[str, Any] | None) -> list[dict[str, str]]:
    """What a device engineer must know before trusting the distributions, in words."""
    flags = []
    for fit in fits:
        chosen = fit.fits[fit.chosen]
        if chosen.ks_rejects:
            flags.append({"what": f"{fit.state}: {fit.chosen}", "problem": "ks_rejects",
                          "message": f"{fit.state}: even the best model ({fit.chosen}) is rejected by the "
                          f"Kolmogorov-Smirnov test (largest CDF gap {chosen.ks_statistic:.3g}, p = {chosen.ks_pvalue:.2g} "
                          f"with {chosen.cells} cells): the data have structure none of the models follow"})
        lognormal = fit.fits["lognormal"]
        if lognormal.ks_rejects or lognormal.ad_rejects:
            flags.append({"what": f"{fit.state}: lognormal", "problem": "ks_rejects" if lognormal.ks_rejects
                          else "ad_rejects",
                          "message": f"{fit.state}: the lognormal is rejected (KS gap {lognormal.ks_statistic:.3g}, "
                          f"p = {lognormal.ks_pvalue:.2g}; Anderson-Darling A2 {lognormal.anderson_darling:.3g}). The "
                          f"card's lognormal summary (median_r_{fit.state.lower()}, sigma_lnR_{fit.state.lower()}) "
                          f"misdescribes this state's tails; use the chosen model ({fit.chosen}) on the card"})
        if fit.samples < 30:
            flags.append({"what": fit.state, "problem": "few_cells",
                          "message": f"{fit.state}: only {fit.samples} cells; its spread is poorly known"})
    if split and split.get("components") and len(split.get("states", {})) == 1:
        flags.append({"what": "states", "problem": "one_state",
                      "message": "no second population was found: the file holds one state (give --threshold or "
                      "state labels if it should hold more)"})
    return flags


def fit_distribution(data: ResistanceDistribution, start: ModelCard | None = None, *,
                     v_read: float = DEFAULT_READ_VOLTAGE, criterion: str = "bic",
                     threshold_ohm: Sequence[float] | None = None, max_states: int = 4,
                     state_names: Sequence[str] | None = None) -> FitOutcome:
    """Resistance distribution per state: lognormal, lognormal mixture and empirical body
    with GPD tails, the chosen one by `criterion`. Without state labels the populations are
    found first (`device.distributions.find_states`, or split at `threshold_ohm`)."""
    began = _time.perf_counter()
    start = start or ModelCard.default()
    split_summary: dict[str, Any] | None = None
    if data.labelled:
        labels, names = data.state, data.states
        how = "state column" if "state" in data.source.columns else "one state label per file"
    else:
        try:
            split = find_states(data.resistance, threshold_ohm=threshold_ohm, max_components=max_states,
                                names=state_names)
        except DistributionError as error:
            raise FitError(f"{data.source.path}: {error}") from None
        labels, names = split.labels, list(split.names)
        split_summary = split.summary(data.resistance)
        how = split.method
    fits = []
    for state in names:
        try:
            fits.append(fit_state(data.resistance[labels == state], state, criterion))
        except DistributionError as error:
            raise FitError(f"{data.source.path}, state {state}: {error}") from None
    variability = dict(start.variability) | variability_for(start, fits, v_read)
    bounded, bound_flags = bounds_holding_states(start, variability)
    card = bounded.with_values(variability=variability, distributions={fit.state: fit.to_dict() for fit in fits})
    g0 = card.value("g0")
    parameters: dict[str, dict[str, Any]] = {}
    for fit in fits:
        s = fit.state.lower()
        n = fit.samples
        se_mu = fit.sigma_ln_sample / math.sqrt(n)
        se_sigma = fit.sigma_ln_sample / math.sqrt(2 * (n - 1))
        median = variability[f"median_r_{s}"]
        parameters[f"median_r_{s}"] = {"value": median, "stderr": median * se_mu, "unit": "ohm", "vary": True}
        parameters[f"sigma_lnR_{s}"] = {"value": fit.sigma_ln_sample, "stderr": se_sigma, "unit": "", "vary": True}
        parameters[f"gap_nom_{s}"] = {"value": variability[f"gap_nom_{s}"], "stderr": g0 * se_mu, "unit": "m",
                                      "vary": True}
        slope = variability[f"sigma_gap_{s}"] / fit.sigma_ln_sample if fit.sigma_ln_sample > 0 else g0
        parameters[f"gap_nom_{s}"]["stderr"] = slope * se_mu
        parameters[f"sigma_gap_{s}"] = {"value": variability[f"sigma_gap_{s}"], "stderr": slope * se_sigma,
                                        "unit": "m", "vary": True}
    states = {fit.state: state_summary(fit, data.resistance[labels == fit.state]) for fit in fits}
    return FitOutcome(
        kind="distribution", card=card, parameters=parameters,
        metrics={"states": states, "state_finding": split_summary or {"method": how}},
        settings={"estimator": "per state: lognormal (maximum likelihood), lognormal mixture (EM, components by "
                               "BIC), empirical quantile body with generalized Pareto tails (maximum likelihood on "
                               f"the exceedances); the card's chosen model by {criterion.upper()}",
                  "states_from": how, "criterion": criterion,
                  "confidence": "95 %: order-statistic interval for the median, chi-square interval for sigma, "
                                "Clopper-Pearson for fractions",
                  "v_read": v_read, "mapping": "gap_nom = gap_for_resistance(median), sigma_gap = sigma_lnR * dg/d(ln R) "
                                               "at the median (g0 at low field); gmin/gmax widened to hold every "
                                               "median (flagged)"},
        curves={"fits": fits, "labels": labels},
        flags=distribution_flags(fits, split_summary) + bound_flags,
        runtime_s=_time.perf_counter() - began,
    )


# ---------------------------------------------------------------------------- retention


def fit_retention(tables: Sequence[Any], start: ModelCard | None = None, **options: Any) -> FitOutcome:
    """`circuitkit fit --kind retention`: `device.relaxation.fit_retention` (options as it takes),
    its model carried on `start` (or the default card)."""
    from circuitkit.device.relaxation import fit_retention as fit_relaxation_of

    began = _time.perf_counter()
    fit, pairs, metrics, summary = fit_relaxation_of(tables, **options)
    series = metrics.pop("series", {})
    if fit is None:  # time series only: read noise against drift, no model for the card
        return FitOutcome(kind="retention", card=start or ModelCard.default(), parameters={}, metrics=metrics,
                          settings={"fitted": [], "summary": summary}, curves={"pairs": None, "fit": None,
                                                                               "series": series},
                          flags=[{"what": "relaxation", "problem": "no_model", "message": summary[-1]}],
                          runtime_s=_time.perf_counter() - began)
    units = {"activation_energy_ev": "eV", "m0": "ln R", "m1": "ln R", "m2": "ln R", "unrelated_mean": "ln R"}
    rows = {name: {"value": row["value"], "stderr": row.get("stderr"), "unit": units.get(name, ""),
                   "vary": row["vary"], **{k: row[k] for k in ("ci95", "interval", "held", "ci95_reaches_bound")
                                            if k in row}}
            for name, row in fit.parameters.items()}
    optimizer = fit.settings["optimizer"]
    return FitOutcome(kind="retention", card=(start or ModelCard.default()).with_values(relaxation=fit.model.to_dict()),
                      parameters=rows, metrics=metrics,
                      settings=fit.settings | {"fitted": [n for n, r in rows.items() if r["vary"]], "summary": summary},
                      curves={"pairs": pairs, "fit": fit, "series": series}, flags=fit.flags, nfev=optimizer["evaluations"],
                      success=optimizer["success"], message=optimizer["message"],
                      runtime_s=_time.perf_counter() - began)
