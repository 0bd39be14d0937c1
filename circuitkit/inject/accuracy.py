"""Network accuracy under bit errors: T trials of corrupted weights per condition of a
bit-error table, with mean, standard deviation and a 95 % interval of the mean (its
figure is `report.plots.plot_accuracy_vs_ber`).

The interval is over the weight-corruption randomness with the test set held fixed
(it says how well T trials pin down the expected accuracy of this network on this test
set, not how it would generalise to other test sets).

Seeding by value: a condition of a table uses `value_seed(seed, condition)` (its corner,
supply, temperature and scheme), and its trial t that seed's child t; a condition's
result does not depend on its row position in the table, on the other conditions, or on
chunk sizes. The estimate and the ci_high bound of one condition share their draws
(common random numbers), so their difference is the BER's, not noise.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.ber_table import BerTable, Bound, Condition, TransitionMatrix
from circuitkit.inject.networks import IncrementalForward, QuantizedNetwork
from circuitkit.inject.placement import ColumnOffsetErrors, HardwareErrors, HardwareInjector
from circuitkit.inject.sampler import DEFAULT_CHUNK_BYTES, ErrorInjector, Method
from circuitkit.seeding import value_seed
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


def trial_correct(
    network: QuantizedNetwork,
    x: np.ndarray,
    y: np.ndarray,
    errors: TransitionMatrix | HardwareErrors,
    trials: int,
    seed: int | np.random.SeedSequence,
    *,
    max_bytes: int = DEFAULT_CHUNK_BYTES,
    method: Method = "auto",
) -> np.ndarray:
    """Which test images each of `trials` corrupted copies classifies correctly:
    bool (trials, N). `errors` is one transition matrix for every weight, or per-layer
    hardware error models (`placement.HardwareErrors`).

    Each copy is evaluated as a change to the clean network's activations
    (`networks.IncrementalForward`: exact, and fast where errors are few). Images and
    trials stream in chunks so that the clean activations of one image chunk and the
    corrupted weights of one trial chunk fit in about `max_bytes`: memory does not grow
    with T or N, and the result does not depend on the chunking.
    """
    if trials < 1:
        raise CircuitkitError(f"trials must be >= 1, got {trials}")
    y = np.asarray(y)
    if isinstance(errors, HardwareErrors):
        injector: HardwareInjector | ErrorInjector = HardwareInjector(network, errors)
    else:
        injector = ErrorInjector(network.flat_weights(), errors.alphabet, errors.matrix, method=method)
    chunk_images = max(1, min(len(y), max_bytes // max(1, network.bytes_per_image_trial())))
    chunk_trials = max(1, min(trials, (max_bytes // 4) // max(1, network.n_weights)))
    correct = np.empty((trials, len(y)), dtype=bool)
    for first in range(0, len(y), chunk_images):
        images = slice(first, first + chunk_images)
        forward = IncrementalForward(network, x[images])
        for start in range(0, trials, chunk_trials):
            corrupted = injector.corrupted(min(chunk_trials, trials - start), seed, first_trial=start)
            for row, flat in enumerate(corrupted):
                scores = forward.scores(network.split_flat(flat))
                correct[start + row, images] = np.argmax(scores, axis=-1) == y[images]
    return correct


def trial_accuracies(
    network: QuantizedNetwork,
    x: np.ndarray,
    y: np.ndarray,
    errors: TransitionMatrix | HardwareErrors,
    trials: int,
    seed: int | np.random.SeedSequence,
    *,
    max_bytes: int = DEFAULT_CHUNK_BYTES,
    method: Method = "auto",
) -> np.ndarray:
    """Accuracy of each of `trials` corrupted copies of the network, shape (trials,)."""
    return trial_correct(network, x, y, errors, trials, seed, max_bytes=max_bytes, method=method).mean(axis=1)


@dataclass(frozen=True)
class PlacementComparison:
    """Accuracy with column-correlated errors and with the same mean error probabilities
    placed independently; `difference` = column - independent (mean, 95 % Welch interval)."""

    mean_ber: float
    independent: MeanInterval
    column: MeanInterval
    difference: tuple[float, float, float]


def placement_comparison(
    network: QuantizedNetwork, x: np.ndarray, y: np.ndarray, model: ColumnOffsetErrors, trials: int,
    seed: int | np.random.SeedSequence,
) -> PlacementComparison:
    """Column-correlated vs independent injection at the same mean BER (independent
    draws for the two: the interval of the difference is Welch's)."""
    from scipy import stats as scipy_stats

    column = trial_accuracies(network, x, y, HardwareErrors.uniform(network, model), trials,
                              value_seed(seed, "column"))
    independent = trial_accuracies(network, x, y, HardwareErrors.uniform(network, model.marginal()), trials,
                                   value_seed(seed, "independent"))
    if trials > 1 and (column.std() > 0 or independent.std() > 0):
        with warnings.catch_warnings():  # nearly identical trials (a BER on the plateau): the interval is still right
            warnings.simplefilter("ignore", RuntimeWarning)
            test = scipy_stats.ttest_ind(column, independent, equal_var=False)
        low, high = test.confidence_interval(0.95)
    else:
        low = high = float("nan")
    return PlacementComparison(model.mean_error_rate, mean_interval(independent), mean_interval(column),
                               (float(column.mean() - independent.mean()), float(low), float(high)))


def evaluate_table(
    network: QuantizedNetwork,
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
    chosen = table.conditions() if conditions is None else tuple(conditions)
    results = []
    for condition in chosen:
        transition = table.transition_matrix(condition, bound)
        try:
            accuracies = trial_accuracies(network, x, y, transition, trials, condition_seed(seed, condition),
                                          max_bytes=max_bytes)
        except CircuitkitError as error:
            raise type(error)(f"{table.source}, {condition.label()}: {error}") from None
        results.append(AccuracyUnderErrors(condition, transition.error_rate, bound, mean_interval(accuracies)))
    return results


def condition_seed(seed: int | np.random.SeedSequence, condition: Condition) -> np.random.SeedSequence:
    """The draws of one condition, named by its values (see the module docstring)."""
    return value_seed(seed, "condition", *astuple(condition))


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


def sweep_table(start: float, stop: float, points: int, scheme: str) -> BerTable:
    """Synthetic symmetric tables at `points` log-spaced BERs from start to stop, merged."""
    if not 0.0 < start <= stop <= 1.0 or points < 1:
        raise CircuitkitError(f"BER sweep needs 0 < start <= stop <= 1 and points >= 1, got {start}:{stop} with {points} points")
    bers = np.geomspace(start, stop, points) if points > 1 else np.array([start])
    # 12 significant digits: geomspace's 9.99999999995e-06 is meant as 1e-05.
    tables = [BerTable.symmetric(float(f"{ber:.12g}"), scheme) for ber in bers]
    return tables[0].merged(*tables[1:])
