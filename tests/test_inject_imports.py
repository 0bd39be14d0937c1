"""Bring your own network: a PyTorch state_dict (NCHW, latent weights, batch-norm,
pooling before or after the batch-norm) converts into the same classifier, and the .npz
layout round-trips."""

import numpy as np
import pytest

from circuitkit.inject.data import load_mnist5k
from circuitkit.inject.imports import from_state_dict, load_state_dict_file, main as imports_main
from circuitkit.inject.networks import NetworkError, QuantizedNetwork

LAYERS = ["conv1", "bn1", "pool2", "conv2:p1", "pool2", "bn2", "fc1", "bn3", "fc2", "bn4"]
LEVELS = (0.3, 0.6)


@pytest.fixture(scope="module")
def mnist():
    data = load_mnist5k()
    return data.x_test[:300], data.y_test[:300]


def random_state(kind="bnn", seed=0):
    """A state_dict as a PyTorch BNN/TNN would hold it (float32, NCHW, latent weights)."""
    rng = np.random.default_rng(seed)
    k = len(LEVELS)

    def weight(*shape):
        w = rng.normal(size=shape).astype(np.float32)
        if kind == "tnn":  # ternary with one positive scale per output channel
            scale = rng.uniform(0.1, 2.0, size=(shape[0],) + (1,) * (len(shape) - 1)).astype(np.float32)
            w = (np.sign(w) * (np.abs(w) > 0.6) * scale).astype(np.float32)
        return w

    def bn(n, positive=False):
        gamma = rng.uniform(0.5, 2.0, n) * (1 if positive else rng.choice([-1, 1], n))
        return {"weight": gamma.astype(np.float32), "bias": rng.normal(0, 0.5, n).astype(np.float32),
                "running_mean": rng.normal(0, 3, n).astype(np.float32),
                "running_var": rng.uniform(5, 40, n).astype(np.float32),
                "num_batches_tracked": np.array(100)}

    modules = {
        "conv1": {"weight": weight(6, k, 5, 5), "bias": rng.normal(0, 1, 6).astype(np.float32)},
        "bn1": bn(6),
        "conv2": {"weight": weight(8, 6, 3, 3)},
        "bn2": bn(8, positive=True),  # pooled before it: needs gamma > 0
        "fc1": {"weight": weight(20, 8 * 6 * 6), "bias": rng.normal(0, 1, 20).astype(np.float32)},
        "bn3": bn(20),
        "fc2": {"weight": weight(10, 20), "bias": rng.normal(0, 1, 10).astype(np.float32)},
        "bn4": bn(10),
    }
    return {f"{name}.{key}": value for name, tensors in modules.items() for key, value in tensors.items()}


def reference_scores(state, x, kind):
    """The same model written the PyTorch way (NCHW, signs of the latent weights,
    batch-norm in eval mode, float64), independently of circuitkit's conversion."""
    def w(name):
        latent = state[f"{name}.weight"].astype(np.float64)
        return np.where(latent >= 0, 1.0, -1.0) if kind == "bnn" else latent

    def conv(h, weight, bias=None, padding=0):
        h = np.pad(h, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
        out_h, out_w = h.shape[2] - weight.shape[2] + 1, h.shape[3] - weight.shape[3] + 1
        out = np.zeros((h.shape[0], weight.shape[0], out_h, out_w))
        for i in range(weight.shape[2]):
            for j in range(weight.shape[3]):
                out += np.einsum("nchw,oc->nohw", h[:, :, i:i + out_h, j:j + out_w], weight[:, :, i, j])
        return out if bias is None else out + bias[None, :, None, None]

    def bn(h, name):
        shape = (1, -1, 1, 1) if h.ndim == 4 else (1, -1)
        g, b, m, v = (state[f"{name}.{k}"].astype(np.float64).reshape(shape)
                      for k in ("weight", "bias", "running_mean", "running_var"))
        return (h - m) / np.sqrt(v + 1e-5) * g + b

    def pool(h):
        n, c, height, width = h.shape
        return h[:, :, :height // 2 * 2, :width // 2 * 2].reshape(n, c, height // 2, 2, width // 2, 2).max(axis=(3, 5))

    def sign(h):
        return np.where(h >= 0, 1.0, -1.0)

    images = x.reshape(-1, 1, 28, 28)
    h = np.concatenate([sign(images - level) for level in LEVELS], axis=1)
    h = pool(sign(bn(conv(h, w("conv1"), state["conv1.bias"]), "bn1")))
    h = sign(bn(pool(conv(h, w("conv2"), padding=1)), "bn2"))
    h = h.reshape(h.shape[0], -1)
    h = sign(bn(h @ w("fc1").T + state["fc1.bias"], "bn3"))
    return bn(h @ w("fc2").T + state["fc2.bias"], "bn4")


@pytest.mark.parametrize("kind", ["bnn", "tnn"])
def test_state_dict_converts_into_the_same_classifier(mnist, kind):
    x, _ = mnist
    state = random_state(kind)
    network = from_state_dict(state, LAYERS, kind=kind, input_shape=(28, 28), input_thresholds=LEVELS)
    expected = reference_scores(state, x, kind)
    np.testing.assert_array_equal(network.predict(x), np.argmax(expected, axis=1))
    np.testing.assert_allclose(network.scores(x), expected, rtol=1e-9, atol=1e-9)
    assert network.describe().startswith(f"{kind} 28x28x2-conv5x5:6-pool2-conv3x3:8p1-pool2-dense:20-dense:10")


def test_npz_state_dict_file_and_command_round_trip(tmp_path, mnist):
    x, _ = mnist
    state = random_state("bnn", seed=3)
    np.savez(tmp_path / "state.npz", **state)
    again = load_state_dict_file(tmp_path / "state.npz")
    assert set(again) == set(state)
    code = imports_main([str(tmp_path / "state.npz"), "--layers", ",".join(LAYERS), "--kind", "bnn",
                         "--input-thresholds", ",".join(map(str, LEVELS)), "-o", str(tmp_path / "net.npz")])
    assert code == 0
    network = QuantizedNetwork.load(tmp_path / "net.npz")
    np.testing.assert_array_equal(network.predict(x), np.argmax(reference_scores(state, x, "bnn"), axis=1))


def test_bad_state_dicts_get_clear_errors():
    state = random_state("bnn")
    with pytest.raises(NetworkError, match="no module 'conv9'"):
        from_state_dict(state, ["conv9", "fc2"], kind="bnn", input_shape=(28, 28))
    with pytest.raises(NetworkError, match=r"fc1.weight \(20, 288\): expected \(out, 784\)"):
        from_state_dict(state, ["fc1", "fc2"], kind="bnn", input_shape=(28, 28))
    negative = dict(state)
    negative["bn2.weight"] = -negative["bn2.weight"]
    with pytest.raises(NetworkError, match="max-pooling before a batch-norm with gamma <= 0"):
        from_state_dict(negative, LAYERS, kind="bnn", input_shape=(28, 28), input_thresholds=LEVELS)
    with pytest.raises(NetworkError, match="not ternary up to one scale"):
        from_state_dict(state, LAYERS, kind="tnn", input_shape=(28, 28), input_thresholds=LEVELS)


def test_pytorch_model_exported_with_torch_save_gives_the_same_accuracy(tmp_path, mnist):
    torch = pytest.importorskip("torch")
    x, y = mnist
    torch.manual_seed(0)

    class BinaryConv(torch.nn.Conv2d):
        def forward(self, h):
            return self._conv_forward(h, torch.where(self.weight >= 0, 1.0, -1.0).to(h.dtype), self.bias)

    class BinaryLinear(torch.nn.Linear):
        def forward(self, h):
            return torch.nn.functional.linear(h, torch.where(self.weight >= 0, 1.0, -1.0).to(h.dtype), self.bias)

    def sign(h):
        return torch.where(h >= 0, 1.0, -1.0).to(h.dtype)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = BinaryConv(2, 6, 5), torch.nn.BatchNorm2d(6)
            self.conv2, self.bn2 = BinaryConv(6, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8)
            self.fc1, self.bn3 = BinaryLinear(8 * 6 * 6, 20), torch.nn.BatchNorm1d(20)
            self.fc2, self.bn4 = BinaryLinear(20, 10), torch.nn.BatchNorm1d(10)

        def forward(self, h):
            h = torch.nn.functional.max_pool2d(sign(self.bn1(self.conv1(h))), 2)
            h = sign(self.bn2(torch.nn.functional.max_pool2d(self.conv2(h), 2)))
            h = sign(self.bn3(self.fc1(torch.flatten(h, 1))))
            return self.bn4(self.fc2(h))

    model = Net().double()
    with torch.no_grad():  # trained-looking batch-norm statistics, positive gammas before the pooled bn2
        for bn in (model.bn1, model.bn2, model.bn3, model.bn4):
            bn.running_mean.normal_(0, 3)
            bn.running_var.uniform_(5, 40)
            bn.weight.uniform_(0.5, 2) if bn is model.bn2 else bn.weight.normal_(0, 1.5)
            bn.bias.normal_(0, 0.5)
    model.eval()
    images = torch.from_numpy(x.reshape(-1, 1, 28, 28))
    code = torch.cat([torch.where(images >= level, 1.0, -1.0) for level in LEVELS], dim=1).double()
    with torch.no_grad():
        torch_predictions = model(code).argmax(dim=1).numpy()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    network = from_state_dict(load_state_dict_file(tmp_path / "model.pt"), LAYERS, kind="bnn",
                              input_shape=(28, 28), input_thresholds=LEVELS)
    np.testing.assert_array_equal(network.predict(x), torch_predictions)
    assert network.accuracy(x, y) == pytest.approx(np.mean(torch_predictions == y))
    again = QuantizedNetwork.load(network.save(tmp_path / "net.npz"))
    assert again.accuracy(x, y) == network.accuracy(x, y)
