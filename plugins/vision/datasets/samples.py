"""Tiny sample files in the MNIST (IDX) and CIFAR-10 (binary) formats, for offline conformance checks.

The images are procedural shapes, not real digits or photos; what they exercise is the real
file parsing. The plugin's ``sample_config`` for ``mnist`` and ``cifar10`` points at folders
written by these functions (under the cache, only when the conformance kit reads it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from plugins.vision.datasets.idx import write_idx
from plugins.vision.datasets.shapes import make_shapes
from tinytorch_core.fileio import atomic_write_bytes

__all__ = ["write_sample_cifar10", "write_sample_mnist"]


def _uint8_shapes(n: int, size: int, channels: int, seed: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    images, labels = make_shapes(n, image_size=size, channels=channels, seed=seed)
    return (np.clip(images, 0.0, 1.0) * 255).astype(np.uint8), labels.astype(np.uint8)


def write_sample_mnist(folder: Path, n_train: int = 16, n_test: int = 8) -> Path:
    """The four MNIST IDX files (gzip) with ``n_train`` / ``n_test`` 28x28 images."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = _uint8_shapes(n, 28, 1, seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images[:, 0])
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


def write_sample_cifar10(folder: Path, per_batch: int = 4) -> Path:
    """The six CIFAR-10 binary batch files with ``per_batch`` 32x32 colour images each."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for seed, name in enumerate(names):
        images, labels = _uint8_shapes(per_batch, 32, 3, seed)
        records = np.concatenate([labels[:, None], images.reshape(per_batch, -1)], axis=1)
        atomic_write_bytes(folder / name, records.tobytes())
    return folder
