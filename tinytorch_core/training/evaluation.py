"""Evaluation: the mean loss and the metrics over validation batches, without building a graph."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from tinytorch_core.state import no_grad
from tinytorch_core.metrics import Metric
from tinytorch_core.nn import Module
from tinytorch_core.tensor import Tensor
from tinytorch_core.training.steps import LossFn, StepFn, as_model_input, batch_size


def checked_loss(loss: object, where: str) -> float:
    """``loss`` as a float, or a one-line error when ``where`` returned no scalar Tensor."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"Trainer: {where} must return a loss Tensor, got {type(loss).__name__}")
    if loss.data.size != 1:
        raise ValueError(f"Trainer: {where} must return a scalar loss, got shape {loss.shape} (reduce it with .mean())")
    return loss.item()


def _batch_loss(model: Module, step_fn: StepFn, loss_fn: LossFn | None, batch: Any, metrics: Sequence[Metric]) -> float:
    """One batch's loss, feeding its outputs to ``metrics`` (a single forward pass with the default step)."""
    if not metrics:
        return checked_loss(step_fn(model, batch), "evaluate")
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError("Trainer: metrics need (inputs, targets) batches; compute them in a callback for other layouts")
    inputs, targets = batch
    outputs = model(as_model_input(inputs))
    if loss_fn is not None:
        value = checked_loss(loss_fn(outputs, as_model_input(targets)), "evaluate")
    else:  # a custom step computes its own loss; the metrics still see model(inputs)
        value = checked_loss(step_fn(model, batch), "evaluate")
    produced = outputs.data if isinstance(outputs, Tensor) else np.asarray(outputs)
    for metric in metrics:
        metric.update(produced, np.asarray(targets))
    return value


def evaluate_batches(
    model: Module,
    step_fn: StepFn,
    loss_fn: LossFn | None,
    loader: Iterable[Any],
    max_batches: int | None = None,
    metrics: Sequence[Metric] = (),
    reduce: Callable[[Sequence[float]], list[float]] | None = None,
) -> dict[str, float]:
    """``{"val_loss": mean loss weighted by batch size, "val_<name>": metric, ...}`` in eval mode; train mode is restored.

    ``reduce`` sums values over data-parallel ranks (each evaluated its share of the batches): the
    loss sum, the row count and each metric's ``total`` and ``count`` are summed before dividing.
    """
    for metric in metrics:
        metric.reset()
    was_training = model.training
    model.eval()
    total, weight = 0.0, 0.0
    try:
        with no_grad():
            for index, batch in enumerate(loader):
                if max_batches is not None and index >= max_batches:
                    break
                rows = batch_size(batch)
                total += _batch_loss(model, step_fn, loss_fn, batch, metrics) * rows
                weight += rows
    finally:
        model.train(was_training)
    if reduce is not None:
        summed = reduce([total, weight, *(x for m in metrics for x in (m.total, m.count))])
        total, weight = summed[0], summed[1]
        for i, metric in enumerate(metrics):
            metric.total, metric.count = summed[2 + 2 * i], int(summed[3 + 2 * i])
    if weight == 0:
        raise ValueError("Trainer.evaluate: the loader yielded no batches")
    results = {"val_loss": total / weight}
    results.update({f"val_{metric.name}": metric.compute() for metric in metrics})
    return results
