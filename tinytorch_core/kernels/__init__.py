"""The hot elementwise kernels, numpy reference or numba-compiled, chosen once at first use.

Fused ops (:mod:`tinytorch_core.functional`) and the optimizers call the functions here; each
call goes to :mod:`~tinytorch_core.kernels.reference` (numpy, the exact reference) or to
:mod:`~tinytorch_core.kernels.compiled` (numba, the optional ``fast`` extra:
``pip install 'tinytorch-numpy[fast]'``). Which kernels have a compiled version was decided by
measurement at the training step's shapes (GELU forward and backward, LayerNorm forward and
backward, Adam(W) over the flat buffer; softmax stays numpy, where numba was slower).

The choice is made at the first kernel call, not at import, so ``import tinytorch_core`` and
commands that compute nothing never load numba. ``TINYTORCH_FAST`` overrides it:

- unset (or ``auto``): compiled when numba is installed, numpy otherwise;
- ``0``: always numpy;
- ``1``: compiled, and an error at the first kernel call when numba is missing.

:func:`describe` says which path is (or will be) used, without importing numba.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Callable
from typing import Any, cast

from tinytorch_core.kernels import reference
from tinytorch_core.kernels.reference import Array

__all__ = [
    "ENV", "KERNELS", "describe", "compiled_kernels", "use", "gelu_tanh_forward", "gelu_tanh_backward",
    "layer_norm_forward", "layer_norm_backward", "adam_update",
]

#: Environment variable choosing the kernels: ``0`` numpy, ``1`` compiled (numba required), unset/``auto`` either.
ENV = "TINYTORCH_FAST"
KERNELS = ("gelu_tanh_forward", "gelu_tanh_backward", "layer_norm_forward", "layer_norm_backward", "adam_update")

_INSTALL = "pip install 'tinytorch-numpy[fast]'"
_table: dict[str, Callable[..., Any]] | None = None
_compiled: tuple[str, ...] = ()
_chosen_mode = "auto"


def _mode(value: str | None = None) -> str:
    setting = os.environ.get(ENV, "auto") if value is None else value
    normal = setting.strip().lower()
    if normal in ("", "auto"):
        return "auto"
    if normal in ("0", "1"):
        return normal
    where = f"{ENV}={setting!r}" if value is None else f"kernels.use({setting!r})"
    raise ValueError(f"{where} is not a valid setting; use 0 (numpy), 1 (numba) or auto")


def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def _choose(setting: str | None = None) -> dict[str, Callable[..., Any]]:
    """The kernel table: the compiled module's functions where it has them, the reference's elsewhere."""
    global _compiled, _chosen_mode
    table = {name: cast(Callable[..., Any], getattr(reference, name)) for name in KERNELS}
    mode = _chosen_mode = _mode(setting)
    if mode == "0" or (mode == "auto" and not _numba_installed()):
        _compiled = ()
        return table
    if not _numba_installed():
        raise RuntimeError(f"{ENV}=1 asks for compiled kernels but numba is not installed; {_INSTALL} or unset {ENV}")
    from tinytorch_core.kernels import compiled

    _compiled = tuple(name for name in KERNELS if name in compiled.COMPILED)
    table.update({name: getattr(compiled, name) for name in _compiled})
    return table


def _kernel(name: str) -> Callable[..., Any]:
    global _table
    if _table is None:
        _table = _choose()
    return _table[name]


def compiled_kernels() -> tuple[str, ...]:
    """Names of the kernels that run compiled (makes the choice now if no kernel has run yet)."""
    _kernel(KERNELS[0])
    return _compiled


def describe() -> str:
    """One line naming the kernel path, e.g. ``numba 0.68.1 (gelu_tanh_forward, ...)``; never imports numba.

    Before the first kernel call it says what the choice will be.
    """
    if _table is not None:
        chosen, mode = _compiled, _chosen_mode
    else:
        try:
            mode = _mode()
        except ValueError as error:
            return f"invalid: {error}"
        chosen = () if mode == "0" or not _numba_installed() else KERNELS
    if not chosen:
        return f"numpy ({ENV}=0)" if mode == "0" else f"numpy (numba not installed: {_INSTALL})"
    try:
        version = importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return f"numba {version} ({', '.join(chosen)})"


def use(setting: str | None) -> None:
    """Choose again now: ``"0"`` numpy, ``"1"`` compiled, ``"auto"``; ``None`` reads ``TINYTORCH_FAST`` again.

    For benchmarks and tests that compare both paths in one process; programs set ``TINYTORCH_FAST``.
    """
    global _table
    _table = None
    _table = _choose(setting)


# ---------------------------------------------------------------------------- the kernels
def gelu_tanh_forward(x: Array) -> tuple[Array, Array | None]:
    """``(out, t)``: GELU (tanh form) of ``x`` and what its backward needs besides ``x``: the tanh, or ``None``
    where the kernel recomputes it (the compiled one)."""
    return cast(tuple[Array, Array | None], _kernel("gelu_tanh_forward")(x))


def gelu_tanh_backward(x: Array, t: Array | None, grad: Array) -> Array:
    """The gradient of :func:`gelu_tanh_forward` at ``x`` (with the ``t`` it returned), times ``grad``."""
    return cast(Array, _kernel("gelu_tanh_backward")(x, t, grad))


def layer_norm_forward(x: Array, weight: Array | None, bias: Array | None, eps: float) -> tuple[Array, Array, Array]:
    """LayerNorm over the last axis: ``(out, xhat, rstd)``, xhat and rstd as 2-D rows."""
    return cast(tuple[Array, Array, Array], _kernel("layer_norm_forward")(x, weight, bias, eps))


def layer_norm_backward(
    grad: Array, xhat: Array, rstd: Array, weight: Array, param_grads: bool
) -> tuple[Array, Array | None, Array | None]:
    """``(gx as rows, gweight, gbias)``; the parameter gradients are ``None`` unless ``param_grads``."""
    return cast(tuple[Array, Array | None, Array | None],
                _kernel("layer_norm_backward")(grad, xhat, rstd, weight, param_grads))


def adam_update(
    param: Array, grad: Array, scratch: Array, work: Array | None, exp_avg: Array, exp_avg_sq: Array, *,
    lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool, step: int,
) -> None:
    """One Adam(W) step in place on flat buffers (see :func:`reference.adam_update`)."""
    _kernel("adam_update")(param, grad, scratch, work, exp_avg, exp_avg_sq, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                           weight_decay=weight_decay, decoupled=decoupled, step=step)
