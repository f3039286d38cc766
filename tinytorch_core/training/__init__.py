"""Training: the domain-agnostic :class:`Trainer`, its callbacks, history and metrics log."""

from tinytorch_core.training.callbacks import Callback
from tinytorch_core.training.metrics_log import MetricsLog, read_metrics
from tinytorch_core.training.trainer import (
    History,
    LossFn,
    StepFn,
    Trainer,
    TrainingDivergedError,
    supervised_step,
)

__all__ = [
    "Trainer", "History", "Callback", "TrainingDivergedError", "StepFn", "LossFn", "supervised_step",
    "MetricsLog", "read_metrics",
]
