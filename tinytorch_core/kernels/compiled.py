"""numba-compiled versions of the reference kernels, with the same signatures (the ``fast`` extra).

Importing this module imports numba (~0.4 s): :mod:`tinytorch_core.kernels` does it only at the
first kernel call, never at ``import tinytorch_core``. Settings, all measured at the training
step's shapes (/work/shared/PERFORMANCE_NOTES.md, "Compiled elementwise kernels"):

- serial ``@njit``: ``parallel=True`` loses to its thread start-up at these sizes;
- ``error_model='numpy'``: with numba's default ('python') division checks keep loops scalar;
- ``fastmath`` without ``nnan``/``ninf`` (masks use -inf), and only on the reductions and the
  GELU polynomials; AdamW gains nothing from it and stays IEEE;
- ``cache=True``, in the user cache directory (``$TINYTORCH_CACHE/numba``, see
  :func:`tinytorch_core.fileio.cache_dir`), never beside the package, which may be read-only;
- float32 GELU uses a rational tanh (Eigen's, 2.4e-7 relative error): numba's build has no SVML,
  so ``np.tanh`` is a scalar libm call per element (0.06x numpy). float64 keeps the exact
  ``np.tanh``: gradient checks run in float64 on this very code.

Inputs the kernels do not cover (other dtypes, mixed dtypes) go to the numpy reference.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from tinytorch_core.fileio import cache_dir
from tinytorch_core.kernels import reference
from tinytorch_core.kernels.reference import GELU_C, SQRT_2_OVER_PI, Array, rows


def _cache_path() -> str:
    """A writable folder for numba's cache: the user's tinytorch cache, else a per-user temp folder."""
    for path in (cache_dir("numba"), Path(tempfile.gettempdir()) / f"tinytorch-numba-{os.getuid()}"):
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK | os.X_OK):
            return str(path)
    return str(Path(tempfile.mkdtemp(prefix="tinytorch-numba-")))


# numba reads NUMBA_CACHE_DIR when it is imported and binds each cached function's locator when
# it is decorated, so this must run first; a folder the user chose is kept.
if "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = _cache_path()
import numba  # noqa: E402
from numba import njit, types  # noqa: E402
from numba.extending import overload  # noqa: E402

if not getattr(numba.config, "CACHE_DIR", ""):  # numba was imported before us: set its config directly
    setattr(numba.config, "CACHE_DIR", os.environ["NUMBA_CACHE_DIR"])

VERSION: str = numba.__version__
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}  # no nnan / ninf
_OPTIONS: dict[str, Any] = {"cache": True, "error_model": "numpy", "nogil": True}
_Loop = Callable[..., None]


def _jit(fastmath: bool) -> Callable[[_Loop], _Loop]:
    """numba's ``njit`` with this module's options (typed for mypy: numba has no annotations)."""
    return cast(Callable[[_Loop], _Loop], njit(fastmath=_FASTMATH if fastmath else False, **_OPTIONS))


def _tanh(v: float) -> float:  # pragma: no cover - replaced inside compiled code by the overload below
    raise NotImplementedError


@overload(_tanh)
def _tanh_for(v: Any) -> Any:
    """tanh chosen by type when compiling: rational float32 approximation, exact float64."""
    if v == types.float32:
        def rational(v: Any) -> Any:
            one = np.float32(1.0)
            c = np.float32(9.0)  # tanh rounds to 1 beyond; Eigen clamps at 7.905, where the approximation is 1 - 2.4e-7
            x = min(max(v, -c), c)
            x2 = x * x
            p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
            p = p * x2 + np.float32(-8.60467152213735e-11)
            p = p * x2 + np.float32(5.12229709037114e-08)
            p = p * x2 + np.float32(1.48572235717979e-05)
            p = p * x2 + np.float32(6.37261928875436e-04)
            p = p * x2 + np.float32(4.89352455891786e-03)
            q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
            q = q * x2 + np.float32(2.26843463243900e-03)
            q = q * x2 + np.float32(4.89352518554385e-03)
            return min(max(p * x / q, -one), one)  # the rational overshoots 1 by an ulp here and there

        return rational

    def exact(v: Any) -> Any:
        return np.tanh(v)

    return exact


# ---------------------------------------------------------------------------- loops
# Scalars arrive in the arrays' dtype (see _scalars): a Python float would promote float32 to float64.
@_jit(fastmath=True)
def _gelu_forward(x: Any, out: Any, k: Any, kc: Any, half: Any, one: Any) -> None:
    for i in range(x.size):
        v = x[i]
        out[i] = half * v * (one + _tanh(v * (k + kc * v * v)))


@_jit(fastmath=True)
def _gelu_backward(x: Any, g: Any, out: Any, k: Any, kc: Any, kc3: Any, half: Any, one: Any) -> None:
    for i in range(x.size):
        v = x[i]
        th = _tanh(v * (k + kc * v * v))  # recomputed: cheaper than storing it and reading it back
        out[i] = g[i] * (half * (one + th) + half * v * (one - th * th) * (k + kc3 * v * v))


@_jit(fastmath=True)
def _layer_norm_forward(x: Any, w: Any, b: Any, eps: Any, inv_d: Any, zero: Any, one: Any,
                        out: Any, xhat: Any, rstd: Any) -> None:
    n, d = x.shape
    for r in range(n):
        s = zero
        for j in range(d):
            s += x[r, j]
        mean = s * inv_d
        s2 = zero
        for j in range(d):
            c = x[r, j] - mean
            xhat[r, j] = c
            s2 += c * c
        rs = one / np.sqrt(s2 * inv_d + eps)
        rstd[r] = rs
        for j in range(d):
            h = xhat[r, j] * rs
            xhat[r, j] = h
            out[r, j] = h * w[j] + b[j]


@_jit(fastmath=True)
def _layer_norm_backward(g: Any, xhat: Any, rstd: Any, w: Any, inv_d: Any, zero: Any,
                         gx: Any, gw: Any, gb: Any) -> None:
    n, d = g.shape
    gw[:] = zero
    gb[:] = zero
    for r in range(n):
        m1 = zero
        m2 = zero
        for j in range(d):
            gj = g[r, j]
            gwj = gj * w[j]
            m1 += gwj
            m2 += gwj * xhat[r, j]
            gw[j] += gj * xhat[r, j]
            gb[j] += gj
        m1 *= inv_d
        m2 *= inv_d
        rs = rstd[r]
        for j in range(d):
            gx[r, j] = (g[r, j] * w[j] - m1 - xhat[r, j] * m2) * rs


@_jit(fastmath=False)
def _adam(p: Any, g: Any, m: Any, v: Any, l2: Any, decay: Any, b1: Any, c1: Any, b2: Any, c2: Any,
          step_size: Any, eps_hat: Any) -> None:
    for i in range(p.size):
        gi = g[i] + l2 * p[i]  # Adam's L2 penalty; g (p.grad) itself is left as backward wrote it
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = p[i] * decay - step_size * mi / (np.sqrt(vi) + eps_hat)


# ---------------------------------------------------------------------------- public kernels
def _scalars(dtype: np.dtype[Any], *values: float) -> list[Any]:
    return [dtype.type(v) for v in values]


def _covered(*arrays: Array | None) -> bool:
    """Whether the compiled loops handle these arrays: one float dtype for all of them."""
    dtype = arrays[0].dtype if arrays[0] is not None else None
    return dtype in _FLOATS and all(a is None or a.dtype == dtype for a in arrays)


def gelu_tanh_forward(x: Array) -> tuple[Array, Array | None]:
    """Like :func:`reference.gelu_tanh_forward`, but returns ``(out, None)``: the backward recomputes the
    tanh. By then ``x`` has left the caches, and reading a stored tanh back from memory took longer
    than the rational tanh itself (measured at the training step's shapes: 0.22 vs 0.39 ms per
    (768, 512) backward, 0.21 vs 0.32 ms forward, and 4 bytes less per element kept for backward).
    """
    if not _covered(x):
        return reference.gelu_tanh_forward(x)
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _gelu_forward(x.reshape(-1), out.reshape(-1), *_scalars(x.dtype, SQRT_2_OVER_PI, SQRT_2_OVER_PI * GELU_C, 0.5, 1.0))
    return out, None


def gelu_tanh_backward(x: Array, t: Array | None, grad: Array) -> Array:
    """Same as :func:`reference.gelu_tanh_backward`; the tanh is always recomputed from ``x`` (a ``t`` the
    numpy forward kept is not read: recomputing is the cheaper of the two, see the forward)."""
    if not _covered(x, grad) or x.shape != grad.shape:
        return reference.gelu_tanh_backward(x, t, grad)
    x, grad = np.ascontiguousarray(x), np.ascontiguousarray(grad)
    out = np.empty_like(x)
    _gelu_backward(x.reshape(-1), grad.reshape(-1), out.reshape(-1),
                   *_scalars(x.dtype, SQRT_2_OVER_PI, SQRT_2_OVER_PI * GELU_C, 3.0 * SQRT_2_OVER_PI * GELU_C, 0.5, 1.0))
    return out


def layer_norm_forward(x: Array, weight: Array | None, bias: Array | None, eps: float) -> tuple[Array, Array, Array]:
    """Same as :func:`reference.layer_norm_forward`."""
    if not _covered(x, weight, bias) or x.shape[-1] == 0:
        return reference.layer_norm_forward(x, weight, bias, eps)
    x2 = rows(np.ascontiguousarray(x))
    n, d = x2.shape
    w = np.ones(d, dtype=x.dtype) if weight is None else np.ascontiguousarray(weight)
    b = np.zeros(d, dtype=x.dtype) if bias is None else np.ascontiguousarray(bias)
    out = np.empty_like(x2)
    xhat = np.empty_like(x2)
    rstd = np.empty(n, dtype=x.dtype)
    _layer_norm_forward(x2, w, b, *_scalars(x.dtype, eps, 1.0 / d, 0.0, 1.0), out, xhat, rstd)
    return out.reshape(x.shape), xhat, rstd


def layer_norm_backward(
    grad: Array, xhat: Array, rstd: Array, weight: Array, param_grads: bool
) -> tuple[Array, Array | None, Array | None]:
    """Same as :func:`reference.layer_norm_backward`."""
    if not _covered(grad, xhat, rstd, weight):
        return reference.layer_norm_backward(grad, xhat, rstd, weight, param_grads)
    g2 = rows(np.ascontiguousarray(grad))
    d = xhat.shape[1]
    gx = np.empty_like(g2)
    gw = np.empty(d, dtype=g2.dtype)
    gb = np.empty(d, dtype=g2.dtype)
    _layer_norm_backward(g2, xhat, rstd, np.ascontiguousarray(weight), *_scalars(g2.dtype, 1.0 / d, 0.0), gx, gw, gb)
    return (gx, gw, gb) if param_grads else (gx, None, None)


def adam_update(
    param: Array, grad: Array, scratch: Array, work: Array | None, exp_avg: Array, exp_avg_sq: Array, *,
    lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool, step: int,
) -> None:
    """Same as :func:`reference.adam_update`, in one pass over the buffers (``scratch`` and ``work`` unused)."""
    arrays = (param, grad, exp_avg, exp_avg_sq)
    if not _covered(*arrays) or not all(a.ndim == 1 and a.flags.c_contiguous for a in arrays):
        reference.adam_update(param, grad, scratch, work, exp_avg, exp_avg_sq, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                              weight_decay=weight_decay, decoupled=decoupled, step=step)
        return
    bias_correction2_sqrt = math.sqrt(1.0 - beta2**step)
    step_size = lr * bias_correction2_sqrt / (1.0 - beta1**step)
    l2 = 0.0 if decoupled else weight_decay
    decay = 1.0 - lr * weight_decay if decoupled else 1.0
    _adam(param, grad, exp_avg, exp_avg_sq, *_scalars(
        param.dtype, l2, decay, beta1, 1.0 - beta1, beta2, 1.0 - beta2, step_size, eps * bias_correction2_sqrt))


#: The kernels this module compiles (kernels.py uses the reference for any other name).
COMPILED = ("gelu_tanh_forward", "gelu_tanh_backward", "layer_norm_forward", "layer_norm_backward", "adam_update")
