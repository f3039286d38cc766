"""A callback writing TensorBoard event files: training loss and learning rate every step, every
validation metric at each evaluation.

The writer is tensorboardX (the ``plot`` extra), imported when training starts. Open the curves
with ``tensorboard --logdir RUN_DIR/tensorboard``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinytorch_core.training.callbacks import Callback

if TYPE_CHECKING:
    from tinytorch_core.training.trainer import Trainer


class TensorBoardCallback(Callback):
    """Write ``train/loss``, ``train/lr`` and ``val/<metric>`` scalars against the optimizer step.

    ``log_dir`` defaults to ``<run_dir>/tensorboard`` (the Trainer's run directory), else ``runs/tensorboard``;
    ``flush_secs`` is how often the writer flushes to disk (it always flushes when training ends).
    """

    def __init__(self, log_dir: str | os.PathLike[str] | None = None, flush_secs: int = 10) -> None:
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.flush_secs = flush_secs
        self._writer: Any = None

    def on_train_start(self, trainer: Trainer) -> None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError as error:
            raise ImportError(
                "the tensorboard callback needs tensorboardX: pip install 'tinytorch-numpy[plot]'"
            ) from error
        if self.log_dir is None:
            base = trainer.run_dir if trainer.run_dir is not None else Path("runs")
            self.log_dir = base / "tensorboard"
        self._writer = SummaryWriter(logdir=str(self.log_dir), flush_secs=self.flush_secs)

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        if self._writer is not None:
            self._writer.add_scalar("train/loss", loss, step)
            self._writer.add_scalar("train/lr", trainer.lr, step)

    def on_eval_end(self, trainer: Trainer, step: int, metrics: Mapping[str, float]) -> None:
        if self._writer is not None:
            for name, value in metrics.items():
                self._writer.add_scalar(f"val/{name.removeprefix('val_')}", value, step)
            self._writer.flush()

    def on_train_end(self, trainer: Trainer) -> None:
        self.close()

    def close(self) -> None:
        """Flush and close the event file (also safe to call twice)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
