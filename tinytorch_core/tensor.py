"""Tensors with reverse-mode autograd.

Each op computes its forward with numpy and returns a new tensor that remembers its parents and
a closure with the op's local chain rule, written next to the forward (micrograd style). The graph
engine is in :mod:`tinytorch_core.graph`, global state in :mod:`tinytorch_core.state`, and ops written
as functions in :mod:`tinytorch_core.ops`; their public names are importable from here too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from tinytorch_core import state as _state
from tinytorch_core.graph import Array, GradFn, Node
from tinytorch_core.graph import backward as _backward
# Re-exported: ``from tinytorch_core.tensor import get_rng`` (and the rest) is the old, kept import path.
from tinytorch_core.state import default_dtype, get_default_dtype, get_rng, manual_seed
from tinytorch_core.state import set_default_dtype, set_rng_state

__all__ = [
    "Array", "Axis", "GradFn", "Node", "Tensor", "TensorLike", "cat", "concatenate", "default_dtype",
    "get_default_dtype", "get_rng", "manual_seed", "matmul", "set_default_dtype", "set_rng_state", "split",
    "stack", "tensor", "unbroadcast", "where",
]

TensorLike = Union["Tensor", ArrayLike]
Axis = Union[int, tuple[int, ...], None]
_Float = float  # Tensor.float() shadows the builtin inside the class body


def _as_array(data: Any, dtype: DTypeLike | None) -> Array:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    arr = np.asarray(data)
    default = _state._default_dtype
    if arr.dtype.kind == "f" and arr.dtype != default:
        return arr.astype(default)
    if arr.dtype.kind in "iu" and not isinstance(data, np.ndarray) and arr.ndim == 0:
        # A bare Python number becomes a float tensor, as in ``Tensor(3)``.
        return arr.astype(default)
    return arr


def unbroadcast(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``grad`` down to ``shape``: the adjoint of numpy broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _broadcast_error(op: str, a: tuple[int, ...], b: tuple[int, ...]) -> ValueError:
    return ValueError(
        f"{op}: shapes {a} and {b} cannot be broadcast together "
        "(trailing dimensions must be equal or 1); reshape one operand"
    )


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``Tensor(data, requires_grad=False, dtype=None)``: floating data becomes the default
    dtype (float32) unless ``dtype`` is given; integer arrays (indices, targets) stay integer.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "__weakref__")
    __array_priority__ = 1000  # numpy defers ``ndarray op Tensor`` to our reflected ops

    data: Array
    grad: Array | None
    requires_grad: bool

    def __init__(self, data: Any, requires_grad: bool = False, dtype: DTypeLike | None = None) -> None:
        self.data = _as_array(data, dtype)
        self.grad = None
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError(f"only floating tensors can require grad, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self._node: Node | None = None

    # ------------------------------------------------------------------ plumbing
    @classmethod
    def _make(cls, data: Array, parents: tuple[Tensor, ...], grad_fn: GradFn, op: str) -> Tensor:
        """Wrap an op's output; record a graph node only when an input needs grad.

        The node keeps the op's closure and edges to its inputs' nodes (or, for leaves, the leaf
        tensors), never the inputs' data: an intermediate result is freed as soon as nothing
        but the graph refers to it, unless the op's closure saved it for backward.
        """
        out = cls.__new__(cls)
        out.data = data
        out.grad = None
        if _state._op_observer is not None:
            _state._op_observer(op, "forward", 0.0)
        if _state._enabled and any(p.requires_grad for p in parents):
            out.requires_grad = True
            edges = tuple(p._node if p._node is not None else (p if p.requires_grad else None) for p in parents)
            out._node = Node(grad_fn, edges, op, data.shape)
        else:
            out.requires_grad = False
            out._node = None
        return out

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> Array:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return float(self.data.reshape(-1)[0])

    def detach(self) -> Tensor:
        """A tensor sharing the data but cut from the graph."""
        return Tensor(self.data, dtype=self.data.dtype)

    def astype(self, dtype: DTypeLike) -> Tensor:
        src = self.data.dtype
        return Tensor._make(self.data.astype(dtype), (self,), lambda g: (g.astype(src),), "astype")

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def zero_grad(self) -> None:
        self.grad = None

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", threshold=20)
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}, dtype={self.data.dtype}{extra})"

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; "
                "compare .item() for one element, or reduce with .numpy().any() / .all()"
            )
        return bool(self.data.reshape(-1)[0])

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    # ------------------------------------------------------------------ backward
    def backward(self, grad: TensorLike | None = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        Without ``grad`` the tensor must hold a single element (a loss). The graph is
        freed afterwards unless ``retain_graph`` is true.
        """
        _backward(self, grad, retain_graph)

    # ------------------------------------------------------------------ arithmetic
    def _binary(self, other: TensorLike) -> tuple[Tensor, Array]:
        if isinstance(other, Tensor):
            return other, other.data
        arr = np.asarray(other)
        # Plain numbers and arrays take a float tensor's dtype, so float32 models never drift to float64.
        o = Tensor(arr, dtype=self.data.dtype if self.data.dtype.kind == "f" else None)
        return o, o.data

    def __add__(self, other: TensorLike) -> Tensor:
        o, b = self._binary(other)
        try:
            out = self.data + b
        except ValueError:
            raise _broadcast_error("add", self.shape, o.shape) from None
        sa, sb = self.shape, o.shape
        return Tensor._make(out, (self, o), lambda g: (unbroadcast(g, sa), unbroadcast(g, sb)), "add")

    __radd__ = __add__

    def __sub__(self, other: TensorLike) -> Tensor:
        o, b = self._binary(other)
        try:
            out = self.data - b
        except ValueError:
            raise _broadcast_error("sub", self.shape, o.shape) from None
        sa, sb = self.shape, o.shape
        return Tensor._make(out, (self, o), lambda g: (unbroadcast(g, sa), unbroadcast(-g, sb)), "sub")

    def __rsub__(self, other: TensorLike) -> Tensor:
        o, _ = self._binary(other)
        return o - self

    def __mul__(self, other: TensorLike) -> Tensor:
        o, b = self._binary(other)
        a = self.data
        try:
            out = a * b
        except ValueError:
            raise _broadcast_error("mul", self.shape, o.shape) from None

        def grad_fn(g: Array) -> tuple[Array | None, Array | None]:
            ga = unbroadcast(g * b, a.shape) if self.requires_grad else None
            gb = unbroadcast(g * a, b.shape) if o.requires_grad else None
            return ga, gb

        return Tensor._make(out, (self, o), grad_fn, "mul")

    __rmul__ = __mul__

    def __truediv__(self, other: TensorLike) -> Tensor:
        o, b = self._binary(other)
        a = self.data
        try:
            out = a / b
        except ValueError:
            raise _broadcast_error("div", self.shape, o.shape) from None

        def grad_fn(g: Array) -> tuple[Array | None, Array | None]:
            ga = unbroadcast(g / b, a.shape) if self.requires_grad else None
            gb = unbroadcast(-g * out / b, b.shape) if o.requires_grad else None
            return ga, gb

        return Tensor._make(out, (self, o), grad_fn, "div")

    def __rtruediv__(self, other: TensorLike) -> Tensor:
        o, _ = self._binary(other)
        return o / self

    def __neg__(self) -> Tensor:
        return Tensor._make(-self.data, (self,), lambda g: (-g,), "neg")

    def __pow__(self, exponent: TensorLike) -> Tensor:
        if isinstance(exponent, Tensor):
            # a ** b = exp(b log a), defined for a > 0.
            return (exponent * self.log()).exp()
        p = float(np.asarray(exponent))
        a = self.data
        out = a**p

        def grad_fn(g: Array) -> tuple[Array]:
            return (g * (p * a ** (p - 1)),)

        return Tensor._make(out, (self,), grad_fn, "pow")

    def __rpow__(self, base: TensorLike) -> Tensor:
        o, _ = self._binary(base)
        return o**self

    def __matmul__(self, other: TensorLike) -> Tensor:
        o, _ = self._binary(other)
        return _ops.matmul(self, o)

    def __rmatmul__(self, other: TensorLike) -> Tensor:
        o, _ = self._binary(other)
        return _ops.matmul(o, self)

    # Comparisons produce plain boolean tensors (no gradient flows through them).
    def _compare(self, other: TensorLike, fn: Callable[[Array, Array], Array]) -> Tensor:
        b = other.data if isinstance(other, Tensor) else np.asarray(other)
        return Tensor(fn(self.data, b))

    def __lt__(self, other: TensorLike) -> Tensor:
        return self._compare(other, np.less)

    def __le__(self, other: TensorLike) -> Tensor:
        return self._compare(other, np.less_equal)

    def __gt__(self, other: TensorLike) -> Tensor:
        return self._compare(other, np.greater)

    def __ge__(self, other: TensorLike) -> Tensor:
        return self._compare(other, np.greater_equal)

    def eq(self, other: TensorLike) -> Tensor:
        return self._compare(other, np.equal)

    # ------------------------------------------------------------------ reductions
    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        shape = self.shape
        out = self.data.sum(axis=axis, keepdims=keepdims)

        def grad_fn(g: Array) -> tuple[Array]:
            if not keepdims and axis is not None:
                g = np.expand_dims(g, _norm_axes(axis, len(shape)))
            return (np.broadcast_to(g, shape).copy(),)

        return Tensor._make(np.asarray(out), (self,), grad_fn, "sum")

    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        n = self.data.size if axis is None else math.prod(self.shape[i] for i in _norm_axes(axis, self.ndim))
        return self.sum(axis, keepdims) * (1.0 / n)

    def var(self, axis: Axis = None, keepdims: bool = False, correction: int = 0) -> Tensor:
        """Variance; ``correction=0`` is the population variance (LayerNorm's), 1 is unbiased."""
        n = self.data.size if axis is None else math.prod(self.shape[i] for i in _norm_axes(axis, self.ndim))
        centered = self - self.mean(axis, keepdims=True)
        return (centered * centered).sum(axis, keepdims) * (1.0 / max(n - correction, 1))

    def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return _ops.amax(self, axis, keepdims)

    def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return -((-self).max(axis, keepdims))

    def argmax(self, axis: int | None = None) -> Tensor:
        return Tensor(self.data.argmax(axis=axis))

    # ------------------------------------------------------------------ elementwise
    def exp(self) -> Tensor:
        out = np.exp(self.data)
        return Tensor._make(out, (self,), lambda g: (g * out,), "exp")

    def log(self) -> Tensor:
        a = self.data
        return Tensor._make(np.log(a), (self,), lambda g: (g / a,), "log")

    def sqrt(self) -> Tensor:
        out = np.sqrt(self.data)
        return Tensor._make(out, (self,), lambda g: (g * 0.5 / out,), "sqrt")

    def abs(self) -> Tensor:
        a = self.data
        return Tensor._make(np.abs(a), (self,), lambda g: (g * np.sign(a),), "abs")

    def tanh(self) -> Tensor:
        out = np.tanh(self.data)
        return Tensor._make(out, (self,), lambda g: (g * (1.0 - out * out),), "tanh")

    def sigmoid(self) -> Tensor:
        a = self.data
        # Split by sign so exp never overflows.
        e = np.exp(-np.abs(a))
        out = np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(a.dtype, copy=False)
        return Tensor._make(out, (self,), lambda g: (g * out * (1.0 - out),), "sigmoid")

    def relu(self) -> Tensor:
        out = np.maximum(self.data, 0)
        positive = self.data > 0  # a bool mask is all backward needs (1 byte per element, not the input)
        return Tensor._make(out, (self,), lambda g: (g * positive,), "relu")

    def gelu(self, approximate: str = "tanh") -> Tensor:
        from tinytorch_core.functional import gelu

        return gelu(self, approximate)

    def softmax(self, axis: int = -1) -> Tensor:
        from tinytorch_core.functional import softmax

        return softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        from tinytorch_core.functional import log_softmax

        return log_softmax(self, axis)

    def clip(self, lo: _Float | None, hi: _Float | None) -> Tensor:
        return _ops.clip(self, lo, hi)

    def masked_fill(self, mask: TensorLike, value: _Float) -> Tensor:
        """Replace entries where ``mask`` (broadcastable) is true by ``value``."""
        return _ops.masked_fill(self, mask, value)

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        target: Any = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
        src = self.shape
        try:
            out = self.data.reshape(target)
        except ValueError:
            raise ValueError(f"reshape: cannot view shape {src} ({self.size} elements) as {tuple(target)}") from None
        return Tensor._make(out, (self,), lambda g: (g.reshape(src),), "reshape")

    view = reshape

    def flatten(self, start_dim: int = 0) -> Tensor:
        start = start_dim % max(self.ndim, 1)
        return self.reshape(*self.shape[:start], -1)

    def transpose(self, *axes: int) -> Tensor:
        """Permute axes (numpy semantics); with no argument, reverse them."""
        perm = tuple(axes) if axes else tuple(reversed(range(self.ndim)))
        if len(perm) == 1 and not isinstance(perm[0], int):
            perm = tuple(perm[0])
        inv = tuple(np.argsort(perm))
        return Tensor._make(self.data.transpose(perm), (self,), lambda g: (g.transpose(inv),), "transpose")

    permute = transpose

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def swapaxes(self, a: int, b: int) -> Tensor:
        return Tensor._make(np.swapaxes(self.data, a, b), (self,), lambda g: (np.swapaxes(g, a, b),), "swapaxes")

    def unsqueeze(self, axis: int) -> Tensor:
        src = self.shape
        return Tensor._make(np.expand_dims(self.data, axis), (self,), lambda g: (g.reshape(src),), "unsqueeze")

    def squeeze(self, axis: int | None = None) -> Tensor:
        src = self.shape
        out = np.squeeze(self.data) if axis is None else np.squeeze(self.data, axis)
        return Tensor._make(out, (self,), lambda g: (g.reshape(src),), "squeeze")

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)



def _norm_axes(axis: int | tuple[int, ...], ndim: int) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % ndim for a in axes))


# ops.py needs ``Tensor``, so it is imported once ``Tensor`` exists; the methods above look it up when called.
from tinytorch_core import ops as _ops  # noqa: E402
from tinytorch_core.ops import cat, concatenate, matmul, split, stack, tensor, where  # noqa: E402
