"""Training: the domain-agnostic :class:`Trainer`, its callbacks, history and metrics log."""

from tinytorch_core.training.callbacks import Callback
from tinytorch_core.training.metrics_log import MetricsLog, read_metrics
from tinytorch_core.training.steps import LossFn, StepFn, default_step, supervised_step
from tinytorch_core.training.tensorboard import TensorBoardCallback
from tinytorch_core.training.trainer import (
    History,
    Trainer,
    TrainingDivergedError,
)

__all__ = [
    "Trainer", "History", "Callback", "TrainingDivergedError", "StepFn", "LossFn", "supervised_step", "default_step",
    "MetricsLog", "read_metrics", "TensorBoardCallback",
]
