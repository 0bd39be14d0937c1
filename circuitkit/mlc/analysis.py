"""What a population of programmed cells shows: per-level statistics, the level-confusion
table, and how many levels can be told apart. One code path for simulated and measured
cells (both are (target level, read conductance) pairs).

Distinguishable levels. Two levels i < j can be told apart when the best single read
threshold between their read-conductance samples misclassifies less than `threshold` of
their reads (the mean of the two error fractions, at the threshold that minimises it):
a property of the two distributions, not of the fixed 4 uS bands. The count reported is
the longest chain 0 = k0 < k1 < ... taken greedily from the lowest level (each the
lowest level distinguishable from the previous one): how many levels a reader with
re-tuned thresholds could use. Also reported: how many adjacent pairs (k, k+1) of the
native spacing are distinguishable. The error at the best threshold is estimated on the
same samples that chose it, so it is optimistic for small samples (32 cells per level in
the bundled data); the pair table carries the counts and a Clopper-Pearson interval.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from circuitkit.ber_table import BerTable, Condition
from circuitkit.mlc.levels import LevelMap
from circuitkit.stats import binomial_bounds, mean_interval

DEFAULT_THRESHOLD = 0.05


def confusion_counts(levels: LevelMap, target: np.ndarray, read_conductance: np.ndarray) -> np.ndarray:
    """counts[i, j] = cells programmed to level i read back in level j's band."""
    read = levels.classify(read_conductance)
    counts = np.zeros((levels.levels, levels.levels), dtype=np.int64)
    np.add.at(counts, (np.asarray(target), read), 1)
    return counts


def confusion_table(levels: LevelMap, target: np.ndarray, read_conductance: np.ndarray, condition: Condition
                    ) -> BerTable:
    """The confusion counts as a bit-error table (scheme `mlc<N>`, Clopper-Pearson
    intervals); levels nobody was programmed to are left out of the counts' check by
    refusing them (every level needs cells)."""
    return BerTable.from_counts({condition: confusion_counts(levels, target, read_conductance)}, method="mc")


def pair_error(low: np.ndarray, high: np.ndarray) -> tuple[float, float, int, int]:
    """(error, threshold, misread_low, misread_high): the best threshold t between two
    samples (reads of the lower and the higher level) and the mean misclassified
    fraction there, (P(low > t) + P(high <= t)) / 2."""
    low, high = np.sort(np.asarray(low, float)), np.sort(np.asarray(high, float))
    candidates = np.unique(np.concatenate([low, high, [-np.inf]]))
    above_low = low.size - np.searchsorted(low, candidates, side="right")  # low reads > t
    below_high = np.searchsorted(high, candidates, side="right")  # high reads <= t
    error = 0.5 * (above_low / low.size + below_high / high.size)
    best = int(np.argmin(error))
    return float(error[best]), float(candidates[best]), int(above_low[best]), int(below_high[best])


@dataclasses.dataclass(frozen=True)
class Distinguishable:
    """How many levels can be told apart (see the module doc)."""

    chain: tuple[int, ...]
    adjacent_distinguishable: int
    adjacent_pairs: list[dict]
    threshold: float

    @property
    def count(self) -> int:
        return len(self.chain)

    def to_dict(self) -> dict:
        return {"distinguishable_levels": self.count, "chain": list(self.chain),
                "adjacent_pairs_distinguishable": self.adjacent_distinguishable,
                "adjacent_pairs": len(self.adjacent_pairs), "threshold": self.threshold,
                "definition": "levels i < j are distinguishable when the best single read threshold between their "
                              "read-conductance samples misclassifies less than `threshold` of their reads (mean of "
                              "the two error fractions); the count is the greedy chain from the lowest level"}


def distinguishable_levels(target: np.ndarray, read_conductance: np.ndarray, n_levels: int,
                           threshold: float = DEFAULT_THRESHOLD) -> Distinguishable:
    samples = [np.asarray(read_conductance)[np.asarray(target) == k] for k in range(n_levels)]
    present = [k for k in range(n_levels) if samples[k].size]
    pairs = []
    for a, b in zip(present[:-1], present[1:]):
        error, cut, miss_low, miss_high = pair_error(samples[a], samples[b])
        n = samples[a].size + samples[b].size
        count = miss_low + miss_high
        lo, hi = binomial_bounds(np.int64(count), np.int64(n))
        pairs.append({"low_level": a, "high_level": b, "error": error, "threshold_s": cut, "cells": n,
                      "misread": count, "ci_low": float(lo), "ci_high": float(hi),
                      "distinguishable": error < threshold})
    chain = [present[0]] if present else []
    for k in present[1:]:
        if pair_error(samples[chain[-1]], samples[k])[0] < threshold:
            chain.append(k)
    return Distinguishable(tuple(chain), sum(p["distinguishable"] for p in pairs), pairs, threshold)


def level_statistics(levels: LevelMap, target: np.ndarray, read_conductance: np.ndarray,
                     extra: dict[str, np.ndarray] | None = None) -> list[dict]:
    """Per level: cells, read-conductance quantiles (S), the error read - target (mean
    with its Student-t 95 % interval, rms) and the means of any `extra` per-cell arrays
    (pulses, energy, ...) with their intervals."""
    rows = []
    targets = levels.targets
    for k in range(levels.levels):
        sel = np.asarray(target) == k
        if not np.any(sel):
            continue
        g = np.asarray(read_conductance)[sel]
        error = g - targets[k]
        mean = mean_interval(error)
        row = {"level": k, "target_s": float(targets[k]), "cells": int(sel.sum()),
               "g_p10_s": float(np.quantile(g, 0.1)), "g_median_s": float(np.median(g)),
               "g_p90_s": float(np.quantile(g, 0.9)), "error_mean_s": mean.mean, "error_ci_low_s": mean.low,
               "error_ci_high_s": mean.high, "error_rms_s": float(np.sqrt(np.mean(error ** 2))),
               "in_band_fraction": float(np.mean(levels.classify(g) == k))}
        for name, values in (extra or {}).items():
            interval = mean_interval(np.asarray(values)[sel])
            row[f"{name}_mean"] = interval.mean
            row[f"{name}_ci_low"] = interval.low
            row[f"{name}_ci_high"] = interval.high
        rows.append(row)
    return rows


def adjacent_confusion(counts: np.ndarray) -> np.ndarray:
    """Per adjacent pair (k, k+1): the mean of P(read k+1 | k) and P(read k | k+1)."""
    totals = np.maximum(counts.sum(axis=1), 1)
    up = counts[np.arange(len(counts) - 1), np.arange(1, len(counts))] / totals[:-1]
    down = counts[np.arange(1, len(counts)), np.arange(len(counts) - 1)] / totals[1:]
    return 0.5 * (up + down)


def quantile_levels(levels: Sequence[int]) -> list[int]:
    """A handful of levels spread over the range (for figures)."""
    levels = list(levels)
    if len(levels) <= 8:
        return levels
    picks = np.unique(np.round(np.linspace(0, len(levels) - 1, 8)).astype(int))
    return [levels[i] for i in picks]
