"""Simulated multi-level programming beside the real 32-level runs.

For each population (the simulated cells, all of them and those that verified; each
bundled measured run) per level: read-conductance quantiles and the fraction read back in
the target band; the confusion tables (the measured ones in the same CSV schema,
corner `measured-<run>`); and how many levels are distinguishable in each
(`mlc.analysis`). The measured reads were taken 15-30 min after programming; the
simulated ones are fresh reads unless the campaign relaxed them with a fitted relaxation model
(`circuitkit mlc --drift-card`): the comparison says which.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.ber_table import Condition
from circuitkit.files import write_json, write_rows_csv
from circuitkit.mlc import analysis
from circuitkit.mlc.campaign import DRIFT_OFF, MlcCampaign
from circuitkit.mlc.levels import LevelMap
from circuitkit.mlc.measured import DEFAULT_FILES, LEVELS, MeasuredLevels, citation, load_measured


@dataclasses.dataclass(frozen=True)
class Population:
    """One set of programmed cells to compare: a name, target levels, read conductance (S)."""

    name: str
    target: np.ndarray
    conductance: np.ndarray
    note: str


def populations(campaign: MlcCampaign, measured: list[MeasuredLevels]) -> list[Population]:
    ok = campaign.result.success
    sim = [Population("simulated (all cells)", campaign.result.level, campaign.later_conductance,
                      ("one fresh read after write-verify" if campaign.summary["drift"] == DRIFT_OFF else
                       f"one read after write-verify, relaxed ({campaign.summary['drift']})")
                      + "; cells that ran out of budget included"),
           Population("simulated (verified cells)", campaign.result.level[ok], campaign.later_conductance[ok],
                      "cells whose last verify read was in band")]
    return sim + [Population(f"measured {m.name}", m.target, m.conductance, "read 15-30 min after programming")
                  for m in measured]


def compare(campaign: MlcCampaign, outdir: Path | str, *, measured: list[MeasuredLevels] | None = None,
            threshold: float = analysis.DEFAULT_THRESHOLD) -> dict[str, Any]:
    """Write measured_vs_simulated.csv, measured_ber_table.csv and comparison.json; draw
    mlc_levels.png (probit) and mlc_confusion.png. Returns the comparison summary."""
    outdir = Path(outdir)
    levels = campaign.config.level_map
    if levels != LevelMap(LEVELS):
        raise CircuitkitError(f"the measured runs have {LEVELS} bands of 4 uS over 0 .. 128 uS; the campaign has "
                              f"{levels.levels} over {levels.g_low:g} .. {levels.g_high:g} S: compare like with like "
                              "(circuitkit mlc program --levels 32)")
    measured = [load_measured(name) for name in DEFAULT_FILES] if measured is None else measured
    groups = populations(campaign, measured)
    rows, summary = [], {"measured_source": citation(), "threshold": threshold, "populations": {}}
    tables = []
    for group in groups:
        counts = analysis.confusion_counts(levels, group.target, group.conductance)
        distinct = analysis.distinguishable_levels(group.target, group.conductance, levels.levels, threshold)
        adjacent = analysis.adjacent_confusion(counts)
        summary["populations"][group.name] = {
            "cells": int(group.target.size), "note": group.note, "in_band_fraction": float(np.trace(counts) / counts.sum()),
            "distinguishable_levels": distinct.count, "chain": list(distinct.chain),
            "adjacent_pairs_distinguishable": distinct.adjacent_distinguishable,
            "mean_adjacent_confusion": float(adjacent.mean())}
        for row in analysis.level_statistics(levels, group.target, group.conductance):
            rows.append({"population": group.name, **{k: row[k] for k in (
                "level", "target_s", "cells", "g_p10_s", "g_median_s", "g_p90_s", "error_mean_s", "error_rms_s",
                "in_band_fraction")}})
        if group.name.startswith("measured"):
            condition = Condition(f"measured-{group.name.split(' ', 1)[1]}", 0.0, 27.0, levels.scheme)
            tables.append(analysis.confusion_table(levels, group.target, group.conductance, condition))
    write_rows_csv(outdir / "measured_vs_simulated.csv", rows)
    if tables:
        tables[0].merged(*tables[1:]).write(outdir / "measured_ber_table.csv")
    summary["drift"] = campaign.summary["drift"]
    write_json(outdir / "comparison.json", summary)
    from circuitkit.report.analog import plot_level_confusion, plot_level_distributions

    plot_level_distributions(groups, levels, outdir / "mlc_levels.png")
    plot_level_confusion(groups, [analysis.confusion_counts(levels, g.target, g.conductance) for g in groups],
                         outdir / "mlc_confusion.png")
    return summary
