"""Central-difference gradient checking, for tests of built-in and plugin ops."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tinytorch_core.tensor import Array, Tensor


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree."""


def numerical_grad(fn: Callable[[], Tensor], t: Tensor, eps: float = 1e-6) -> Array:
    """d sum(fn() * w) / d t by central differences, for a fixed random projection w."""
    out0 = fn().data
    w = np.random.default_rng(0).standard_normal(out0.shape)
    grad = np.zeros(t.shape, dtype=np.float64)
    flat = t.data.reshape(-1)
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        plus = float((fn().data * w).sum())
        flat[i] = orig - eps
        minus = float((fn().data * w).sum())
        flat[i] = orig
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(
    fn: Callable[[], Tensor],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> bool:
    """Check ``fn``'s autograd gradients w.r.t. ``inputs`` (float64 tensors) against central differences.

    ``fn`` takes no arguments and recomputes the output from the inputs' current data, so the
    same closure serves both the analytic and the perturbed evaluations. The output is
    projected on a fixed random vector, which checks the full Jacobian-vector product.
    Raises :class:`GradcheckError` naming the input and the worst element on failure.
    """
    for i, t in enumerate(inputs):
        if t.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {t.dtype}; use float64 tensors (dtype=np.float64 or .double())")
        if not t.requires_grad:
            raise ValueError(f"gradcheck: input {i} does not require grad")
        t.grad = None
    out = fn()
    w = np.random.default_rng(0).standard_normal(out.shape)
    (out * Tensor(w, dtype=np.float64)).sum().backward()
    for i, t in enumerate(inputs):
        analytic = t.grad if t.grad is not None else np.zeros(t.shape)
        numeric = numerical_grad(fn, t, eps)
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            err = np.abs(analytic - numeric)
            j = np.unravel_index(int(np.argmax(err)), err.shape)
            raise GradcheckError(
                f"gradient of input {i} (shape {t.shape}) is wrong at {tuple(int(k) for k in j)}: "
                f"analytic {analytic[j]:.8g} vs numerical {numeric[j]:.8g} (max abs error {err.max():.3g})"
            )
    return True
