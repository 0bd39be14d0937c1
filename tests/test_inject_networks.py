"""BNN/TNN inference (dense and convolutional), weight files, the incremental evaluator,
bundled networks, training and the datasets."""

import dataclasses
import gzip
import json

import numpy as np
import pytest

from circuitkit.inject.data import (
    DatasetError,
    load_dataset,
    load_digits,
    load_mnist,
    load_mnist5k,
    mnist5k_path,
    read_idx,
)
from circuitkit.inject.networks import (
    PRETRAINED,
    Conv2d,
    Dense,
    IncrementalForward,
    MaxPool2d,
    NetworkError,
    QuantizedNetwork,
    Sign,
    load_network,
    patches,
    pretrained_path,
    xnor_popcount,
)
from circuitkit.inject.sampler import ErrorInjector
from circuitkit.inject.train import BUNDLED, TrainingConfig, _pool_backward, _pool_forward, conv_input_gradient, train


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def mnist():
    return load_mnist5k()


def small_conv(kind="bnn", seed=0, padding=0) -> QuantizedNetwork:
    """8x8 images, two levels: conv3x3:4 - sign - pool2 - dense:5 - sign - dense:3."""
    rng = np.random.default_rng(seed)
    values = np.array([-1, 1] if kind == "bnn" else [-1, 0, 1], dtype=np.int8)
    side = (8 + 2 * padding - 3 + 1) // 2
    return QuantizedNetwork(
        kind=kind,
        layers=(Conv2d(rng.choice(values, size=(3, 3, 2, 4)), padding),
                Sign(rng.normal(size=4), rng.choice(np.array([-1, 1], dtype=np.int8), size=4)),
                MaxPool2d(2),
                Dense(rng.choice(values, size=(side * side * 4, 5))),
                Sign(rng.normal(size=5), rng.choice(np.array([-1, 1], dtype=np.int8), size=5)),
                Dense(rng.choice(values, size=(5, 3)))),
        output_scale=rng.uniform(0.5, 2, 3), output_bias=rng.normal(size=3),
        input_shape=(8, 8), input_thresholds=(0.3, 0.6),
    )


def reference_scores(net: QuantizedNetwork, x: np.ndarray) -> np.ndarray:
    """The module docstring's maths written with plain loops (no im2col, no reshapes of patches)."""
    images = x.reshape(-1, *net.input_shape)
    h = np.stack([np.where(images >= t, 1.0, -1.0) for t in net.input_thresholds], axis=-1)
    for layer in net.layers:
        if isinstance(layer, Conv2d):
            p = layer.padding
            h = np.pad(h, [(0, 0), (p, p), (p, p), (0, 0)])
            kh, kw, _, c_out = layer.weight.shape
            rows, cols = h.shape[1] - kh + 1, h.shape[2] - kw + 1
            out = np.zeros((h.shape[0], rows, cols, c_out))
            for i in range(kh):
                for j in range(kw):
                    out += np.einsum("nyxc,co->nyxo", h[:, i:i + rows, j:j + cols, :], layer.weight[i, j])
            h = out
        elif isinstance(layer, Dense):
            h = h.reshape(h.shape[0], -1) @ layer.weight
        elif isinstance(layer, Sign):
            h = np.where(layer.direction * (h - layer.threshold) >= 0, 1.0, -1.0)
        else:
            s = layer.size
            rows, cols = h.shape[1] // s, h.shape[2] // s
            h = h[:, :rows * s, :cols * s].reshape(h.shape[0], rows, s, cols, s, -1).max(axis=(2, 4))
    return h * net.output_scale + net.output_bias


def test_matmul_equals_xnor_popcount():
    rng = np.random.default_rng(1)
    h = rng.choice([-1, 1], size=(7, 37))  # 37: not a multiple of 8, exercises padding
    w = rng.choice([-1, 1], size=(37, 5))
    np.testing.assert_array_equal(xnor_popcount(h, w), h @ w)


@pytest.mark.parametrize("kind, padding", [("bnn", 0), ("tnn", 1)])
def test_convolutional_inference_follows_the_folded_maths(kind, padding):
    net = small_conv(kind, padding=padding)
    x = np.random.default_rng(2).uniform(size=(6, 64))
    np.testing.assert_allclose(net.scores(x), reference_scores(net, x))


def test_trial_weights_batched_and_incremental_equal_one_by_one(mnist):
    net = load_network("bnn-conv")
    x = mnist.x_test[:150]
    injector = ErrorInjector(net.flat_weights(), (-1, 1), np.array([[0.98, 0.02], [0.02, 0.98]]))
    flat = injector.corrupted(3, seed=4)
    batched = net.scores(x, net.split_flat(flat))
    one_by_one = np.stack([net.scores(x, net.split_flat(row)) for row in flat])
    np.testing.assert_array_equal(batched, one_by_one)
    forward = IncrementalForward(net, x)
    np.testing.assert_array_equal(forward.clean_scores, net.scores(x))
    # The incremental path takes every branch: no change, a few weight errors, changed
    # input channels, and the full recompute above its thresholds.
    for rate in (0.0, 1e-3, 2e-2, 0.4):
        copies = ErrorInjector(net.flat_weights(), (-1, 1), np.array([[1 - rate, rate], [rate, 1 - rate]])
                               ).corrupted(3, seed=5)
        for row in copies:
            np.testing.assert_array_equal(forward.scores(net.split_flat(row)), net.scores(x, net.split_flat(row)))


def test_npz_round_trip_of_a_convolutional_tnn(tmp_path):
    net = small_conv("tnn", padding=1)
    net.metadata["note"] = "hand-made"
    again = QuantizedNetwork.load(net.save(tmp_path / "net.npz"))
    assert again.kind == "tnn" and again.metadata == {"note": "hand-made"} and again.describe() == net.describe()
    for a, b in zip(net.layers, again.layers):
        assert type(a) is type(b)
        for name in ("weight", "threshold", "direction", "padding", "size"):
            if hasattr(a, name):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    x = np.random.default_rng(4).uniform(size=(10, 64))
    np.testing.assert_array_equal(net.scores(x), again.scores(x))


def test_old_perceptron_files_still_load(tmp_path):
    # A v1 file: first-layer rows threshold-major (k * P + p); the same classifier after loading.
    rng = np.random.default_rng(6)
    levels, pixels = (0.3, 0.7), 16
    w0 = rng.choice(np.array([-1, 1], dtype=np.int8), size=(len(levels) * pixels, 5))
    w1 = rng.choice(np.array([-1, 1], dtype=np.int8), size=(5, 3))
    threshold, direction = rng.normal(size=5), rng.choice(np.array([-1, 1], dtype=np.int8), size=5)
    scale, bias = rng.uniform(0.5, 2, 3), rng.normal(size=3)
    with (tmp_path / "v1.npz").open("wb") as handle:
        np.savez(handle, format=np.array("circuitkit-qmlp-v1"), kind=np.array("bnn"), input_thresholds=np.array(levels),
                 weight_0=w0, weight_1=w1, threshold_0=threshold, direction_0=direction, output_scale=scale,
                 output_bias=bias, metadata=np.array("{}"))
    net = QuantizedNetwork.load(tmp_path / "v1.npz")
    x = rng.uniform(size=(9, pixels))
    h0 = np.concatenate([np.where(x >= t, 1, -1) for t in levels], axis=1)  # the v1 code
    h1 = np.where(direction * (h0 @ w0 - threshold) >= 0, 1, -1)
    np.testing.assert_allclose(net.scores(x), (h1 @ w1) * scale + bias)


def _saved_arrays(tmp_path):
    path = small_conv().save(tmp_path / "ok.npz")
    with np.load(path) as archive:
        return {k: archive[k] for k in archive.files}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("layer_1_threshold"), "missing array 'layer_1_threshold'"),
        (lambda a: a.update(layer_3_weight=np.ones((4, 5), dtype=np.int8)),
         r"shape mismatch: layer_3 \(dense\) weight has shape \(4, 5\), expected fan_in 36"),
        (lambda a: a.update(layer_1_threshold=np.zeros(3)), r"shape mismatch: layer_1 \(sign\) threshold has shape \(3,\)"),
        (lambda a: a.update(layer_0_weight=np.zeros((3, 3, 2, 4), dtype=np.int8)), r"holds values \[0\] outside the bnn alphabet"),
        (lambda a: a.update(layer_0_weight=np.ones((3, 3, 3, 4), dtype=np.int8)), "has c_in 3 but its input has 2 channels"),
        (lambda a: a.update(layer_2_type=np.array("avgpool")), "layer_2_type is 'avgpool'"),
        (lambda a: a.update(layer_4_direction=np.zeros(5, dtype=np.int8)), "direction must hold only"),
        (lambda a: a.update(extra=np.zeros(1)), r"unexpected array\(s\) \['extra'\]"),
        (lambda a: a.update(kind=np.array("qnn")), "kind 'qnn'"),
        (lambda a: a.update(format=np.array("other-v9")), "format 'other-v9'"),
    ],
    ids=["threshold-missing", "fan-in", "threshold-shape", "alphabet", "channels", "layer-type", "direction",
         "extra", "bad-kind", "format"],
)
def test_bad_weight_files_raise_clear_errors(tmp_path, change, message):
    arrays = _saved_arrays(tmp_path)
    change(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(NetworkError, match=message) as error:
        QuantizedNetwork.load(path)
    assert str(path) in str(error.value)


def test_unreadable_or_unknown_network(tmp_path):
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(NetworkError, match="cannot read network weights"):
        QuantizedNetwork.load(tmp_path / "junk.npz")
    with pytest.raises(NetworkError, match="no such network file"):
        load_network(tmp_path / "absent.npz")
    with pytest.raises(NetworkError, match="no bundled network 'vgg'"):
        pretrained_path("vgg")


def test_inputs_of_the_wrong_size_are_refused():
    with pytest.raises(NetworkError, match=r"inputs of shape \(2, 64\) do not fit the network: expected \(N, 784\)"):
        load_network("bnn").scores(np.zeros((2, 64)))


# The accuracy each bundled network reaches on the 1,000 default test images when its
# documented command trains it (README, "Bundled networks"); a retrained network that
# falls short by more than half a point fails.
DOCUMENTED_ACCURACY = {"bnn-conv": 0.956, "tnn-conv": 0.973, "bnn-fc": 0.918, "bnn-fc-narrow": 0.849,
                       "tnn-fc": 0.921, "bnn-conv-aware": 0.964}


def test_bundled_networks_reach_their_documented_accuracy(mnist):
    assert set(DOCUMENTED_ACCURACY) == set(PRETRAINED) == set(BUNDLED)
    for name, documented in DOCUMENTED_ACCURACY.items():
        net = load_network(name)
        accuracy = net.accuracy(mnist.x_test, mnist.y_test)
        print(f"{name}: {net.describe()}: {accuracy:.4f} on {len(mnist.y_test)} test images")
        assert accuracy == pytest.approx(documented, abs=0.005), name
        assert net.metadata["command"] == f"python -m circuitkit.inject.train --bundled {name}"
        assert TrainingConfig.from_dict(net.metadata["training"]) == BUNDLED[name]
        assert net.metadata["dataset"] == "mnist5k" and net.kind == BUNDLED[name].kind
    assert np.any(load_network("tnn").flat_weights() == 0)
    assert load_network("bnn").describe() == load_network("bnn-conv").describe()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bnn-fc-narrow", "tnn-fc"])
def test_bundled_network_is_reproduced_by_its_documented_command(name, mnist):
    # The fast ones of the bundle (seconds); `bench/bench_inject.py --reproduce` retrains
    # all of them (minutes) and prints whether they came out identical.
    from circuitkit.inject.train import train_bundled

    retrained, bundled = train_bundled(name), load_network(name)
    for a, b in zip(retrained.weights, bundled.weights):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(retrained.predict(mnist.x_test), bundled.predict(mnist.x_test))


def test_conv_backward_matches_finite_differences():
    # The input gradient training back-propagates through a convolution: check it on
    # L = sum(G * conv(h, W)), which is linear in h, so finite differences are exact.
    rng = np.random.default_rng(7)
    for padding in (0, 1):
        h = rng.normal(size=(2, 6, 7, 3))
        w = rng.normal(size=(3, 3, 3, 4))

        def conv(h):
            cols = patches(h, 3, 3, padding)
            return cols @ w.reshape(-1, 4)

        g = rng.normal(size=conv(h).shape)
        analytic = conv_input_gradient(g, w, padding)
        numeric = np.zeros_like(h)
        for index in np.ndindex(h.shape):
            bumped = h.copy()
            bumped[index] += 1.0
            numeric[index] = np.sum(g * conv(bumped)) - np.sum(g * conv(h))
        np.testing.assert_allclose(analytic, numeric, atol=1e-9)
    # Max-pooling routes the gradient to each window's maximum.
    z = rng.normal(size=(2, 5, 5, 3))
    pooled, argmax = _pool_forward(z, 2)
    grad = _pool_backward(np.ones_like(pooled), argmax, 2, z.shape)
    assert grad.sum() == pooled.size
    np.testing.assert_array_equal(np.sort(z[grad == 1]), np.sort(pooled.ravel()))


def test_training_learns_small_networks_quickly(digits, mnist):
    tnn = train(digits, TrainingConfig(kind="tnn", architecture=("dense32",), epochs=10, seed=1, dataset="digits"))
    assert set(np.unique(tnn.flat_weights())) <= {-1, 0, 1} and np.any(tnn.flat_weights() == 0)
    assert tnn.accuracy(digits.x_test, digits.y_test) > 0.8
    assert json.loads(json.dumps(tnn.metadata))["training"]["kind"] == "tnn"
    # A small convolutional BNN on a quarter of the MNIST training images (every class).
    subset = dataclasses.replace(mnist, x_train=mnist.x_train[::4], y_train=mnist.y_train[::4])
    config = TrainingConfig(architecture=("conv8k5", "pool2"), epochs=10, batch_size=16, seed=1)
    conv = train(subset, config)
    assert isinstance(conv.layers[0], Conv2d) and isinstance(conv.layers[2], MaxPool2d)
    assert conv.accuracy(mnist.x_test, mnist.y_test) > 0.8
    again = train(subset, config)
    for a, b in zip(conv.weights, again.weights):
        np.testing.assert_array_equal(a, b)  # deterministic for a seed


def test_mnist5k_is_the_real_digits_with_the_documented_split():
    data = load_mnist5k()
    assert mnist5k_path().name == "mnist_5k.csv.gz"
    assert data.x_train.shape == (4000, 784) and data.x_test.shape == (1000, 784) and data.image_shape == (28, 28)
    assert np.all(np.bincount(data.y_train) == 400) and np.all(np.bincount(data.y_test) == 100)
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    # 8-bit grey levels of handwriting: strokes are mostly saturated, about a fifth of pixels lit.
    assert 0.1 < np.mean(data.x_test > 0) < 0.3 and np.all(np.isin(np.round(data.x_test * 255), np.arange(256)))
    # Fixed split: the same on every call, and disjoint (no image in both).
    np.testing.assert_array_equal(load_mnist5k().y_test, data.y_test)
    train_rows = {row.tobytes() for row in (data.x_train * 255).astype(np.uint8)}
    assert not any(row.tobytes() in train_rows for row in (data.x_test * 255).astype(np.uint8))
    assert load_dataset().name == "mnist5k"


def test_digits_split_is_stratified_and_offline(digits):
    assert digits.x_train.shape == (1347, 64) and digits.x_test.shape == (450, 64)
    assert np.all(np.bincount(digits.y_test) >= 43)
    assert load_dataset("digits").n_classes == 10


def _write_idx(path, array, compress=False):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    data = header + array.tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_read_idx_plain_and_gzipped(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(_write_idx(tmp_path / "a", images)), images)
    np.testing.assert_array_equal(read_idx(_write_idx(tmp_path / "b.gz", images, compress=True)), images)
    ints = np.array([[1, -2], [3, 400000]], dtype=">i4")
    np.testing.assert_array_equal(read_idx(_write_idx(tmp_path / "c", ints)), ints)


def test_load_mnist_and_fashion_mnist_from_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 5), ("t10k", 3)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), compress=True)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    data = load_dataset(f"mnist:{tmp_path}")
    assert data.x_train.shape == (5, 784) and data.x_test.shape == (3, 784) and data.x_train.max() <= 1.0
    assert data.image_shape == (28, 28) and load_dataset(f"fashion-mnist:{tmp_path}").name == "fashion-mnist"


def test_users_own_test_data_from_npz(tmp_path):
    data = load_mnist5k()
    images = (data.x_test[:50] * 255).round().astype(np.uint8).reshape(-1, 28, 28)
    np.savez(tmp_path / "mine.npz", x=images, y=data.y_test[:50])
    mine = load_dataset(f"npz:{tmp_path / 'mine.npz'}")
    np.testing.assert_allclose(mine.x_test, data.x_test[:50])
    assert mine.image_shape == (28, 28) and mine.x_train.shape == (0, 784)
    net = load_network("bnn")
    assert net.accuracy(mine.x_test, mine.y_test) == net.accuracy(data.x_test[:50], data.y_test[:50])
    np.savez(tmp_path / "bad.npz", x=images.astype(float), y=data.y_test[:50])
    with pytest.raises(DatasetError, match="outside \\[0, 1\\]"):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")
    np.savez(tmp_path / "nolabels.npz", x=images)
    with pytest.raises(DatasetError, match=r"missing array\(s\) \['y'\]"):
        load_dataset(f"npz:{tmp_path / 'nolabels.npz'}")


def test_bad_idx_and_dataset_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x12\x34\x08\x01")
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    truncated = _write_idx(tmp_path / "short", np.zeros((2, 2), dtype=np.uint8))
    truncated.write_bytes(truncated.read_bytes()[:-1])
    with pytest.raises(DatasetError, match=r"header says shape \(2, 2\) \(4 data bytes\), file has 3"):
        read_idx(truncated)
    with pytest.raises(DatasetError, match="no train-images-idx3-ubyte"):
        load_mnist(tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")


def test_pretrained_files_are_package_data():
    for name in PRETRAINED:
        assert pretrained_path(name).is_file()
    assert pretrained_path("bnn") == pretrained_path("bnn-conv")
