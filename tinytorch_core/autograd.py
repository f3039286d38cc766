"""The public extension point for custom differentiable ops.

Subclass :class:`Function`, write ``forward`` on numpy arrays and ``backward`` returning one
gradient per positional input, and call ``MyOp.apply(...)``. Fused kernels (attention,
convolution, layer norm) use this so their backward is one hand-written step instead of a
chain of small graph nodes.

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

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinytorch_core import _grad_mode as _state

from tinytorch_core._grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from tinytorch_core.tensor import Array, Tensor

__all__ = [
    "Context", "Function", "OpEvent", "record_ops", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
]


@dataclass(frozen=True)
class OpEvent:
    """One op seen by :func:`record_ops`.

    ``op`` is a built-in tensor op's name (``"add"``, ``"matmul"``, defined in
    ``tinytorch_core.tensor``) or a Function's dotted ``module.ClassName``; ``seconds`` is
    measured for Function forwards and for every backward step (0.0 for built-in forwards,
    whose numpy call has already run when the op is recorded).
    """

    op: str
    phase: str
    seconds: float

    @property
    def defined_in(self) -> str:
        """The module that defines the op."""
        return self.op.rpartition(".")[0] if "." in self.op else "tinytorch_core.tensor"


@contextlib.contextmanager
def record_ops() -> Iterator[list[OpEvent]]:
    """Record every op built and every backward step inside the block (for profiling and reuse reports)."""
    events: list[OpEvent] = []
    prev = _state._op_observer
    suppress = [0]

    def observe(op: str, phase: str, seconds: float) -> None:
        if suppress[0] and phase == "forward":
            suppress[0] -= 1  # the Tensor._make of a Function already reported with its timing
            return
        events.append(OpEvent(op, phase, seconds))

    observe.suppress = suppress  # type: ignore[attr-defined]
    _state._op_observer = observe
    try:
        yield events
    finally:
        _state._op_observer = prev


class Context:
    """Scratch space passed from ``forward`` to ``backward``; set any attribute on it."""

    saved_tensors: tuple[Array, ...]
    needs_input_grad: tuple[bool, ...]

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.saved_tensors = ()
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *arrays: Array) -> None:
        self.saved_tensors = arrays

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:  # only reached for attributes never set
        raise AttributeError(f"Context has no attribute {name!r}: set it in forward() before reading it in backward()")


class Function:
    """Base class for ops with a hand-written backward.

    ``forward(ctx, *args, **kwargs)`` receives numpy arrays in place of tensors (other
    arguments pass through unchanged) and returns one array. ``backward(ctx, grad)`` returns
    a gradient (or ``None``) for each positional argument, in order; a single array is
    accepted when there is one positional argument.
    """

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> Array:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: Array) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        tensors = tuple(a for a in args if isinstance(a, Tensor))
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = Context(needs)
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        observer = _state._op_observer
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
