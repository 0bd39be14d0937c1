"""Low-field I-V of programmed cells: does the model's current equation follow real reads?

The file holds, for many cells (an address column), the current at read voltages below
any switching (e.g. 0 - 0.35 V). The model (rram_hfox.va) says

    I = i0 exp(-g/g0) (V/v0) sinhc(h(g) V/v0),   h(g) = 1 - exp(-g/g_h)

(at the card's reference temperature and through its series resistance rs): every cell
has its own gap g, all share v0 and g_h, the shape of the state-dependent nonlinearity
(ohmic for a closed gap, sinh(V/v0) for an open one). The fit finds (v0, g_h) by profile
least squares: for each pair, every cell's gap (a one-dimensional search, vectorised over
the cells) and a current offset (the instrument's zero, linear, in closed form), with each
cell's residuals scaled by its own current so a 5 kohm cell and a 500 kohm cell count
alike. The absolute gaps come from the card's rule for i0: the most conductive 1 % of
cells sit at the gap gmin (i0, g0 and the gaps cannot be told apart from reads: only
i0 exp(-g/g0) is seen; h(g) makes the shape depend on where the gaps sit, so the rule is
applied inside the fit).

Reported beside it: the state-independent shape (g_h = 0, v0 fitted: the model before
issue 15), the start card's shape and an ohmic law, and the measured super-linearity
G(V_max)/G(0.1 V) per resistance band against the model's: how the fit follows the levels.
The series resistance rs is taken from the start card, never fitted: low-field reads
cannot tell it from the cell (the fit's error changes by 0.2 % between 0 and 4 kohm on the
bundled array, whose reads also include the access transistor's on-resistance).
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
G_H_RANGE = (0.02e-9, 20e-9)  # m; at the bottom h = 1 at every gap (the state-independent shape)
_LN_G_SPAN = 12.0  # ln-conductance search range per cell around its ohmic estimate
_BANDS = 8  # resistance bands of the nonlinearity table


class _Reads:
    """The cells' reads as (cells x points) arrays (NaN-padded), their scales and an ohmic fit."""

    def __init__(self, sweep: IVSweep):
        if sweep.address is None:
            raise FitError(f"{sweep.source.path}: a levels fit needs an address column (which cell each read is); "
                           "map it with --column address=N")
        names, index = np.unique(sweep.address, return_inverse=True)
        groups = [np.flatnonzero(index == k) for k in range(len(names))]
        short = [names[k] for k, g in enumerate(groups) if g.size < 4]
        if short:
            raise FitError(f"{sweep.source.path}: cell(s) {', '.join(map(str, short[:5]))} have fewer than 4 reads")
        width = max(g.size for g in groups)
        self.names, self.groups = names, groups
        self.voltage = np.full((len(groups), width), np.nan)
        self.current = np.full((len(groups), width), np.nan)
        for k, rows in enumerate(groups):
            order = np.argsort(sweep.voltage[rows], kind="stable")
            self.voltage[k, :rows.size] = sweep.voltage[rows][order]
            self.current[k, :rows.size] = sweep.current[rows][order]
        self.valid = np.isfinite(self.voltage)
        self.count = self.valid.sum(axis=1)
        self.scale = np.maximum(np.nanmax(np.abs(self.current), axis=1), 1e-15)
        self.v_safe = np.where(self.valid, self.voltage, 0.0)
        self.i_safe = np.where(self.valid, self.current, 0.0)
        # ohmic estimate per cell: conductance and offset by least squares
        v_mean = self.v_safe.sum(axis=1) / self.count
        i_mean = self.i_safe.sum(axis=1) / self.count
        dv = np.where(self.valid, self.v_safe - v_mean[:, None], 0.0)
        self.ohmic_g = (dv * self.i_safe).sum(axis=1) / np.maximum((dv * dv).sum(axis=1), 1e-300)
        self.ohmic_offset = i_mean - self.ohmic_g * v_mean


def _card(start: ModelCard, v0: float, g_h: float, ln_g_ref: float) -> ModelCard:
    """The start card with (v0, g_h) and the i0 that puts a low-field conductance exp(ln_g_ref)
    at the gap gmin (at the card's reference temperature)."""
    gmin, g0 = start.value("gmin"), start.value("g0")
    return start.with_values({"v0": v0, "g_h": g_h, "i0": v0 * math.exp(ln_g_ref + gmin / g0)})


def _model_currents(card: ModelCard, reads: _Reads, gaps: np.ndarray) -> np.ndarray:
    return card.current(reads.v_safe, gaps[:, None], temp_c=card.value("tnom"))


def _residuals(card: ModelCard, reads: _Reads, gaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scaled residuals (cells x points, 0 where padded) with each cell's offset solved, and the offsets."""
    shape = _model_currents(card, reads, gaps)
    offset = np.where(reads.valid, reads.i_safe - shape, 0.0).sum(axis=1) / reads.count
    r = np.where(reads.valid, (reads.i_safe - shape - offset[:, None]) / reads.scale[:, None], 0.0)
    return r, offset


def _cell_gaps(card: ModelCard, reads: _Reads, iterations: int = 40) -> np.ndarray:
    """Every cell's gap for this card: golden-section search on ln(low-field conductance),
    vectorised over the cells, around the cell's ohmic conductance."""
    g0, i0, v0 = card.value("g0"), card.value("i0"), card.value("v0")
    ln_guess = np.log(np.maximum(reads.ohmic_g, 1e-12))

    def gap_of(ln_g):  # low-field conductance i0 exp(-g/g0) / v0
        return g0 * (math.log(i0 / v0) - ln_g)

    def cost(ln_g):
        r, _ = _residuals(card, reads, gap_of(ln_g))
        return (r * r).sum(axis=1)

    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    low, high = ln_guess - _LN_G_SPAN / 2, ln_guess + _LN_G_SPAN / 2
    c, d = high - ratio * (high - low), low + ratio * (high - low)
    fc, fd = cost(c), cost(d)
    for _ in range(iterations):
        left = fc < fd
        high, low = np.where(left, d, high), np.where(left, low, c)
        c_new, d_new = high - ratio * (high - low), low + ratio * (high - low)
        # golden section keeps one of its two points: evaluate only the new one
        f_new = cost(np.where(left, c_new, d_new))
        fc, fd = np.where(left, f_new, fd), np.where(left, fc, f_new)
        c, d = np.where(left, c_new, d), np.where(left, c, d_new)
    return gap_of(0.5 * (low + high))


class _Profile:
    """SSE of the reads for (v0, g_h), every cell's gap and offset profiled out."""

    def __init__(self, start: ModelCard, reads: _Reads):
        self.start, self.reads = start, reads
        self.ln_g_ref = float(np.quantile(np.log(np.maximum(reads.ohmic_g, 1e-12)), 0.99))

    def card(self, v0: float, g_h: float) -> ModelCard:
        return _card(self.start, v0, g_h, self.ln_g_ref)

    def solve(self, v0: float, g_h: float) -> tuple[ModelCard, np.ndarray, np.ndarray, np.ndarray]:
        card = self.card(v0, g_h)
        gaps = _cell_gaps(card, self.reads)
        r, offset = _residuals(card, self.reads, gaps)
        return card, gaps, r, offset

    def sse(self, v0: float, g_h: float) -> float:
        r = self.solve(v0, g_h)[2]
        return float((r * r).sum())

    def anchor(self, v0: float, g_h: float) -> None:
        """Put the most conductive 1 % of cells at gmin for this shape (the i0 rule)."""
        card, gaps, _, _ = self.solve(v0, g_h)
        self.ln_g_ref += (card.value("gmin") - float(np.quantile(gaps, 0.01))) / card.value("g0")


def nonlinearity(voltage: np.ndarray, current: np.ndarray, offset: float, v_high: float, v_low: float = 0.1) -> float:
    """Chord conductance at v_high over that at v_low (1 for an ohmic cell), offset removed."""
    i_high = np.interp(v_high, voltage, current) - offset
    i_low = np.interp(v_low, voltage, current) - offset
    return float((i_high / v_high) / (i_low / v_low))


def fit_levels(sweep: IVSweep, start: ModelCard | None = None, *, v_read: float = 0.2) -> FitOutcome:
    began = _time.perf_counter()
    start = start or ModelCard.default()
    reads = _Reads(sweep)
    cells = len(reads.groups)
    n_points = len(sweep)
    n_params = 2 * cells + 2
    profile = _Profile(start, reads)
    to_x = lambda v0, g_h: np.array([math.log(v0), math.log(g_h)])  # noqa: E731
    bounds = [tuple(math.log(b) for b in V0_RANGE), tuple(math.log(b) for b in G_H_RANGE)]

    def objective(x: np.ndarray) -> float:
        x = np.clip(x, [b[0] for b in bounds], [b[1] for b in bounds])
        return profile.sse(math.exp(x[0]), math.exp(x[1]))

    # coarse grid, the i0 anchor at its best point, then Nelder-Mead in log space
    grid = [(v0, g_h) for v0 in (0.1, 0.2, 0.4, 1.0) for g_h in (0.1e-9, 0.5e-9, 2e-9, G_H_RANGE[0])]
    v0, g_h = min(grid, key=lambda p: profile.sse(*p))
    profile.anchor(v0, g_h)
    result = optimize.minimize(objective, to_x(v0, g_h), method="Nelder-Mead",
                               options={"xatol": 1e-4, "fatol": 1e-12, "maxfev": 400})
    x = np.clip(result.x, [b[0] for b in bounds], [b[1] for b in bounds])
    profile.anchor(math.exp(x[0]), math.exp(x[1]))
    result = optimize.minimize(objective, x, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-12,
                                                                             "maxfev": 200})
    x = np.clip(result.x, [b[0] for b in bounds], [b[1] for b in bounds])
    v0, g_h = math.exp(x[0]), math.exp(x[1])
    card, gaps, r_fit, offset = profile.solve(v0, g_h)
    best = float((r_fit * r_fit).sum())
    # approximate 95 % intervals: curvature of the profiled SSE in (ln v0, ln g_h)
    sigma2 = best / max(n_points - n_params, 1)
    step = 0.02
    hessian = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            e_i, e_j = np.eye(2)[i] * step, np.eye(2)[j] * step
            hessian[i, j] = (objective(x + e_i + e_j) - objective(x + e_i - e_j) - objective(x - e_i + e_j)
                             + objective(x - e_i - e_j)) / (4 * step * step)
    try:
        covariance = 2 * sigma2 * np.linalg.inv(hessian)
        se_ln = np.sqrt(np.where(np.diag(covariance) > 0, np.diag(covariance), np.nan))
    except np.linalg.LinAlgError:
        se_ln = np.array([np.nan, np.nan])
    z = stats.norm.ppf(0.975)
    ci = {name: [math.exp(x[k] - z * se_ln[k]), math.exp(x[k] + z * se_ln[k])] if np.isfinite(se_ln[k]) else None
          for k, name in enumerate(("v0", "g_h"))}

    # alternatives: the state-independent shape (g_h -> 0, v0 refitted), the start card's, ohmic
    flat = optimize.minimize_scalar(lambda lv: profile.sse(math.exp(lv), G_H_RANGE[0]),
                                    bounds=bounds[0], method="bounded", options={"xatol": 1e-4})
    v0_flat = math.exp(flat.x)
    r_flat = profile.solve(v0_flat, G_H_RANGE[0])[2]
    r_start = profile.solve(start.value("v0"), start.value("g_h"))[2]
    r_ohmic = profile.solve(V0_RANGE[1] * 100, G_H_RANGE[0])[2]

    v_max = float(np.nanmax(reads.voltage))
    measured = np.array([nonlinearity(reads.voltage[k, :reads.count[k]], reads.current[k, :reads.count[k]],
                                      offset[k], v_max) for k in range(cells)])
    tnom = card.value("tnom")

    def model_ratio(c: ModelCard, gap: np.ndarray) -> np.ndarray:
        return (c.current(v_max, gap, temp_c=tnom) / v_max) / (c.current(0.1, gap, temp_c=tnom) / 0.1)

    ratio_fit = model_ratio(card, gaps)
    flat_card, flat_gaps = profile.solve(v0_flat, G_H_RANGE[0])[:2]
    ratio_flat = model_ratio(flat_card, flat_gaps)
    resistance_read = np.asarray(card.resistance(gaps, v_read, tnom))
    usable = np.isfinite(measured)
    edges = np.quantile(np.log(resistance_read), np.linspace(0, 1, _BANDS + 1))
    band = np.clip(np.searchsorted(edges, np.log(resistance_read), side="right") - 1, 0, _BANDS - 1)
    bands = []
    for b in range(_BANDS):
        pick = (band == b) & usable
        if not pick.any():
            continue
        bands.append({"r_low_ohm": float(math.exp(edges[b])), "r_high_ohm": float(math.exp(edges[b + 1])),
                      "cells": int(pick.sum()), "measured_median": float(np.median(measured[pick])),
                      "measured_iqr": [float(np.quantile(measured[pick], 0.25)), float(np.quantile(measured[pick], 0.75))],
                      "model_median": float(np.median(ratio_fit[pick])),
                      "state_independent_model_median": float(np.median(ratio_flat[pick]))})
    band_error = lambda key: float(np.sqrt(np.mean([(row[key] - row["measured_median"]) ** 2 for row in bands])))  # noqa: E731

    rows = {
        "v0": _row(v0, ci["v0"], "V", start.value("v0"), V0_RANGE, x[0], se_ln[0], "ln_v0"),
        "g_h": _row(g_h, ci["g_h"], "m", start.value("g_h"), G_H_RANGE, x[1], se_ln[1], "ln_g_h"),
        "i0": {"value": card.value("i0"), "stderr": None, "unit": "A", "vary": True, "initial": start.value("i0"),
               "note": "set so the most conductive 1 % of cells sit at gmin (not determined by reads alone)"},
    }
    for key, spec in parameter_specs(card.module).items():
        if key not in rows and key in card.parameters | dict(card.instance_defaults):
            rows[key] = {"value": card.value(key), "stderr": None, "unit": spec.unit, "vary": False}
    flags = parameter_flags({k: rows[k] for k in ("v0", "g_h")})
    if not (V0_RANGE[0] * 1.01 < v0 < V0_RANGE[1] / 1.01) or not (G_H_RANGE[0] * 1.01 < g_h < G_H_RANGE[1] / 1.01):
        flags.append({"what": "shape", "problem": "shape_at_range_edge",
                      "message": f"the low-field shape runs to the edge of its range (v0 {v0:.3g} V, g_h {g_h:.3g} m): "
                      "the reads are ohmic within their noise, or their nonlinearity does not grow with the state"})
    rms = lambda r: float(np.sqrt(np.sum(r ** 2) / n_points))  # noqa: E731
    metrics = {
        "cells": cells, "points": n_points, "v_max": v_max,
        "v0_fitted": v0, "v0_ci95": ci["v0"], "g_h_fitted": g_h, "g_h_ci95": ci["g_h"], "v0_start": start.value("v0"),
        "v0_state_independent": v0_flat,
        "rms_relative_current_error": {"fitted": rms(r_fit), "state_independent": rms(r_flat), "start_card": rms(r_start),
                                       "ohmic": rms(r_ohmic)},
        "nonlinearity_G_vmax_over_G_0p1": {
            "measured_median": float(np.median(measured[usable])),
            "measured_iqr": [float(np.quantile(measured[usable], 0.25)), float(np.quantile(measured[usable], 0.75))],
            "model_median": float(np.median(ratio_fit[usable])),
            "model_range": [float(np.min(ratio_fit)), float(np.max(ratio_fit))],
            "state_independent_model": float(np.median(ratio_flat)),
            "by_resistance_band": bands,
            "rms_band_median_error": {"fitted": band_error("model_median"),
                                      "state_independent": band_error("state_independent_model_median")},
        },
        "offset_current_A": {"median": float(np.median(offset)), "iqr": [float(np.quantile(offset, 0.25)),
                                                                         float(np.quantile(offset, 0.75))]},
        "read_resistance_at_v_read": {"v_read": v_read, "median_ohm": float(np.median(resistance_read)),
                                      "p01_ohm": float(np.quantile(resistance_read, 0.01)),
                                      "p99_ohm": float(np.quantile(resistance_read, 0.99))},
        "share_h": {"at_gmin": float(1 - math.exp(-card.value("gmin") / g_h)),
                    "cells_median": float(np.median(1 - np.exp(-np.maximum(gaps, 0) / g_h)))},
    }
    nl = metrics["nonlinearity_G_vmax_over_G_0p1"]
    summary = [
        f"low-field I-V of {cells} cells up to {v_max:g} V: v0 = {v0:.3g} V, g_h = {g_h * 1e9:.3g} nm "
        f"(the nonlinearity's voltage scale v0/h, h = 1 - exp(-g/g_h): {metrics['share_h']['at_gmin']:.2f} at gmin)",
        f"rms relative current error: fitted {rms(r_fit):.4f}, state-independent shape (v0 {v0_flat:.3g} V) "
        f"{rms(r_flat):.4f}, start card {rms(r_start):.4f}, ohmic {rms(r_ohmic):.4f}",
        f"G({v_max:g} V)/G(0.1 V) per resistance band, measured -> model: "
        + ", ".join(f"{row['r_low_ohm'] / 1e3:.3g}-{row['r_high_ohm'] / 1e3:.3g} kohm {row['measured_median']:.3f} -> "
                    f"{row['model_median']:.3f}" for row in bands)
        + f" (rms {nl['rms_band_median_error']['fitted']:.3f}; the state-independent shape "
        f"{nl['state_independent_model']:.3f} everywhere, rms {nl['rms_band_median_error']['state_independent']:.3f})",
    ]
    return FitOutcome(
        kind="levels", card=card, parameters=rows, metrics=metrics,
        settings={"model": "I = offset + i0 exp(-g/g0) (V/v0) sinhc(h V/v0), h = 1 - exp(-g/g_h), per-cell gap and "
                           "offset, v0 and g_h shared; residuals scaled by each cell's largest current; rs from the "
                           "start card", "v_read": v_read, "fitted": ["v0", "g_h", "i0"],
                  "confidence": "95 %: curvature of the profiled sum of squares in (ln v0, ln g_h)",
                  "summary": summary},
        curves={"names": reads.names, "groups": reads.groups, "gaps": gaps, "offset": offset, "measured_ratio": measured,
                "model_ratio": ratio_fit, "resistance": resistance_read},
        flags=flags, nfev=int(result.nfev), runtime_s=_time.perf_counter() - began,
    )


def _row(value, ci, unit, initial, bounds, x, se_ln, name) -> dict[str, Any]:
    se = float(se_ln) if np.isfinite(se_ln) else None
    return {"value": value, "stderr": value * se if se is not None else None, "ci95": ci, "unit": unit, "vary": True,
            "initial": initial, "fit_space": {"name": name, "value": float(x), "stderr": se,
                                              "lower": math.log(bounds[0]), "upper": math.log(bounds[1])}}


def resimulate(outcome: FitOutcome, sweep: IVSweep, workdir, cells: int = 64) -> tuple[Any, dict, dict]:
    """ngspice DC sweep of the compiled model for a spread of cells (each at its fitted gap),
    at the card's reference temperature: its currents against the Python equation's and the
    data's."""
    from circuitkit.spice.runner import run_batch

    card = outcome.card
    groups, all_gaps, offset = outcome.curves["groups"], outcome.curves["gaps"], outcome.curves["offset"]
    order = np.argsort(all_gaps)
    chosen = [int(k) for k in order[np.linspace(0, len(order) - 1, min(cells, len(order))).astype(int)]
              if all_gaps[k] >= 0]
    gaps = [float(all_gaps[k]) for k in chosen]
    v_max = float(np.max(sweep.voltage))
    tnom = card.value("tnom")
    # one device per branch, each with its own ammeter
    body = ["* circuitkit fit: low-field reads of fitted cells", f".temp {tnom:.10g}", card.model_line("rram_fit"),
            "Vread r 0 0"]
    for j, gap in enumerate(gaps):
        body += [f"Vm{j} r n{j} 0",
                 f"N{j} n{j} 0 rram_fit {card.instance_parameters(where=f'device N{j}', **card.instance_for_gap(gap))}"]
    body += [f".dc Vread 0 {v_max:.6g} {v_max / 35:.6g}", ".end"]
    result = run_batch("\n".join(body) + "\n", name="levels", workdir=workdir)
    volts = np.asarray(result["v(r)"]).ravel()
    errors, data_errors = [], []
    for j, k in enumerate(chosen):
        spice = np.asarray(result[f"i(vm{j})"]).ravel()
        python = card.current(volts, gaps[j], temp_c=tnom)
        ok = volts > 0.02
        errors.append(np.max(np.abs(spice[ok] / python[ok] - 1)))
        rows = groups[k]
        measured = np.interp(volts[ok], sweep.voltage[rows], sweep.current[rows]) - offset[k]
        data_errors.append(np.sqrt(np.mean((spice[ok] / measured - 1) ** 2)))
    metrics = {"cells": len(chosen), "max_relative_difference_ngspice_vs_python": float(np.max(errors)),
               "median_rms_relative_error_ngspice_vs_data": float(np.median(data_errors))}
    return {"volts": volts, "chosen": chosen, "result": result}, metrics, {"cells_simulated": len(chosen)}


def plot(path, sweep: IVSweep, outcome: FitOutcome, spice, name: str):
    """Six cells' reads with the fitted and the state-independent shape; G(V_max)/G(0.1 V)
    against resistance, measured and modelled."""
    from circuitkit.report.fit_plots import finish as _finish, plt

    card = outcome.card
    groups, gaps, offset = outcome.curves["groups"], outcome.curves["gaps"], outcome.curves["offset"]
    metrics = outcome.metrics
    tnom = card.value("tnom")
    flat = card.with_values({"v0": metrics["v0_state_independent"], "g_h": 0.0})
    fig, (ax_iv, ax_ratio) = plt.subplots(1, 2, figsize=(11, 4.6))
    order = np.argsort(gaps)
    for k in order[np.linspace(0, len(order) - 1, 6).astype(int)]:
        rows = groups[k]
        v, i = sweep.voltage[rows], sweep.current[rows] - offset[k]
        line, = ax_iv.plot(v, i * 1e6, "o", markersize=3, markerfacecolor="none")
        grid = np.linspace(1e-3, v.max(), 100)
        fitted = card.current(grid, gaps[k], temp_c=tnom)
        ax_iv.plot(grid, fitted * 1e6, color=line.get_color(), linewidth=1.2)
        shape = flat.current(grid, gaps[k], temp_c=tnom)
        ax_iv.plot(grid, shape * fitted[0] / shape[0] * 1e6, color=line.get_color(), linewidth=0.8, linestyle=":")
    ax_iv.set_xlabel("read voltage (V)")
    ax_iv.set_ylabel("current minus offset (uA)")
    ax_iv.set_title(f"6 of {len(groups)} cells: dots measured, line fitted (v0 {card.value('v0'):.3g} V, g_h "
                    f"{card.value('g_h') * 1e9:.3g} nm), dotted state-independent shape", fontsize=8)
    ax_iv.grid(True, alpha=0.3)
    ratio, model, resistance = (outcome.curves[k] for k in ("measured_ratio", "model_ratio", "resistance"))
    ok = np.isfinite(ratio)
    ax_ratio.semilogx(resistance[ok], np.clip(ratio[ok], 0.5, 2.0), ".", color="0.6", markersize=2.5,
                      label="measured cells")
    bands = metrics["nonlinearity_G_vmax_over_G_0p1"]["by_resistance_band"]
    centre = [math.sqrt(b["r_low_ohm"] * b["r_high_ohm"]) for b in bands]
    ax_ratio.plot(centre, [b["measured_median"] for b in bands], "ko-", markersize=4, label="measured, band median")
    order = np.argsort(resistance)
    ax_ratio.plot(resistance[order], model[order], color="tab:blue", linewidth=1.5, label="model, fitted")
    ax_ratio.axhline(metrics["nonlinearity_G_vmax_over_G_0p1"]["state_independent_model"], color="tab:red",
                     linestyle=":", label="state-independent shape")
    ax_ratio.axhline(1.0, color="0.2", linewidth=0.8, label="ohmic")
    ax_ratio.set_ylim(0.8, 1.6)
    ax_ratio.set_xlabel(f"read resistance at {metrics['read_resistance_at_v_read']['v_read']:g} V (ohm)")
    ax_ratio.set_ylabel(f"G({metrics['v_max']:g} V) / G(0.1 V)")
    ax_ratio.legend(fontsize=7)
    ax_ratio.set_title("super-linearity of the low-field I-V against the state", fontsize=9)
    return _finish(fig, path, f"{name}: low-field I-V, rram_hfox current equation")
