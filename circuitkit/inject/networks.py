"""Binarized (BNN) and ternary-weight (TNN) networks in numpy, fully connected or
convolutional, with batch-norm folded into per-channel thresholds, as a 2T2R + PCSA
array computes them.

A network is a sequence of layers applied to the thermometer code of an image:

    h_0 = thermometer(x)       x (N, rows, cols) in [0, 1] -> (N, rows, cols, K) of +-1, one
                               channel per level of `input_thresholds` (+1 where x >= level)
    Conv2d   a = h * W         W int8 (kh, kw, c_in, c_out), stride 1, `padding` zeros around
                               the image (a zero input adds nothing: the term is skipped)
    Dense    a = flat(h) @ W   W int8 (fan_in, fan_out); flat() is C order over (rows, cols, channels)
    Sign     h = +1 where direction * (a - threshold) >= 0 else -1, per channel or neuron
    MaxPool2d                  max over size x size windows of +-1 maps (an OR), floor-cropped
    output   scores = a_last * output_scale + output_bias;  prediction = argmax(scores)

Weights W are in {-1, +1} (bnn) or {-1, 0, +1} (tnn). Every weight layer except the last
is followed by a Sign (the folded batch-norm); the last is a Dense layer whose batch-norm
is the affine output map. For +-1 vectors, a = h @ W equals 2 * popcount(XNOR(h, W)) -
fan_in, the operation the sense amplifier computes (`xnor_popcount` is that bit-level
form; a test proves both agree). A batch-norm sign(gamma * (a - mean) / sqrt(var + eps) +
beta) folds to threshold = mean - beta * sqrt(var + eps) / gamma, direction = sign(gamma);
max-pooling after the sign equals sign after max-pooling the batch-normed values (sign
is monotone), so training may pool either.

Weight file (.npz, `save` / `load`), format "circuitkit-qnet-v2"; keys and arrays:

    format            0-d str   "circuitkit-qnet-v2"
    kind              0-d str   "bnn" or "tnn"
    input_shape       int64 (2,) rows, cols of one image (a flattened input of rows*cols
                                 pixels is folded in C order)
    input_thresholds  float64 (K,) thermometer levels: the K input channels
    layer_<i>_type    0-d str   "conv2d" | "dense" | "sign" | "maxpool2d", for i = 0..L-1 in order
    layer_<i>_weight  int8      conv2d (kh, kw, c_in, c_out) or dense (fan_in, fan_out)
    layer_<i>_padding 0-d int   conv2d only
    layer_<i>_threshold float64 (C,) and layer_<i>_direction int8 (C,) of +-1: sign only
    layer_<i>_size    0-d int   maxpool2d only
    output_scale      float64 (n_classes,)   the output batch-norm as an affine map
    output_bias       float64 (n_classes,)
    metadata          0-d str   JSON, optional: how the weights were made

The older multilayer-perceptron files ("circuitkit-qmlp-v1": weight_<l>, threshold_<l>,
direction_<l>, inputs coded threshold-major) still load. Networks trained in PyTorch
come in through `circuitkit.inject.imports` (state_dict, NCHW conventions converted).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import numpy.typing as npt

from circuitkit import CircuitkitError
from circuitkit.ber_table import SCHEME_ALPHABETS

NETWORK_FORMAT = "circuitkit-qnet-v2"
MLP_FORMAT_V1 = "circuitkit-qmlp-v1"
# Which bit-error-table scheme stores each kind of network; its alphabet is the weights'.
KIND_SCHEMES: dict[str, str] = {"bnn": "binary", "tnn": "ternary"}
KIND_ALPHABETS: dict[str, tuple[int, ...]] = {kind: SCHEME_ALPHABETS[scheme] for kind, scheme in KIND_SCHEMES.items()}


class NetworkError(CircuitkitError):
    """A network or weight file is malformed."""


# --------------------------------------------------------------------------- layers


@dataclass(frozen=True, eq=False)
class Conv2d:
    """Binary/ternary convolution, stride 1; weight (kh, kw, c_in, c_out)."""

    weight: np.ndarray
    padding: int = 0

    type = "conv2d"

    @property
    def matrix_shape(self) -> tuple[int, int]:
        """(rows, columns) of the weight as an array stores it: one column per output
        channel, kh * kw * c_in rows (the patch the column's sense amplifier reads)."""
        kh, kw, c_in, c_out = self.weight.shape
        return kh * kw * c_in, c_out


@dataclass(frozen=True, eq=False)
class Dense:
    """Binary/ternary fully connected layer; weight (fan_in, fan_out)."""

    weight: np.ndarray

    type = "dense"

    @property
    def matrix_shape(self) -> tuple[int, int]:
        return tuple(self.weight.shape)  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class Sign:
    """Folded batch-norm + sign: +1 where direction * (a - threshold) >= 0, per channel."""

    threshold: np.ndarray
    direction: np.ndarray

    type = "sign"

    def integer_threshold(self) -> np.ndarray:
        """The same decision for integer pre-activations a, as exact float32 numbers:
        a >= t  <=>  a >= ceil(t);  a <= t  <=>  a <= floor(t). So float32 arithmetic
        decides exactly as the float64 threshold does."""
        return np.where(self.direction > 0, np.ceil(self.threshold), np.floor(self.threshold)).astype(np.float32)


@dataclass(frozen=True)
class MaxPool2d:
    """Max over size x size windows (stride size, floor-cropped) of a +-1 map."""

    size: int

    type = "maxpool2d"


Layer = Union[Conv2d, Dense, Sign, MaxPool2d]
WeightLayer = Union[Conv2d, Dense]
LAYER_TYPES = {cls.type: cls for cls in (Conv2d, Dense, Sign, MaxPool2d)}


def binarize(values: np.ndarray, threshold: float | np.ndarray = 0.0) -> np.ndarray:
    """+1 where values >= threshold, else -1 (float32, ready for matmul)."""
    return np.where(values >= threshold, np.float32(1), np.float32(-1))


def thermometer(x: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """+-1 thermometer code of inputs in [0, 1]: one new last axis of K channels
    (channel k is +1 where x >= thresholds[k])."""
    x = np.asarray(x)
    return np.stack([binarize(x, t) for t in thresholds], axis=-1)


def patches(h: np.ndarray, kh: int, kw: int, padding: int = 0) -> np.ndarray:
    """im2col: (..., H, W, C) -> (..., H', W', kh * kw * C), each patch in (kh, kw, C)
    C order, so that patches @ W.reshape(-1, c_out) is the stride-1 convolution."""
    if padding:
        pad = [(0, 0)] * (h.ndim - 3) + [(padding, padding), (padding, padding), (0, 0)]
        h = np.pad(h, pad)
    windows = np.lib.stride_tricks.sliding_window_view(h, (kh, kw), axis=(-3, -2))  # (..., H', W', C, kh, kw)
    windows = np.moveaxis(windows, -3, -1)  # (..., H', W', kh, kw, C)
    return windows.reshape(*windows.shape[:-3], kh * kw * h.shape[-1])


def max_pool(h: np.ndarray, size: int) -> np.ndarray:
    """(..., H, W, C) -> (..., H // size, W // size, C), max over each window."""
    rows, cols = h.shape[-3] // size, h.shape[-2] // size
    # Elementwise maxima of the size * size strided views: much faster than a reduction
    # over two inner axes.
    out = h[..., 0:rows * size:size, 0:cols * size:size, :].copy()
    for dy in range(size):
        for dx in range(size):
            if dy or dx:
                np.maximum(out, h[..., dy:rows * size:size, dx:cols * size:size, :], out=out)
    return out


# --------------------------------------------------------------------------- network


@dataclass(frozen=True, eq=False)
class QuantizedNetwork:
    """A BNN or TNN with folded batch-norm; see the module docstring for the maths."""

    kind: str
    layers: tuple[Layer, ...]
    output_scale: np.ndarray
    output_bias: np.ndarray
    input_shape: tuple[int, int]
    input_thresholds: tuple[float, ...] = (0.5,)
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        object.__setattr__(self, "input_thresholds", tuple(float(t) for t in self.input_thresholds))
        object.__setattr__(self, "layers", tuple(self.layers))
        _check_network(self, "network")

    # ------------------------------------------------------------------ shape
    @property
    def alphabet(self) -> tuple[int, ...]:
        return KIND_ALPHABETS[self.kind]

    @property
    def scheme(self) -> str:
        return KIND_SCHEMES[self.kind]

    @property
    def weight_layers(self) -> tuple[WeightLayer, ...]:
        return tuple(layer for layer in self.layers if isinstance(layer, (Conv2d, Dense)))

    @property
    def weights(self) -> tuple[np.ndarray, ...]:
        return tuple(layer.weight for layer in self.weight_layers)

    @property
    def n_weights(self) -> int:
        return sum(w.size for w in self.weights)

    @property
    def n_classes(self) -> int:
        return int(self.output_scale.size)

    @property
    def n_pixels(self) -> int:
        return int(np.prod(self.input_shape))

    def activation_shapes(self) -> list[tuple[int, ...]]:
        """Per-image shape after every layer (the input code first)."""
        shape: tuple[int, ...] = (*self.input_shape, len(self.input_thresholds))
        shapes = [shape]
        for layer in self.layers:
            shape = _output_shape(layer, shape)
            shapes.append(shape)
        return shapes

    def describe(self) -> str:
        """One line: the architecture and the weight count."""
        parts = [f"{self.input_shape[0]}x{self.input_shape[1]}x{len(self.input_thresholds)}"]
        for layer in self.layers:
            if isinstance(layer, Conv2d):
                kh, kw, _, c_out = layer.weight.shape
                parts.append(f"conv{kh}x{kw}:{c_out}" + (f"p{layer.padding}" if layer.padding else ""))
            elif isinstance(layer, Dense):
                parts.append(f"dense:{layer.weight.shape[1]}")
            elif isinstance(layer, MaxPool2d):
                parts.append(f"pool{layer.size}")
        return f"{self.kind} {'-'.join(parts)} ({self.n_weights:,} weights)"

    def flat_weights(self) -> np.ndarray:
        """All weights in one int8 vector: layer by layer, each in C order of its shape."""
        return np.concatenate([w.ravel() for w in self.weights])

    def layer_slices(self) -> list[slice]:
        """Where each weight layer sits in `flat_weights()`."""
        slices, start = [], 0
        for w in self.weights:
            slices.append(slice(start, start + w.size))
            start += w.size
        return slices

    def split_flat(self, flat: np.ndarray) -> list[np.ndarray]:
        """Inverse of `flat_weights` for a (..., n_weights) array -> per-layer weights
        with the same leading axes."""
        return [flat[..., s].reshape(*flat.shape[:-1], *w.shape) for s, w in zip(self.layer_slices(), self.weights)]

    # ------------------------------------------------------------------ inference
    def encode(self, x: np.ndarray) -> np.ndarray:
        """Images (N, pixels) or (N, rows, cols) in [0, 1] -> the +-1 code (N, rows, cols, K)."""
        x = np.asarray(x)
        if x.ndim == 2 and x.shape[1] == self.n_pixels:
            x = x.reshape(x.shape[0], *self.input_shape)
        if x.ndim != 3 or tuple(x.shape[1:]) != self.input_shape:
            raise NetworkError(
                f"inputs of shape {x.shape} do not fit the network: expected (N, {self.n_pixels}) or "
                f"(N, {self.input_shape[0]}, {self.input_shape[1]}) images"
            )
        return thermometer(x, self.input_thresholds)

    def scores(self, x: np.ndarray, weights: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Class scores for images x (see `encode`).

        `weights` replaces the network's own, weight layer by weight layer; each may carry
        one leading trial axis (T, *shape), giving scores of shape (T, N, n_classes): many
        corrupted copies evaluated in batched matmuls.
        """
        replacement = list(self.weights if weights is None else weights)
        if len(replacement) != len(self.weight_layers):
            raise NetworkError(f"expected {len(self.weight_layers)} weight arrays, got {len(replacement)}")
        trials = any(w.ndim == layer.weight.ndim + 1 for w, layer in zip(replacement, self.weight_layers))
        h = self.encode(x)[None]  # (B, N, rows, cols, K), B = 1 until trial weights split it
        weight_iter: Iterator[np.ndarray] = iter(replacement)
        a = None
        for layer in self.layers:
            if isinstance(layer, (Conv2d, Dense)):
                w = np.asarray(next(weight_iter)).astype(np.float32)
                if w.ndim == layer.weight.ndim:
                    w = w[None]  # one copy, broadcast over B
                if isinstance(layer, Conv2d):
                    kh, kw, c_in, c_out = layer.weight.shape
                    cols = patches(h, kh, kw, layer.padding)  # (B, N, H', W', kh*kw*c_in)
                    lead = cols.shape[:-1]
                    # float32 matmul is exact here: |a| <= fan_in < 2**24.
                    a = np.matmul(cols.reshape(cols.shape[0], -1, cols.shape[-1]), w.reshape(w.shape[0], -1, c_out))
                    a = a.reshape(a.shape[0], *lead[1:], c_out)
                else:
                    flat = h.reshape(h.shape[0], h.shape[1], -1)
                    a = np.matmul(flat, w)
                h = a
            elif isinstance(layer, Sign):
                h = binarize(layer.direction * (h - layer.integer_threshold()), 0.0)
            else:
                h = max_pool(h, layer.size)
        scores = a * self.output_scale + self.output_bias
        return scores if trials else scores[0]

    def predict(self, x: np.ndarray, weights: Sequence[np.ndarray] | None = None) -> np.ndarray:
        return np.argmax(self.scores(x, weights), axis=-1)

    def accuracy(self, x: np.ndarray, y: np.ndarray, weights: Sequence[np.ndarray] | None = None) -> np.ndarray | float:
        """Fraction of correct predictions; an array over trials when `weights` has a trial axis."""
        correct = self.predict(x, weights) == np.asarray(y)
        result = correct.mean(axis=-1)
        return float(result) if np.ndim(result) == 0 else result

    def bytes_per_image_trial(self) -> int:
        """Working memory of one image under one trial's weights during `scores`
        (float32 activations of every layer and the im2col patches), for chunking."""
        total = 0
        shape = self.activation_shapes()[0]
        for layer in self.layers:
            out = _output_shape(layer, shape)
            total += 4 * int(np.prod(out))
            if isinstance(layer, Conv2d):
                total += 4 * int(np.prod(out[:2])) * layer.matrix_shape[0]
            shape = out
        return 2 * total  # room for temporaries (casts, comparisons)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "format": np.array(NETWORK_FORMAT),
            "kind": np.array(self.kind),
            "input_shape": np.asarray(self.input_shape, dtype=np.int64),
            "input_thresholds": np.asarray(self.input_thresholds, dtype=np.float64),
            "output_scale": np.asarray(self.output_scale, dtype=np.float64),
            "output_bias": np.asarray(self.output_bias, dtype=np.float64),
            "metadata": np.array(json.dumps(self.metadata, sort_keys=True)),
        }
        for index, layer in enumerate(self.layers):
            key = f"layer_{index}_"
            arrays[key + "type"] = np.array(layer.type)
            if isinstance(layer, (Conv2d, Dense)):
                arrays[key + "weight"] = np.asarray(layer.weight, dtype=np.int8)
                if isinstance(layer, Conv2d):
                    arrays[key + "padding"] = np.array(layer.padding, dtype=np.int64)
            elif isinstance(layer, Sign):
                arrays[key + "threshold"] = np.asarray(layer.threshold, dtype=np.float64)
                arrays[key + "direction"] = np.asarray(layer.direction, dtype=np.int8)
            else:
                arrays[key + "size"] = np.array(layer.size, dtype=np.int64)
        with path.open("wb") as handle:  # a file handle keeps numpy from appending ".npz"
            np.savez_compressed(handle, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> QuantizedNetwork:
        """Read a weight file (v2, or a v1 perceptron); errors name the file and the key at fault."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
        except (OSError, ValueError) as error:
            raise NetworkError(f"{path}: cannot read network weights (.npz expected): {error}") from None
        try:
            fmt = str(_take(arrays, "format"))
            if fmt == MLP_FORMAT_V1:
                return _load_mlp_v1(cls, arrays)
            if fmt != NETWORK_FORMAT:
                raise NetworkError(f"format {fmt!r}, expected {NETWORK_FORMAT!r} (or {MLP_FORMAT_V1!r})")
            return _load_v2(cls, arrays)
        except NetworkError as error:
            raise NetworkError(f"{path}: {error}") from None


class IncrementalForward:
    """Scores of many corrupted copies of one network on the same images, computed as
    changes to the clean network's activations (exactly the same numbers as `scores`).

    At the error rates that matter a copy differs from the clean weights in a handful of
    positions, and its activations differ in a few channels: a weight error (i, j) adds
    (w' - w) * input_i to output j only; a changed input channel adds the convolution of
    its change alone. The clean activations are computed once; each copy recomputes only
    the channels that changed, and falls back to the full layer when too much changed.
    Pre-activations are integers held in float32, so every path gives identical results
    (a test checks it against `scores`).
    """

    # Above this fraction of changed input channels (or of erroneous weights, for the
    # per-weight updates) a layer is recomputed in full.
    DENSE_FRACTION = 0.5
    MAX_WEIGHT_UPDATES = 256

    def __init__(self, network: QuantizedNetwork, x: np.ndarray) -> None:
        self.network = network
        h = network.encode(x)
        self.inputs: list[np.ndarray] = []
        self.outputs: list[np.ndarray] = []
        for layer in network.layers:
            self.inputs.append(h)
            h = _apply(layer, h, layer.weight if isinstance(layer, (Conv2d, Dense)) else None)
            self.outputs.append(h)
        self.clean_scores = h * network.output_scale + network.output_bias

    def scores(self, weights: Sequence[np.ndarray]) -> np.ndarray:
        """Scores (N, n_classes) under one copy of the weights (no trial axis)."""
        net = self.network
        # The state between layers: which channels (last axis) differ from the clean
        # activation, and their values there.
        dirty = np.empty(0, dtype=np.int64)
        values: np.ndarray | None = None
        weight_iter = iter(weights)
        for index, layer in enumerate(net.layers):
            clean_in, clean_out = self.inputs[index], self.outputs[index]
            if isinstance(layer, (Conv2d, Dense)):
                corrupted = np.asarray(next(weight_iter))
                dirty, values = self._weight_layer(layer, corrupted, clean_in, clean_out, dirty, values)
                continue
            if dirty.size == 0:
                continue
            if isinstance(layer, Sign):
                sign = Sign(layer.threshold[dirty], layer.direction[dirty])
                values = _apply(sign, values, None)
            else:
                values = max_pool(values, layer.size)
            if index + 1 < len(net.layers) and isinstance(net.layers[index + 1], (Conv2d, Dense)):
                # Channels that came back to their clean values are clean again.
                changed = _changed_channels(values, clean_out[..., dirty])
                dirty, values = dirty[changed], values[..., changed]
        scores = self.clean_scores.copy()
        if dirty.size:
            scores[:, dirty] = values * net.output_scale[dirty] + net.output_bias[dirty]
        return scores

    def _weight_layer(self, layer: WeightLayer, corrupted: np.ndarray, clean_in: np.ndarray, clean_out: np.ndarray,
                      dirty: np.ndarray, values: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        delta_w = corrupted.astype(np.int8) - layer.weight
        errors = np.nonzero(delta_w)
        out_errors = np.unique(errors[-1])
        channels_in = clean_in.shape[-1]
        if dirty.size == 0 and out_errors.size == 0:
            return dirty, None
        if dirty.size > self.DENSE_FRACTION * channels_in or errors[0].size > self.MAX_WEIGHT_UPDATES:
            # Too much changed: the whole layer from its (partly changed) input.
            full_in = clean_in.copy()
            if dirty.size:
                full_in[..., dirty] = values
            a = _apply(layer, full_in, corrupted)
            changed = np.flatnonzero(_changed_channels(a, clean_out))
            return changed, a[..., changed]
        if dirty.size:
            # A changed input reaches every output channel: a' = a + (input change) * W'.
            out = np.arange(clean_out.shape[-1])
            a = clean_out.copy()
            change = values - clean_in[..., dirty]
            if isinstance(layer, Conv2d):
                a += _apply(Conv2d(corrupted[:, :, dirty, :], layer.padding), change, corrupted[:, :, dirty, :])
            else:
                # Dense after a feature map: the changed channels sit at every position.
                fan_in_index = np.arange(layer.weight.shape[0]).reshape(clean_in.shape[1:])[..., dirty].ravel()
                a += change.reshape(change.shape[0], -1) @ corrupted[fan_in_index].astype(np.float32)
        else:
            out = out_errors
            a = clean_out[..., out].copy()
        # Weight errors seen by the clean input: output j gains (w' - w) * input.
        column = {int(channel): position for position, channel in enumerate(out)}
        padded = clean_in
        if isinstance(layer, Conv2d) and layer.padding:
            p = layer.padding
            padded = np.pad(clean_in, [(0, 0), (p, p), (p, p), (0, 0)])
        flat_in = clean_in.reshape(clean_in.shape[0], -1) if isinstance(layer, Dense) else None
        rows, cols = a.shape[1:3] if isinstance(layer, Conv2d) else (0, 0)
        for position in zip(*errors):
            change = float(delta_w[position])
            target = column[int(position[-1])]
            if isinstance(layer, Conv2d):
                ky, kx, ci, _ = position
                a[..., target] += change * padded[:, ky:ky + rows, kx:kx + cols, ci]
            else:
                a[:, target] += change * flat_in[:, position[0]]
        return out, a


def _changed_channels(values: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """bool per channel (last axis): does any entry differ?"""
    different = values != clean
    # Reduce over the contiguous leading block first: fast for a few channels.
    return different.reshape(-1, different.shape[-1]).T.reshape(different.shape[-1], -1).any(axis=1) \
        if different.shape[-1] > 1 else np.array([different.any()])


def _apply(layer: Layer, h: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    """One layer on a batch (N, ...) of activations, weights without a trial axis."""
    if isinstance(layer, Conv2d):
        kh, kw, _, c_out = weight.shape
        cols = patches(h, kh, kw, layer.padding)
        return (cols.reshape(-1, cols.shape[-1]) @ weight.reshape(-1, c_out).astype(np.float32)
                ).reshape(*cols.shape[:-1], c_out)
    if isinstance(layer, Dense):
        return h.reshape(h.shape[0], -1) @ weight.astype(np.float32)
    if isinstance(layer, Sign):
        return binarize(layer.direction * (h - layer.integer_threshold()), 0.0)
    return max_pool(h, layer.size)


def _take(arrays: dict[str, np.ndarray], key: str) -> np.ndarray:
    if key not in arrays:
        raise NetworkError(f"missing array {key!r} (layout: see circuitkit.inject.networks)")
    return arrays[key]


def _metadata(arrays: dict[str, np.ndarray]) -> dict:
    try:
        return json.loads(str(arrays.get("metadata", np.array("{}"))))
    except json.JSONDecodeError:
        raise NetworkError("array 'metadata' is not JSON") from None


def _integer_weight(array: np.ndarray, key: str, ndim: int) -> np.ndarray:
    if array.ndim != ndim or not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array)) \
            or np.any(array != np.round(array)):
        raise NetworkError(f"{key} must be a {ndim}-D integer array, got {array.dtype} {array.shape}")
    return array.astype(np.int8)


def _load_v2(cls: type[QuantizedNetwork], arrays: dict[str, np.ndarray]) -> QuantizedNetwork:
    n_layers = sum(1 for key in arrays if key.startswith("layer_") and key.endswith("_type"))
    layers: list[Layer] = []
    used = {"format", "kind", "input_shape", "input_thresholds", "output_scale", "output_bias", "metadata"}
    for index in range(n_layers):
        key = f"layer_{index}_"
        kind = str(_take(arrays, key + "type"))
        used.add(key + "type")
        if kind == "conv2d":
            weight = _integer_weight(_take(arrays, key + "weight"), key + "weight", 4)
            layers.append(Conv2d(weight, int(_take(arrays, key + "padding"))))
            used |= {key + "weight", key + "padding"}
        elif kind == "dense":
            layers.append(Dense(_integer_weight(_take(arrays, key + "weight"), key + "weight", 2)))
            used.add(key + "weight")
        elif kind == "sign":
            layers.append(Sign(_take(arrays, key + "threshold").astype(np.float64),
                               _take(arrays, key + "direction").astype(np.int8)))
            used |= {key + "threshold", key + "direction"}
        elif kind == "maxpool2d":
            layers.append(MaxPool2d(int(_take(arrays, key + "size"))))
            used.add(key + "size")
        else:
            raise NetworkError(f"{key}type is {kind!r}; expected one of {sorted(LAYER_TYPES)}")
    unexpected = sorted(set(arrays) - used)
    if unexpected:
        raise NetworkError(f"unexpected array(s) {unexpected} for a {n_layers}-layer network "
                           "(layout: see circuitkit.inject.networks)")
    shape = _take(arrays, "input_shape")
    if shape.shape != (2,):
        raise NetworkError(f"input_shape must hold (rows, cols), got {shape.tolist()}")
    return cls(
        kind=str(_take(arrays, "kind")),
        layers=tuple(layers),
        output_scale=_take(arrays, "output_scale").astype(np.float64),
        output_bias=_take(arrays, "output_bias").astype(np.float64),
        input_shape=tuple(int(d) for d in shape),
        input_thresholds=tuple(float(t) for t in np.atleast_1d(_take(arrays, "input_thresholds"))),
        metadata=_metadata(arrays),
    )


def _load_mlp_v1(cls: type[QuantizedNetwork], arrays: dict[str, np.ndarray]) -> QuantizedNetwork:
    """A v1 perceptron: its first layer's rows are threshold-major (k * P + p); here the
    input code is pixel-major (p * K + k), so the rows are reordered."""
    n_layers = sum(1 for key in arrays if key.startswith("weight_"))
    if n_layers == 0 or any(f"weight_{i}" not in arrays for i in range(n_layers)):
        raise NetworkError(f"expected arrays weight_0 .. weight_<L-1> without gaps, got {sorted(arrays)}")
    expected = {"format", "kind", "input_thresholds", "output_scale", "output_bias", "metadata",
                *(f"weight_{i}" for i in range(n_layers)),
                *(f"{name}_{i}" for name in ("threshold", "direction") for i in range(n_layers - 1))}
    unexpected = sorted(set(arrays) - expected)
    if unexpected:
        raise NetworkError(f"unexpected array(s) {unexpected} for a {n_layers}-layer network "
                           "(layout: see circuitkit.inject.networks)")
    levels = tuple(float(t) for t in np.atleast_1d(_take(arrays, "input_thresholds")))
    weights = [_integer_weight(_take(arrays, f"weight_{i}"), f"weight_{i}", 2) for i in range(n_layers)]
    fan_in = weights[0].shape[0]
    if fan_in % len(levels):
        raise NetworkError(f"shape mismatch: weight_0 fan_in {fan_in} is not a multiple of the {len(levels)} input thresholds")
    pixels = fan_in // len(levels)
    side = int(round(np.sqrt(pixels)))
    input_shape = (side, side) if side * side == pixels else (1, pixels)
    weights[0] = weights[0].reshape(len(levels), pixels, -1).transpose(1, 0, 2).reshape(fan_in, -1)
    layers: list[Layer] = []
    for i, w in enumerate(weights):
        layers.append(Dense(w))
        if i < n_layers - 1:
            layers.append(Sign(_take(arrays, f"threshold_{i}").astype(np.float64),
                               _take(arrays, f"direction_{i}").astype(np.int8)))
    return cls(kind=str(_take(arrays, "kind")), layers=tuple(layers),
               output_scale=_take(arrays, "output_scale").astype(np.float64),
               output_bias=_take(arrays, "output_bias").astype(np.float64),
               input_shape=input_shape, input_thresholds=levels, metadata=_metadata(arrays))


def _output_shape(layer: Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Per-image activation shape after `layer` given its input shape."""
    if isinstance(layer, Conv2d):
        kh, kw, _, c_out = layer.weight.shape
        return (shape[0] + 2 * layer.padding - kh + 1, shape[1] + 2 * layer.padding - kw + 1, c_out)
    if isinstance(layer, Dense):
        return (layer.weight.shape[1],)
    if isinstance(layer, MaxPool2d):
        return (shape[0] // layer.size, shape[1] // layer.size, shape[2])
    return shape


def _check_network(net: QuantizedNetwork, where: str) -> None:
    if net.kind not in KIND_ALPHABETS:
        raise NetworkError(f"{where}: kind {net.kind!r}, expected one of {tuple(KIND_ALPHABETS)}")
    if len(net.input_shape) != 2 or min(net.input_shape) < 1:
        raise NetworkError(f"{where}: input_shape must be (rows, cols) >= 1, got {net.input_shape}")
    if not net.input_thresholds:
        raise NetworkError(f"{where}: at least one input threshold (thermometer level) is needed")
    weight_layers = [i for i, layer in enumerate(net.layers) if isinstance(layer, (Conv2d, Dense))]
    if not weight_layers:
        raise NetworkError(f"{where}: a network needs at least one weight layer")
    if not isinstance(net.layers[weight_layers[-1]], Dense) or weight_layers[-1] != len(net.layers) - 1:
        raise NetworkError(f"{where}: the last layer must be a dense layer (the output; its batch-norm is "
                           "output_scale/output_bias)")
    alphabet = np.array(KIND_ALPHABETS[net.kind])
    shape: tuple[int, ...] = (*net.input_shape, len(net.input_thresholds))
    for index, layer in enumerate(net.layers):
        name = f"layer_{index} ({layer.type})"
        if isinstance(layer, (Conv2d, Dense)):
            w = layer.weight
            outside = np.setdiff1d(np.unique(w), alphabet)
            if outside.size:
                raise NetworkError(f"{where}: {name} weight holds values {outside.tolist()} outside the {net.kind} "
                                   f"alphabet {alphabet.tolist()}")
            if index != weight_layers[-1] and not (index + 1 < len(net.layers) and isinstance(net.layers[index + 1], Sign)):
                raise NetworkError(f"{where}: {name} must be followed by a sign layer (the folded batch-norm)")
        if isinstance(layer, Conv2d):
            if layer.weight.ndim != 4:
                raise NetworkError(f"{where}: {name} weight must be (kh, kw, c_in, c_out), got shape {layer.weight.shape}")
            if len(shape) != 3:
                raise NetworkError(f"{where}: {name} needs an image (rows, cols, channels) input, but follows a dense layer")
            if layer.weight.shape[2] != shape[2]:
                raise NetworkError(f"{where}: shape mismatch: {name} has c_in {layer.weight.shape[2]} but its input has "
                                   f"{shape[2]} channels")
            if layer.padding < 0 or min(shape[0], shape[1]) + 2 * layer.padding < max(layer.weight.shape[:2]):
                raise NetworkError(f"{where}: {name}: kernel {layer.weight.shape[:2]} does not fit its "
                                   f"{shape[0]}x{shape[1]} input with padding {layer.padding}")
        elif isinstance(layer, Dense):
            fan_in = int(np.prod(shape))
            if layer.weight.ndim != 2 or layer.weight.shape[0] != fan_in:
                raise NetworkError(f"{where}: shape mismatch: {name} weight has shape {layer.weight.shape}, expected "
                                   f"fan_in {fan_in} (its input {shape} flattened)")
        elif isinstance(layer, Sign):
            channels = shape[-1]
            for attribute in ("threshold", "direction"):
                array = getattr(layer, attribute)
                if array.shape != (channels,):
                    raise NetworkError(f"{where}: shape mismatch: {name} {attribute} has shape {array.shape}, "
                                       f"expected ({channels},) like its input's channels")
            if np.any(np.abs(layer.direction) != 1):
                raise NetworkError(f"{where}: {name} direction must hold only +1 and -1")
            if np.any(np.isnan(layer.threshold)):
                raise NetworkError(f"{where}: {name} threshold holds NaN")
            if index == 0 or not isinstance(net.layers[index - 1], (Conv2d, Dense)):
                raise NetworkError(f"{where}: {name} must follow a weight layer")
        elif isinstance(layer, MaxPool2d):
            if len(shape) != 3 or layer.size < 1 or layer.size > min(shape[:2]):
                raise NetworkError(f"{where}: {name} of size {layer.size} does not fit its input {shape}")
            if index == 0 or not isinstance(net.layers[index - 1], (Sign, MaxPool2d)):
                raise NetworkError(f"{where}: {name} must follow a sign layer (it pools +-1 maps)")
        else:
            raise NetworkError(f"{where}: layer_{index} is a {type(layer).__name__}, not a network layer")
        shape = _output_shape(layer, shape)
    n_classes = shape[0]
    for name in ("output_scale", "output_bias"):
        array = getattr(net, name)
        if array.shape != (n_classes,) or not np.all(np.isfinite(array)):
            raise NetworkError(f"{where}: shape mismatch: {name} has shape {array.shape}, expected finite ({n_classes},) "
                               "like the last layer's fan_out")


def xnor_popcount(h: npt.ArrayLike, w: npt.ArrayLike) -> np.ndarray:
    """Pre-activations of +-1 inputs h (N, fan_in) and +-1 weights w (fan_in, fan_out)
    computed as a 2T2R/PCSA array does: bits (1 for +1), XNOR, popcount;
    a = 2 * popcount - fan_in. Reference for tests, not for speed."""
    h_bits = np.packbits(np.asarray(h) > 0, axis=1)  # (N, bytes)
    w_bits = np.packbits(np.asarray(w).T > 0, axis=1)  # (fan_out, bytes)
    fan_in = np.asarray(h).shape[1]
    # Padding bits are 0 in both operands, so XNOR counts them as matches: subtract them.
    padding = h_bits.shape[1] * 8 - fan_in
    xnor = ~(h_bits[:, None, :] ^ w_bits[None, :, :])
    same = np.unpackbits(xnor, axis=-1).sum(axis=-1, dtype=np.int64) - padding  # popcount
    return 2 * same - fan_in


# --------------------------------------------------------------------------- bundled

# Networks bundled with the package, each trained on the default MNIST split by the one
# command `python -m circuitkit.inject.train --bundled NAME` (configs in
# `circuitkit.inject.train.BUNDLED`). 'bnn' and 'tnn' name the convolutional ones.
PRETRAINED: dict[str, str] = {
    "bnn-conv": "bnn_conv_mnist5k.npz",
    "tnn-conv": "tnn_conv_mnist5k.npz",
    "bnn-fc": "bnn_fc_mnist5k.npz",
    "bnn-fc-narrow": "bnn_fc_narrow_mnist5k.npz",
    "tnn-fc": "tnn_fc_mnist5k.npz",
    "bnn-conv-aware": "bnn_conv_aware_mnist5k.npz",
}
ALIASES: dict[str, str] = {"bnn": "bnn-conv", "tnn": "tnn-conv"}
PRETRAINED_DIR = Path(__file__).parent / "pretrained"


def pretrained_path(name: str) -> Path:
    """Path of a bundled network (see `PRETRAINED`; 'bnn' and 'tnn' are aliases)."""
    name = ALIASES.get(name, name)
    if name not in PRETRAINED:
        raise NetworkError(f"no bundled network {name!r}; expected one of {(*ALIASES, *PRETRAINED)} "
                           "or a path to a .npz file")
    return PRETRAINED_DIR / PRETRAINED[name]


def is_bundled(spec: str | Path) -> bool:
    return str(spec) in PRETRAINED or str(spec) in ALIASES


def load_network(spec: str | Path) -> QuantizedNetwork:
    """A bundled network by name (`PRETRAINED`, `ALIASES`) or a weight file by path."""
    if is_bundled(spec):
        return QuantizedNetwork.load(pretrained_path(str(spec)))
    path = Path(spec)
    if not path.is_file():
        raise NetworkError(f"{path}: no such network file; expected a bundled name {(*ALIASES, *PRETRAINED)} "
                           "or a path to a .npz weight file")
    return QuantizedNetwork.load(path)
