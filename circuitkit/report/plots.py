"""Plots of the flow's artefacts (matplotlib, files only: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from circuitkit.ber_table import BerTable  # noqa: E402


def condition_error_rates(table: BerTable) -> list[dict]:
    """Per condition: BER (mean over stored values of P(read != stored)), and the interval
    from the per-stored interval bounds averaged the same way."""
    rates = []
    for condition in table.conditions():
        rows = [row for row in table if row.condition == condition and row.read != row.stored]
        alphabet = condition.alphabet
        by_stored = {stored: [r for r in rows if r.stored == stored] for stored in alphabet}
        ber = np.mean([sum(r.probability for r in group) for group in by_stored.values()])
        low = np.mean([sum(r.ci_low for r in group) for group in by_stored.values()])
        high = np.mean([min(1.0, sum(r.ci_high for r in group)) for group in by_stored.values()])
        rates.append({"condition": condition, "ber": float(ber), "ci_low": float(low), "ci_high": float(high),
                      "method": rows[0].method if rows else "", "samples": rows[0].samples if rows else 0})
    return rates


def plot_ber_vs_vdd(table: BerTable, path: Path | str) -> Path:
    """BER with its 95 % interval against supply, log axis, one line per (corner, temperature,
    scheme). A BER of zero is drawn at its upper bound as a downward triangle."""
    path = Path(path)
    rates = condition_error_rates(table)
    groups: dict[tuple, list[dict]] = {}
    for rate in rates:
        c = rate["condition"]
        groups.setdefault((c.corner, c.temp_c, c.scheme, rate["method"]), []).append(rate)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    floor = min([r["ber"] for r in rates if r["ber"] > 0] + [r["ci_high"] for r in rates if r["ci_high"] > 0] + [1e-3])
    for (corner, temp, scheme, method), items in sorted(groups.items()):
        items.sort(key=lambda r: r["condition"].vdd)
        vdd = np.array([r["condition"].vdd for r in items])
        ber = np.array([r["ber"] for r in items])
        low = np.array([r["ci_low"] for r in items])
        high = np.array([r["ci_high"] for r in items])
        label = f"{corner}, {temp:g} C, {scheme}" + (f" ({method})" if method != "mc" else "")
        shown = np.where(ber > 0, ber, high)
        line, = axis.plot(vdd, shown, marker="o", label=label)
        axis.fill_between(vdd, np.maximum(low, floor * 1e-2), np.maximum(high, floor * 1e-2), color=line.get_color(), alpha=0.15)
        zero = ber == 0
        if zero.any():
            axis.plot(vdd[zero], high[zero], linestyle="none", marker="v", color=line.get_color())
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
