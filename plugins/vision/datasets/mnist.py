"""MNIST from the standard IDX files: from a folder, or downloaded once into the cache (sha256-checked)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from plugins.vision.datasets.base import classification_splits
from plugins.vision.datasets.download import fetch
from plugins.vision.datasets.idx import IDXError, read_idx
from plugins.vision.transforms import RandomCrop, Transform
from tinytorch_core.data import DataSplits

__all__ = ["MNIST_FILES", "MNIST_MIRRORS", "MNIST_MEAN", "MNIST_STD", "load_mnist", "read_mnist_pair"]

Array = np.ndarray[Any, np.dtype[Any]]

MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# sha256 of the published gzip files.
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def _locate(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def read_mnist_pair(images_path: Path, labels_path: Path) -> tuple[Array, Array]:
    """uint8 images (N, 1, 28, 28) and int64 labels from an IDX image file and its label file."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise IDXError(f"{images_path}: expected uint8 images (N, rows, cols), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise IDXError(f"{labels_path}: expected {len(images)} labels to match {images_path}, got shape {labels.shape}")
    if labels.size and int(labels.max()) > 9:
        raise IDXError(f"{labels_path}: labels must be digits 0-9, found {int(labels.max())}")
    return images[:, None], labels.astype(np.int64)


def _files(path: str | Path | None, split: str, download: bool, base_urls: Sequence[str]) -> dict[str, Path]:
    prefixes = ("t10k",) if split == "test" else ("train", "t10k")
    stems = [f"{p}-{kind}-idx{3 if kind == 'images' else 1}-ubyte" for p in prefixes for kind in ("images", "labels")]
    found: dict[str, Path] = {}
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"mnist: path {folder} is not a folder; pass the folder holding the IDX files")
        for stem in stems:
            hit = _locate(folder, stem)
            if hit is None:
                hint = " (only the test set is there? pass split='test' to split it into train/val)" \
                    if split != "test" and _locate(folder, "t10k-images-idx3-ubyte") else ""
                raise FileNotFoundError(f"mnist: {stem}[.gz] not found in {folder}{hint}")
            found[stem] = hit
        return found
    if not download:
        raise FileNotFoundError("mnist: no path given and download=False; pass path=<folder with the IDX files>")
    for stem in stems:
        name = stem + ".gz"
        found[stem] = fetch(name, base_urls, MNIST_FILES[name], "mnist", "mnist")
    return found


def load_mnist(
    path: str | Path | None = None,
    *,
    split: str = "standard",
    val_size: int = 2000,
    n_train: int | None = None,
    n_val: int | None = None,
    augment: bool = False,
    normalize: bool = True,
    seed: int = 0,
    download: bool = True,
    base_urls: Sequence[str] = MNIST_MIRRORS,
) -> DataSplits:
    """MNIST as ``DataSplits``: images float32 (N, 1, 28, 28) per batch, labels int64.

    ``split="standard"``: train = the 60k training files, val = the 10k test files.
    ``split="test"``: only the 10k test files, split (seeded) into ``10000 - val_size`` / ``val_size``.
    ``n_train`` / ``n_val`` cap the sizes (for quick runs). ``augment`` adds a 2-pixel random crop.
    """
    if split not in ("standard", "test"):
        raise ValueError(f"mnist: split must be 'standard' or 'test', got {split!r}")
    files = _files(path, split, download, base_urls)
    test_x, test_y = read_mnist_pair(files["t10k-images-idx3-ubyte"], files["t10k-labels-idx1-ubyte"])
    if split == "standard":
        train_x, train_y = read_mnist_pair(files["train-images-idx3-ubyte"], files["train-labels-idx1-ubyte"])
        val_x, val_y = test_x, test_y
    else:
        if not 0 < val_size < len(test_x):
            raise ValueError(f"mnist: val_size must be in (0, {len(test_x)}), got {val_size}")
        order = np.random.default_rng(seed).permutation(len(test_x))
        train_idx, val_idx = order[val_size:], order[:val_size]
        train_x, train_y, val_x, val_y = test_x[train_idx], test_y[train_idx], test_x[val_idx], test_y[val_idx]
    augmentation: list[Transform] = [RandomCrop(28, padding=2, seed=seed)] if augment else []
    return classification_splits(
        (train_x, train_y), (val_x, val_y), n_train=n_train, n_val=n_val, augmentation=augmentation,
        normalization=(MNIST_MEAN, MNIST_STD) if normalize else None,
        info={"num_classes": 10, "in_channels": 1, "image_size": 28, "classes": [str(d) for d in range(10)]},
    )
