"""Gradient clipping by global norm."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from tinytorch_core.tensor import Tensor


def clip_grad_norm_(
    params: Iterable[Tensor] | Tensor,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale all gradients in place so their joint norm is at most ``max_norm``; return the norm before.

    As ``torch.nn.utils.clip_grad_norm_``: the norm is taken over all gradients as if they were
    one vector (2-norm from one dot product per gradient, or ``norm_type=inf`` for the largest
    magnitude); gradients are multiplied by ``max_norm / (norm + 1e-6)`` when that is below 1.
    Parameters without a gradient are skipped. A NaN/inf norm leaves the gradients unscaled
    (or raises with ``error_if_nonfinite``).
    """
    if not isinstance(max_norm, (int, float)) or isinstance(max_norm, bool) or not max_norm > 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be a number > 0, got {max_norm!r}")
    if norm_type not in (2.0, math.inf):
        raise ValueError(f"clip_grad_norm_: norm_type must be 2 or math.inf, got {norm_type!r}")
    tensors = [params] if isinstance(params, Tensor) else list(params)
    for i, p in enumerate(tensors):
        if not isinstance(p, Tensor):
            raise TypeError(f"clip_grad_norm_: item {i} is a {type(p).__name__}, not a Parameter; pass model.parameters()")
    grads = [p.grad for p in tensors if p.grad is not None]
    if not grads:
        return 0.0
    flats = [g.reshape(-1) for g in grads]
    if norm_type == 2.0:
        total = math.sqrt(sum(float(np.dot(f, f)) for f in flats))
    else:
        total = max(float(np.abs(f).max(initial=0.0)) for f in flats)
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise FloatingPointError(
                f"clip_grad_norm_: the total gradient norm is {total}; the loss or a gradient has NaN/inf "
                "(lower the learning rate, or check the inputs)"
            )
        return total
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef
    return total
