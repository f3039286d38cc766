"""Reading foreign safetensors files (Hugging Face checkpoints) one tensor at a time, validated first.

A GPT-2 checkpoint is hundreds of megabytes, so the whole file is never read into memory: the
header is parsed and checked (its length, every entry's dtype, shape and byte range against the
file size, no overlaps or gaps) before anything is allocated, then each tensor is read on demand
and converted to the requested float dtype. float16 and bfloat16 files are read too (bfloat16 by
widening its 16 bits into the top half of a float32, which is exact). Loading runs no code.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SafetensorsFile"]

_MAX_HEADER_BYTES = 100_000_000
_DTYPES: dict[str, np.dtype[Any]] = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}


class SafetensorsFile:
    """The tensors of one safetensors file: ``names()``, ``shape(name)``, ``read(name, dtype)``.

    The constructor validates the whole header and raises a ``ValueError`` naming the file and the
    problem (truncated, corrupt, unknown dtype, overlapping data).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        size = self.path.stat().st_size
        with self.path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise ValueError(f"{self.path}: not a safetensors file ({size} bytes)")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > min(_MAX_HEADER_BYTES, size - 8):
                raise ValueError(f"{self.path}: not a safetensors file (header length {header_len}, file {size} bytes)")
            raw = handle.read(header_len)
        try:
            header = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{self.path}: corrupt safetensors header ({exc})") from None
        if not isinstance(header, dict):
            raise ValueError(f"{self.path}: corrupt safetensors header (not a JSON object)")
        self.metadata: dict[str, str] = header.pop("__metadata__", None) or {}
        self._data_start = 8 + header_len
        self._entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
        spans = []
        for name, entry in header.items():
            self._entries[name] = self._entry(name, entry)
            spans.append(self._entries[name][2:])
        spans.sort()
        position = 0
        for begin, end in spans:
            if begin != position:
                raise ValueError(f"{self.path}: corrupt safetensors header (tensor data overlaps or leaves a gap at byte {begin})")
            position = end
        if self._data_start + position != size:
            raise ValueError(f"{self.path}: truncated or padded: the header describes {self._data_start + position} "
                             f"bytes, the file has {size}")

    def _entry(self, name: str, entry: Any) -> tuple[str, tuple[int, ...], int, int]:
        if not isinstance(entry, dict):
            raise ValueError(f"{self.path}: corrupt safetensors header (entry {name!r} is not an object)")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in _DTYPES:
            raise ValueError(f"{self.path}: tensor {name!r} has dtype {dtype!r}, which TinyTorch does not read")
        if not (isinstance(shape, list) and all(isinstance(n, int) and n >= 0 for n in shape)):
            raise ValueError(f"{self.path}: corrupt safetensors header (tensor {name!r} shape {shape!r})")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise ValueError(f"{self.path}: corrupt safetensors header (tensor {name!r} data_offsets {offsets!r})")
        begin, end = offsets
        if not 0 <= begin <= end or end - begin != int(np.prod(shape, dtype=np.int64)) * _DTYPES[dtype].itemsize:
            raise ValueError(f"{self.path}: corrupt safetensors header (tensor {name!r}: {end - begin} bytes "
                             f"for shape {shape} of {dtype})")
        return dtype, tuple(shape), begin, end

    def names(self) -> list[str]:
        """The tensor names, in file order."""
        return list(self._entries)

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape of tensor ``name``."""
        return self._entries[name][1]

    def dtype_name(self, name: str) -> str:
        """The safetensors dtype of tensor ``name`` (``"F32"``, ``"BF16"``...)."""
        return self._entries[name][0]

    def read(self, name: str, dtype: np.dtype[Any] | type | None = None) -> np.ndarray[Any, Any]:
        """Tensor ``name`` as a new array (converted to ``dtype`` when given; bfloat16 becomes float32 first)."""
        kind, shape, begin, end = self._entries[name]
        stored = _DTYPES[kind]
        count = (end - begin) // stored.itemsize
        array = np.fromfile(self.path, dtype=stored, count=count, offset=self._data_start + begin)
        if kind == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        array = array.reshape(shape)
        return array if dtype is None else array.astype(dtype, copy=False)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
