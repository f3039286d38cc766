"""The IDX file format (MNIST and friends): parse, gzip or raw, with clear errors for damaged files."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from tinytorch_core.fileio import atomic_write_bytes

__all__ = ["IDXError", "read_idx", "write_idx"]

Array = np.ndarray[Any, np.dtype[Any]]

# IDX type codes -> big-endian numpy dtypes.
_DTYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES: dict[tuple[str, int], int] = {(np.dtype(v).kind, np.dtype(v).itemsize): k for k, v in _DTYPES.items()}


class IDXError(ValueError):
    """An IDX file is damaged or not an IDX file; the message names the file."""


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":  # not gzip: a raw (already uncompressed) IDX file
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise IDXError(f"{path}: damaged gzip stream ({exc}); delete the file and download it again") from exc


def read_idx(path: str | Path) -> Array:
    """Read an IDX file (``.gz`` or raw, detected by content) into a numpy array of its shape and type."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise IDXError(
            f"{path}: bad magic number {data[:4].hex() or '(empty file)'}; an IDX file starts with "
            "00 00 <type code> <ndim> - is this really an MNIST-style IDX file?"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise IDXError(f"{path}: truncated header ({len(data)} bytes for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise IDXError(
            f"{path}: {'truncated' if len(data) - header < expected else 'trailing bytes'} - header declares "
            f"shape {shape} ({expected} bytes of data) but the file holds {len(data) - header}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | Path, array: Array, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip when ``compress`` or the name ends in ``.gz``); for tests and tools."""
    path = Path(path)
    arr = np.asarray(array)
    code = _CODES.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None:
        raise TypeError(f"write_idx: dtype {arr.dtype} has no IDX type code (use uint8, int8, int16, int32, float32/64)")
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    payload = header + arr.astype(_DTYPES[code]).tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        payload = gzip.compress(payload)
    atomic_write_bytes(path, payload)
    return path
