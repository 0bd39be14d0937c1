"""The device fit's figure, fit.png: measured data against the fitted model (Python) and
its ngspice re-simulation (I-V sweeps, pulse tables, resistance distributions on a
probit axis). `circuitkit.device.characterize` calls it with its results; it computes
nothing the fit did not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from circuitkit.measurements import IVSweep, PulseTable, ResistanceDistribution
from circuitkit.report.figures import plt, probit_axis, save_figure

DATA_STYLE = {"color": "0.25", "marker": "o", "markersize": 3.5, "markerfacecolor": "none", "markeredgewidth": 0.7,
              "linestyle": "none", "alpha": 0.8}
FIT_STYLE = {"color": "tab:blue", "linewidth": 1.4}
SPICE_STYLE = {"color": "tab:orange", "linewidth": 1.0, "linestyle": (0, (3, 3))}


def finish(fig, path: Path, title: str) -> Path:
    """Save a fit figure (its title above the panels, 130 dpi)."""
    return save_figure(fig, path, title=title, dpi=130)


def plot_iv(path: Path, sweep: IVSweep, fit_current: np.ndarray, spice_current: np.ndarray | None,
            floor: float, title: str) -> Path:
    def ln_error(current):
        return np.log(np.abs(current) + floor) - np.log(np.abs(sweep.current) + floor)

    def rms(current):
        return f"rms ln-error {np.sqrt(np.mean(ln_error(current) ** 2)):.3f}"

    fit_label = f"fit (Python model), {rms(fit_current)}"
    spice_label = f"fitted card in ngspice, {rms(spice_current)}" if spice_current is not None else ""
    fig, (ax_iv, ax_t) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1.1, 1]})
    ax_iv.semilogy(sweep.voltage, np.abs(sweep.current), label="measured", **DATA_STYLE)
    ax_iv.semilogy(sweep.voltage, np.abs(fit_current), label=fit_label, **FIT_STYLE)
    if spice_current is not None:
        ax_iv.semilogy(sweep.voltage, np.abs(spice_current), label=spice_label, **SPICE_STYLE)
    ax_iv.set_xlabel("voltage V(te, be) (V)")
    ax_iv.set_ylabel("|current| (A)")
    ax_iv.set_ylim(bottom=max(floor, np.abs(sweep.current).min() * 0.5))
    ax_iv.grid(True, which="both", alpha=0.3)
    ax_iv.legend(loc="upper center", fontsize=8)
    ax_iv.set_title(f"I-V, {sweep.cycles} cycle(s), {len(sweep)} points", fontsize=9)

    ax_t.plot(sweep.time, ln_error(fit_current), label=fit_label, **FIT_STYLE)
    if spice_current is not None:
        ax_t.plot(sweep.time, ln_error(spice_current), label=spice_label, **SPICE_STYLE)
    ax_t.axhline(0.0, color="0.2", linewidth=0.8)
    ax_t.set_xlabel("time (s)")
    ax_t.set_ylabel("ln(|I_model| + floor) - ln(|I_measured| + floor)")
    ax_t.set_title(f"log-current error (floor {floor:.2g} A)", fontsize=9)
    ax_t.grid(True, alpha=0.3)
    ax_t.legend(loc="upper right", fontsize=8)
    return finish(fig, path, title)


def plot_pulses(path: Path, table: PulseTable, fit_r_after: np.ndarray, spice_r_after: np.ndarray | None,
                title: str) -> Path:
    fig, (ax_a, ax_p) = plt.subplots(1, 2, figsize=(11, 4.6))
    widths = np.unique(table.width)
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, len(widths)))
    for width, color in zip(widths, colors):
        rows = table.width == width
        ax_a.semilogy(table.amplitude[rows], table.r_after[rows], "o", color=color, markersize=4, alpha=0.7,
                      label=f"measured, {width * 1e6:g} us")
    ax_a.semilogy(table.amplitude, fit_r_after, "+", color="tab:red", markersize=6, label="fit (Python model)")
    if spice_r_after is not None:
        ax_a.semilogy(table.amplitude, spice_r_after, "x", color="tab:orange", markersize=4,
                      label="fitted card in ngspice")
    ax_a.set_xlabel("pulse amplitude across the cell (V)  (>0 SET, <0 RESET)")
    ax_a.set_ylabel("resistance after the pulse (ohm)")
    ax_a.grid(True, which="both", alpha=0.3)
    ax_a.legend(fontsize=7, loc="best")
    ax_a.set_title(f"R after one pulse, {len(table)} pulses", fontsize=9)

    low = min(table.r_after.min(), fit_r_after.min()) * 0.8
    high = max(table.r_after.max(), fit_r_after.max()) * 1.25
    ax_p.loglog([low, high], [low, high], color="0.2", linewidth=0.8, label="model = measured")
    ax_p.loglog(table.r_after, fit_r_after, "+", color="tab:red", markersize=6, label="fit (Python model)")
    if spice_r_after is not None:
        ax_p.loglog(table.r_after, spice_r_after, "x", color="tab:orange", markersize=4, label="ngspice")
    ax_p.set_xlabel("measured R after (ohm)")
    ax_p.set_ylabel("modelled R after (ohm)")
    ax_p.grid(True, which="both", alpha=0.3)
    ax_p.legend(fontsize=8)
    ax_p.set_title("model against measurement", fontsize=9)
    return finish(fig, path, title)


MODEL_STYLES = {"lognormal": {"linestyle": "--", "linewidth": 1.0},
                "lognormal_mixture": {"linestyle": "-.", "linewidth": 1.0},
                "empirical_gpd": {"linestyle": ":", "linewidth": 1.4}}


def plot_distribution(path: Path, data: ResistanceDistribution, fits: list[Any], labels: np.ndarray,
                      spice: dict[str, np.ndarray] | None, title: str) -> Path:
    """Cumulative distribution per state on a probit axis: measured cells, every fitted
    model (the chosen one drawn solid), the region beyond the data shaded, and the
    card's lognormal drawn by ngspice."""
    from scipy import stats

    fig, ax = plt.subplots(figsize=(9.5, 5.6))
    colors = plt.cm.tab10(np.arange(max(len(fits), 1)))
    lowest = min(1.0 / (4 * max(fit.samples for fit in fits)), 1e-4)
    for fit, color in zip(fits, colors):
        r = np.sort(data.resistance[labels == fit.state])
        p = (np.arange(1, len(r) + 1) - 0.5) / len(r)
        ax.plot(r, stats.norm.ppf(p), ".", color=color, markersize=2.5, alpha=0.5,
                label=f"{fit.state} measured, n={len(r)} ({r[0]:.3g} .. {r[-1]:.3g} ohm)")
        q = np.concatenate([np.geomspace(lowest, 0.5, 200), 1 - np.geomspace(0.5, lowest, 200)[1:]])
        for kind, model in fit.models.items():
            chosen = kind == fit.chosen
            style = {"linestyle": "-", "linewidth": 2.0} if chosen else MODEL_STYLES.get(kind, {})
            x = np.concatenate([model.ppf(q[q <= 0.5]), model.isf(1 - q[q > 0.5])])
            gof = fit.fits[kind]
            ax.plot(x, stats.norm.ppf(q), color=color, alpha=0.95 if chosen else 0.7, **style,
                    label=f"{fit.state} {kind}{' (chosen)' if chosen else ''}: KS {gof.ks_statistic:.3f}, "
                          f"BIC {gof.bic:.0f}")
        for end in fit.model.data_range:
            ax.axvline(end, color=color, linewidth=0.6, alpha=0.4)
        if spice is not None and fit.state in spice:
            s = np.sort(spice[fit.state])
            ax.plot(s, stats.norm.ppf((np.arange(1, len(s) + 1) - 0.5) / len(s)), "x", color=color, markersize=2,
                    alpha=0.5, label=f"{fit.state} card lognormal drawn in ngspice (n={len(s)})")
    ax.set_xscale("log")
    read = f"{data.read_voltage:g} V" if data.read_voltage else "the card's read voltage"
    ax.set_xlabel(f"read resistance (ohm), read at {read}; thin vertical lines: where the data end (beyond: "
                  "extrapolation)")
    probit_axis(ax, lowest, 1 - lowest)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, loc="lower right", ncol=1)
    return finish(fig, path, title)


def plot_retention(path: Path, pairs: Any, fit: Any, title: str, series: dict | None = None) -> Path:
    """Relaxation fit: per file (condition), the robust spread and the median of
    ln(R_after/R_before) in bins of the before-read resistance (pairs judged unrelated left
    out), against the fitted model's spread and drift of that change (`RelaxationModel.pair_change`,
    with the fit's read noise) and the spread's 95 % band. Without a fit
    (time series of single cells only): ln R of each series against time."""
    if fit is None:
        fig, ax = plt.subplots(figsize=(8, 4.4))
        for name, entry in (series or {}).items():
            t, r = np.asarray(entry["_time_s"]), np.asarray(entry["_resistance"])
            ax.plot(t - t.min(), np.log(r / np.median(r)), ".", markersize=1.5,
                    label=f"{name}: read noise {entry['read_noise_sigma_ln']:.4f} per read, net drift "
                          f"{entry['net_drift_ln']:+.4f}")
        ax.set_xlabel("time since the first read (s)")
        ax.set_ylabel("ln(R / median R)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        return finish(fig, path, f"{title}: read noise against relaxation of single cells")
    model = fit.model
    read_noise = float(fit.settings.get("read_noise_sigma_ln") or 0.0)
    fig, (ax_s, ax_m) = plt.subplots(1, 2, figsize=(11, 4.6))
    related = fit.unrelated_probability < 0.5
    colors = plt.cm.tab10(np.arange(max(len(pairs.group_names), 1)))
    for g, (name, color) in enumerate(zip(pairs.group_names, colors)):
        sel = related & (pairs.group == g)
        if sel.sum() < 20:
            continue
        rb, d = pairs.r_before[sel], np.log(pairs.r_after[sel] / pairs.r_before[sel])
        edges = np.unique(np.percentile(np.log(rb), np.linspace(0, 100, 13)))
        centre, width, median = [], [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            b = (np.log(rb) >= lo) & (np.log(rb) <= hi)
            q = np.percentile(d[b], [15.87, 50, 84.13])
            centre.append(np.exp(np.median(np.log(rb[b]))))
            width.append((q[2] - q[0]) / 2)
            median.append(q[1])
        ax_s.plot(centre, width, "o", color=color, markersize=4, label=f"{name}: data, {int(sel.sum())} pairs")
        ax_m.plot(centre, median, "o", color=color, markersize=4)
        temp = float(np.median(pairs.temp_c[sel]))
        duration = float(np.median(pairs.duration_s[sel]))
        before = float(np.median(pairs.t_before_s[sel]))
        r = np.geomspace(min(centre), max(centre), 60)
        # What the fit predicts for these pairs: the change from the before read (not from
        # programming) with both reads' noise, as its likelihood and predictive coverage.
        drift, spread = model.pair_change(r, before, duration, temp, read_noise)
        ax_s.plot(r, spread, color=color, label=f"model, {duration / 3600:.3g} h at {temp:g} C"
                  + (f" after {before / 3600:.3g} h" if before > 0 else ""))
        low, high = model.spread_interval(r, duration, temp, t_before_s=before, read_noise=read_noise)
        ax_s.fill_between(r, low, high, color=color, alpha=0.2)
        ax_m.plot(r, drift, color=color)
    for ax in (ax_s, ax_m):
        ax.set_xscale("log")
        ax.set_xlabel("resistance before (ohm)")
        ax.grid(True, which="both", alpha=0.3)
    ax_s.set_yscale("log")
    ax_s.set_ylabel("spread of ln(R_after / R_before) (half 16-84 % width)")
    ax_m.set_ylabel("median of ln(R_after / R_before)")
    ax_s.legend(fontsize=6)
    return finish(fig, path, f"{title}: relaxation fit (bands: 95 % from the parameters' covariance)")
