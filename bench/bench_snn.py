"""Benchmark of the event-driven SNN simulator (prints figures, never fails on time).

Measures, in the same run:
- the vectorized simulator (`simulate`: loop over event index, all chips x images x
  neurons as arrays, spikes between events in closed form), on the 12x12 MNIST test set
  (1,000 images);
- the naive baseline (`scalar_reference`: a Python loop over images, neurons and events
  with spikes emitted one at a time), on a subset, scaled per image and chip;
and prints both as synaptic events per second with their ratio. Both give the same spike
counts (checked here on the subset, and in tests/test_snn_simulate.py).

    .venv/bin/python bench/bench_snn.py
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from circuitkit.snn.simulate import RateCoding, build_chips, scalar_reference, simulate
from circuitkit.snn.table import load_table
from circuitkit.snn.train import load_snn_dataset, train_snn_weights


def best_of(repeats: int, function) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    mnist = load_snn_dataset()
    weights = train_snn_weights(mnist).weights
    table = load_table()
    # Read noise off so the baseline (which has none) computes the same thing.
    table = dataclasses.replace(table, synapse=dataclasses.replace(table.synapse, read_noise_rel=0.0))
    coding = RateCoding()
    x = mnist.x_test
    n_out = weights.shape[1]
    print(f"{mnist.name} test set: {x.shape[0]} images, {x.shape[1]} inputs x {n_out} neurons, {coding.kind} coding "
          f"(about {coding.max_spikes * x.sum(axis=1).mean():.0f} input spikes per image)")
    for chips_count in (1, 20):
        chips = build_chips(weights, table, chips_count, seed=0, device=table.device())
        seconds, run = best_of(3, lambda: simulate(chips, x, coding, table.neuron, seed=0))
        rate = run.input_spikes.sum() * n_out / seconds  # the 20-chip rate is the one compared below
        print(f"vectorized, {chips_count:>2} chips: {seconds:7.3f} s, {rate:12.3g} synaptic events/s, "
              f"{seconds / (chips_count * x.shape[0]) * 1e6:8.1f} us per image and chip")
    subset = x[:40]
    chips = build_chips(weights, table, 1, seed=0, device=table.device())
    naive_seconds, (positive, negative) = best_of(1, lambda: scalar_reference(chips, subset, coding, table.neuron))
    fast_seconds, run = best_of(3, lambda: simulate(chips, subset, coding, table.neuron, seed=0))
    same = np.array_equal(run.positive[0], positive) and np.array_equal(run.negative[0], negative)
    naive_rate = run.input_spikes.sum() * n_out / naive_seconds
    print(f"naive loop, 1 chip, {subset.shape[0]} images: {naive_seconds:7.3f} s, {naive_rate:12.3g} synaptic events/s "
          f"(same spike counts as the vectorized run: {same})")
    print(f"ratio vectorized (20 chips x {x.shape[0]} images) / naive: {rate / naive_rate:.0f}x synaptic events per second")


if __name__ == "__main__":
    main()
