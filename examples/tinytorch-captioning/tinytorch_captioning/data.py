"""``captioned_shapes``: the vision plugin's procedural shapes, placed, sized and coloured, with captions.

The shapes themselves come from the vision plugin's registered ``shapes`` dataset (fetched through
the component lookup, never imported): it draws each shape's class, rotation and outline. That
dataset picks position and size from a continuum and colours in random grey levels, which no caption
can name without ambiguity, so this plugin asks it for clean (noise-free) grey patches, recovers each
shape's exact anti-aliased coverage from them, and composes the image itself: the coverage is
resampled onto a canvas at a chosen 3 x 3 grid cell and one of two sizes (one separable,
anti-aliased resampling per axis: two batched matmuls) and painted in a named colour over a dark
background with pixel noise. Everything is drawn from one seed.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinytorch_core.data import ArrayDataset, Dataset, DataSplits, fetch_batch

from tinytorch_captioning.captions import (
    COLOURS, DEFAULT_HELD_OUT, POSITIONS, SHAPES, Attributes, alphabet, captions, draw_colours, draw_layout,
    encode_captions, held_out_mask, longest_caption,
)
from tinytorch_captioning.words import WordTokenizer

Array = np.ndarray[Any, np.dtype[Any]]

PAD = -1  # caption padding: ignored by the loss
PATCH = 32  # side of the vision plugin's patches: large enough that every shape has an interior pixel
#: Shape extent (bounding-box side) as a fraction of the image side, per size: well apart, so "small" and
#: "large" are never ambiguous; the centre moves at most JITTER inside its grid cell.
EXTENT: tuple[tuple[float, float], ...] = ((0.2, 0.25), (0.34, 0.39))
CELL_OFFSET = 0.3
JITTER = 0.03


@dataclass
class CaptionSplits(DataSplits):
    """``DataSplits`` plus the unseen-combination split (shape + colour pairs absent from training)."""

    unseen: Dataset | None = None


_LAST_BUILT: list[tuple[dict[str, Any], CaptionSplits]] = []


def coverage(patches: Array) -> Array:
    """(N, P, P) coverage in [0, 1] of noise-free single-shape grey images (N, 1, P, P).

    Each image is background + (foreground - background) * coverage, so its minimum is the
    background and its maximum the foreground (the shape leaves both a background and an interior pixel).
    """
    grey = patches[:, 0].astype(np.float32)
    low = grey.min(axis=(1, 2), keepdims=True)
    high = grey.max(axis=(1, 2), keepdims=True)
    out: Array = (grey - low) / np.maximum(high - low, np.float32(1e-6))
    return out


def _bounds(mask: Array) -> tuple[Array, Array]:
    """Centre and side of the covered pixels' extent along the last axis of an (N, P) bool array."""
    side = mask.shape[1]
    first = mask.argmax(axis=1)
    last = side - 1 - mask[:, ::-1].argmax(axis=1)
    return (first + last + 1) / 2.0, (last - first + 1).astype(np.float64)


def _resampler(source_centre: Array, target_centre: Array, scale: Array, source: int, target: int) -> Array:
    """(N, target, source) triangle-filter weights mapping source pixels to target pixels along one axis.

    Target pixel centre t maps to source coordinate ``source_centre + (t - target_centre) * scale``;
    the filter widens with the downscaling factor so thin outlines are averaged, not aliased.
    """
    t = np.arange(target, dtype=np.float64) + 0.5
    s = np.arange(source, dtype=np.float64) + 0.5
    u = source_centre[:, None] + (t[None, :] - target_centre[:, None]) * scale[:, None]  # (N, target)
    width = np.maximum(scale, 1.0)[:, None, None]
    weights = np.maximum(0.0, 1.0 - np.abs(u[:, :, None] - s[None, None, :]) / width) / width
    return weights.astype(np.float32)


def compose(cover: Array, attributes: Attributes, image_size: int, noise: float, rng: np.random.Generator) -> Array:
    """(N, 3, S, S) float32 images: each coverage placed, scaled and painted as its attributes say."""
    n = len(attributes)
    inside: Array = np.asarray(cover > 0.5)
    cy, height = _bounds(np.asarray(inside.any(axis=2)))
    cx, width = _bounds(np.asarray(inside.any(axis=1)))
    bounds = np.asarray(EXTENT)[attributes.size]  # (N, 2)
    extent = rng.uniform(bounds[:, 0], bounds[:, 1]) * image_size
    scale = np.maximum(height, width) / extent
    row, col = np.divmod(attributes.position, 3)
    centre_y = image_size * (0.5 + CELL_OFFSET * (row - 1) + rng.uniform(-JITTER, JITTER, size=n))
    centre_x = image_size * (0.5 + CELL_OFFSET * (col - 1) + rng.uniform(-JITTER, JITTER, size=n))
    rows = _resampler(cy, centre_y, scale, cover.shape[1], image_size)
    cols = _resampler(cx, centre_x, scale, cover.shape[2], image_size)
    placed = np.clip(rows @ cover @ cols.transpose(0, 2, 1), 0.0, 1.0)[:, None]  # (N, 1, S, S)
    palette = np.asarray(list(COLOURS.values()), dtype=np.float32)
    foreground = palette[attributes.colour] * rng.uniform(0.8, 1.0, size=(n, 1)).astype(np.float32)
    background = rng.uniform(0.0, 0.15, size=(n, 3)).astype(np.float32)
    fg, bg = foreground[:, :, None, None], background[:, :, None, None]
    pixel_noise = rng.standard_normal((n, 3, image_size, image_size), dtype=np.float32) * np.float32(noise)
    images: Array = (bg + (fg - bg) * placed + pixel_noise).astype(np.float32)
    return images


def _patches(components: Any, n: int, seed: int) -> tuple[Array, Array]:
    """``n`` noise-free grey shape patches and their shape labels, from the vision plugin's ``shapes``."""
    shapes = components.get("datasets", "vision:shapes")
    splits = shapes(n_train=n, n_val=0, image_size=PATCH, num_classes=len(SHAPES), channels=1, noise=0.0, seed=seed)
    images, labels = fetch_batch(splits.train, np.arange(n))
    return np.asarray(images), np.asarray(labels, dtype=np.int64)


def make_tokenizer(components: Any, tokens: str) -> Any:
    """The tokenizer named by a ``tokens`` setting."""
    if tokens == "words":
        return WordTokenizer()
    if tokens == "char":
        return components.get("tokenizers", "language:char")(vocab=alphabet())
    raise ValueError(f"captioned_shapes: tokens must be 'words' or 'char', got {tokens!r}")


def captioned_shapes(
    components: Any,
    n_train: int = 6000,
    n_val: int = 500,
    n_unseen: int = 500,
    image_size: int = 28,
    held_out: Sequence[str] = DEFAULT_HELD_OUT,
    noise: float = 0.04,
    tokens: str = "words",
    seed: int = 0,
) -> CaptionSplits:
    """Captioned shapes: train and val never show a ``held_out`` shape + colour pair; ``unseen`` shows only those.

    Batches are ``(images (N, 3, S, S) float32, caption token ids (N, L) int64 padded with -1)``; the
    captions are encoded by ``tokens``: ``"words"`` (this plugin's ``caption_words``) or ``"char"`` (the
    language plugin's ``char`` tokenizer over the captions' alphabet); ``info["tokenizer"]`` is it.
    """
    tokenizer = make_tokenizer(components, tokens)
    if n_train < 1 or n_val < 0 or n_unseen < 0:
        raise ValueError(f"captioned_shapes: need n_train >= 1, n_val >= 0, n_unseen >= 0, got {n_train}, {n_val}, {n_unseen}")
    if image_size < 16:
        raise ValueError(f"captioned_shapes: image_size must be at least 16 pixels for a 3 x 3 grid of shapes, got {image_size}")
    held = held_out_mask(held_out)
    unseen_shapes: Array = np.asarray(held.any(axis=1))
    if n_unseen and not unseen_shapes.any():
        raise ValueError("captioned_shapes: n_unseen > 0 but held_out is empty; name pairs like 'green circle' "
                         "or set n_unseen = 0")
    n_seen = n_train + n_val
    # The unseen split can only use shapes that have a held-out colour: draw enough patches to find them.
    spare = 0 if not n_unseen else math.ceil(2 * n_unseen * len(SHAPES) / int(unseen_shapes.sum())) + 16
    patches, labels = _patches(components, n_seen + spare, seed)
    rng = np.random.default_rng([seed, 1])

    usable = np.flatnonzero(unseen_shapes[labels[n_seen:]])[:n_unseen] + n_seen
    if len(usable) < n_unseen:
        raise ValueError(f"captioned_shapes: only {len(usable)} patches of held-out shapes for n_unseen={n_unseen}")
    picks = np.concatenate([np.arange(n_seen), usable])
    shape = labels[picks]
    colour = np.concatenate([draw_colours(shape[:n_seen], ~held, rng), draw_colours(shape[n_seen:], held, rng)])
    size, position = draw_layout(len(picks), rng)
    attributes = Attributes(shape, colour, size, position)
    images = compose(coverage(patches[picks]), attributes, image_size, noise, rng)

    length = longest_caption(tokenizer.encode)
    ids = encode_captions(captions(attributes), tokenizer.encode, length, PAD)

    def split(start: int, stop: int) -> ArrayDataset:
        return ArrayDataset(images[start:stop], ids[start:stop])

    info: dict[str, Any] = {"tokenizer": tokenizer, "image_size": image_size, "max_caption_length": length,
                            "held_out": list(held_out), "positions": list(POSITIONS)}
    splits = CaptionSplits(train=split(0, n_train), val=split(n_train, n_seen) if n_val else None, info=info,
                           unseen=split(n_seen, n_seen + n_unseen) if n_unseen else None)
    settings = {"n_train": n_train, "n_val": n_val, "n_unseen": n_unseen, "image_size": image_size,
                "held_out": list(held_out), "noise": noise, "tokens": tokens, "seed": seed}
    _LAST_BUILT[:] = [(settings, splits)]
    return splits


def settings_of(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``captioned_shapes`` keyword arguments with the defaults filled in (what a run's data config means)."""
    bound = inspect.signature(captioned_shapes).bind(None, **kwargs)
    bound.apply_defaults()
    settings = {k: v for k, v in bound.arguments.items() if k != "components"}
    settings["held_out"] = list(settings["held_out"])
    return settings


def last_built(kwargs: Mapping[str, Any]) -> CaptionSplits | None:
    """The splits this process last built, if they were built from ``kwargs`` (the end-of-training report
    reads the held-out splits of the run's own data without rebuilding them)."""
    if _LAST_BUILT and _LAST_BUILT[0][0] == settings_of(kwargs):
        return _LAST_BUILT[0][1]
    return None
