"""Checkpoint files: round trips, atomic writes, clear errors on damaged files, no pickle."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinytorch_core import Tensor, get_rng, manual_seed, nn
from tinytorch_core.serialization import (
    CheckpointError,
    load,
    load_checkpoint,
    resolve_checkpoint_path,
    save,
    save_checkpoint,
)


def make_model(seed: int = 0) -> nn.Module:
    manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 3))


class FakeOptimizer:
    """A state shaped like PyTorch's: int-keyed per-parameter arrays, tuples, floats."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {
            "state": {0: {"m": np.arange(6, dtype=np.float32).reshape(2, 3), "t": np.int64(7)}},
            "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "params": [0]}],
        }

    def state_dict(self) -> dict[str, Any]:
        return self.state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.state = state


class CountingScheduler:
    """A scheduler without state_dict: its plain attributes are saved, like PyTorch does."""

    def __init__(self, optimizer: object) -> None:
        self.optimizer = optimizer
        self.last_step = 0
        self.base_lrs = [0.1]


def test_save_load_round_trip_keeps_dtypes_and_metadata(tmp_path: Path) -> None:
    arrays: dict[str, np.ndarray] = {
        "w": np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32),
        "d": np.linspace(0, 1, 5, dtype=np.float64),
        "i": np.array([1, 2, 3], dtype=np.int64),
        "scalar": np.array(2.5, dtype=np.float32),
        "strided": np.arange(12, dtype=np.float32).reshape(3, 4).T,  # non-contiguous input
    }
    meta = {"name": "run", "nested": {"a": [1, 2.5, None]}, "nan": float("nan")}
    path = tmp_path / "x.safetensors"
    save(path, arrays, meta)
    tensors, loaded_meta = load(path)
    assert set(tensors) == set(arrays)
    for key, value in arrays.items():
        assert tensors[key].dtype == value.dtype and tensors[key].shape == value.shape
        np.testing.assert_array_equal(tensors[key], value)
    assert loaded_meta["name"] == "run" and loaded_meta["nested"] == {"a": [1, 2.5, None]}
    assert np.isnan(loaded_meta["nan"])


def test_file_is_plain_safetensors_with_one_json_metadata_entry(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    save(path, {"a": np.zeros(2, np.float32)}, {"k": 1})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert list(header["__metadata__"]) == ["tinytorch"]
    document = json.loads(header["__metadata__"]["tinytorch"])
    assert document["format"] == "tinytorch-checkpoint" and document["version"] == 1
    assert document["metadata"] == {"k": 1}


def test_model_checkpoint_gives_identical_outputs(tmp_path: Path) -> None:
    model = make_model(0)
    x = Tensor(np.random.default_rng(1).standard_normal((5, 4)))
    expected = model(x).numpy()
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, step=42, extra={"note": "hi"})
    fresh = make_model(123)
    assert not np.allclose(fresh(x).numpy(), expected)
    meta = load_checkpoint(path, fresh)
    np.testing.assert_array_equal(fresh(x).numpy(), expected)
    assert meta["step"] == 42 and meta["extra"] == {"note": "hi"} and meta["model_class"] == "Sequential"


def test_optimizer_scheduler_state_round_trip_with_types(tmp_path: Path) -> None:
    model = make_model()
    opt = FakeOptimizer()
    sched = CountingScheduler(opt)
    sched.last_step = 17
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, opt, step=3, scheduler=sched)
    tensors, _ = load(path)
    assert any(name.startswith("optim.") for name in tensors), "optimizer arrays must be stored as tensors"
    opt2, sched2 = FakeOptimizer(), CountingScheduler(None)
    opt2.state = {}
    load_checkpoint(path, model, opt2, sched2)
    state = opt2.state["state"]
    assert list(state) == [0]  # int key survives JSON
    np.testing.assert_array_equal(state[0]["m"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert state[0]["t"] == 7
    assert opt2.state["param_groups"][0]["betas"] == (0.9, 0.999)  # tuple survives JSON
    assert sched2.last_step == 17 and sched2.optimizer is None


def test_rng_state_saved_and_restored(tmp_path: Path) -> None:
    model = make_model()
    manual_seed(5)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model)
    expected = get_rng().random(4)
    get_rng().random(100)
    load_checkpoint(path, restore_rng=True)
    np.testing.assert_array_equal(get_rng().random(4), expected)


def test_strict_model_load_names_missing_and_unexpected_keys(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, make_model())
    other = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, 3))
    with pytest.raises(KeyError) as info:
        load_checkpoint(path, other)
    message = str(info.value)
    assert str(path) in message and "missing" in message and "unexpected" in message and "3.weight" in message
    assert "4.weight" in message


def test_asking_for_state_the_file_lacks_is_clear(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, make_model())
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(path, optimizer=FakeOptimizer())


def test_truncated_checkpoint_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, make_model())
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 10])
    with pytest.raises(CheckpointError, match=r"truncated: header says \d+ bytes, file has \d+") as info:
        load_checkpoint(path, make_model())
    assert str(path) in str(info.value)
    assert info.value.__context__ is None or info.value.__suppress_context__  # no deep chained traceback
    # cut inside the header too
    path.write_bytes(raw[:40])
    with pytest.raises(CheckpointError, match="truncated"):
        load(path)
    path.write_bytes(raw[:3])
    with pytest.raises(CheckpointError, match="truncated"):
        load(path)


def test_corrupt_and_foreign_files_are_rejected(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a TinyTorch checkpoint"):
        load(text)
    import safetensors.numpy

    foreign = tmp_path / "foreign.safetensors"
    safetensors.numpy.save_file({"a": np.zeros(2, np.float32)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a TinyTorch checkpoint"):
        load(foreign)
    path = tmp_path / "ckpt.safetensors"
    save(path, {"a": np.zeros(4, np.float32)})
    raw = bytearray(path.read_bytes())
    raw[12] = ord("#")  # damage the header JSON
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupt"):
        load(path)
    path.write_bytes(path.read_bytes() + b"junk")
    with pytest.raises(CheckpointError):
        load(path)
    assert issubclass(CheckpointError, ValueError)


def test_missing_file_and_run_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load(tmp_path / "nope.safetensors")
    with pytest.raises(FileNotFoundError, match="no checkpoint in run directory"):
        resolve_checkpoint_path(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    save_checkpoint(tmp_path / "checkpoints" / "last.safetensors", make_model(), step=9)
    assert load_checkpoint(tmp_path)["step"] == 9


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ckpt.safetensors"
    save(path, {"a": np.ones(3, np.float32)}, {"v": 1})
    before = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save(path, {"a": np.zeros(1000, np.float32)}, {"v": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.safetensors"]
    tensors, meta = load(path)
    assert meta == {"v": 1}


def test_bad_inputs_are_named(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="'a'.*list"):
        save(tmp_path / "x.safetensors", {"a": [1, 2]})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="JSON"):
        save(tmp_path / "x.safetensors", {}, {"obj": object()})
    assert not list(tmp_path.iterdir())


def test_no_pickle_in_serialization() -> None:
    source = Path(__file__).resolve().parent.parent / "tinytorch_core" / "serialization.py"
    text = source.read_text()
    assert "pickle" not in text.replace("never pickle", "").replace("no pickle", "")
    assert "allow_pickle=True" not in text
