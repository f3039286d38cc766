"""The numpy kernels: the exact reference every compiled kernel is tested against.

Each function works on plain arrays and keeps its input's dtype (float32 stays float32: Python
scalars are weak under numpy 2's promotion rules). Row reductions are matrix-vector products
with a ones vector, much faster than ``sum(axis=-1)`` for short rows
(/work/shared/PERFORMANCE_NOTES.md, item 3). :mod:`tinytorch_core.kernels.compiled` offers the
same functions, with the same signatures, compiled by numba.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_C = 0.044715


def rows(x: Array) -> Array:
    """View ``x`` as a 2-D (rows, last_dim) matrix without copying when possible."""
    return x.reshape(-1, x.shape[-1])


def row_sum(m: Array) -> Array:
    """Sum over the last axis as a matrix-vector product (fast for short rows)."""
    return m @ np.ones(m.shape[-1], dtype=m.dtype)


def col_sum(m: Array) -> Array:
    """Sum a 2-D array over its rows as one vector-matrix product."""
    return np.ones(m.shape[0], dtype=m.dtype) @ m


# ---------------------------------------------------------------------------- GELU (tanh form)
def _gelu_tanh_term(x: Array) -> Array:
    """t = tanh(k (x + c x^3)), GELU's inner tanh."""
    t = x * x
    t *= SQRT_2_OVER_PI * GELU_C
    t += SQRT_2_OVER_PI
    t *= x
    np.tanh(t, out=t)
    return t


def gelu_tanh_forward(x: Array) -> tuple[Array, Array | None]:
    """``(out, t)``: GELU of ``x`` and t = tanh(k (x + c x^3)), which the backward reuses (numpy's tanh is
    dearer than keeping it; the compiled kernel returns ``None`` there and recomputes it)."""
    t = _gelu_tanh_term(x)
    out = t + 1.0
    out *= x
    out *= 0.5
    return out, t


def gelu_tanh_backward(x: Array, t: Array | None, grad: Array) -> Array:
    """d/dx 0.5x(1+t) = 0.5(1+t) + 0.5x(1-t^2) k(1 + 3c x^2), times ``grad``; ``t=None`` recomputes t from ``x``
    (what the compiled forward leaves it to do)."""
    if t is None:
        t = _gelu_tanh_term(x)
    a = x * x
    a *= 1.5 * SQRT_2_OVER_PI * GELU_C
    a += 0.5 * SQRT_2_OVER_PI
    a *= x
    s = t * t
    np.subtract(1.0, s, out=s)
    a *= s
    np.multiply(t, 0.5, out=s)
    a += s
    a += 0.5
    a *= grad
    return a


# ---------------------------------------------------------------------------- LayerNorm
def layer_norm_forward(x: Array, weight: Array | None, bias: Array | None, eps: float) -> tuple[Array, Array, Array]:
    """LayerNorm over the last axis: ``(out, xhat, rstd)``, out shaped like ``x``, xhat and rstd as rows."""
    x2 = rows(x)
    d = x2.shape[1]
    mean = row_sum(x2)
    mean *= 1.0 / d
    xhat = x2 - mean[:, None]
    var = row_sum(xhat * xhat)
    var *= 1.0 / d
    var += eps
    rstd = np.sqrt(var, out=var)
    np.divide(1.0, rstd, out=rstd)
    xhat *= rstd[:, None]
    if weight is not None:
        out = xhat * weight
        if bias is not None:
            out += bias
    else:
        out = xhat.copy() if bias is None else xhat + bias
    return out.reshape(x.shape), xhat, rstd


def layer_norm_backward(
    grad: Array, xhat: Array, rstd: Array, weight: Array, param_grads: bool
) -> tuple[Array, Array | None, Array | None]:
    """``(gx, gweight, gbias)`` with gx as rows; the parameter gradients only when ``param_grads``.

    dx = rstd * (g*w - mean(g*w) - xhat * mean(g*w*xhat)); both means are matrix-vector products
    with w, so g*w*xhat is never formed.
    """
    g2 = rows(grad)
    d = xhat.shape[1]
    g_xhat = g2 * xhat
    m1 = g2 @ weight
    m1 *= 1.0 / d
    m2 = g_xhat @ weight
    m2 *= 1.0 / d
    gx = xhat * m2[:, None]
    np.subtract(g2 * weight, gx, out=gx)
    gx -= m1[:, None]
    gx *= rstd[:, None]
    if not param_grads:
        return gx, None, None
    return gx, col_sum(g_xhat), col_sum(g2)


# ---------------------------------------------------------------------------- Adam / AdamW
def adam_update(
    param: Array, grad: Array, scratch: Array, work: Array | None, exp_avg: Array, exp_avg_sq: Array, *,
    lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool, step: int,
) -> None:
    """One Adam(W) step in place on flat 1-D buffers (``scratch`` is overwritten).

    The bias corrections are folded into two scalars,
    ``p -= (lr*sqrt(1-b2^t)/(1-b1^t)) * m / (sqrt(v) + eps*sqrt(1-b2^t))``, so the update is a
    few whole-buffer passes. ``decoupled`` is AdamW's ``p *= 1 - lr*wd``; otherwise Adam's
    L2 penalty goes into ``work`` (a copy: ``grad`` is p.grad and stays as backward wrote it).
    """
    if weight_decay:
        if decoupled:
            param *= 1.0 - lr * weight_decay
        else:
            assert work is not None
            np.multiply(param, weight_decay, out=work)
            work += grad
            grad = work
    exp_avg *= beta1
    np.multiply(grad, 1.0 - beta1, out=scratch)
    exp_avg += scratch
    exp_avg_sq *= beta2
    np.multiply(grad, 1.0 - beta2, out=scratch)
    scratch *= grad
    exp_avg_sq += scratch
    bias_correction2_sqrt = math.sqrt(1.0 - beta2**step)
    step_size = lr * bias_correction2_sqrt / (1.0 - beta1**step)
    np.sqrt(exp_avg_sq, out=scratch)
    scratch += eps * bias_correction2_sqrt
    np.divide(exp_avg, scratch, out=scratch)
    scratch *= -step_size
    param += scratch
