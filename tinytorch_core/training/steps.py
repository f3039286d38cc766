"""Step functions: how a batch becomes a scalar loss (the Trainer's only domain-specific piece)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinytorch_core.nn import Module
from tinytorch_core.tensor import Tensor

StepFn = Callable[[Module, Any], Tensor]
LossFn = Callable[[Tensor, Any], Tensor]


def as_model_input(value: Any) -> Any:
    """Floating arrays become Tensors (default dtype); integer arrays (indices, labels) pass through."""
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return Tensor(value)
    return value


def supervised_step(loss_fn: LossFn) -> StepFn:
    """The default step function: ``batch = (x, y)`` and loss ``loss_fn(model(x), y)``."""

    def step(model: Module, batch: Any) -> Tensor:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            kind = f"a {len(batch)}-tuple" if isinstance(batch, (tuple, list)) else type(batch).__name__
            raise TypeError(
                f"Trainer's default step expects (inputs, targets) batches, got {kind}; "
                "pass step_fn=lambda model, batch: <loss Tensor> for other batch layouts"
            )
        x, y = batch
        output = model(as_model_input(x))
        return loss_fn(output, as_model_input(y))

    return step


def default_step(model: Module, batch: Any) -> Tensor:
    """The default supervised step: ``batch = (inputs, targets)``, loss = cross-entropy of
    ``model(inputs)`` against ``targets`` (the Trainer's step when given neither step_fn nor loss_fn)."""
    from tinytorch_core.functional import cross_entropy

    return supervised_step(cross_entropy)(model, batch)


def batch_size(batch: Any) -> int:
    """Rows in a batch (its first array's leading dimension), used to weight evaluation losses."""
    first = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
    shape = getattr(first, "shape", None)
    return int(shape[0]) if shape else 1
