"""The TensorBoard callback writes event files whose scalars are the run's losses and metrics."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorboardX", reason="needs the plot extra (tensorboardX): pip install -e '.[plot]'")

from tensorboardX.proto import event_pb2  # noqa: E402

from tinytorch_core import manual_seed, nn  # noqa: E402
from tinytorch_core.data import ArrayDataset, DataLoader  # noqa: E402
from tinytorch_core.metrics import Accuracy  # noqa: E402
from tinytorch_core.optim import SGD  # noqa: E402
from tinytorch_core.training import TensorBoardCallback, Trainer  # noqa: E402


def read_scalars(directory: Path) -> dict[str, list[tuple[int, float]]]:
    """Parse TFRecord event files (length, masked CRC, Event proto, masked CRC) into tag -> [(step, value)]."""
    scalars: dict[str, list[tuple[int, float]]] = {}
    files = sorted(directory.glob("events.out.tfevents.*"))
    assert files, f"no event file in {directory}"
    for path in files:
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_event_file_holds_train_loss_lr_and_validation_metrics(tmp_path: Path) -> None:
    manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 3)).astype(np.float32)
    y = (x.sum(axis=1) > 0).astype(np.int64)
    model = nn.Sequential([nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)])
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), metrics=[Accuracy()], eval_every=5,
                      run_dir=tmp_path, callbacks=[TensorBoardCallback()], progress=False)
    history = trainer.fit(DataLoader(ArrayDataset(x, y), batch_size=16, seed=0),
                          DataLoader(ArrayDataset(x, y), batch_size=64), max_steps=10)
    scalars = read_scalars(tmp_path / "tensorboard")
    assert [step for step, _ in scalars["train/loss"]] == list(range(1, 11))
    assert np.allclose([v for _, v in scalars["train/loss"]], history.train_loss, rtol=1e-6)
    assert all(v == pytest.approx(0.1) for _, v in scalars["train/lr"])
    assert [s for s, _ in scalars["val/accuracy"]] == [5, 10]
    assert scalars["val/loss"][-1][1] == pytest.approx(history.val_loss[-1][1], rel=1e-6)
