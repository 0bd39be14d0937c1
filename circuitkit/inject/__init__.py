"""inject stage: bit errors from a bit-error table into BNN/TNN weights, and accuracy.

- `sampler.ErrorInjector`: seeded, vectorized corrupted copies of integer weights.
- `networks.QuantizedMLP`: BNN/TNN inference with folded batch-norm; `.npz` weight files.
- `train.train`: STE + Adam training, optionally with error injection.
- `data`: offline digits (default), MNIST IDX reader.
- `accuracy`: accuracy mean / std / 95 % interval per condition; CSV and plot.
- `cli`: `circuitkit inject`.
"""
