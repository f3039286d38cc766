"""A causal convolutional forecaster and its loss."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinytorch_core import Tensor
from tinytorch_core import functional as F
from tinytorch_core import nn

from tinytorch_timeseries.conv import CausalConv1d


class ConvForecaster(nn.Module):
    """(batch, window) values -> (batch, horizon) predictions.

    Dilations double per layer (1, 2, 4, ...), so the receptive field grows exponentially; the head
    reads the features of the last time step, which have seen the whole receptive field.
    """

    def __init__(self, horizon: int = 4, channels: int = 16, kernel_size: int = 3, num_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 1
        for depth in range(num_layers):
            layers += [CausalConv1d(in_channels, channels, kernel_size, dilation=2**depth), nn.GELU()]
            in_channels = channels
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(channels, horizon)

    def forward(self, x: Tensor) -> Tensor:
        """(batch, window) -> (batch, horizon)."""
        features = self.body(x.unsqueeze(-1))  # (batch, window, channels)
        last: Tensor = features[:, -1, :]
        out: Tensor = self.head(last)
        return out


def forecast_loss(model: nn.Module, batch: Sequence[Any]) -> Tensor:
    """Mean squared error of the forecast against the next ``horizon`` values."""
    inputs, targets = batch[0], batch[1]
    prediction = model(inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs)))
    return F.mse_loss(prediction, np.asarray(targets, dtype=prediction.dtype))
