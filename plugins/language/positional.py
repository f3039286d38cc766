"""Positional encodings: a learned table (GPT-2 / nanoGPT) or the fixed sinusoids of "Attention Is All You Need"."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinytorch_core import Tensor
from tinytorch_core.nn import Module, Parameter, init
from tinytorch_core.tensor import get_default_dtype

__all__ = ["PositionalEncoding", "sinusoidal_table"]

_KINDS = ("learned", "sinusoidal")


def sinusoidal_table(block_size: int, d_model: int) -> np.ndarray[Any, Any]:
    """The (block_size, d_model) table: even columns sin(pos / 10000^(2i/d)), odd columns the cosine."""
    positions = np.arange(block_size, dtype=np.float64)[:, None]
    freqs = np.exp(-np.log(10000.0) * np.arange(0, d_model, 2, dtype=np.float64) / d_model)
    table = np.zeros((block_size, d_model), dtype=np.float64)
    table[:, 0::2] = np.sin(positions * freqs)
    table[:, 1::2] = np.cos(positions * freqs[: d_model // 2])
    return table


class PositionalEncoding(Module):
    """A (block_size, d_model) table of position vectors.

    ``kind="learned"`` (default) is a trainable ``weight`` initialised N(0, 0.02) as in nanoGPT;
    ``kind="sinusoidal"`` is a fixed buffer ``table``. ``pe(T)`` returns rows ``0..T-1`` (T, d)
    and ``pe(T, offset=s)`` rows ``s..s+T-1`` (for incremental decoding); ``pe(x)`` with a
    (B, T, d) tensor returns ``x`` plus the first T rows.
    """

    def __init__(self, block_size: int, d_model: int, kind: str = "learned") -> None:
        super().__init__()
        if block_size <= 0 or d_model <= 0:
            raise ValueError(f"PositionalEncoding needs positive sizes, got block_size={block_size}, d_model={d_model}")
        if kind not in _KINDS:
            raise ValueError(f"PositionalEncoding: kind must be one of {_KINDS}, got {kind!r}")
        self.block_size = block_size
        self.d_model = d_model
        self.kind = kind
        if kind == "learned":
            self.weight = Parameter(np.empty((block_size, d_model), dtype=get_default_dtype()))
            init.normal_(self.weight, 0.0, 0.02)
        else:
            self.register_buffer("table", sinusoidal_table(block_size, d_model).astype(get_default_dtype()))

    def forward(self, length: int | Tensor, offset: int = 0) -> Tensor:
        """Rows ``offset..offset+length-1`` of the table, or ``x + table[:T]`` for a (B, T, d) tensor ``x``."""
        if isinstance(length, Tensor):
            x = length
            if x.ndim != 3 or x.shape[-1] != self.d_model:
                raise ValueError(f"PositionalEncoding: expected (B, T, {self.d_model}) input, got {x.shape}")
            return x + self.forward(x.shape[1], offset)
        steps = int(length)
        if steps <= 0:
            raise ValueError(f"PositionalEncoding: sequence length must be positive, got {steps}")
        if offset < 0 or offset + steps > self.block_size:
            raise ValueError(
                f"PositionalEncoding: positions {offset}..{offset + steps - 1} exceed block_size={self.block_size} "
                f"(sequence length {offset + steps}); crop the input to the last {self.block_size} tokens"
            )
        if self.kind == "learned":
            return self.weight[offset : offset + steps]
        table = self._buffers["table"]
        assert table is not None  # registered in __init__ for the sinusoidal kind
        return Tensor(table[offset : offset + steps], dtype=table.dtype)

    def extra_repr(self) -> str:
        return f"block_size={self.block_size}, d_model={self.d_model}, kind={self.kind!r}"
