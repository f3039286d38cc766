"""TinyTorch plugin for time series: causal convolutions, synthetic sine data, a forecaster."""

__version__ = "0.1.0"
