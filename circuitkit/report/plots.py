"""Plots of the flow's artefacts (matplotlib, files only: no display needed).

The report stage draws; the stages that compute do not (a campaign writes its table, its
caller draws `plot_ber_vs_vdd`). Plots take the stages' objects or their CSV rows and
compute nothing a table does not already say.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from circuitkit.ber_table import BerTable, ConditionRate  # noqa: E402

# A campaign's figure, drawn beside its ber_table.csv.
BER_FIGURE = "ber_vs_vdd.png"


def plot_ber_vs_vdd(table: BerTable, path: Path | str) -> Path:
    """BER with its 95 % interval against supply, log axis, one line per (corner, temperature,
    scheme). A BER of zero is drawn at its upper bound as a downward triangle."""
    path = Path(path)
    groups: dict[tuple, list[ConditionRate]] = {}
    for rate in table.error_rates():
        c = rate.condition
        groups.setdefault((c.corner, c.temp_c, c.scheme, rate.method), []).append(rate)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for (corner, temp, scheme, method), items in sorted(groups.items()):
        items.sort(key=lambda r: r.condition.vdd)
        vdd = np.array([r.condition.vdd for r in items])
        ber = np.array([r.ber for r in items])
        low = np.array([r.ci_low for r in items])
        high = np.array([r.ci_high for r in items])
        label = f"{corner}, {temp:g} C, {scheme}" + (f" ({method})" if method != "mc" else "")
        seen = ber > 0
        colour = None
        if seen.any():
            line, = axis.plot(vdd[seen], ber[seen], marker="o", label=label)
            colour = line.get_color()
            # The band only where errors were seen: a zero count has no lower bound on a log axis.
            axis.fill_between(vdd[seen], low[seen], high[seen], color=colour, alpha=0.15)
        if (~seen).any():
            axis.plot(vdd[~seen], high[~seen], linestyle=":", marker="v", color=colour,
                      label=f"{label}: no error in {items[0].samples} reads (95 % upper bound)")
    axis.set_yscale("log")
    axis.set_xlabel("supply VDD (V)")
    axis.set_ylabel("bit-error rate (95 % interval shaded)")
    axis.set_title("2T2R + PCSA read errors vs supply (\u25bd: none seen, upper bound)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


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
    path = Path(path)
    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    colours = {}
    for label, rows in curves.items():
        rows = sorted(rows, key=lambda r: float(r["ber"]))
        ber = np.array([float(r["ber"]) for r in rows])
        mean = np.array([float(r["accuracy_mean"]) for r in rows]) * 100
        low = np.array([float(r["ci_low"]) for r in rows]) * 100
        high = np.array([float(r["ci_high"]) for r in rows]) * 100
        line, = axis.plot(ber, mean, label=f"{label}: symmetric BER sweep")
        colours[label.split()[0]] = line.get_color()
        axis.fill_between(ber, low, high, color=line.get_color(), alpha=0.15)
        if clean and label in clean:
            axis.axhline(clean[label] * 100, color=line.get_color(), linestyle=":", linewidth=1)
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
    handles, labels = axis.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axis.legend(unique.values(), unique.keys(), fontsize=7, loc="lower left")
    axis.set_xscale("log")
    axis.set_xlabel("bit-error rate injected into the weights")
    axis.set_ylabel("test accuracy (%), mean and 95 % interval")
    axis.set_title("Network accuracy vs BER; campaign conditions placed on the curves\n"
                   "(bars: BER 95 % interval; accuracy from the BER's upper bound to its estimate)", fontsize=10)
    axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
