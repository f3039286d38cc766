"""A hand-rolled SGD optimizer (instead of the core's)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from tinytorch_core.nn import Parameter


class OwnSGD:
    """Plain gradient descent with optional momentum."""

    def __init__(self, params: Iterable[Parameter], lr: float, momentum: float = 0.0) -> None:
        self.params = list(params)
        self.lr = lr
        self.momentum = momentum
        self.velocity: list[np.ndarray[Any, Any] | None] = [None] * len(self.params)

    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            v = self.velocity[i]
            v = p.grad if v is None or not self.momentum else self.momentum * v + p.grad
            self.velocity[i] = v
            p.data -= self.lr * v

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None
