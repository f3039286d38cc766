"""Tests of the timeseries plugin: layer correctness, data determinism, and the conformance kit."""

from __future__ import annotations

import numpy as np
import pytest

from registry.manager import PluginManager
from registry.testing import check_plugin_object, registered_plugin
from tinytorch_core import Tensor
from tinytorch_core.gradcheck import gradcheck
from tinytorch_timeseries import plugin
from tinytorch_timeseries.conv import CausalConv1d
from tinytorch_timeseries.data import sine_waves


def test_causal_conv_matches_direct_loop() -> None:
    conv = CausalConv1d(2, 3, kernel_size=3, dilation=2)
    x = np.random.default_rng(1).normal(size=(2, 7, 2)).astype(np.float32)
    out = conv(Tensor(x)).data
    w = conv.weight.data.reshape(3, 3, 2)  # (out, tap, in), taps oldest first
    expected = np.zeros((2, 7, 3), dtype=np.float64)
    for t in range(7):
        for k in range(3):
            source = t - (2 - k) * 2
            if source >= 0:
                expected[:, t] += x[:, source] @ w[:, k].T
    expected += conv.bias.data
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_causal_conv_never_sees_the_future() -> None:
    conv = CausalConv1d(1, 2, kernel_size=2, dilation=3)
    x = np.zeros((1, 10, 1))
    base = conv(Tensor(x)).data
    x[0, 6, 0] = 1.0
    changed = np.any(conv(Tensor(x)).data != base, axis=2)[0]
    assert not changed[:6].any() and changed[6]


def test_causal_conv_gradcheck_float64() -> None:
    conv = CausalConv1d(2, 2, kernel_size=2, dilation=1).double()
    x = Tensor(np.random.default_rng(0).normal(size=(2, 4, 2)), requires_grad=True, dtype=np.float64)
    assert gradcheck(lambda: conv(x), [x, conv.weight, conv.bias])


def test_causal_conv_rejects_wrong_channels() -> None:
    with pytest.raises(ValueError, match=r"expected input \(batch, time, 2\), got shape \(1, 4, 3\)"):
        CausalConv1d(2, 2)(Tensor(np.zeros((1, 4, 3))))


def test_sine_waves_deterministic_and_shaped() -> None:
    first, second = sine_waves(num_series=8, length=48, window=16, horizon=2), sine_waves(num_series=8, length=48, window=16, horizon=2)
    x1, y1 = first.train.get_batch(np.arange(len(first.train)))
    x2, _ = second.train.get_batch(np.arange(len(second.train)))
    assert np.array_equal(x1, x2) and x1.shape[1] == 16 and y1.shape[1] == 2 and x1.dtype == np.float32
    assert first.info == {"window": 16, "horizon": 2}


def test_plugin_conforms() -> None:
    assert check_plugin_object(plugin, "timeseries") == []


def test_components_attributed(plugin_manager: PluginManager) -> None:
    with registered_plugin(plugin_manager, plugin, name="timeseries"):
        assert plugin_manager.get("models", "conv_forecaster").plugin == "timeseries"
        assert plugin_manager.get("datasets", "sine_waves").meta["sample_config"]["window"] == 16
