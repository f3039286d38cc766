"""Tensors with reverse-mode autograd.

Each op computes its forward with numpy and returns a new tensor that remembers its
parents and a closure with the op's local chain rule, written right next to the forward
(micrograd style). ``Tensor.backward`` walks the graph once in topological order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from tinytorch_core import _grad_mode

Array = NDArray[Any]
GradFn = Callable[[Array], Sequence[Union[Array, None]]]
TensorLike = Union["Tensor", ArrayLike]
Axis = Union[int, tuple[int, ...], None]
_Float = float  # Tensor.float() shadows the builtin inside the class body

_default_dtype: np.dtype[Any] = np.dtype(np.float32)


def get_default_dtype() -> np.dtype[Any]:
    """The floating dtype new tensors and parameters get (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype: DTypeLike) -> None:
    """Set the floating dtype for new tensors and parameters (float32 or float64)."""
    global _default_dtype
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"default dtype must be float32 or float64, got {dt}")
    _default_dtype = dt


class default_dtype:
    """Context manager: ``with default_dtype(np.float64): ...`` builds float64 tensors and modules."""

    def __init__(self, dtype: DTypeLike) -> None:
        self._dtype = np.dtype(dtype)
        self._prev = _default_dtype

    def __enter__(self) -> None:
        self._prev = get_default_dtype()
        set_default_dtype(self._dtype)

    def __exit__(self, *exc: object) -> None:
        set_default_dtype(self._prev)


_rng: np.random.Generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the framework's global random generator (parameter init, dropout, shuffling)."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def get_rng() -> np.random.Generator:
    """The framework's global random generator."""
    return _rng


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the global generator from ``get_rng().bit_generator.state``."""
    _rng.bit_generator.state = state


def _as_array(data: Any, dtype: DTypeLike | None) -> Array:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    arr = np.asarray(data)
    if arr.dtype.kind == "f" and arr.dtype != _default_dtype:
        return arr.astype(_default_dtype)
    if arr.dtype.kind in "iu" and not isinstance(data, np.ndarray) and arr.ndim == 0:
        # A bare Python number becomes a float tensor, as in ``Tensor(3)``.
        return arr.astype(_default_dtype)
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


class Node:
    """One recorded op: its local chain rule and edges to its inputs.

    ``inputs[i]`` is the input's own node when it is an op result, the input tensor itself when
    it is a leaf that requires grad, and ``None`` when no gradient flows to it.
    """

    __slots__ = ("grad_fn", "inputs", "op", "shape")

    def __init__(self, grad_fn: GradFn, inputs: tuple[Node | Tensor | None, ...], op: str,
                 shape: tuple[int, ...]) -> None:
        self.grad_fn = grad_fn
        self.inputs = inputs
        self.op = op
        self.shape = shape


def _topological_order(root: Node) -> list[Node]:
    """Nodes reachable from ``root``, every node after all of its inputs (iterative DFS, no recursion)."""
    order: list[Node] = []
    visited: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for inp in node.inputs:
            if isinstance(inp, Node) and id(inp) not in visited:
                stack.append((inp, False))
    return order


def _accumulate(leaf: Tensor, g: Array) -> None:
    """Add ``g`` into a leaf's ``.grad`` (copied the first time: ``g`` may be shared with another input).

    A parameter whose optimizer keeps gradients in one flat buffer has a ``_grad_view`` into it;
    the first gradient is copied there, so the optimizer finds it in place.
    """
    if leaf.grad is None:
        view: Array | None = getattr(leaf, "_grad_view", None)
        if view is not None and view.shape == g.shape and view.dtype == leaf.data.dtype:
            np.copyto(view, g)
            leaf.grad = view
        else:
            leaf.grad = np.array(g, dtype=leaf.data.dtype, copy=True)
    else:
        leaf.grad += g


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
        if _grad_mode._op_observer is not None:
            _grad_mode._op_observer(op, "forward", 0.0)
        if _grad_mode._enabled and any(p.requires_grad for p in parents):
            out.requires_grad = True
            out._node = Node(
                grad_fn,
                tuple(p._node if p._node is not None else (p if p.requires_grad else None) for p in parents),
                op,
                data.shape,
            )
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
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input had "
                "requires_grad=True, or it was computed under no_grad()"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a scalar, got shape {self.shape}; "
                    "pass grad= of the same shape or reduce with .sum()/.mean() first"
                )
            seed = np.ones_like(self.data)
        else:
            seed = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.data.dtype)
            if seed.shape != self.shape:
                raise ValueError(f"backward(): grad has shape {seed.shape} but the tensor has shape {self.shape}")

        root = self._node
        if root is None:  # a leaf: d(self)/d(self) is the seed itself
            _accumulate(self, seed)
            return
        grads: dict[int, Array] = {id(root): seed}
        observer = _grad_mode._op_observer
        for node in reversed(_topological_order(root)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if observer is None:
                input_grads = node.grad_fn(g)
            else:
                t0 = time.perf_counter()
                input_grads = node.grad_fn(g)
                observer(node.op, "backward", time.perf_counter() - t0)
            for inp, ig in zip(node.inputs, input_grads):
                if inp is None or ig is None:
                    continue
                if ig.shape != inp.shape:
                    raise RuntimeError(
                        f"internal error: op '{node.op}' produced a gradient of shape {ig.shape} "
                        f"for an input of shape {inp.shape}"
                    )
                if isinstance(inp, Node):
                    prev = grads.get(id(inp))
                    grads[id(inp)] = ig if prev is None else prev + ig
                else:
                    _accumulate(inp, ig)
            if not retain_graph:
                # Drop the closure (and the activations it holds); the node stays a non-leaf.
                node.grad_fn = _freed_grad_fn
                node.inputs = ()

    # ------------------------------------------------------------------ arithmetic
    def _binary(self, other: TensorLike, op: str) -> tuple[Tensor, Array]:
        if isinstance(other, Tensor):
            return other, other.data
        arr = np.asarray(other)
        # Plain numbers and arrays take a float tensor's dtype, so float32 models never drift to float64.
        o = Tensor(arr, dtype=self.data.dtype if self.data.dtype.kind == "f" else None)
        return o, o.data

    def __add__(self, other: TensorLike) -> Tensor:
        o, b = self._binary(other, "add")
        try:
            out = self.data + b
        except ValueError:
            raise _broadcast_error("add", self.shape, o.shape) from None
        sa, sb = self.shape, o.shape
        return Tensor._make(out, (self, o), lambda g: (unbroadcast(g, sa), unbroadcast(g, sb)), "add")

    __radd__ = __add__

    def __sub__(self, other: TensorLike) -> Tensor:
        o, b = self._binary(other, "sub")
        try:
            out = self.data - b
        except ValueError:
            raise _broadcast_error("sub", self.shape, o.shape) from None
        sa, sb = self.shape, o.shape
        return Tensor._make(out, (self, o), lambda g: (unbroadcast(g, sa), unbroadcast(-g, sb)), "sub")

    def __rsub__(self, other: TensorLike) -> Tensor:
        o, _ = self._binary(other, "sub")
        return o - self

    def __mul__(self, other: TensorLike) -> Tensor:
        o, b = self._binary(other, "mul")
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
        o, b = self._binary(other, "div")
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
        o, _ = self._binary(other, "div")
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
        o, _ = self._binary(base, "pow")
        return o**self

    def __matmul__(self, other: TensorLike) -> Tensor:
        o, b = self._binary(other, "matmul")
        return matmul(self, o)

    def __rmatmul__(self, other: TensorLike) -> Tensor:
        o, _ = self._binary(other, "matmul")
        return matmul(o, self)

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
        a = self.data
        out_k = a.max(axis=axis, keepdims=True)
        out = out_k if keepdims else (out_k.reshape(()) if axis is None else np.squeeze(out_k, axis))

        def grad_fn(g: Array) -> tuple[Array]:
            mask = a == out_k
            # Ties share the gradient equally, so the result is the subgradient PyTorch's amax gives.
            count = mask.sum(axis=axis, keepdims=True)
            gk = g if keepdims else (g.reshape(out_k.shape))
            return ((mask * (gk / count)).astype(a.dtype, copy=False),)

        return Tensor._make(np.asarray(out), (self,), grad_fn, "max")

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
        a = self.data
        out = np.clip(a, lo, hi)
        inside = np.ones(a.shape, dtype=bool)
        if lo is not None:
            inside &= a >= lo
        if hi is not None:
            inside &= a <= hi
        return Tensor._make(out, (self,), lambda g: (g * inside,), "clip")

    def masked_fill(self, mask: TensorLike, value: _Float) -> Tensor:
        """Replace entries where ``mask`` (broadcastable) is true by ``value``."""
        m = np.asarray(mask.data if isinstance(mask, Tensor) else mask, dtype=bool)
        try:
            out = np.where(m, np.asarray(value, dtype=self.data.dtype), self.data)
        except ValueError:
            raise _broadcast_error("masked_fill", self.shape, m.shape) from None
        if out.shape != self.shape:
            raise ValueError(f"masked_fill: mask of shape {m.shape} would broadcast the tensor of shape {self.shape}")
        return Tensor._make(out, (self,), lambda g: (np.where(m, 0, g).astype(g.dtype, copy=False),), "masked_fill")

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
        idx = _unwrap_index(index)
        out = self.data[idx]
        src_shape = self.shape
        advanced = _is_advanced(idx)

        def grad_fn(g: Array) -> tuple[Array]:
            full = np.zeros(src_shape, dtype=g.dtype)
            if advanced:
                np.add.at(full, idx, g)  # repeated indices must add up, not overwrite
            else:
                full[idx] = g
            return (full,)

        return Tensor._make(np.asarray(out), (self,), grad_fn, "getitem")


def _freed_grad_fn(g: Array) -> Sequence[Array | None]:
    raise RuntimeError(
        "backward through a graph that was already freed: call backward(retain_graph=True) "
        "the first time, or recompute the forward pass"
    )


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _is_advanced(idx: Any) -> bool:
    parts = idx if isinstance(idx, tuple) else (idx,)
    return any(isinstance(p, (list, np.ndarray)) for p in parts)


def _norm_axes(axis: int | tuple[int, ...], ndim: int) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % ndim for a in axes))


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
