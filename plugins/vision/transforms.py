"""Batched image transforms on numpy arrays of shape (N, C, H, W).

Each transform is a callable ``transform(images) -> images`` that handles the whole batch in a
few numpy calls. Random transforms draw from their own generator (``seed`` or ``rng``), so a
pipeline is reproducible without touching the framework's global generator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Array = np.ndarray[Any, np.dtype[Any]]
Transform = Callable[[Array], Array]

__all__ = ["Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip", "Transform"]


def _check_batch(name: str, images: Array) -> None:
    if not isinstance(images, np.ndarray) or images.ndim != 4:
        shape = getattr(images, "shape", type(images).__name__)
        raise ValueError(f"{name}: expected a numpy batch of shape (N, C, H, W), got {shape}")


def _generator(seed: int | None, rng: np.random.Generator | None) -> np.random.Generator:
    if seed is not None and rng is not None:
        raise ValueError("pass either seed or rng, not both")
    return rng if rng is not None else np.random.default_rng(seed)


class Compose:
    """Apply transforms in order: ``Compose([RandomCrop(28, 2), Normalize(...)])``."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"Compose: item {i} ({t!r}) is not callable")
        self.transforms = list(transforms)

    def __call__(self, images: Array) -> Array:
        for t in self.transforms:
            images = t(images)
        return images

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class Normalize:
    """``(x - mean[c]) / std[c]`` per channel; keeps the input's floating dtype (float32 stays float32)."""

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1 or len(self.mean) != len(self.std):
            raise ValueError(f"Normalize: mean and std must be equal-length sequences, got {mean!r} and {std!r}")
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be positive, got {std!r}")

    def __call__(self, images: Array) -> Array:
        _check_batch("Normalize", images)
        channels = images.shape[1]
        if len(self.mean) not in (1, channels):
            raise ValueError(
                f"Normalize: has {len(self.mean)} channel statistics but the batch {images.shape} has {channels} channels"
            )
        dtype = images.dtype if images.dtype.kind == "f" else np.dtype(np.float32)
        mean = self.mean.astype(dtype)[:, None, None]
        scale = (1.0 / self.std).astype(dtype)[:, None, None]
        return (images.astype(dtype, copy=False) - mean) * scale

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomCrop:
    """Zero-pad by ``padding`` then cut a random ``size`` window per image (one gather for the batch)."""

    def __init__(self, size: int | tuple[int, int], padding: int = 0, *, seed: int | None = None,
                 rng: np.random.Generator | None = None) -> None:
        self.size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        if min(self.size) < 1 or padding < 0:
            raise ValueError(f"RandomCrop: size must be positive and padding >= 0, got size={size}, padding={padding}")
        self.padding = padding
        self.rng = _generator(seed, rng)

    def __call__(self, images: Array) -> Array:
        _check_batch("RandomCrop", images)
        n = images.shape[0]
        p = self.padding
        padded = np.pad(images, ((0, 0), (0, 0), (p, p), (p, p))) if p else images
        ch, cw = self.size
        if padded.shape[2] < ch or padded.shape[3] < cw:
            raise ValueError(
                f"RandomCrop: crop {self.size} is larger than the padded image {padded.shape[2:]} "
                f"(batch {images.shape}, padding {p})"
            )
        top = self.rng.integers(0, padded.shape[2] - ch + 1, size=n)
        left = self.rng.integers(0, padded.shape[3] - cw + 1, size=n)
        windows = sliding_window_view(padded, (ch, cw), axis=(2, 3))  # (N, C, H', W', ch, cw), a view
        # Advanced indices on axes 0, 2, 3 pick one window per image -> (N, C, ch, cw).
        return np.ascontiguousarray(windows[np.arange(n), :, top, left])

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, *, seed: int | None = None, rng: np.random.Generator | None = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p
        self.rng = _generator(seed, rng)

    def __call__(self, images: Array) -> Array:
        _check_batch("RandomHorizontalFlip", images)
        flip = self.rng.random(images.shape[0]) < self.p
        return np.where(flip[:, None, None, None], images[..., ::-1], images)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"
