"""Hybrid training (Yao et al., Nature 2020): a CNN trained in software, transferred to
simulated multi-level crossbars, then only its last layer retrained in situ through the
simulated hardware.

Transfer. Every weight layer of `learn.cnn.Cnn` becomes an `AnalogLinear` (differential
pairs of N-level cells, each programmed by write-verify with the fitted pulse model,
wires, read noise on every read, bit-serial 8-bit inputs, 8-bit ADCs; see
`crossbar.layer`). The bias is one more row driven at full scale. Layer inputs are
quantised over [0, x_max], x_max the 99.9th percentile of the software network's
activations on training images; the ADC full scales are calibrated on the same images.
Each chip is an independent programming of all layers (its own random numbers).

In-situ retraining. Images go through the chip (convolutions on the arrays, their read
noise and programming errors included); the last layer's weight gradient is formed from
what the chip produced (its feature maps and its output currents), the intended weights
of that layer take an Adam step, and the cells whose target level changed are
write-verified again from their present state, each with its own rate offset (the same
physical cell, `crossbar.layer.AnalogLinear.reprogram`), the others keeping what they
hold. This is
how the chip absorbs what transfer got wrong: the last layer learns the features the
convolution arrays really compute and the conductances its own cells really hold.

Accuracy is measured on the test images through each chip, read noise on; intervals are
Student-t over chips (and Clopper-Pearson over the images for the software network).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.crossbar.layer import AnalogLinear, CrossbarConfig, Programmer
from circuitkit.inject.data import Dataset
from circuitkit.learn.cnn import Cnn, _softmax, class_interleaved
from circuitkit.stats import binomial_interval, mean_interval
from circuitkit.training import Adam

PUBLISHED = {"accuracy": 0.9619, "source": "Yao et al., Nature 2020: five-layer CNN on 8 x 128 x 16 1T1R arrays, "
                                          "32 levels, hybrid training, 10,000 MNIST test images"}
ACTIVATION_QUANTILE = 0.999


@dataclasses.dataclass(frozen=True)
class HybridConfig:
    """What a hybrid-training experiment runs (the hardware is `crossbar`, whose level
    count is replaced by each entry of `levels`)."""

    levels: tuple[int, ...] = (8, 16, 32)
    chips: int = 8
    retrain_epochs: int = 2
    retrain_batch: int = 100
    retrain_learning_rate: float = 2e-3
    train_images: int | None = None  # None: all
    test_images: int | None = None
    calibration_images: int = 200
    crossbar: CrossbarConfig = CrossbarConfig()
    seed: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(int(n) for n in self.levels))
        if self.chips < 2:
            raise CircuitkitError(f"hybrid training: chips={self.chips}: at least 2 for an interval over chips")

    def describe(self) -> dict[str, Any]:
        return {**{k: v for k, v in dataclasses.asdict(self).items() if k != "crossbar"},
                "crossbar": self.crossbar.describe()}


@dataclasses.dataclass
class HardwareCnn:
    """The CNN on one chip: one `AnalogLinear` per weight layer and its input scales."""

    cnn: Cnn
    layers: list[AnalogLinear]
    x_max: list[float]

    def linear(self, rng: np.random.Generator | None) -> Callable[[int, np.ndarray], np.ndarray]:
        def run(index: int, columns: np.ndarray) -> np.ndarray:
            bias_input = np.full((columns.shape[0], 1), self.x_max[index])
            return self.layers[index](np.hstack([np.minimum(columns, self.x_max[index]), bias_input]), rng)
        return run

    def accuracy(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, chunk: int = 250) -> float:
        correct = 0
        for start in range(0, y.size, chunk):
            correct += int(np.sum(self.cnn.predict(x[start:start + chunk], self.linear(rng)) == y[start:start + chunk]))
        return correct / y.size


def _augmented(matrix: np.ndarray, x_max: float) -> np.ndarray:
    """Weights with the bias row scaled for a bias input driven at x_max."""
    return np.vstack([matrix[:-1], matrix[-1:] / x_max])


def activation_scales(cnn: Cnn, x: np.ndarray) -> list[float]:
    inputs = cnn.layer_inputs(x)
    return [1.0] + [float(np.quantile(a, ACTIVATION_QUANTILE)) for a in inputs[1:]]


def transfer(cnn: Cnn, programmer: Programmer, rng: np.random.Generator, calibration: np.ndarray) -> HardwareCnn:
    """Program one chip with the software CNN and calibrate its ADCs."""
    x_max = activation_scales(cnn, calibration)
    layers = [AnalogLinear.program(_augmented(m, s), programmer.config, programmer, rng, x_max=s)
              for m, s in zip(cnn.matrices, x_max)]
    for layer, columns, s in zip(layers, cnn.layer_inputs(calibration), x_max):
        layer.calibrate(np.hstack([np.minimum(columns, s), np.full((columns.shape[0], 1), s)]))
    return HardwareCnn(cnn, layers, x_max)


def retrain_last_layer(chip: HardwareCnn, x: np.ndarray, y: np.ndarray, config: HybridConfig,
                       rng: np.random.Generator) -> dict[str, Any]:
    """In-situ retraining of the chip's last layer (see the module doc)."""
    last = chip.layers[-1]
    intended = last.weights.copy()
    optimizer = Adam([intended])
    order_rng = np.random.default_rng(rng.integers(2**63))
    rewritten = pulses = steps = 0
    features: dict[str, np.ndarray] = {}

    def capture(index: int, columns: np.ndarray) -> np.ndarray:
        if index == len(chip.layers) - 1:
            features["x"] = np.hstack([np.minimum(columns, chip.x_max[index]),
                                       np.full((columns.shape[0], 1), chip.x_max[index])])
        return chip.linear(rng)(index, columns)

    for _ in range(config.retrain_epochs):
        order = order_rng.permutation(y.size)
        for start in range(0, y.size, config.retrain_batch):
            batch = order[start:start + config.retrain_batch]
            logits = chip.cnn.forward(x[batch], capture)
            grad = features["x"].T @ ((_softmax(logits) - np.eye(logits.shape[1])[y[batch]]) / batch.size)
            optimizer.step([grad], config.retrain_learning_rate * last.w_max)
            np.clip(intended, -last.w_max, last.w_max, out=intended)
            result = last.reprogram(intended, rng)
            if result is not None:
                rewritten += len(result)
                pulses += int(result.pulses.sum())
            steps += 1
    return {"steps": steps, "cells_rewritten": rewritten, "pulses": pulses}


def run_hybrid(cnn: Cnn, dataset: Dataset, config: HybridConfig, *, pulse_card=None, start_card=None,
               log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Software accuracy, then per level count and chip: accuracy after transfer and after
    hybrid retraining (all through the chip), with intervals over chips."""
    train = class_interleaved(dataset.y_train, config.train_images)
    test = class_interleaved(dataset.y_test, config.test_images)
    x_train, y_train = dataset.x_train[train], dataset.y_train[train]
    x_test, y_test = dataset.x_test[test], dataset.y_test[test]
    calibration = x_train[:config.calibration_images]
    software_correct = int(np.sum(cnn.predict(x_test) == y_test))
    software = binomial_interval(software_correct, y_test.size)
    rows, per_chip = [], []
    for levels in config.levels:
        hardware = dataclasses.replace(config.crossbar, levels=levels)
        programmer = Programmer(hardware, pulse_card, start_card)
        seeds = np.random.SeedSequence([config.seed, levels]).spawn(config.chips)
        transferred, retrained = [], []
        started = time.perf_counter()
        for chip_index, seed in enumerate(seeds):
            rng = np.random.default_rng(seed)
            chip = transfer(cnn, programmer, rng, calibration)
            before = chip.accuracy(x_test, y_test, rng)
            programming = [layer.describe() for layer in chip.layers]
            work = retrain_last_layer(chip, x_train, y_train, config, rng)
            after = chip.accuracy(x_test, y_test, rng)
            transferred.append(before)
            retrained.append(after)
            per_chip.append({"levels": levels, "chip": chip_index, "after_transfer": before, "after_retraining": after,
                             "cells_in_band": [p["programmed_in_band"] for p in programming],
                             "pulses_per_cell": [p["pulses_per_cell"] for p in programming], **work})
            if log:
                log(f"hybrid: {levels} levels, chip {chip_index + 1}/{config.chips}: transfer {before:.3f}, "
                    f"retrained {after:.3f}")
        t_int, r_int = mean_interval(transferred), mean_interval(retrained)
        gain = mean_interval(np.asarray(retrained) - np.asarray(transferred))
        rows.append({"levels": levels, "chips": config.chips, "test_images": int(y_test.size),
                     "software": software.estimate,
                     # Student-t over a few chips can reach past what an accuracy can be: clipped
                     "after_transfer": t_int.mean, "after_transfer_ci_low": max(t_int.low, 0.0),
                     "after_transfer_ci_high": min(t_int.high, 1.0),
                     "after_retraining": r_int.mean, "after_retraining_ci_low": max(r_int.low, 0.0),
                     "after_retraining_ci_high": min(r_int.high, 1.0),
                     "gain": gain.mean, "gain_ci_low": max(gain.low, -1.0), "gain_ci_high": min(gain.high, 1.0),
                     "seconds": time.perf_counter() - started})
    return {"software": {"accuracy": software.estimate, "ci_low": software.low, "ci_high": software.high,
                         "test_images": int(y_test.size)},
            "rows": rows, "chips": per_chip, "published": PUBLISHED, "config": config.describe(),
            "drift": "off (no relaxation model applied: the reads are fresh)",
            "read_noise": programmer.read_noise_source}
