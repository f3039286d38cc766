"""The framework's global state: default dtype, random generator, grad mode and op observer.

Every other core module reads these through this one module, so a test or a context manager
that changes one changes it everywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
from numpy.typing import DTypeLike

_F = TypeVar("_F", bound=Callable[..., Any])

# ---------------------------------------------------------------------- default dtype
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


# ---------------------------------------------------------------------- random generator
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


# ---------------------------------------------------------------------- grad mode
_enabled: bool = True


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


# ---------------------------------------------------------------------- op observer
# Set by ``tinytorch_core.autograd.record_ops``: called as (op, phase, seconds) for every op
# built and every backward step taken. ``None`` on the hot path costs one global lookup.
OpObserver = Callable[[str, str, float], None]
_op_observer: OpObserver | None = None
