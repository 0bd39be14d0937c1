"""Figures of the analog stages: multi-level programming, the crossbar, on-chip learning.

Like `report.plots`, these draw what the stages computed and compute nothing new;
distributions go on a normal-quantile (probit) axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from scipy import special  # noqa: E402


def _save(figure, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _grid(count: int, width: float = 5.2, height: float = 4.2):
    cols = min(count, 2)
    rows = int(np.ceil(count / cols))
    figure, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for axis in axes.ravel()[count:]:
        axis.set_visible(False)
    return figure, axes.ravel()


def plot_level_distributions(groups: Sequence, levels, path: Path | str) -> Path:
    """Per population (`mlc.compare.Population`), the read conductance of every level as
    an empirical CDF on a probit axis; the level bands as faint lines."""
    figure, axes = _grid(len(groups))
    colours = plt.cm.viridis(np.linspace(0, 1, levels.levels))
    for axis, group in zip(axes, groups):
        for k in range(levels.levels):
            g = np.sort(np.asarray(group.conductance)[np.asarray(group.target) == k]) * 1e6
            if g.size < 2:
                continue
            z = special.ndtri((np.arange(g.size) + 0.5) / g.size)
            axis.plot(g, z, color=colours[k], linewidth=0.9)
        for edge in levels.edges * 1e6:
            axis.axvline(edge, color="0.85", linewidth=0.5, zorder=0)
        axis.set_xlabel("read conductance (uS)")
        axis.set_ylabel("normal quantile")
        axis.set_title(f"{group.name}: {group.target.size} cells\n{group.note}", fontsize=8)
        axis.set_xlim(levels.g_low * 1e6 - 5, levels.g_high * 1e6 + 25)
        axis.grid(True, alpha=0.25)
    figure.suptitle(f"{levels.levels}-level programming, one colour per target level (bands: grey lines)", fontsize=10)
    return _save(figure, path)


def plot_level_confusion(groups: Sequence, confusion: Sequence[np.ndarray], path: Path | str) -> Path:
    """P(read level | programmed level) per population (`confusion`: its counts,
    programmed x read, from `mlc.analysis.confusion_counts`), log colour scale."""
    figure, axes = _grid(len(groups), 4.6, 4.2)
    image = None
    for axis, group, counts in zip(axes, groups, confusion):
        counts = np.asarray(counts, dtype=float)
        probability = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        image = axis.imshow(np.where(probability > 0, probability, np.nan), origin="lower", cmap="magma_r",
                            norm=LogNorm(vmin=1e-3, vmax=1.0))
        axis.set_xlabel("level read back")
        axis.set_ylabel("level programmed")
        axis.set_title(f"{group.name} ({group.target.size} cells)", fontsize=8)
    if image is not None:
        figure.colorbar(image, ax=list(axes), shrink=0.8, label="P(read | programmed)")
    figure.suptitle("level-confusion matrices", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_hybrid(result: dict, path: Path | str) -> Path:
    """Accuracy after transfer and after hybrid retraining against the level count, with
    the intervals over chips, the software network and the published 96.19 %."""
    rows = result["rows"]
    levels = np.array([r["levels"] for r in rows])
    figure, axis = plt.subplots(figsize=(6.4, 4.4))
    for key, label, marker in (("after_transfer", "after transfer", "v"), ("after_retraining", "after hybrid retraining", "o")):
        mean = np.array([r[key] for r in rows]) * 100
        low = np.array([r[f"{key}_ci_low"] for r in rows]) * 100
        high = np.array([r[f"{key}_ci_high"] for r in rows]) * 100
        axis.errorbar(levels, mean, yerr=[mean - low, high - mean], marker=marker, capsize=4,
                      label=f"{label} (95 % CI over {rows[0]['chips']} chips)")
    software = result["software"]
    axis.axhline(software["accuracy"] * 100, color="0.3", linestyle="--",
                 label=f"software {software['accuracy'] * 100:.1f} % ({software['test_images']} test images)")
    axis.axhline(result["published"]["accuracy"] * 100, color="tab:red", linestyle=":",
                 label="Yao et al., Nature 2020: 96.19 % (hybrid, 32 levels)")
    axis.set_xscale("log", base=2)
    axis.set_xticks(levels, [str(n) for n in levels])
    axis.set_xlabel("conductance levels per cell")
    axis.set_ylabel("MNIST test accuracy (%)")
    axis.set_title("CNN on simulated multi-level crossbars", fontsize=10)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=7, loc="lower right")
    return _save(figure, path)


def plot_stellar(rows: Sequence[dict], path: Path | str) -> Path:
    """Accuracy against SET/RESET asymmetry per rule (intervals over runs), and pulses
    per weight."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for rule in dict.fromkeys(r["rule"] for r in rows):
        items = sorted((r for r in rows if r["rule"] == rule and r.get("nonlinearity", 0) == 0),
                       key=lambda r: r["asymmetry"] or 0)
        if rule == "ideal":
            for r in items:
                left.axhspan(r["ci_low"] * 100, r["ci_high"] * 100, color="0.8", alpha=0.6,
                             label=f"ideal-device SGD {r['accuracy'] * 100:.1f} %")
            continue
        x = np.array([r["asymmetry"] for r in items])
        mean = np.array([r["accuracy"] for r in items]) * 100
        low = np.array([r["ci_low"] for r in items]) * 100
        high = np.array([r["ci_high"] for r in items]) * 100
        left.errorbar(x, mean, yerr=[mean - low, high - mean], marker="o", capsize=3,
                      label=f"{rule} ({items[0]['runs']} runs, 95 % CI)")
        right.plot(x, [r["pulses_per_weight"] for r in items], marker="o", label=rule)
    left.axhline(10, color="tab:red", linestyle=":", label="chance")
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_xlabel("asymmetry: mean |RESET step| / mean |SET step| (ln G)")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    left.set_ylabel("MNIST test accuracy (%)")
    right.set_ylabel("pulses per weight")
    right.set_yscale("log")
    figure.suptitle("on-chip learning with identical pulses on the fitted devices", fontsize=10)
    return _save(figure, path)


def plot_crossbar(currents: np.ndarray, mac_errors: np.ndarray, path: Path | str, title: str = "") -> Path:
    """Left: column currents of the vectorized solver (and with ideal wires) against
    ngspice's (`currents`: ngspice, solver, ideal-wire columns). Right: the layer's
    normalised MAC errors as an empirical CDF on a probit axis, beside a normal of the
    same spread."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10.4, 4.2))
    spice, solved, ideal = (currents[:, i] * 1e6 for i in range(3))
    span = [min(spice.min(), ideal.min()), max(spice.max(), ideal.max())]
    left.plot(span, span, color="0.7", linewidth=0.8, label="equal")
    left.plot(spice, ideal, ".", color="tab:orange", markersize=4, label="ideal wires (no IR drop)")
    left.plot(spice, solved, "x", color="tab:blue", markersize=5, label="vectorized solver")
    left.set_xlabel("ngspice column current (uA)")
    left.set_ylabel("model column current (uA)")
    left.legend(fontsize=8)
    left.grid(True, alpha=0.25)
    errors = np.sort(np.asarray(mac_errors, dtype=float))
    z = special.ndtri((np.arange(errors.size) + 0.5) / errors.size)
    right.plot(errors, z, color="tab:blue", linewidth=1.0, label=f"analog layer ({errors.size} MACs)")
    spread = errors.std()
    right.plot(spread * z + errors.mean(), z, color="0.6", linewidth=0.8, linestyle="--",
               label="normal, same mean and spread")
    right.set_xlabel("MAC error / spread of the exact outputs")
    right.set_ylabel("normal quantile")
    right.legend(fontsize=8)
    right.grid(True, alpha=0.25)
    if title:
        figure.suptitle(title, fontsize=9)
    return _save(figure, path)
