"""What every figure circuitkit draws shares: matplotlib on the file-only Agg backend,
saving a figure (title, layout, parents created, closed), and the normal-quantile
(probit) axis distributions are plotted on.

Drawing only: the plot modules of `circuitkit.report` import this, and nothing that
computes (stages pass their objects or rows in).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from scipy import stats  # noqa: E402

__all__ = ["PROBIT_TICKS", "plt", "probit_axis", "save_figure"]

PROBIT_TICKS = (1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 0.999, 1 - 1e-4, 1 - 1e-6)


def save_figure(figure, path: Path | str, *, title: str | None = None, dpi: int = 120) -> Path:
    """Lay out, write and close `figure` (a `title` above all its axes when given)."""
    path = Path(path)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path


def probit_axis(ax, low: float = 1e-6, high: float = 1 - 1e-6) -> None:
    """Label a y axis that holds norm.ppf(p) with the probabilities, as the field plots CDFs."""
    ticks = [p for p in PROBIT_TICKS if low <= p <= high]
    ax.set_yticks(stats.norm.ppf(ticks))
    ax.set_yticklabels([f"{100 * p:.4g} %" for p in ticks], fontsize=7)
    ax.set_ylim(stats.norm.ppf(low), stats.norm.ppf(high))
    ax.set_ylabel("cumulative probability (normal-quantile axis)")
