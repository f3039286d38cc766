"""Fused ops and nn modules: gradient checks, closed forms, registration and state."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import tinytorch_core as tt
from tinytorch_core import Tensor, nn
from tinytorch_core import functional as F
from tinytorch_core.gradcheck import gradcheck


def t64(shape: tuple[int, ...], seed: int = 0) -> Tensor:
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True, dtype=np.float64)


def params64(module: nn.Module) -> list[Tensor]:
    module.double()
    return list(module.parameters())


# ----------------------------------------------------------------- fused ops
def test_linear_layer_norm_gelu_gradcheck() -> None:
    x, w, b = t64((2, 3, 5), 1), t64((4, 5), 2), t64((4,), 3)
    gradcheck(lambda: F.linear(x, w, b), [x, w, b])
    gradcheck(lambda: F.linear(x, w), [x, w])
    g, beta = t64((5,), 4), t64((5,), 5)
    gradcheck(lambda: F.layer_norm(x, g, beta), [x, g, beta])
    gradcheck(lambda: F.layer_norm(x), [x])


@pytest.mark.parametrize("with_weight,with_bias", [(False, True), (True, False)])
def test_layer_norm_gradcheck_with_only_a_weight_or_only_a_bias(with_weight: bool, with_bias: bool) -> None:
    x = t64((2, 3, 5), 1)
    weight, bias = (t64((5,), 4) if with_weight else None), (t64((5,), 5) if with_bias else None)
    inputs = [t for t in (x, weight, bias) if t is not None]
    gradcheck(lambda: F.layer_norm(x, weight, bias), inputs)
    for t in inputs:
        t.grad = None
    F.layer_norm(x, weight, bias).sum().backward()
    assert all(t.grad is not None for t in inputs)  # the bias of layer_norm(x, None, bias) too


def test_layer_norm_closed_form() -> None:
    x = Tensor(np.random.default_rng(0).standard_normal((4, 7)) * 3 + 2, dtype=np.float64)
    y = F.layer_norm(x, eps=0.0).data
    assert np.allclose(y.mean(-1), 0, atol=1e-12)
    assert np.allclose(y.var(-1), 1, atol=1e-10)


def test_gelu_values() -> None:
    xs = np.linspace(-5, 5, 41)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in xs])
    tanh = 0.5 * xs * (1 + np.tanh(math.sqrt(2 / math.pi) * (xs + 0.044715 * xs**3)))
    assert np.allclose(F.gelu(Tensor(xs, dtype=np.float64), "none").data, exact, atol=1e-6)
    assert np.allclose(F.gelu(Tensor(xs, dtype=np.float64)).data, tanh, atol=1e-12)
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(Tensor(xs), "fast")


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore", [None, 1])
def test_cross_entropy_gradcheck(smoothing: float, ignore: int | None) -> None:
    logits = t64((2, 3, 4), 6)
    targets = np.array([[0, 1, 3], [2, 1, 0]])
    gradcheck(lambda: F.cross_entropy(logits, targets, ignore_index=ignore, label_smoothing=smoothing), [logits])
    gradcheck(lambda: F.cross_entropy(logits, targets, reduction="none"), [logits])


def test_cross_entropy_closed_form_grad_is_softmax_minus_onehot() -> None:
    logits = t64((5, 4), 7)
    targets = np.array([0, 3, 1, 1, 2])
    loss = F.cross_entropy(logits, targets)
    loss.backward()
    p = np.exp(logits.data) / np.exp(logits.data).sum(1, keepdims=True)
    onehot = np.eye(4)[targets]
    assert np.allclose(logits.grad, (p - onehot) / 5)  # type: ignore[arg-type]
    assert np.isclose(loss.item(), -np.log(p[np.arange(5), targets]).mean())


def test_cross_entropy_is_stable_for_huge_logits() -> None:
    logits = Tensor(np.array([[1e4, 0.0], [0.0, -1e4]]), requires_grad=True)
    loss = F.cross_entropy(logits, np.array([1, 0]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isclose(loss.item(), 5000.0, rtol=1e-5)
    assert np.all(np.isfinite(logits.grad))  # type: ignore[arg-type]


def test_cross_entropy_bad_targets() -> None:
    with pytest.raises(IndexError, match="out of range for 4 classes"):
        F.cross_entropy(Tensor(np.zeros((2, 4))), np.array([0, 4]))
    with pytest.raises(ValueError, match="targets"):
        F.cross_entropy(Tensor(np.zeros((2, 4))), np.array([0, 1, 2]))


def test_other_losses_gradcheck() -> None:
    x, y = t64((3, 4), 8), np.random.default_rng(9).standard_normal((3, 4))
    gradcheck(lambda: F.mse_loss(x, y), [x])
    targets = (np.random.default_rng(10).random((3, 4)) > 0.5).astype(np.float64)
    gradcheck(lambda: F.binary_cross_entropy_with_logits(x, targets), [x])
    sig = 1 / (1 + np.exp(-x.data))
    ref = -(targets * np.log(sig) + (1 - targets) * np.log(1 - sig)).mean()
    assert np.isclose(F.binary_cross_entropy_with_logits(x, targets).item(), ref)


def test_embedding_gradcheck_and_repeated_indices() -> None:
    w = t64((6, 3), 11)
    idx = np.array([[0, 2, 2], [5, 0, 2]])
    gradcheck(lambda: F.embedding(idx, w), [w])
    with pytest.raises(IndexError, match="out of range"):
        F.embedding(np.array([6]), w)


def test_dropout_scales_and_is_identity_in_eval() -> None:
    tt.manual_seed(0)
    x = Tensor(np.ones((200, 50)))
    y = F.dropout(x, 0.3, training=True).data
    assert set(np.unique(y)).issubset({0.0, np.float32(1 / 0.7)})
    assert abs((y == 0).mean() - 0.3) < 0.02
    assert F.dropout(x, 0.3, training=False) is x


# ----------------------------------------------------------------- modules
@pytest.mark.parametrize(
    "factory, shape",
    [
        (lambda: nn.Linear(4, 3), (2, 4)),
        (lambda: nn.Linear(4, 3, bias=False), (2, 5, 4)),
        (lambda: nn.LayerNorm(4), (3, 4)),
        (lambda: nn.Sequential([nn.Dense(4, 6), nn.ReLU(), nn.Dense(6, 2)]), (3, 4)),
        (lambda: nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Tanh(), nn.Sigmoid(), nn.Softmax()), (2, 4)),
        (lambda: nn.Sequential(nn.GELU("none"), nn.Dropout(0.0), nn.Identity()), (2, 4)),
    ],
)
def test_module_gradcheck(factory: object, shape: tuple[int, ...]) -> None:
    tt.manual_seed(1)
    m = factory()  # type: ignore[operator]
    ps = params64(m)
    x = t64(shape, 12)
    gradcheck(lambda: m(x), [x, *ps])


def test_embedding_module_gradcheck() -> None:
    m = nn.Embedding(5, 3)
    ps = params64(m)
    gradcheck(lambda: m(np.array([[1, 4], [4, 0]])), ps)


def test_registration_and_dotted_names() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Sequential([nn.Linear(3, 4), nn.ReLU()])
            self.heads = nn.ModuleList([nn.Linear(4, 2), nn.Linear(4, 1)])
            self.extra = nn.ModuleDict({"norm": nn.LayerNorm(4)})
            self.scale = nn.Parameter(np.ones(1))
            self.not_a_param = np.ones(3)

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == [
        "scale", "encoder.0.weight", "encoder.0.bias", "heads.0.weight", "heads.0.bias",
        "heads.1.weight", "heads.1.bias", "extra.norm.weight", "extra.norm.bias",
    ]
    assert net.num_parameters() == 1 + 16 + 10 + 5 + 8
    assert len(list(net.children())) == 3
    assert "(encoder): Sequential(" in repr(net)
    net.eval()
    assert all(not m.training for m in net.modules())


def test_shared_parameter_counted_once() -> None:
    a = nn.Linear(3, 3)
    seq = nn.Sequential(a, a)
    assert len(list(seq.parameters())) == 2


def test_state_dict_round_trip_and_strict_errors() -> None:
    tt.manual_seed(0)
    a = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    tt.manual_seed(1)
    b = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3)))
    assert not np.allclose(a(x).data, b(x).data)
    b.load_state_dict(a.state_dict())
    assert np.array_equal(a(x).data, b(x).data)
    state = a.state_dict()
    state["0.weight"] = np.zeros((5, 3))
    del state["1.bias"]
    state["surprise"] = np.zeros(1)
    with pytest.raises(KeyError) as err:
        b.load_state_dict(state)
    msg = str(err.value)
    assert "missing keys: 1.bias" in msg and "unexpected keys: surprise" in msg and "0.weight" in msg
    assert np.array_equal(a(x).data, b(x).data)  # nothing half-loaded


def test_linear_wrong_input_size_error() -> None:
    with pytest.raises(ValueError, match="expects 4"):
        nn.Linear(4, 2)(Tensor(np.ones((3, 5))))


def test_import_core_imports_no_plugins_or_registry() -> None:
    code = "import sys, tinytorch_core; bad=[m for m in sys.modules if m.split('.')[0] in ('plugins','registry')]; print(bad); sys.exit(1 if bad else 0)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_embedding_large_table_path_matches_one_hot_path(monkeypatch: pytest.MonkeyPatch) -> None:
    w = t64((6, 3), 14)
    idx = np.array([[0, 2, 2], [5, 0, 2]])
    F.embedding(idx, w).sum().backward()
    one_hot_grad = w.grad.copy()  # type: ignore[union-attr]
    w.grad = None
    monkeypatch.setattr(F, "_ONE_HOT_LIMIT", 0)  # force the np.add.at scatter path
    gradcheck(lambda: F.embedding(idx, w), [w])
    w.grad = None
    F.embedding(idx, w).sum().backward()
    assert np.array_equal(w.grad, one_hot_grad)
    assert np.array_equal(one_hot_grad[:, 0], [2, 0, 3, 0, 0, 1])
