"""Synthetic, deterministic time-series data: noisy sine waves cut into forecasting windows."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinytorch_core.data import ArrayDataset, DataSplits


def sine_series(num_series: int, length: int, noise: float, seed: int) -> np.ndarray:
    """(num_series, length) float32: amplitude * sin(2 pi f t + phase) + noise, all drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.02, 0.1, size=(num_series, 1))  # 10 to 50 steps per cycle
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(num_series, 1))
    amplitude = rng.uniform(0.5, 1.5, size=(num_series, 1))
    t = np.arange(length)[None, :]
    clean = amplitude * np.sin(2.0 * np.pi * freq * t + phase)
    return (clean + noise * rng.standard_normal((num_series, length))).astype(np.float32)


def forecasting_pairs(series: np.ndarray, window: int, horizon: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """All (previous ``window`` values -> next ``horizon`` values) pairs, every ``stride`` steps."""
    spans = sliding_window_view(series, window + horizon, axis=1)[:, ::stride]  # (series, n, window+horizon)
    flat = spans.reshape(-1, window + horizon)
    return np.ascontiguousarray(flat[:, :window]), np.ascontiguousarray(flat[:, window:])


def sine_waves(
    num_series: int = 64,
    length: int = 160,
    window: int = 32,
    horizon: int = 4,
    noise: float = 0.05,
    stride: int = 2,
    val_fraction: float = 0.25,
    seed: int = 0,
) -> DataSplits:
    """Train on the first series, validate on held-out series (no window of a val series is seen)."""
    if window < 1 or horizon < 1 or stride < 1:
        raise ValueError(f"sine_waves: window, horizon and stride must be >= 1, got {window}, {horizon}, {stride}")
    if length < window + horizon:
        raise ValueError(f"sine_waves: length={length} is shorter than window + horizon = {window + horizon}")
    num_val = int(round(num_series * val_fraction))
    if not 1 <= num_val < num_series:
        raise ValueError(f"sine_waves: val_fraction={val_fraction} of {num_series} series leaves no train or val series")
    series = sine_series(num_series, length, noise, seed)
    train_x, train_y = forecasting_pairs(series[:-num_val], window, horizon, stride)
    val_x, val_y = forecasting_pairs(series[-num_val:], window, horizon, stride)
    return DataSplits(ArrayDataset(train_x, train_y), ArrayDataset(val_x, val_y),
                      {"window": window, "horizon": horizon})
