"""Dilated causal 1-D convolution on channels-last input, built from core ops."""

from __future__ import annotations

import math

import numpy as np

from tinytorch_core import Tensor, concatenate
from tinytorch_core import functional as F
from tinytorch_core import nn


class CausalConv1d(nn.Module):
    """``y[t] = b + sum_k W[k] x[t - (K-1-k) * dilation]``: output at ``t`` sees only inputs at ``<= t``.

    Input and output are channels-last, ``(batch, time, channels)``. The receptive windows are
    gathered with one integer-array index (left zero padding keeps the length), and all positions
    are mixed in one matmul.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1) -> None:
        super().__init__()
        if min(in_channels, out_channels, kernel_size, dilation) < 1:
            raise ValueError(
                f"CausalConv1d: channels, kernel_size and dilation must be >= 1, got in={in_channels},"
                f" out={out_channels}, kernel_size={kernel_size}, dilation={dilation}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.dilation = dilation
        bound = 1.0 / math.sqrt(in_channels * kernel_size)
        self.weight = nn.Parameter(np.zeros((out_channels, kernel_size * in_channels)))
        self.bias = nn.Parameter(np.zeros(out_channels))
        nn.init.uniform_(self.weight, -bound, bound)  # from the global generator: manual_seed reproduces it

    def forward(self, x: Tensor) -> Tensor:
        """(batch, time, in_channels) -> (batch, time, out_channels)."""
        if x.ndim != 3 or x.shape[2] != self.in_channels:
            raise ValueError(
                f"CausalConv1d: expected input (batch, time, {self.in_channels}), got shape {x.shape}"
            )
        batch, time, channels = x.shape
        pad = (self.kernel_size - 1) * self.dilation
        padded = concatenate([Tensor(np.zeros((batch, pad, channels), dtype=x.dtype), dtype=x.dtype), x], axis=1) if pad else x
        # window[t, k] = padded position of tap k for output t (taps oldest first)
        taps = np.arange(time)[:, None] + np.arange(self.kernel_size)[None, :] * self.dilation
        windows = padded[:, taps, :].reshape(batch, time, self.kernel_size * channels)
        return F.linear(windows, self.weight, self.bias)

    def extra_repr(self) -> str:
        """Shown by ``repr(module)``."""
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, dilation={self.dilation}"
