"""The read-disturb figure: reads to failure per corner and read bias (as designed, with the
bit-line clamp, with the slew-limited word line).

Drawing only: takes the table rows `circuitkit.corners.disturb` writes (dicts of the CSV
columns) and computes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from circuitkit.report.figures import plt, save_figure

# how a row with no predicted failure is drawn: an arrow at the top of the axis
NO_FAILURE_MARKER = "^"


def _number(value) -> float | None:
    return None if value in ("", None) else float(value)


def plot_reads_to_failure(rows: Sequence[Mapping], path: Path | str, horizon: float = 1e15) -> Path:
    """One panel per scheme and stored weight: reads to failure (log axis, with its
    interval) per corner, the read biases side by side (in the table's order). A row with no predicted
    failure (below the field threshold, or beyond the horizon) is an upward triangle at
    the horizon, a fresh read that already fails a cross at 1; the simulated read count is the dotted line: everything above it is the
    drift law's extrapolation."""
    panels: dict[tuple[str, int], list[Mapping]] = {}
    for row in rows:
        panels.setdefault((row["scheme"], int(row["weight"])), []).append(row)
    figure, axes = plt.subplots(1, len(panels), figsize=(max(6.0, 5.5 * len(panels)), 4.8), squeeze=False)
    for axis, ((scheme, weight), items) in zip(axes[0], sorted(panels.items())):
        corners = sorted({(r["corner"], float(r["vdd"]), float(r["temp_c"])) for r in items})
        x = {corner: i for i, corner in enumerate(corners)}
        biases = list(dict.fromkeys(r["bias"] for r in items))
        offsets = np.linspace(-0.3, 0.3, len(biases)) if len(biases) > 1 else [0.0]
        colours = ("tab:blue", "tab:orange", "tab:green", "tab:red")
        for offset, label, colour in zip(offsets, biases, colours):
            mine = [r for r in items if r["bias"] == label]
            for row in mine:  # every point labelled: the legend keeps one entry per label
                position = x[(row["corner"], float(row["vdd"]), float(row["temp_c"]))] + offset
                rtf = _number(row["reads_to_failure"])
                if rtf is None and row["status"] == "fails fresh":
                    axis.plot(position, 1, "x", color=colour, markersize=9, label=f"{label}: the fresh read fails")
                    continue
                if rtf is None:
                    # below the threshold, or none up to the horizon; "undetermined" rows are not drawn
                    if row["status"] != "undetermined":
                        axis.plot(position, horizon, NO_FAILURE_MARKER, color=colour, markerfacecolor="none",
                                  label=f"{label}: no failure predicted")
                    continue
                low, high = _number(row["rtf_low"]) or rtf, _number(row["rtf_high"]) or rtf
                axis.errorbar(position, rtf, yerr=[[rtf - low], [high - rtf]], fmt="o", color=colour, capsize=3,
                              label=label)
        simulated = int(items[0]["simulated_reads"])
        axis.axhline(simulated, linestyle=":", color="grey", label=f"simulated reads ({simulated}); above: extrapolated")
        axis.set_yscale("log")
        axis.set_ylim(0.3, horizon * 10)
        axis.set_xticks(np.arange(len(corners)))
        axis.set_xlim(-0.6, len(corners) - 0.4)
        axis.set_xticklabels([f"{c}\n{v:g} V\n{t:g} C" for c, v, t in corners], fontsize=7)
        axis.set_ylabel("reads until the margin or the read fails")
        axis.set_title(f"{scheme} read, stored {weight:+d}", fontsize=9)
        axis.grid(True, which="major", axis="y", alpha=0.3)
        handles, labels = axis.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        axis.legend(unique.values(), unique.keys(), fontsize=7, loc="lower left")
    return save_figure(figure, path,
                       title="Read disturb: reads to failure per corner (\u25b3: none predicted, x: the fresh read fails)")
