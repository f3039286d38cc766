"""Fused differentiable ops: one graph node each, with a hand-written backward.

These are the hot paths of every model (linear layers, normalisation, activations,
softmax + cross-entropy), so each is written as a single :class:`Function` instead of a
chain of elementwise nodes: fewer temporaries, no float64 promotion, row reductions as
matrix-vector products (much faster than ``ndarray.sum(axis=-1)`` for short rows).
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from tinytorch_core import kernels
from tinytorch_core.autograd import Context, Function
from tinytorch_core.kernels.reference import col_sum as _col_sum
from tinytorch_core.kernels.reference import row_sum as _row_sum
from tinytorch_core.kernels.reference import rows as _rows
from tinytorch_core.tensor import Array, Tensor, get_rng


# ---------------------------------------------------------------------------- linear
class _Linear(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, weight: Array, bias: Array | None = None) -> Array:
        if x.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"Linear: input has {x.shape[-1]} features (shape {x.shape}) but the layer expects "
                f"{weight.shape[1]} (weight shape {weight.shape})"
            )
        x2 = _rows(x)
        out = x2 @ weight.T
        if bias is not None:
            out += bias
        ctx.save_for_backward(x2, weight)
        ctx.in_shape = x.shape
        ctx.has_bias = bias is not None
        return out.reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx: Context, grad: Array) -> tuple[Array | None, ...]:
        x2, weight = ctx.saved_tensors
        g2 = _rows(grad)
        gx = (g2 @ weight).reshape(ctx.in_shape) if ctx.needs_input_grad[0] else None
        gw = None
        if ctx.needs_input_grad[1]:  # straight into the optimizer's gradient buffer when it can (a copy less)
            dst = ctx.grad_destination(1)
            gw = g2.T @ x2 if dst is None else np.matmul(g2.T, x2, out=dst)
        gb = _col_sum(g2) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return (gx, gw, gb) if ctx.has_bias else (gx, gw)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` with ``weight`` in PyTorch's (out_features, in_features) layout."""
    if bias is None:
        return _Linear.apply(x, weight)
    return _Linear.apply(x, weight, bias)


# ---------------------------------------------------------------------------- layer norm
def layer_norm_arrays(x: Array, weight: Array | None, bias: Array | None, eps: float = 1e-5) -> tuple[Array, Array, Array]:
    """LayerNorm over the last axis on plain arrays: ``(out, xhat, rstd)``, xhat and rstd as 2-D rows.

    The forward kernel of :func:`layer_norm` (numpy or compiled, see :mod:`tinytorch_core.kernels`),
    public so graph-free inference paths (KV-cached decoding) run the very same arithmetic.
    """
    return kernels.layer_norm_forward(x, weight, bias, eps)


class _LayerNorm(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, weight: Array | None, bias: Array | None, eps: float = 1e-5) -> Array:
        out, xhat, rstd = layer_norm_arrays(x, weight, bias, eps)
        d = x.shape[-1]
        ctx.save_for_backward(xhat, rstd, weight if weight is not None else np.ones(d, dtype=x.dtype))
        ctx.shape = x.shape
        ctx.has_weight = weight is not None
        return out

    @staticmethod
    def backward(ctx: Context, grad: Array) -> tuple[Array | None, ...]:
        xhat, rstd, weight = ctx.saved_tensors
        params = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        gx, gw, gb = kernels.layer_norm_backward(grad, xhat, rstd, weight, params)
        # weight and bias are independent: layer_norm(x, None, bias) still trains its bias
        gw = gw if ctx.has_weight and ctx.needs_input_grad[1] else None
        gb = gb if ctx.needs_input_grad[2] else None
        return (gx.reshape(ctx.shape), gw, gb)


def layer_norm(x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last axis to mean 0 / variance 1, then scale and shift."""
    if weight is not None and weight.shape != (x.shape[-1],):
        raise ValueError(f"LayerNorm: normalized shape {weight.shape} does not match input's last dim (input {x.shape})")
    return _LayerNorm.apply(x, weight, bias, eps=eps)


# ---------------------------------------------------------------------------- activations
def _erf(z: Array) -> Array:
    """erf to ~1.2e-7 relative error (Numerical Recipes' Chebyshev erfc), vectorised."""
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.5 * a)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (
        0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(-a * a + poly)
    return np.where(z >= 0, 1.0 - erfc, erfc - 1.0).astype(z.dtype, copy=False)


def gelu_tanh_arrays(x: Array) -> tuple[Array, Array | None]:
    """GELU (tanh form) on a plain array: ``(out, t)``, t = tanh(k (x + c x^3)) kept for backward, or
    ``None`` where the kernel recomputes it there.

    The forward kernel of :func:`gelu` (numpy or compiled, see :mod:`tinytorch_core.kernels`),
    public for graph-free inference paths.
    """
    return kernels.gelu_tanh_forward(x)


class _GeluTanh(Function):
    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        out, t = gelu_tanh_arrays(x)
        if t is None:
            ctx.save_for_backward(x)
        else:
            ctx.save_for_backward(x, t)
        return out

    @staticmethod
    def backward(ctx: Context, grad: Array) -> Array:
        x, *t = ctx.saved_tensors
        return kernels.gelu_tanh_backward(x, t[0] if t else None, grad)


class _GeluErf(Function):
    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        cdf = 0.5 * (1.0 + _erf(x * (1.0 / math.sqrt(2.0))))
        ctx.save_for_backward(x, cdf)
        return (x * cdf).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, grad: Array) -> Array:
        x, cdf = ctx.saved_tensors
        pdf = np.exp(-0.5 * x * x) * (1.0 / math.sqrt(2.0 * math.pi))
        return (grad * (cdf + x * pdf)).astype(x.dtype, copy=False)


def gelu(x: Tensor, approximate: str = "tanh") -> Tensor:
    """GELU. ``approximate="tanh"`` (default, GPT-2's, ~3x cheaper) or ``"none"`` (erf form).

    TinyTorch defaults to the tanh form where PyTorch defaults to the erf form; both are offered.
    """
    if approximate == "tanh":
        return _GeluTanh.apply(x)
    if approximate == "none":
        return _GeluErf.apply(x)
    raise ValueError(f"gelu: approximate must be 'tanh' or 'none', got {approximate!r}")


def relu(x: Tensor) -> Tensor:
    return x.relu()


# ---------------------------------------------------------------------------- softmax family
class _Softmax(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, axis: int = -1) -> Array:
        e = x - x.max(axis=axis, keepdims=True)
        np.exp(e, out=e)
        e /= e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(e)
        ctx.axis = axis
        return cast(Array, e)

    @staticmethod
    def backward(ctx: Context, grad: Array) -> Array:
        (y,) = ctx.saved_tensors
        gy = grad * y
        gy -= y * gy.sum(axis=ctx.axis, keepdims=True)
        return gy


class _LogSoftmax(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, axis: int = -1) -> Array:
        shifted = x - x.max(axis=axis, keepdims=True)
        lse = np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        out = shifted - lse
        ctx.save_for_backward(out)
        ctx.axis = axis
        return cast(Array, out)

    @staticmethod
    def backward(ctx: Context, grad: Array) -> Array:
        (out,) = ctx.saved_tensors
        return cast(Array, grad - np.exp(out) * grad.sum(axis=ctx.axis, keepdims=True))


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return _Softmax.apply(x, axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return _LogSoftmax.apply(x, axis=axis)


# ---------------------------------------------------------------------------- losses
class _CrossEntropy(Function):
    @staticmethod
    def forward(
        ctx: Context,
        logits: Array,
        targets: Array,
        ignore_index: int | None = None,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> Array:
        c = logits.shape[-1]
        x = _rows(logits)
        t = targets.reshape(-1)
        if t.shape[0] != x.shape[0]:
            raise ValueError(
                f"CrossEntropyLoss: logits of shape {logits.shape} give {x.shape[0]} rows but targets of "
                f"shape {targets.shape} give {t.shape[0]}; targets must be the logits' shape without the class axis"
            )
        if t.dtype.kind not in "iu":
            raise TypeError(f"CrossEntropyLoss: targets must be integer class indices, got dtype {t.dtype}")
        valid = np.ones(t.shape, dtype=bool) if ignore_index is None else t != ignore_index
        tv = np.where(valid, t, 0)
        if tv.size and (tv.min() < 0 or tv.max() >= c):
            bad = int(tv[(tv < 0) | (tv >= c)][0])
            raise IndexError(f"CrossEntropyLoss: target {bad} is out of range for {c} classes")
        # Per-row shift. Everything needed from the shifted logits is read before they are exponentiated
        # in place: at GPT-2's vocabulary (N x 50257) each such array is ~200 MB, a fresh mmap every step.
        shifted = x - x.max(axis=1, keepdims=True)
        target_shifted = shifted[np.arange(x.shape[0]), tv]
        mean_shifted = _row_sum(shifted) / c if label_smoothing else None
        e = np.exp(shifted, out=shifted)
        s = _row_sum(e)
        log_s = np.log(s)
        nll = log_s - target_shifted
        if mean_shifted is not None:
            nll = (1.0 - label_smoothing) * nll - label_smoothing * (mean_shifted - log_s)
        nll = np.where(valid, nll, 0.0)
        n_valid = int(valid.sum())
        ctx.save_for_backward(e, s, tv, valid)
        ctx.shape = logits.shape
        ctx.n_valid = n_valid
        ctx.ls = label_smoothing
        ctx.reduction = reduction
        if reduction == "mean":
            return np.asarray(nll.sum() / max(n_valid, 1), dtype=logits.dtype)
        if reduction == "sum":
            return np.asarray(nll.sum(), dtype=logits.dtype)
        if reduction == "none":
            return nll.reshape(targets.shape).astype(logits.dtype, copy=False)
        raise ValueError(f"CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")

    @staticmethod
    def backward(ctx: Context, grad: Array) -> tuple[Array | None, ...]:
        e, s, tv, valid = ctx.saved_tensors
        c = e.shape[1]
        p = e / s[:, None]  # softmax
        rows = np.arange(p.shape[0])
        p[rows, tv] -= 1.0 - ctx.ls
        if ctx.ls:
            p -= ctx.ls / c
        if ctx.reduction == "none":
            scale = grad.reshape(-1) * valid
        else:
            k = grad.reshape(()) / max(ctx.n_valid, 1) if ctx.reduction == "mean" else grad.reshape(())
            scale = valid * k
        p *= scale[:, None].astype(p.dtype, copy=False)
        return (p.reshape(ctx.shape), None, None, None, None)


def cross_entropy(
    logits: Tensor,
    targets: Tensor | Array,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Fused log-softmax + negative log-likelihood over the last axis.

    ``logits``: (N, C) or (B, T, C), classes last (PyTorch puts them on axis 1 for N-D input);
    ``targets``: integer class indices of the logits' shape without the class axis.
    """
    t = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    return _CrossEntropy.apply(logits, t, ignore_index, label_smoothing, reduction)


def mse_loss(pred: Tensor, target: Tensor | Array, reduction: str = "mean") -> Tensor:
    t = target if isinstance(target, Tensor) else Tensor(target, dtype=pred.dtype)
    if t.shape != pred.shape:
        raise ValueError(f"MSELoss: prediction shape {pred.shape} differs from target shape {t.shape}")
    d = pred - t
    sq = d * d
    return _reduce(sq, reduction, "MSELoss")


class _BCEWithLogits(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, y: Array) -> Array:
        # max(x,0) - x*y + log(1 + exp(-|x|)): stable for any x.
        out = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
        ctx.save_for_backward(x, y)
        return cast(Array, out.astype(x.dtype, copy=False))

    @staticmethod
    def backward(ctx: Context, grad: Array) -> tuple[Array, Array | None]:
        x, y = ctx.saved_tensors
        e = np.exp(-np.abs(x))
        sig = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        gy = -x * grad if ctx.needs_input_grad[1] else None
        return ((sig - y) * grad).astype(x.dtype, copy=False), gy


def binary_cross_entropy_with_logits(logits: Tensor, target: Tensor | Array, reduction: str = "mean") -> Tensor:
    t = target if isinstance(target, Tensor) else Tensor(target, dtype=logits.dtype)
    if t.shape != logits.shape:
        raise ValueError(f"BCEWithLogitsLoss: logits shape {logits.shape} differs from target shape {t.shape}")
    return _reduce(_BCEWithLogits.apply(logits, t), reduction, "BCEWithLogitsLoss")


def _reduce(x: Tensor, reduction: str, name: str) -> Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    if reduction == "none":
        return x
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


# ---------------------------------------------------------------------------- dropout, embedding
class _Dropout(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, p: float, rng: np.random.Generator) -> Array:
        keep = rng.random(x.shape, dtype=np.float32) >= p
        mask = keep.astype(x.dtype)
        mask *= 1.0 / (1.0 - p)
        ctx.save_for_backward(mask)
        return cast(Array, x * mask)

    @staticmethod
    def backward(ctx: Context, grad: Array) -> tuple[Array, None, None]:
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None


def dropout(x: Tensor, p: float = 0.5, training: bool = True, rng: np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (identity in eval)."""
    if not 0.0 <= p < 1.0:
        if p == 1.0 and training:
            return x * 0.0
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    return _Dropout.apply(x, p, rng if rng is not None else get_rng())


_ONE_HOT_LIMIT = 1 << 21  # elements of the one-hot matrix (8 MB in float32)


class _Embedding(Function):
    @staticmethod
    def forward(ctx: Context, weight: Array, idx: Array) -> Array:
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got dtype {idx.dtype}")
        n = weight.shape[0]
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            bad = int(idx[(idx < 0) | (idx >= n)].reshape(-1)[0])
            raise IndexError(f"Embedding: index {bad} is out of range for an embedding table of {n} rows")
        ctx.save_for_backward(idx)
        ctx.n = n
        return weight[idx]

    @staticmethod
    def backward(ctx: Context, grad: Array) -> tuple[Array, None]:
        (idx,) = ctx.saved_tensors
        d = grad.shape[-1]
        flat = idx.reshape(-1)
        g2 = grad.reshape(-1, d)
        if flat.size * ctx.n <= _ONE_HOT_LIMIT:
            # A one-hot GEMM sums repeated rows ~6x faster than np.add.at for small vocabularies.
            one_hot = np.zeros((flat.size, ctx.n), dtype=grad.dtype)
            one_hot[np.arange(flat.size), flat] = 1.0
            return one_hot.T @ g2, None
        gw = np.zeros((ctx.n, d), dtype=grad.dtype)
        np.add.at(gw, flat, g2)
        return gw, None


def embedding(idx: Tensor | Array, weight: Tensor) -> Tensor:
    """Rows of ``weight`` selected by integer ``idx``; backward scatter-adds repeated indices."""
    i = idx.data if isinstance(idx, Tensor) else np.asarray(idx)
    return _Embedding.apply(weight, i)

