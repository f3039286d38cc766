"""The model, optimizer and gradients behind ``tests/data/legacy-breadth-first.safetensors``.

That file was written by TinyTorch before ``named_parameters()`` became depth-first (commit 5a58aa5,
breadth-first order, optimizer state keyed by that order) with::

    PYTHONPATH=<checkout of 5a58aa5> python tests/legacy_checkpoint.py tests/data/legacy-breadth-first.safetensors

It holds the training checkpoint after ``SAVED_STEPS`` steps plus, under ``extra["expected"]``, the
parameters the old code reached after ``MORE_STEPS`` more, so a test can check that resuming it
today continues exactly. The module has a top-level parameter registered after its submodules and
many same-shaped weights, so a misaligned optimizer state would load silently.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from tinytorch_core import Tensor
from tinytorch_core.nn import Linear, Module, Parameter, Sequential, Tanh
from tinytorch_core.optim import AdamW

SAVED_STEPS, MORE_STEPS = 3, 2


class Legacy(Module):
    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(0)
        self.inner = Sequential(Linear(3, 3), Tanh(), Linear(3, 3))
        self.head = Linear(3, 3)
        self.scale = Parameter(np.ones((3, 3)))
        self.to(np.float64)
        for p in self.parameters():
            p.data[...] = rng.standard_normal(p.shape)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.head(self.inner(x)) * self.scale.sum()
        return out


def make_optimizer(model: Legacy) -> AdamW:
    """Two groups built by filtering ``named_parameters()``, as TinyGPT and the trainer do."""
    named = list(model.named_parameters())
    return AdamW([{"params": [p for _, p in named if p.ndim >= 2], "weight_decay": 0.1},
                  {"params": [p for _, p in named if p.ndim < 2], "weight_decay": 0.0}], lr=0.05)


def train_step(model: Legacy, optimizer: AdamW, step: int) -> None:
    x = np.random.default_rng(100 + step).standard_normal((4, 3))
    optimizer.zero_grad()
    (model(Tensor(x, dtype=np.float64)) ** 2).mean().backward()
    optimizer.step()


def main(path: str) -> None:
    from tinytorch_core.serialization import save_checkpoint

    model = Legacy()
    optimizer = make_optimizer(model)
    for step in range(SAVED_STEPS):
        train_step(model, optimizer, step)
    snapshot: dict[str, Any] = {"model": model.state_dict(), "optim": optimizer.state_dict()}
    for step in range(SAVED_STEPS, SAVED_STEPS + MORE_STEPS):
        train_step(model, optimizer, step)
    expected = {name: value.tolist() for name, value in model.state_dict().items()}
    model.load_state_dict(snapshot["model"])
    optimizer.load_state_dict(snapshot["optim"])
    save_checkpoint(path, model, optimizer, step=SAVED_STEPS, extra={"expected": expected})


if __name__ == "__main__":
    main(sys.argv[1])
