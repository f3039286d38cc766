"""Held-out classification accuracy, and the trainer-event glue that reports it during ``tinytorch train``."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from tinytorch_core import Tensor, no_grad
from tinytorch_core.data import DataLoader, Dataset
from tinytorch_core.nn import Module

__all__ = ["accuracy", "AccuracyReporter"]


def accuracy(model: Module, dataset: Dataset, batch_size: int = 256) -> float:
    """Fraction of ``dataset``'s ``(image, label)`` samples whose argmax logit is the label (eval mode, no graph)."""
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        with no_grad():
            for images, labels in DataLoader(dataset, batch_size=batch_size):
                logits = model(Tensor(images)).data
                if logits.ndim != 2 or logits.shape[0] != len(labels):
                    raise ValueError(f"accuracy: expected logits (N, classes) for {len(labels)} images, got {logits.shape}")
                correct += int((logits.argmax(axis=1) == labels).sum())
                total += len(labels)
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("accuracy: the dataset is empty")
    return correct / total


def _data_table(config: Any) -> Mapping[str, Any] | None:
    """The ``[data]`` table of a registry config (a mapping, or an object holding one in ``.data``)."""
    document = getattr(config, "data", config)
    if not isinstance(document, Mapping):
        return None
    table = document.get("data")
    return table if isinstance(table, Mapping) else None


class AccuracyReporter:
    """Prints held-out accuracy after each evaluation when the run trains on one of this plugin's datasets.

    It measures on the Trainer's own validation data (``trainer.val_loader``, set by ``fit``), so it
    sees exactly the split the run evaluates on and builds no dataset of its own.
    """

    def __init__(self, dataset_names: Iterable[str]) -> None:
        self.dataset_names = frozenset(dataset_names)
        self._val: weakref.WeakKeyDictionary[Any, Dataset] = weakref.WeakKeyDictionary()
        self._last: weakref.WeakKeyDictionary[Any, tuple[int, float]] = weakref.WeakKeyDictionary()

    def start(self, trainer: Any, config: Any) -> None:
        table = _data_table(config)
        if table is None or table.get("name") not in self.dataset_names:
            return
        # A DataLoader has .dataset; a data-parallel shard holds the loader: this rank's share is not the split.
        val = getattr(getattr(trainer, "val_loader", None), "dataset", None)
        if val is not None and len(val):
            self._val[trainer] = val

    def evaluated(self, trainer: Any, step: int) -> None:
        val = self._val.get(trainer)
        if val is None:
            return
        acc = accuracy(trainer.model, val)
        self._last[trainer] = (step, acc)
        print(f"step {step}: val_accuracy {acc:.4f} ({len(val)} held-out images)")

    def finished(self, trainer: Any) -> None:
        val = self._val.get(trainer)
        if val is None:
            return
        step, acc = self._last.get(trainer, (-1, float("nan")))
        if step != trainer.step:
            acc = accuracy(trainer.model, val)
        self._last[trainer] = (trainer.step, acc)
        print(f"held-out accuracy: {100 * acc:.2f}% on {len(val)} images")
        del self._val[trainer]

    def last_accuracy(self, trainer: Any) -> float | None:
        """The latest accuracy reported for ``trainer`` (None when none was)."""
        entry = self._last.get(trainer)
        return None if entry is None else entry[1]
