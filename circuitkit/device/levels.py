"""Low-field I-V of programmed cells: does the model's current equation follow real reads?

The file holds, for many cells (an address column), the current at read voltages below
any switching (e.g. 0 - 0.35 V). The model says I = i0 exp(-g/g0) sinh(V/v0): every cell
has its own amplitude A = i0 exp(-g/g0) (its gap), all share the shape sinh(V/v0). The
fit finds v0 (profile least squares: for each v0, every cell's amplitude and a current
offset, the instrument's zero, are linear and solved in closed form), with each cell's
residuals scaled by its own current so a 5 kohm cell and a 500 kohm cell count alike.

Reported beside the fit: the same with the start card's v0 and with an ohmic (linear)
law, and the measured super-linearity G(V_max)/G(0.1 V) against the model's. The card
gets the fitted v0 and an i0 that keeps the most conductive cells at the gap gmin (i0,
g0 and the gaps cannot be told apart from reads: only i0 exp(-g/g0) is seen).
"""

from __future__ import annotations

import math
import time as _time
from typing import Any

import numpy as np
from scipy import optimize, stats

from circuitkit.device.fit import FitError, FitOutcome, parameter_flags
from circuitkit.device.model import ModelCard, parameter_specs
from circuitkit.measurements import IVSweep

V0_RANGE = (0.05, 50.0)  # V; at the top the sinh is linear to 1e-5 below 0.35 V


def _cells(sweep: IVSweep) -> tuple[np.ndarray, list[np.ndarray]]:
    if sweep.address is None:
        raise FitError(f"{sweep.source.path}: a levels fit needs an address column (which cell each read is); map it "
                       "with --column address=N")
    names, index = np.unique(sweep.address, return_inverse=True)
    groups = [np.flatnonzero(index == k) for k in range(len(names))]
    short = [names[k] for k, g in enumerate(groups) if g.size < 4]
    if short:
        raise FitError(f"{sweep.source.path}: cell(s) {', '.join(map(str, short[:5]))} have fewer than 4 reads")
    return names, groups


def _solve(sweep: IVSweep, groups: list[np.ndarray], v0: float, offset: bool = True):
    """Per-cell amplitude (and offset) for a given v0; residuals scaled by each cell's current."""
    residuals, amplitudes, offsets = [], np.empty(len(groups)), np.empty(len(groups))
    for k, rows in enumerate(groups):
        v, i = sweep.voltage[rows], sweep.current[rows]
        ohmic = v0 >= V0_RANGE[1] * 10
        shape = v if ohmic else np.sinh(v / v0)  # amplitude: conductance (ohmic) or i0 exp(-g/g0) (A)
        design = np.column_stack([shape, np.ones_like(v)]) if offset else shape[:, None]
        coef, *_ = np.linalg.lstsq(design, i, rcond=None)
        scale = max(float(np.max(np.abs(i))), 1e-15)
        residuals.append((i - design @ coef) / scale)
        amplitudes[k] = coef[0]
        offsets[k] = coef[1] if offset else 0.0
    return np.concatenate(residuals), amplitudes, offsets


def nonlinearity(voltage: np.ndarray, current: np.ndarray, offset: float, v_high: float, v_low: float = 0.1) -> float:
    """Chord conductance at v_high over that at v_low (1 for an ohmic cell), offset removed."""
    i_high = np.interp(v_high, voltage, current) - offset
    i_low = np.interp(v_low, voltage, current) - offset
    return float((i_high / v_high) / (i_low / v_low))


def fit_levels(sweep: IVSweep, start: ModelCard | None = None, *, v_read: float = 0.2) -> FitOutcome:
    began = _time.perf_counter()
    start = start or ModelCard.default()
    names, groups = _cells(sweep)
    n_points = len(sweep)
    n_params = 2 * len(groups) + 1

    def sse(log_v0: float) -> float:
        r, _, _ = _solve(sweep, groups, math.exp(log_v0))
        return float(r @ r)

    bounds = (math.log(V0_RANGE[0]), math.log(V0_RANGE[1]))
    grid = np.linspace(*bounds, 41)
    values = [sse(x) for x in grid]
    k = int(np.argmin(values))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    result = optimize.minimize_scalar(sse, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    v0 = math.exp(result.x)
    best = float(result.fun)
    # profile-likelihood 95 % interval: SSE(v0) <= SSE_min (1 + chi2_95(1) / (N - p))
    limit = best * (1 + stats.chi2.ppf(0.95, 1) / max(n_points - n_params, 1))
    ci = []
    for side in (bounds[0], bounds[1]):
        if sse(side) <= limit:
            ci.append(math.exp(side))
        else:
            ci.append(math.exp(optimize.brentq(lambda x: sse(x) - limit, side, result.x) if side < result.x
                               else optimize.brentq(lambda x: sse(x) - limit, result.x, side)))
    r_fit, amplitude, offset = _solve(sweep, groups, v0)
    r_start, _, _ = _solve(sweep, groups, start.value("v0"))
    r_ohmic, a_ohmic, off_ohmic = _solve(sweep, groups, V0_RANGE[1] * 100)
    v_max = float(np.max(sweep.voltage))
    measured = np.array([nonlinearity(sweep.voltage[g], sweep.current[g], off_ohmic[k], v_max)
                         for k, g in enumerate(groups)])
    usable = np.isfinite(measured) & (a_ohmic > 0)

    def model_ratio(v0_: float) -> float:
        return float((math.sinh(v_max / v0_) / v_max) / (math.sinh(0.1 / v0_) / 0.1))

    # the card: fitted v0; i0 keeps the most conductive cells (1st percentile of R) at gmin
    g0, gmin = start.value("g0"), start.value("gmin")
    amp = amplitude[amplitude > 0]
    if amp.size == 0:
        raise FitError(f"{sweep.source.path}: no cell has a positive conductance; check the current's sign and units")
    conductive = float(np.quantile(amp, 0.99))  # amplitude = i0 exp(-g/g0) (A)
    i0 = conductive * math.exp(gmin / g0)
    card = start.with_values({"v0": v0, "i0": i0})
    resistance_read = v_read / (amp * np.sinh(v_read / v0))
    at_bound = not (V0_RANGE[0] * 1.01 < v0 < V0_RANGE[1] / 1.01)
    rows = {
        "v0": {"value": v0, "stderr": None, "ci95": ci, "unit": "V", "vary": True, "initial": start.value("v0"),
               "fit_space": {"name": "v0", "value": v0, "stderr": (ci[1] - ci[0]) / (2 * 1.96),
                             "lower": V0_RANGE[0], "upper": V0_RANGE[1]}},
        "i0": {"value": i0, "stderr": None, "unit": "A", "vary": True, "initial": start.value("i0"),
               "note": "set so the most conductive 1 % of cells sit at gmin (not determined by reads alone)"},
    }
    for key, spec in parameter_specs(card.module).items():
        if key not in rows and key in card.parameters | dict(card.instance_defaults):
            rows[key] = {"value": card.value(key), "stderr": None, "unit": spec.unit, "vary": False}
    flags = parameter_flags({"v0": rows["v0"]}) if at_bound else []
    if at_bound:
        flags.append({"what": "v0", "problem": "ohmic",
                      "message": f"the reads are ohmic within their noise: v0 runs to the edge of its range "
                      f"({v0:.3g} V); the model's sinh(V/v0) can only approximate a linear cell"})
    rms = lambda r: float(np.sqrt(np.mean(r ** 2)))  # noqa: E731
    metrics = {
        "cells": len(groups), "points": n_points, "v_max": v_max,
        "v0_fitted": v0, "v0_ci95": ci, "v0_start": start.value("v0"),
        "rms_relative_current_error": {"fitted_v0": rms(r_fit), "start_v0": rms(r_start), "ohmic": rms(r_ohmic)},
        "nonlinearity_G_vmax_over_G_0p1": {
            "measured_median": float(np.median(measured[usable])),
            "measured_iqr": [float(np.quantile(measured[usable], 0.25)), float(np.quantile(measured[usable], 0.75))],
            "model_fitted_v0": model_ratio(v0), "model_start_v0": model_ratio(start.value("v0")),
        },
        "offset_current_A": {"median": float(np.median(offset)), "iqr": [float(np.quantile(offset, 0.25)),
                                                                         float(np.quantile(offset, 0.75))]},
        "read_resistance_at_v_read": {"v_read": v_read, "median_ohm": float(np.median(resistance_read)),
                                      "p01_ohm": float(np.quantile(resistance_read, 0.01)),
                                      "p99_ohm": float(np.quantile(resistance_read, 0.99))},
    }
    summary = [
        f"low-field I-V of {len(groups)} cells up to {v_max:g} V: v0 = {v0:.3g} V (95 % CI {ci[0]:.3g} .. {ci[1]:.3g}) "
        f"against the start card's {start.value('v0'):g} V",
        f"rms relative current error: fitted v0 {rms(r_fit):.4f}, start v0 {rms(r_start):.4f}, ohmic {rms(r_ohmic):.4f}",
        f"G({v_max:g} V)/G(0.1 V): measured median {metrics['nonlinearity_G_vmax_over_G_0p1']['measured_median']:.3f} "
        f"(IQR {metrics['nonlinearity_G_vmax_over_G_0p1']['measured_iqr'][0]:.3f} .. "
        f"{metrics['nonlinearity_G_vmax_over_G_0p1']['measured_iqr'][1]:.3f}), model {model_ratio(v0):.3f} with the "
        f"fitted v0, {model_ratio(start.value('v0')):.3f} with the start card's",
    ]
    return FitOutcome(
        kind="levels", card=card, parameters=rows, metrics=metrics,
        settings={"model": "I = offset + i0 exp(-g/g0) sinh(V/v0) per cell, v0 shared; residuals scaled by each "
                           "cell's largest current", "v_read": v_read, "fitted": ["v0", "i0"],
                  "confidence": "profile least squares, chi-square(1) at 95 %", "summary": summary},
        curves={"names": names, "groups": groups, "amplitude": amplitude, "offset": offset, "measured_ratio": measured},
        flags=flags, runtime_s=_time.perf_counter() - began,
    )


def resimulate(outcome: FitOutcome, sweep: IVSweep, workdir, cells: int = 64) -> tuple[Any, dict, dict]:
    """ngspice DC sweep of the compiled model for a spread of cells (gap per cell from its
    fitted amplitude): its currents against the Python equation's and the data's."""
    from circuitkit.spice.runner import run_batch

    card = outcome.card
    groups, amplitude, offset = outcome.curves["groups"], outcome.curves["amplitude"], outcome.curves["offset"]
    v0, i0, g0 = card.value("v0"), card.value("i0"), card.value("g0")
    order = np.argsort(amplitude)
    chosen = [int(k) for k in order[np.linspace(0, len(order) - 1, min(cells, len(order))).astype(int)]
              if amplitude[k] > 0]
    gaps = [g0 * math.log(i0 / amplitude[k]) for k in chosen]
    v_max = float(np.max(sweep.voltage))
    # one device per branch, each with its own ammeter
    body = ["* circuitkit fit: low-field reads of fitted cells", card.model_line("rram_fit"), "Vread r 0 0"]
    for j, gap in enumerate(gaps):
        body += [f"Vm{j} r n{j} 0", f"N{j} n{j} 0 rram_fit {card.instance_parameters(gap_init=gap)}"]
    body += [f".dc Vread 0 {v_max:.6g} {v_max / 35:.6g}", ".end"]
    result = run_batch("\n".join(body) + "\n", name="levels", workdir=workdir)
    volts = np.asarray(result["v(r)"]).ravel()
    errors, data_errors = [], []
    for j, k in enumerate(chosen):
        spice = np.asarray(result[f"i(vm{j})"]).ravel()
        python = card.current(volts, gaps[j])
        ok = volts > 0.02
        errors.append(np.max(np.abs(spice[ok] / python[ok] - 1)))
        rows = groups[k]
        measured = np.interp(volts[ok], sweep.voltage[rows], sweep.current[rows]) - offset[k]
        data_errors.append(np.sqrt(np.mean((spice[ok] / measured - 1) ** 2)))
    metrics = {"cells": len(chosen), "max_relative_difference_ngspice_vs_python": float(np.max(errors)),
               "median_rms_relative_error_ngspice_vs_data": float(np.median(data_errors))}
    return {"volts": volts, "chosen": chosen, "result": result}, metrics, {"cells_simulated": len(chosen)}


def plot(path, sweep: IVSweep, outcome: FitOutcome, spice, name: str):
    from circuitkit.report.fit_plots import finish as _finish, plt

    card = outcome.card
    groups, amplitude, offset = outcome.curves["groups"], outcome.curves["amplitude"], outcome.curves["offset"]
    v0 = card.value("v0")
    start_v0 = outcome.metrics["v0_start"]
    fig, (ax_iv, ax_ratio) = plt.subplots(1, 2, figsize=(11, 4.6))
    order = np.argsort(amplitude)
    for k in order[np.linspace(0, len(order) - 1, 6).astype(int)]:
        rows = groups[k]
        v, i = sweep.voltage[rows], sweep.current[rows] - offset[k]
        line, = ax_iv.plot(v, i * 1e6, "o", markersize=3, markerfacecolor="none")
        grid = np.linspace(0, v.max(), 100)
        ax_iv.plot(grid, amplitude[k] * np.sinh(grid / v0) * 1e6, color=line.get_color(), linewidth=1.2)
        ax_iv.plot(grid, amplitude[k] * np.sinh(0.1 / v0) / np.sinh(0.1 / start_v0) * np.sinh(grid / start_v0) * 1e6,
                   color=line.get_color(), linewidth=0.8, linestyle=":")
    ax_iv.set_xlabel("read voltage (V)")
    ax_iv.set_ylabel("current minus offset (uA)")
    ax_iv.set_title(f"6 of {len(groups)} cells: dots measured, line fitted v0 = {v0:.3g} V, dotted v0 = {start_v0:g} V "
                    "(matched at 0.1 V)", fontsize=8)
    ax_iv.grid(True, alpha=0.3)
    ratio = outcome.curves["measured_ratio"]
    ratio = ratio[np.isfinite(ratio)]
    ax_ratio.hist(np.clip(ratio, 0.5, 2.0), bins=60, color="0.5", label="measured cells")
    m = outcome.metrics["nonlinearity_G_vmax_over_G_0p1"]
    ax_ratio.axvline(m["model_fitted_v0"], color="tab:blue", label=f"model, fitted v0 ({m['model_fitted_v0']:.3f})")
    ax_ratio.axvline(m["model_start_v0"], color="tab:red", linestyle=":",
                     label=f"model, v0 = {start_v0:g} V ({m['model_start_v0']:.3f})")
    ax_ratio.axvline(1.0, color="0.2", linewidth=0.8, label="ohmic")
    ax_ratio.set_xlabel(f"G({outcome.metrics['v_max']:g} V) / G(0.1 V)")
    ax_ratio.set_ylabel("cells")
    ax_ratio.legend(fontsize=7)
    ax_ratio.set_title("super-linearity of the low-field I-V", fontsize=9)
    return _finish(fig, path, f"{name}: low-field I-V, rram_hfox current equation")
