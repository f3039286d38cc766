"""The pre-LayerNorm transformer block: ``x + attn(ln1(x))`` then ``x + ff(ln2(x))``."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from plugins.language.attention import MultiHeadAttention
from tinytorch_core import Tensor
from tinytorch_core.nn import GELU, Dropout, LayerNorm, Linear, Module, Sequential, init

__all__ = ["TransformerBlock"]


class TransformerBlock(Module):
    """One GPT block with residual connections around attention and the feed-forward network.

    Two ways to build it:

    - ``TransformerBlock(d_model, num_heads, d_ff=None, dropout=0.0)``: nanoGPT's block, the
      feed-forward being ``Sequential([Linear(d, d_ff), GELU(tanh), Linear(d_ff, d)])`` with
      ``d_ff = 4 * d_model`` by default;
    - ``TransformerBlock(attention=MultiHeadAttention(128, 8), feedforward=Sequential([...]))``:
      the course's composed form, with ``d_model`` taken from the attention module.

    Parameter names: ``ln1``, ``attention``, ``ln2``, ``feedforward``. ``layer_norm_eps`` (1e-5) and
    ``gelu_approximate`` (``"tanh"``, GPT-2's; ``"none"`` is the erf form) are PyTorch's
    ``LayerNorm(eps=...)`` and ``GELU(approximate=...)``, for GPT-2-family variants.
    """

    def __init__(
        self,
        d_model: int | None = None,
        num_heads: int | None = None,
        d_ff: int | None = None,
        dropout: float = 0.0,
        *,
        attention: Module | None = None,
        feedforward: Module | None = None,
        layer_norm_eps: float = 1e-5,
        gelu_approximate: str = "tanh",
    ) -> None:
        super().__init__()
        if attention is not None:
            inferred = getattr(attention, "d_model", None)
            if not isinstance(inferred, int):
                raise TypeError("TransformerBlock(attention=...) needs a module with an int `d_model` (e.g. MultiHeadAttention)")
            if d_model is not None and d_model != inferred:
                raise ValueError(f"TransformerBlock: d_model={d_model} but the attention module has d_model={inferred}")
            d_model = inferred
        else:
            if d_model is None or num_heads is None:
                raise ValueError(
                    "TransformerBlock needs d_model and num_heads, e.g. TransformerBlock(128, 8), "
                    "or a ready module: TransformerBlock(attention=MultiHeadAttention(128, 8), feedforward=...)"
                )
            attention = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        if feedforward is None:
            hidden = d_ff if d_ff is not None else 4 * d_model
            if hidden <= 0:
                raise ValueError(f"TransformerBlock: d_ff must be positive, got {hidden}")
            feedforward = Sequential([Linear(d_model, hidden), GELU(gelu_approximate), Linear(hidden, d_model)])
            for layer in feedforward.children():
                if isinstance(layer, Linear):
                    init.normal_(layer.weight, 0.0, 0.02)
                    if layer.bias is not None:
                        init.zeros_(layer.bias)
        self.d_model = d_model
        self.dropout_p = dropout
        self.ln1 = LayerNorm(d_model, eps=layer_norm_eps)
        self.attention = attention
        self.ln2 = LayerNorm(d_model, eps=layer_norm_eps)
        self.feedforward = feedforward
        self.ff_dropout = Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        padding_mask: np.ndarray[Any, Any] | Tensor | None = None,
    ) -> Tensor:
        """(B, T, d_model) -> (B, T, d_model); ``padding_mask`` ((B, T) bool) goes to the attention module."""
        if padding_mask is None:
            attended = self.attention(self.ln1(x))
        elif isinstance(self.attention, MultiHeadAttention):
            attended = self.attention(self.ln1(x), padding_mask=padding_mask)
        else:
            raise TypeError("TransformerBlock: padding_mask needs a MultiHeadAttention attention module")
        x = x + cast(Tensor, attended)
        hidden: Tensor = self.feedforward(self.ln2(x))
        if self.dropout_p > 0.0 and self.training:
            hidden = self.ff_dropout(hidden)
        return x + hidden

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}"
