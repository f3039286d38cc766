"""CIFAR-10 from its binary release (records of 1 label byte + 3072 pixel bytes), never the pickle one."""

from __future__ import annotations

import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from plugins.vision.datasets.base import classification_splits
from plugins.vision.datasets.download import fetch
from plugins.vision.transforms import RandomCrop, RandomHorizontalFlip, Transform
from tinytorch_core.data import DataSplits

__all__ = ["CIFAR10_ARCHIVE", "CIFAR10_SHA256", "CIFAR10_MIRRORS", "CIFAR10_CLASSES", "CIFARError",
           "parse_cifar_records", "read_cifar10", "load_cifar10"]

Array = np.ndarray[Any, np.dtype[Any]]

CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR10_SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
CIFAR10_MIRRORS: tuple[str, ...] = ("https://www.cs.toronto.edu/~kriz/",)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
_RECORD = 1 + 3 * 32 * 32
_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
_TEST_FILE = "test_batch.bin"


class CIFARError(ValueError):
    """A CIFAR binary file is damaged; the message names the file."""


def parse_cifar_records(payload: bytes, source: str) -> tuple[Array, Array]:
    """uint8 images (N, 3, 32, 32) and int64 labels from the bytes of one ``*.bin`` batch file."""
    if not payload or len(payload) % _RECORD:
        raise CIFARError(
            f"{source}: {len(payload)} bytes is not a whole number of {_RECORD}-byte records "
            "(1 label byte + 3072 pixel bytes); the file is truncated or not a CIFAR-10 binary batch"
        )
    records = np.frombuffer(payload, dtype=np.uint8).reshape(-1, _RECORD)
    labels = records[:, 0].astype(np.int64)
    if int(labels.max()) > 9:
        bad = int(np.argmax(labels > 9))
        raise CIFARError(f"{source}: record {bad} has label {int(labels[bad])}, expected 0-9; the file is corrupted")
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def _read_from_archive(archive: Path, names: Sequence[str]) -> dict[str, bytes]:
    # Members are read into memory by name: nothing is extracted, so archive paths can't escape.
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            out: dict[str, bytes] = {}
            for name in names:
                if name not in members:
                    raise CIFARError(f"{archive}: has no member {name}; is it cifar-10-binary.tar.gz?")
                handle = tar.extractfile(members[name])
                assert handle is not None  # isfile() members always have a payload
                out[name] = handle.read()
            return out
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise CIFARError(f"{archive}: damaged or not a .tar.gz archive ({exc}); delete it and download it again") from exc


def read_cifar10(source: Path) -> dict[str, tuple[Array, Array]]:
    """``{"train": (images, labels), "test": ...}`` from the archive, its ``cifar-10-batches-bin`` folder, or a folder of ``.bin`` files."""
    names = (*_TRAIN_FILES, _TEST_FILE)
    if source.is_file():
        blobs = _read_from_archive(source, names)
        where = {name: f"{source}:{name}" for name in names}
    else:
        folder = source / "cifar-10-batches-bin" if (source / "cifar-10-batches-bin").is_dir() else source
        if not all((folder / n).is_file() for n in names) and (source / CIFAR10_ARCHIVE).is_file():
            return read_cifar10(source / CIFAR10_ARCHIVE)
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"cifar10: {', '.join(missing)} not found in {folder}; pass the folder holding the binary "
                f"batches (cifar-10-batches-bin) or {CIFAR10_ARCHIVE}"
            )
        blobs = {n: (folder / n).read_bytes() for n in names}
        where = {n: str(folder / n) for n in names}
    parts = [parse_cifar_records(blobs[n], where[n]) for n in _TRAIN_FILES]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return {"train": train, "test": parse_cifar_records(blobs[_TEST_FILE], where[_TEST_FILE])}


def load_cifar10(
    path: str | Path | None = None,
    *,
    n_train: int | None = None,
    n_val: int | None = None,
    augment: bool = False,
    normalize: bool = True,
    seed: int = 0,
    download: bool = True,
    base_urls: Sequence[str] = CIFAR10_MIRRORS,
) -> DataSplits:
    """CIFAR-10 as ``DataSplits``: train = the five data batches, val = the test batch; float32 (N, 3, 32, 32).

    ``path``: the archive, or a folder with it or with the ``.bin`` batches; else it is downloaded
    into the cache once. ``augment`` adds a padded random crop and a horizontal flip.
    """
    if path is not None:
        source = Path(path).expanduser()
        if not source.exists():
            raise FileNotFoundError(f"cifar10: {source} does not exist; pass the {CIFAR10_ARCHIVE} file or its folder")
    elif download:
        source = fetch(CIFAR10_ARCHIVE, base_urls, CIFAR10_SHA256, "cifar10", "cifar10")
    else:
        raise FileNotFoundError(f"cifar10: no path given and download=False; pass path=<{CIFAR10_ARCHIVE} or its folder>")
    data = read_cifar10(source)
    augmentation: list[Transform] = []
    if augment:
        rng = np.random.default_rng(seed)
        augmentation = [RandomCrop(32, padding=4, rng=rng), RandomHorizontalFlip(0.5, rng=rng)]
    return classification_splits(
        data["train"], data["test"], n_train=n_train, n_val=n_val, augmentation=augmentation,
        normalization=(CIFAR10_MEAN, CIFAR10_STD) if normalize else None,
        info={"num_classes": 10, "in_channels": 3, "image_size": 32, "classes": list(CIFAR10_CLASSES)},
    )
