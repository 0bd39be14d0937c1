"""Offline training of the SNN's integer weights -4..+4, as the SPIRIT reference did:
a single fully connected layer with tanh outputs trained in floating point, then
quantized to the nine levels that 4 positive + 4 negative single-level RRAM cells make.

    a = x @ W            x (N, P) pixel intensities in [0, 1], W (P, n_classes), no bias
    y = tanh(a)          trained on +1 (true class) / -1 (other classes) targets, mean squared error
    W_q = clip(round(W / step), -4, 4)    step chosen on the training set (see `quantize`)
    prediction = argmax(x @ W_q)          tanh is monotonic, so the argmax of the pre-activations

The SNN computes the same thing with rate codes: an input spike of pixel i adds W_q[i, j]
charge units to neuron j, so the net spike count of neuron j is about (x @ W_q)[j]
times a constant.

Datasets: MNIST downscaled to 12x12 = 144 inputs as in the reference (SPIRIT, Valentian
et al., IEDM 2019): by default the 5,000 real MNIST digits of `inject.data.load_mnist5k`
(fixed split, 1,000 test images), or the full MNIST from a directory of IDX files;
'digits' (scikit-learn's 8x8, 64 inputs) is kept for fast tests.

Weight files are plain CSV: one row per input (pixel, row-major), one integer column per
output neuron, an optional header line `w0,w1,...`.

Reproduce the weights `circuitkit snn` trains by itself (deterministic for a seed):

    python -m circuitkit.snn.train -o snn_weights.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.inject.data import DEFAULT_DATASET, Dataset, DatasetError, downscale, load_dataset
from circuitkit.training import Adam, cosine_learning_rate, single_blas_thread

WEIGHT_MAX = 4  # cells per polarity: a weight of +w puts w of the 4 positive cells in LRS
MNIST_SIDE = 12  # the reference downscaled MNIST to 12x12 = 144 synapses per output neuron


class WeightError(CircuitkitError):
    """Integer SNN weights that are malformed or out of range."""


def load_snn_dataset(spec: str | Path = DEFAULT_DATASET) -> Dataset:
    """A dataset as `inject.data.load_dataset` names it (default 'mnist5k'; a bare
    directory means 'mnist:DIR'), 28x28 images downscaled to 12x12; 'digits' stays 8x8.

    Raises a clear error for an empty train or test split.
    """
    text = str(spec)
    if Path(text).is_dir():
        text = f"mnist:{text}"
    elif ":" not in text and text not in ("mnist5k", "digits"):
        raise DatasetError(f"{text}: not a directory; expected 'mnist5k', 'digits', 'mnist:DIR' or a directory "
                           "with the four MNIST IDX files")
    raw = load_dataset(text)
    for split in ("train", "test"):
        if getattr(raw, f"x_{split}").shape[0] == 0:
            raise DatasetError(f"{text}: the {split} split holds no images (empty dataset)")
    if raw.image_shape is not None and max(raw.image_shape) > MNIST_SIDE:
        dataset = Dataset(f"{raw.name}-{MNIST_SIDE}x{MNIST_SIDE}", downscale(raw.x_train, MNIST_SIDE), raw.y_train,
                          downscale(raw.x_test, MNIST_SIDE), raw.y_test, (MNIST_SIDE, MNIST_SIDE))
    else:
        dataset = raw
    check_dataset(dataset)
    return dataset


def check_dataset(dataset: Dataset) -> None:
    """Non-empty splits, pixel values in [0, 1], labels 0..n-1."""
    for split in ("train", "test"):
        x, y = getattr(dataset, f"x_{split}"), getattr(dataset, f"y_{split}")
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise DatasetError(f"dataset {dataset.name!r}: {split} split is empty (images of shape {x.shape}); "
                               "expected at least one image with at least one pixel")
        if y.shape != (x.shape[0],):
            raise DatasetError(f"dataset {dataset.name!r}: {split} labels {y.shape} do not match images {x.shape}")
        if not np.all((x >= 0) & (x <= 1)):
            raise DatasetError(f"dataset {dataset.name!r}: {split} pixel values must be in [0, 1]")
        if np.any(y < 0):
            raise DatasetError(f"dataset {dataset.name!r}: {split} labels must be >= 0")


@dataclass(frozen=True)
class TanhConfig:
    """Everything that determines the trained float weights (with the dataset)."""

    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 0.01
    final_learning_rate: float = 0.0005
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.learning_rate > 0:
            raise CircuitkitError("epochs and batch_size must be >= 1 and learning_rate > 0")


def train_tanh(x: np.ndarray, y: np.ndarray, n_classes: int, config: TanhConfig = TanhConfig()) -> np.ndarray:
    """Float weights (P, n_classes) of the tanh single layer, mean squared error to +-1
    targets, mini-batch Adam with cosine learning-rate decay. Deterministic for a seed."""
    with single_blas_thread():
        rng = np.random.default_rng(config.seed)
        weights = rng.normal(0.0, 0.01, size=(x.shape[1], n_classes))
        targets = 2.0 * np.eye(n_classes)[y] - 1.0
        optimizer = Adam([weights])
        steps_per_epoch = -(-y.size // config.batch_size)
        total = config.epochs * steps_per_epoch
        step = 0
        for _ in range(config.epochs):
            order = rng.permutation(y.size)
            for start in range(0, y.size, config.batch_size):
                batch = order[start:start + config.batch_size]
                out = np.tanh(x[batch] @ weights)
                delta = 2.0 * (out - targets[batch]) * (1.0 - out * out) / batch.size
                lr = cosine_learning_rate(step, total, config.learning_rate, config.final_learning_rate)
                optimizer.step([x[batch].T @ delta], lr)
                step += 1
    return weights


def predict(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """argmax of x @ W (ties to the lowest class index)."""
    return np.argmax(np.asarray(x) @ np.asarray(weights, dtype=np.float64), axis=-1)


# Quantization steps tried: the weight magnitude at these percentiles maps to level 4.
_CLIP_PERCENTILES = (90.0, 95.0, 97.5, 99.0, 99.5, 100.0)


def quantize(weights: np.ndarray, x: np.ndarray, y: np.ndarray, levels: int = WEIGHT_MAX) -> np.ndarray:
    """int8 weights in -levels..+levels: W / step rounded and clipped, with step =
    percentile(|W|, p) / levels for the p (from `_CLIP_PERCENTILES`) that gives the best
    accuracy on (x, y) (clipping a few large weights buys resolution for the rest)."""
    magnitude = np.abs(weights)
    best, best_accuracy = None, -1.0
    for percentile in _CLIP_PERCENTILES:
        step = float(np.percentile(magnitude, percentile)) / levels
        if step <= 0:
            continue
        candidate = np.clip(np.round(weights / step), -levels, levels).astype(np.int8)
        accuracy = float(np.mean(predict(x, candidate) == y))
        if accuracy >= best_accuracy:
            best, best_accuracy = candidate, accuracy
    if best is None:
        raise WeightError("cannot quantize all-zero weights")
    return best


@dataclass(frozen=True)
class TrainedWeights:
    float_weights: np.ndarray
    weights: np.ndarray  # int8 (P, n_classes) in -4..4
    float_accuracy: float  # test accuracy of the float network
    accuracy: float  # test accuracy of the quantized network


def train_snn_weights(dataset: Dataset, config: TanhConfig = TanhConfig()) -> TrainedWeights:
    """Train on the dataset's training split, quantize, and score both on its test split."""
    check_dataset(dataset)
    float_weights = train_tanh(dataset.x_train, dataset.y_train, dataset.n_classes, config)
    weights = quantize(float_weights, dataset.x_train, dataset.y_train)
    return TrainedWeights(
        float_weights, weights,
        float(np.mean(predict(dataset.x_test, float_weights) == dataset.y_test)),
        float(np.mean(predict(dataset.x_test, weights) == dataset.y_test)),
    )


def check_weights(weights: np.ndarray, where: str = "weights") -> np.ndarray:
    """int8 copy of integer weights (inputs, outputs) in -4..+4; a clear error otherwise."""
    array = np.asarray(weights)
    if array.ndim != 2 or 0 in array.shape:
        raise WeightError(f"{where}: expected a 2-D array (inputs, output neurons), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
        raise WeightError(f"{where}: weights must be integers")
    outside = np.argwhere(np.abs(array) > WEIGHT_MAX)
    if outside.size:
        row, column = (int(v) for v in outside[0])
        raise WeightError(f"{where}: weight {array[row, column]:g} at input {row}, output {column} is outside "
                          f"-{WEIGHT_MAX}..+{WEIGHT_MAX} ({len(outside)} such weights); each polarity has {WEIGHT_MAX} cells")
    return array.astype(np.int8)


def write_weights(weights: np.ndarray, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = check_weights(weights, str(path))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([f"w{j}" for j in range(weights.shape[1])])
        writer.writerows(weights.tolist())
    return path


def read_weights(path: str | Path) -> np.ndarray:
    """Read a weight CSV; errors name the file, line and column at fault."""
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            lines = list(csv.reader(handle))
    except OSError as error:
        raise WeightError(f"{path}: cannot read weights: {error.strerror}") from None
    except csv.Error as error:
        raise WeightError(f"{path}: not a valid CSV file: {error}") from None
    first = 1 if lines and lines[0] and not _is_integer(lines[0][0]) else 0
    rows, width = [], None
    for number, line in enumerate(lines[first:], start=first + 1):
        if not line or all(not cell.strip() for cell in line):
            continue
        if width is None:
            width = len(line)
        if len(line) != width:
            raise WeightError(f"{path}, line {number}: {len(line)} columns, expected {width} (one per output neuron)")
        values = []
        for column, cell in enumerate(line, start=1):
            if not _is_integer(cell):
                raise WeightError(f"{path}, line {number}, column {column}: expected an integer -4..4, got {cell!r}")
            value = int(cell)
            if abs(value) > WEIGHT_MAX:
                raise WeightError(f"{path}, line {number}, column {column}: weight {value} is outside "
                                  f"-{WEIGHT_MAX}..+{WEIGHT_MAX} (4 cells per polarity)")
            values.append(value)
        rows.append(values)
    if not rows:
        raise WeightError(f"{path}: no weights (expected one row per input, one column per output neuron)")
    return check_weights(np.array(rows), str(path))


def _is_integer(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m circuitkit.snn.train",
                                     description="Train the SNN's -4..+4 weights (tanh single layer, quantized).")
    parser.add_argument("--dataset", default=DEFAULT_DATASET,
                        help="'mnist5k' (default), 'digits', or 'mnist:DIR' / a directory with the MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=TanhConfig.epochs)
    parser.add_argument("--seed", type=int, default=TanhConfig.seed)
    parser.add_argument("-o", "--output", type=Path, required=True, help="weight CSV to write")
    args = parser.parse_args(argv)
    try:
        dataset = load_snn_dataset(args.dataset)
        trained = train_snn_weights(dataset, TanhConfig(epochs=args.epochs, seed=args.seed))
        write_weights(trained.weights, args.output)
    except CircuitkitError as error:
        print(f"train: error: {error}", file=sys.stderr)
        return 2
    print(f"{args.output}: {dataset.name} {trained.weights.shape}, test accuracy float {trained.float_accuracy:.4f}, "
          f"quantized -4..4 {trained.accuracy:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
