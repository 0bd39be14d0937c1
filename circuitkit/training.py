"""Shared numpy training machinery: the Adam optimiser, a cosine learning-rate schedule,
and one BLAS thread for reproducible training.

The networks of `circuitkit.inject.train` (BNN/TNN) and of `circuitkit.snn.train` (the
SNN's tanh layer) both train with these, so neither stage imports the other's trainer.

Neutral ground: it imports no stage.
"""

from __future__ import annotations

import contextlib

import numpy as np


class Adam:
    """Adam (Kingma & Ba, 2015) updating `params` in place: bias-corrected first and second
    moment estimates per parameter array, step size given per call (the schedule's)."""

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


def single_blas_thread() -> contextlib.AbstractContextManager:
    # Mini-batch matmuls are small: extra BLAS threads add overhead (measured 3-4x slower
    # on 2 cores for the perceptrons), contend with other work, and a fixed thread count
    # keeps the summation order, hence the trained weights, reproducible. threadpoolctl
    # comes with scikit-learn; without it, train as the environment says.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)
