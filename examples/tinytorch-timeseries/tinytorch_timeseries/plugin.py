"""Entry point of the ``timeseries`` plugin: the hooks TinyTorch calls."""

from __future__ import annotations

import numpy as np

from tinytorch_core import Tensor
from tinytorch_core.hookspecs import Register, hookimpl

from tinytorch_timeseries.conv import CausalConv1d
from tinytorch_timeseries.data import forecasting_pairs, sine_series, sine_waves
from tinytorch_timeseries.model import ConvForecaster, forecast_loss


def _conv_input() -> tuple[Tensor]:
    return (Tensor(np.random.default_rng(0).normal(size=(2, 5, 2))),)


def _forecast_batch() -> tuple[np.ndarray, np.ndarray]:
    x, y = forecasting_pairs(sine_series(num_series=2, length=48, noise=0.05, seed=0), window=16, horizon=2, stride=2)
    return x[:16], y[:16]


@hookimpl
def tinytorch_register_modalities(register: Register) -> None:
    """The ``timeseries`` modality."""
    register("timeseries", "time series: causal convolutions and forecasting")


@hookimpl
def tinytorch_register_modules(register: Register) -> None:
    """``causal_conv1d``."""
    register("causal_conv1d", CausalConv1d, description="dilated causal 1-D convolution, channels-last",
             kwargs={"in_channels": 2, "out_channels": 3, "kernel_size": 2, "dilation": 2}, sample_input=_conv_input)


@hookimpl
def tinytorch_register_datasets(register: Register) -> None:
    """``sine_waves``."""
    register("sine_waves", sine_waves, description="noisy sine waves -> (window, next values) pairs",
             sample_config={"num_series": 8, "length": 48, "window": 16, "horizon": 2})


@hookimpl
def tinytorch_register_models(register: Register) -> None:
    """``conv_forecaster`` with an MSE loss."""
    register("conv_forecaster", ConvForecaster, description="dilated causal conv stack + linear head (MSE)",
             sample_kwargs={"horizon": 2, "channels": 4, "num_layers": 2}, sample_batch=_forecast_batch,
             loss_fn=forecast_loss)


@hookimpl
def tinytorch_register_reuse_targets(register: Register) -> None:
    """One forecaster training step, for ``tinytorch report reuse``."""
    register("conv_forecaster", lambda: ConvForecaster(horizon=2, channels=8, num_layers=2),
             description="3-layer causal conv forecaster, batch 16 x 16 steps",
             sample_batch=_forecast_batch, loss_fn=forecast_loss)
