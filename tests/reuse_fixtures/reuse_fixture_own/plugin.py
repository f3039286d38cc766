"""Hook implementations of the re-implementing fixture plugin."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch_core.hookspecs import Register, hookimpl

from reuse_fixture_own.layers import OwnMLP
from reuse_fixture_own.optim import OwnSGD

IN, HIDDEN, OUT, BATCH = 8, 16, 4, 6


def build_mlp() -> OwnMLP:
    """The hand-rolled two-layer perceptron."""
    return OwnMLP(IN, HIDDEN, OUT)


def make_optimizer(model: OwnMLP, lr: float = 0.1) -> OwnSGD:
    """The plugin's own SGD."""
    return OwnSGD(model.parameters(), lr=lr)


def sample_batch() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The same batch as the core-only fixture."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((BATCH, IN)).astype(np.float32), rng.integers(0, OUT, size=BATCH)


@hookimpl
def tinytorch_register_reuse_targets(register: Register) -> None:
    register("own_mlp", build_mlp, sample_batch=sample_batch, description="MLP of hand-rolled layers")
