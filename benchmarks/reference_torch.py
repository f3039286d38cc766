"""A PyTorch model of exactly TinyGPT's architecture, for the benchmarks and the parity test.

Same parameter names as ``plugins.language.model.TinyGPT`` (nanoGPT's layout), so a TinyGPT
``state_dict()`` loads 1:1 with :meth:`ReferenceGPT.load_from_tinytorch`:

- ``token_embedding.weight`` (V, d), ``position.weight`` (block_size, d) learned;
- per block ``i``: ``blocks.{i}.ln1``, ``blocks.{i}.attention.qkv`` (d -> 3d, rows [q; k; v], head
  ``h`` = rows ``h*hd:(h+1)*hd`` of each), ``blocks.{i}.attention.proj``, ``blocks.{i}.ln2``,
  ``blocks.{i}.feedforward.0`` (d -> 4d), GELU (tanh approximation), ``blocks.{i}.feedforward.2``;
- ``ln_f``; the LM head is the token embedding (tied, no bias).

Pre-LN blocks (``x + attn(ln1(x))``, ``x + ff(ln2(x))``), causal attention with scale
1/sqrt(hd), LayerNorm eps 1e-5, no dropout. Attention uses ``F.scaled_dot_product_attention``
(``attention="sdpa"``, the default: PyTorch's fastest CPU path, a fair baseline) or an explicit
masked softmax (``attention="explicit"``, the textbook formula, used by the parity test as a
second opinion).

Generation (:meth:`ReferenceGPT.generate`) keeps its own preallocated KV cache and follows
TinyGPT's schedule exactly (same work per token), so tokens/s compare like for like.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ReferenceGPT", "AttentionKind", "torch_dtype_of"]

AttentionKind = Literal["sdpa", "explicit"]
# One (keys, values) pair per layer, each (B, H, capacity, hd), plus the number of filled positions.
LayerCache = tuple[torch.Tensor, torch.Tensor]


def torch_dtype_of(dtype: np.dtype[Any] | type[np.floating[Any]]) -> torch.dtype:
    """The torch dtype matching a numpy floating dtype (float32 or float64)."""
    table = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
    key = np.dtype(dtype)
    if key not in table:
        raise TypeError(f"reference_torch: unsupported dtype {key}; use float32 or float64")
    return table[key]


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with a fused q|k|v projection (``qkv``) and ``proj``."""

    def __init__(self, d_model: int, num_heads: int, attention: AttentionKind = "sdpa") -> None:
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.attention = attention
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int) -> torch.Tensor:
        """Attention of ``q`` (B, H, Tq, hd) at positions ``start..`` over keys ``0..start+Tq-1``."""
        steps, total = q.shape[2], k.shape[2]
        if self.attention == "sdpa":
            if start == 0:
                return F.scaled_dot_product_attention(q, k, v, is_causal=True)
            if steps == 1:  # one new query sees every cached key: no mask at all
                return F.scaled_dot_product_attention(q, k, v)
            # is_causal aligns the mask top-left; queries at the end of the keys need an explicit one
            allowed = torch.ones(steps, total, dtype=torch.bool).tril(diagonal=total - steps)
            return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
        allowed = torch.ones(steps, total, dtype=torch.bool).tril(diagonal=total - steps)
        scores = scores.masked_fill(~allowed, float("-inf"))
        return torch.softmax(scores, dim=-1) @ v

    def forward(self, x: torch.Tensor, cache: LayerCache | None = None, start: int = 0) -> torch.Tensor:
        """(B, T, d) -> (B, T, d); with ``cache`` the new keys/values are written at ``start``."""
        batch, steps, width = x.shape
        q, k, v = self.qkv(x).view(batch, steps, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        if cache is not None:
            keys, values = cache
            end = start + steps
            keys[:, :, start:end] = k
            values[:, :, start:end] = v
            k, v = keys[:, :, :end], values[:, :, :end]
        mixed = self._attend(q, k, v, start if cache is not None else 0)
        result: torch.Tensor = self.proj(mixed.transpose(1, 2).reshape(batch, steps, width))
        return result


class Block(nn.Module):
    """Pre-LayerNorm transformer block with a GELU(tanh) feed-forward of width 4d."""

    def __init__(self, d_model: int, num_heads: int, attention: AttentionKind = "sdpa") -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model, eps=1e-5)
        self.attention = CausalSelfAttention(d_model, num_heads, attention)
        self.ln2 = nn.LayerNorm(d_model, eps=1e-5)
        self.feedforward = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(approximate="tanh"), nn.Linear(4 * d_model, d_model)
        )

    def forward(self, x: torch.Tensor, cache: LayerCache | None = None, start: int = 0) -> torch.Tensor:
        """(B, T, d) -> (B, T, d)."""
        x = x + self.attention(self.ln1(x), cache, start)
        result: torch.Tensor = x + self.feedforward(self.ln2(x))
        return result


class ReferenceGPT(nn.Module):
    """nanoGPT-shaped decoder matching TinyGPT parameter for parameter; ``model(idx)`` -> logits (B, T, V)."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        num_layers: int,
        num_heads: int,
        block_size: int,
        attention: AttentionKind = "sdpa",
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.block_size = block_size
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(block_size, d_model)
        self.blocks = nn.ModuleList([Block(d_model, num_heads, attention) for _ in range(num_layers)])
        self.ln_f = nn.LayerNorm(d_model, eps=1e-5)
        for module in self.modules():
            # nanoGPT's init, only so that a torch-only run (the memory probe) starts sensibly;
            # LayerNorms keep torch's ones/zeros
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, 0.0, 0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor, caches: list[LayerCache] | None = None, start: int = 0) -> torch.Tensor:
        """Logits (B, T, V) for integer tokens ``idx`` (B, T) at positions ``start..start+T-1``."""
        steps = idx.shape[1]
        if start + steps > self.block_size:
            raise ValueError(f"positions up to {start + steps - 1} exceed block_size={self.block_size}")
        x = self.token_embedding(idx) + self.position.weight[start : start + steps]
        for i, block in enumerate(self.blocks):
            x = block(x, caches[i] if caches is not None else None, start)
        return F.linear(self.ln_f(x), self.token_embedding.weight)

    def load_from_tinytorch(self, state_dict: Mapping[str, np.ndarray[Any, Any]]) -> None:
        """Copy a TinyGPT ``state_dict()`` (name -> ndarray) into this model, names matched 1:1.

        Values are cast to this model's dtype (call ``.double()`` first for a float64 copy).
        Raises ``KeyError`` listing missing/unexpected names and ``ValueError`` on a shape mismatch.
        """
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(own))
        if missing or unexpected:
            raise KeyError(
                f"load_from_tinytorch: parameter names differ from TinyGPT's; missing {missing}, "
                f"unexpected {unexpected} (is the config - layers, tie_weights - the same?)"
            )
        with torch.no_grad():
            for name, param in own.items():
                value = np.asarray(state_dict[name])
                if tuple(value.shape) != tuple(param.shape):
                    raise ValueError(
                        f"load_from_tinytorch: {name} has shape {value.shape} in TinyGPT but "
                        f"{tuple(param.shape)} here; build both models with the same config"
                    )
                param.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    def numpy_state_dict(self) -> dict[str, np.ndarray[Any, Any]]:
        """Parameters as ``name -> ndarray`` copies (TinyGPT's naming)."""
        return {name: p.detach().cpu().numpy().copy() for name, p in self.named_parameters()}

    def numpy_grads(self) -> dict[str, np.ndarray[Any, Any]]:
        """Gradients as ``name -> ndarray`` copies; a parameter without a gradient is an error."""
        grads: dict[str, np.ndarray[Any, Any]] = {}
        for name, p in self.named_parameters():
            if p.grad is None:
                raise ValueError(f"numpy_grads: {name} has no gradient; call backward() first")
            grads[name] = p.grad.detach().cpu().numpy().copy()
        return grads

    def new_cache(self, batch: int) -> list[LayerCache]:
        """A preallocated (B, H, block_size, hd) key and value buffer per layer."""
        param = self.token_embedding.weight
        shape = (batch, self.num_heads, self.block_size, self.d_model // self.num_heads)
        return [
            (torch.zeros(shape, dtype=param.dtype), torch.zeros(shape, dtype=param.dtype))
            for _ in range(self.num_layers)
        ]

    @torch.inference_mode()
    def generate(
        self,
        idx: np.ndarray[Any, Any],
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
    ) -> np.ndarray[Any, Any]:
        """Prompt ``idx`` (B, T) followed by ``max_new_tokens`` sampled tokens, as an int64 array.

        Same schedule as TinyGPT's ``generate_tokens``: the prompt (cropped to its last block_size
        tokens) fills a preallocated KV cache, each new token then runs alone; once the context is
        block_size tokens long, every new token shifts all positions (learned absolute positions), so
        the window of the last block_size tokens is re-encoded from an empty cache - nanoGPT's
        sliding-window semantics. ``temperature == 0`` or ``top_k == 1`` is greedy decoding.
        """
        prompt = np.asarray(idx, dtype=np.int64)
        if prompt.ndim != 2 or prompt.shape[1] == 0:
            raise ValueError(f"generate: idx must be a non-empty (B, T) integer array, got shape {prompt.shape}")
        batch, prompt_len = prompt.shape
        out = torch.empty((batch, prompt_len + max_new_tokens), dtype=torch.long)
        out[:, :prompt_len] = torch.from_numpy(prompt)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        caches = self.new_cache(batch)
        length = prompt_len
        filled = min(length, self.block_size)
        logits = self(out[:, length - filled : length], caches, 0)[:, -1]
        for _ in range(max_new_tokens):
            out[:, length] = _sample(logits, temperature, top_k, generator)
            length += 1
            if length == out.shape[1]:
                break
            if filled < self.block_size:
                logits = self(out[:, length - 1 : length], caches, filled)[:, -1]
                filled += 1
            else:
                logits = self(out[:, length - self.block_size : length], caches, 0)[:, -1]
        return out.numpy()


def _sample(logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None) -> torch.Tensor:
    """Next token per row of ``logits`` (B, V): greedy, or sampled after temperature and top-k."""
    if temperature == 0.0 or top_k == 1:
        return logits.argmax(dim=-1)
    scaled = logits / temperature
    if top_k is not None and top_k < scaled.shape[-1]:
        threshold = torch.topk(scaled, top_k, dim=-1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < threshold, float("-inf"))
    probs = torch.softmax(scaled, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
