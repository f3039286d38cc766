"""A plugin-defined op (softplus as a Function) and two reuse targets, without and with it."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch_core import Tensor, nn
from tinytorch_core.autograd import Context, Function
from tinytorch_core.hookspecs import Register, hookimpl

IN, HIDDEN, OUT, BATCH = 8, 64, 4, 32
Array = np.ndarray[Any, Any]


class Softplus(Function):
    """log(1 + exp(x)), computed stably, with a hand-written backward."""

    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, grad: Array) -> Array:
        (x,) = ctx.saved_tensors
        return grad / (1.0 + np.exp(-x))


class SoftplusLayer(nn.Module):
    """The plugin-defined activation as a module."""

    def forward(self, x: Tensor) -> Tensor:
        return Softplus.apply(x)


def build_plain() -> nn.Module:
    """Core layers only."""
    return nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT))


def build_with_op() -> nn.Module:
    """The same model with the plugin's softplus after the first layer."""
    return nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), SoftplusLayer(), nn.Linear(HIDDEN, OUT))


def sample_batch() -> tuple[Array, Array]:
    """A fixed batch."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((BATCH, IN)).astype(np.float32), rng.integers(0, OUT, size=BATCH)


@hookimpl
def tinytorch_register_reuse_targets(register: Register) -> None:
    register("plain", build_plain, sample_batch=sample_batch)
    register("with_op", build_with_op, sample_batch=sample_batch)
