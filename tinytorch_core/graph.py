"""The autograd graph: nodes, their topological order, the backward pass, and ``Function``.

Every op result that needs a gradient holds a :class:`Node`: its local chain rule (``grad_fn``)
and edges to its inputs. ``backward`` visits each node once, after every node that consumed its
output, and hands each input its share of the gradient (micrograd's ``backward``, without
recursion and without keeping the inputs' data alive).

There are two ways to write an op:

- a closure, for a small op built from numpy calls: compute the forward, then pass
  ``Tensor._make(out, parents, grad_fn, name)`` a ``grad_fn`` that closes over what backward
  needs (all of ``tinytorch_core.tensor`` and ``tinytorch_core.ops``);
- a :class:`Function` subclass, for a fused kernel (attention, layer norm, convolution) or an
  op in a plugin: ``forward`` and ``backward`` on numpy arrays, state passed through ``ctx``,
  so the backward is one hand-written step instead of a chain of small graph nodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np
from numpy.typing import NDArray

from tinytorch_core import state

if TYPE_CHECKING:
    from tinytorch_core.tensor import Tensor, TensorLike

Array = NDArray[Any]
GradFn = Callable[[Array], Sequence[Union[Array, None]]]


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

    def free(self) -> None:
        """Drop the closure (and the activations it holds); the node stays a non-leaf."""
        self.grad_fn = _freed_grad_fn
        self.inputs = ()


def _freed_grad_fn(g: Array) -> Sequence[Array | None]:
    raise RuntimeError(
        "backward through a graph that was already freed: call backward(retain_graph=True) "
        "the first time, or recompute the forward pass"
    )


def topological_order(root: Node) -> list[Node]:
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


def accumulate(leaf: Tensor, g: Array) -> None:
    """Add ``g`` into a leaf's ``.grad`` (copied the first time: ``g`` may be shared with another input).

    A parameter whose optimizer keeps gradients in one flat buffer has a ``_grad_view`` into it;
    the first gradient is copied there, so the optimizer finds it in place.
    """
    if leaf.grad is None:
        view: Array | None = getattr(leaf, "_grad_view", None)
        if view is not None and view.shape == g.shape and view.dtype == leaf.data.dtype:
            if g is not view:  # else backward wrote it there itself (Context.grad_destination)
                np.copyto(view, g)
            leaf.grad = view
        else:
            leaf.grad = np.array(g, dtype=leaf.data.dtype, copy=True)
    else:
        leaf.grad += g


def backward(t: Tensor, grad: TensorLike | None = None, retain_graph: bool = False) -> None:
    """``t.backward(grad)``: check the seed gradient, then propagate it to every leaf."""
    if not t.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: no input had "
            "requires_grad=True, or it was computed under no_grad()"
        )
    if grad is None:
        if t.data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a scalar, got shape {t.shape}; "
                "pass grad= of the same shape or reduce with .sum()/.mean() first"
            )
        seed = np.ones_like(t.data)
    else:
        seed = np.asarray(getattr(grad, "data", grad), dtype=t.data.dtype)
        if seed.shape != t.shape:
            raise ValueError(f"backward(): grad has shape {seed.shape} but the tensor has shape {t.shape}")
    if t._node is None:  # a leaf: d(t)/d(t) is the seed itself
        accumulate(t, seed)
    else:
        propagate(t._node, seed, retain_graph)


def propagate(root: Node, seed: Array, retain_graph: bool = False) -> None:
    """Push ``seed`` from ``root`` back through the graph into the leaves' ``.grad``."""
    grads: dict[int, Array] = {id(root): seed}
    run = _run if state._op_observer is None else _timed(state._op_observer)
    for node in reversed(topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        for inp, ig in zip(node.inputs, run(node, g)):
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
                accumulate(inp, ig)
        if not retain_graph:
            node.free()


def _run(node: Node, g: Array) -> Sequence[Array | None]:
    return node.grad_fn(g)


def _timed(observer: state.OpObserver) -> Callable[[Node, Array], Sequence[Array | None]]:
    """``_run`` that also reports each step's time, used only while ``record_ops`` is active."""

    def run(node: Node, g: Array) -> Sequence[Array | None]:
        t0 = time.perf_counter()
        grads = node.grad_fn(g)
        observer(node.op, "backward", time.perf_counter() - t0)
        return grads

    return run


class Context:
    """Scratch space passed from ``forward`` to ``backward``; set any attribute on it."""

    saved_tensors: tuple[Array, ...]
    needs_input_grad: tuple[bool, ...]

    def __init__(self, needs_input_grad: tuple[bool, ...], leaves: tuple[Tensor | None, ...] = ()) -> None:
        self.saved_tensors = ()
        self.needs_input_grad = needs_input_grad
        self._leaves = leaves

    def grad_destination(self, index: int) -> Array | None:
        """An array that ``backward`` may write positional input ``index``'s gradient into and return
        (``np.matmul(a, b, out=dst)``), saving a copy: the parameter's slot in its optimizer's flat
        gradient buffer, when the parameter has no gradient yet and is no other input of this op.
        ``None`` otherwise: then return a new array as usual.
        """
        leaf = self._leaves[index] if index < len(self._leaves) else None
        if leaf is None or leaf.grad is not None or sum(other is leaf for other in self._leaves) > 1:
            return None
        view: Array | None = getattr(leaf, "_grad_view", None)
        return view if view is not None and view.shape == leaf.shape and view.dtype == leaf.dtype else None

    def save_for_backward(self, *arrays: Array) -> None:
        """Keep ``arrays`` for ``backward``; under ``no_grad`` there is no backward, so nothing is kept."""
        if state._enabled:
            self.saved_tensors = arrays

    if TYPE_CHECKING:  # forward() may set any attribute; tell the type checker so
        def __setattr__(self, name: str, value: Any) -> None: ...

    def __getattr__(self, name: str) -> Any:  # only reached for attributes never set
        raise AttributeError(f"Context has no attribute {name!r}: set it in forward() before reading it in backward()")


class Function:
    """Base class for ops with a hand-written backward.

    ``forward(ctx, *args, **kwargs)`` receives numpy arrays in place of tensors (other
    arguments pass through unchanged) and returns one array. ``backward(ctx, grad)`` returns
    a gradient (or ``None``) for each positional argument, in order; a single array is
    accepted when there is one positional argument.

    Example::

        class Square(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                return (2 * x * grad,)

        y = Square.apply(t)
    """

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> Array:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: Array) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        from tinytorch_core.tensor import Tensor  # tensor.py imports this module, so not at the top

        tensors = tuple(a for a in args if isinstance(a, Tensor))
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        # Parameters an optimizer gives a flat gradient buffer (``_grad_view``), for ``grad_destination``.
        ctx = Context(needs, tuple(a if needs[i] and a._node is None and getattr(a, "_grad_view", None) is not None
                                   else None for i, a in enumerate(args)) if state._enabled else ())
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        observer = state._op_observer
        name = f"{cls.__module__}.{cls.__qualname__}"
        if observer is None:
            out = cls.forward(ctx, *raw, **kwargs)
        else:
            t0 = time.perf_counter()
            out = cls.forward(ctx, *raw, **kwargs)
            observer(name, "forward", time.perf_counter() - t0)
            suppress = getattr(observer, "suppress", None)
            if suppress is not None:
                suppress[0] += 1
        if not isinstance(out, np.ndarray):
            out = np.asarray(out)
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        n_args = len(args)  # the closure must not hold ``args``: that would keep every input's data alive

        def grad_fn(g: Array) -> list[Array | None]:
            res = cls.backward(ctx, g)
            grads = res if isinstance(res, (tuple, list)) else (res,)
            if len(grads) != n_args:
                raise RuntimeError(
                    f"{name}.backward returned {len(grads)} gradients for {n_args} positional inputs; "
                    "return one per input (None where there is none)"
                )
            return [None if grads[i] is None else np.asarray(grads[i]) for i in positions]

        return Tensor._make(out, tensors, grad_fn, name)
