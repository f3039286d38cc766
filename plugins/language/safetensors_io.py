"""Reading foreign safetensors files (Hugging Face checkpoints) one tensor at a time, validated first.

A GPT-2 checkpoint is hundreds of megabytes, so the whole file is never read into memory: the
core's :func:`~tinytorch_core.safetensors_header.read_header` checks the header against the file
(length, every entry's dtype, shape and byte range, no overlaps or gaps) before anything is
allocated, then each tensor is read on demand and converted to the requested float dtype.
float16 and bfloat16 files are read too (bfloat16 widened exactly to float32). Loading runs no code.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from tinytorch_core.safetensors_header import read_header, read_tensors

__all__ = ["SafetensorsFile"]


class SafetensorsFile:
    """The tensors of one safetensors file: ``names()``, ``shape(name)``, ``read(name, dtype)``.

    The constructor validates the whole header and raises a ``ValueError`` naming the file and the
    problem (truncated, corrupt, unknown dtype, overlapping data).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.header = read_header(path)
        self.path = self.header.path
        self.metadata: dict[str, str] = self.header.metadata

    def names(self) -> list[str]:
        """The tensor names, in file order."""
        return list(self.header.tensors)

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape of tensor ``name``."""
        return self.header.tensors[name].shape

    def dtype_name(self, name: str) -> str:
        """The safetensors dtype of tensor ``name`` (``"F32"``, ``"BF16"``...)."""
        return self.header.tensors[name].stored

    def read(self, name: str, dtype: np.dtype[Any] | type | None = None) -> np.ndarray[Any, Any]:
        """Tensor ``name`` as a new array (converted to ``dtype`` when given; bfloat16 becomes float32 first)."""
        array = read_tensors(self.header, [name])[name]
        return array if dtype is None else array.astype(dtype, copy=False)

    def __iter__(self) -> Iterator[str]:
        return iter(self.header.tensors)

    def __contains__(self, name: object) -> bool:
        return name in self.header.tensors
