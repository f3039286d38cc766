"""Hand-rolled layers: a Linear with its own Function and parameters, and a ReLU op."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch_core.autograd import Context, Function
from tinytorch_core.nn import Module, Parameter
from tinytorch_core.tensor import Tensor

Array = np.ndarray[Any, Any]


class OwnLinearFunction(Function):
    """y = x W^T + b with a hand-written backward."""

    @staticmethod
    def forward(ctx: Context, x: Array, weight: Array, bias: Array) -> Array:
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx: Context, grad: Array) -> tuple[Array, Array, Array]:
        x, weight = ctx.saved_tensors
        return grad @ weight, grad.T @ x, grad.sum(axis=0)


class OwnReLUFunction(Function):
    """max(x, 0) with a hand-written backward."""

    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        mask = x > 0
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx: Context, grad: Array) -> Array:
        (mask,) = ctx.saved_tensors
        return grad * mask


class OwnLinear(Module):
    """A dense layer that does not use the core's Linear."""

    def __init__(self, n_in: int, n_out: int, seed: int = 0) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(n_in)
        self.weight = Parameter(rng.uniform(-bound, bound, size=(n_out, n_in)))
        self.bias = Parameter(np.zeros(n_out))

    def forward(self, x: Tensor) -> Tensor:
        return OwnLinearFunction.apply(x, self.weight, self.bias)


class OwnReLU(Module):
    """ReLU through the plugin's own op."""

    def forward(self, x: Tensor) -> Tensor:
        return OwnReLUFunction.apply(x)


class OwnMLP(Module):
    """The same two-layer perceptron as the core-only fixture, built from the layers above."""

    def __init__(self, n_in: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.fc1 = OwnLinear(n_in, hidden, seed=1)
        self.act = OwnReLU()
        self.fc2 = OwnLinear(hidden, n_out, seed=2)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.fc2(self.act(self.fc1(x)))
        return out
