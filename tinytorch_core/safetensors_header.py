"""A safetensors file's header, read and checked against the real file before any tensor data is read.

A checkpoint is untrusted input: its first 8 bytes give the JSON header's length and the header
gives every tensor's dtype, shape and byte range. Before anything is allocated from those numbers
they are checked against the file's real size (``os.fstat``): the header must fit in the file and
under :data:`MAX_HEADER_BYTES`, every tensor's range must hold exactly ``prod(shape) * itemsize``
bytes, and the ranges must tile the data section with nothing after it. JSON nesting is bounded
(:data:`MAX_DEPTH`), so hostile metadata fails with a :class:`CheckpointError`, not a
``RecursionError``. Tensors are then read one at a time from their own ranges (:func:`read_tensors`),
never the whole file at once.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: safetensors' own limit on the JSON header (a larger length prefix is not a safetensors file).
MAX_HEADER_BYTES = 100_000_000
#: JSON nesting deeper than this (objects and lists) is rejected before it is used.
MAX_DEPTH = 64

DTYPES: dict[str, np.dtype[Any]] = {name: np.dtype(code).newbyteorder("<") for name, code in {
    "F64": "f8", "F32": "f4", "F16": "f2", "I64": "i8", "I32": "i4", "I16": "i2", "I8": "i1",
    "U64": "u8", "U32": "u4", "U16": "u2", "U8": "u1", "BOOL": "?",
    "BF16": "u2",  # stored as its 16 raw bits; read_tensors widens it to float32 (exact)
}.items()}


class CheckpointError(ValueError):
    """A file is not a readable TinyTorch checkpoint (truncated, corrupt, hostile, or another format)."""


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as the header describes it; ``begin``/``end`` are offsets into the data section."""

    name: str
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    begin: int
    end: int
    stored: str = ""  # the file's dtype name ("F32", "BF16"...)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Header:
    """A validated header: tensors by name (file order), the string metadata, where the data starts."""

    path: Path
    size: int
    data_start: int
    tensors: dict[str, TensorEntry]
    metadata: dict[str, str]

    @property
    def data_bytes(self) -> int:
        return self.size - self.data_start


def nesting_depth(value: Any) -> int:
    """How deeply lists and dicts nest in a parsed JSON value (iterative: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json(text: bytes | str, what: str, source: Path) -> Any:
    """``json.loads`` whose every failure, absurd nesting included, is a one-line :class:`CheckpointError`."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise CheckpointError(f"{source}: corrupt checkpoint {what} (JSON nested deeper than {MAX_DEPTH} levels)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{source}: corrupt checkpoint {what} ({type(exc).__name__}: {exc})") from None
    if nesting_depth(value) > MAX_DEPTH:
        raise CheckpointError(f"{source}: corrupt checkpoint {what} (JSON nested deeper than {MAX_DEPTH} levels)")
    return value


def refuse_pickle(source: Path, first: bytes) -> None:
    """A pickle (``pickle.dump``, ``torch.save``'s zip of pickles, a course's ``model.pkl``) gets a line saying why
    it is refused, not just "not a safetensors file"."""
    pickled = (len(first) >= 2 and first[0] == 0x80 and 2 <= first[1] <= 5) or first.startswith(b"PK\x03\x04")
    if pickled:
        raise CheckpointError(
            f"{source}: this looks like a pickle file, and TinyTorch refuses pickles on purpose: loading one runs "
            "whatever code it contains. Save models with model.save('model.safetensors') (weights + JSON, no code); "
            "a PyTorch state_dict converts with safetensors.torch.save_file(state_dict, 'model.safetensors')"
        )


def read_header(path: str | os.PathLike[str]) -> Header:
    """Read and validate the header of the safetensors file at ``path``; reads no tensor data."""
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"checkpoint not found: {source} (check the path, or the run directory's checkpoints/)")
    if source.is_dir():
        raise CheckpointError(f"{source} is a directory, not a checkpoint file")
    with open(source, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < 8:
            raise CheckpointError(f"{source}: truncated or empty: file has {size} bytes, a checkpoint needs at least 8")
        first = handle.read(8)
        refuse_pickle(source, first)
        (header_len,) = struct.unpack("<Q", first)
        if header_len > MAX_HEADER_BYTES:
            raise CheckpointError(f"{source}: not a TinyTorch checkpoint (not a safetensors file: its header length "
                                  f"{header_len} exceeds {MAX_HEADER_BYTES} bytes)")
        if 8 + header_len > size:
            raise CheckpointError(f"{source}: truncated: header says {8 + header_len} bytes, file has {size}")
        raw = handle.read(header_len)
    if raw[:1] != b"{":
        raise CheckpointError(f"{source}: not a TinyTorch checkpoint (not a safetensors file)")
    header = parse_json(raw, "header", source)
    if not isinstance(header, dict):
        raise CheckpointError(f"{source}: not a TinyTorch checkpoint (safetensors header is not an object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{source}: corrupt checkpoint header (__metadata__ must map names to strings)")
    data_start = 8 + header_len
    tensors = {name: _entry(source, name, value) for name, value in header.items()}
    _check_tiling(source, tensors, size - data_start, size)
    return Header(source, size, data_start, tensors, metadata)


def _entry(source: Path, name: str, value: Any) -> TensorEntry:
    if not isinstance(value, dict):
        raise CheckpointError(f"{source}: corrupt checkpoint header (tensor {name!r} is not an object)")
    dtype = DTYPES.get(value.get("dtype"))  # type: ignore[arg-type]
    if dtype is None:
        raise CheckpointError(f"{source}: tensor {name!r} has unsupported dtype {value.get('dtype')!r} "
                              f"(supported: {', '.join(DTYPES)})")
    shape, offsets = value.get("shape"), value.get("data_offsets")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        raise CheckpointError(f"{source}: corrupt checkpoint header (tensor {name!r} has no valid shape)")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int and o >= 0 for o in offsets)
            and offsets[0] <= offsets[1]):
        raise CheckpointError(f"{source}: corrupt checkpoint header (tensor {name!r} has no valid data_offsets)")
    entry = TensorEntry(name, dtype, tuple(shape), offsets[0], offsets[1], str(value["dtype"]))
    if entry.end - entry.begin != entry.numel * dtype.itemsize:
        raise CheckpointError(f"{source}: corrupt checkpoint header (tensor {name!r} needs {entry.numel * dtype.itemsize}"
                              f" bytes, its range holds {entry.end - entry.begin} bytes for shape {list(entry.shape)} "
                              f"of {value['dtype']})")
    return entry


def _check_tiling(source: Path, tensors: dict[str, TensorEntry], data_bytes: int, size: int) -> None:
    """The tensors' ranges must cover the data section exactly once, in order, with nothing after it."""
    position = 0
    for entry in sorted(tensors.values(), key=lambda e: (e.begin, e.end)):
        if entry.begin != position:
            problem = "overlaps another tensor" if entry.begin < position else "leaves a gap before it"
            raise CheckpointError(f"{source}: corrupt checkpoint header (tensor {entry.name!r} {problem})")
        position = entry.end
    if position > data_bytes:
        raise CheckpointError(f"{source}: truncated: header says {size - data_bytes + position} bytes, file has {size}")
    if position < data_bytes:
        raise CheckpointError(f"{source}: corrupt: header says {size - data_bytes + position} bytes, file has {size} "
                              "(trailing data)")


def available_memory() -> int | None:
    """Bytes of memory the OS says a new allocation can use (Linux ``MemAvailable``), or ``None``."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def read_tensors(header: Header, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Read the named tensors (default: all) from their own byte ranges, one at a time.

    Fails before allocating when they need more memory than the machine has available.
    """
    chosen = [header.tensors[n] for n in (names if names is not None else list(header.tensors))]
    needed = sum(e.end - e.begin for e in chosen)
    free = available_memory()
    if free is not None and needed > free:
        raise CheckpointError(f"{header.path}: its tensors need {needed / 2**30:.1f} GiB of memory, only "
                              f"{free / 2**30:.1f} GiB is available")
    out: dict[str, np.ndarray] = {}
    with open(header.path, "rb") as handle:
        for entry in chosen:
            handle.seek(header.data_start + entry.begin)
            array = np.fromfile(handle, dtype=entry.dtype, count=entry.numel) if entry.numel else np.empty(0, entry.dtype)
            if array.size != entry.numel:
                raise CheckpointError(f"{header.path}: truncated while reading tensor {entry.name!r} (file changed?)")
            if entry.stored == "BF16":  # bfloat16 is the top half of a float32
                array = (array.astype(np.uint32) << 16).view(np.float32)
            out[entry.name] = array.astype(array.dtype.newbyteorder("="), copy=False).reshape(entry.shape)
    return out
