"""Benchmark of the error-injection core and the networks (prints figures, never fails on time).

1. Injected weight-trials per second for a 1M-weight binary network at BER 1e-4 and
   1e-1 (corrupted copies materialised, as accuracy evaluation consumes them), against
   two baselines measured in the same run: the naive per-weight `rng.random()` Python
   loop, and the same one-uniform-per-weight idea vectorized with numpy.
2. The sparse/dense crossover behind `SPARSE_MAX_ERROR_RATE`.
3. Convolutional network injection throughput: corrupted copies of the bundled conv BNN
   classified on the 1,000 MNIST test images per second, by the incremental evaluator
   (`trial_correct`) against full batched inference of the same copies (`scores` with a
   trial axis), at BER 1e-4 .. 1e-1.
4. Training time per epoch (4,000 MNIST images) of the conv BNN and the 256-wide
   perceptron, against a direct convolution (a loop over kernel offsets instead of
   im2col patches, forward and backward) timed on the same mini-batches.
5. The bundled TNN under ternary errors (0 <-> +-1 only) against the BNN of the same
   shape under sign flips of the same total error rate.
6. With --reproduce: retrain every bundled network with its documented command and
   say whether the weights came out identical (minutes).

    .venv/bin/python bench/bench_inject.py [--reproduce]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np

from circuitkit.ber_table import TransitionMatrix
from circuitkit.inject.accuracy import trial_accuracies, trial_correct
from circuitkit.inject.data import load_mnist5k
from circuitkit.inject.networks import PRETRAINED, load_network, patches
from circuitkit.inject.sampler import SPARSE_MAX_ERROR_RATE, ErrorInjector
from circuitkit.inject.train import BUNDLED, TrainingConfig, train, train_bundled
from circuitkit.training import single_blas_thread

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


def bench_conv_injection(trials: int = 12) -> None:
    data = load_mnist5k()
    network = load_network("bnn-conv")
    x, y = data.x_test, data.y_test
    print(f"\n== convolutional network injection: {network.describe()}, {len(y)} MNIST test images, {trials} trials")
    print(f"{'BER':>8} {'incremental':>14} {'batched full':>14} {'ratio':>7}   (corrupted copies classified per second)")
    for ber in (1e-4, 1e-3, 1e-2, 1e-1):
        matrix = TransitionMatrix((-1, 1), flip_matrix(ber))
        ours = trials / best_seconds(lambda: trial_correct(network, x, y, matrix, trials, seed=1), repeats=2)
        copies = ErrorInjector(network.flat_weights(), (-1, 1), matrix.matrix).corrupted(4, seed=1)

        def batched() -> None:  # 4 copies per batch, 250 images per chunk (memory as trial_correct allows)
            for first in range(0, len(y), 250):
                network.predict(x[first:first + 250], network.split_flat(copies))

        full = 4 / best_seconds(batched, repeats=2)
        print(f"{ber:>8g} {ours:>14.2f} {full:>14.2f} {ours / full:>6.1f}x")
    print(f"  ({network.n_weights:,} weights: {network.n_weights * trials / best_seconds(lambda: trial_correct(network, x, y, TransitionMatrix((-1, 1), flip_matrix(1e-4)), trials, seed=2), repeats=1):.3g} "
          "weight-trials/s at BER 1e-4, each trial classifying all test images)")


def _conv_layer_seconds(h: np.ndarray, w: np.ndarray, grad: np.ndarray, direct: bool, repeats: int = 3) -> float:
    """Forward, weight gradient and input gradient of one stride-1 valid convolution:
    im2col (one matrix product per step, as training does) or direct (one matrix
    product per kernel offset, no patch matrix)."""
    kh, kw, c_in, c_out = w.shape
    rows, cols = h.shape[1] - kh + 1, h.shape[2] - kw + 1

    def im2col() -> None:
        patch = patches(h, kh, kw)
        patch.reshape(-1, kh * kw * c_in) @ w.reshape(-1, c_out)
        patch.reshape(-1, kh * kw * c_in).T @ grad.reshape(-1, c_out)
        flipped = w[::-1, ::-1].transpose(0, 1, 3, 2)
        patches(grad, kh, kw, kh - 1).reshape(-1, kh * kw * c_out) @ flipped.reshape(-1, c_in)

    def offsets() -> None:
        out = np.zeros((h.shape[0], rows, cols, c_out), dtype=np.float32)
        grad_h = np.zeros_like(h)
        for i in range(kh):
            for j in range(kw):
                window = h[:, i:i + rows, j:j + cols, :]
                out += window @ w[i, j]
                window.reshape(-1, c_in).T @ grad.reshape(-1, c_out)
                grad_h[:, i:i + rows, j:j + cols, :] += grad @ w[i, j].T

    return best_seconds(offsets if direct else im2col, repeats)


def bench_training() -> None:
    data = load_mnist5k()
    print(f"\n== training time per epoch ({len(data.y_train)} MNIST images, one BLAS thread)")
    with single_blas_thread():
        for name in ("bnn-conv", "bnn-fc"):
            config = BUNDLED[name]
            one_epoch = TrainingConfig(**{**config.__dict__, "epochs": 1})
            seconds = best_seconds(lambda: train(data, one_epoch), repeats=1)
            print(f"  {name:<10} {seconds:6.2f} s per epoch ({config.epochs} epochs: about {seconds * config.epochs:.0f} s)")
        # The convolutions of bnn-conv on one mini-batch of 64, scaled to an epoch.
        rng = np.random.default_rng(0)
        batches = -(-len(data.y_train) // BUNDLED["bnn-conv"].batch_size)
        totals = {False: 0.0, True: 0.0}
        for shape, kernel in (((64, 28, 28, 1), (5, 5, 1, 16)), ((64, 12, 12, 16), (5, 5, 16, 32))):
            h = rng.choice(np.float32([-1, 1]), size=shape)
            w = rng.choice(np.float32([-1, 1]), size=kernel)
            grad = rng.normal(size=(64, shape[1] - 4, shape[2] - 4, kernel[3])).astype(np.float32)
            for direct in (False, True):
                totals[direct] += _conv_layer_seconds(h, w, grad, direct) * batches
        print(f"  bnn-conv convolutions (forward + both gradients): im2col {totals[False]:.2f} s per epoch, "
              f"direct (one product per kernel offset) {totals[True]:.2f} s: im2col {totals[True] / totals[False]:.1f}x")


def bench_reproduction() -> None:
    print("\n== bundled networks retrained with their documented commands")
    for name in PRETRAINED:
        start = time.perf_counter()
        retrained, bundled = train_bundled(name), load_network(name)
        same = all(np.array_equal(a, b) for a, b in zip(retrained.weights, bundled.weights))
        print(f"  {name:<16} {'identical' if same else 'DIFFERENT'} weights ({time.perf_counter() - start:.0f} s)")


def bench_ternary_vs_binary(trials: int = 100) -> None:
    data = load_mnist5k()
    bnn, tnn = load_network("bnn-fc"), load_network("tnn-fc")
    clean_bnn = bnn.accuracy(data.x_test, data.y_test)
    clean_tnn = tnn.accuracy(data.x_test, data.y_test)
    print(f"\n== same total error rate p: BNN with sign flips vs TNN with only 0 <-> +-1 errors "
          f"(MNIST, {bnn.describe()} / {tnn.describe()}, {trials} trials)")
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
    bench_conv_injection()
    bench_training()
    bench_ternary_vs_binary()
    if "--reproduce" in sys.argv[1:]:
        bench_reproduction()
