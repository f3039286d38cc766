"""The public extension point for custom differentiable ops, and the op recorder.

:class:`Function` and :class:`Context` live in :mod:`tinytorch_core.graph` (see there for
when to write an op as a closure and when as a ``Function``); they are re-exported here, the
place to import them from. :func:`record_ops` records every op built and every backward step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from tinytorch_core import state as _state
from tinytorch_core.graph import Context, Function
from tinytorch_core.state import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

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
