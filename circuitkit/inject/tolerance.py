"""Tolerance curves and their knees: accuracy against a symmetric bit-error rate, and the
BER at which a network loses 1 and 5 points, with intervals.

Curve. On a log-spaced BER grid (`ToleranceConfig`: points per decade from `ber_start`
to `ber_stop`), T trials per point inject symmetric errors (`BerTable.symmetric`: every
stored value misread with probability BER, spread evenly over the other values) into
the network and classify the whole test set; the draws of a point are named by its BER
(`value_seed`), so adding points does not change the others.

Knee. The accuracy loss at a grid point is clean accuracy - mean accuracy over trials
(both on the same test images). The knee for a loss d is the first grid point whose
loss reaches d, interpolated linearly in log10(BER) against the loss between it and the
point before. If the first point already loses d the knee is below the grid; if no
point does, above it (both reported as bounds, never as a number).

Interval. A paired bootstrap (`bootstrap` resamples): each resample draws the test
images with replacement (multinomial weights, the same for the clean accuracy and every
BER point) and, independently per BER point, the trials with replacement; the knee is
recomputed on every resample and the 2.5 / 97.5 % quantiles are the 95 % interval. So
the interval covers both the finite test set and the finite number of trials; the grid
spacing is a third limit (a knee is only as sharp as the interpolation between two grid
points). A resample whose knee falls outside the grid counts as +-infinity: an interval
end outside the grid is reported as a bound.

Published points for comparison (cited by name in `PUBLISHED`): a standard BNN keeps its
accuracy up to a BER of about 1e-4 on MNIST and CIFAR-10, and to about 4e-2 when trained
with error injection (Hirtzlin et al., "Outstanding Bit Error Tolerance of Resistive
RAM-Based Binarized Neural Networks", IEEE AICAS 2019); the differential 2T2R HfO2 system
of Hirtzlin et al. ("Digital Biologically Plausible Implementation of Binarized Neural
Networks With Differential Hafnium Oxide Resistive Memory Arrays", Frontiers in
Neuroscience 2020) shows the same flat region to about 1e-4 .. 1e-3.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.ber_table import BerTable
from circuitkit.inject.accuracy import trial_correct
from circuitkit.inject.networks import QuantizedNetwork
from circuitkit.inject.sampler import DEFAULT_CHUNK_BYTES
from circuitkit.seeding import value_seed
from circuitkit.stats import binomial_interval, mean_interval

PUBLISHED: tuple[dict, ...] = (
    {"label": "standard BNN, flat to about here (MNIST, CIFAR-10)", "ber_low": 1e-4, "ber_high": 1e-3,
     "source": "Hirtzlin et al., IEEE AICAS 2019; Hirtzlin et al., Frontiers in Neuroscience 2020"},
    {"label": "BNN trained with error injection", "ber_low": 4e-2, "ber_high": 4e-2,
     "source": "Hirtzlin et al., IEEE AICAS 2019"},
)
CURVE_COLUMNS = ("ber", "accuracy_mean", "accuracy_std", "ci_low", "ci_high", "loss_points", "trials", "test_images")
KNEE_COLUMNS = ("network", "description", "clean_accuracy", "loss_points", "knee_ber", "ci_low", "ci_high",
                "bound", "trials", "test_images", "bootstrap")


@dataclass(frozen=True)
class ToleranceConfig:
    """The BER grid, trials per point, the losses whose knees are wanted, the bootstrap."""

    ber_start: float = 1e-5
    ber_stop: float = 0.2
    points_per_decade: int = 4
    trials: int = 100
    losses: tuple[float, ...] = (0.01, 0.05)
    bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.ber_start < self.ber_stop <= 1:
            raise CircuitkitError(f"BER grid needs 0 < ber_start < ber_stop <= 1, got {self.ber_start}, {self.ber_stop}")
        if self.points_per_decade < 1 or self.trials < 2 or self.bootstrap < 10:
            raise CircuitkitError("points_per_decade >= 1, trials >= 2 and bootstrap >= 10 are needed")
        if not self.losses or any(not 0 < d < 1 for d in self.losses):
            raise CircuitkitError(f"losses are accuracy fractions in (0, 1), got {self.losses}")

    def grid(self) -> np.ndarray:
        decades = math.log10(self.ber_stop / self.ber_start)
        points = max(2, int(round(decades * self.points_per_decade)) + 1)
        # 12 significant digits: geomspace's 9.99999999995e-06 is meant as 1e-05.
        return np.array([float(f"{b:.12g}") for b in np.geomspace(self.ber_start, self.ber_stop, points)])


@dataclass(frozen=True)
class Knee:
    """BER at which the accuracy loss reaches `loss`, with its bootstrap interval.
    `bound` is "" for an estimate inside the grid, "below" / "above" when the curve
    crosses the loss before the first or after the last grid point."""

    loss: float
    ber: float
    low: float    # 0 when the interval reaches below the grid
    high: float   # inf when it reaches above the grid
    bound: str
    grid: tuple[float, float] = (0.0, math.inf)

    def text(self) -> str:
        if self.bound == "below":
            return f"< {self.ber:.2g}"
        if self.bound == "above":
            return f"> {self.ber:.2g}"
        low = f"< {self.grid[0]:.2g}" if self.low <= 0 else f"{self.low:.2g}"
        high = f"> {self.grid[1]:.2g}" if math.isinf(self.high) else f"{self.high:.2g}"
        return f"{self.ber:.2g} [{low} .. {high}]"


@dataclass
class ToleranceCurve:
    """One network's curve, its knees, and the per-image outcomes behind them."""

    name: str
    description: str
    bers: np.ndarray
    clean_correct: np.ndarray     # (N,) bool
    correct: np.ndarray           # (G, T, N) bool
    knees: list[Knee]
    config: ToleranceConfig

    @property
    def clean_accuracy(self) -> float:
        return float(self.clean_correct.mean())

    def accuracies(self) -> np.ndarray:
        """(G, T) accuracy of every trial."""
        return self.correct.mean(axis=2)

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(CURVE_COLUMNS)
            for ber, per_trial in zip(self.bers, self.accuracies()):
                interval = mean_interval(per_trial, self.config.confidence)
                writer.writerow([repr(float(ber)), repr(interval.mean), repr(interval.std), repr(interval.low),
                                 repr(interval.high), repr((self.clean_accuracy - interval.mean) * 100),
                                 interval.samples, self.clean_correct.size])
        return path

    def knee_rows(self) -> list[list]:
        clean = binomial_interval(int(self.clean_correct.sum()), self.clean_correct.size)
        return [[self.name, self.description, repr(clean.estimate), repr(knee.loss * 100), repr(knee.ber),
                 repr(knee.low), repr(knee.high), knee.bound, self.config.trials, self.clean_correct.size,
                 self.config.bootstrap] for knee in self.knees]


def knee_of(bers: np.ndarray, losses: np.ndarray, loss: float) -> tuple[float, str]:
    """(knee BER, bound) for one loss curve on a grid; see the module docstring."""
    reached = np.flatnonzero(losses >= loss)
    if reached.size == 0:
        return float(bers[-1]), "above"
    first = int(reached[0])
    if first == 0:
        return float(bers[0]), "below"
    x0, x1 = math.log10(bers[first - 1]), math.log10(bers[first])
    y0, y1 = float(losses[first - 1]), float(losses[first])
    return float(10 ** (x0 + (loss - y0) / (y1 - y0) * (x1 - x0))), ""


def bootstrap_knees(bers: np.ndarray, clean_correct: np.ndarray, correct: np.ndarray, losses: Sequence[float],
                    resamples: int, seed: int | np.random.SeedSequence, confidence: float = 0.95) -> list[Knee]:
    """Knees with paired-bootstrap intervals over test images and trials (module docstring)."""
    rng = np.random.default_rng(value_seed(seed, "bootstrap"))
    grid, trials, images = correct.shape
    image_weights = rng.multinomial(images, np.full(images, 1 / images), size=resamples).astype(np.float32)  # (B, N)
    clean = image_weights @ clean_correct.astype(np.float32) / images  # (B,)
    accuracy = np.empty((resamples, grid))
    for g in range(grid):
        trial_weights = rng.multinomial(trials, np.full(trials, 1 / trials), size=resamples).astype(np.float32)
        per_trial = correct[g].astype(np.float32) @ image_weights.T / images  # (T, B)
        accuracy[:, g] = np.einsum("bt,tb->b", trial_weights, per_trial) / trials
    loss_resampled = clean[:, None] - accuracy
    point_loss = clean_correct.mean() - correct.mean(axis=(1, 2))
    alpha = (1 - confidence) / 2
    knees = []
    for loss in losses:
        ber, bound = knee_of(bers, point_loss, loss)
        samples = []
        for row in loss_resampled:
            value, where = knee_of(bers, row, loss)
            samples.append(-math.inf if where == "below" else math.inf if where == "above" else math.log10(value))
        low, high = np.quantile(np.array(samples), [alpha, 1 - alpha], method="inverted_cdf")
        knees.append(Knee(loss, ber, float(10 ** low), float(10 ** high), bound, (float(bers[0]), float(bers[-1]))))
    return knees


def tolerance_curve(
    name: str,
    network: QuantizedNetwork,
    x: np.ndarray,
    y: np.ndarray,
    config: ToleranceConfig = ToleranceConfig(),
    *,
    max_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: bool = False,
) -> ToleranceCurve:
    """The network's accuracy over the config's BER grid, and its knees."""
    bers = config.grid()
    y = np.asarray(y)
    clean_correct = network.predict(x) == y
    correct = np.empty((bers.size, config.trials, y.size), dtype=bool)
    for index, ber in enumerate(bers):
        table = BerTable.symmetric(float(ber), network.scheme)
        transition = table.transition_matrix(table.conditions()[0])
        correct[index] = trial_correct(network, x, y, transition, config.trials,
                                       value_seed(config.seed, "symmetric", network.scheme, float(ber)),
                                       max_bytes=max_bytes)
        if progress:
            print(f"  {name}: BER {ber:.3g}: accuracy {correct[index].mean():.4f}", flush=True)
    knees = bootstrap_knees(bers, clean_correct, correct, config.losses, config.bootstrap, config.seed,
                            config.confidence)
    return ToleranceCurve(name, network.describe(), bers, clean_correct, correct, knees, config)


def write_knees_csv(curves: Sequence[ToleranceCurve], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(KNEE_COLUMNS)
        for curve in curves:
            writer.writerows(curve.knee_rows())
    return path


def read_rows(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
