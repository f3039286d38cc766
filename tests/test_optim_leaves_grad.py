"""``optimizer.step()`` leaves ``p.grad`` bit-identical, as in PyTorch, for every optimizer and option.

Backward writes gradients straight into the optimizer's flat buffer (``p.grad`` is a view of it), so
a weight-decay or Nesterov term added "into the gradient" would silently change what a callback or
user reads after the step. The updated parameters still match torch.optim where it is installed.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

from tinytorch_core import Tensor
from tinytorch_core.nn import Parameter
from tinytorch_core.optim import SGD, Adam, AdamW, Optimizer

Array = np.ndarray[Any, Any]
SHAPES = [(3, 4), (4,), (), (2, 3, 2)]
HAS_TORCH = importlib.util.find_spec("torch") is not None

OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "weight_decay": 0.3}),
    ("sgd", {"lr": 0.05, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("adam", {"lr": 0.01}),
    ("adam", {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1}),
    ("adamw", {"lr": 0.01}),
    ("adamw", {"lr": 0.02, "betas": (0.85, 0.99), "weight_decay": 0.3}),
    ("adamw", {"lr": 0.02, "weight_decay": 0.0}),
]
CLASSES: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def make_params() -> list[Parameter]:
    rng = np.random.default_rng(0)
    return [Parameter(rng.standard_normal(s), dtype=np.float64) for s in SHAPES]


def coefficients(steps: int) -> list[list[Array]]:
    rng = np.random.default_rng(1)
    return [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]


def backward(params: list[Parameter], coeffs: list[Array], skip: int | None) -> None:
    """``loss = sum_i <c_i, p_i>``, so backward writes exactly ``c_i`` into each ``p_i.grad``."""
    loss: Tensor | None = None
    for i, (p, c) in enumerate(zip(params, coeffs)):
        if i == skip:
            continue  # this parameter gets no gradient: the optimizer's per-parameter path
        term = (p * Tensor(c, dtype=np.float64)).sum()
        loss = term if loss is None else loss + term
    assert loss is not None
    loss.backward()


@pytest.mark.parametrize("kind,options", OPTIONS, ids=[f"{k}-{o}" for k, o in OPTIONS])
@pytest.mark.parametrize("with_missing", [False, True], ids=["all-grads", "a-grad-missing"])
def test_step_leaves_grad_bit_identical(kind: str, options: dict[str, Any], with_missing: bool) -> None:
    params = make_params()
    optimizer = CLASSES[kind](params, **options)
    steps = coefficients(5)
    for t, coeffs in enumerate(steps):
        optimizer.zero_grad()
        skip = 1 if with_missing and t in (1, 3) else None
        backward(params, coeffs, skip)
        before = [None if p.grad is None else p.grad.copy() for p in params]
        assert params[0].grad is not None and np.shares_memory(params[0].grad, optimizer._flats[0].grad)
        optimizer.step()
        for i, (p, grad) in enumerate(zip(params, before)):
            if grad is None:
                assert p.grad is None
                continue
            assert p.grad is not None
            assert p.grad.tobytes() == grad.tobytes(), f"step {t}: p{i}.grad changed by up to {np.abs(p.grad - grad).max()}"
            assert p.grad.tobytes() == coeffs[i].tobytes()  # still what backward wrote

    if not HAS_TORCH:
        return
    import torch

    ref_params = [torch.tensor(p.data, dtype=torch.float64, requires_grad=True) for p in make_params()]
    torch_optimizer = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind](
        ref_params, **options)
    for t, coeffs in enumerate(steps):
        torch_optimizer.zero_grad()
        for i, (p, c) in enumerate(zip(ref_params, coeffs)):
            if not (with_missing and t in (1, 3) and i == 1):
                p.grad = torch.tensor(c)
        torch_optimizer.step()
    for i, (ours, theirs) in enumerate(zip(params, ref_params)):
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"p{i}")
