"""``shapes``: a procedurally generated image classification set that needs no download.

Each image holds one shape (circle, square, triangle, cross, and optionally ring) at a random
position, size and rotation, in random intensities over a random background, plus Gaussian
noise. Rasterisation is vectorised over the whole batch with coordinate grids: every shape is
an (approximate) signed distance in its own rotated, scaled frame, turned into an
anti-aliased pixel coverage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from plugins.vision.datasets.base import ImageDataset
from plugins.vision.transforms import RandomCrop
from tinytorch_core.data import DataSplits

__all__ = ["SHAPE_NAMES", "make_shapes", "load_shapes"]

Array = np.ndarray[Any, np.dtype[Any]]

_TRIANGLE_NORMALS = np.array([[np.cos(a), np.sin(a)] for a in np.deg2rad([270.0, 30.0, 150.0])], dtype=np.float32)
_CHUNK = 2048  # samples rasterised at once: bounds the (chunk, H, W) temporaries


def _circle(u: Array, v: Array) -> Array:
    radial: Array = np.sqrt(u * u + v * v)
    return radial - np.float32(1.0)


def _square(u: Array, v: Array) -> Array:
    return np.maximum(np.abs(u), np.abs(v)) - np.float32(0.8)


def _triangle(u: Array, v: Array) -> Array:
    # Inside when the point's projection on each edge normal is below the apothem (0.6: circumradius 1.2).
    n = _TRIANGLE_NORMALS
    proj: list[Array] = [u * n[k, 0] + v * n[k, 1] for k in range(3)]
    return np.maximum(np.maximum(proj[0], proj[1]), proj[2]) - np.float32(0.6)


def _cross(u: Array, v: Array) -> Array:
    au, av = np.abs(u), np.abs(v)
    horizontal = np.maximum(au - 1.0, av - 0.3)
    vertical = np.maximum(av - 1.0, au - 0.3)
    return np.minimum(horizontal, vertical)


def _ring(u: Array, v: Array) -> Array:
    radial: Array = np.sqrt(u * u + v * v)
    return np.abs(radial - np.float32(0.75)) - np.float32(0.25)


SHAPE_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring")
_DISTANCES: tuple[Callable[[Array, Array], Array], ...] = (_circle, _square, _triangle, _cross, _ring)


def make_shapes(
    n: int,
    image_size: int = 20,
    num_classes: int = 4,
    channels: int = 1,
    noise: float = 0.05,
    seed: int | None = 0,
) -> tuple[Array, Array]:
    """``n`` images (float32, (n, channels, image_size, image_size), roughly in [0, 1]) and int64 labels.

    The same ``seed`` gives the same images for any ``n`` prefix-independent of chunking.
    """
    if n < 0:
        raise ValueError(f"make_shapes: n must be >= 0, got {n}")
    if image_size < 8:
        raise ValueError(f"make_shapes: image_size must be at least 8 pixels to draw a shape, got {image_size}")
    if not 2 <= num_classes <= len(SHAPE_NAMES):
        raise ValueError(f"make_shapes: num_classes must be in [2, {len(SHAPE_NAMES)}] ({SHAPE_NAMES}), got {num_classes}")
    if channels not in (1, 3):
        raise ValueError(f"make_shapes: channels must be 1 (grey) or 3 (colour), got {channels}")
    rng = np.random.default_rng(seed)
    size = float(image_size)
    labels = rng.integers(0, num_classes, size=n).astype(np.int64)
    radius = rng.uniform(0.22, 0.42, size=n) * size
    margin = np.minimum(radius * 1.1, size / 2)
    cx = rng.uniform(margin, size - margin)
    cy = rng.uniform(margin, size - margin)
    theta = rng.uniform(0.0, 2 * np.pi, size=n)
    background = rng.uniform(0.0, 0.3, size=(n, channels))
    foreground = rng.uniform(0.6, 1.0, size=(n, channels))
    pixel_noise = rng.standard_normal((n, channels, image_size, image_size), dtype=np.float32) * np.float32(noise)

    grid = np.arange(image_size, dtype=np.float32) + np.float32(0.5)  # pixel centres
    images = np.empty((n, channels, image_size, image_size), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(start + _CHUNK, n))
        r = radius[sl].astype(np.float32)[:, None, None]
        dx = grid[None, None, :] - cx[sl].astype(np.float32)[:, None, None]
        dy = grid[None, :, None] - cy[sl].astype(np.float32)[:, None, None]
        cos = np.cos(theta[sl]).astype(np.float32)[:, None, None]
        sin = np.sin(theta[sl]).astype(np.float32)[:, None, None]
        # Each pixel in the shape's own frame, in units of its radius.
        u = (cos * dx + sin * dy) / r
        v = (cos * dy - sin * dx) / r
        distance = np.empty(u.shape, dtype=np.float32)
        chunk_labels = labels[sl]
        for k in range(num_classes):
            sel = chunk_labels == k
            if sel.any():
                distance[sel] = _DISTANCES[k](u[sel], v[sel])
        # Signed distance in pixels -> coverage of a one-pixel-wide edge (anti-aliasing).
        coverage = np.clip(np.float32(0.5) - distance * r, 0.0, 1.0)[:, None]
        bg = background[sl].astype(np.float32)[:, :, None, None]
        fg = foreground[sl].astype(np.float32)[:, :, None, None]
        images[sl] = bg + (fg - bg) * coverage + pixel_noise[sl]
    return images, labels


def load_shapes(
    n_train: int = 4000,
    n_val: int = 1000,
    image_size: int = 20,
    num_classes: int = 4,
    channels: int = 1,
    noise: float = 0.05,
    augment: bool = False,
    seed: int = 0,
) -> DataSplits:
    """The ``shapes`` dataset as ``DataSplits``; train and val come from disjoint draws of one seeded stream.

    ``augment`` adds a 1-pixel padded random crop to the training batches.
    """
    if n_train < 1 or n_val < 0:
        raise ValueError(f"shapes: need n_train >= 1 and n_val >= 0, got n_train={n_train}, n_val={n_val}")
    images, labels = make_shapes(n_train + n_val, image_size, num_classes, channels, noise, seed)
    transform = RandomCrop(image_size, padding=1, seed=seed) if augment else None
    info: dict[str, Any] = {"num_classes": num_classes, "in_channels": channels, "image_size": image_size,
                            "classes": list(SHAPE_NAMES[:num_classes]), "task": "image_classification"}
    return DataSplits(
        train=ImageDataset(images[:n_train], labels[:n_train], transform),
        val=ImageDataset(images[n_train:], labels[n_train:]) if n_val else None,
        info=info,
    )
