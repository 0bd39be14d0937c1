"""The SNN's figures: accuracy against HRS leakage, one classification's spike raster,
and the characterized neuron's transfer curves. `circuitkit snn` calls them with what
`circuitkit.snn.evaluate` computed; they compute nothing themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from circuitkit.report.figures import plt, save_figure


def plot_leakage(results: Sequence, ratios: Sequence[float], path: str | Path, *,
                 nominal_ratio: float, quantized: float, title: str = "") -> Path:
    """Accuracy (mean, 95 % interval over chips) against the HRS/LRS current ratio."""
    ratios = np.asarray(ratios, dtype=np.float64)
    mean = np.array([r.mean for r in results]) * 100
    error = np.nan_to_num(np.vstack([mean - np.array([r.low for r in results]) * 100,
                                     np.array([r.high for r in results]) * 100 - mean]), nan=0.0)
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    axis.errorbar(ratios, mean, yerr=error, fmt="o-", capsize=3,
                  label=f"SNN with device spread (mean, 95 % CI, {results[0].samples} chips)")
    axis.axhline(quantized * 100, color="grey", linestyle="--", label=f"quantized network ({quantized:.1%})")
    axis.axvline(nominal_ratio, color="tab:green", linestyle=":", label=f"characterized devices ({nominal_ratio:.3g})")
    axis.set_xscale("log")
    axis.set_xticks(ratios, [f"{r:.3g}" for r in ratios])
    axis.xaxis.set_minor_formatter(plt.NullFormatter())
    axis.set_xlabel("HRS/LRS ratio (LRS current / HRS leakage current per cell)")
    axis.set_ylabel("test accuracy (%)")
    axis.set_title(title or "SNN accuracy vs HRS leakage")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)
    return save_figure(figure, path)


def plot_raster(raster, path: str | Path, *, n_out: int, corner: str) -> Path:
    """Input and output spikes of one classification on one chip (`snn.evaluate.raster`)."""
    inputs, run, coding = raster.inputs, raster.run, raster.coding
    real = inputs.pixels[0] < raster.image.shape[0]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True,
                                         gridspec_kw={"height_ratios": [2, 1]})
    top.plot(inputs.times[0, real] * 1e6, inputs.pixels[0, real], "|", color="black", markersize=4)
    top.set_ylabel("input (pixel index)")
    top.set_title(f"one classification: label {raster.label}, predicted {int(run.predictions[0, 0])} "
                  f"({int(real.sum())} input spikes, chip {raster.chip}, {corner})")
    for polarity, marker, color, name in ((1, "^", "tab:red", "positive spike"), (-1, "v", "tab:blue", "negative spike")):
        times = [s[3] * 1e6 for s in run.spikes if s[4] == polarity]
        neurons = [s[2] for s in run.spikes if s[4] == polarity]
        bottom.plot(times, neurons, marker, color=color, linestyle="none", markersize=5, label=name)
    net = run.net_counts[0, 0]
    bottom.set_yticks(range(n_out), [f"{j} ({net[j]:+d})" for j in range(n_out)], fontsize=7)
    bottom.set_ylim(-0.7, n_out - 0.3)
    bottom.set_ylabel("output neuron (net count)")
    bottom.set_xlabel("time (us)")
    bottom.set_xlim(0, coding.window_s * 1e6)
    bottom.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, ncol=2, frameon=False)
    return save_figure(figure, path)


def plot_transfer(table, path: str | Path) -> Path:
    """The neuron's measured transfer: spike rate vs steady input current per polarity,
    with the fitted t0 + Q_th / I period, and spikes per input spike vs charge."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
    fits = table.provenance.get("fits", {})
    for polarity, tag, color in ((1, "pos", "tab:red"), (-1, "neg", "tab:blue")):
        rows = sorted((r for r in table.transfer if r.get("quantity") == "steady_current_a"
                       and r.get("polarity") == polarity), key=lambda r: r["input"])
        if not rows:
            continue
        current = np.array([r["input"] for r in rows])
        left.plot(current * 1e9, [r["output_rate_hz"] / 1e6 for r in rows], "o", color=color,
                  label=f"{'positive' if polarity > 0 else 'negative'} spikes (ngspice)")
        charge = table.neuron.charge_to_threshold_pos_c if polarity > 0 else table.neuron.charge_to_threshold_neg_c
        if f"t0_{tag}_s" in fits:
            grid = np.geomspace(current.min(), current.max(), 50)
            rate = 1 / np.maximum(fits[f"t0_{tag}_s"] + charge / grid, table.neuron.refractory_s)
            left.plot(grid * 1e9, rate / 1e6, "-", color=color, alpha=0.6,
                      label=f"max(t0 + Q/I, t_ref), Q = {charge * 1e15:.1f} fC")
    left.set_xlabel("steady input current (nA)")
    left.set_ylabel("output spike rate (MHz)")
    left.set_title(f"IF neuron, {table.label()}", fontsize=9)
    left.grid(True, alpha=0.3)
    left.legend(fontsize=7)
    packets = sorted((r for r in table.transfer if r.get("quantity") == "charge_per_input_spike_c"),
                     key=lambda r: r["input"])
    fraction = np.linspace(0.2, 1.3, 221)
    right.plot(fraction, 1 / np.ceil(1 / fraction), "-", color="grey", alpha=0.6,
               label="ideal IF, reset to rest: 1 / ceil(Q_th / q)")
    right.plot([r["input"] / table.neuron.charge_to_threshold_pos_c for r in packets],
               [r["output_spikes_per_input_spike"] for r in packets], "o", color="tab:red", label="ngspice")
    right.legend(fontsize=7, loc="upper left")
    right.set_xlabel("charge per input spike / charge to threshold")
    right.set_ylabel("output spikes per input spike")
    right.set_ylim(0, 1.2)
    right.set_title("charge packets (reset to rest)", fontsize=9)
    right.grid(True, alpha=0.3)
    return save_figure(figure, path)
