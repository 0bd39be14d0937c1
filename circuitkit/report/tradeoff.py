"""The programming trade-off figure: read BER against programming energy per bit, 1T1R
against 2T2R, each by the offset integral and by the ngspice Monte Carlo, with intervals; the bundled networks' accuracy at each point; and the
programmed LRS distributions on a normal-quantile axis.

Drawing only: it takes the rows of `program.tradeoff` (tradeoff.csv) and, optionally,
each condition's programmed resistances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy import stats

from circuitkit.report.figures import plt, probit_axis, save_figure

TRADEOFF_FIGURE = "tradeoff.png"
_COLOURS = {"1t1r": "tab:orange", "2t2r": "tab:blue"}
_LABELS = {"1t1r": "1T1R vs reference", "2t2r": "2T2R + PCSA"}


def _errors(rows, key: str) -> np.ndarray:
    values = np.array([float(r[key]) for r in rows])
    low = np.array([float(r[f"{key}_ci_low"]) for r in rows])
    high = np.array([float(r[f"{key}_ci_high"]) for r in rows])
    return values, np.vstack([np.clip(values - low, 0, None), np.clip(high - values, 0, None)])


def plot_tradeoff(rows: Sequence[Mapping], path: Path | str,
                  programmed: Mapping[str, np.ndarray] | None = None) -> Path:
    """BER (offset integral, and ngspice Monte Carlo) of both architectures and network accuracy against energy per
    bit; with `programmed` (condition -> resistances), their distributions."""
    networks = sorted({key[len("accuracy_"):-len("_clean")] for key in rows[0] if key.endswith("_clean")})
    panels = 1 + bool(networks) + bool(programmed)
    figure, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2), squeeze=False)
    axes = list(axes[0])
    ber_axis = axes.pop(0)
    # each architecture's rows and energies (pJ) with their errors, shared by the BER and the accuracy panels
    chosen_rows = {architecture: [r for r in rows if r["architecture"] == architecture] for architecture in _LABELS}
    energies = {architecture: tuple(1e12 * a for a in _errors(chosen, "energy_per_bit_j"))
                for architecture, chosen in chosen_rows.items()}
    for architecture, chosen in chosen_rows.items():
        energy, energy_error = energies[architecture]
        ber, ber_error = _errors(chosen, "ber")
        ber_axis.errorbar(energy, ber, yerr=ber_error, xerr=energy_error, fmt="o", capsize=3,
                          color=_COLOURS[architecture], label=f"{_LABELS[architecture]} (offset integral)")
        for r, x, y in zip(chosen, energy, ber):
            ber_axis.annotate(r["condition"].replace("_w1e-06", ""), (x, y), fontsize=6, xytext=(3, 3),
                              textcoords="offset points")
        mc = np.array([float(r["ber_mc"]) for r in chosen])
        if np.isfinite(mc).any():  # tables of older runs have no 1T1R Monte Carlo
            _, mc_error = _errors(chosen, "ber_mc")
            ber_axis.errorbar(energy * 1.03, np.maximum(mc, 1e-12), yerr=mc_error, fmt="s", mfc="none", capsize=3,
                              color=_COLOURS[architecture], label=f"{_LABELS[architecture]} (ngspice Monte Carlo)")
    ber_axis.set_xscale("log")
    ber_axis.set_yscale("log")
    ber_axis.set_xlabel("programming energy per bit (pJ, SET)")
    ber_axis.set_ylabel("read bit-error rate (95 % interval)")
    ber_axis.grid(True, which="both", alpha=0.3)
    ber_axis.legend(fontsize=7)
    if networks:
        accuracy_axis = axes.pop(0)
        for architecture, chosen in chosen_rows.items():
            for marker, name in zip("ov^s", networks):
                accuracy, error = _errors(chosen, f"accuracy_{name}")
                accuracy_axis.errorbar(energies[architecture][0], 100 * accuracy, yerr=100 * error, fmt=marker, capsize=3,
                                       color=_COLOURS[architecture], label=f"{name}, {_LABELS[architecture]}")
        for linestyle, name in zip(("--", ":", "-."), networks):
            accuracy_axis.axhline(100 * float(rows[0][f"accuracy_{name}_clean"]), color="grey", linestyle=linestyle,
                                  linewidth=0.8, label=f"{name} without errors")
        accuracy_axis.set_xscale("log")
        accuracy_axis.set_xlabel("programming energy per bit (pJ, SET)")
        accuracy_axis.set_ylabel("test accuracy (%, MNIST 5k; 95 % interval)")
        accuracy_axis.grid(True, which="both", alpha=0.3)
        accuracy_axis.legend(fontsize=6)
    if programmed:
        distribution_axis = axes.pop(0)
        for label, resistance in programmed.items():
            values = np.sort(np.asarray(resistance, dtype=float))
            p = (np.arange(1, values.size + 1) - 0.5) / values.size
            distribution_axis.plot(values, stats.norm.ppf(p), ".", markersize=2, label=f"{label} ({values.size} cells)")
        distribution_axis.set_xscale("log")
        distribution_axis.set_xlabel("programmed LRS read resistance (ohm)")
        probit_axis(distribution_axis, 1e-3, 1 - 1e-3)
        distribution_axis.grid(True, which="both", alpha=0.3)
        distribution_axis.legend(fontsize=6)
    return save_figure(figure, path, title="Programming energy vs read errors (SET energy; HRS: fitted distribution)")
