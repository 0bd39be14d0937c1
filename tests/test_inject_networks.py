"""BNN/TNN inference, weight files, bundled networks, training and the datasets."""

import gzip
import json

import numpy as np
import pytest

from circuitkit.inject.data import DatasetError, load_dataset, load_digits, load_mnist, read_idx
from circuitkit.inject.networks import (
    NetworkError,
    QuantizedMLP,
    load_network,
    pretrained_path,
    xnor_popcount,
)
from circuitkit.inject.train import TrainingConfig, train


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def bundled():
    return {name: load_network(name) for name in ("bnn", "tnn")}


def small_network(kind="bnn", seed=0, sizes=(6, 5, 3)) -> QuantizedMLP:
    rng = np.random.default_rng(seed)
    values = np.array([-1, 1] if kind == "bnn" else [-1, 0, 1], dtype=np.int8)
    weights = tuple(rng.choice(values, size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:]))
    hidden = sizes[1:-1]
    return QuantizedMLP(
        kind=kind,
        weights=weights,
        thresholds=tuple(rng.normal(size=h) for h in hidden),
        directions=tuple(rng.choice(np.array([-1, 1], dtype=np.int8), size=h) for h in hidden),
        output_scale=rng.uniform(0.5, 2, sizes[-1]),
        output_bias=rng.normal(size=sizes[-1]),
        input_thresholds=(0.5,),
    )


def test_matmul_equals_xnor_popcount():
    rng = np.random.default_rng(1)
    h = rng.choice([-1, 1], size=(7, 37))  # 37: not a multiple of 8, exercises padding
    w = rng.choice([-1, 1], size=(37, 5))
    np.testing.assert_array_equal(xnor_popcount(h, w), h @ w)


def test_inference_follows_the_folded_thresholds():
    net = small_network()
    x = np.random.default_rng(2).uniform(size=(4, 6))
    h0 = np.where(x >= 0.5, 1, -1)
    a0 = h0 @ net.weights[0]
    h1 = np.where(net.directions[0] * (a0 - net.thresholds[0]) >= 0, 1, -1)
    expected = (h1 @ net.weights[1]) * net.output_scale + net.output_bias
    np.testing.assert_allclose(net.scores(x), expected)


def test_batched_trial_weights_equal_one_by_one(bundled, digits):
    net = bundled["tnn"]
    rng = np.random.default_rng(3)
    flat = np.repeat(net.flat_weights()[None], 3, axis=0)
    flat[1, rng.choice(flat.shape[1], 2000, replace=False)] = 0
    flat[2, rng.choice(flat.shape[1], 2000, replace=False)] *= -1
    batched = net.accuracy(digits.x_test, digits.y_test, net.split_flat(flat))
    one_by_one = [net.accuracy(digits.x_test, digits.y_test, net.split_flat(row)) for row in flat]
    np.testing.assert_array_equal(batched, one_by_one)
    assert batched[0] == net.accuracy(digits.x_test, digits.y_test)


def test_npz_round_trip(tmp_path):
    net = small_network("tnn", sizes=(6, 5, 4, 3))
    net.metadata["note"] = "hand-made"
    again = QuantizedMLP.load(net.save(tmp_path / "net.npz"))
    assert again.kind == "tnn" and again.layer_sizes == (6, 5, 4, 3) and again.metadata == {"note": "hand-made"}
    for a, b in zip((*net.weights, *net.thresholds, *net.directions), (*again.weights, *again.thresholds, *again.directions)):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(4).uniform(size=(10, 6))
    np.testing.assert_array_equal(net.scores(x), again.scores(x))


def _saved_arrays(tmp_path):
    path = small_network().save(tmp_path / "ok.npz")
    with np.load(path) as archive:
        return {k: archive[k] for k in archive.files}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("weight_1"), r"unexpected array\(s\) \['direction_0', 'threshold_0'\] for a 1-layer network"),
        (lambda a: a.pop("threshold_0"), "missing array 'threshold_0'"),
        (lambda a: a.update(weight_1=np.ones((4, 3), dtype=np.int8)), "shape mismatch: weight_1 has fan_in 4 but weight_0 has fan_out 5"),
        (lambda a: a.update(threshold_0=np.zeros(4)), r"shape mismatch: threshold_0 has shape \(4,\), expected \(5,\)"),
        (lambda a: a.update(output_bias=np.zeros(2)), "shape mismatch: output_bias"),
        (lambda a: a.update(weight_0=np.zeros((6, 5), dtype=np.int8)), r"weight_0 holds values \[0\] outside the bnn alphabet"),
        (lambda a: a.update(direction_0=np.zeros(5, dtype=np.int8)), "direction_0 must hold only"),
        (lambda a: a.pop("kind"), "missing array 'kind'"),
        (lambda a: a.update(kind=np.array("qnn")), "kind 'qnn'"),
        (lambda a: a.update(format=np.array("other-v9")), "format 'other-v9'"),
    ],
    ids=["layer-missing", "threshold-missing", "fan-in", "threshold-shape", "output-shape", "alphabet", "direction", "no-kind", "bad-kind", "format"],
)
def test_bad_weight_files_raise_clear_errors(tmp_path, change, message):
    arrays = _saved_arrays(tmp_path)
    change(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(NetworkError, match=message) as error:
        QuantizedMLP.load(path)
    assert str(path) in str(error.value)


def test_unreadable_or_unknown_network(tmp_path):
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(NetworkError, match="cannot read network weights"):
        QuantizedMLP.load(tmp_path / "junk.npz")
    with pytest.raises(NetworkError, match="expected 'bnn', 'tnn' or a path"):
        load_network(tmp_path / "absent.npz")


def test_inputs_of_the_wrong_size_are_refused(bundled):
    with pytest.raises(NetworkError, match=r"inputs of shape \(2, 784\) do not fit the network: expected \(N, 64\)"):
        bundled["bnn"].scores(np.zeros((2, 784)))


def test_bundled_networks_reach_the_target_accuracy(bundled, digits):
    bnn = bundled["bnn"].accuracy(digits.x_test, digits.y_test)
    tnn = bundled["tnn"].accuracy(digits.x_test, digits.y_test)
    print(f"bundled digits accuracy: BNN {bnn:.4f}, TNN {tnn:.4f} ({len(digits.y_test)} test images)")
    assert bnn >= 0.90
    assert tnn >= bnn
    assert bundled["bnn"].kind == "bnn" and bundled["tnn"].kind == "tnn"
    assert np.any(bundled["tnn"].flat_weights() == 0)


def test_bundled_bnn_is_reproduced_by_its_recorded_training_command(bundled, digits):
    recorded = bundled["bnn"].metadata["training"]
    config = TrainingConfig(**{**recorded, "hidden": tuple(recorded["hidden"]),
                               "input_thresholds": tuple(recorded["input_thresholds"])})
    retrained = train(digits, config)
    for a, b in zip(retrained.weights, bundled["bnn"].weights):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(retrained.thresholds[0], bundled["bnn"].thresholds[0], rtol=1e-9)


def test_training_learns_a_small_ternary_network_quickly(digits):
    net = train(digits, TrainingConfig(kind="tnn", hidden=(32,), epochs=10, seed=1))
    assert set(np.unique(net.flat_weights())) <= {-1, 0, 1}
    assert net.accuracy(digits.x_test, digits.y_test) > 0.8
    assert json.loads(json.dumps(net.metadata))["training"]["kind"] == "tnn"


def test_digits_split_is_stratified_and_offline():
    data = load_digits()
    assert data.x_train.shape == (1347, 64) and data.x_test.shape == (450, 64)
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert np.all(np.bincount(data.y_test) >= 43)
    np.testing.assert_array_equal(load_digits().y_test, data.y_test)
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


def test_load_mnist_from_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 5), ("t10k", 3)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), compress=True)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    data = load_dataset(f"mnist:{tmp_path}")
    assert data.x_train.shape == (5, 784) and data.x_test.shape == (3, 784) and data.x_train.max() <= 1.0


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
    assert pretrained_path("bnn").name == "bnn_digits.npz" and pretrained_path("bnn").is_file()
    with pytest.raises(NetworkError, match="no bundled network 'vgg'"):
        pretrained_path("vgg")
