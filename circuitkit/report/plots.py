"""Plots of bit-error tables and network accuracy (matplotlib, files only: no display needed).

The report stage draws; the stages that compute do not (a campaign writes its table, its
caller draws `plot_ber_vs_vdd`; `circuitkit inject` computes accuracies and tolerance
curves, then draws them here). Plots take the stages' objects or their CSV rows and
compute nothing a table does not already say; they import no stage (published points,
for instance, are passed in).

- `plot_ber_vs_vdd`: one or more campaigns' BER estimates with their intervals against
  supply, one style per method, upper bounds only where no method measured.
- `plot_ber_vs_time`: BER against the time since programming (ber_vs_time.csv rows), on a
  normal-quantile BER axis, extrapolated points marked.
- `plot_accuracy_vs_ber`: accuracy per condition of a table, against its BER.
- `plot_accuracy_with_campaigns`: symmetric-BER curves with the campaign conditions placed on them.
- `plot_tolerance`: tolerance curves with their knees, published points and campaign conditions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import matplotlib.ticker
import numpy as np

from circuitkit.ber_table import BerTable, ConditionRate, method_estimator
from circuitkit.report.figures import plt, save_figure

# A campaign's figure, drawn beside its ber_table.csv.
BER_FIGURE = "ber_vs_vdd.png"
# `circuitkit ber --read-after`'s figure, beside its ber_vs_time.csv.
BER_TIME_FIGURE = "ber_vs_time.png"


# One style per estimator (`BerRow.method`); an unknown method gets the last one.
METHOD_STYLES: dict[str, dict[str, str]] = {
    "mc": {"marker": "o", "linestyle": "-", "name": "brute-force Monte Carlo"},
    "is": {"marker": "D", "linestyle": "-.", "name": "importance sampling"},
    "offset": {"marker": "s", "linestyle": "--", "name": "amplifier offset x device model"},
    "": {"marker": "P", "linestyle": ":", "name": "other"},
}


def _measured(rate: ConditionRate) -> bool:
    """A method measured this condition: an estimate above zero (a count of zero errors, or
    an importance sample without a failure, only bounds the rate from above)."""
    return rate.ber > 0


def plot_ber_vs_vdd(tables: BerTable | Sequence[BerTable], path: Path | str) -> Path:
    """BER against supply, log axis: per (corner, temperature, scheme) one colour, per
    estimator one style (`METHOD_STYLES`), every estimate with its 95 % interval as an error
    bar, from whichever of the `tables` measured it (several methods at one condition are
    all drawn, side by side). Where no method measured a condition (no error seen by any),
    its upper bound is drawn as a downward triangle; a condition with no converged read (a
    `failed:` row) as a cross at 1, its upper bound."""
    tables = [tables] if isinstance(tables, BerTable) else list(tables)
    by_condition: dict[tuple, list[ConditionRate]] = {}
    failed = []
    for table in tables:
        for rate in table.error_rates():
            if "failed:" in rate.method:
                failed.append(rate)
                continue
            by_condition.setdefault(rate.condition, []).append(rate)
    groups: dict[tuple, dict[str, list[ConditionRate]]] = {}
    bounds: dict[tuple, list[ConditionRate]] = {}
    for condition, rates in by_condition.items():
        key = (condition.corner, condition.temp_c, condition.scheme)
        measured = [rate for rate in rates if _measured(rate)]
        for rate in measured:
            groups.setdefault(key, {}).setdefault(method_estimator(rate.method), []).append(rate)
        if not measured:   # the tightest bound any method gives
            bounds.setdefault(key, []).append(min(rates, key=lambda rate: rate.ci_high))
    methods = sorted({m for by_method in groups.values() for m in by_method})
    # Methods side by side at one supply: a small offset in x keeps their bars apart.
    supplies = [condition.vdd for condition in by_condition]
    step = 0.015 * ((max(supplies) - min(supplies)) or 1.0) if supplies else 0.0
    spread = {method: (index - (len(methods) - 1) / 2) * step for index, method in enumerate(methods)}
    colours = {key: f"C{index % 10}" for index, key in enumerate(sorted(set(groups) | set(bounds)))}
    figure, axis = plt.subplots(figsize=(10, 4.8))
    if failed:
        axis.plot([r.condition.vdd for r in failed], [1.0] * len(failed), linestyle="", marker="x", color="black",
                  label="no read converged (" + ", ".join(sorted({r.condition.corner for r in failed})) + ")")
    for key, by_method in sorted(groups.items()):
        corner, temp, scheme = key
        for method, items in sorted(by_method.items()):
            style = METHOD_STYLES.get(method, METHOD_STYLES[""])
            items.sort(key=lambda r: r.condition.vdd)
            vdd = np.array([r.condition.vdd for r in items]) + spread[method]
            ber = np.array([r.ber for r in items])
            # A lower bound of zero has no place on a log axis: the bar ends three decades down.
            low = np.maximum(np.array([r.ci_low for r in items]), ber * 1e-3)
            high = np.array([r.ci_high for r in items])
            axis.errorbar(vdd, ber, yerr=[ber - low, high - ber], color=colours[key], marker=style["marker"],
                          linestyle=style["linestyle"], capsize=3, markersize=5,
                          label=f"{corner}, {temp:g} C, {scheme}: {method} ({style['name']})")
    for key, items in sorted(bounds.items()):
        corner, temp, scheme = key
        items.sort(key=lambda r: r.condition.vdd)
        axis.plot([r.condition.vdd for r in items], [r.ci_high for r in items], linestyle=":", marker="v",
                  color=colours[key], markerfacecolor="none",
                  label=f"{corner}, {temp:g} C, {scheme}: no error seen by any method (95 % upper bound, "
                        f"{method_estimator(items[0].method)}, {items[0].samples} reads)")
    axis.set_yscale("log")
    axis.set_xlabel("supply VDD (V)")
    axis.set_ylabel("bit-error rate (95 % interval)")
    axis.set_title("2T2R + PCSA read errors vs supply: one style per method (\u25bd: upper bound only)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))   # beside the data, never over it
    figure.tight_layout()
    return save_figure(figure, path)


def plot_ber_vs_time(rows: Sequence[Mapping], path: Path | str) -> Path:
    """BER with its 95 % interval against the time after programming (log time axis; the
    BER on a normal-quantile axis, as bit-error probabilities are plotted in the field), one
    line per (corner, supply, temperature, retention temperature). Reads within the
    retention data are filled circles, extrapolated ones open; a BER of zero is drawn at its
    upper bound as a downward triangle. A read at 0 s is drawn at the left edge."""
    from scipy import stats

    groups: dict[tuple, list[Mapping]] = {}
    for row in rows:
        key = (row["corner"], row["vdd"], row["temp_c"], row["retention_temp_c"], row["method"])
        groups.setdefault(key, []).append(row)
    figure, axis = plt.subplots(figsize=(7.5, 4.6))
    positive = [float(r["read_after_s"]) for r in rows if float(r["read_after_s"]) > 0]
    zero_at = min(positive) / 10 if positive else 1.0
    lowest = 1.0
    for (corner, vdd, temp, retention_temp, method), items in sorted(groups.items()):
        items = sorted(items, key=lambda r: float(r["read_after_s"]))
        t = np.array([float(r["read_after_s"]) or zero_at for r in items])
        ber = np.array([float(r["ber"]) for r in items])
        low = np.array([float(r["ci_low"]) for r in items])
        high = np.array([float(r["ci_high"]) for r in items])
        lowest = min(lowest, *[v for v in np.r_[low, ber, high] if v > 0] or [1e-9])
        label = f"{corner}, {vdd:g} V, read at {temp:g} C; kept at {retention_temp:g} C" + (
            f" ({method})" if method != "mc" else "")
        q = lambda p: stats.norm.ppf(np.clip(p, 1e-15, 0.5))  # noqa: E731
        seen = ber > 0
        line, = axis.plot(t[seen], q(ber[seen]), "-", label=label)
        colour = line.get_color()
        band = seen & (low > 0)
        axis.fill_between(t[band], q(low[band]), q(high[band]), color=colour, alpha=0.15)
        extrapolated = np.array([bool(r["extrapolation"]) for r in items])
        axis.plot(t[seen & ~extrapolated], q(ber[seen & ~extrapolated]), "o", color=colour)
        axis.plot(t[seen & extrapolated], q(ber[seen & extrapolated]), "o", color=colour, markerfacecolor="white")
        if (~seen).any():
            axis.plot(t[~seen], q(high[~seen]), "v", linestyle=":", color=colour,
                      label=f"{label}: no error seen (95 % upper bound)")
    ticks = [p for p in (1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5) if p >= lowest / 3]
    axis.set_yticks(stats.norm.ppf(ticks))
    axis.set_yticklabels([f"{p:.0e}" if p < 0.01 else f"{p:g}" for p in ticks], fontsize=7)
    axis.set_xscale("log")
    at_zero = "; leftmost: a read at 0 s" if any(float(r["read_after_s"]) == 0 for r in rows) else ""
    axis.set_xlabel(f"time after programming (s{at_zero})   filled: within the retention data, open: extrapolated")
    axis.set_ylabel("bit-error rate (normal-quantile axis; 95 % band)")
    axis.set_title("2T2R + PCSA read errors vs time after programming")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7)
    return save_figure(figure, path)


def _curves(axis, curves: Mapping[str, Sequence[Mapping]], clean: Mapping[str, float] | None,
            label: Callable[[str, Sequence[Mapping]], str], **style) -> dict[str, str]:
    """Accuracy curves (accuracy.csv-like rows: `ber`, `accuracy_mean`, `ci_low`,
    `ci_high`) with their 95 % band and, when known, the clean accuracy as a dotted line;
    returns each curve's colour."""
    colours = {}
    for name, rows in curves.items():
        rows = sorted(rows, key=lambda r: float(r["ber"]))
        ber = np.array([float(r["ber"]) for r in rows])
        mean = np.array([float(r["accuracy_mean"]) for r in rows]) * 100
        low = np.array([float(r["ci_low"]) for r in rows]) * 100
        high = np.array([float(r["ci_high"]) for r in rows]) * 100
        line, = axis.plot(ber, mean, label=label(name, rows), **style)
        colours[name] = line.get_color()
        axis.fill_between(ber, low, high, color=line.get_color(), alpha=0.15)
        if clean and name in clean:
            axis.axhline(clean[name] * 100, color=line.get_color(), linestyle=":", linewidth=1)
    return colours


def _legend_once(axis, **options) -> None:
    """A legend with each label once (points drawn one by one repeat theirs)."""
    handles, labels = axis.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axis.legend(unique.values(), unique.keys(), **options)


def campaign_point(row: dict) -> dict:
    """Where a campaign condition goes on the accuracy-vs-BER plot, from its accuracy.csv
    row joined with its BER interval (`ber_ci_low`, `ber_ci_high`) and the accuracy at the
    BER's upper bound (`accuracy_mean_at_ber_ci_high`, `accuracy_low_at_ber_ci_high`).

    A condition with errors sits at its BER estimate with the BER interval as horizontal
    bar. A condition with no error seen has no estimate to draw on a log axis; its data
    only bound the BER below the upper limit, so it sits at that limit with a
    left-pointing marker ('at most this'), at the accuracy the network keeps there. The
    vertical bar spans both evaluations: from the low end at the BER's upper bound to
    the high end at the estimate."""
    ber = float(row["ber"])
    ber_low, ber_high = float(row.get("ber_ci_low", ber)), float(row.get("ber_ci_high", ber))
    at_estimate = float(row["accuracy_mean"]) * 100
    at_bound = float(row.get("accuracy_mean_at_ber_ci_high", row["accuracy_mean"])) * 100
    low = min(float(row["ci_low"]), float(row.get("accuracy_low_at_ber_ci_high", row["ci_low"]))) * 100
    high = float(row["ci_high"]) * 100
    seen = ber > 0
    x, y = (ber, at_estimate) if seen else (ber_high, at_bound)
    return {"x": x, "y": y, "xerr": [[ber - ber_low], [ber_high - ber]] if seen else None,
            "yerr": [[max(0.0, y - low)], [max(0.0, high - y)]], "upper_bound_only": not seen}


def plot_accuracy_with_campaigns(curves: dict[str, list[dict]], points: dict[str, list[dict]], path: Path | str,
                                 clean: dict[str, float] | None = None) -> Path:
    """The classic tolerance curves (accuracy vs injected symmetric BER) with the accuracy at
    each campaign condition placed on them (`campaign_point`). Curve rows are accuracy.csv
    records (`ber`, `accuracy_mean`, `ci_low`, `ci_high`); point rows add the BER interval
    and the accuracy at its upper bound."""
    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    drawn = _curves(axis, curves, clean, lambda name, rows: f"{name}: symmetric BER sweep")
    colours = {name.split()[0]: colour for name, colour in drawn.items()}
    markers = iter("osD^vP*X")
    names: dict[tuple[str, int], list[tuple[str, str]]] = {}   # conditions drawn at one place share one note
    for label, rows in points.items():
        marker = next(markers, "o")
        colour = colours.get(label.split(",")[0].strip())   # the network's curve colour
        for row in rows:
            point = campaign_point(row)
            if point["x"] <= 0:
                continue   # neither an estimate nor an upper bound to place on a log axis
            bound_only = point["upper_bound_only"]
            axis.errorbar([point["x"]], [point["y"]], xerr=point["xerr"], yerr=point["yerr"],
                          marker="<" if bound_only else marker, color=colour, linestyle="none", markersize=6,
                          markeredgecolor="black", elinewidth=0.8, alpha=0.85,
                          label=f"{label}: no error seen, at the BER's 95 % upper bound" if bound_only else label)
            names.setdefault((f"{point['x']:.2g}", round(point["y"])), []).append(
                (row["corner"], f"{float(row['vdd']):g}"))
    for (x, y), conditions in names.items():
        corners, supplies = ("/".join(dict.fromkeys(part)) for part in zip(*conditions))
        axis.annotate(f"{corners} {supplies} V", (float(x), y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    _legend_once(axis, fontsize=7, loc="lower left")
    axis.set_xscale("log")
    axis.set_xlabel("bit-error rate injected into the weights")
    axis.set_ylabel("test accuracy (%), mean and 95 % interval")
    axis.set_title("Network accuracy vs BER; campaign conditions placed on the curves\n"
                   "(bars: BER 95 % interval; accuracy from the BER's upper bound to its estimate)", fontsize=10)
    axis.grid(True, which="both", alpha=0.3)
    return save_figure(figure, path)


def plot_accuracy_vs_ber(
    results: Sequence,
    path: str | Path,
    *,
    clean_accuracy: float | None = None,
    title: str = "",
    label_points: bool = True,
) -> Path:
    """Accuracy (mean and 95 % interval) against injected BER, log scale: one point per
    `inject.accuracy.AccuracyUnderErrors`."""
    ber = np.array([r.ber for r in results])
    mean = np.array([r.accuracy.mean for r in results]) * 100
    low = np.array([r.accuracy.low for r in results]) * 100
    high = np.array([r.accuracy.high for r in results]) * 100
    # Single-trial runs have no interval; draw the point without a bar.
    error = np.nan_to_num(np.vstack([mean - low, high - mean]), nan=0.0)
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    axis.errorbar(ber, mean, yerr=error, fmt="o-" if not label_points else "o", capsize=3,
                  label=f"with errors (mean, 95 % CI, {results[0].accuracy.samples} trials)" if results else None)
    if clean_accuracy is not None:
        axis.axhline(clean_accuracy * 100, color="grey", linestyle="--", label=f"no errors ({clean_accuracy:.2%})")
    positive = ber[ber > 0]
    if positive.size and positive.size == ber.size:
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # labels overlap on short spans
    elif positive.size:
        axis.set_xscale("symlog", linthresh=float(positive.min()))
    if label_points and len(results) <= 16:
        for r, xb, yb in zip(results, ber, mean):
            axis.annotate(r.condition.label(), (xb, yb), textcoords="offset points", xytext=(4, 4), fontsize=7)
    axis.set_xlabel("bit-error rate (mean misread probability per weight)")
    axis.set_ylabel("test accuracy (%)")
    axis.set_title(title)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="lower left", fontsize=8)
    return save_figure(figure, path)


def plot_tolerance(
    curves: Mapping[str, Sequence[Mapping[str, str]]],
    path: str | Path,
    *,
    clean: Mapping[str, float] | None = None,
    knees: Sequence[Mapping[str, str]] = (),
    conditions: Mapping[str, Sequence[Mapping[str, object]]] | None = None,
    published: Sequence[Mapping[str, object]] = (),
    title: str = "Accuracy vs bit-error rate; | = knee at -1 and -5 points with its 95 % interval",
) -> Path:
    """The tolerance figure from the artefacts: curves (rows of a curve CSV per network,
    mean and 95 % band), each network's 1- and 5-point knees with their intervals (rows
    of a knee CSV), the `published` points (`inject.tolerance.PUBLISHED`: label, source,
    ber_low, ber_high), and campaign conditions placed on the curves
    (`conditions`: network -> rows with `ber`, `ber_low`, `ber_high`, `accuracy_mean`,
    `ci_low`, `ci_high`, `label`; a condition whose BER is only bounded above is drawn at
    its bound with a left arrow)."""
    figure, axis = plt.subplots(figsize=(8.0, 5.0))
    colours = _curves(axis, curves, clean, lambda name, rows: f"{name} ({rows[0]['trials']} trials per point)",
                      marker=".")
    for row in knees:
        name = str(row["network"])
        if name not in colours or row["bound"]:
            continue
        ber, low, high = float(row["knee_ber"]), float(row["ci_low"]), float(row["ci_high"])
        level = (float(row["clean_accuracy"]) - float(row["loss_points"]) / 100) * 100
        left = ber - low if math.isfinite(low) and low > 0 else 0.0
        right = high - ber if math.isfinite(high) else 0.0
        axis.errorbar([ber], [level], xerr=[[left], [right]], marker="|", markersize=12, capsize=4,
                      color=colours[name], linestyle="none")
    for point in published:
        if point["ber_low"] < point["ber_high"]:
            axis.axvspan(point["ber_low"], point["ber_high"], color="grey", alpha=0.15,
                         label=f"{point['label']} ({point['source']})")
        else:
            axis.axvline(point["ber_low"], color="grey", linestyle="--", linewidth=1,
                         label=f"{point['label']} ({point['source']})")
    markers = iter("osD^vP*X")
    for name, rows in (conditions or {}).items():
        marker = next(markers, "o")
        colour = colours.get(name)
        for row in rows:
            ber, ber_low, ber_high = (float(row[k]) for k in ("ber", "ber_low", "ber_high"))
            mean = float(row["accuracy_mean"]) * 100
            yerr = [[mean - float(row["ci_low"]) * 100], [float(row["ci_high"]) * 100 - mean]]
            if ber > 0:
                axis.errorbar([ber], [mean], xerr=[[ber - ber_low], [ber_high - ber]], yerr=yerr, marker=marker,
                              color=colour, markeredgecolor="black", linestyle="none", capsize=2,
                              label=f"{name}: campaign conditions (BER and accuracy 95 % intervals)")
            else:  # nothing seen: only an upper bound on the BER
                axis.errorbar([ber_high], [mean], yerr=yerr, marker="<", color=colour, markeredgecolor="black",
                              linestyle="none", label=f"{name}: no error seen (drawn at the 95 % upper bound)")
            axis.annotate(str(row.get("label", "")), (ber if ber > 0 else ber_high, mean), fontsize=6,
                          xytext=(3, 3), textcoords="offset points")
    _legend_once(axis, fontsize=6.5, loc="lower left")
    axis.set_xscale("log")
    axis.set_xlabel("bit-error rate injected into the weights (symmetric)")
    axis.set_ylabel("test accuracy (%): mean and 95 % band")
    axis.set_title(title, fontsize=10)
    axis.grid(True, which="both", alpha=0.3)
    return save_figure(figure, path)
