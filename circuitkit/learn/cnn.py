"""A small real-valued CNN for MNIST in numpy: the software network that hybrid training
transfers to multi-level crossbars.

Architecture (after the five-layer CNN of Yao et al., Nature 2020, scaled to 28 x 28
inputs): conv 3x3, 1 -> 8 channels, ReLU, max-pool 2; conv 3x3, 8 -> 12, ReLU, max-pool
2; fully connected 300 -> 10 (every layer with a bias). 3,966 weights, small enough for
a few 128 x 16-pair arrays. Trained with softmax cross-entropy and Adam on the 4,000
training images of the bundled real MNIST subset (`inject.data.load_mnist5k`),
deterministic for a seed (one BLAS thread). The convolutions reuse the binarized
networks' im2col (`inject.networks.patches`) and the trainer's convolution and pooling
gradients (`inject.train`; Adam from `circuitkit.training`).

`Cnn.forward(x, linear)` runs the network with every weight layer's product supplied by
`linear(index, columns)`: software by default, a crossbar (`crossbar.layer.AnalogLinear`)
in hybrid training. Each weight layer is a matrix with its bias as the last row, applied
to im2col patches (conv) or flattened maps (dense) with a constant input column.

The bundled `pretrained/cnn_mnist5k.npz` is this config trained by one command,
`python -m circuitkit.learn.cnn --bundled` (`tests/test_learn.py` reproduces it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.inject.data import Dataset, load_dataset
from circuitkit.inject.networks import patches
from circuitkit.inject.train import _pool_backward, _pool_forward, conv_input_gradient
from circuitkit.resources import package_path
from circuitkit.training import Adam, cosine_learning_rate, single_blas_thread

FORMAT = "circuitkit-cnn-v1"
IMAGE = (28, 28)
BUNDLED_PATH = ("learn", "pretrained", "cnn_mnist5k.npz")


@dataclasses.dataclass(frozen=True)
class CnnConfig:
    conv1: int = 8
    conv2: int = 12
    kernel: int = 3
    epochs: int = 15
    batch_size: int = 50
    learning_rate: float = 3e-3
    final_learning_rate: float = 1e-4
    seed: int = 0
    dataset: str = "mnist5k"


Linear = Callable[[int, np.ndarray], np.ndarray]


@dataclasses.dataclass
class Cnn:
    """Weights as matrices with the bias as the last row: conv (k*k*c_in + 1, c_out),
    dense (inputs + 1, 10)."""

    matrices: list[np.ndarray]
    config: CnnConfig
    metadata: dict = dataclasses.field(default_factory=dict)

    LAYER_NAMES = ("conv1", "conv2", "fc")

    @classmethod
    def initial(cls, config: CnnConfig, rng: np.random.Generator) -> "Cnn":
        k = config.kernel
        side = ((IMAGE[0] - k + 1) // 2 - k + 1) // 2
        shapes = [(k * k * 1, config.conv1), (k * k * config.conv1, config.conv2), (side * side * config.conv2, 10)]
        matrices = [np.vstack([rng.normal(0, np.sqrt(2.0 / n_in), (n_in, n_out)), np.zeros((1, n_out))])
                    for n_in, n_out in shapes]
        return cls(matrices, config)

    @staticmethod
    def software(matrix: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        return lambda columns: columns @ matrix[:-1] + matrix[-1]

    def forward(self, x: np.ndarray, linear: Linear | None = None, *, keep: bool = False):
        """Logits of images x (n, 784) in [0, 1]; `linear(index, columns)` computes each
        weight layer (columns without the bias input). keep=True also returns the layer
        inputs (for gradients and calibration)."""
        linear = linear or (lambda index, columns: self.software(self.matrices[index])(columns))
        k = self.config.kernel
        h = np.asarray(x, dtype=float).reshape(-1, *IMAGE, 1)
        saved = []
        for index in range(2):
            columns = patches(h, k, k)
            saved.append((columns, h.shape))
            a = linear(index, columns.reshape(-1, columns.shape[-1])).reshape(*columns.shape[:-1], -1)
            relu = np.maximum(a, 0.0)
            pooled, argmax = _pool_forward(relu, 2)
            saved.append((a, relu.shape, argmax))
            h = pooled
        flat = h.reshape(h.shape[0], -1)
        saved.append((flat, h.shape))
        logits = linear(2, flat)
        return (logits, saved) if keep else logits

    def layer_inputs(self, x: np.ndarray) -> list[np.ndarray]:
        """The (rows, features) input of each weight layer (without the bias column)."""
        _, saved = self.forward(x, keep=True)
        return [saved[0][0].reshape(-1, saved[0][0].shape[-1]), saved[2][0].reshape(-1, saved[2][0].shape[-1]),
                saved[4][0]]

    def predict(self, x: np.ndarray, linear: Linear | None = None) -> np.ndarray:
        return np.argmax(self.forward(x, linear), axis=1)

    def accuracy(self, x: np.ndarray, y: np.ndarray, linear: Linear | None = None) -> float:
        return float(np.mean(self.predict(x, linear) == y))

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """Mean cross-entropy and its gradient w.r.t. every matrix (bias row included)."""
        logits, saved = self.forward(x, keep=True)
        probabilities = _softmax(logits)
        loss = float(-np.mean(np.log(probabilities[np.arange(y.size), y] + 1e-300)))
        grad = (probabilities - np.eye(logits.shape[1])[y]) / y.size
        grads: list[np.ndarray] = [np.empty(0)] * 3
        flat, shape = saved[4]
        grads[2] = _with_bias_gradient(flat, grad)
        grad = (grad @ self.matrices[2][:-1].T).reshape(shape)
        for index in (1, 0):
            columns, input_shape = saved[2 * index]
            a, relu_shape, argmax = saved[2 * index + 1]
            grad = _pool_backward(grad, argmax, 2, relu_shape) * (a > 0)
            flat_grad = grad.reshape(-1, grad.shape[-1])
            grads[index] = _with_bias_gradient(columns.reshape(-1, columns.shape[-1]), flat_grad)
            if index:
                k = self.config.kernel
                weight = self.matrices[index][:-1].reshape(k, k, -1, grad.shape[-1])
                grad = conv_input_gradient(grad, weight, 0).reshape(input_shape)
        return loss, grads

    # ------------------------------------------------------------------ files
    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "config": dataclasses.asdict(self.config), **self.metadata}
        np.savez(path, metadata=np.array(json.dumps(meta, sort_keys=True)),
                 **{f"matrix{i}": m for i, m in enumerate(self.matrices)})
        return path

    @classmethod
    def load(cls, path: Path | str) -> "Cnn":
        path = Path(path)
        try:
            with np.load(path) as data:
                meta = json.loads(str(data["metadata"]))
                matrices = [np.asarray(data[f"matrix{i}"], dtype=float) for i in range(3)]
        except (OSError, KeyError, ValueError) as error:
            raise CircuitkitError(f"{path}: not a circuitkit CNN file ({error})") from None
        if meta.get("format") != FORMAT:
            raise CircuitkitError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        config = CnnConfig(**meta.pop("config"))
        meta.pop("format")
        network = cls(matrices, config, meta)
        expected = cls.initial(config, np.random.default_rng(0)).matrices
        for i, (m, e) in enumerate(zip(matrices, expected)):
            if m.shape != e.shape:
                raise CircuitkitError(f"{path}: {cls.LAYER_NAMES[i]} has shape {m.shape}, expected {e.shape}")
        return network


def class_interleaved(y: np.ndarray, n: int | None = None) -> np.ndarray:
    """Indices of `n` samples (None: all) taken class by class in turn, each class in its
    stored order: any prefix is balanced over the classes. The bundled MNIST split stores
    its images sorted by class, so `x[:n]` would train or test on the first few digits only."""
    rank = np.empty(y.size, dtype=np.int64)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        rank[members] = np.arange(members.size)
    order = np.lexsort((y, rank))
    return order[:n]


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _with_bias_gradient(inputs: np.ndarray, grad: np.ndarray) -> np.ndarray:
    return np.vstack([inputs.T @ grad, grad.sum(axis=0, keepdims=True)])


def train_cnn(dataset: Dataset, config: CnnConfig = CnnConfig(), *, progress: bool = False) -> Cnn:
    """Train the CNN (deterministic for the config's seed)."""
    if dataset.image_shape != IMAGE:
        raise CircuitkitError(f"the CNN takes 28 x 28 images; dataset {dataset.name!r} has {dataset.image_shape}")
    root = np.random.SeedSequence(config.seed)
    init_seed, shuffle_seed = root.spawn(2)
    network = Cnn.initial(config, np.random.default_rng(init_seed))
    shuffle = np.random.default_rng(shuffle_seed)
    optimizer = Adam(network.matrices)
    steps = config.epochs * -(-dataset.y_train.size // config.batch_size)
    step = 0
    with single_blas_thread():
        for epoch in range(config.epochs):
            started = time.perf_counter()
            order = shuffle.permutation(dataset.y_train.size)
            for start in range(0, order.size, config.batch_size):
                batch = order[start:start + config.batch_size]
                _, grads = network.gradients(dataset.x_train[batch], dataset.y_train[batch])
                optimizer.step(grads, cosine_learning_rate(step, steps, config.learning_rate,
                                                           config.final_learning_rate))
                step += 1
            if progress:
                print(f"epoch {epoch + 1}/{config.epochs}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    network.metadata.update(dataset=dataset.name, test_accuracy=network.accuracy(dataset.x_test, dataset.y_test),
                            test_images=int(dataset.y_test.size))
    return network


def bundled_path() -> Path:
    return package_path(*BUNDLED_PATH)


def load_bundled() -> Cnn:
    return Cnn.load(bundled_path())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m circuitkit.learn.cnn",
                                     description="Train the small real-valued MNIST CNN of hybrid training.")
    parser.add_argument("--bundled", action="store_true", help="retrain the bundled network into the package")
    parser.add_argument("--epochs", type=int, default=CnnConfig.epochs)
    parser.add_argument("--seed", type=int, default=CnnConfig.seed)
    parser.add_argument("-o", "--output", type=Path, help="output .npz (default with --bundled: the package's)")
    args = parser.parse_args(argv)
    config = CnnConfig(epochs=args.epochs, seed=args.seed)
    network = train_cnn(load_dataset(config.dataset), config, progress=True)
    network.metadata["command"] = "python -m circuitkit.learn.cnn --bundled"
    output = args.output or (bundled_path() if args.bundled else None)
    if output is None:
        parser.error("give -o FILE or --bundled")
    network.save(output)
    print(f"{output}: test accuracy {network.metadata['test_accuracy']:.4f} on {network.metadata['test_images']} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
