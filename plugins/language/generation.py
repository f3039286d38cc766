"""TinyGPT's generation: token sampling and KV-cache decoding.

Decoding runs on the weight arrays, not through the modules: one step at batch 1 is ~60 small
numpy calls, and the Tensor/Function wrapping of a module forward measured ~1.9x slower per token
(B=1, T=64, d=128, 4 layers). It calls the core's own fused kernels (``layer_norm_arrays``,
``gelu_tanh_arrays``) and the attention plugin's ``cached_attention``, so it computes exactly
what ``TinyGPT.forward`` does (the tests compare the two token for token).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from plugins.language.attention import KVCache, cached_attention
from tinytorch_core import functional as F
from tinytorch_core import Tensor, no_grad

if TYPE_CHECKING:
    from plugins.language.model import TinyGPT

Array = np.ndarray[Any, Any]

__all__ = ["sample_next", "validate_sampling", "iter_generate"]


def sample_next(
    logits: Array,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Array:
    """Draw one token id per row of (B, V) ``logits``; returns a (B,) int64 array.

    ``temperature == 0`` is greedy (argmax, no random draw). ``top_k`` keeps the k largest
    logits, ``top_p`` the smallest set of most likely tokens whose probability reaches p
    (nucleus sampling); both may be combined. One uniform draw per row, inverse-CDF.
    """
    if temperature == 0.0:
        return cast(Array, np.argmax(logits, axis=-1).astype(np.int64))
    vocab = logits.shape[-1]
    z = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < vocab:
        kth = np.partition(z, vocab - top_k, axis=-1)[:, vocab - top_k : vocab - top_k + 1]
        z = np.where(z < kth, -np.inf, z)
    z -= z.max(axis=-1, keepdims=True)
    probs = np.exp(z)
    probs /= probs.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-probs, axis=-1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, axis=-1)
        mass_before = np.cumsum(sorted_probs, axis=-1) - sorted_probs
        sorted_probs[mass_before >= top_p] = 0.0  # the most likely token always has mass_before 0: kept
        probs = np.zeros_like(probs)
        np.put_along_axis(probs, order, sorted_probs, axis=-1)
    cdf = np.cumsum(probs, axis=-1)
    draw = rng.random(logits.shape[0])[:, None] * cdf[:, -1:]
    choice = (cdf <= draw).sum(axis=-1)
    return cast(Array, np.minimum(choice, vocab - 1).astype(np.int64))


def validate_sampling(max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None) -> None:
    if not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens (max_length) must be a non-negative int, got {max_new_tokens!r}")
    if not math.isfinite(temperature) or temperature < 0.0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if top_k is not None and (not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p!r}")


# A contiguous (in, out) copy of each weight makes the GEMMs of a few rows to a few tens of rows
# (a re-encoded window, batched decoding) faster than ``x @ weight.T`` on the (out, in) layout:
# measured at d=128 over the four layer shapes, 2.2x at 8 rows, 1.4x at 32, 1.2x at 64, the same
# at 1. The copies cost the weights' memory once more, so only models up to this size get them.
_TRANSPOSED_COPIES_MAX_BYTES = 64 << 20
# Without copies, up to this many rows ``(weight @ x.T).T`` beats ``x @ weight.T``: OpenBLAS streams
# the weight matrix faster as the left operand when the other one is thin (0.5x the time at 8 rows,
# from d=128 to GPT-2 small's 768 x 2304; no gain from about 64 rows, a loss beyond 128).
_FEW_ROWS = 32

Affine = tuple[Array, Array | None, Array | None]  # weight (out, in), bias, weight.T contiguous or None


def _affine(x: Array, weight: Array, bias: Array | None, weight_t: Array | None = None) -> Array:
    """``x @ weight.T + bias`` on arrays (weight in the (out, in) layout, ``weight_t`` its contiguous transpose)."""
    x2 = x.reshape(-1, x.shape[-1])
    if weight_t is not None:
        out = x2 @ weight_t
    elif 1 < x2.shape[0] <= _FEW_ROWS:
        out = np.ascontiguousarray((weight @ x2.T).T)
    else:
        out = x2 @ weight.T  # one 2-D GEMM, as the core's linear does
    if bias is not None:
        out += bias
    return cast(Array, out.reshape(*x.shape[:-1], weight.shape[0]))


def _layer_norm(x: Array, weight: Array | None, bias: Array | None, eps: float = 1e-5) -> Array:
    """LayerNorm on arrays: the core's own fused kernel, without the graph."""
    return F.layer_norm_arrays(x, weight, bias, eps)[0]


def _gelu_tanh(x: Array) -> Array:
    """GELU (tanh form) on arrays: the core's own fused kernel, without the graph."""
    return F.gelu_tanh_arrays(x)[0]


def _gelu_erf(x: Array) -> Array:
    """GELU (erf form, HF's ``gelu``) on arrays, through the core op (called under ``no_grad``)."""
    return F.gelu(Tensor(x), "none").data


class InferenceWeights:
    """The weight arrays of a TinyGPT, gathered once per generation call (no Module lookups per step)."""

    def __init__(self, model: TinyGPT) -> None:
        weight_bytes = sum(p.data.nbytes for p in model.parameters())
        copies = weight_bytes <= _TRANSPOSED_COPIES_MAX_BYTES

        def linear(layer: Any) -> Affine:
            weight = layer.weight.data
            return (weight, None if layer.bias is None else layer.bias.data,
                    np.ascontiguousarray(weight.T) if copies else None)

        def norm(layer: Any) -> tuple[Array | None, Array | None, float]:
            return (None if layer.weight is None else layer.weight.data,
                    None if layer.bias is None else layer.bias.data, float(layer.eps))

        self.token: Array = model.token_embedding.weight.data
        self.position: Array = model.position.weight.data
        self.head: Array = model.token_embedding.weight.data if model.config.tie_weights else model.lm_head.weight.data
        self.ln_f = norm(model.ln_f)
        self.blocks = []
        for block in model.blocks:
            # TinyGPT builds its blocks itself: feedforward is Linear, GELU, Linear.
            ff = block.feedforward
            self.blocks.append((norm(block.ln1), linear(block.attention.qkv), linear(block.attention.proj),
                                norm(block.ln2), linear(ff[0]), linear(ff[2])))


def forward_cached(model: TinyGPT, ids: Array, cache: KVCache, weights: InferenceWeights) -> Array:
    """Inference step: run ``ids`` (B, Tn) at positions ``cache.length..``, fill the cache, return last logits (B, V).

    Plain numpy on the weight arrays, no Tensors: one decoding step is ~60 small numpy calls,
    and the graph machinery would cost more than the maths at batch 1.
    """
    start = cache.length
    steps = ids.shape[1]
    x = weights.token[ids] + weights.position[start : start + steps]
    last_layer = len(weights.blocks) - 1
    gelu = _gelu_tanh if model.config.gelu_approximate == "tanh" else _gelu_erf
    for layer, (ln1, qkv, proj, ln2, ff0, ff2) in enumerate(weights.blocks):
        # In the last block only the last position's output feeds the logits: every position's keys
        # and values are cached, and attention, projection and MLP run on the last position alone.
        final = layer == last_layer
        mixed = cached_attention(_affine(_layer_norm(x, *ln1), *qkv), model.config.num_heads,
                                 cache.keys[layer], cache.values[layer], start, last_only=final)
        if final:
            x = x[:, -1:]
        x += _affine(mixed, *proj)
        x += _affine(gelu(_affine(_layer_norm(x, *ln2), *ff0)), *ff2)
    cache.length = start + steps
    last = _layer_norm(x[:, -1, :], *weights.ln_f)
    return cast(Array, last @ weights.head.T)


def _last_logits(model: TinyGPT, ids: Array) -> Array:
    """Full forward over ``ids`` (the reference path for generation without a cache)."""
    return model.forward(ids).data[:, -1, :]


def iter_generate(
    model: TinyGPT,
    ids: Array,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    seed: int | None,
    use_cache: bool,
) -> Iterator[Array]:
    """Yield the next (B,) token ids, one step at a time, in eval mode under ``no_grad``.

    With the cache, the prompt (cropped to block_size) runs once and each later step runs one
    token. Once the context is block_size tokens long, a new token pushes the oldest out and the
    positions of all the others shift (learned absolute positions), so the cropped window of the
    last block_size tokens is re-run to rebuild the cache: exactly nanoGPT's sliding-window
    semantics, token for token equal to a full recompute at every step.
    """
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            context = ids[:, -model.config.block_size :]
            cache: KVCache | None = None
            if use_cache:
                c = model.config
                cache = KVCache(c.num_layers, ids.shape[0], c.num_heads, c.block_size, c.d_model // c.num_heads,
                                model.token_embedding.weight.dtype)
                weights = InferenceWeights(model)
                logits = forward_cached(model, context, cache, weights)
            else:
                logits = _last_logits(model, context)
            for step in range(max_new_tokens):
                token = sample_next(logits, rng, temperature, top_k, top_p)
                yield token
                if step == max_new_tokens - 1:
                    break
                context = np.concatenate([context, token[:, None]], axis=1)[:, -model.config.block_size :]
                if cache is None:
                    logits = _last_logits(model, context)
                elif cache.length < model.config.block_size:
                    logits = forward_cached(model, token[:, None], cache, weights)
                else:
                    cache.reset()
                    logits = forward_cached(model, context, cache, weights)
    finally:
        model.train(was_training)
