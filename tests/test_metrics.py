"""Evaluation metrics: their values against hand computations, and the Trainer reporting them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tinytorch_core import Tensor, manual_seed, nn
from tinytorch_core.data import ArrayDataset, DataLoader
from tinytorch_core.functional import cross_entropy
from tinytorch_core.metrics import Accuracy, MeanAbsoluteError, MeanSquaredError, Metric, Perplexity
from tinytorch_core.optim import AdamW
from tinytorch_core.training import Callback, Trainer


def test_accuracy_counts_argmax_matches_over_batches_and_ignores_padding() -> None:
    metric = Accuracy(ignore_index=-1)
    metric.update(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]))
    metric.update(np.array([[[0.0, 1.0], [1.0, 0.0]]]), np.array([[1, -1]]))
    assert metric.compute() == pytest.approx(2 / 3)
    metric.reset()
    assert math.isnan(metric.compute())


def test_regression_errors() -> None:
    mae, mse = MeanAbsoluteError(), MeanSquaredError()
    for metric in (mae, mse):
        metric.update(np.array([[1.0, 2.0]]), np.array([[0.0, 4.0]]))
    assert mae.compute() == pytest.approx(1.5)
    assert mse.compute() == pytest.approx(2.5)


def test_perplexity_is_exp_of_the_cross_entropy() -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 6, 11))
    targets = rng.integers(0, 11, size=(4, 6))
    metric = Perplexity()
    metric.update(logits[:2], targets[:2])
    metric.update(logits[2:], targets[2:])
    expected = math.exp(cross_entropy(Tensor(logits, dtype=np.float64), targets).item())
    assert metric.compute() == pytest.approx(expected, rel=1e-10)


def test_metric_shape_errors_name_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(4,\)"):
        Accuracy().update(np.zeros((3, 2)), np.zeros(4, dtype=np.int64))


def test_trainer_reports_metrics_in_history_log_and_callbacks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nn.Sequential([nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2)])
    seen: list[dict[str, float]] = []

    class Recorder(Callback):
        def on_eval_end(self, trainer, step, metrics):  # type: ignore[no-untyped-def]
            seen.append(dict(metrics))

    trainer = Trainer(model, AdamW(model.parameters(), lr=3e-2), metrics=[Accuracy(), Perplexity()],
                      eval_every=20, run_dir=tmp_path, callbacks=[Recorder()], progress=False)
    loader = DataLoader(ArrayDataset(x, y), batch_size=32, shuffle=True, seed=0)
    history = trainer.fit(loader, DataLoader(ArrayDataset(x, y), batch_size=64), max_steps=60)
    steps = [step for step, _ in history.val_metrics]
    assert steps == [20, 40, 60]
    final = history.val_metrics[-1][1]
    assert final["val_accuracy"] > 0.95
    assert final["val_perplexity"] == pytest.approx(math.exp(final["val_loss"]), rel=1e-5)
    assert seen[-1] == final
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["val_accuracy"] for r in logged if "val_accuracy" in r] == [m["val_accuracy"] for _, m in history.val_metrics]


def test_trainer_refuses_things_that_are_not_metrics() -> None:
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="Metric"):
        Trainer(model, AdamW(model.parameters()), metrics=[len])  # type: ignore[list-item]


def test_a_custom_metric_subclass() -> None:
    class MaxError(Metric):
        name = "max_error"

        def update(self, outputs, targets):  # type: ignore[no-untyped-def]
            self.total = max(self.total, float(np.abs(outputs - targets).max()))
            self.count = 1

    metric = MaxError()
    metric.update(np.array([1.0, 5.0]), np.array([1.0, 2.0]))
    assert metric.compute() == 3.0
