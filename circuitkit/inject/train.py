"""Train BNN / TNN multilayer perceptrons in numpy: straight-through estimator, Adam,
batch-norm folded into thresholds at the end, optionally with error injection.

Latent real weights in [-1, 1] are quantized in the forward pass (sign for bnn; for tnn
zero below 0.7 * mean|w| of the layer, sign above, as in ternary weight networks);
gradients pass straight through the quantizer (masked where |w| > 1) and through sign
activations where the batch-normed pre-activation is within [-1, 1].

With error injection (`train_ber` > 0, or a transition matrix), every mini-batch sees
the quantized weights corrupted by a fresh draw of the same sampler used at
evaluation, so the network learns margins that survive misreads. At the end, the
batch-norm statistics are recomputed over the training set under the same regime and
folded into thresholds.

Reproduce the bundled networks (bit-identical with the same numpy build):

    python -m circuitkit.inject.train --kind bnn -o circuitkit/inject/pretrained/bnn_digits.npz
    python -m circuitkit.inject.train --kind tnn -o circuitkit/inject/pretrained/tnn_digits.npz
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.ber_table import BerTable, TransitionMatrix
from circuitkit.inject.data import Dataset, load_dataset
from circuitkit.inject.networks import KIND_ALPHABETS, KIND_SCHEMES, QuantizedMLP, thermometer
from circuitkit.inject.sampler import ErrorInjector, trial_generator

_BN_EPS = 1e-5
_TERNARY_DELTA = 0.7  # zero band of the ternarizer, as a fraction of mean |w| of the layer


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that determines a trained network (with the dataset)."""

    kind: str = "bnn"
    hidden: tuple[int, ...] = (256,)
    # Thermometer levels of the +-1 input code: three grey levels per pixel lift the
    # digits BNN from about 93 % (one level) to about 95-96 %.
    input_thresholds: tuple[float, ...] = (0.25, 0.5, 0.75)
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 0.01
    final_learning_rate: float = 0.0005
    seed: int = 0
    train_ber: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KIND_ALPHABETS:
            raise CircuitkitError(f"kind must be one of {tuple(KIND_ALPHABETS)}, got {self.kind!r}")
        if self.epochs < 1 or self.batch_size < 1 or any(h < 1 for h in self.hidden):
            raise CircuitkitError("epochs, batch_size and hidden sizes must be >= 1")
        if not 0.0 <= self.train_ber < 1.0:
            raise CircuitkitError(f"train_ber must be in [0, 1), got {self.train_ber!r}")


def quantize(latent: np.ndarray, kind: str) -> np.ndarray:
    """Latent real weights -> int8 weights of the kind's alphabet."""
    if kind == "bnn":
        return np.where(latent >= 0, 1, -1).astype(np.int8)
    delta = _TERNARY_DELTA * np.mean(np.abs(latent))
    return (np.sign(latent) * (np.abs(latent) > delta)).astype(np.int8)


class Adam:
    def __init__(self, params: list[np.ndarray], beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.params, self.beta1, self.beta2, self.eps = params, beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.step_count = 0

    def step(self, grads: list[np.ndarray], learning_rate: float) -> None:
        self.step_count += 1
        correction1 = 1 - self.beta1**self.step_count
        correction2 = 1 - self.beta2**self.step_count
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            p -= learning_rate * (m / correction1) / (np.sqrt(v / correction2) + self.eps)


def cosine_learning_rate(step: int, total_steps: int, start: float, end: float) -> float:
    """Cosine decay from `start` at step 0 to `end` at `total_steps`."""
    return end + 0.5 * (start - end) * (1 + np.cos(np.pi * step / total_steps))


def _training_transition(config: TrainingConfig, transition: TransitionMatrix | None) -> TransitionMatrix | None:
    if transition is not None:
        return transition
    if config.train_ber > 0:
        table = BerTable.symmetric(config.train_ber, KIND_SCHEMES[config.kind])
        return table.transition_matrix(table.conditions()[0])
    return None


def _effective_weights(
    latent: list[np.ndarray], config: TrainingConfig, transition: TransitionMatrix | None,
    seed: np.random.SeedSequence, draw: int,
) -> list[np.ndarray]:
    """Quantized weights, corrupted by one draw of the sampler when injecting."""
    quantized = [quantize(w, config.kind) for w in latent]
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


def single_blas_thread() -> contextlib.AbstractContextManager:
    # Mini-batch matmuls are small: extra BLAS threads only add overhead (measured 3-4x
    # slower on 2 cores) and contend with other work. threadpoolctl comes with
    # scikit-learn; without it, train as the environment says.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def train(
    dataset: Dataset,
    config: TrainingConfig = TrainingConfig(),
    *,
    transition: TransitionMatrix | None = None,
    progress: bool = False,
) -> QuantizedMLP:
    """Train a network on `dataset` and return it with batch-norm folded.

    Deterministic for a given config and dataset (one numpy Generator from `config.seed`
    drives initialisation and shuffling; injection draws come from child seeds).
    """
    with single_blas_thread():
        return _train(dataset, config, transition, progress)


def _train(
    dataset: Dataset, config: TrainingConfig, transition: TransitionMatrix | None, progress: bool
) -> QuantizedMLP:
    transition = _training_transition(config, transition)
    root = np.random.SeedSequence(config.seed)
    init_seed, shuffle_seed, inject_seed = root.spawn(3)
    rng = np.random.default_rng(init_seed)
    shuffle_rng = np.random.default_rng(shuffle_seed)
    sizes = (dataset.n_features * len(config.input_thresholds), *config.hidden, dataset.n_classes)
    latent = [rng.uniform(-1, 1, size=(fan_in, fan_out)) for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]
    gammas = [np.ones(fan_out) for fan_out in sizes[1:]]
    betas = [np.zeros(fan_out) for fan_out in sizes[1:]]
    optimizer = Adam([*latent, *gammas, *betas])
    n_layers = len(latent)
    h0_all = thermometer(dataset.x_train, config.input_thresholds).astype(np.float64)
    y_all = dataset.y_train
    steps_per_epoch = -(-y_all.size // config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    step = 0
    for epoch in range(config.epochs):
        order = shuffle_rng.permutation(y_all.size)
        for start in range(0, y_all.size, config.batch_size):
            batch = order[start:start + config.batch_size]
            if batch.size < 2:  # batch-norm needs at least two samples
                continue
            weights = _effective_weights(latent, config, transition, inject_seed, step)
            lr = cosine_learning_rate(step, total_steps, config.learning_rate, config.final_learning_rate)
            grads = _forward_backward(h0_all[batch], y_all[batch], weights, gammas, betas, dataset.n_classes)
            grad_w, grad_gamma, grad_beta = grads
            # Straight-through: the gradient w.r.t. the quantized weight updates the latent
            # one, except where the latent weight has already saturated.
            grad_latent = [g * (np.abs(w) <= 1) for g, w in zip(grad_w, latent)]
            optimizer.step([*grad_latent, *grad_gamma, *grad_beta], lr)
            for w in latent:
                np.clip(w, -1, 1, out=w)
            step += 1
        if progress:
            print(f"epoch {epoch + 1}/{config.epochs}", file=sys.stderr)

    # Fold batch-norm with population statistics of the clean weights over the whole
    # training set (calibrating under injected errors instead cost 1-3 points of clean
    # accuracy and gained nothing at BER 1e-2 on digits).
    weights = [quantize(w, config.kind) for w in latent]
    h = h0_all
    thresholds, directions = [], []
    for index in range(n_layers):
        a = h @ weights[index]
        mean, std = a.mean(axis=0), np.sqrt(a.var(axis=0) + _BN_EPS)
        if index < n_layers - 1:
            gamma, beta = gammas[index], betas[index]
            safe_gamma = np.where(gamma == 0, 1.0, gamma)
            threshold = np.where(gamma == 0, np.where(beta >= 0, -np.inf, np.inf), mean - beta * std / safe_gamma)
            direction = np.where(gamma < 0, -1, 1).astype(np.int8)
            thresholds.append(threshold)
            directions.append(direction)
            h = np.where(direction * (a - threshold) >= 0, 1.0, -1.0)
        else:
            output_scale = gammas[index] / std
            output_bias = betas[index] - mean * output_scale
    network = QuantizedMLP(
        kind=config.kind,
        weights=tuple(weights),
        thresholds=tuple(thresholds),
        directions=tuple(directions),
        output_scale=output_scale,
        output_bias=output_bias,
        input_thresholds=config.input_thresholds,
        metadata={"dataset": dataset.name, "training": asdict(config)},
    )
    return network


def _forward_backward(
    h0: np.ndarray, y: np.ndarray, weights: list[np.ndarray], gammas: list[np.ndarray], betas: list[np.ndarray],
    n_classes: int,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """One mini-batch: batch-norm with batch statistics, sign activations, softmax
    cross-entropy; returns gradients w.r.t. the (quantized) weights, gammas and betas."""
    n_layers = len(weights)
    inputs, normalized, inv_stds, pre_signs = [], [], [], []
    h = h0
    for index, w in enumerate(weights):
        inputs.append(h)
        a = h @ w
        inv_std = 1.0 / np.sqrt(a.var(axis=0) + _BN_EPS)
        a_hat = (a - a.mean(axis=0)) * inv_std
        z = gammas[index] * a_hat + betas[index]
        normalized.append(a_hat)
        inv_stds.append(inv_std)
        pre_signs.append(z)
        if index < n_layers - 1:
            h = np.where(z >= 0, 1.0, -1.0)
    logits = pre_signs[-1]
    logits = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    dz = probabilities - np.eye(n_classes)[y]
    dz /= y.size
    grad_w: list[np.ndarray] = [np.empty(0)] * n_layers
    grad_gamma: list[np.ndarray] = [np.empty(0)] * n_layers
    grad_beta: list[np.ndarray] = [np.empty(0)] * n_layers
    for index in range(n_layers - 1, -1, -1):
        if index < n_layers - 1:
            dz = dz * (np.abs(pre_signs[index]) <= 1)  # straight-through sign (hard tanh)
        a_hat = normalized[index]
        grad_gamma[index] = (dz * a_hat).sum(axis=0)
        grad_beta[index] = dz.sum(axis=0)
        d_a_hat = dz * gammas[index]
        batch = a_hat.shape[0]
        da = inv_stds[index] / batch * (batch * d_a_hat - d_a_hat.sum(axis=0) - a_hat * (d_a_hat * a_hat).sum(axis=0))
        grad_w[index] = inputs[index].T @ da
        if index > 0:
            dz = da @ weights[index].T
    return grad_w, grad_gamma, grad_beta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m circuitkit.inject.train",
        description="Train a BNN or TNN multilayer perceptron (STE + Adam) and save it as .npz.",
    )
    defaults = TrainingConfig()
    parser.add_argument("--kind", choices=tuple(KIND_ALPHABETS), default=defaults.kind)
    parser.add_argument("--dataset", default="digits", help="'digits' (bundled, default) or 'mnist:DIRECTORY' with the IDX files")
    parser.add_argument("--hidden", default=",".join(map(str, defaults.hidden)), help="hidden layer sizes, comma-separated")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--train-ber", type=float, default=defaults.train_ber,
                        help="inject symmetric errors at this rate while training (0: off)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="where to write the .npz")
    args = parser.parse_args(argv)
    try:
        dataset = load_dataset(args.dataset)
        config = TrainingConfig(
            kind=args.kind, hidden=tuple(int(h) for h in args.hidden.split(",") if h),
            epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
            seed=args.seed, train_ber=args.train_ber,
        )
        network = train(dataset, config, progress=True)
        network.metadata["test_accuracy"] = network.accuracy(dataset.x_test, dataset.y_test)
        network.save(args.output)
    except CircuitkitError as error:
        print(f"train: error: {error}", file=sys.stderr)
        return 2
    print(f"{args.output}: {config.kind} {network.layer_sizes}, test accuracy {network.metadata['test_accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
