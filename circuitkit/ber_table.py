"""Bit-error tables: P(read | stored) per operating condition, as a CSV that round-trips.

The corners stage writes these tables from SPICE Monte Carlo counts; the inject stage
reads them to corrupt network weights. One row per (condition, stored, read):

    corner,vdd,temp_c,scheme,stored,read,samples,count,probability,ci_low,ci_high,method

A condition is (corner, vdd, temp_c, scheme). `scheme` fixes the alphabet of weight
values: binary -1/+1, ternary -1/0/+1, `mlc<N>` the N conductance levels 0 .. N-1 of a
multi-level cell (N from 2 to 64; `circuitkit.mlc` writes its level-confusion matrices
as these tables: stored = the level programmed, read = the level read back). For each condition and stored value the rows
hold one probability per read value of the alphabet (a row of the transition matrix)
and must sum to 1. `samples` is how many reads of that stored value were simulated,
`count` how many returned `read`; `probability` is the estimate (count / samples for
plain Monte Carlo, something else for a rare-event method, which `method` names);
`ci_low`/`ci_high` bound it. A synthetic table (no simulation behind it) has samples 0
and a zero-width interval.

Outcomes beyond the alphabet: `read` may also be `unresolved` (UNRESOLVED), a read where
neither output of the sense amplifier had decided at the sampling time. It is an outcome
of its own, with its own row per stored value (count, probability, interval) in every
condition where any read was unresolved, never folded into a value in the file. It is an error for every stored value, so the error rates count it; a
transition matrix (what injection samples from) spreads its probability evenly over the
values other than the stored one (binary: the opposite value), so an unresolved read is
injected as a misread. Tables written before it existed have no such rows and read as
before.

`method` names the estimator first (`mc`, `offset`, ...; `method_estimator`), then, after
`; `, facts the estimate assumed or flags it carries: `device lrs:<kind> hrs:<kind>` (the
device-distribution models of `device.distributions` the reads were drawn from or the
integral assumed; `(literature default)` when not fitted to the user's cells),
`separated: ...` (an offset fit whose reads never mixed: no sigma resolved, the interval
bounds it), `failed: ...` (no converged read behind the row: estimate uniform over the
alphabet, interval [0, 1]), `non-converged ...` (reads that did not converge are inside
the interval, counted both as this outcome and as another). Old tables hold the bare
estimator and read as before.

Floats are written with `repr`, the shortest text that parses back to the same float,
so `BerTable.read(p).write(q)` reproduces every value exactly.

A `Condition` is the table's key, not necessarily a point a circuit ran at: a synthetic
sweep has vdd 0 and a corner such as 'symmetric-ber-0.001', another tool may name its
own corners. A campaign makes its conditions from `OperatingPoint`s (`Condition.at`) and
`condition.point` gives one back, checked.

This module is the contract between the corners stage and its readers (inject, snn,
report): it must not import any of them, nor simulate anything.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from circuitkit import CircuitkitError
from circuitkit.operating import OperatingPoint
from circuitkit.stats import binomial_bounds

BER_TABLE_COLUMNS: tuple[str, ...] = (
    "corner", "vdd", "temp_c", "scheme", "stored", "read",
    "samples", "count", "probability", "ci_low", "ci_high", "method",
)
SCHEME_ALPHABETS: dict[str, tuple[int, ...]] = {"binary": (-1, 1), "ternary": (-1, 0, 1)}
MLC_SCHEME = re.compile(r"mlc([0-9]+)")
MLC_LEVELS = (2, 64)  # the level counts an `mlc<N>` scheme may have
# CSV floats written by this module round-trip exactly; the tolerance is for tables
# produced by other tools that print probabilities with a few significant digits.
PROBABILITY_SUM_TOLERANCE = 1e-6

# Rows of this method are plain counts: count / samples is the probability and the counts
# of a stored value add up to its samples. A rare-event method (e.g. `offset`) puts the
# number of simulations behind its estimate in `samples` and 0 in `count`.
COUNTED_METHOD = "mc"
# The outcome of a read that had not decided at the sampling time (a `read` of its own).
UNRESOLVED = "unresolved"
# Separates the estimator from the facts and flags in `method`.
METHOD_SEPARATOR = "; "


def method_estimator(method: str) -> str:
    """The estimator of a `method` text (`mc`, `offset`, ...), without its facts and flags."""
    return method.split(";", 1)[0].strip()


def method_text(estimator: str, *facts: str) -> str:
    """`estimator; fact; fact` (empty facts left out)."""
    return METHOD_SEPARATOR.join([estimator, *(fact for fact in facts if fact)])

Bound = Literal["estimate", "ci_high"]
BOUNDS: tuple[str, ...] = ("estimate", "ci_high")


class BerTableError(CircuitkitError):
    """A bit-error table is malformed or inconsistent."""


def mlc_scheme(levels: int) -> str:
    """The scheme name of an `levels`-level cell's confusion table (`mlc32`)."""
    return f"mlc{int(levels)}"


def scheme_alphabet(scheme: str) -> tuple[int, ...] | None:
    """The alphabet of a scheme (binary, ternary, mlc<N>), None if the name is unknown."""
    if scheme in SCHEME_ALPHABETS:
        return SCHEME_ALPHABETS[scheme]
    match = MLC_SCHEME.fullmatch(scheme)
    if match and MLC_LEVELS[0] <= int(match.group(1)) <= MLC_LEVELS[1] and match.group(1) == str(int(match.group(1))):
        return tuple(range(int(match.group(1))))
    return None


def _known_schemes() -> str:
    return ", ".join(SCHEME_ALPHABETS) + f", mlc<N> (N = {MLC_LEVELS[0]} .. {MLC_LEVELS[1]})"


@dataclass(frozen=True)
class Condition:
    """The key of a table's rows: process corner, supply, temperature and read scheme."""

    corner: str
    vdd: float
    temp_c: float
    scheme: str

    @classmethod
    def at(cls, point: OperatingPoint, scheme: str) -> Condition:
        """The condition of reads of `scheme` simulated at `point`."""
        return cls(point.corner.value, point.vdd, point.temp_c, scheme)

    @property
    def point(self) -> OperatingPoint:
        """The operating point of this condition (a CircuitkitError for a synthetic one)."""
        return OperatingPoint(self.corner, self.vdd, self.temp_c)

    @property
    def alphabet(self) -> tuple[int, ...]:
        alphabet = scheme_alphabet(self.scheme)
        if alphabet is None:
            raise BerTableError(f"unknown scheme {self.scheme!r}; expected one of {_known_schemes()}")
        return alphabet

    def label(self) -> str:
        return f"{self.corner} vdd={self.vdd:g} V T={self.temp_c:g} C {self.scheme}"


@dataclass(frozen=True)
class BerRow:
    """One line of the CSV: P(read | stored) at one condition, with its evidence."""

    corner: str
    vdd: float
    temp_c: float
    scheme: str
    stored: int
    read: int | str          # a value of the alphabet, or UNRESOLVED
    samples: int
    count: int
    probability: float
    ci_low: float
    ci_high: float
    method: str

    @property
    def condition(self) -> Condition:
        return Condition(self.corner, self.vdd, self.temp_c, self.scheme)


assert tuple(f.name for f in fields(BerRow)) == BER_TABLE_COLUMNS


@dataclass(frozen=True)
class ConditionRate:
    """The bit-error rate of one condition: `TransitionMatrix.error_rate` of its estimates
    (mean over stored values of P(read != stored)), and an interval from the per-stored
    interval bounds averaged the same way; `samples` and `method` of its rows."""

    condition: Condition
    ber: float
    ci_low: float
    ci_high: float
    method: str
    samples: int


class TransitionMatrix(NamedTuple):
    """`matrix[i, j]` = P(read alphabet[j] | stored alphabet[i]); rows sum to 1."""

    alphabet: tuple[int, ...]
    matrix: np.ndarray

    @property
    def error_rate(self) -> float:
        """Mean over stored values (uniform prior) of P(read != stored)."""
        # Sum the off-diagonal entries rather than 1 - diagonal: exact for the tables'
        # own values (1 - (1 - 1e-6) is not 1e-6 in floating point).
        off_diagonal = self.matrix[~np.eye(len(self.alphabet), dtype=bool)].reshape(len(self.alphabet), -1)
        per_stored = off_diagonal.sum(axis=1)
        # Equal rows (symmetric tables) give their common rate exactly, not (3 * p) / 3.
        return float(per_stored[0]) if np.all(per_stored == per_stored[0]) else float(np.mean(per_stored))


def _read_value(text: str) -> int | str:
    return UNRESOLVED if text == UNRESOLVED else int(text)


_read_value.__name__ = f"int or {UNRESOLVED!r}"

_COLUMN_PARSERS = {
    "corner": str, "vdd": float, "temp_c": float, "scheme": str, "stored": int, "read": _read_value,
    "samples": int, "count": int, "probability": float, "ci_low": float, "ci_high": float, "method": str,
}


def _format_value(value: object) -> str:
    # repr gives the shortest round-tripping text for floats; ints and strings as they are.
    return repr(value) if isinstance(value, float) else str(value)


class BerTable:
    """A validated bit-error table: rows in file order, grouped into transition matrices.

    Construction validates everything (see `_validate`), so any `BerTable` in hand is
    complete and consistent: each condition has, for every stored value of its alphabet,
    one row per read value, probabilities in [0, 1] summing to 1, ci_low <= probability
    <= ci_high, 0 <= count <= samples and one `samples` per stored value.
    """

    def __init__(self, rows: Iterable[BerRow], *, source: str = "<rows>") -> None:
        self.rows: tuple[BerRow, ...] = tuple(rows)
        self.source = source
        self._from_file = not source.startswith("<")
        self._matrices: dict[Condition, tuple[TransitionMatrix, np.ndarray, tuple[int, ...]]] = {}
        self._validate()

    # ------------------------------------------------------------------ construction
    @classmethod
    def read(cls, path: str | Path) -> BerTable:
        """Read and validate a CSV file; errors name the file, line and column."""
        path = Path(path)
        try:
            with path.open(newline="") as handle:
                reader = csv.DictReader(handle)
                header = reader.fieldnames or []
                missing = [c for c in BER_TABLE_COLUMNS if c not in header]
                if missing:
                    raise BerTableError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(BER_TABLE_COLUMNS)}")
                unexpected = [c for c in header if c not in BER_TABLE_COLUMNS]
                if unexpected:
                    raise BerTableError(f"{path}: unexpected column(s) {', '.join(unexpected)}; expected {','.join(BER_TABLE_COLUMNS)}")
                rows = [cls._parse_row(record, f"{path}, line {reader.line_num}") for record in reader]
        except OSError as error:
            raise BerTableError(f"{path}: cannot read bit-error table: {error.strerror}") from None
        except csv.Error as error:
            raise BerTableError(f"{path}: not a valid CSV file: {error}") from None
        return cls(rows, source=str(path))

    @staticmethod
    def _parse_row(record: Mapping[str, str | None], where: str) -> BerRow:
        values = {}
        for column, parse in _COLUMN_PARSERS.items():
            text = record.get(column)
            if text is None or text.strip() == "":
                raise BerTableError(f"{where}, column {column}: empty value")
            try:
                values[column] = parse(text.strip())
            except ValueError:
                raise BerTableError(f"{where}, column {column}: expected {parse.__name__}, got {text!r}") from None
        return BerRow(**values)

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[Condition, npt.ArrayLike],
        *,
        method: str = COUNTED_METHOD,
        confidence: float = 0.95,
        unresolved: Mapping[Condition, npt.ArrayLike] | None = None,
        failed: Mapping[Condition, npt.ArrayLike] | None = None,
    ) -> BerTable:
        """Build a table from read counts: `counts[condition][i, j]` = how many reads of
        stored alphabet[i] returned alphabet[j]. Row sums are the sample counts;
        probability = count / samples with a Clopper-Pearson interval.

        `unresolved[condition][i]`: reads of stored alphabet[i] that had not decided (an
        UNRESOLVED row per stored value when any read of the condition had not; they are
        samples too). `failed[condition][i]`:
        reads whose simulation did not converge. They stay in the accounting: each row's
        interval spans the failed reads counted as that outcome and as another (low bound
        of count / (samples + failed), high bound of (count + failed) / (samples + failed));
        the method says how many. A stored value with no converged read at all is a row
        group that says so (`failed: ...` in its method, estimate uniform, interval [0, 1])."""
        rows: list[BerRow] = []
        for condition, condition_counts in counts.items():
            alphabet = cls._alphabet_of(condition)
            matrix = np.asarray(condition_counts)
            if matrix.shape != (len(alphabet), len(alphabet)) or not np.issubdtype(matrix.dtype, np.integer):
                raise BerTableError(
                    f"counts for {condition.label()}: expected an integer {len(alphabet)}x{len(alphabet)} matrix "
                    f"(stored x read over {alphabet}), got dtype {matrix.dtype} shape {matrix.shape}"
                )
            undecided = None if unresolved is None else np.asarray(unresolved[condition], dtype=np.int64)
            if undecided is not None and not undecided.any():
                # No row for an outcome that never happened: the table stays as it always was, and
                # the zero-count upper bound of the misreads is not counted twice (see error_rates).
                undecided = None
            lost = np.zeros(len(alphabet), np.int64) if failed is None else np.asarray(failed[condition], np.int64)
            if undecided is not None:
                matrix = np.column_stack([matrix, undecided])
            if np.any(matrix < 0) or np.any(lost < 0):
                raise BerTableError(f"counts for {condition.label()}: counts must be >= 0")
            samples = matrix.sum(axis=1)
            empty = [alphabet[i] for i in np.flatnonzero((samples == 0) & (lost == 0))]
            if empty:
                raise BerTableError(f"counts for {condition.label()}: no samples for stored value(s) {empty}")
            reads = [*alphabet, *([UNRESOLVED] if undecided is not None else [])]
            for i, stored in enumerate(alphabet):
                rows.extend(cls._counted_rows(condition, stored, reads, matrix[i], int(lost[i]), method, confidence))
        return cls(rows, source="<counts>")

    @staticmethod
    def _counted_rows(condition: Condition, stored: int, reads: list, counts: np.ndarray, failed: int, method: str,
                      confidence: float) -> list[BerRow]:
        """The rows of one stored value (see `from_counts`)."""
        samples = int(counts.sum())
        place = (condition.corner, condition.vdd, condition.temp_c, condition.scheme, stored)
        if samples == 0:
            uniform = 1.0 / len(condition.alphabet)
            text = method_text(method, f"failed: all {failed} reads of stored {stored:+d} did not converge")
            return [BerRow(*place, read, 0, 0, uniform if read != UNRESOLVED else 0.0, 0.0, 1.0, text)
                    for read in reads]
        low, _ = binomial_bounds(counts, samples + failed, confidence, "clopper-pearson")
        _, high = binomial_bounds(counts + failed, samples + failed, confidence, "clopper-pearson")
        text = method_text(method, f"non-converged {failed} of {samples + failed} reads in the interval" if failed else "")
        return [BerRow(*place, read, samples, int(count), int(count) / samples,
                       min(float(lo), int(count) / samples), max(float(hi), int(count) / samples), text)
                for read, count, lo, hi in zip(reads, counts, low, high)]

    @classmethod
    def from_probabilities(
        cls, probabilities: Mapping[Condition, npt.ArrayLike], *, method: str = "synthetic"
    ) -> BerTable:
        """Build a table from transition matrices with no simulation behind them
        (samples 0, zero-width interval): hand-made or literature error rates."""
        rows: list[BerRow] = []
        for condition, condition_matrix in probabilities.items():
            alphabet = cls._alphabet_of(condition)
            matrix = np.asarray(condition_matrix, dtype=np.float64)
            if matrix.shape != (len(alphabet), len(alphabet)):
                raise BerTableError(
                    f"probabilities for {condition.label()}: expected a {len(alphabet)}x{len(alphabet)} matrix, got shape {matrix.shape}"
                )
            for i, stored in enumerate(alphabet):
                for j, read in enumerate(alphabet):
                    p = float(matrix[i, j])
                    rows.append(BerRow(condition.corner, condition.vdd, condition.temp_c, condition.scheme,
                                       stored, read, 0, 0, p, p, p, method))
        return cls(rows, source="<probabilities>")

    @classmethod
    def symmetric(cls, ber: float, scheme: str = "binary", *, corner: str | None = None) -> BerTable:
        """A synthetic one-condition table where every stored value is misread with
        probability `ber`, spread evenly over the other values of the alphabet (the
        classic sweep of bit-error tolerance). vdd and temp_c are 0: not a real
        operating point; the corner name says which BER it is."""
        if not 0.0 <= ber <= 1.0:
            raise BerTableError(f"ber must be in [0, 1], got {ber!r}")
        alphabet = cls._alphabet_of(Condition("synthetic", 0.0, 0.0, scheme))
        size = len(alphabet)
        matrix = np.full((size, size), ber / (size - 1))
        np.fill_diagonal(matrix, 1.0 - ber)
        condition = Condition(corner or f"symmetric-ber-{ber:.3g}", 0.0, 0.0, scheme)
        return cls.from_probabilities({condition: matrix})

    @staticmethod
    def _alphabet_of(condition: Condition) -> tuple[int, ...]:
        return condition.alphabet

    def merged(self, *others: BerTable) -> BerTable:
        """This table's rows followed by the others' (conditions must not repeat)."""
        rows = list(self.rows)
        for other in others:
            rows.extend(other.rows)
        return BerTable(rows, source=self.source)

    # ------------------------------------------------------------------ output
    def write(self, path: str | Path) -> Path:
        """Write the CSV (columns in `BER_TABLE_COLUMNS` order, floats exactly)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(BER_TABLE_COLUMNS)
            for row in self.rows:
                writer.writerow([_format_value(value) for value in astuple(row)])
        return path

    # ------------------------------------------------------------------ queries
    def conditions(self) -> tuple[Condition, ...]:
        """Conditions in order of first appearance."""
        return tuple(self._matrices)

    def transition_matrix(self, condition: Condition, bound: Bound = "estimate") -> TransitionMatrix:
        """The alphabet and P(read | stored) matrix of one condition.

        bound="estimate" uses the point estimates. bound="ci_high" is the pessimistic
        case: every error probability (read != stored) at its upper confidence bound and
        the correct-read probability what is left, so the rows still sum to 1.
        """
        if bound not in BOUNDS:
            raise BerTableError(f"unknown bound {bound!r}; expected one of {BOUNDS}")
        try:
            estimate, upper, samples = self._matrices[condition]
        except KeyError:
            raise BerTableError(f"{self.source}: no condition {condition.label()}") from None
        if bound == "estimate":
            return estimate
        pessimistic = upper.copy()
        np.fill_diagonal(pessimistic, 0.0)
        error_mass = pessimistic.sum(axis=1)
        if np.any(error_mass > 1.0):
            i = int(np.argmax(error_mass))
            raise BerTableError(
                f"{self.source}: {condition.label()}, stored {estimate.alphabet[i]}: upper bounds of the error "
                f"probabilities sum to {error_mass[i]:.4g} > 1; too few samples ({samples[i]}) for a ci_high bound"
            )
        np.fill_diagonal(pessimistic, 1.0 - error_mass)
        pessimistic.flags.writeable = False
        return TransitionMatrix(estimate.alphabet, pessimistic)

    def error_rates(self) -> tuple[ConditionRate, ...]:
        """One `ConditionRate` per condition, in table order."""
        rates = []
        for condition in self.conditions():
            errors = [row for row in self.rows if row.condition == condition and row.read != row.stored]  # unresolved too
            by_stored = [[row for row in errors if row.stored == stored] for stored in condition.alphabet]
            low = np.mean([sum(row.ci_low for row in group) for group in by_stored])
            high = np.mean([min(1.0, sum(row.ci_high for row in group)) for group in by_stored])
            rates.append(ConditionRate(condition, float(self.transition_matrix(condition).error_rate), float(low),
                                       float(high), errors[0].method if errors else "",
                                       errors[0].samples if errors else 0))
        return tuple(rates)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[BerRow]:
        return iter(self.rows)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BerTable) and self.rows == other.rows

    __hash__ = None  # type: ignore[assignment]  # mutable-looking container semantics: compare, don't hash

    def __repr__(self) -> str:
        return f"BerTable({len(self.rows)} rows, {len(self._matrices)} conditions, source={self.source!r})"

    # ------------------------------------------------------------------ validation
    def _row_label(self, index: int) -> str:
        # A table read from a file is reported by CSV line (header is line 1).
        if self._from_file:
            return f"{self.source}, line {index + 2}"
        return f"{self.source}, row {index + 1}"

    def _validate(self) -> None:
        # Row-level checks first, so a message can point at the offending row.
        groups: dict[Condition, dict[int, dict[int, tuple[int, BerRow]]]] = {}
        for index, row in enumerate(self.rows):
            where = f"{self._row_label(index)} ({row.condition.label()}, stored {row.stored}, read {row.read})"
            alphabet = scheme_alphabet(row.scheme)
            if alphabet is None:
                raise BerTableError(f"{where}, column scheme: unknown scheme {row.scheme!r}; expected one of {_known_schemes()}")
            for column in ("stored", "read"):
                if getattr(row, column) not in alphabet and not (column == "read" and row.read == UNRESOLVED):
                    raise BerTableError(f"{where}, column {column}: value {getattr(row, column)} is not a {row.scheme} state; expected one of {alphabet}")
            if not row.corner or not row.method:
                raise BerTableError(f"{where}: corner and method must not be empty")
            for column in ("vdd", "temp_c", "probability", "ci_low", "ci_high"):
                if not math.isfinite(getattr(row, column)):
                    raise BerTableError(f"{where}, column {column}: expected a finite number, got {getattr(row, column)!r}")
            if not 0 <= row.count <= row.samples:
                raise BerTableError(f"{where}, columns samples/count: expected 0 <= count <= samples, got count {row.count}, samples {row.samples}")
            if not 0.0 <= row.ci_low <= row.probability <= row.ci_high <= 1.0:
                raise BerTableError(
                    f"{where}, columns probability/ci_low/ci_high: expected 0 <= ci_low <= probability <= ci_high <= 1, "
                    f"got {row.ci_low!r} <= {row.probability!r} <= {row.ci_high!r}"
                )
            by_read = groups.setdefault(row.condition, {}).setdefault(row.stored, {})
            if row.read in by_read:
                raise BerTableError(f"{where}: duplicate of {self._row_label(by_read[row.read][0])}")
            by_read[row.read] = (index, row)

        for condition, by_stored in groups.items():
            alphabet = condition.alphabet
            missing_stored = [s for s in alphabet if s not in by_stored]
            if missing_stored:
                raise BerTableError(f"{self.source}: {condition.label()} has no rows for stored value(s) {missing_stored}")
            estimate = np.zeros((len(alphabet), len(alphabet)))
            upper = np.zeros_like(estimate)
            for i, stored in enumerate(alphabet):
                by_read = by_stored[stored]
                missing_read = [r for r in alphabet if r not in by_read]
                if missing_read:
                    raise BerTableError(
                        f"{self.source}: {condition.label()}, stored {stored} has no row for read value(s) {missing_read}; "
                        "every read value of the alphabet needs a row (probability 0 if never seen)"
                    )
                group_rows = [by_read[r][1] for r in alphabet]
                undecided = by_read[UNRESOLVED][1] if UNRESOLVED in by_read else None
                every_row = group_rows + ([undecided] if undecided is not None else [])
                sample_counts = {r.samples for r in every_row}
                if len(sample_counts) != 1:
                    raise BerTableError(f"{self.source}: {condition.label()}, stored {stored}: rows disagree on samples {sorted(sample_counts)}")
                total = math.fsum(r.probability for r in every_row)
                if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
                    first_row = min(by_read[r][0] for r in alphabet)
                    raise BerTableError(
                        f"{self._row_label(first_row)} and the other rows of {condition.label()}, stored {stored}: "
                        f"probabilities sum to {total!r}, expected 1 within {PROBABILITY_SUM_TOLERANCE:g}"
                    )
                counted = method_estimator(group_rows[0].method) == COUNTED_METHOD
                if counted and group_rows[0].samples > 0 and sum(r.count for r in every_row) != group_rows[0].samples:
                    raise BerTableError(
                        f"{self.source}: {condition.label()}, stored {stored}: counts sum to "
                        f"{sum(r.count for r in every_row)}, expected samples = {group_rows[0].samples}"
                    )
                estimate[i] = [r.probability for r in group_rows]
                upper[i] = [r.ci_high for r in group_rows]
                if undecided is not None and len(alphabet) > 1:
                    # An unresolved read is a misread: spread evenly over the other values.
                    others = np.arange(len(alphabet)) != i
                    estimate[i, others] += undecided.probability / (len(alphabet) - 1)
                    upper[i, others] += undecided.ci_high / (len(alphabet) - 1)
            # Renormalise rows that carry the tolerated rounding of another tool (a few
            # printed digits) so samplers see rows that sum to 1; rows that only differ
            # from 1 by the float rounding of the sum itself keep their exact values.
            sums = estimate.sum(axis=1, keepdims=True)
            estimate = np.where(np.abs(sums - 1.0) > 1e-12, estimate / sums, estimate)
            estimate.flags.writeable = False
            upper.flags.writeable = False
            samples = tuple(by_stored[s][alphabet[0]][1].samples for s in alphabet)
            self._matrices[condition] = (TransitionMatrix(alphabet, estimate), upper, samples)
