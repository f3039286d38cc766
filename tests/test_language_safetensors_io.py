"""Reading foreign safetensors files tensor by tensor (plugins/language/safetensors_io.py); no extra needed."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from plugins.language.safetensors_io import SafetensorsFile


def raw_file(path: Path, header: dict[str, object], data: bytes) -> Path:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def test_reads_float32_and_float16_as_requested(tmp_path: Path) -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([0.5, -2.0, 65504.0], dtype=np.float16)
    (tmp_path / "w.safetensors").write_bytes(safetensors.numpy.save({"a": a, "b": b}, metadata={"format": "pt"}))
    tensors = SafetensorsFile(tmp_path / "w.safetensors")
    assert sorted(tensors.names()) == ["a", "b"] and tensors.metadata == {"format": "pt"}
    np.testing.assert_array_equal(tensors.read("a"), a)
    read = tensors.read("b", np.float32)
    assert read.dtype == np.float32 and read.tolist() == [0.5, -2.0, 65504.0]


def test_bfloat16_widens_exactly(tmp_path: Path) -> None:
    values = np.array([1.0, -3.5, 0.15625, 2.0**100], dtype=np.float32)
    top_halves = (values.view(np.uint32) >> 16).astype("<u2")  # these values are exact in bfloat16
    header = {"x": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}
    tensors = SafetensorsFile(raw_file(tmp_path / "bf16.safetensors", header, top_halves.tobytes()))
    np.testing.assert_array_equal(tensors.read("x"), values)


@pytest.mark.parametrize(("header", "data", "message"), [
    ({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, "truncated"),
    ({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}, b"\0" * 12, "12 bytes for shape"),
    ({"x": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8, "dtype 'C64'"),
    ({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
      "y": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, "overlaps"),
])
def test_a_bad_header_is_refused_before_reading(tmp_path: Path, header: dict[str, object], data: bytes,
                                                message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SafetensorsFile(raw_file(tmp_path / "bad.safetensors", header, data))


def test_a_huge_header_length_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.safetensors").write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(ValueError, match="not a safetensors file"):
        SafetensorsFile(tmp_path / "x.safetensors")
