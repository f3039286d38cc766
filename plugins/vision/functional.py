"""Fused image ops on NCHW arrays: convolution, pooling and batch normalisation.

Each op is one core :class:`~tinytorch_core.autograd.Function` with a hand-written backward,
vectorised with strided window views: a convolution is one im2col copy plus one GEMM, and
its input gradient (col2im) loops over the ``kh * kw`` kernel offsets only, never over pixels.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinytorch_core import Tensor
from tinytorch_core.autograd import Context, Function

Array = np.ndarray[Any, np.dtype[Any]]
Pair = tuple[int, int]

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "batch_norm2d", "pair", "conv_output_size"]


def pair(value: int | tuple[int, int], name: str) -> Pair:
    """``3`` -> ``(3, 3)``; a pair passes through. Raises on non-positive or malformed values."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        out = (int(value), int(value))
    elif isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, np.integer)) for v in value):
        out = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    return out


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a sliding window along one axis (floor mode, as in PyTorch)."""
    return (size + 2 * padding - kernel) // stride + 1


def _windows(xp: Array, kernel: Pair, stride: Pair) -> Array:
    """Strided view (N, C, Ho, Wo, kh, kw) of every window of an already padded NCHW array."""
    view = sliding_window_view(xp, kernel, axis=(2, 3))
    return cast(Array, view[:, :, :: stride[0], :: stride[1]])


def _pad(x: Array, padding: Pair, value: float = 0.0) -> Array:
    if padding == (0, 0):
        return x
    ph, pw = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _scatter_windows(dwin: Array, padded_shape: tuple[int, ...], stride: Pair, padding: Pair) -> Array:
    """Adjoint of :func:`_windows` + padding: sum window gradients (N, C, Ho, Wo, kh, kw) back to NCHW.

    Non-overlapping windows (stride == kernel) are one reshape; otherwise one strided add per
    kernel offset, so the Python loop is over kh * kw offsets, never over pixels.
    """
    n, c, ho, wo, kh, kw = dwin.shape
    sh, sw = stride
    dxp = np.zeros(padded_shape, dtype=dwin.dtype)
    if (sh, sw) == (kh, kw):
        tiled = dwin.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho * kh, wo * kw)
        dxp[:, :, : ho * kh, : wo * kw] = tiled
    else:
        for i in range(kh):
            for j in range(kw):
                dxp[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] += dwin[:, :, :, :, i, j]
    ph, pw = padding
    if (ph, pw) == (0, 0):
        return dxp
    return dxp[:, :, ph : dxp.shape[2] - ph, pw : dxp.shape[3] - pw]


# ---------------------------------------------------------------------------- convolution
class _Conv2d(Function):
    """Cross-correlation of NCHW ``x`` with ``weight`` (O, C, kh, kw), as ``torch.nn.functional.conv2d``."""

    @staticmethod
    def forward(ctx: Context, x: Array, weight: Array, bias: Array | None, *, stride: Pair, padding: Pair) -> Array:
        n, c = x.shape[:2]
        out_ch, _, kh, kw = weight.shape
        xp = _pad(x, padding)
        win = _windows(xp, (kh, kw), stride)  # (N, C, Ho, Wo, kh, kw), no copy yet
        ho, wo = win.shape[2], win.shape[3]
        # im2col: one copy into rows (N*Ho*Wo, C*kh*kw) so the product is a single GEMM.
        cols = np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(n * ho * wo, c * kh * kw)
        w2 = weight.reshape(out_ch, c * kh * kw)
        out = cols @ w2.T  # (N*Ho*Wo, O)
        if bias is not None:
            out += bias
        ctx.save_for_backward(cols, weight)
        ctx.geometry = (x.shape, xp.shape, ho, wo, stride, padding)
        ctx.has_bias = bias is not None
        # NHWC -> NCHW; made contiguous so the following elementwise ops run at full speed.
        return np.ascontiguousarray(out.reshape(n, ho, wo, out_ch).transpose(0, 3, 1, 2))

    @staticmethod
    def backward(ctx: Context, grad: Array) -> tuple[Array | None, Array | None, Array | None]:
        cols, weight = ctx.saved_tensors
        x_shape, padded_shape, ho, wo, stride, padding = ctx.geometry
        n, c = x_shape[:2]
        out_ch, _, kh, kw = weight.shape
        g2 = np.ascontiguousarray(grad.transpose(0, 2, 3, 1)).reshape(n * ho * wo, out_ch)
        dx = dw = db = None
        if ctx.needs_input_grad[1]:
            dw = (g2.T @ cols).reshape(weight.shape)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = g2.sum(axis=0)
        if ctx.needs_input_grad[0]:
            dcols = g2 @ weight.reshape(out_ch, c * kh * kw)  # (N*Ho*Wo, C*kh*kw)
            dwin = dcols.reshape(n, ho, wo, c, kh, kw).transpose(0, 3, 1, 2, 4, 5)
            dx = _scatter_windows(dwin, padded_shape, stride, padding)
        return dx, dw, db


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
) -> Tensor:
    """2-D convolution (cross-correlation) of NCHW ``x`` with ``weight`` of shape (O, C, kh, kw).

    Raises ``ValueError`` naming the expected and actual shapes when the input is not 4-D, its
    channel count differs from the weight's, or the padded input is smaller than the kernel.
    """
    st, pd = pair(stride, "stride"), pair(padding, "padding")
    if min(st) < 1 or min(pd) < 0:
        raise ValueError(f"conv2d: stride must be >= 1 and padding >= 0, got stride={st}, padding={pd}")
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be (out_channels, in_channels, kh, kw), got shape {weight.shape}")
    out_ch, in_ch, kh, kw = weight.shape
    if x.ndim != 4:
        raise ValueError(
            f"conv2d: expected a 4-D NCHW input (N, {in_ch}, H, W), got shape {x.shape}; "
            "add a batch axis with x.unsqueeze(0) or a channel axis with x.unsqueeze(1)"
        )
    if x.shape[1] != in_ch:
        raise ValueError(
            f"conv2d: expected input with {in_ch} channels (N, {in_ch}, H, W), got shape {x.shape} "
            f"with {x.shape[1]} channels"
        )
    hp, wp = x.shape[2] + 2 * pd[0], x.shape[3] + 2 * pd[1]
    if hp < kh or wp < kw:
        raise ValueError(
            f"conv2d: input spatial size {x.shape[2:]} (padded to {(hp, wp)}) is smaller than the kernel "
            f"{(kh, kw)}; expected at least ({kh - 2 * pd[0]}, {kw - 2 * pd[1]}), got input shape {x.shape}"
        )
    if bias is not None and bias.shape != (out_ch,):
        raise ValueError(f"conv2d: bias must have shape ({out_ch},), got {bias.shape}")
    return _Conv2d.apply(x, weight, bias, stride=st, padding=pd)


# ---------------------------------------------------------------------------- pooling
def _check_pool_input(name: str, x: Tensor, kernel: Pair, padding: Pair) -> None:
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D NCHW input (N, C, H, W), got shape {x.shape}")
    hp, wp = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
    if hp < kernel[0] or wp < kernel[1]:
        raise ValueError(
            f"{name}: input spatial size {x.shape[2:]} (padded to {(hp, wp)}) is smaller than the kernel "
            f"{kernel}; expected H >= {kernel[0] - 2 * padding[0]} and W >= {kernel[1] - 2 * padding[1]}, "
            f"got input shape {x.shape}"
        )
    if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        raise ValueError(f"{name}: padding {padding} must be at most half the kernel {kernel}")


class _MaxPool2d(Function):
    """Window maximum; the gradient goes to one element per window (the first maximum on ties)."""

    @staticmethod
    def forward(ctx: Context, x: Array, *, kernel: Pair, stride: Pair, padding: Pair) -> Array:
        xp = _pad(x, padding, value=-np.inf)
        win = _windows(xp, kernel, stride)
        n, c, ho, wo = win.shape[:4]
        flat = win.reshape(n, c, ho, wo, kernel[0] * kernel[1])
        idx = flat.argmax(axis=-1)[..., None]
        ctx.argmax = idx
        ctx.geometry = (xp.shape, stride, padding, kernel)
        return cast(Array, np.take_along_axis(flat, idx, axis=-1)[..., 0])

    @staticmethod
    def backward(ctx: Context, grad: Array) -> Array:
        padded_shape, stride, padding, kernel = ctx.geometry
        n, c, ho, wo = grad.shape
        dwin = np.zeros((n, c, ho, wo, kernel[0] * kernel[1]), dtype=grad.dtype)
        np.put_along_axis(dwin, ctx.argmax, grad[..., None], axis=-1)
        return _scatter_windows(dwin.reshape(n, c, ho, wo, *kernel), padded_shape, stride, padding)


class _AvgPool2d(Function):
    """Window mean (padding zeros counted in the divisor, PyTorch's default)."""

    @staticmethod
    def forward(ctx: Context, x: Array, *, kernel: Pair, stride: Pair, padding: Pair) -> Array:
        xp = _pad(x, padding)
        win = _windows(xp, kernel, stride)
        ctx.geometry = (xp.shape, stride, padding, kernel)
        return cast(Array, win.mean(axis=(-2, -1), dtype=x.dtype))

    @staticmethod
    def backward(ctx: Context, grad: Array) -> Array:
        padded_shape, stride, padding, kernel = ctx.geometry
        share = grad * grad.dtype.type(1.0 / (kernel[0] * kernel[1]))
        dwin = np.broadcast_to(share[..., None, None], (*grad.shape, *kernel))
        return _scatter_windows(dwin, padded_shape, stride, padding)


def _pool_args(name: str, x: Tensor, kernel_size: int | Pair, stride: int | Pair | None, padding: int | Pair
               ) -> tuple[Pair, Pair, Pair]:
    kernel = pair(kernel_size, "kernel_size")
    st = kernel if stride is None else pair(stride, "stride")
    pd = pair(padding, "padding")
    if min(kernel) < 1 or min(st) < 1 or min(pd) < 0:
        raise ValueError(f"{name}: kernel and stride must be >= 1, padding >= 0; got {kernel}, {st}, {pd}")
    _check_pool_input(name, x, kernel, pd)
    return kernel, st, pd


def max_pool2d(x: Tensor, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0) -> Tensor:
    """Max pooling over NCHW windows; ``stride`` defaults to ``kernel_size``; pads with -inf."""
    kernel, st, pd = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    return _MaxPool2d.apply(x, kernel=kernel, stride=st, padding=pd)


def avg_pool2d(x: Tensor, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0) -> Tensor:
    """Average pooling over NCHW windows; ``stride`` defaults to ``kernel_size``; pads with zeros."""
    kernel, st, pd = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    return _AvgPool2d.apply(x, kernel=kernel, stride=st, padding=pd)


# ---------------------------------------------------------------------------- batch norm
class _BatchNorm2d(Function):
    """Per-channel normalisation with given statistics; ``batch_stats`` says they came from ``x`` itself.

    With batch statistics the backward includes the paths through the mean and variance (the
    fused formula); with running statistics (eval) they are constants.
    """

    @staticmethod
    def forward(ctx: Context, x: Array, weight: Array | None, bias: Array | None, *,
                mean: Array, var: Array, eps: float, batch_stats: bool) -> Array:
        inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
        xhat = (x - mean[:, None, None]) * inv_std[:, None, None]
        out = xhat * weight[:, None, None] if weight is not None else xhat.copy()
        if bias is not None:
            out += bias[:, None, None]
        ctx.save_for_backward(xhat, inv_std)
        ctx.weight = weight
        ctx.batch_stats = batch_stats
        return cast(Array, out)

    @staticmethod
    def backward(ctx: Context, grad: Array) -> tuple[Array | None, Array | None, Array | None]:
        xhat, inv_std = ctx.saved_tensors
        weight = ctx.weight
        axes = (0, 2, 3)
        dweight = (grad * xhat).sum(axis=axes) if ctx.needs_input_grad[1] else None
        dbias = grad.sum(axis=axes) if ctx.needs_input_grad[2] else None
        dx = None
        if ctx.needs_input_grad[0]:
            scale = inv_std if weight is None else weight * inv_std
            if ctx.batch_stats:
                count = grad.size // grad.shape[1]
                g_sum = dbias if dbias is not None else grad.sum(axis=axes)
                gx_sum = dweight if dweight is not None else (grad * xhat).sum(axis=axes)
                # dx = scale * (g - mean(g) - xhat * mean(g * xhat)), per channel
                dx = grad - (g_sum / count)[:, None, None]
                dx -= xhat * (gx_sum / count)[:, None, None]
                dx *= scale[:, None, None]
            else:
                dx = grad * scale[:, None, None]
        return dx, dweight, dbias


def batch_norm2d(
    x: Tensor,
    running_mean: Array | None,
    running_var: Array | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over (N, H, W) per channel, as ``torch.nn.functional.batch_norm``.

    In training the batch's biased variance normalises and the running statistics (updated in
    place) take the unbiased one; in eval the running statistics normalise.
    """
    if x.ndim != 4:
        raise ValueError(f"batch_norm2d: expected a 4-D NCHW input (N, C, H, W), got shape {x.shape}")
    channels = x.shape[1]
    for name, arr in (("running_mean", running_mean), ("running_var", running_var)):
        if arr is not None and arr.shape != (channels,):
            raise ValueError(
                f"batch_norm2d: expected input with {arr.shape[0]} channels (N, {arr.shape[0]}, H, W) "
                f"to match {name}, got shape {x.shape}"
            )
    if training or running_mean is None or running_var is None:
        count = x.shape[0] * x.shape[2] * x.shape[3]
        if count < 2 and training:
            raise ValueError(f"batch_norm2d: training needs more than one value per channel, got input shape {x.shape}")
        data = x.data
        mean = data.mean(axis=(0, 2, 3))
        centered = data - mean[:, None, None]
        var = np.einsum("nchw,nchw->c", centered, centered) / count
        if running_mean is not None and running_var is not None:
            unbiased = var * (count / max(count - 1, 1))
            running_mean *= 1.0 - momentum
            running_mean += momentum * mean
            running_var *= 1.0 - momentum
            running_var += momentum * unbiased
        return _BatchNorm2d.apply(x, weight, bias, mean=mean, var=var, eps=eps, batch_stats=True)
    return _BatchNorm2d.apply(
        x, weight, bias, mean=running_mean.astype(x.dtype, copy=False),
        var=running_var.astype(x.dtype, copy=False), eps=eps, batch_stats=False,
    )
