"""Bring your own network: binary/ternary weights trained elsewhere (PyTorch, Larq, ...)
converted into a `QuantizedNetwork`.

Two ways in:

1. The `.npz` layout of `circuitkit.inject.networks` (format "circuitkit-qnet-v2"), written
   by any tool: per layer its type, its int8 weights and shape, folded thresholds.
2. A PyTorch `state_dict` (a `torch.save` file, which needs the optional extra
   `pip install -e '.[torch]'`; or the same tensors saved as arrays of an `.npz` under
   their state_dict names, which needs no torch), plus the forward order of the modules,
   because a state_dict stores parameters but not the order of operations or the
   pooling:

       from_state_dict(state, ["conv1", "bn1", "pool2", "conv2", "bn2", "pool2", "fc1", "bn3", "fc2", "bn4"],
                       kind="bnn", input_shape=(28, 28))

   Each item names a module by its state_dict prefix, or is "pool<S>" (max-pooling
   S x S); a module's type comes from its tensors: `weight` of 4 dimensions is a Conv2d
   (give its padding as "conv1:p1"), of 2 dimensions a Linear, `running_mean` makes a
   BatchNorm. The model the conversion assumes:

   - inputs: the thermometer code in PyTorch's NCHW layout, channel k = +1 where the
     pixel >= input_thresholds[k], else -1; a first Linear layer sees it flattened
     (K, H, W) in C order, as `torch.flatten` gives it;
   - every hidden Conv2d/Linear (optional bias) is followed by an optional BatchNorm and
     a sign (+1 for >= 0); pooling may stand after the sign or between the weight layer
     and its BatchNorm (the same function when every gamma of that BatchNorm is > 0,
     checked); a Linear after a feature map sees it flattened (C, H, W);
   - bnn weights are the signs of the stored (latent) weights, +1 for >= 0; tnn weights
     must be ternary up to one positive scale per output channel ({-a, 0, +a}), which is
     folded into the thresholds;
   - the last Linear (optional bias and BatchNorm) gives the class scores.

   Shapes are converted to this package's layout: Conv2d (out, in, kh, kw) -> (kh, kw,
   in, out), Linear (out, in) -> (in, out) with its inputs reordered from (C, H, W) to
   (H, W, C); a BatchNorm (gamma, beta, running mean and variance, `eps`) folds into
   threshold = mean - bias - beta * sqrt(var + eps) / gamma and direction = sign(gamma).

    python -m circuitkit.inject.imports model.pt --layers conv1,bn1,pool2,... --kind bnn --input-shape 28x28 -o net.npz
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError
from circuitkit.inject.networks import Conv2d, Dense, Layer, MaxPool2d, NetworkError, QuantizedNetwork, Sign

BN_EPS = 1e-5  # PyTorch's BatchNorm default
_SCALE_RTOL = 1e-5


def load_state_dict_file(path: str | Path) -> dict[str, np.ndarray]:
    """A state_dict as numpy arrays: from `torch.save` (needs torch) or an `.npz` whose
    array names are the state_dict keys."""
    path = Path(path)
    if not path.is_file():
        raise NetworkError(f"{path}: no such file (expected a torch.save state_dict or an .npz of its tensors)")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        except (OSError, ValueError) as error:
            raise NetworkError(f"{path}: cannot read the .npz state_dict: {error}") from None
    try:
        import torch
    except ImportError:
        raise NetworkError(f"{path}: reading a torch.save file needs PyTorch: pip install -e '.[torch]' "
                           "(or save the state_dict's tensors as arrays of an .npz)") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds (pickle, zip, runtime)
        raise NetworkError(f"{path}: torch.load failed: {error}") from None
    if hasattr(state, "state_dict") and not isinstance(state, Mapping):
        state = state.state_dict()
    if not isinstance(state, Mapping):
        raise NetworkError(f"{path}: expected a state_dict (a mapping of names to tensors), got {type(state).__name__}")
    return {key: value.detach().cpu().numpy() for key, value in state.items() if hasattr(value, "detach")}


def _module(state: Mapping[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    prefix = name + "."
    tensors = {key[len(prefix):]: np.asarray(value) for key, value in state.items() if key.startswith(prefix)}
    if not tensors:
        have = sorted({key.rsplit(".", 1)[0] for key in state})
        raise NetworkError(f"state_dict has no module {name!r}; modules present: {have}")
    return tensors


def _quantized(weight: np.ndarray, kind: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(integer weights, positive scale per output channel) of a torch weight whose
    output channel is axis 0."""
    flat = weight.reshape(weight.shape[0], -1).astype(np.float64)
    if kind == "bnn":
        return np.where(weight >= 0, 1, -1).astype(np.int8), np.ones(weight.shape[0])
    magnitude = np.abs(flat)
    scale = np.array([row[row > 0].max() if np.any(row > 0) else 1.0 for row in magnitude])
    ratio = flat / scale[:, None]
    ternary = np.round(ratio)
    bad = np.flatnonzero(np.any(np.abs(ratio - ternary) > _SCALE_RTOL, axis=1))
    if bad.size:
        raise NetworkError(f"{name}.weight: output channel(s) {bad[:5].tolist()} are not ternary up to one scale "
                           "({-a, 0, +a}); ternarize the weights before exporting (e.g. as your forward pass does)")
    return ternary.astype(np.int8).reshape(weight.shape), scale


def from_state_dict(
    state: Mapping[str, np.ndarray],
    layers: Sequence[str],
    *,
    kind: str,
    input_shape: tuple[int, int],
    input_thresholds: Sequence[float] = (0.5,),
    eps: float = BN_EPS,
    metadata: dict | None = None,
) -> QuantizedNetwork:
    """Convert a state_dict (numpy arrays or tensors) and its forward order; see the module docstring."""
    state = {key: np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
             for key, value in state.items()}
    channels = len(input_thresholds)
    shape: tuple[int, ...] = (*input_shape, channels)  # ours: (H, W, C) or (features,)
    torch_order: tuple[int, ...] = (channels, *input_shape)  # how torch holds the same activation
    out_layers: list[Layer] = []
    pending: dict | None = None  # the weight layer whose batch-norm / sign is still to come
    pool_before_bn: list[int] = []
    output_scale = output_bias = None

    def close_pending(batch_norm: dict[str, np.ndarray] | None, last: bool) -> None:
        nonlocal pending, output_scale, output_bias
        assert pending is not None
        scale, bias = pending["scale"], pending["bias"]
        if batch_norm is not None:
            gamma, beta = batch_norm["weight"], batch_norm["bias"]
            mean, std = batch_norm["running_mean"], np.sqrt(batch_norm["running_var"] + eps)
        else:
            gamma, beta, mean, std = np.ones_like(scale), np.zeros_like(scale), np.zeros_like(scale), np.ones_like(scale)
        if last:
            # scores = gamma * (scale * a + bias - mean) / std + beta
            output_scale = gamma * scale / std
            output_bias = gamma * (bias - mean) / std + beta
        else:
            if pool_before_bn and np.any(gamma <= 0):
                negative = np.flatnonzero(gamma <= 0)[:5].tolist()
                raise NetworkError(f"{pending['name']}: max-pooling before a batch-norm with gamma <= 0 in channel(s) "
                                   f"{negative} is not a max-pooling of the signs; put the pooling after the sign")
            safe = np.where(gamma == 0, 1.0, gamma)
            threshold = (mean - bias - beta * std / safe) / scale
            threshold = np.where(gamma == 0, np.where(beta >= 0, -np.inf, np.inf), threshold)
            out_layers.append(Sign(threshold, np.where(gamma < 0, -1, 1).astype(np.int8)))
            out_layers.extend(MaxPool2d(size) for size in pool_before_bn)
        pool_before_bn.clear()
        pending = None

    items = list(layers)
    weight_names = [item for item in items if not item.startswith("pool")
                    and "running_mean" not in _module(state, item.split(":")[0])]
    for item in items:
        if item.startswith("pool"):
            try:
                size = int(item[4:])
            except ValueError:
                raise NetworkError(f"layer {item!r}: expected pool<S>, e.g. pool2") from None
            if len(shape) != 3:
                raise NetworkError(f"layer {item!r}: pooling needs a feature map, but follows a dense layer")
            if pending is not None:
                pool_before_bn.append(size)
            else:
                out_layers.append(MaxPool2d(size))
            shape = (shape[0] // size, shape[1] // size, shape[2])
            torch_order = (shape[2], shape[0], shape[1])
            continue
        name, _, option = item.partition(":")
        tensors = _module(state, name)
        if "running_mean" in tensors:
            if pending is None:
                raise NetworkError(f"batch-norm {name!r} does not follow a weight layer")
            missing = [k for k in ("weight", "bias", "running_mean", "running_var") if k not in tensors]
            if missing:
                raise NetworkError(f"batch-norm {name!r} lacks {missing} (affine batch-norm expected)")
            close_pending({k: tensors[k].astype(np.float64) for k in ("weight", "bias", "running_mean", "running_var")},
                          last=pending["name"] == weight_names[-1])
            continue
        if pending is not None:
            close_pending(None, last=False)
        if "weight" not in tensors:
            raise NetworkError(f"module {name!r} has no weight (tensors: {sorted(tensors)})")
        weight = tensors["weight"]
        integer, scale = _quantized(weight, kind, name)
        bias = tensors.get("bias", np.zeros(weight.shape[0])).astype(np.float64)
        if weight.ndim == 4:
            padding = int(option[1:]) if option.startswith("p") and option[1:].isdigit() else 0
            if option and not option.startswith("p"):
                raise NetworkError(f"layer {item!r}: the option after ':' is p<padding>, e.g. {name}:p1")
            if len(shape) != 3 or weight.shape[1] != shape[2]:
                raise NetworkError(f"{name}.weight {weight.shape}: expected (out, {shape[-1]}, kh, kw) for its input "
                                   f"of {shape[-1]} channels")
            out_layers.append(Conv2d(integer.transpose(2, 3, 1, 0), padding))
            kh, kw = weight.shape[2:]
            shape = (shape[0] + 2 * padding - kh + 1, shape[1] + 2 * padding - kw + 1, weight.shape[0])
            torch_order = (shape[2], shape[0], shape[1])
        elif weight.ndim == 2:
            fan_in = int(np.prod(shape))
            if weight.shape[1] != fan_in:
                raise NetworkError(f"{name}.weight {weight.shape}: expected (out, {fan_in}) for its input of shape "
                                   f"{torch_order} (flattened)")
            if len(torch_order) == 3:
                # torch flattens (C, H, W); this package flattens (H, W, C).
                order = np.arange(fan_in).reshape(torch_order).transpose(1, 2, 0).ravel()
                integer = integer[:, order]
            out_layers.append(Dense(integer.T.copy()))
            shape = (weight.shape[0],)
            torch_order = shape
        else:
            raise NetworkError(f"{name}.weight has {weight.ndim} dimensions; expected 4 (Conv2d) or 2 (Linear)")
        pending = {"name": name, "scale": scale, "bias": bias}
    if pending is not None:
        close_pending(None, last=True)
    if output_scale is None:
        raise NetworkError("the layer list does not end with a Linear layer (the class scores)")
    return QuantizedNetwork(kind=kind, layers=tuple(out_layers), output_scale=output_scale, output_bias=output_bias,
                            input_shape=tuple(input_shape), input_thresholds=tuple(input_thresholds),
                            metadata=metadata or {"imported_from": "state_dict", "layers": list(layers)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m circuitkit.inject.imports",
                                     description="Convert a PyTorch state_dict of a BNN/TNN into circuitkit's .npz.")
    parser.add_argument("state_dict", type=Path, help="torch.save file (needs torch) or .npz of its tensors")
    parser.add_argument("--layers", required=True,
                        help="forward order: module names and pool<S>, comma-separated (conv modules may add :p<P>)")
    parser.add_argument("--kind", choices=("bnn", "tnn"), required=True)
    parser.add_argument("--input-shape", default="28x28", help="rows x cols of one image (default 28x28)")
    parser.add_argument("--input-thresholds", default="0.5", help="thermometer levels, comma-separated (default 0.5)")
    parser.add_argument("--eps", type=float, default=BN_EPS, help="batch-norm epsilon (default 1e-5)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        rows, _, cols = args.input_shape.partition("x")
        network = from_state_dict(
            load_state_dict_file(args.state_dict), [item for item in args.layers.split(",") if item],
            kind=args.kind, input_shape=(int(rows), int(cols)),
            input_thresholds=tuple(float(t) for t in args.input_thresholds.split(",")), eps=args.eps,
            metadata={"imported_from": str(args.state_dict), "layers": args.layers},
        )
        network.save(args.output)
    except (CircuitkitError, ValueError) as error:
        print(f"imports: error: {error}", file=sys.stderr)
        return 2
    print(f"{args.output}: {network.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
