"""Binarized (BNN) and ternary-weight (TNN) multilayer perceptrons in numpy, with
batch-norm folded into per-neuron thresholds, as a 2T2R + PCSA array computes them.

Inference, for an input image x in [0, 1] with P pixels:

    h_0 = [+1 where x >= t else -1 for t in input_thresholds]  (thermometer code, K*P +-1 inputs)
    a_l = h_l @ W_l                  W_l in {-1,+1} (bnn) or {-1,0,+1} (tnn), int8 (fan_in, fan_out)
    h_{l+1} = +1 where direction_l * (a_l - threshold_l) >= 0 else -1   (hidden layers)
    scores = a_L * output_scale + output_bias;  prediction = argmax(scores)

For +-1 vectors, a = h @ W equals 2 * popcount(XNOR(h, W)) - fan_in, the operation the
sense amplifier computes (`xnor_popcount` is that bit-level form; a test proves both
agree). A hidden batch-norm sign(gamma * (a - mean) / sqrt(var + eps) + beta) folds to
threshold = mean - beta * sqrt(var + eps) / gamma and direction = sign(gamma).

Weight file (.npz, written by `save`, read by `load`; keys and arrays):

    format           0-d str   "circuitkit-qmlp-v1"
    kind             0-d str   "bnn" or "tnn"
    input_thresholds float64 (K,)  thermometer levels; weight_0 has fan_in K * pixels
    weight_<l>       int8 (fan_in, fan_out) for l = 0..L-1; fan_in of weight_<l+1> = fan_out of weight_<l>
    threshold_<l>    float64 (fan_out,) for hidden layers l = 0..L-2 (may be +-inf)
    direction_<l>    int8 (fan_out,), each +1 or -1, hidden layers
    output_scale     float64 (n_classes,)   the output batch-norm as an affine map
    output_bias      float64 (n_classes,)
    metadata         0-d str   JSON, optional: how the weights were made

Bringing weights from PyTorch or Larq: a torch `nn.Linear.weight` is (fan_out, fan_in),
so store its transpose (`w.T`), signs as int8; fold each BatchNorm1d with the formulas
above (running_mean, running_var, weight = gamma, bias = beta, eps).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from circuitkit import CircuitkitError
from circuitkit.ber_table import SCHEME_ALPHABETS

NETWORK_FORMAT = "circuitkit-qmlp-v1"
# Which bit-error-table scheme stores each kind of network; its alphabet is the weights'.
KIND_SCHEMES: dict[str, str] = {"bnn": "binary", "tnn": "ternary"}
KIND_ALPHABETS: dict[str, tuple[int, ...]] = {kind: SCHEME_ALPHABETS[scheme] for kind, scheme in KIND_SCHEMES.items()}


class NetworkError(CircuitkitError):
    """A network or weight file is malformed."""


def binarize(values: np.ndarray, threshold: float | np.ndarray = 0.0) -> np.ndarray:
    """+1 where values >= threshold, else -1 (float32, ready for matmul)."""
    return np.where(values >= threshold, np.float32(1), np.float32(-1))


def thermometer(x: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """+-1 thermometer code of inputs in [0, 1]: (N, P) -> (N, K*P), one block of P per
    threshold, so a binary first layer still sees K grey levels per pixel."""
    x = np.asarray(x)
    return np.concatenate([binarize(x, t) for t in thresholds], axis=-1)


@dataclass(frozen=True, eq=False)
class QuantizedMLP:
    """A BNN or TNN with folded batch-norm; see the module docstring for the maths."""

    kind: str
    weights: tuple[np.ndarray, ...]
    thresholds: tuple[np.ndarray, ...]
    directions: tuple[np.ndarray, ...]
    output_scale: np.ndarray
    output_bias: np.ndarray
    input_thresholds: tuple[float, ...] = (0.5,)
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_network(self, "network")

    # ------------------------------------------------------------------ shape
    @property
    def alphabet(self) -> tuple[int, ...]:
        return KIND_ALPHABETS[self.kind]

    @property
    def scheme(self) -> str:
        return KIND_SCHEMES[self.kind]

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (self.weights[0].shape[0], *(w.shape[1] for w in self.weights))

    @property
    def n_weights(self) -> int:
        return sum(w.size for w in self.weights)

    def flat_weights(self) -> np.ndarray:
        """All weights in one int8 vector: layer by layer, each (fan_in, fan_out) in C order."""
        return np.concatenate([w.ravel() for w in self.weights])

    def split_flat(self, flat: np.ndarray) -> list[np.ndarray]:
        """Inverse of `flat_weights` for a (..., n_weights) array -> per-layer (..., fan_in, fan_out)."""
        layers, start = [], 0
        for w in self.weights:
            layers.append(flat[..., start:start + w.size].reshape(*flat.shape[:-1], *w.shape))
            start += w.size
        return layers

    # ------------------------------------------------------------------ inference
    def scores(self, x: np.ndarray, weights: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Class scores for inputs x (N, fan_in) in [0, 1].

        `weights` replaces the network's own, layer by layer; each may carry leading
        trial axes (T, fan_in, fan_out), giving scores of shape (T, N, n_classes): many
        corrupted copies evaluated in one batched matmul.
        """
        layers = self.weights if weights is None else weights
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] * len(self.input_thresholds) != self.weights[0].shape[0]:
            raise NetworkError(
                f"inputs of shape {x.shape} do not fit the network: expected (N, {self.weights[0].shape[0] // len(self.input_thresholds)}) "
                f"({len(self.input_thresholds)} thermometer levels x pixels = fan_in {self.weights[0].shape[0]})"
            )
        h = thermometer(x, self.input_thresholds)
        for index, w in enumerate(layers):
            # float32 matmul is exact here: |a| <= fan_in < 2**24.
            a = h @ w.astype(np.float32)
            if index < len(layers) - 1:
                h = binarize(self.directions[index] * (a - self.thresholds[index]), 0.0)
            else:
                return a * self.output_scale + self.output_bias
        raise AssertionError("unreachable: a network has at least one layer")

    def predict(self, x: np.ndarray, weights: Sequence[np.ndarray] | None = None) -> np.ndarray:
        return np.argmax(self.scores(x, weights), axis=-1)

    def accuracy(self, x: np.ndarray, y: np.ndarray, weights: Sequence[np.ndarray] | None = None) -> np.ndarray | float:
        """Fraction of correct predictions; an array over trials when `weights` has a trial axis."""
        correct = self.predict(x, weights) == np.asarray(y)
        result = correct.mean(axis=-1)
        return float(result) if np.ndim(result) == 0 else result

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "format": np.array(NETWORK_FORMAT),
            "kind": np.array(self.kind),
            "input_thresholds": np.asarray(self.input_thresholds, dtype=np.float64),
            "output_scale": np.asarray(self.output_scale, dtype=np.float64),
            "output_bias": np.asarray(self.output_bias, dtype=np.float64),
            "metadata": np.array(json.dumps(self.metadata, sort_keys=True)),
        }
        for index, w in enumerate(self.weights):
            arrays[f"weight_{index}"] = np.asarray(w, dtype=np.int8)
        for index, (threshold, direction) in enumerate(zip(self.thresholds, self.directions)):
            arrays[f"threshold_{index}"] = np.asarray(threshold, dtype=np.float64)
            arrays[f"direction_{index}"] = np.asarray(direction, dtype=np.int8)
        with path.open("wb") as handle:  # a file handle keeps numpy from appending ".npz"
            np.savez_compressed(handle, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> QuantizedMLP:
        """Read a weight file; errors name the file and the key at fault."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
        except (OSError, ValueError) as error:
            raise NetworkError(f"{path}: cannot read network weights (.npz expected): {error}") from None

        def take(key: str) -> np.ndarray:
            if key not in arrays:
                raise NetworkError(f"{path}: missing array {key!r} (layout: see circuitkit.inject.networks)")
            return arrays[key]

        if str(take("format")) != NETWORK_FORMAT:
            raise NetworkError(f"{path}: format {str(take('format'))!r}, expected {NETWORK_FORMAT!r}")
        n_layers = sum(1 for key in arrays if key.startswith("weight_"))
        if n_layers == 0 or any(f"weight_{i}" not in arrays for i in range(n_layers)):
            raise NetworkError(f"{path}: expected arrays weight_0 .. weight_<L-1> without gaps, got {sorted(arrays)}")
        expected_keys = {"format", "kind", "input_thresholds", "output_scale", "output_bias", "metadata",
                         *(f"weight_{i}" for i in range(n_layers)),
                         *(f"{name}_{i}" for name in ("threshold", "direction") for i in range(n_layers - 1))}
        unexpected = sorted(set(arrays) - expected_keys)
        if unexpected:
            raise NetworkError(f"{path}: unexpected array(s) {unexpected} for a {n_layers}-layer network "
                               "(layout: see circuitkit.inject.networks)")
        metadata_text = str(arrays.get("metadata", np.array("{}")))
        try:
            metadata = json.loads(metadata_text)
        except json.JSONDecodeError:
            raise NetworkError(f"{path}: array 'metadata' is not JSON") from None
        weights = tuple(take(f"weight_{i}") for i in range(n_layers))
        for i, w in enumerate(weights):
            if w.ndim != 2 or not np.all(np.isfinite(w)) or np.any(w != np.round(w)):
                raise NetworkError(f"{path}: weight_{i} must be a 2-D integer array (fan_in, fan_out), got {w.dtype} {w.shape}")
        try:
            return cls(
                kind=str(take("kind")),
                weights=tuple(w.astype(np.int8) for w in weights),
                thresholds=tuple(take(f"threshold_{i}").astype(np.float64) for i in range(n_layers - 1)),
                directions=tuple(take(f"direction_{i}").astype(np.int8) for i in range(n_layers - 1)),
                output_scale=take("output_scale").astype(np.float64),
                output_bias=take("output_bias").astype(np.float64),
                input_thresholds=tuple(float(t) for t in np.atleast_1d(take("input_thresholds"))),
                metadata=metadata,
            )
        except NetworkError as error:
            raise NetworkError(f"{path}: {error}") from None


def _check_network(net: QuantizedMLP, where: str) -> None:
    if net.kind not in KIND_ALPHABETS:
        raise NetworkError(f"{where}: kind {net.kind!r}, expected one of {tuple(KIND_ALPHABETS)}")
    if not net.weights:
        raise NetworkError(f"{where}: a network needs at least one weight layer")
    alphabet = np.array(KIND_ALPHABETS[net.kind])
    for i, w in enumerate(net.weights):
        if w.ndim != 2:
            raise NetworkError(f"{where}: weight_{i} must be 2-D (fan_in, fan_out), got shape {w.shape}")
        if i > 0 and w.shape[0] != net.weights[i - 1].shape[1]:
            raise NetworkError(
                f"{where}: shape mismatch: weight_{i} has fan_in {w.shape[0]} but weight_{i - 1} has fan_out {net.weights[i - 1].shape[1]}"
            )
        outside = np.setdiff1d(np.unique(w), alphabet)
        if outside.size:
            raise NetworkError(f"{where}: weight_{i} holds values {outside.tolist()} outside the {net.kind} alphabet {alphabet.tolist()}")
    if not net.input_thresholds or net.weights[0].shape[0] % len(net.input_thresholds):
        raise NetworkError(f"{where}: shape mismatch: weight_0 fan_in {net.weights[0].shape[0]} is not a multiple of "
                           f"the {len(net.input_thresholds)} input thresholds")
    hidden = len(net.weights) - 1
    if len(net.thresholds) != hidden or len(net.directions) != hidden:
        raise NetworkError(f"{where}: {hidden} hidden layer(s) need {hidden} threshold and direction arrays, "
                           f"got {len(net.thresholds)} and {len(net.directions)}")
    for i in range(hidden):
        fan_out = net.weights[i].shape[1]
        for name, array in (("threshold", net.thresholds[i]), ("direction", net.directions[i])):
            if array.shape != (fan_out,):
                raise NetworkError(f"{where}: shape mismatch: {name}_{i} has shape {array.shape}, expected ({fan_out},) like weight_{i}'s fan_out")
        if np.any(np.abs(net.directions[i]) != 1):
            raise NetworkError(f"{where}: direction_{i} must hold only +1 and -1")
        if np.any(np.isnan(net.thresholds[i])):
            raise NetworkError(f"{where}: threshold_{i} holds NaN")
    n_classes = net.weights[-1].shape[1]
    for name in ("output_scale", "output_bias"):
        array = getattr(net, name)
        if array.shape != (n_classes,) or not np.all(np.isfinite(array)):
            raise NetworkError(f"{where}: shape mismatch: {name} has shape {array.shape}, expected finite ({n_classes},) like the last layer's fan_out")


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


# Networks bundled with the package, trained on the default digits split by the
# commands in circuitkit/inject/train.py.
PRETRAINED: dict[str, str] = {"bnn": "bnn_digits.npz", "tnn": "tnn_digits.npz"}


def pretrained_path(name: str) -> Path:
    """Path of a bundled network ('bnn' or 'tnn')."""
    if name not in PRETRAINED:
        raise NetworkError(f"no bundled network {name!r}; expected one of {tuple(PRETRAINED)} or a path to a .npz file")
    return Path(__file__).parent / "pretrained" / PRETRAINED[name]


def load_network(spec: str | Path) -> QuantizedMLP:
    """A bundled network by name ('bnn', 'tnn') or a weight file by path."""
    if str(spec) in PRETRAINED:
        return QuantizedMLP.load(pretrained_path(str(spec)))
    path = Path(spec)
    if not path.is_file():
        raise NetworkError(f"{path}: no such network file; expected 'bnn', 'tnn' or a path to a .npz weight file")
    return QuantizedMLP.load(path)
