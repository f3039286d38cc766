"""The caption grammar: attribute vocabularies, caption text, held-out combinations, and attribute draws.

A caption names four attributes of the one shape in an image, always in the same order:
``"a {size} {colour} {shape} {position}."``, e.g. ``"a small red circle at the top left."``.
The full stop ends every caption, so greedy decoding knows where to stop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray[Any, np.dtype[Any]]

#: The vision plugin's ``shapes`` classes, in its label order (``num_classes=5`` draws all five).
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring")
SIZES: tuple[str, ...] = ("small", "large")
#: Colour names and their RGB values (a dark background keeps every one of them visible).
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.95, 0.15, 0.1),
    "green": (0.15, 0.85, 0.2),
    "blue": (0.2, 0.3, 1.0),
    "yellow": (0.95, 0.9, 0.15),
    "purple": (0.7, 0.2, 0.9),
    "cyan": (0.15, 0.9, 0.95),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
#: Row-major 3 x 3 grid: (vertical, horizontal) cell -> how the caption says it.
POSITIONS: tuple[str, ...] = (
    "at the top left", "at the top", "at the top right",
    "on the left", "in the centre", "on the right",
    "at the bottom left", "at the bottom", "at the bottom right",
)
END = "."

#: Shape + colour pairs never shown in training (one per shape and a different colour for each, so every
#: shape and every colour is still seen in training with the others): the unseen-combination split.
DEFAULT_HELD_OUT: tuple[str, ...] = ("green circle", "blue square", "yellow triangle", "purple cross", "red ring")


@dataclass(frozen=True)
class Attributes:
    """Integer attribute codes of N images (each an (N,) int64 array indexing the tuples above)."""

    shape: Array
    colour: Array
    size: Array
    position: Array

    def __len__(self) -> int:
        return int(self.shape.shape[0])

    def take(self, index: Array) -> Attributes:
        return Attributes(self.shape[index], self.colour[index], self.size[index], self.position[index])


def caption(shape: int, colour: int, size: int, position: int) -> str:
    """The caption of one image's attribute codes."""
    return f"a {SIZES[size]} {COLOUR_NAMES[colour]} {SHAPES[shape]} {POSITIONS[position]}{END}"


def captions(attributes: Attributes) -> list[str]:
    """The caption of every image (text assembly only: the images themselves are vectorised)."""
    return [caption(int(s), int(c), int(z), int(p)) for s, c, z, p in
            zip(attributes.shape, attributes.colour, attributes.size, attributes.position, strict=True)]


def alphabet() -> str:
    """Every character any caption can contain (sorted), the vocabulary of the ``char`` tokenizer."""
    words = [*SHAPES, *SIZES, *COLOUR_NAMES, *POSITIONS, "a", END]
    return "".join(sorted(set(" ".join(words))))


def longest_caption(encode: Any) -> int:
    """The most tokens ``encode`` (a tokenizer's ``encode``) makes of any caption (end mark included)."""
    return max(len(encode(caption(s, c, z, p))) for s in range(len(SHAPES)) for c in range(len(COLOURS))
               for z in range(len(SIZES)) for p in range(len(POSITIONS)))


def held_out_mask(pairs: Iterable[str]) -> Array:
    """(shapes, colours) bool table of the held-out ``"colour shape"`` pairs; a bad pair is a one-line error."""
    mask = np.zeros((len(SHAPES), len(COLOURS)), dtype=bool)
    for pair in pairs:
        words = str(pair).split()
        if len(words) != 2 or words[0] not in COLOURS or words[1] not in SHAPES:
            raise ValueError(f"captioned_shapes: held_out entry {pair!r} is not '<colour> <shape>' with a colour in "
                             f"{list(COLOUR_NAMES)} and a shape in {list(SHAPES)}; fix it, e.g. 'green circle'")
        mask[SHAPES.index(words[1]), COLOUR_NAMES.index(words[0])] = True
    if (mask.all(axis=1)).any():
        shape = SHAPES[int(np.flatnonzero(mask.all(axis=1))[0])]
        raise ValueError(f"captioned_shapes: held_out holds out every colour of {shape!r}, so it is never trained; "
                         "leave at least one colour of each shape in training")
    return mask


def draw_colours(shapes: Array, allowed: Array, rng: np.random.Generator) -> Array:
    """A colour for each shape, uniform over the colours ``allowed[shape]`` permits (vectorised inverse CDF)."""
    weights = allowed[shapes].astype(np.float64)  # (N, colours)
    if not weights.any(axis=1).all():
        raise ValueError("captioned_shapes: some shape has no colour to draw from; check held_out")
    cdf = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(shapes))[:, None]
    codes: Array = np.minimum((cdf <= u).sum(axis=1), len(COLOURS) - 1).astype(np.int64)
    return codes


def draw_layout(n: int, rng: np.random.Generator) -> tuple[Array, Array]:
    """Uniform size and position codes for ``n`` images."""
    return rng.integers(0, len(SIZES), size=n).astype(np.int64), rng.integers(0, len(POSITIONS), size=n).astype(np.int64)


def encode_captions(texts: Sequence[str], lookup: Any, length: int, pad: int) -> Array:
    """(N, length) int64 token ids of ``texts`` with ``lookup(text) -> list[int]``, right-padded with ``pad``."""
    ids = np.full((len(texts), length), pad, dtype=np.int64)
    for row, text in enumerate(texts):
        encoded = lookup(text)
        if len(encoded) > length:
            raise ValueError(f"caption {text!r} has {len(encoded)} tokens, more than the {length} allowed")
        ids[row, : len(encoded)] = encoded
    return ids
