"""Evaluation metrics beyond the loss, accumulated over the validation batches.

A :class:`Metric` sees each validation batch's model outputs and targets (numpy arrays) through
:meth:`Metric.update` and gives one number from :meth:`Metric.compute`. The Trainer runs them
after every evaluation (``Trainer(metrics=...)``) and logs each as ``val_<name>``; plugins
register more with the ``tinytorch_register_metrics`` hook.

The ones here know nothing of the modality: classification accuracy, regression error and the
perplexity of a classifier's predictive distribution.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["Metric", "Accuracy", "MeanAbsoluteError", "MeanSquaredError", "Perplexity", "log_softmax_nll"]

Array = np.ndarray[Any, Any]


class Metric:
    """Accumulates a statistic over batches; ``reset`` starts again, ``compute`` gives the value.

    Subclasses set ``name`` (logged as ``val_<name>``), ``higher_is_better`` and implement
    ``update(outputs, targets)``; the default ``compute`` is ``total / count``. A data-parallel
    evaluation (``tinytorch_core.distributed``) sums ``total`` and ``count`` over the ranks before
    ``compute``, so a metric should keep its state in those two.
    """

    name: str = "metric"
    higher_is_better: bool = True

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def reset(self) -> None:
        """Forget every batch seen."""
        self.total = 0.0
        self.count = 0

    def update(self, outputs: Array, targets: Array) -> None:
        """Add one batch: ``outputs`` as the model returned them, ``targets`` as the batch held them."""
        raise NotImplementedError

    def compute(self) -> float:
        """The metric over every batch since the last reset (NaN when there were none)."""
        return self.total / self.count if self.count else math.nan

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _valid(targets: Array, ignore_index: int | None) -> Array:
    return np.ones(targets.shape, dtype=bool) if ignore_index is None else targets != ignore_index


def log_softmax_nll(logits: Array, targets: Array, ignore_index: int | None = None) -> tuple[float, int]:
    """Summed negative log-likelihood of integer ``targets`` under ``logits`` (classes on the last axis), and the count."""
    flat = logits.reshape(-1, logits.shape[-1]).astype(np.float64, copy=False)
    labels = targets.reshape(-1)
    keep = _valid(labels, ignore_index)
    flat, labels = flat[keep], labels[keep]
    if labels.size == 0:
        return 0.0, 0
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    picked = shifted[np.arange(labels.size), labels]
    return float((log_norm - picked).sum()), int(labels.size)


class Accuracy(Metric):
    """Share of predictions (argmax over the last axis of ``outputs``) equal to integer ``targets``."""

    name = "accuracy"

    def __init__(self, ignore_index: int | None = None) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def update(self, outputs: Array, targets: Array) -> None:
        if outputs.shape[:-1] != targets.shape:
            raise ValueError(f"Accuracy: outputs {outputs.shape} need classes on the last axis of targets {targets.shape}")
        keep = _valid(targets, self.ignore_index)
        self.total += float((outputs.argmax(axis=-1) == targets)[keep].sum())
        self.count += int(keep.sum())


class _ElementwiseError(Metric):
    """Mean of ``penalty(outputs - targets)`` over every element."""

    higher_is_better = False

    @staticmethod
    def penalty(difference: Array) -> Array:
        raise NotImplementedError

    def update(self, outputs: Array, targets: Array) -> None:
        difference = np.asarray(outputs, dtype=np.float64) - np.asarray(targets, dtype=np.float64).reshape(outputs.shape)
        self.total += float(self.penalty(difference).sum())
        self.count += difference.size


class MeanAbsoluteError(_ElementwiseError):
    """Mean of ``|outputs - targets|`` over every element."""

    name = "mae"

    @staticmethod
    def penalty(difference: Array) -> Array:
        return np.abs(difference)


class MeanSquaredError(_ElementwiseError):
    """Mean of ``(outputs - targets)**2`` over every element."""

    name = "mse"

    @staticmethod
    def penalty(difference: Array) -> Array:
        return np.square(difference)


class Perplexity(Metric):
    """``exp`` of the mean negative log-likelihood of integer targets under logits (classes last)."""

    name = "perplexity"
    higher_is_better = False

    def __init__(self, ignore_index: int | None = None) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def update(self, outputs: Array, targets: Array) -> None:
        nll, count = log_softmax_nll(outputs, targets, self.ignore_index)
        self.total += nll
        self.count += count

    def compute(self) -> float:
        return math.exp(self.total / self.count) if self.count else math.nan
