"""Vectorized, seeded error injection: corrupted copies of integer weights under a
transition matrix P(read | stored).

Each weight is read independently: a weight storing alphabet[i] reads alphabet[j] with
probability matrix[i, j]. Two exact ways to draw that, chosen per stored value:

- sparse: the number of misread weights among the n_i weights storing alphabet[i] is
  Binomial(n_i, p_i) with p_i = 1 - matrix[i, i]; that many distinct positions are
  picked uniformly without replacement, and each gets a wrong value drawn from
  matrix[i, j] / p_i (j != i). Cost grows with the number of errors, so it is the
  fast way at low error rates.
- dense: one uniform per weight, mapped through the cumulative row of the matrix.
  Cost grows with the number of weights: the plain reference, used for p_i > 0.5
  where both ways are O(number of weights).

Both give the same joint distribution (independent categorical reads); only the random
numbers consumed differ. `method="auto"` takes sparse for p_i <= `SPARSE_MAX_ERROR_RATE`.

Reproducibility (`circuitkit.seeding`): trial t draws from its own generator,
`trial_generator(seed, t)`. So trial t's corrupted weights depend only on (seed, t,
weights, matrix, method choice), never on how the trials are chunked or which worker
evaluates them, and the first T trials of a longer run are the T trials of a shorter
one. Callers name the seed of a condition or a BER by its values (`value_seed`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from circuitkit import CircuitkitError
from circuitkit.seeding import Seed, trial_generator

Method = Literal["auto", "sparse", "dense"]
METHODS: tuple[str, ...] = ("auto", "sparse", "dense")
# Binomial-and-place stays ahead of one uniform per weight far beyond any useful BER
# (1M binary weights, numpy 2.4: 14x at 1e-3, 2.4x at 0.05, even at 0.4-0.6; placing k
# of n costs an O(n) index array once k > n/20, like the dense draw). Above 0.5 both are
# O(n) and the dense draw, the plain reference of the sparse one, is used. Re-measure
# with bench/bench_inject.py.
SPARSE_MAX_ERROR_RATE = 0.5
# Memory for one chunk of corrupted copies: 10M int8 weights -> 25 trials per chunk.
DEFAULT_CHUNK_BYTES = 256 * 2**20
_ROW_SUM_TOLERANCE = 1e-9


class InjectionError(CircuitkitError):
    """Weights or a transition matrix that cannot be injected."""


@dataclass(frozen=True)
class _StoredValuePlan:
    """How misreads of one stored value are drawn (precomputed from its matrix row)."""

    sparse: bool
    p_error: float
    candidates: np.ndarray  # values a misread can return (sparse) or the whole alphabet (dense)
    edges: np.ndarray  # cumulative probabilities over `candidates`, last edge exactly 1
    own_bin: tuple[float, float]  # dense: [low, high) of the uniform that reads correctly


def _cumulative(probabilities: np.ndarray) -> np.ndarray:
    # The last edge is exactly 1 so a uniform in [0, 1) always lands in a bin even when
    # floating-point sums fall a hair short.
    edges = np.cumsum(probabilities)
    edges[-1] = 1.0
    return edges


class ErrorInjector:
    """Draws corrupted copies of one integer weight array under one transition matrix.

    `weights` may have any shape and any numeric dtype whose values are all in
    `alphabet` (strictly increasing integers); copies keep shape and dtype. The
    positions of each stored value are computed once, so drawing many trials is cheap.
    """

    def __init__(
        self,
        weights: npt.ArrayLike,
        alphabet: Sequence[int],
        matrix: npt.ArrayLike,
        *,
        method: Method = "auto",
    ) -> None:
        self.alphabet = tuple(int(a) for a in alphabet)
        self.matrix = self._checked_matrix(self.alphabet, matrix)
        if method not in METHODS:
            raise InjectionError(f"unknown injection method {method!r}; expected one of {METHODS}")
        weights = np.asarray(weights)
        self.shape = weights.shape
        self.dtype = weights.dtype
        self._clean = np.ascontiguousarray(weights).reshape(-1).copy()
        self._clean.flags.writeable = False
        codes = self._encode(self._clean, self.alphabet)
        index_dtype = np.int32 if self._clean.size < 2**31 else np.int64
        self._positions = [np.flatnonzero(codes == i).astype(index_dtype) for i in range(len(self.alphabet))]
        values = np.asarray(self.alphabet, dtype=self.dtype)
        self._plans: list[_StoredValuePlan] = []
        for i in range(len(self.alphabet)):
            p_error = float(1.0 - self.matrix[i, i])
            if method == "sparse" or (method == "auto" and p_error <= SPARSE_MAX_ERROR_RATE):
                others = np.array([j for j in range(len(values)) if j != i])
                conditional = self.matrix[i, others] / p_error if p_error > 0 else np.full(len(others), 1 / len(others))
                self._plans.append(_StoredValuePlan(True, p_error, values[others], _cumulative(conditional), (0.0, 1.0)))
            else:
                edges = _cumulative(self.matrix[i])
                own_bin = (float(edges[i - 1]) if i > 0 else 0.0, float(edges[i]))
                self._plans.append(_StoredValuePlan(False, p_error, values, edges, own_bin))

    @staticmethod
    def _checked_matrix(alphabet: tuple[int, ...], matrix: npt.ArrayLike) -> np.ndarray:
        if len(alphabet) < 2 or any(b <= a for a, b in zip(alphabet, alphabet[1:])):
            raise InjectionError(f"alphabet must be at least two strictly increasing integers, got {alphabet}")
        m = np.array(matrix, dtype=np.float64)
        size = len(alphabet)
        if m.shape != (size, size):
            raise InjectionError(f"transition matrix must be {size}x{size} for alphabet {alphabet}, got shape {m.shape}")
        if not np.all(np.isfinite(m)) or np.any(m < 0):
            raise InjectionError("transition matrix entries must be finite probabilities >= 0")
        sums = m.sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1.0) > _ROW_SUM_TOLERANCE)
        if bad.size:
            i = int(bad[0])
            raise InjectionError(f"transition matrix row for stored {alphabet[i]} sums to {float(sums[i])!r}, expected 1")
        m.flags.writeable = False
        return m

    @staticmethod
    def _encode(flat: np.ndarray, alphabet: tuple[int, ...]) -> np.ndarray:
        """Index of each weight in the alphabet; a clear error for values outside it."""
        table = np.asarray(alphabet)
        codes = np.clip(np.searchsorted(table, flat), 0, len(table) - 1)
        outside = table[codes] != flat
        if np.any(outside):
            unknown, counts = np.unique(flat[outside], return_counts=True)
            listed = ", ".join(f"{v!r} ({c} weights)" for v, c in zip(unknown[:5].tolist(), counts[:5].tolist()))
            more = f" and {unknown.size - 5} more values" if unknown.size > 5 else ""
            raise InjectionError(f"weights contain values not in the table's alphabet {alphabet}: {listed}{more}")
        return codes.astype(np.int8)

    @property
    def size(self) -> int:
        return int(self._clean.size)

    @property
    def clean(self) -> np.ndarray:
        """The uncorrupted weights (read-only, original shape)."""
        return self._clean.reshape(self.shape)

    def stored_counts(self) -> tuple[int, ...]:
        """How many weights store each alphabet value."""
        return tuple(int(p.size) for p in self._positions)

    def trial_errors(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One trial's misreads in sparse form: (flat positions, values read there).

        Positions are distinct; consumes `rng` in alphabet order of stored values.
        """
        positions: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for stored_positions, plan in zip(self._positions, self._plans):
            n = stored_positions.size
            if n == 0:
                continue
            if plan.sparse:
                k = int(rng.binomial(n, plan.p_error))
                if k == 0:
                    continue
                picked = rng.choice(n, size=k, replace=False, shuffle=False)
                positions.append(stored_positions[picked])
                if plan.candidates.size == 1:
                    values.append(np.full(k, plan.candidates[0]))
                else:
                    values.append(plan.candidates[np.searchsorted(plan.edges, rng.random(k), side="right")])
            else:
                # A weight reads correctly iff its uniform falls in the stored value's
                # own bin [low, high) of the cumulative row; only misreads need a lookup.
                u = rng.random(n)
                low, high = plan.own_bin
                wrong = np.flatnonzero((u < low) | (u >= high))
                positions.append(stored_positions[wrong])
                values.append(plan.candidates[np.searchsorted(plan.edges, u[wrong], side="right")])
        if not positions:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=self.dtype)
        return np.concatenate(positions).astype(np.int64, copy=False), np.concatenate(values)

    def corrupted(self, trials: int, seed: Seed, *, first_trial: int = 0) -> np.ndarray:
        """Corrupted copies for trials first_trial .. first_trial + trials - 1,
        shape (trials, *weights.shape). Holds all of them: use `iter_chunks` for many."""
        if trials < 0 or first_trial < 0:
            raise InjectionError(f"trials and first_trial must be >= 0, got {trials} and {first_trial}")
        out = np.empty((trials, self._clean.size), dtype=self.dtype)
        out[:] = self._clean
        for row, trial in enumerate(range(first_trial, first_trial + trials)):
            positions, values = self.trial_errors(trial_generator(seed, trial))
            out[row, positions] = values
        return out.reshape((trials, *self.shape))

    def chunk_trials(self, max_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
        """How many corrupted copies fit in `max_bytes` (at least one)."""
        return max(1, int(max_bytes) // max(1, self._clean.nbytes))

    def iter_chunks(
        self, trials: int, seed: Seed, *, max_bytes: int = DEFAULT_CHUNK_BYTES, chunk_trials: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Stream `trials` corrupted copies as (first trial index, array of shape
        (chunk, *weights.shape)) so that memory holds one chunk, not all trials.
        The draws do not depend on the chunk size (see the module docstring)."""
        step = chunk_trials if chunk_trials is not None else self.chunk_trials(max_bytes)
        if step < 1:
            raise InjectionError(f"chunk_trials must be >= 1, got {step}")
        for start in range(0, trials, step):
            yield start, self.corrupted(min(step, trials - start), seed, first_trial=start)
