"""Trainer callbacks: the hook points a training run exposes to user code and plugins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tinytorch_core.training.trainer import Trainer


class Callback:
    """Base class with no-op hooks; override the ones you need.

    Hooks run in the order the callbacks were given to the :class:`Trainer`. ``step`` is the number of
    optimizer steps completed (1 after the first). A callback can end training early by setting
    ``trainer.stop_training = True``.
    """

    def on_train_start(self, trainer: Trainer) -> None:
        """Called once at the start of ``fit`` (after a resume has restored the step); ``trainer.val_loader``
        is then the fit's validation data (or None)."""

    def on_before_optimizer_step(self, trainer: Trainer, optimizer: Any) -> None:
        """Called once per optimizer step after backward (and gradient accumulation), before gradient
        clipping and ``optimizer.step()``: the place to read or change gradients, e.g. to average them
        over data-parallel ranks (``tinytorch_core.distributed.DataParallel``)."""

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        """Called after every optimizer step with that step's mean training loss."""

    def on_eval_end(self, trainer: Trainer, step: int, metrics: Mapping[str, float]) -> None:
        """Called after each evaluation with ``{"val_loss": ...}``."""

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once when ``fit`` finishes normally (not on divergence or Ctrl-C)."""
