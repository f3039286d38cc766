"""Tensor ops written as functions: the free functions (``matmul``, ``cat``, ``stack``, ``where`` ...)
and the methods whose backward takes more than a line (``Tensor.max``, ``clip``, ``masked_fill``,
indexing), which ``Tensor`` calls from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from tinytorch_core.tensor import Array, Axis, Tensor, TensorLike, _broadcast_error, unbroadcast


def tensor(data: Any, requires_grad: bool = False, dtype: DTypeLike | None = None) -> Tensor:
    """Build a tensor (PyTorch's spelling)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with numpy semantics: 2-D, batched N-D with broadcast batch dims, 1-D vectors."""
    x, y = a.data, b.data
    try:
        out = np.matmul(x, y)
    except ValueError:
        raise ValueError(
            f"matmul: shapes {x.shape} and {y.shape} are not aligned "
            f"(last dim of the first must equal the second-to-last of the second)"
        ) from None

    def grad_fn(g: Array) -> tuple[Array | None, Array | None]:
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        g2 = g
        if x.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if y.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        gx = gy = None
        if a.requires_grad:
            gx = unbroadcast(np.matmul(g2, np.swapaxes(y2, -1, -2)), x2.shape).reshape(x.shape)
        if b.requires_grad:
            gy = unbroadcast(np.matmul(np.swapaxes(x2, -1, -2), g2), y2.shape).reshape(y.shape)
        return gx, gy

    return Tensor._make(out, (a, b), grad_fn, "matmul")


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    ts = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
    try:
        out = np.concatenate([t.data for t in ts], axis=axis)
    except ValueError as e:
        raise ValueError(f"concatenate along axis {axis}: shapes {[t.shape for t in ts]} do not match ({e})") from None
    bounds = np.cumsum([t.shape[axis] for t in ts])[:-1]
    return Tensor._make(out, ts, lambda g: tuple(np.split(g, bounds, axis=axis)), "concatenate")


cat = concatenate


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis."""
    ts = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
    try:
        out = np.stack([t.data for t in ts], axis=axis)
    except ValueError:
        raise ValueError(f"stack: all tensors need the same shape, got {[t.shape for t in ts]}") from None
    n = len(ts)
    return Tensor._make(
        out, ts, lambda g: tuple(np.squeeze(p, axis) for p in np.split(g, n, axis=axis)), "stack"
    )


def split(t: Tensor, sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """Split into equal ``sections`` or at the given indices (numpy ``array_split`` semantics)."""
    n = t.shape[axis]
    if isinstance(sections, int):
        if n % sections:
            raise ValueError(f"split: axis {axis} of size {n} does not divide into {sections} equal parts")
        size = n // sections
        starts = list(range(0, n, size))
        ends = starts[1:] + [n]
    else:
        starts = [0, *sections]
        ends = [*sections, n]
    outs = []
    for s, e in zip(starts, ends):
        idx: list[Any] = [slice(None)] * t.ndim
        idx[axis] = slice(s, e)
        outs.append(t[tuple(idx)])
    return outs


def where(cond: TensorLike, a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise ``a if cond else b`` with gradients to both branches."""
    c = np.asarray(cond.data if isinstance(cond, Tensor) else cond, dtype=bool)
    ta = a if isinstance(a, Tensor) else Tensor(a)
    tb = b if isinstance(b, Tensor) else Tensor(b, dtype=ta.dtype)
    try:
        out = np.where(c, ta.data, tb.data)
    except ValueError:
        raise ValueError(f"where: shapes {c.shape}, {ta.shape}, {tb.shape} cannot be broadcast together") from None
    sa, sb = ta.shape, tb.shape

    def grad_fn(g: Array) -> tuple[Array, Array]:
        zero = np.zeros((), dtype=g.dtype)
        return unbroadcast(np.where(c, g, zero), sa), unbroadcast(np.where(c, zero, g), sb)

    return Tensor._make(out, (ta, tb), grad_fn, "where")


def amax(t: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """``t.max(axis)``: the largest entries; ties share the gradient."""
    a = t.data
    out_k = a.max(axis=axis, keepdims=True)
    out = out_k if keepdims else (out_k.reshape(()) if axis is None else np.squeeze(out_k, axis))

    def grad_fn(g: Array) -> tuple[Array]:
        mask = a == out_k
        # Ties share the gradient equally, so the result is the subgradient PyTorch's amax gives.
        count = mask.sum(axis=axis, keepdims=True)
        gk = g if keepdims else (g.reshape(out_k.shape))
        return ((mask * (gk / count)).astype(a.dtype, copy=False),)

    return Tensor._make(np.asarray(out), (t,), grad_fn, "max")


def clip(t: Tensor, lo: float | None, hi: float | None) -> Tensor:
    """``t.clip(lo, hi)``: entries limited to [lo, hi]; no gradient where clipped."""
    a = t.data
    out = np.clip(a, lo, hi)
    inside = np.ones(a.shape, dtype=bool)
    if lo is not None:
        inside &= a >= lo
    if hi is not None:
        inside &= a <= hi
    return Tensor._make(out, (t,), lambda g: (g * inside,), "clip")


def masked_fill(t: Tensor, mask: TensorLike, value: float) -> Tensor:
    """Replace entries where ``mask`` (broadcastable) is true by ``value``."""
    m = np.asarray(mask.data if isinstance(mask, Tensor) else mask, dtype=bool)
    try:
        out = np.where(m, np.asarray(value, dtype=t.data.dtype), t.data)
    except ValueError:
        raise _broadcast_error("masked_fill", t.shape, m.shape) from None
    if out.shape != t.shape:
        raise ValueError(f"masked_fill: mask of shape {m.shape} would broadcast the tensor of shape {t.shape}")
    return Tensor._make(out, (t,), lambda g: (np.where(m, 0, g).astype(g.dtype, copy=False),), "masked_fill")


def getitem(t: Tensor, index: Any) -> Tensor:
    """``t[index]``: basic and advanced (integer array) indexing."""
    idx = _unwrap_index(index)
    out = t.data[idx]
    src_shape = t.shape
    advanced = _is_advanced(idx)

    def grad_fn(g: Array) -> tuple[Array]:
        full = np.zeros(src_shape, dtype=g.dtype)
        if advanced:
            np.add.at(full, idx, g)  # repeated indices must add up, not overwrite
        else:
            full[idx] = g
        return (full,)

    return Tensor._make(np.asarray(out), (t,), grad_fn, "getitem")


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _is_advanced(idx: Any) -> bool:
    parts = idx if isinstance(idx, tuple) else (idx,)
    return any(isinstance(p, (list, np.ndarray)) for p in parts)
