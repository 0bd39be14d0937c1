"""Handwritten-digit datasets, all offline.

- `load_digits()`: scikit-learn's bundled 8x8 digits (1797 images, UCI optdigits test
  set), the default: it ships inside the scikit-learn wheel, nothing is downloaded.
- `load_mnist(directory)`: MNIST (or Fashion-MNIST) from the four IDX files a user
  already has, plain or gzipped, under their usual names.
- `read_idx(path)`: the IDX reader underneath.

Images come back flattened to float64 in [0, 1]; labels as int64 0..9.
"""

from __future__ import annotations

import gzip
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
DATASETS: tuple[str, ...] = ("digits", "mnist")


class DatasetError(CircuitkitError):
    """A dataset file is missing or malformed."""


@dataclass(frozen=True)
class Dataset:
    """A train/test split of flattened images in [0, 1] with integer labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

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
    # Stratified split by hand (same fraction of every class in the test set) so the
    # split depends on numpy's seeded permutation only.
    rng = np.random.default_rng(seed)
    test_mask = np.zeros(y.size, dtype=bool)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test_mask[members[: int(round(test_fraction * members.size))]] = True
    return Dataset("digits", x[~test_mask], y[~test_mask], x[test_mask], y[test_mask])


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


def load_mnist(directory: str | Path) -> Dataset:
    """MNIST from a directory holding the four IDX files (train/t10k images/labels)."""
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
        "mnist",
        flat(arrays["train_images"]), arrays["train_labels"].astype(np.int64),
        flat(arrays["test_images"]), arrays["test_labels"].astype(np.int64),
    )


def load_dataset(spec: str) -> Dataset:
    """'digits' or 'mnist:DIRECTORY' (the form the command line takes)."""
    name, _, argument = spec.partition(":")
    if name == "digits" and not argument:
        return load_digits()
    if name == "mnist" and argument:
        return load_mnist(argument)
    raise DatasetError(f"unknown dataset {spec!r}; expected 'digits' or 'mnist:DIRECTORY'")


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
