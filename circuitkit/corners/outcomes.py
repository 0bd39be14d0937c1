"""How a campaign's reads become bit-error table rows, every read accounted for.

A read has one of four outcomes, and none leaves the accounting:

- a value of the alphabet (correct, or a misread);
- unresolved (binary reads): neither output of the latch had decided at the sampling time.
  The read simulator records it as 0, which is not a binary value; it becomes the table's
  own `unresolved` row (`ber_table.UNRESOLVED`), an error for either stored value (see
  `ber_table` for how injection treats it). A ternary read's 0 is its third value;
- non-converged: the simulation of its job failed twice (the retry included). Its value
  is unknown, so every row's interval spans it counted as that outcome and as another
  (`BerTable.from_counts(failed=...)`), and `non_converged_bounds` gives the bit-error rate
  with all of them counted as errors and as correct;
- a condition none of whose reads converged is still a row group, saying so.

`tally_reads` turns job outcomes into per-condition `ConditionReads`; `counted_table`
turns those into the `mc` table; `non_converged_bounds` into the campaign.json entry. An
estimator that weights its reads (importance sampling) can tally the same way and build
its rows from `ConditionReads` too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from circuitkit.ber_table import BerTable, Condition

# What a binary read job records for a read that had not decided at the sampling time.
UNRESOLVED_READ = 0


@dataclasses.dataclass
class ConditionReads:
    """The reads of one condition, by stored value (rows in `condition.alphabet` order)."""

    condition: Condition
    counts: np.ndarray       # stored x read over the alphabet
    unresolved: np.ndarray   # per stored value: binary reads that had not decided
    failed: np.ndarray       # per stored value: reads whose simulation did not converge

    @classmethod
    def empty(cls, condition: Condition) -> "ConditionReads":
        size = len(condition.alphabet)
        return cls(condition, np.zeros((size, size), np.int64), np.zeros(size, np.int64), np.zeros(size, np.int64))

    @property
    def binary(self) -> bool:
        return self.condition.alphabet == (-1, 1)

    def add(self, stored: int, reads: Sequence[int] | None, failed: int = 0) -> None:
        """Count the reads of one job storing `stored` (None and `failed`: a job that did not converge)."""
        alphabet = self.condition.alphabet
        row = alphabet.index(stored)
        self.failed[row] += failed
        for value in reads or ():
            if self.binary and value == UNRESOLVED_READ:
                self.unresolved[row] += 1
            else:
                self.counts[row, alphabet.index(value)] += 1

    def error_bounds(self) -> tuple[float, float, float]:
        """BER (mean over stored values of P(read != stored), unresolved reads counted as
        errors) with the non-converged reads left out, counted as correct and counted as
        errors."""
        correct = np.diag(self.counts)
        decided = self.counts.sum(axis=1) + self.unresolved
        errors = decided - correct
        with np.errstate(invalid="ignore", divide="ignore"):
            left_out = np.where(decided > 0, errors / np.maximum(decided, 1), np.nan)
            as_correct = errors / np.maximum(decided + self.failed, 1)
            as_errors = (errors + self.failed) / np.maximum(decided + self.failed, 1)
        return float(np.mean(left_out)), float(np.mean(as_correct)), float(np.mean(as_errors))  # nan: none decided


def tally_reads(results: Iterable[tuple[Any, Any]], conditions: Iterable[Condition] = ()) -> dict[Condition, ConditionReads]:
    """Per condition (every one of `conditions`, and any the results name), the counted
    reads of (job, outcome) pairs: a job whose outcome is not "ok" adds `job.count`
    non-converged reads."""
    tallies = {condition: ConditionReads.empty(condition) for condition in conditions}
    for job, outcome in results:
        tally = tallies.setdefault(job.condition, ConditionReads.empty(job.condition))
        if outcome.status == "ok":
            tally.add(job.stored, outcome.read)
        else:
            tally.add(job.stored, None, failed=job.count)
    return tallies


def counted_table(tallies: dict[Condition, ConditionReads], method: str) -> BerTable:
    """The table of counted reads: binary conditions with unresolved reads carry an `unresolved` row per stored
    value; non-converged reads widen every interval (see `BerTable.from_counts`)."""
    binary = all(tally.binary for tally in tallies.values())   # a campaign reads one scheme
    return BerTable.from_counts({c: t.counts for c, t in tallies.items()}, method=method,
                                unresolved={c: t.unresolved for c, t in tallies.items()} if binary else None,
                                failed={c: t.failed for c, t in tallies.items()})


def non_converged_bounds(tallies: dict[Condition, ConditionReads]) -> list[dict[str, Any]]:
    """Per condition: the reads that did not converge and the BER with them counted as
    correct and as errors (both bounds), and with them left out (the table's estimate)."""
    entries = []
    for condition, tally in tallies.items():
        left_out, as_correct, as_errors = tally.error_bounds()
        entries.append({**dataclasses.asdict(condition), "non_converged_reads": int(tally.failed.sum()),
                        "unresolved_reads": int(tally.unresolved.sum()),
                        "reads": int(tally.counts.sum() + tally.unresolved.sum() + tally.failed.sum()),
                        "ber_without_them": left_out if np.isfinite(left_out) else None, "ber_counted_as_correct": as_correct,
                        "ber_counted_as_errors": as_errors})
    return entries


def reweighted_sensitivity(results: Iterable[tuple[Any, Any]], device: Any) -> dict[Condition, list[dict[str, Any]]]:
    """Model-form sensitivity of counted reads: the BER each alternative distribution model
    of the cells (`device.alternatives`, the same kind for both states) implies, from the
    same reads reweighted by the likelihood ratio of their two devices' resistances
    (self-normalised importance weights), with the effective sample size (smallest over
    stored values) and the errors seen. Unresolved reads count as errors; non-converged
    ones are left out. Reweighting cannot show a tail beyond the reads: with no error seen
    every alternative's BER is 0 too. Empty without fitted alternatives or with stuck cells
    (their draw is not the states' density alone)."""
    from circuitkit.device.nonideality import CELL_STATES

    lrs_kinds, hrs_kinds = device.alternatives("lrs"), device.alternatives("hrs")
    kinds = [kind for kind in lrs_kinds if kind in hrs_kinds]
    if not kinds or device.stuck is not None:
        return {}
    reads: dict[Condition, dict[int, tuple[list, list]]] = {}
    for job, outcome in results:
        if outcome.status == "ok":
            values, ohms = reads.setdefault(job.condition, {}).setdefault(job.stored, ([], []))
            values.extend(outcome.read)
            ohms.extend(outcome.resistances_ohm)
    alternatives = {kind: {"lrs": lrs_kinds[kind], "hrs": hrs_kinds[kind]} for kind in kinds}
    current = {"lrs": device.state("lrs"), "hrs": device.state("hrs")}
    sensitivity: dict[Condition, list[dict[str, Any]]] = {}
    for condition, by_stored in reads.items():
        entries = []
        for kind, models in alternatives.items():
            rates, effective, seen = [], [], 0
            for stored, (values, ohms) in by_stored.items():
                ohms_array = np.asarray(ohms, dtype=float)
                log_weight = sum(models[name].logpdf(ohms_array[:, side]) - current[name].logpdf(ohms_array[:, side])
                                 for side, name in enumerate(CELL_STATES[stored]))
                weight = np.exp(log_weight - np.max(log_weight))
                wrong = np.asarray(values) != stored
                seen += int(wrong.sum())
                rates.append(float(np.sum(weight * wrong) / np.sum(weight)))
                effective.append(float(np.sum(weight) ** 2 / np.sum(weight ** 2)))
            entries.append({"lrs": kind, "hrs": kind, "ber": float(np.mean(rates)),
                            "effective_samples": min(effective), "errors_seen": seen,
                            "estimator": "reweighted reads (self-normalised likelihood ratio)"})
        sensitivity[condition] = entries
    return sensitivity
