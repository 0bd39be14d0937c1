"""Network accuracy under bit errors: T trials of corrupted weights per condition of a
bit-error table, with mean, standard deviation and a 95 % interval of the mean.

The interval is over the weight-corruption randomness with the test set held fixed
(it says how well T trials pin down the expected accuracy of this network on this test
set, not how it would generalise to other test sets).

Seeding: condition number i of a table (in table order) uses the seed's child (i,), and
its trial t the grandchild (i, t); results do not depend on chunk sizes.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.ber_table import BerTable, Bound, Condition, TransitionMatrix
from circuitkit.inject.networks import QuantizedMLP
from circuitkit.inject.sampler import DEFAULT_CHUNK_BYTES, ErrorInjector, Method, child_seed
from circuitkit.stats import MeanInterval, mean_interval

ACCURACY_COLUMNS: tuple[str, ...] = (
    "corner", "vdd", "temp_c", "scheme", "ber", "accuracy_mean", "accuracy_std", "ci_low", "ci_high", "trials",
)


@dataclass(frozen=True)
class AccuracyUnderErrors:
    """Accuracy of one network at one condition. `ber` is the mean misread probability
    (over stored values) of the matrix actually injected: the estimate or, with
    bound="ci_high", the pessimistic upper bound."""

    condition: Condition
    ber: float
    bound: str
    accuracy: MeanInterval


def trial_accuracies(
    network: QuantizedMLP,
    x: np.ndarray,
    y: np.ndarray,
    transition: TransitionMatrix,
    trials: int,
    seed: int | np.random.SeedSequence,
    *,
    max_bytes: int = DEFAULT_CHUNK_BYTES,
    method: Method = "auto",
) -> np.ndarray:
    """Accuracy of each of `trials` corrupted copies of the network, shape (trials,).

    Trials stream in chunks sized so that the corrupted weights and the batched
    activations of one chunk fit in about `max_bytes`: memory does not grow with T.
    """
    if trials < 1:
        raise CircuitkitError(f"trials must be >= 1, got {trials}")
    injector = ErrorInjector(network.flat_weights(), transition.alphabet, transition.matrix, method=method)
    # Per trial: int8 weights + their float32 copy for matmul + float32 activations of
    # every layer for the whole test set, with room for temporaries.
    per_trial = network.n_weights * 5 + 3 * 4 * len(y) * sum(network.layer_sizes[1:])
    chunk = max(1, max_bytes // per_trial)
    accuracies = np.empty(trials)
    for start, corrupted in injector.iter_chunks(trials, seed, chunk_trials=chunk):
        accuracies[start:start + corrupted.shape[0]] = network.accuracy(x, y, network.split_flat(corrupted))
    return accuracies


def evaluate_table(
    network: QuantizedMLP,
    x: np.ndarray,
    y: np.ndarray,
    table: BerTable,
    *,
    trials: int = 100,
    seed: int = 0,
    bound: Bound = "estimate",
    conditions: Sequence[Condition] | None = None,
    max_bytes: int = DEFAULT_CHUNK_BYTES,
) -> list[AccuracyUnderErrors]:
    """Accuracy under every condition of `table` (or the given subset, same seeding)."""
    all_conditions = table.conditions()
    chosen = all_conditions if conditions is None else tuple(conditions)
    results = []
    for condition in chosen:
        transition = table.transition_matrix(condition, bound)
        index = all_conditions.index(condition)
        try:
            accuracies = trial_accuracies(network, x, y, transition, trials, child_seed(seed, index),
                                          max_bytes=max_bytes)
        except CircuitkitError as error:
            raise type(error)(f"{table.source}, {condition.label()}: {error}") from None
        results.append(AccuracyUnderErrors(condition, transition.error_rate, bound, mean_interval(accuracies)))
    return results


def write_accuracy_csv(results: Sequence[AccuracyUnderErrors], path: str | Path) -> Path:
    """`ACCURACY_COLUMNS`, one row per condition; floats exactly (repr)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(ACCURACY_COLUMNS)
        for r in results:
            c, a = r.condition, r.accuracy
            writer.writerow([c.corner, repr(c.vdd), repr(c.temp_c), c.scheme, repr(r.ber),
                             repr(a.mean), repr(a.std), repr(a.low), repr(a.high), a.samples])
    return path


def plot_accuracy_vs_ber(
    results: Sequence[AccuracyUnderErrors],
    path: str | Path,
    *,
    clean_accuracy: float | None = None,
    title: str = "",
    label_points: bool = True,
) -> Path:
    """Accuracy (mean and 95 % interval) against injected BER, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ber = np.array([r.ber for r in results])
    mean = np.array([r.accuracy.mean for r in results]) * 100
    low = np.array([r.accuracy.low for r in results]) * 100
    high = np.array([r.accuracy.high for r in results]) * 100
    # Single-trial runs have no interval; draw the point without a bar.
    error = np.nan_to_num(np.vstack([mean - low, high - mean]), nan=0.0)
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    axis.errorbar(ber, mean, yerr=error, fmt="o-" if not label_points else "o", capsize=3,
                  label=f"with errors (mean, 95 % CI, {results[0].accuracy.samples} trials)" if results else None)
    if clean_accuracy is not None:
        axis.axhline(clean_accuracy * 100, color="grey", linestyle="--", label=f"no errors ({clean_accuracy:.2%})")
    positive = ber[ber > 0]
    if positive.size and positive.size == ber.size:
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # labels overlap on short spans
    elif positive.size:
        axis.set_xscale("symlog", linthresh=float(positive.min()))
    if label_points and len(results) <= 16:
        for r, xb, yb in zip(results, ber, mean):
            axis.annotate(r.condition.label(), (xb, yb), textcoords="offset points", xytext=(4, 4), fontsize=7)
    axis.set_xlabel("bit-error rate (mean misread probability per weight)")
    axis.set_ylabel("test accuracy (%)")
    axis.set_title(title)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def sweep_table(start: float, stop: float, points: int, scheme: str) -> BerTable:
    """Synthetic symmetric tables at `points` log-spaced BERs from start to stop, merged."""
    if not 0.0 < start <= stop <= 1.0 or points < 1:
        raise CircuitkitError(f"BER sweep needs 0 < start <= stop <= 1 and points >= 1, got {start}:{stop} with {points} points")
    bers = np.geomspace(start, stop, points) if points > 1 else np.array([start])
    # 12 significant digits: geomspace's 9.99999999995e-06 is meant as 1e-05.
    tables = [BerTable.symmetric(float(f"{ber:.12g}"), scheme) for ber in bers]
    return tables[0].merged(*tables[1:])
