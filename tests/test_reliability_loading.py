"""Loading validates before it allocates (issue 11): hostile checkpoint files built in tmp_path fail
fast with one line naming the file and the problem, with bounded memory, and through
``tinytorch generate`` with a non-zero exit and no text."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from plugins.language.model import TinyGPT
from plugins.language.tokenizers import CharTokenizer
from tinytorch_core.safetensors_header import MAX_DEPTH, available_memory
from tinytorch_core.serialization import CheckpointError, load, save

GiB = 2**30
CONFIG = {"vocab_size": 100, "d_model": 16, "num_layers": 1, "num_heads": 2, "block_size": 8, "dropout": 0.0,
          "tie_weights": True}


def safetensors_bytes(header: dict[str, Any], metadata: dict[str, Any] | None = None) -> bytes:
    """The 8-byte length and JSON header of a safetensors file (the data is written by the caller)."""
    if metadata is not None:
        header = {"__metadata__": {"tinytorch": json.dumps(
            {"format": "tinytorch-checkpoint", "version": 1, "metadata": metadata})}, **header}
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text


def write_sparse(path: Path, head: bytes, total_size: int) -> Path:
    """``head`` followed by zeros up to ``total_size`` bytes, without writing them (a sparse file)."""
    with open(path, "wb") as handle:
        handle.write(head)
        handle.truncate(total_size)
    return path


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    TinyGPT(**CONFIG, tokenizer=CharTokenizer()).save(path)  # type: ignore[arg-type]
    return path


class Measured:
    seconds: float
    peak_bytes: int
    error: str


@pytest.fixture
def fails_fast() -> Iterator[Callable[..., Measured]]:
    """Run ``load`` on a path; it must raise a one-line error within a second using under 50 MB."""

    def run(loader: Callable[[], Any], match: str, error: type[Exception] = CheckpointError) -> Measured:
        result = Measured()
        tracemalloc.start()
        started = time.perf_counter()
        try:
            with pytest.raises(error, match=match) as raised:
                loader()
        finally:
            result.seconds = time.perf_counter() - started
            result.peak_bytes = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        result.error = str(raised.value)
        assert "\n" not in result.error, result.error
        assert result.seconds < 1.0, f"took {result.seconds:.2f} s"
        assert result.peak_bytes < 50 * 2**20, f"allocated {result.peak_bytes / 2**20:.0f} MB"
        return result

    yield run


def generate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "registry.cli", "generate", str(path), "--max-new-tokens", "5"],
                          capture_output=True, text=True, timeout=120)


def assert_cli_refuses(path: Path, *fragments: str) -> None:
    done = generate(path)
    assert done.returncode != 0 and done.stdout == "", done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ---------------------------------------------------------------------------------------------- framing
def test_a_header_length_beyond_the_file_is_refused_without_reading(tmp_path: Path, fails_fast: Any) -> None:
    path = tmp_path / "lying-length.safetensors"
    path.write_bytes(struct.pack("<Q", 90_000_000) + b'{"a": 1}')
    result = fails_fast(lambda: load(path), "truncated: header says 90000008 bytes, file has 16")
    assert str(path) in result.error


def test_a_valid_header_before_40_gb_of_sparse_data_is_not_read(tmp_path: Path, fails_fast: Any) -> None:
    head = safetensors_bytes({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, {"kind": "x"})
    path = write_sparse(tmp_path / "sparse.safetensors", head, 40 * GiB)
    fails_fast(lambda: load(path), "trailing data")


def test_a_tensor_bigger_than_memory_is_refused_before_allocating(tmp_path: Path, fails_fast: Any) -> None:
    free = available_memory()
    if free is None:
        pytest.skip("no /proc/meminfo MemAvailable on this system")
    count = (2 * free) // 4 + 1024
    head = safetensors_bytes({"w": {"dtype": "F32", "shape": [count], "data_offsets": [0, 4 * count]}}, {"kind": "x"})
    path = write_sparse(tmp_path / "huge.safetensors", head, len(head) + 4 * count)
    fails_fast(lambda: load(path), "GiB of memory")


@pytest.mark.parametrize("entry,match", [
    ({"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}, "needs 16 bytes, its range holds 8"),
    ({"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}, "no valid shape"),
    ({"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}, "no valid data_offsets"),
    ({"dtype": "X9", "shape": [2], "data_offsets": [0, 8]}, "unsupported dtype"),
    ({"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 8]}, "needs"),
])
def test_every_tensor_extent_is_checked(tmp_path: Path, fails_fast: Any, entry: dict[str, Any], match: str) -> None:
    path = tmp_path / "bad-entry.safetensors"
    path.write_bytes(safetensors_bytes({"w": entry}, {"kind": "x"}) + bytes(8))
    fails_fast(lambda: load(path), match)


def test_overlapping_tensors_are_refused(tmp_path: Path, fails_fast: Any) -> None:
    path = tmp_path / "overlap.safetensors"
    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}
    path.write_bytes(safetensors_bytes(header, {"kind": "x"}) + bytes(12))
    fails_fast(lambda: load(path), "overlaps")


# ---------------------------------------------------------------------------------------------- metadata
@pytest.mark.parametrize("where", ["header", "metadata"])
def test_deeply_nested_json_is_a_one_line_checkpoint_error(tmp_path: Path, fails_fast: Any, where: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / f"deep-{where}.safetensors"
    if where == "header":
        text = ('{"x": ' + deep + "}").encode()
        path.write_bytes(struct.pack("<Q", len(text)) + text)
    else:
        document = '{"format": "tinytorch-checkpoint", "version": 1, "metadata": {"x": ' + deep + "}}"
        path.write_bytes(safetensors_bytes({"__metadata__": {"tinytorch": document}}))
    fails_fast(lambda: load(path), f"nested deeper than {MAX_DEPTH} levels")


def test_moderately_nested_metadata_that_would_overflow_decoding_is_refused(tmp_path: Path, fails_fast: Any) -> None:
    path = tmp_path / "nested.safetensors"
    nested: Any = 1
    for _ in range(500):  # json parses this; recursive decoders would not
        nested = [nested]
    path.write_bytes(safetensors_bytes({}, {"kind": "training_checkpoint", "optimizer": nested}))
    fails_fast(lambda: load(path), "nested deeper")


def test_oversized_metadata_is_refused(tmp_path: Path, fails_fast: Any) -> None:
    from tinytorch_core.serialization import MAX_METADATA_BYTES

    path = tmp_path / "big-meta.safetensors"
    filler = "x" * (MAX_METADATA_BYTES + 1)
    path.write_bytes(safetensors_bytes({"__metadata__": {"tinytorch": filler}}))
    with pytest.raises(CheckpointError, match="metadata is .* bytes, more than"):
        load(path)


# ---------------------------------------------------------------------------------------------- TinyGPT files
def test_config_claiming_a_huge_model_fails_fast_before_building_it(tiny_checkpoint: Path, tmp_path: Path,
                                                                    fails_fast: Any) -> None:
    tensors, metadata = load(tiny_checkpoint)
    metadata["config"] = {**metadata["config"], "d_model": 65536, "num_layers": 4096, "num_heads": 1}
    hostile = tmp_path / "claims-huge.safetensors"
    save(hostile, tensors, metadata)
    result = fails_fast(lambda: TinyGPT.load(hostile), "config implies", ValueError)
    assert "parameters" in result.error and str(hostile) in result.error
    assert_cli_refuses(hostile, "config implies", str(hostile))


def test_weights_that_disagree_with_the_config_are_refused_before_building(tiny_checkpoint: Path, tmp_path: Path,
                                                                           fails_fast: Any) -> None:
    tensors, metadata = load(tiny_checkpoint)
    tensors["token_embedding.weight"] = np.zeros((100, 17), dtype=np.float32)
    hostile = tmp_path / "wrong-shape.safetensors"
    save(hostile, tensors, metadata)
    fails_fast(lambda: TinyGPT.load(hostile), "token_embedding.weight", ValueError)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_are_an_error_naming_the_tensor(tiny_checkpoint: Path, tmp_path: Path, bad: float) -> None:
    tensors, metadata = load(tiny_checkpoint)
    tensors = {name: np.full_like(value, bad) if name == "blocks.0.attention.qkv.weight" else value
               for name, value in tensors.items()}
    hostile = tmp_path / "nan.safetensors"
    save(hostile, tensors, metadata)
    with pytest.raises(ValueError, match="blocks.0.attention.qkv.weight"):
        TinyGPT.load(hostile)
    assert_cli_refuses(hostile, "blocks.0.attention.qkv.weight", "NaN or inf")


def test_an_all_nan_checkpoint_does_not_generate(tiny_checkpoint: Path, tmp_path: Path) -> None:
    tensors, metadata = load(tiny_checkpoint)
    hostile = tmp_path / "all-nan.safetensors"
    save(hostile, {name: np.full_like(value, np.nan) for name, value in tensors.items()}, metadata)
    assert_cli_refuses(hostile, str(hostile), "NaN or inf")


def test_a_good_checkpoint_still_generates(tiny_checkpoint: Path) -> None:
    done = generate(tiny_checkpoint)
    assert done.returncode == 0, done.stderr
    assert done.stdout


def test_the_training_checkpoint_loader_refuses_non_finite_model_weights(tmp_path: Path) -> None:
    from tinytorch_core.nn import Linear
    from tinytorch_core.serialization import load_checkpoint, save_checkpoint

    model = Linear(3, 2)
    model.weight.data[0, 1] = np.nan
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model)
    with pytest.raises(CheckpointError, match="model.weight.*NaN or inf"):
        load_checkpoint(path, Linear(3, 2))


@pytest.mark.parametrize("overrides", [{}, {"num_layers": 3, "tie_weights": False}, {"d_model": 24, "num_heads": 3}])
def test_the_shapes_checked_before_building_are_tinygpts_own(overrides: dict[str, Any]) -> None:
    from plugins.language.checkpoint_checks import expected_shapes

    config = {**CONFIG, **overrides}
    model = TinyGPT(**config)  # type: ignore[arg-type]
    assert expected_shapes(config) == {name: value.shape for name, value in model.state_dict().items()}
