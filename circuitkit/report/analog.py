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


def plot_level_confusion(groups: Sequence, levels, path: Path | str) -> Path:
    """P(read level | programmed level) per population, log colour scale."""
    from circuitkit.mlc.analysis import confusion_counts

    figure, axes = _grid(len(groups), 4.6, 4.2)
    image = None
    for axis, group in zip(axes, groups):
        counts = confusion_counts(levels, group.target, group.conductance).astype(float)
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
