"""Benchmark of the error-injection core (prints figures, never fails on time).

1. Injected weight-trials per second for a 1M-weight binary network at BER 1e-4 and
   1e-1 (corrupted copies materialised, as accuracy evaluation consumes them), against
   two baselines measured in the same run: the naive per-weight `rng.random()` Python
   loop, and the same one-uniform-per-weight idea vectorized with numpy.
2. The sparse/dense crossover behind `SPARSE_MAX_ERROR_RATE`.
3. Bundled TNN under a ternary table whose errors only move 0 <-> +-1 against the
   bundled BNN (same layer sizes) under sign flips of the same total error rate.

    .venv/bin/python bench/bench_inject.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from circuitkit.ber_table import TransitionMatrix
from circuitkit.inject.accuracy import trial_accuracies
from circuitkit.inject.data import load_digits
from circuitkit.inject.networks import load_network
from circuitkit.inject.sampler import SPARSE_MAX_ERROR_RATE, ErrorInjector

N_WEIGHTS = 1_000_000
TRIALS = 50
NAIVE_LOOP_WEIGHTS = 50_000  # the Python loop is measured on a slice and scaled to a rate


def best_seconds(run: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def flip_matrix(ber: float) -> np.ndarray:
    return np.array([[1 - ber, ber], [ber, 1 - ber]])


def naive_loop(weights: np.ndarray, ber: float, rng: np.random.Generator) -> np.ndarray:
    out = weights.copy()
    for i in range(out.size):
        if rng.random() < ber:
            out[i] = -out[i]
    return out


def naive_vectorized(weights: np.ndarray, ber: float, rng: np.random.Generator, trials: int) -> None:
    for _ in range(trials):
        np.where(rng.random(weights.size) < ber, -weights, weights)


def injector_rate(weights: np.ndarray, ber: float, method: str) -> float:
    injector = ErrorInjector(weights, (-1, 1), flip_matrix(ber), method=method)

    def run() -> None:
        for _ in injector.iter_chunks(TRIALS, seed=1, chunk_trials=10):
            pass

    return weights.size * TRIALS / best_seconds(run)


def bench_throughput() -> None:
    rng = np.random.default_rng(0)
    weights = rng.choice(np.array([-1, 1], dtype=np.int8), size=N_WEIGHTS)
    print(f"== injection throughput: {N_WEIGHTS:,} binary weights, {TRIALS} trials, corrupted copies materialised")
    print(f"{'BER':>8} {'circuitkit':>14} {'naive loop':>14} {'naive numpy':>14} {'x loop':>9} {'x numpy':>9}")
    for ber in (1e-4, 1e-1):
        ours = injector_rate(weights, ber, "auto")
        loop = NAIVE_LOOP_WEIGHTS / best_seconds(lambda: naive_loop(weights[:NAIVE_LOOP_WEIGHTS], ber, rng), repeats=2)
        vectorized = N_WEIGHTS * 10 / best_seconds(lambda: naive_vectorized(weights, ber, rng, 10))
        print(f"{ber:>8g} {ours:>14.3e} {loop:>14.3e} {vectorized:>14.3e} {ours / loop:>8.0f}x {ours / vectorized:>8.1f}x")
    print("  (weight-trials per second; 'naive loop' = one rng.random() per weight per trial in Python,")
    print("   'naive numpy' = one uniform per weight per trial, vectorized)")


def bench_crossover() -> None:
    rng = np.random.default_rng(0)
    weights = rng.choice(np.array([-1, 1], dtype=np.int8), size=N_WEIGHTS)
    print(f"\n== sparse (binomial + place) vs dense (uniform per weight); auto switches above BER {SPARSE_MAX_ERROR_RATE}")
    print(f"{'BER':>8} {'sparse':>12} {'dense':>12}")
    for ber in (1e-3, 0.05, 0.2, 0.4, 0.6):
        print(f"{ber:>8g} {injector_rate(weights, ber, 'sparse'):>12.3e} {injector_rate(weights, ber, 'dense'):>12.3e}")


def bench_ternary_vs_binary(trials: int = 100) -> None:
    data = load_digits()
    bnn, tnn = load_network("bnn"), load_network("tnn")
    clean_bnn = bnn.accuracy(data.x_test, data.y_test)
    clean_tnn = tnn.accuracy(data.x_test, data.y_test)
    print(f"\n== same total error rate p: BNN with sign flips vs TNN with only 0 <-> +-1 errors "
          f"(digits, {bnn.layer_sizes}, {trials} trials)")
    print(f"clean accuracy: BNN {clean_bnn:.4f}, TNN {clean_tnn:.4f}")
    print(f"{'p':>6} {'BNN':>8} {'drop':>7} {'TNN':>8} {'drop':>7}")
    for p in (0.01, 0.03, 0.05, 0.1, 0.2):
        binary = TransitionMatrix((-1, 1), flip_matrix(p))
        ternary = TransitionMatrix((-1, 0, 1), np.array([[1 - p, p, 0], [p / 2, 1 - p, p / 2], [0, p, 1 - p]]))
        a_bnn = trial_accuracies(bnn, data.x_test, data.y_test, binary, trials, seed=1).mean()
        a_tnn = trial_accuracies(tnn, data.x_test, data.y_test, ternary, trials, seed=1).mean()
        print(f"{p:>6g} {a_bnn:>8.4f} {clean_bnn - a_bnn:>7.4f} {a_tnn:>8.4f} {clean_tnn - a_tnn:>7.4f}")


if __name__ == "__main__":
    bench_throughput()
    bench_crossover()
    bench_ternary_vs_binary()
