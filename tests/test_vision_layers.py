"""Vision layers: float64 gradient checks, parity with direct loop references (the loops live here,
never in the library), batch-norm formulas and PyTorch parity, shape errors, float32 discipline."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

from plugins.vision import AvgPool2d, BatchNorm2d, Conv2d, Flatten, MaxPool2d
from plugins.vision import functional as VF
from tinytorch_core import Tensor
from tinytorch_core.gradcheck import gradcheck

Array = np.ndarray[Any, Any]
HAS_TORCH = importlib.util.find_spec("torch") is not None


def _x(*shape: int, seed: int = 0, requires_grad: bool = True) -> Tensor:
    data = np.random.default_rng(seed).standard_normal(shape)
    return Tensor(data, requires_grad=requires_grad, dtype=np.float64)


# ---------------------------------------------------------------------------- loop references
def conv_reference(x: Array, w: Array, b: Array | None, stride: tuple[int, int], padding: tuple[int, int]) -> Array:
    """Seven nested loops, the textbook definition."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ph, pw = padding
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph : ph + h, pw : pw + wd] = x
    ho = (h + 2 * ph - kh) // stride[0] + 1
    wo = (wd + 2 * pw - kw) // stride[1] + 1
    out = np.zeros((n, o, ho, wo))
    for i in range(n):
        for oc in range(o):
            for r in range(ho):
                for s in range(wo):
                    total = 0.0 if b is None else b[oc]
                    for ic in range(c):
                        for u in range(kh):
                            for v in range(kw):
                                total += xp[i, ic, r * stride[0] + u, s * stride[1] + v] * w[oc, ic, u, v]
                    out[i, oc, r, s] = total
    return out


def pool_reference(x: Array, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
                   mode: str) -> Array:
    n, c, h, w = x.shape
    ph, pw = padding
    fill = -np.inf if mode == "max" else 0.0
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), fill)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    ho = (h + 2 * ph - kernel[0]) // stride[0] + 1
    wo = (w + 2 * pw - kernel[1]) // stride[1] + 1
    out = np.zeros((n, c, ho, wo))
    for i in range(n):
        for ch in range(c):
            for r in range(ho):
                for s in range(wo):
                    window = xp[i, ch, r * stride[0] : r * stride[0] + kernel[0], s * stride[1] : s * stride[1] + kernel[1]]
                    out[i, ch, r, s] = window.max() if mode == "max" else window.mean()
    return out


CONV_CASES = [
    # (in, out, kernel, stride, padding, input H, W)
    (3, 4, 3, 1, 0, 7, 6),
    (2, 3, (3, 2), (2, 1), 1, 7, 6),
    (1, 2, 5, 2, 2, 9, 11),
    (2, 2, 1, 3, 0, 8, 7),
    (3, 5, (2, 4), 3, (1, 2), 5, 9),  # stride larger than the kernel: some pixels get no gradient
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_loop_reference(case: tuple[Any, ...]) -> None:
    cin, cout, k, s, p, h, w = case
    conv = Conv2d(cin, cout, k, stride=s, padding=p).double()
    x = _x(2, cin, h, w, requires_grad=False)
    got = conv(x).data
    assert conv.bias is not None
    want = conv_reference(x.data, conv.weight.data, conv.bias.data, conv.stride, conv.padding)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_gradcheck(case: tuple[Any, ...]) -> None:
    cin, cout, k, s, p, h, w = case
    conv = Conv2d(cin, cout, k, stride=s, padding=p).double()
    x = _x(2, cin, h, w, seed=1)
    assert conv.bias is not None
    assert gradcheck(lambda: conv(x), [x, conv.weight, conv.bias])


def test_conv2d_without_bias_gradcheck() -> None:
    conv = Conv2d(2, 3, 3, padding=1, bias=False).double()
    assert conv.bias is None
    x = _x(1, 2, 5, 4)
    assert gradcheck(lambda: conv(x), [x, conv.weight])


POOL_CASES = [
    # (kernel, stride, padding, H, W)
    (2, None, 0, 6, 6),
    (2, None, 0, 7, 5),  # odd sizes: the last row/column is dropped (floor mode)
    (3, 2, 1, 7, 6),
    ((2, 3), (1, 2), 0, 5, 7),
    (3, 1, 0, 4, 5),
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_matches_loop_reference(case: tuple[Any, ...], mode: str) -> None:
    k, s, p, h, w = case
    layer = MaxPool2d(k, s, p) if mode == "max" else AvgPool2d(k, s, p)
    x = _x(2, 3, h, w, requires_grad=False)
    got = layer(x).data
    want = pool_reference(x.data, layer.kernel_size, layer.stride, layer.padding, mode)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_gradcheck(case: tuple[Any, ...], mode: str) -> None:
    k, s, p, h, w = case
    layer = MaxPool2d(k, s, p) if mode == "max" else AvgPool2d(k, s, p)
    x = _x(2, 2, h, w, seed=2)  # continuous random values: no ties, so max is differentiable here
    assert gradcheck(lambda: layer(x), [x])


def test_maxpool_ties_route_gradient_to_one_element() -> None:
    x = Tensor(np.ones((1, 1, 4, 4)), requires_grad=True, dtype=np.float64)
    MaxPool2d(2)(x).sum().backward()
    assert x.grad is not None
    # Each 2x2 window of equal values sends its whole gradient to exactly one element.
    windows = x.grad.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(4, 4)
    np.testing.assert_array_equal(windows.sum(axis=1), np.ones(4))
    np.testing.assert_array_equal((windows != 0).sum(axis=1), np.ones(4))


def test_overlapping_maxpool_accumulates_gradient() -> None:
    x = Tensor(np.zeros((1, 1, 3, 3)), requires_grad=True, dtype=np.float64)
    x.data[0, 0, 1, 1] = 5.0  # the centre is the maximum of all four overlapping 2x2 windows
    MaxPool2d(2, stride=1)(x).sum().backward()
    assert x.grad is not None
    expected = np.zeros((3, 3))
    expected[1, 1] = 4.0
    np.testing.assert_array_equal(x.grad[0, 0], expected)


# ---------------------------------------------------------------------------- batch norm
def test_batchnorm_train_matches_formulas_and_updates_running_stats() -> None:
    bn = BatchNorm2d(3, momentum=0.2).double()
    assert bn.weight is not None and bn.bias is not None
    bn.weight.data[...] = [1.5, -0.5, 2.0]
    bn.bias.data[...] = [0.1, 0.2, -0.3]
    x = _x(4, 3, 5, 2, requires_grad=False)
    x.data[...] = x.data * 3 + 1
    out = bn(x).data
    mean = x.data.mean(axis=(0, 2, 3))
    var = x.data.var(axis=(0, 2, 3))
    want = (x.data - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) * bn.weight.data[:, None, None] \
        + bn.bias.data[:, None, None]
    np.testing.assert_allclose(out, want, rtol=1e-10)
    count = 4 * 5 * 2
    np.testing.assert_allclose(bn.running_mean, 0.8 * 0 + 0.2 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.8 * 1 + 0.2 * var * count / (count - 1), rtol=1e-12)


def test_batchnorm_eval_uses_running_stats_and_does_not_update_them() -> None:
    bn = BatchNorm2d(2).double()
    bn.running_mean[...] = [0.5, -1.0]
    bn.running_var[...] = [4.0, 0.25]
    bn.eval()
    x = _x(3, 2, 4, 4, requires_grad=False)
    out = bn(x).data
    want = (x.data - bn.running_mean[:, None, None]) / np.sqrt(bn.running_var[:, None, None] + 1e-5)
    np.testing.assert_allclose(out, want, rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, [0.5, -1.0])
    np.testing.assert_array_equal(bn.running_var, [4.0, 0.25])


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradcheck(training: bool) -> None:
    bn = BatchNorm2d(3).double()
    assert bn.weight is not None and bn.bias is not None
    bn.weight.data[...] = [1.2, 0.7, -0.4]
    bn.running_var[...] = [0.5, 2.0, 1.5]
    bn.train(training)
    x = _x(4, 3, 3, 5, seed=3)
    assert gradcheck(lambda: bn(x), [x, bn.weight, bn.bias])


def test_batchnorm_state_dict_holds_running_stats() -> None:
    bn = BatchNorm2d(2)
    bn(_x(4, 2, 3, 3, requires_grad=False).float())
    state = bn.state_dict()
    assert set(state) == {"weight", "bias", "running_mean", "running_var"}
    fresh = BatchNorm2d(2)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.running_mean, bn.running_mean)
    np.testing.assert_array_equal(fresh.running_var, bn.running_var)


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed (the bench extra: pip install -e '.[bench]')")
def test_batchnorm_matches_torch_train_and_eval() -> None:
    torch: Any = importlib.import_module("torch")

    x = np.random.default_rng(4).standard_normal((6, 3, 4, 5)) * 2 + 0.5
    ours = BatchNorm2d(3, momentum=0.3).double()
    ref = torch.nn.BatchNorm2d(3, momentum=0.3).double()
    xt = torch.tensor(x, requires_grad=True)
    xo = Tensor(x, requires_grad=True, dtype=np.float64)
    w = np.random.default_rng(5).standard_normal((6, 3, 4, 5))
    for _ in range(2):  # two training steps move the running statistics
        (ref(xt) * torch.tensor(w)).sum().backward()
        (ours(xo) * Tensor(w, dtype=np.float64)).sum().backward()
    np.testing.assert_allclose(ours.running_mean, ref.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, ref.running_var.numpy(), rtol=1e-12)
    assert xo.grad is not None and xt.grad is not None and ours.weight is not None
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, ref.weight.grad.numpy(), rtol=1e-9)
    ours.eval()
    ref.eval()
    np.testing.assert_allclose(ours(xo).data, ref(xt).detach().numpy(), rtol=1e-10)


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed (the bench extra: pip install -e '.[bench]')")
def test_conv_and_pool_match_torch_float32() -> None:
    torch: Any = importlib.import_module("torch")

    conv = Conv2d(3, 8, 3, stride=2, padding=1)
    ref = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
    assert conv.bias is not None
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(conv.weight.data))
        ref.bias.copy_(torch.tensor(conv.bias.data))
    x = np.random.default_rng(6).standard_normal((4, 3, 11, 10)).astype(np.float32)
    xo, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_o = MaxPool2d(2)(conv(xo))
    out_t = torch.nn.functional.max_pool2d(ref(xt), 2)
    np.testing.assert_allclose(out_o.data, out_t.detach().numpy(), rtol=1e-4, atol=1e-5)
    out_o.sum().backward()
    out_t.sum().backward()
    assert xo.grad is not None and xt.grad is not None and conv.weight.grad is not None
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(conv.weight.grad, ref.weight.grad.numpy(), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------- flatten, init, dtype
def test_flatten_gradcheck_and_shape() -> None:
    x = _x(2, 3, 4, 5)
    assert Flatten()(x).shape == (2, 60)
    assert Flatten(2)(x).shape == (2, 3, 20)
    assert gradcheck(lambda: Flatten()(x) * 2.0, [x])


def test_conv_init_follows_pytorch_bounds() -> None:
    conv = Conv2d(4, 16, 3)
    bound = 1.0 / np.sqrt(4 * 3 * 3)  # kaiming-uniform(a=sqrt(5)) reduces to 1/sqrt(fan_in)
    assert conv.weight.shape == (16, 4, 3, 3)
    assert np.abs(conv.weight.data).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.8 * bound
    assert conv.bias is not None and np.abs(conv.bias.data).max() <= bound


def test_layers_stay_float32() -> None:
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32), requires_grad=True)
    conv, bn = Conv2d(3, 4, 3, padding=1), BatchNorm2d(4)
    out = AvgPool2d(2)(MaxPool2d(2, 1)(bn(conv(x))))
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad is not None and x.grad.dtype == np.float32
    assert conv.weight.grad is not None and conv.weight.grad.dtype == np.float32
    assert bn.running_mean.dtype == np.float32 and bn.running_var.dtype == np.float32


# ---------------------------------------------------------------------------- bad input
def test_conv_wrong_channel_count_names_expected_and_actual_shapes() -> None:
    conv = Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"expected input with 3 channels \(N, 3, H, W\), got shape \(2, 1, 8, 8\)"):
        conv(Tensor(np.zeros((2, 1, 8, 8), dtype=np.float32)))


def test_conv_input_smaller_than_kernel_names_shapes() -> None:
    conv = Conv2d(1, 2, 5, padding=1)
    with pytest.raises(ValueError, match=r"smaller than the kernel \(5, 5\).*expected at least \(3, 3\).*\(1, 1, 2, 8\)"):
        conv(Tensor(np.zeros((1, 1, 2, 8), dtype=np.float32)))


def test_conv_rejects_non_4d_input() -> None:
    with pytest.raises(ValueError, match=r"4-D NCHW input \(N, 1, H, W\), got shape \(8, 8\)"):
        Conv2d(1, 2, 3)(Tensor(np.zeros((8, 8), dtype=np.float32)))


def test_pool_input_smaller_than_kernel_names_shapes() -> None:
    with pytest.raises(ValueError, match=r"max_pool2d: input spatial size \(1, 4\).*kernel \(2, 2\).*\(1, 3, 1, 4\)"):
        MaxPool2d(2)(Tensor(np.zeros((1, 3, 1, 4), dtype=np.float32)))


def test_batchnorm_wrong_channels_names_shapes() -> None:
    with pytest.raises(ValueError, match=r"expected input with 4 channels \(N, 4, H, W\), got shape \(2, 3, 5, 5\)"):
        BatchNorm2d(4)(Tensor(np.zeros((2, 3, 5, 5), dtype=np.float32)))


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="positive channel counts"):
        Conv2d(0, 4, 3)
    with pytest.raises(ValueError, match="stride"):
        Conv2d(1, 4, 3, stride=0)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        Conv2d(1, 4, "3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm2d(3, momentum=1.5)


def test_conv_functional_requires_matching_bias() -> None:
    x = Tensor(np.zeros((1, 2, 4, 4), dtype=np.float32))
    w = Tensor(np.zeros((3, 2, 3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        VF.conv2d(x, w, Tensor(np.zeros(2, dtype=np.float32)))
