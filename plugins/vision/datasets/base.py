"""An in-memory image classification dataset that builds whole batches in numpy, and the splits built from it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from plugins.vision.transforms import Compose, Normalize, Transform
from tinytorch_core.data import Dataset, DataSplits

__all__ = ["ImageDataset", "classification_splits"]

Array = np.ndarray[Any, np.dtype[Any]]


class ImageDataset(Dataset):
    """``(image, label)`` pairs from an (N, C, H, W) array and N integer labels.

    uint8 images stay uint8 in memory (4x smaller) and become float32 in [0, 1] per batch;
    ``transform`` (e.g. ``Compose([RandomCrop(...), Normalize(...)])``) then runs on the batch.
    """

    def __init__(self, images: Array, labels: Array, transform: Transform | None = None) -> None:
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.ndim != 4:
            raise ValueError(f"ImageDataset: images must be (N, C, H, W), got shape {images.shape}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"ImageDataset: need one label per image, got labels {labels.shape} for images {images.shape}")
        if images.dtype != np.uint8 and images.dtype.kind != "f":
            raise TypeError(f"ImageDataset: images must be uint8 or floating, got {images.dtype}")
        self.images = images
        self.labels = labels.astype(np.int64, copy=False)
        self.transform = transform

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def get_batch(self, indices: Array) -> tuple[Array, Array]:
        """Images (float32, transformed) and labels at ``indices``, gathered with one fancy index."""
        images = self.images[indices]
        if images.dtype == np.uint8:
            images = images.astype(np.float32) * np.float32(1.0 / 255.0)
        if self.transform is not None:
            images = self.transform(images)
        return images, self.labels[indices]

    def __getitem__(self, index: int) -> tuple[Array, Array]:
        images, labels = self.get_batch(np.asarray([index]))
        return images[0], labels[0]


def classification_splits(
    train: tuple[Array, Array],
    val: tuple[Array, Array],
    *,
    n_train: int | None,
    n_val: int | None,
    augmentation: list[Transform],
    normalization: tuple[float | Sequence[float], float | Sequence[float]] | None,
    info: dict[str, Any],
) -> DataSplits:
    """``DataSplits`` of two ``(images, labels)`` pairs, as the image loaders return them.

    ``n_train`` / ``n_val`` keep the first images of each split; the training set runs
    ``augmentation`` then the ``(mean, std)`` normalization (when given), validation only the
    normalization. ``info`` gets ``task = "image_classification"``.
    """
    (train_x, train_y), (val_x, val_y) = train, val
    if n_train is not None:
        train_x, train_y = train_x[:n_train], train_y[:n_train]
    if n_val is not None:
        val_x, val_y = val_x[:n_val], val_y[:n_val]
    eval_tf: Transform | None = Normalize(*normalization) if normalization is not None else None
    train_steps = [*augmentation, *([eval_tf] if eval_tf is not None else [])]
    return DataSplits(
        train=ImageDataset(train_x, train_y, Compose(train_steps) if train_steps else None),
        val=ImageDataset(val_x, val_y, eval_tf),
        info={**info, "task": "image_classification"},
    )
