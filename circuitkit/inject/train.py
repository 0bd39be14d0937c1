"""Train BNN / TNN networks (fully connected or convolutional) in numpy: straight-through
estimator, Adam, batch-norm folded into thresholds at the end, optionally with error
injection (error-aware training).

Architecture: a tuple of layer specs, the output layer (dense, one neuron per class)
added at the end:

    "conv<C>k<K>"      K x K convolution to C channels, stride 1, no padding ("conv<C>k<K>p<P>": P
                       zeros around the image, P < K), then batch-norm + sign
    "pool<S>"          S x S max-pooling of the sign outputs (placed after a conv)
    "dense<N>"         fully connected to N neurons, then batch-norm + sign

e.g. ("conv16k5", "pool2", "conv32k5", "pool2") or ("dense256",).

Latent real weights in [-1, 1] are quantized in the forward pass (sign for bnn; for tnn
zero below 0.7 * mean|w| of the layer, sign above, as in ternary weight networks);
gradients pass straight through the quantizer (masked where |w| > 1) and through sign
activations where the batch-normed pre-activation is within [-1, 1]. Convolutions are
matrix products of im2col patches (`networks.patches`); max-pooling routes the gradient
to each window's maximum; pooling the batch-normed values before the sign is the same
function as pooling the signs (sign is monotone).

With error injection (`train_ber` > 0, or a transition matrix), every mini-batch sees
the quantized weights corrupted by a fresh draw of the same sampler used at evaluation,
so the network learns margins that survive misreads. At the end the batch-norm
statistics are recomputed over the training set with the clean weights, layer by layer
through the folded network, and folded into thresholds.

Determinism: one BLAS thread, one numpy Generator per purpose from `config.seed`: the
same config, dataset and numpy/BLAS build give bit-identical weights.

The bundled networks (`BUNDLED`) are each reproduced by one command:

    python -m circuitkit.inject.train --bundled bnn-conv      # writes circuitkit/inject/pretrained/bnn_conv_mnist5k.npz
    python -m circuitkit.inject.train --bundled all           # all of them
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.ber_table import BerTable, TransitionMatrix
from circuitkit.inject.data import DEFAULT_DATASET, DATASET_SPECS, Dataset, load_dataset
from circuitkit.inject.networks import (
    KIND_ALPHABETS,
    KIND_SCHEMES,
    PRETRAINED,
    PRETRAINED_DIR,
    Conv2d,
    Dense,
    Layer,
    MaxPool2d,
    QuantizedNetwork,
    Sign,
    max_pool,
    patches,
    thermometer,
)
from circuitkit.inject.sampler import ErrorInjector
from circuitkit.seeding import trial_generator
from circuitkit.training import Adam, cosine_learning_rate, single_blas_thread

_BN_EPS = 1e-5
_TERNARY_DELTA = 0.7  # zero band of the ternarizer, as a fraction of mean |w| of the layer
_LAYER_SPEC = re.compile(r"^(?:conv(?P<channels>\d+)k(?P<kernel>\d+)(?:p(?P<padding>\d+))?|pool(?P<pool>\d+)|dense(?P<units>\d+))$")


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that determines a trained network (with the dataset it names)."""

    kind: str = "bnn"
    architecture: tuple[str, ...] = ("dense256",)
    # Thermometer levels of the +-1 input code (input channels of the first layer).
    input_thresholds: tuple[float, ...] = (0.5,)
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 0.01
    final_learning_rate: float = 0.0005
    seed: int = 0
    train_ber: float = 0.0
    dataset: str = DEFAULT_DATASET

    def __post_init__(self) -> None:
        object.__setattr__(self, "architecture", tuple(self.architecture))
        object.__setattr__(self, "input_thresholds", tuple(float(t) for t in self.input_thresholds))
        if self.kind not in KIND_ALPHABETS:
            raise CircuitkitError(f"kind must be one of {tuple(KIND_ALPHABETS)}, got {self.kind!r}")
        if self.epochs < 1 or self.batch_size < 2:
            raise CircuitkitError("epochs must be >= 1 and batch_size >= 2 (batch-norm needs two samples)")
        if not 0.0 <= self.train_ber < 1.0:
            raise CircuitkitError(f"train_ber must be in [0, 1), got {self.train_ber!r}")
        parse_architecture(self.architecture)

    @classmethod
    def from_dict(cls, values: dict) -> TrainingConfig:
        """The config a network's metadata recorded (`asdict` of one)."""
        return cls(**{**values, "architecture": tuple(values["architecture"]),
                      "input_thresholds": tuple(values["input_thresholds"])})


def parse_architecture(specs: tuple[str, ...]) -> list[tuple[str, dict[str, int]]]:
    """Layer specs -> [(type, parameters)]; a clear error for anything else."""
    parsed = []
    for spec in specs:
        match = _LAYER_SPEC.match(spec)
        if match is None:
            raise CircuitkitError(f"layer spec {spec!r}: expected conv<C>k<K>[p<P>], pool<S> or dense<N>")
        if match["channels"]:
            channels, kernel, padding = int(match["channels"]), int(match["kernel"]), int(match["padding"] or 0)
            if channels < 1 or kernel < 1 or padding >= kernel:
                raise CircuitkitError(f"layer spec {spec!r}: channels and kernel must be >= 1 and padding < kernel")
            parsed.append(("conv2d", {"channels": channels, "kernel": kernel, "padding": padding}))
        elif match["pool"]:
            if int(match["pool"]) < 1 or not parsed or parsed[-1][0] not in ("conv2d", "maxpool2d"):
                raise CircuitkitError(f"layer spec {spec!r}: pooling of size >= 1 follows a convolution")
            parsed.append(("maxpool2d", {"size": int(match["pool"])}))
        else:
            if int(match["units"]) < 1:
                raise CircuitkitError(f"layer spec {spec!r}: a dense layer needs >= 1 neuron")
            parsed.append(("dense", {"units": int(match["units"])}))
    return parsed


# The bundled networks: name -> the config its one command trains (all on the default
# 5,000-digit MNIST split). Convolutional BNN/TNN on the binarized image (one input
# level: every first-layer weight matters), 256-wide perceptrons on a three-level
# thermometer code, a 16-wide one (a narrow bottleneck: its 5-point knee lies left of
# the wide one's), and the convolutional BNN trained with error injection at 5 % (its
# 5-point knee moves from about 3e-2 to 5e-2).
_CONV = ("conv16k5", "pool2", "conv32k5", "pool2")
_LEVELS = (0.25, 0.5, 0.75)
BUNDLED: dict[str, TrainingConfig] = {
    "bnn-conv": TrainingConfig(kind="bnn", architecture=_CONV, epochs=30),
    "tnn-conv": TrainingConfig(kind="tnn", architecture=_CONV, epochs=30),
    "bnn-fc": TrainingConfig(kind="bnn", architecture=("dense256",), input_thresholds=_LEVELS, epochs=30),
    "bnn-fc-narrow": TrainingConfig(kind="bnn", architecture=("dense16",), input_thresholds=_LEVELS, epochs=30),
    "tnn-fc": TrainingConfig(kind="tnn", architecture=("dense256",), input_thresholds=_LEVELS, epochs=30),
    "bnn-conv-aware": TrainingConfig(kind="bnn", architecture=_CONV, epochs=30, train_ber=0.05),
}
assert set(BUNDLED) == set(PRETRAINED)


def quantize(latent: np.ndarray, kind: str) -> np.ndarray:
    """Latent real weights -> int8 weights of the kind's alphabet."""
    if kind == "bnn":
        return np.where(latent >= 0, 1, -1).astype(np.int8)
    delta = _TERNARY_DELTA * np.mean(np.abs(latent))
    return (np.sign(latent) * (np.abs(latent) > delta)).astype(np.int8)


def _training_transition(config: TrainingConfig, transition: TransitionMatrix | None) -> TransitionMatrix | None:
    if transition is not None:
        return transition
    if config.train_ber > 0:
        table = BerTable.symmetric(config.train_ber, KIND_SCHEMES[config.kind])
        return table.transition_matrix(table.conditions()[0])
    return None


@dataclass
class _Graph:
    """The trainable network as a list of operations, in order: every weight layer is
    followed by its batch-norm ("bn"), then any pooling, then a "sign" (except the output
    layer, whose batch-norm output is the logits)."""

    kind: str
    ops: list[tuple] = field(default_factory=list)  # ("conv2d", index, kernel, padding) ("dense", index) ("bn", index) ("maxpool2d", size) ("sign",)
    latent: list[np.ndarray] = field(default_factory=list)  # one per weight layer
    gammas: list[np.ndarray] = field(default_factory=list)
    betas: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def build(cls, config: TrainingConfig, input_shape: tuple[int, int], n_classes: int,
              rng: np.random.Generator) -> _Graph:
        steps = [*parse_architecture(config.architecture), ("dense", {"units": n_classes})]
        graph = cls(config.kind)
        shape: tuple[int, ...] = (*input_shape, len(config.input_thresholds))
        for position, (kind, params) in enumerate(steps):
            index = len(graph.latent)
            if kind == "conv2d":
                k, pad = params["kernel"], params["padding"]
                if len(shape) != 3:
                    raise CircuitkitError("a convolution cannot follow a dense layer")
                if min(shape[:2]) + 2 * pad < k:
                    raise CircuitkitError(f"conv{params['channels']}k{k}: kernel larger than its {shape[0]}x{shape[1]} input")
                graph.latent.append(rng.uniform(-1, 1, size=(k, k, shape[2], params["channels"])))
                graph.ops += [("conv2d", index, k, pad), ("bn", index)]
                shape = (shape[0] + 2 * pad - k + 1, shape[1] + 2 * pad - k + 1, params["channels"])
            elif kind == "dense":
                graph.latent.append(rng.uniform(-1, 1, size=(int(np.prod(shape)), params["units"])))
                graph.ops += [("dense", index), ("bn", index)]
                shape = (params["units"],)
            else:
                if min(shape[:2]) < params["size"]:
                    raise CircuitkitError(f"pool{params['size']}: larger than its {shape[0]}x{shape[1]} input")
                graph.ops.append(("maxpool2d", params["size"]))
                shape = (shape[0] // params["size"], shape[1] // params["size"], shape[2])
            if kind != "maxpool2d":
                graph.gammas.append(np.ones(params.get("channels", params.get("units"))))
                graph.betas.append(np.zeros(params.get("channels", params.get("units"))))
            following = steps[position + 1][0] if position + 1 < len(steps) else None
            if following is not None and following != "maxpool2d":
                graph.ops.append(("sign",))
        return graph

    def quantized(self) -> list[np.ndarray]:
        return [quantize(w, self.kind) for w in self.latent]


def _pool_forward(z: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Max-pool (N, H, W, C) real maps; also the flat index of each window's maximum."""
    n, height, width, channels = z.shape
    rows, cols = height // size, width // size
    blocks = z[:, :rows * size, :cols * size].reshape(n, rows, size, cols, size, channels)
    blocks = blocks.transpose(0, 1, 3, 5, 2, 4).reshape(n, rows, cols, channels, size * size)
    argmax = blocks.argmax(axis=-1)
    return np.take_along_axis(blocks, argmax[..., None], axis=-1)[..., 0], argmax


def _pool_backward(grad: np.ndarray, argmax: np.ndarray, size: int, shape: tuple[int, ...]) -> np.ndarray:
    n, rows, cols, channels = grad.shape
    blocks = np.zeros((n, rows, cols, channels, size * size), dtype=grad.dtype)
    np.put_along_axis(blocks, argmax[..., None], grad[..., None], axis=-1)
    blocks = blocks.reshape(n, rows, cols, channels, size, size).transpose(0, 1, 4, 2, 5, 3)
    out = np.zeros(shape, dtype=grad.dtype)
    out[:, :rows * size, :cols * size] = blocks.reshape(n, rows * size, cols * size, channels)
    return out


def _forward_backward(
    h0: np.ndarray, y: np.ndarray, graph: _Graph, weights: list[np.ndarray], n_classes: int,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """One mini-batch: batch-norm with batch statistics, pooling before the sign, sign
    activations, softmax cross-entropy; gradients w.r.t. the quantized weights, the
    gammas and the betas."""
    cache: list[tuple] = []
    h = h0
    for op in graph.ops:
        kind = op[0]
        if kind in ("conv2d", "dense"):
            w = weights[op[1]].astype(np.float32)
            cols = patches(h, op[2], op[2], op[3]) if kind == "conv2d" else h.reshape(h.shape[0], -1)
            a = cols.reshape(-1, cols.shape[-1]) @ w.reshape(-1, w.shape[-1])
            cache.append((op, (cols, h.shape, w)))
            h = a.reshape(*cols.shape[:-1], w.shape[-1])
        elif kind == "bn":
            axes = tuple(range(h.ndim - 1))
            mean = h.mean(axis=axes, dtype=np.float64)
            inv_std = 1.0 / np.sqrt(h.var(axis=axes, dtype=np.float64) + _BN_EPS)
            a_hat = ((h - mean) * inv_std).astype(np.float32)
            cache.append((op, (a_hat, inv_std)))
            h = (graph.gammas[op[1]] * a_hat + graph.betas[op[1]]).astype(np.float32)
        elif kind == "maxpool2d":
            shape = h.shape
            h, argmax = _pool_forward(h, op[1])
            cache.append((op, (argmax, shape)))
        else:
            cache.append((op, h))
            h = np.where(h >= 0, np.float32(1), np.float32(-1))
    logits = h.astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    grad = ((probabilities - np.eye(n_classes)[y]) / y.size).astype(np.float32)
    n_layers = len(weights)
    grad_w: list[np.ndarray] = [np.empty(0)] * n_layers
    grad_gamma: list[np.ndarray] = [np.empty(0)] * n_layers
    grad_beta: list[np.ndarray] = [np.empty(0)] * n_layers
    for op, saved in reversed(cache):
        kind = op[0]
        if kind == "sign":
            grad = grad * (np.abs(saved) <= 1)  # straight-through sign (hard tanh)
        elif kind == "maxpool2d":
            argmax, shape = saved
            grad = _pool_backward(grad, argmax, op[1], shape)
        elif kind == "bn":
            a_hat, inv_std = saved
            axes = tuple(range(a_hat.ndim - 1))
            grad_gamma[op[1]] = (grad * a_hat).sum(axis=axes, dtype=np.float64)
            grad_beta[op[1]] = grad.sum(axis=axes, dtype=np.float64)
            d_a_hat = grad * graph.gammas[op[1]].astype(np.float32)
            count = int(np.prod(a_hat.shape[:-1]))
            grad = (inv_std / count * (count * d_a_hat - d_a_hat.sum(axis=axes)
                                       - a_hat * (d_a_hat * a_hat).sum(axis=axes))).astype(np.float32)
        else:
            cols, input_shape, w = saved
            index = op[1]
            grad_flat = grad.reshape(-1, grad.shape[-1])
            grad_w[index] = (cols.reshape(-1, cols.shape[-1]).T @ grad_flat).astype(np.float64).reshape(w.shape)
            if index == 0:
                break  # no gradient needed for the input code
            if kind == "conv2d":
                grad = conv_input_gradient(grad, w, op[3]).reshape(input_shape)
            else:
                grad = (grad_flat @ w.T).reshape(input_shape)
    return grad_w, grad_gamma, grad_beta


def conv_input_gradient(grad: np.ndarray, weight: np.ndarray, padding: int) -> np.ndarray:
    """Gradient w.r.t. the input of a stride-1 convolution (weight (k, k, c_in, c_out),
    `padding` < k) given the gradient w.r.t. its output: the full convolution of the
    output gradient with the flipped kernel, cropped by the padding."""
    k = weight.shape[0]
    flipped = weight[::-1, ::-1].transpose(0, 1, 3, 2)  # (k, k, c_out, c_in)
    cols = patches(grad, k, k, k - 1 - padding)
    return (cols.reshape(-1, cols.shape[-1]) @ flipped.reshape(-1, flipped.shape[-1])).reshape(*cols.shape[:-1], -1)


def _effective_weights(
    graph: _Graph, transition: TransitionMatrix | None, seed: np.random.SeedSequence, draw: int,
) -> list[np.ndarray]:
    """Quantized weights, corrupted by one draw of the sampler when injecting."""
    quantized = graph.quantized()
    if transition is None:
        return quantized
    flat = np.concatenate([q.ravel() for q in quantized])
    injector = ErrorInjector(flat, transition.alphabet, transition.matrix)
    positions, values = injector.trial_errors(trial_generator(seed, draw))
    flat[positions] = values
    out, start = [], 0
    for q in quantized:
        out.append(flat[start:start + q.size].reshape(q.shape))
        start += q.size
    return out


def input_shape_of(dataset: Dataset) -> tuple[int, int]:
    """(rows, cols) of the dataset's images; flat data without a shape is one row."""
    if dataset.image_shape is not None:
        return tuple(dataset.image_shape)  # type: ignore[return-value]
    return (1, dataset.n_features)


def train(
    dataset: Dataset,
    config: TrainingConfig = TrainingConfig(),
    *,
    transition: TransitionMatrix | None = None,
    progress: bool = False,
) -> QuantizedNetwork:
    """Train a network on `dataset` and return it with batch-norm folded.

    Deterministic for a given config and dataset (one numpy Generator from `config.seed`
    drives initialisation and shuffling; injection draws come from child seeds).
    """
    if dataset.x_train.shape[0] < config.batch_size:
        raise CircuitkitError(f"dataset {dataset.name!r} has {dataset.x_train.shape[0]} training images, fewer than "
                              f"one batch of {config.batch_size}")
    with single_blas_thread():
        return _train(dataset, config, _training_transition(config, transition), progress)


def _train(dataset: Dataset, config: TrainingConfig, transition: TransitionMatrix | None,
           progress: bool) -> QuantizedNetwork:
    root = np.random.SeedSequence(config.seed)
    init_seed, shuffle_seed, inject_seed = root.spawn(3)
    rng = np.random.default_rng(init_seed)
    shuffle_rng = np.random.default_rng(shuffle_seed)
    input_shape = input_shape_of(dataset)
    n_classes = int(max(dataset.y_train.max(), dataset.y_test.max() if dataset.y_test.size else 0) + 1)
    graph = _Graph.build(config, input_shape, n_classes, rng)
    optimizer = Adam([*graph.latent, *graph.gammas, *graph.betas])
    x_all = dataset.x_train.reshape(-1, *input_shape)
    y_all = dataset.y_train
    steps_per_epoch = -(-y_all.size // config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    step = 0
    for epoch in range(config.epochs):
        started = time.perf_counter()
        order = shuffle_rng.permutation(y_all.size)
        for start in range(0, y_all.size, config.batch_size):
            batch = order[start:start + config.batch_size]
            if batch.size < 2:  # batch-norm needs at least two samples
                continue
            weights = _effective_weights(graph, transition, inject_seed, step)
            lr = cosine_learning_rate(step, total_steps, config.learning_rate, config.final_learning_rate)
            h0 = thermometer(x_all[batch], config.input_thresholds)
            grad_w, grad_gamma, grad_beta = _forward_backward(h0, y_all[batch], graph, weights, n_classes)
            # Straight-through: the gradient w.r.t. the quantized weight updates the latent
            # one, except where the latent weight has already saturated.
            grad_latent = [g * (np.abs(w) <= 1) for g, w in zip(grad_w, graph.latent)]
            optimizer.step([*grad_latent, *grad_gamma, *grad_beta], lr)
            for w in graph.latent:
                np.clip(w, -1, 1, out=w)
            step += 1
        if progress:
            print(f"epoch {epoch + 1}/{config.epochs}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return _fold(graph, config, dataset, input_shape)


def _fold(graph: _Graph, config: TrainingConfig, dataset: Dataset, input_shape: tuple[int, int],
          chunk: int = 500) -> QuantizedNetwork:
    """Fold batch-norm with population statistics of the clean weights over the whole
    training set, layer by layer through the already folded network (calibrating under
    injected errors instead cost 1-3 points of clean accuracy and gained nothing at BER
    1e-2 on digits)."""
    weights = graph.quantized()
    layers: list[Layer] = []
    x = dataset.x_train.reshape(-1, *input_shape)
    output_scale = output_bias = None
    for op in graph.ops:
        kind = op[0]
        if kind == "conv2d":
            layers.append(Conv2d(weights[op[1]], op[3]))
        elif kind == "dense":
            layers.append(Dense(weights[op[1]]))
        elif kind == "maxpool2d":
            layers.append(MaxPool2d(op[1]))
        elif kind == "bn":
            index = op[1]
            # Pre-activations of this layer over the training set, through the layers so far.
            total = total_sq = 0.0
            count = 0
            for start in range(0, x.shape[0], chunk):
                a = _partial_forward(layers, x[start:start + chunk], config.input_thresholds)
                flat = a.reshape(-1, a.shape[-1]).astype(np.float64)
                total = total + flat.sum(axis=0)
                total_sq = total_sq + (flat * flat).sum(axis=0)
                count += flat.shape[0]
            mean = total / count
            std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0) + _BN_EPS)
            gamma, beta = graph.gammas[index], graph.betas[index]
            if index == len(weights) - 1:
                output_scale = gamma / std
                output_bias = beta - mean * output_scale
            else:
                safe_gamma = np.where(gamma == 0, 1.0, gamma)
                threshold = np.where(gamma == 0, np.where(beta >= 0, -np.inf, np.inf), mean - beta * std / safe_gamma)
                direction = np.where(gamma < 0, -1, 1).astype(np.int8)
                # The sign goes after any pooling in training; in the network it comes
                # first and the pooling acts on +-1 maps (the same function).
                layers.append(Sign(threshold, direction))
    return QuantizedNetwork(
        kind=config.kind, layers=tuple(layers), output_scale=output_scale, output_bias=output_bias,
        input_shape=input_shape, input_thresholds=config.input_thresholds,
        metadata={"dataset": dataset.name, "training": asdict(config)},
    )


def _partial_forward(layers: list[Layer], x: np.ndarray, input_thresholds: tuple[float, ...]) -> np.ndarray:
    """Output of the first layers of a network being folded (the last one a weight layer)."""
    h = thermometer(x, input_thresholds)
    for layer in layers:
        if isinstance(layer, Conv2d):
            kh, kw, _, c_out = layer.weight.shape
            cols = patches(h, kh, kw, layer.padding)
            h = (cols.reshape(-1, cols.shape[-1]) @ layer.weight.reshape(-1, c_out).astype(np.float32)
                 ).reshape(*cols.shape[:-1], c_out)
        elif isinstance(layer, Dense):
            h = h.reshape(h.shape[0], -1) @ layer.weight.astype(np.float32)
        elif isinstance(layer, Sign):
            h = np.where(layer.direction * (h - layer.integer_threshold()) >= 0, np.float32(1), np.float32(-1))
        else:
            h = max_pool(h, layer.size)
    return h


def train_bundled(name: str, progress: bool = False) -> QuantizedNetwork:
    """Train one bundled network from its recorded config (`BUNDLED`)."""
    if name not in BUNDLED:
        raise CircuitkitError(f"no bundled network {name!r}; expected one of {tuple(BUNDLED)}")
    config = BUNDLED[name]
    dataset = load_dataset(config.dataset)
    network = train(dataset, config, progress=progress)
    network.metadata["name"] = name
    network.metadata["command"] = f"python -m circuitkit.inject.train --bundled {name}"
    network.metadata["test_accuracy"] = network.accuracy(dataset.x_test, dataset.y_test)
    network.metadata["test_images"] = int(dataset.y_test.size)
    return network


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m circuitkit.inject.train",
        description="Train a BNN or TNN (fully connected or convolutional; STE + Adam) and save it as .npz.",
    )
    defaults = TrainingConfig()
    parser.add_argument("--bundled", metavar="NAME|all",
                        help=f"reproduce a bundled network into the package ({', '.join(BUNDLED)} or all)")
    parser.add_argument("--kind", choices=tuple(KIND_ALPHABETS), default=defaults.kind)
    parser.add_argument("--dataset", default=defaults.dataset, help=DATASET_SPECS)
    parser.add_argument("--architecture", default=",".join(defaults.architecture),
                        help="layer specs, comma-separated: conv<C>k<K>[p<P>], pool<S>, dense<N> (the output layer is "
                             f"added), default {','.join(defaults.architecture)}")
    parser.add_argument("--input-thresholds", default=",".join(f"{t:g}" for t in defaults.input_thresholds),
                        help="thermometer levels of the input code, comma-separated (default 0.5)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--train-ber", type=float, default=defaults.train_ber,
                        help="inject symmetric errors at this rate while training (0: off)")
    parser.add_argument("-o", "--output", type=Path, help="where to write the .npz (not with --bundled)")
    args = parser.parse_args(argv)
    try:
        if args.bundled is not None:
            if args.output is not None:
                raise CircuitkitError("--bundled writes into the package; leave out -o")
            names = tuple(BUNDLED) if args.bundled == "all" else (args.bundled,)
            for name in names:
                started = time.perf_counter()
                network = train_bundled(name, progress=True)
                path = network.save(PRETRAINED_DIR / PRETRAINED[name])
                print(f"{path}: {network.describe()}, test accuracy {network.metadata['test_accuracy']:.4f} "
                      f"({time.perf_counter() - started:.0f} s)")
            return 0
        if args.output is None:
            raise CircuitkitError("give -o OUTPUT.npz (or --bundled NAME)")
        dataset = load_dataset(args.dataset)
        config = TrainingConfig(
            kind=args.kind, architecture=tuple(a for a in args.architecture.split(",") if a),
            input_thresholds=tuple(float(t) for t in args.input_thresholds.split(",") if t),
            epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
            seed=args.seed, train_ber=args.train_ber, dataset=args.dataset,
        )
        network = train(dataset, config, progress=True)
        network.metadata["test_accuracy"] = network.accuracy(dataset.x_test, dataset.y_test)
        network.save(args.output)
    except (CircuitkitError, ValueError) as error:
        print(f"train: error: {error}", file=sys.stderr)
        return 2
    print(f"{args.output}: {network.describe()}, test accuracy {network.metadata['test_accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
