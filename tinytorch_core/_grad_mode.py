"""Global autograd switch shared by the tensor and autograd modules."""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

_enabled: bool = True

# Set by ``tinytorch_core.autograd.record_ops``: called as (op, phase, seconds) for every op
# built and every backward step taken. ``None`` on the hot path costs one global lookup.
OpObserver = Callable[[str, str, float], None]
_op_observer: OpObserver | None = None


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad record a graph."""
    return _enabled


def set_grad_enabled(mode: bool) -> None:
    global _enabled
    _enabled = bool(mode)


class no_grad:
    """Context manager (and decorator) that stops graph building, for inference.

    Inside it every op returns a plain tensor with ``requires_grad=False``; no closures
    or saved activations are kept, so inference is as cheap as raw numpy.
    """

    def __init__(self) -> None:
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(is_grad_enabled())
        set_grad_enabled(False)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        set_grad_enabled(self._prev.pop())

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with no_grad():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class enable_grad(no_grad):
    """Re-enable graph building inside a ``no_grad`` block."""

    def __enter__(self) -> None:
        self._prev.append(is_grad_enabled())
        set_grad_enabled(True)
