"""Scatter and gather along a dimension: ``scatter_add``, ``index_add`` and ``gather`` (PyTorch semantics).

These are universal: graph networks sum messages into nodes with them, pooling layers route
gradients with them, sparse and segment reductions are built from them. They know no modality,
so they live in the core rather than in a plugin another plugin would have to borrow.

- ``scatter_add(input, dim, index, src)``: ``out = input.clone()``; then for every position ``p``
  of ``src``, ``out[p with p[dim] replaced by index[p]] += src[p]`` (``index`` has ``src``'s shape).
- ``index_add(input, dim, index, source, alpha=1)``: ``out = input.clone()``; then
  ``out.select(dim, index[i]) += alpha * source.select(dim, i)`` for each ``i`` (``index`` is 1-D).
- ``gather(input, dim, index)``: ``out[p] = input[p with p[dim] replaced by index[p]]``; the
  adjoint of ``scatter_add``.

Repeated indices add up (``np.add.at``), and every index is bounds-checked before anything is
written. Gradients flow to ``input`` and to ``src``/``source``; indices are not differentiable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch_core.autograd import Context, Function
from tinytorch_core.tensor import Array, Tensor

__all__ = ["scatter_add", "index_add", "gather"]


def _dim(dim: int, ndim: int, op: str) -> int:
    if not -ndim <= dim < max(ndim, 1):
        raise IndexError(f"{op}: dim {dim} is out of range for a {ndim}-D tensor")
    return dim % max(ndim, 1)


def _indices(index: Tensor | Array | Any, op: str, size: int) -> Array:
    """``index`` as an int64 array, every entry in ``[0, size)`` (negative entries count from the end)."""
    raw = index.data if isinstance(index, Tensor) else np.asarray(index)
    if raw.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must hold integers, got dtype {raw.dtype}")
    idx = raw.astype(np.int64, copy=False)
    if idx.size and (idx.min() < -size or idx.max() >= size):
        bad = int(idx[(idx < -size) | (idx >= size)].reshape(-1)[0])
        raise IndexError(f"{op}: index {bad} is out of range for a dimension of size {size}")
    return np.where(idx < 0, idx + size, idx)


def _along(index: Array, dim: int) -> tuple[Array, ...]:
    """Full coordinate arrays addressing ``index.shape`` with ``index`` itself at axis ``dim``."""
    grid: list[Array] = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    return tuple(grid)


class _ScatterAdd(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, src: Array, dim: int, index: Array) -> Array:
        out = x.copy()
        where = _along(index, dim)
        np.add.at(out, where, src.astype(x.dtype, copy=False))
        ctx.where = where
        return out

    @staticmethod
    def backward(ctx: Context, grad: Array) -> tuple[Array | None, Array | None, None, None]:
        return grad, grad[ctx.where], None, None


class _IndexAdd(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, source: Array, dim: int, index: Array, alpha: float) -> Array:
        out = x.copy()
        scaled = (source * alpha if alpha != 1 else source).astype(x.dtype, copy=False)
        np.add.at(np.moveaxis(out, dim, 0), index, np.moveaxis(scaled, dim, 0))  # views: writes land in out
        ctx.dim, ctx.index, ctx.alpha = dim, index, alpha
        return out

    @staticmethod
    def backward(ctx: Context, grad: Array) -> tuple[Array | None, Array | None, None, None, None]:
        picked = np.take(grad, ctx.index, axis=ctx.dim)
        return grad, picked * ctx.alpha if ctx.alpha != 1 else picked, None, None, None


class _Gather(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, dim: int, index: Array) -> Array:
        where = _along(index, dim)
        ctx.where, ctx.shape = where, x.shape
        return x[where]

    @staticmethod
    def backward(ctx: Context, grad: Array) -> tuple[Array, None, None]:
        full = np.zeros(ctx.shape, dtype=grad.dtype)
        np.add.at(full, ctx.where, grad)
        return full, None, None


def _check_same_rank(op: str, a: tuple[int, ...], b: tuple[int, ...], what: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{op}: {what} has {len(b)} dimensions but input has {len(a)}; they must match")


def scatter_add(input: Tensor, dim: int, index: Tensor | Array, src: Tensor | Array) -> Tensor:
    """``input`` with ``src`` added at the positions ``index`` names along ``dim`` (``torch.scatter_add``)."""
    src_t = src if isinstance(src, Tensor) else Tensor(np.asarray(src), dtype=input.dtype)
    d = _dim(dim, input.ndim, "scatter_add")
    idx = _indices(index, "scatter_add", input.shape[d])
    _check_same_rank("scatter_add", input.shape, idx.shape, "index")
    if idx.shape != src_t.shape:
        raise ValueError(f"scatter_add: index shape {idx.shape} must equal src shape {src_t.shape}")
    for axis, (n_idx, n_in) in enumerate(zip(idx.shape, input.shape)):
        if axis != d and n_idx > n_in:
            raise ValueError(f"scatter_add: index shape {idx.shape} exceeds input shape {input.shape} at dim {axis}")
    return _ScatterAdd.apply(input, src_t, d, idx)


def index_add(input: Tensor, dim: int, index: Tensor | Array, source: Tensor | Array, *, alpha: float = 1.0) -> Tensor:
    """``input`` with ``alpha * source`` slices added at rows ``index`` along ``dim`` (``torch.index_add``)."""
    source_t = source if isinstance(source, Tensor) else Tensor(np.asarray(source), dtype=input.dtype)
    d = _dim(dim, input.ndim, "index_add")
    idx = _indices(index, "index_add", input.shape[d])
    if idx.ndim != 1:
        raise ValueError(f"index_add: index must be 1-D, got shape {idx.shape}")
    expected = input.shape[:d] + (idx.shape[0],) + input.shape[d + 1:]
    if source_t.shape != expected:
        raise ValueError(f"index_add: source shape {source_t.shape} must be {expected}"
                         f" (input shape with dim {d} replaced by len(index) = {idx.shape[0]})")
    return _IndexAdd.apply(input, source_t, d, idx, float(alpha))


def gather(input: Tensor, dim: int, index: Tensor | Array) -> Tensor:
    """Values of ``input`` at the positions ``index`` names along ``dim`` (``torch.gather``)."""
    d = _dim(dim, input.ndim, "gather")
    idx = _indices(index, "gather", input.shape[d])
    _check_same_rank("gather", input.shape, idx.shape, "index")
    for axis, (n_idx, n_in) in enumerate(zip(idx.shape, input.shape)):
        if axis != d and n_idx > n_in:
            raise ValueError(f"gather: index shape {idx.shape} exceeds input shape {input.shape} at dim {axis}")
    return _Gather.apply(input, d, idx)
