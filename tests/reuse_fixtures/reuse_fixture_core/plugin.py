"""Hook implementations of the core-only fixture plugin."""

from __future__ import annotations

from typing import Any

import numpy as np

import tinytorch_core.nn as nn
from tinytorch_core import optim
from tinytorch_core.hookspecs import Register, hookimpl

IN, HIDDEN, OUT, BATCH = 8, 16, 4, 6


def build_mlp() -> nn.Module:
    """A two-layer perceptron made of core layers only."""
    return nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT))


def make_optimizer(model: nn.Module, lr: float = 0.1) -> optim.SGD:
    """The core's SGD, as a real plugin's training recipe would use it."""
    return optim.SGD(model.parameters(), lr=lr)


def sample_batch() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """A fixed small batch: float inputs and integer class targets."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((BATCH, IN)).astype(np.float32), rng.integers(0, OUT, size=BATCH)


@hookimpl
def tinytorch_register_reuse_targets(register: Register) -> None:
    register("core_mlp", build_mlp, sample_batch=sample_batch, description="MLP of core layers")
