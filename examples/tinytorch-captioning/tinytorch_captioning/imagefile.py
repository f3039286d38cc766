"""Reading one image for ``tinytorch caption --image``: ``.npy`` (never pickled) or binary PPM / PGM.

No imaging library is needed: a netpbm file is a short text header and raw samples, parsed here
with numpy after the header's sizes are checked against the file's length.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from tinytorch_core.fileio import atomic_write_bytes

Array = np.ndarray[Any, np.dtype[Any]]

_NETPBM = re.compile(rb"\A(P[56])\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s")
_MAX_SIDE = 4096


class ImageFileError(ValueError):
    """An image file that cannot be read as one (3, H, W) image."""


def _netpbm(path: Path, raw: bytes) -> Array:
    match = _NETPBM.match(raw)
    if match is None:
        raise ImageFileError(f"{path}: not a binary PPM (P6) or PGM (P5) file; save the image as .ppm, .pgm or .npy")
    magic, width, height, maxval = match.group(1), int(match.group(2)), int(match.group(3)), int(match.group(4))
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE and 0 < maxval < 65536):
        raise ImageFileError(f"{path}: unsupported size {width}x{height} or maxval {maxval}")
    channels = 3 if magic == b"P6" else 1
    dtype = np.dtype(np.uint8) if maxval < 256 else np.dtype(">u2")
    expected = width * height * channels * dtype.itemsize
    body = raw[match.end():]
    if len(body) != expected:
        raise ImageFileError(f"{path}: header says {width}x{height}x{channels} samples ({expected} bytes) but "
                             f"the file holds {len(body)}; the file is truncated or not binary netpbm")
    pixels = np.frombuffer(body, dtype=dtype).reshape(height, width, channels).astype(np.float32) / np.float32(maxval)
    return np.repeat(pixels, 3 // channels, axis=2).transpose(2, 0, 1)


def _npy(path: Path) -> Array:
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ImageFileError(f"{path}: not a plain .npy array ({exc}); save it with np.save(path, image)") from None
    if array.ndim == 3 and array.shape[0] != 3 and array.shape[-1] == 3:
        array = array.transpose(2, 0, 1)  # (H, W, 3) -> (3, H, W)
    if array.ndim != 3 or array.shape[0] != 3:
        raise ImageFileError(f"{path}: expected an image of shape (3, H, W) or (H, W, 3), got {array.shape}")
    if array.dtype == np.uint8:
        scaled: Array = array.astype(np.float32) / np.float32(255.0)
        return scaled
    if array.dtype.kind != "f":
        raise ImageFileError(f"{path}: expected uint8 or float pixels, got dtype {array.dtype}")
    image: Array = array.astype(np.float32)
    return image


def read_image(path: str | Path) -> Array:
    """One image as float32 (3, H, W) in [0, 1] (grey PGM is repeated over the channels)."""
    source = Path(path)
    if not source.is_file():
        raise ImageFileError(f"{source}: no such image file")
    if source.suffix.lower() == ".npy":
        return _npy(source)
    return _netpbm(source, source.read_bytes())


def write_ppm(path: str | Path, image: Array) -> None:
    """Write a float (3, H, W) image in [0, 1] as binary PPM (atomically)."""
    pixels = (np.clip(image.transpose(1, 2, 0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    header = f"P6\n{pixels.shape[1]} {pixels.shape[0]}\n255\n".encode("ascii")
    atomic_write_bytes(Path(path), header + pixels.tobytes())
