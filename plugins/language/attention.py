"""Multi-head self-attention as one fused core ``Function`` (forward + hand-written backward).

The whole attention core - split of the fused QKV projection into heads, scores, mask, softmax,
weighted sum and merge of the heads - is a single graph node. That keeps the autograd graph to
four nodes per attention layer (qkv linear, this op, output linear, residual add) and lets the
kernel choose its memory layout: q and v are split into contiguous (B, H, T, hd) blocks and K
straight into a contiguous K^T (B, H, hd, T) block (the same bytes copied once, and the forward's
Q K^T then has two contiguous operands); the backward's transposed operands (K, P^T, dS^T) go to
BLAS as strided views rather than contiguous copies
(with numpy 2.4 here the copies cost more than they saved: a (T, T) transpose copy took 19 of
25 ms of dV at T=512, and even at T=64 the copy-free backward is ~10% faster), the softmax
avoids a per-row maximum, and row sums are matrix-vector products with a ones vector.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from tinytorch_core import Tensor, get_rng
from tinytorch_core.autograd import Context, Function
from tinytorch_core.nn import Dropout, Linear, Module, init

Array = np.ndarray[Any, Any]

__all__ = ["MultiHeadAttention", "KVCache", "attention_core", "cached_attention", "causal_bias"]

_mask_cache: dict[tuple[int, int, str], Array] = {}


def causal_bias(rows: int, cols: int, dtype: np.dtype[Any]) -> Array:
    """Additive causal mask for queries at the last ``rows`` of ``cols`` positions (0 allowed, -inf masked).

    Cached per shape and dtype: it is rebuilt only when the sequence length changes.
    """
    key = (rows, cols, dtype.str)
    bias = _mask_cache.get(key)
    if bias is None:
        offset = cols - rows
        allowed = np.arange(cols)[None, :] <= (np.arange(rows)[:, None] + offset)
        bias = np.where(allowed, 0.0, -np.inf).astype(dtype)
        bias.flags.writeable = False
        _mask_cache[key] = bias
    return bias


def _softmax_rows(scores: Array) -> Array:
    """Softmax over the last axis of ``scores`` (a new array); fully masked rows become all zeros.

    Softmax is shift-invariant, so instead of the usual per-row maximum (a slow reduction over
    short rows) we check ONE global maximum: when it is safely below exp's overflow point, the
    exponentials are taken unshifted. The shift is then a constant that does not depend on the
    data, which keeps causality bit-exact (a future token cannot change an earlier row by even one
    rounding, as a data-dependent global shift would). Only when scores are huge, or some row's
    sum underflows (its entries all far below zero, or all masked), do we redo it per row.
    """
    dtype = scores.dtype
    ones = np.ones(scores.shape[-1], dtype=dtype)
    top = scores.max()
    if top <= _EXP_SAFE[dtype.char]:
        probs = np.exp(scores)
        total = probs @ ones
        if total.min() >= _SUM_TINY[dtype.char]:
            probs *= (1.0 / total)[..., None]
            return probs
    rowmax = scores.max(axis=-1, keepdims=True)
    rowmax[~np.isfinite(rowmax)] = 0.0  # fully masked rows: exp(-inf) = 0 everywhere, no nan
    probs = scores - rowmax
    np.exp(probs, out=probs)
    total = probs @ ones
    total[total == 0.0] = 1.0
    probs *= (1.0 / total)[..., None]
    return cast(Array, probs)


# Largest score exponentiated without a shift: the sum of a few million such terms stays finite.
_EXP_SAFE = {"f": 60.0, "d": 600.0, "e": 8.0}
# Smallest acceptable unshifted row sum: its dominant terms are then normal floats at full precision.
_SUM_TINY = {"f": float(np.finfo(np.float32).tiny) * 2.0**24, "d": float(np.finfo(np.float64).tiny) * 2.0**53,
             "e": float(np.finfo(np.float16).tiny) * 2.0**11}


class _AttentionCore(Function):
    """(B, T, 3d) fused q|k|v projection -> (B, T, d) attention output before the output projection."""

    @staticmethod
    def forward(
        ctx: Context,
        qkv: Array,
        num_heads: int = 1,
        causal: bool = True,
        key_padding: Array | None = None,
        dropout_p: float = 0.0,
        rng: np.random.Generator | None = None,
        attention_sink: list[Array] | None = None,
    ) -> Array:
        batch, steps, width3 = qkv.shape
        d_model = width3 // 3
        head_dim = d_model // num_heads
        dtype = qkv.dtype
        scale = 1.0 / math.sqrt(head_dim)
        # Two transposing copies straight from the split: q and v as contiguous (B, H, T, hd) blocks,
        # and K already transposed, a contiguous (B, H, hd, T) block, so Q K^T multiplies two
        # contiguous operands (OpenBLAS's small GEMM is slower with a transposed one).
        split = qkv.reshape(batch, steps, 3, num_heads, head_dim)
        qv = np.ascontiguousarray(split[:, :, ::2].transpose(2, 0, 3, 1, 4))
        q, v = qv[0], qv[1]
        k_t = np.ascontiguousarray(split[:, :, 1].transpose(0, 2, 3, 1))
        q *= dtype.type(scale)  # fold the 1/sqrt(hd) scale into q: T*hd multiplies instead of T*T
        scores = q @ k_t  # (B, H, T, T)
        if causal:
            scores += causal_bias(steps, steps, dtype)
        if key_padding is not None:
            scores += np.where(key_padding, dtype.type(0.0), dtype.type(-np.inf))[:, None, None, :]
        probs = _softmax_rows(scores)
        if attention_sink is not None:
            attention_sink.append(probs.copy())
        keep: Array | None = None
        if dropout_p > 0.0:
            generator = rng if rng is not None else get_rng()
            keep = np.asarray(generator.random(probs.shape, dtype=np.float32) >= dropout_p).astype(dtype)
            keep *= dtype.type(1.0 / (1.0 - dropout_p))
            used = probs * keep
        else:
            used = probs
        out = used @ v  # (B, H, T, hd)
        ctx.save_for_backward(q, k_t, v, probs)  # a no-op under no_grad
        ctx.keep = keep
        ctx.scale = scale
        return cast(Array, out.transpose(0, 2, 1, 3).reshape(batch, steps, d_model))

    @staticmethod
    def backward(ctx: Context, grad: Array) -> tuple[Array | None, ...]:
        q, k_t, v, probs = ctx.saved_tensors
        keep: Array | None = ctx.keep
        batch, heads, steps, head_dim = q.shape
        dtype = q.dtype
        g_out = np.ascontiguousarray(grad.reshape(batch, steps, heads, head_dim).transpose(0, 2, 1, 3))
        # Gradients land straight in the (B, T, 3, H, hd) layout of the qkv projection's output:
        # matmul writes through the strided (3, B, H, T, hd) view, so no transposing copy at the end.
        g_qkv = np.empty((batch, steps, 3, heads, head_dim), dtype=dtype)
        g_heads = g_qkv.transpose(2, 0, 3, 1, 4)
        used = probs if keep is None else probs * keep
        # dV = P^T dO; transposed operands go to BLAS as they are: a contiguous copy of a (T, T)
        # matrix costs more than the GEMM itself once T grows (measured: 19 of 25 ms at T=512)
        np.matmul(used.swapaxes(-1, -2), g_out, out=g_heads[2])
        # dP = dO V^T
        g_probs = g_out @ v.swapaxes(-1, -2)
        if keep is not None:
            g_probs *= keep
        # dS = P * (dP - rowsum(dP * P)), the row sum as a matrix-vector product
        row = (g_probs * probs) @ np.ones(steps, dtype=dtype)
        g_probs -= row[..., None]
        g_probs *= probs
        # dQ = dS K * scale; dK = dS^T (Q * scale) where q already carries the scale
        np.matmul(g_probs, k_t.swapaxes(-1, -2), out=g_heads[0])
        g_heads[0] *= dtype.type(ctx.scale)
        np.matmul(g_probs.swapaxes(-1, -2), q, out=g_heads[1])
        return (g_qkv.reshape(batch, steps, 3 * heads * head_dim),)


def attention_core(
    qkv: Tensor,
    num_heads: int,
    causal: bool = True,
    padding_mask: Array | None = None,
    dropout_p: float = 0.0,
    attention_sink: list[Array] | None = None,
) -> Tensor:
    """Scaled dot-product attention over a fused (B, T, 3d) q|k|v tensor, returning (B, T, d).

    ``padding_mask`` is a (B, T) bool array, True for real tokens; masked keys receive no
    attention (a query whose keys are all masked gets a zero output). ``attention_sink``, when
    given, receives a copy of the (B, H, T, T) attention weights.
    """
    return _AttentionCore.apply(
        qkv, num_heads=num_heads, causal=causal, key_padding=padding_mask, dropout_p=dropout_p,
        attention_sink=attention_sink,
    )


class KVCache:
    """Preallocated keys (B, H, hd, capacity) and values (B, H, capacity, hd) per layer, for incremental decoding.

    ``length`` counts the positions filled so far; every layer writes the same positions in
    one step, and the model advances ``length`` once per forward.
    """

    def __init__(self, num_layers: int, batch: int, num_heads: int, capacity: int, head_dim: int,
                 dtype: np.dtype[Any]) -> None:
        # Keys are stored transposed, (B, H, hd, capacity): q @ keys[..., :length] is then a plain
        # strided GEMM operand, instead of a contiguous copy of K^T of every layer at every step.
        self.keys = [np.zeros((batch, num_heads, head_dim, capacity), dtype=dtype) for _ in range(num_layers)]
        self.values = [np.zeros((batch, num_heads, capacity, head_dim), dtype=dtype) for _ in range(num_layers)]
        self.capacity = capacity
        self.length = 0

    def reset(self) -> None:
        """Forget every cached position (the arrays are reused)."""
        self.length = 0


def cached_attention(qkv: Array, num_heads: int, keys: Array, values: Array, start: int,
                     last_only: bool = False) -> Array:
    """Attention of ``Tn`` new positions against the cache, writing their keys/values at ``start``.

    With ``last_only`` every new position's keys and values are cached but only the last position
    attends: the output is (B, 1, d) (what the model's last layer needs). No autograd here: this is
    the inference path only (generation under ``no_grad``).
    """
    batch, steps, width3 = qkv.shape
    d_model = width3 // 3
    head_dim = d_model // num_heads
    dtype = qkv.dtype
    end = start + steps
    if end > values.shape[2]:
        raise ValueError(f"KV cache overflow: {end} positions needed but the cache holds {values.shape[2]}")
    heads = qkv.reshape(batch, steps, 3, num_heads, head_dim).transpose(2, 0, 3, 1, 4)
    keys[:, :, :, start:end] = heads[1].swapaxes(-1, -2)
    values[:, :, start:end] = heads[2]
    q = (heads[0][:, :, -1:] if last_only else heads[0]) * dtype.type(1.0 / math.sqrt(head_dim))
    rows = q.shape[2]
    scores = q @ keys[:, :, :, :end]
    if rows > 1:
        scores += causal_bias(rows, end, dtype)
    probs = _softmax_rows(scores)
    out = probs @ values[:, :, :end]
    return out.transpose(0, 2, 1, 3).reshape(batch, rows, d_model)


class MultiHeadAttention(Module):
    """Multi-head self-attention with a fused QKV projection: (B, T, d_model) -> (B, T, d_model).

    ``qkv`` is ``Linear(d_model, 3 * d_model)`` whose output rows are ordered [q; k; v], head
    ``h`` of q being rows ``h*hd:(h+1)*hd`` (nanoGPT's layout, so PyTorch weights load as-is);
    ``proj`` is the output projection. Call with ``padding_mask`` ((B, T) bool, True = real
    token) to keep padded keys out of every softmax, and with ``return_attention=True`` to get
    ``(output, weights)`` where weights is the (B, H, T, T) attention array; the weights of the
    last such call stay in ``last_attention`` (set ``keep_attention = True`` to keep them from every
    call, as :func:`plugins.language.attention_maps.attention_maps` does). Weights are only
    materialised when asked for.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, causal: bool = True,
                 bias: bool = True) -> None:
        super().__init__()
        if d_model <= 0 or num_heads <= 0:
            raise ValueError(f"MultiHeadAttention needs positive sizes, got d_model={d_model}, num_heads={num_heads}")
        if d_model % num_heads != 0:
            raise ValueError(
                f"MultiHeadAttention: d_model={d_model} is not divisible by num_heads={num_heads}; "
                f"choose num_heads dividing d_model (e.g. {_divisor_hint(d_model, num_heads)})"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1), got {dropout}")
        self.d_model = d_model
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.causal = causal
        self.dropout_p = dropout
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.proj = Linear(d_model, d_model, bias=bias)
        self.resid_dropout = Dropout(dropout)
        self.last_attention: Array | None = None
        self.keep_attention = False  # when True, every forward keeps its weights in last_attention
        for layer in (self.qkv, self.proj):
            init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                init.zeros_(layer.bias)

    def forward(
        self,
        x: Tensor,
        padding_mask: Array | Tensor | None = None,
        return_attention: bool = False,
    ) -> Any:
        """Attend over ``x`` (B, T, d_model); returns the output, or ``(output, weights)`` when asked."""
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"MultiHeadAttention({self.d_model}): expected input (B, T, {self.d_model}), got {x.shape}")
        qkv = self.qkv(x)
        mask = _as_padding_mask(padding_mask, x.shape[0], x.shape[1])
        sink: list[Array] | None = [] if return_attention or self.keep_attention else None
        p = self.dropout_p if self.training else 0.0
        mixed = attention_core(qkv, self.num_heads, self.causal, mask, p, sink)
        out = self.resid_dropout(self.proj(mixed)) if p > 0.0 else self.proj(mixed)
        if sink is not None:
            self.last_attention = sink[0]
        return (out, sink[0]) if return_attention and sink is not None else out

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, causal={self.causal}, dropout={self.dropout_p}"


def _as_padding_mask(mask: Array | Tensor | None, batch: int, steps: int) -> Array | None:
    if mask is None:
        return None
    arr = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if arr.shape != (batch, steps):
        raise ValueError(f"padding_mask must have shape (B, T) = ({batch}, {steps}), got {arr.shape}")
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "iub":
            raise TypeError(f"padding_mask must be boolean (True = real token), got dtype {arr.dtype}")
        arr = arr.astype(bool)
    return arr


def _divisor_hint(d_model: int, num_heads: int) -> int:
    """The divisor of ``d_model`` closest to the requested head count, for the error message."""
    divisors = [h for h in range(1, d_model + 1) if d_model % h == 0]
    return min(divisors, key=lambda h: (abs(h - num_heads), h))
