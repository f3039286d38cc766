"""Trainer: learning, exact resume, divergence and Ctrl-C handling, callbacks, accumulation, logs."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinytorch_core import Tensor, default_dtype, manual_seed, nn
from tinytorch_core.data import ArrayDataset, DataLoader
from tinytorch_core.losses import CrossEntropyLoss
from tinytorch_core.optim import SGD, Adam, AdamW, WarmupCosineLR
from tinytorch_core.serialization import CheckpointError, load_checkpoint
from tinytorch_core.training import Callback, Trainer, TrainingDivergedError, read_metrics, supervised_step
from tinytorch_core.training.progress import Progress


def make_spiral(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spiral arms (1.5 turns each), class = arm."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.random(n)) * 3 * np.pi
    labels = rng.integers(0, 2, n)
    angle = t + np.pi * labels
    points = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) / (3 * np.pi)
    points += rng.normal(0.0, 0.02, points.shape)
    return points.astype(np.float32), labels.astype(np.int64)


def make_mlp(seed: int, hidden: int = 16, dropout: float = 0.0) -> nn.Module:
    manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(2, hidden), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, 2))
    return nn.Sequential(layers)


def spiral_loader(n: int = 90, batch_size: int = 13, seed: int = 0) -> DataLoader:
    x, y = make_spiral(n, seed=1)
    return DataLoader(ArrayDataset(x, y), batch_size=batch_size, shuffle=True, seed=seed)


class Recorder(Callback):
    """Records every hook call, and can raise Ctrl-C at a chosen step."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.events: list[tuple[str, int]] = []
        self.interrupt_at = interrupt_at

    def on_train_start(self, trainer: Trainer) -> None:
        self.events.append(("start", trainer.step))

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        self.events.append(("step", step))
        assert trainer.step == step and np.isfinite(loss)
        if step == self.interrupt_at:
            raise KeyboardInterrupt

    def on_eval_end(self, trainer: Trainer, step: int, metrics: Mapping[str, float]) -> None:
        self.events.append(("eval", step))
        assert set(metrics) == {"val_loss"}

    def on_train_end(self, trainer: Trainer) -> None:
        self.events.append(("end", trainer.step))


def test_mlp_learns_spiral_to_95_percent() -> None:
    x, y = make_spiral(1000, seed=0)
    x_test, y_test = make_spiral(500, seed=1)
    model = make_mlp(0, hidden=128)
    trainer = Trainer(model, Adam(model.parameters(), lr=0.01), progress=False, log_every=None)
    history = trainer.fit(DataLoader(ArrayDataset(x, y), batch_size=64, shuffle=True, seed=0), max_steps=1500)
    assert history.steps == 1500 and len(history.train_loss) == 1500
    assert np.mean(history.train_loss[-50:]) < 0.3 * np.mean(history.train_loss[:50])
    model.eval()
    accuracy = float((model(Tensor(x_test)).numpy().argmax(axis=1) == y_test).mean())
    assert accuracy >= 0.95, f"held-out spiral accuracy {accuracy:.3f}"


def _resumable_trainer(run_dir: Path, seed: int, callbacks: list[Callback] | None = None) -> tuple[Trainer, DataLoader]:
    model = make_mlp(seed, dropout=0.2)
    optimizer = AdamW(model.parameters(), lr=0.02, weight_decay=0.01)
    scheduler = WarmupCosineLR(optimizer, warmup_steps=3, total_steps=20)
    trainer = Trainer(model, optimizer, scheduler=scheduler, grad_clip=1.0, run_dir=run_dir,
                      callbacks=callbacks or [], progress=False, log_every=None)
    return trainer, spiral_loader()


@pytest.mark.parametrize("split_at", [10, 7])  # mid-epoch, and exactly at an epoch end (7 batches per epoch)
def test_resume_continues_exactly(tmp_path: Path, split_at: int) -> None:
    straight, loader = _resumable_trainer(tmp_path / "straight", seed=0)
    full = straight.fit(loader, max_steps=20)

    first, loader1 = _resumable_trainer(tmp_path / "split", seed=0)
    part1 = first.fit(loader1, max_steps=split_at)
    manual_seed(999)  # disturb the global RNG: resume must restore it
    second, loader2 = _resumable_trainer(tmp_path / "split", seed=123)
    part2 = second.fit(loader2, max_steps=20, resume_from=tmp_path / "split")

    assert part1.train_loss == full.train_loss[:split_at]
    assert part2.train_loss == full.train_loss[split_at:]  # bit-identical, not just close
    assert second.step == 20 and second.epoch == straight.epoch
    for (name, a), b in zip(straight.model.state_dict().items(), second.model.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("where", ["in_step_fn", "in_callback"])
def test_ctrl_c_saves_checkpoint_and_resume_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    straight, loader = _resumable_trainer(tmp_path / "straight", seed=0)
    full = straight.fit(loader, max_steps=20)

    interrupted, loader1 = _resumable_trainer(tmp_path / "run", seed=0)
    if where == "in_callback":
        interrupted.callbacks.append(Recorder(interrupt_at=8))
    else:
        # Ctrl-C in the middle of step 9's forward pass, after its batch was drawn and dropout used the RNG:
        # the checkpoint must hold step 8's state, not the half-advanced loader/RNG.
        default_step = interrupted.step_fn
        calls = {"n": 0}

        def step_fn(model: nn.Module, batch: Any) -> Tensor:
            calls["n"] += 1
            loss = default_step(model, batch)
            if calls["n"] == 9:
                raise KeyboardInterrupt
            return loss

        interrupted.step_fn = step_fn
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(loader1, max_steps=20)
    message = capsys.readouterr().err
    assert "Interrupted at step 8" in message and "last.safetensors" in message and "resume_from" in message
    assert load_checkpoint(tmp_path / "run")["step"] == 8

    resumed, loader2 = _resumable_trainer(tmp_path / "run", seed=5)
    rest = resumed.fit(loader2, max_steps=20, resume_from=tmp_path / "run")
    assert rest.train_loss == full.train_loss[8:]


def test_save_load_gives_identical_outputs(tmp_path: Path) -> None:
    trainer, loader = _resumable_trainer(tmp_path, seed=0)
    trainer.fit(loader, max_steps=5)
    x = Tensor(make_spiral(20, seed=3)[0])
    trainer.model.eval()
    expected = trainer.model(x).numpy()
    fresh = make_mlp(77, dropout=0.2).eval()
    meta = load_checkpoint(tmp_path / "checkpoints" / "last.safetensors", fresh)
    np.testing.assert_array_equal(fresh(x).numpy(), expected)
    assert meta["step"] == 5 and meta["extra"]["trainer"]["epoch"] == 0


def test_resume_from_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    trainer, loader = _resumable_trainer(tmp_path, seed=0)
    trainer.fit(loader, max_steps=3)
    path = tmp_path / "checkpoints" / "last.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    again, loader2 = _resumable_trainer(tmp_path, seed=0)
    with pytest.raises(CheckpointError, match=r"last\.safetensors: truncated: header says \d+ bytes, file has \d+"):
        again.fit(loader2, max_steps=6, resume_from=tmp_path)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    loss_fn = CrossEntropyLoss()
    calls = {"n": 0}

    def step_fn(model: nn.Module, batch: Any) -> Tensor:
        calls["n"] += 1
        x, y = batch
        loss: Tensor = loss_fn(model(Tensor(x)), y)
        return loss * float("nan") if calls["n"] == 8 else loss

    snapshots: dict[int, dict[str, np.ndarray]] = {}

    class Snapshot(Callback):
        def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
            snapshots[step] = trainer.model.state_dict()

    model = make_mlp(0)
    trainer = Trainer(model, Adam(model.parameters(), lr=0.01), step_fn=step_fn, checkpoint_every=5,
                      run_dir=tmp_path, callbacks=[Snapshot()], progress=False, log_every=None)
    with pytest.raises(TrainingDivergedError, match="step 8") as info:
        trainer.fit(spiral_loader(), max_steps=20)
    message = str(info.value)
    assert "learning rate" in message and "grad_clip" in message and "last.safetensors" in message
    assert info.value.step == 8 and np.isnan(info.value.loss)
    fresh = make_mlp(1)
    assert load_checkpoint(tmp_path, fresh)["step"] == 5
    for name, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value, snapshots[5][name])
    # The weights in memory are still those of step 7: the NaN never reached the optimizer.
    for name, value in trainer.model.state_dict().items():
        np.testing.assert_array_equal(value, snapshots[7][name])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_weights_with_finite_loss_never_reach_a_checkpoint(tmp_path: Path) -> None:
    default_step = supervised_step(CrossEntropyLoss())
    calls = {"n": 0}

    def step_fn(model: nn.Module, batch: Any) -> Tensor:
        calls["n"] += 1
        loss = default_step(model, batch)
        if calls["n"] == 6:
            # sqrt(|w - w|) is 0 in the forward pass but has a NaN gradient, so the weights break silently.
            weight = next(iter(model.parameters()))
            loss = loss + (weight - weight.detach()).abs().sqrt().sum()
        return loss

    model = make_mlp(0)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), step_fn=step_fn, checkpoint_every=2,
                      run_dir=tmp_path, progress=False, log_every=None)
    with pytest.raises(TrainingDivergedError, match=r"step 6: the parameter '0\.weight' after the update is nan"):
        trainer.fit(spiral_loader(), max_steps=10)
    restored = make_mlp(1)
    assert load_checkpoint(tmp_path, restored)["step"] == 4
    assert all(np.isfinite(value).all() for value in restored.state_dict().values())


def test_callbacks_fire_in_order_with_steps(tmp_path: Path) -> None:
    recorder = Recorder()
    model = make_mlp(0)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), eval_every=2, eval_batches=2,
                      callbacks=[recorder], progress=False, log_every=None)
    history = trainer.fit(spiral_loader(), spiral_loader(seed=1), max_steps=5)
    assert recorder.events == [
        ("start", 0), ("step", 1), ("step", 2), ("eval", 2), ("step", 3), ("step", 4), ("eval", 4),
        ("step", 5), ("eval", 5), ("end", 5),
    ]
    assert [step for step, _ in history.val_loss] == [2, 4, 5]


def test_gradient_accumulation_equals_full_batch() -> None:
    x, y = make_spiral(8, seed=2)
    grads: dict[int, list[np.ndarray]] = {}

    class Grads(Callback):
        def __init__(self, k: int) -> None:
            self.k = k

        def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
            grads[self.k] = [np.array(p.grad) for p in trainer.model.parameters()]

    with default_dtype(np.float64):
        params: dict[int, list[np.ndarray]] = {}
        for k, batch_size in ((1, 8), (2, 4)):
            model = make_mlp(0)
            trainer = Trainer(model, SGD(model.parameters(), lr=0.5), grad_accum_steps=k,
                              callbacks=[Grads(k)], progress=False, log_every=None)
            history = trainer.fit(DataLoader(ArrayDataset(x.astype(np.float64), y), batch_size=batch_size), max_steps=1)
            assert history.steps == 1
            params[k] = [p.data.copy() for p in model.parameters()]
    for g1, g2 in zip(grads[1], grads[2]):
        np.testing.assert_allclose(g2, g1, rtol=1e-12, atol=1e-14)
    for p1, p2 in zip(params[1], params[2]):
        np.testing.assert_allclose(p2, p1, rtol=1e-12, atol=1e-14)
    assert any(np.abs(g).max() > 1e-3 for g in grads[1])  # the check is not vacuous


def test_epochs_count_passes_over_the_loader() -> None:
    model = make_mlp(0)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), progress=False, log_every=None)
    assert trainer.fit(spiral_loader(n=65, batch_size=13), epochs=2).steps == 10  # 5 batches per epoch
    model = make_mlp(0)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), grad_accum_steps=2, progress=False, log_every=None)
    assert trainer.fit(spiral_loader(n=65, batch_size=13), epochs=2).steps == 5  # 10 batches / 2
    model = make_mlp(0)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), progress=False, log_every=None)
    assert trainer.fit(spiral_loader(n=65, batch_size=13), epochs=3, max_steps=7).steps == 7


def test_metrics_jsonl_lines_parse(tmp_path: Path) -> None:
    model = make_mlp(0)
    optimizer = Adam(model.parameters(), lr=0.01)
    trainer = Trainer(model, optimizer, scheduler=WarmupCosineLR(optimizer, 2, 6), eval_every=3,
                      run_dir=tmp_path, progress=False, log_every=None)
    history = trainer.fit(spiral_loader(), spiral_loader(seed=1), max_steps=6)
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r["train_loss"] for r in records] == history.train_loss
    assert [r["step"] for r in records if "val_loss" in r] == [3, 6]
    assert records[0]["lr"] == pytest.approx(0.01 / 3) and records[1]["lr"] == pytest.approx(0.02 / 3)
    assert all(r["elapsed"] >= 0 for r in records)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 6  # the final evaluation reused step 6's, so no extra line


def test_evaluate_restores_mode_builds_no_graph_and_weights_batches() -> None:
    x, y = make_spiral(30, seed=4)
    model = make_mlp(0, dropout=0.5)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), progress=False, log_every=None)
    value = trainer.evaluate(DataLoader(ArrayDataset(x, y), batch_size=8))  # batches 8, 8, 8, 6
    assert model.training
    model.eval()
    expected = CrossEntropyLoss()(model(Tensor(x)), y).item()
    assert value == pytest.approx(expected, rel=1e-5)
    assert all(p.grad is None for p in model.parameters())
    first_two = trainer.evaluate(DataLoader(ArrayDataset(x, y), batch_size=8), max_batches=2)
    assert first_two == pytest.approx(CrossEntropyLoss()(model(Tensor(x[:16])), y[:16]).item(), rel=1e-5)
    assert not model.training  # restored to the mode it had


def test_bad_configuration_and_batches_are_explained() -> None:
    model = make_mlp(0)
    optimizer = SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, optimizer, progress=False, log_every=None)
    with pytest.raises(ValueError, match="max_steps or epochs"):
        trainer.fit(spiral_loader())
    with pytest.raises(TypeError, match=r"\(inputs, targets\).*step_fn"):
        trainer.fit([(np.zeros((2, 2), np.float32),)], max_steps=1)
    with pytest.raises(ValueError, match="grad_accum_steps"):
        Trainer(model, optimizer, grad_accum_steps=0)
    with pytest.raises(ValueError, match="scalar loss"):
        Trainer(model, optimizer, step_fn=lambda m, b: m(Tensor(b[0])), progress=False).fit(spiral_loader(), max_steps=1)
    with pytest.raises(ValueError, match="yielded no batches"):
        Trainer(model, optimizer, progress=False).fit(iter([]), max_steps=1)


def test_progress_lines_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    model = make_mlp(0)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), log_every=4)
    trainer.fit(spiral_loader(), max_steps=8)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("step 4/8 | loss ") and "steps/s" in lines[0] and "eta" in lines[0]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_rich_bar_on_a_terminal() -> None:
    stream = FakeTerminal()
    with Progress(bar=True, log_every=None, total=10, start=0, stream=stream) as progress:
        assert progress.use_bar
        for step in range(1, 11):
            progress.update(step, 1.0 / step)
        progress.message("step 10: val_loss 0.5000")
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())  # drop terminal colour/cursor codes
    assert "10/10" in out and "steps/s" in out and "val_loss 0.5000" in out


def test_importing_the_core_does_not_import_rich() -> None:
    code = "import sys, tinytorch_core, tinytorch_core.training; assert 'rich' not in sys.modules, 'rich imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
