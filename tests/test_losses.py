"""Loss modules: float64 gradient checks, closed forms, ignore_index, label smoothing, PyTorch parity."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tinytorch_core import Tensor
from tinytorch_core.gradcheck import gradcheck
from tinytorch_core.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss

Array = np.ndarray[Any, Any]


def t64(x: Array, requires_grad: bool = True) -> Tensor:
    return Tensor(x, requires_grad=requires_grad, dtype=np.float64)


def softmax(x: Array) -> Array:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def numpy_ce(logits: Array, targets: Array, smoothing: float = 0.0) -> Array:
    """Per-row loss: -sum_c q_c log p_c with q = (1-s)*onehot + s/C."""
    c = logits.shape[-1]
    logp = np.log(softmax(logits))
    q = (1 - smoothing) * np.eye(c)[targets] + smoothing / c
    return -(q * logp).sum(axis=-1)  # type: ignore[no-any-return]


rng = np.random.default_rng(0)


# ---------------------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 6)])
@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.2}, {"ignore_index": 1, "reduction": "sum"},
                                {"ignore_index": 0, "label_smoothing": 0.1}, {"reduction": "none"}])
def test_cross_entropy_gradcheck(shape: tuple[int, ...], kw: dict[str, Any]) -> None:
    logits = t64(rng.standard_normal(shape))
    targets = rng.integers(0, shape[-1], size=shape[:-1])
    targets.reshape(-1)[:2] = [0, 1]  # make sure some rows hit ignore_index
    loss_fn = CrossEntropyLoss(**kw)
    assert gradcheck(lambda: loss_fn(logits, targets), [logits])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_gradcheck(reduction: str) -> None:
    pred, target = t64(rng.standard_normal((3, 4))), t64(rng.standard_normal((3, 4)))
    loss_fn = MSELoss(reduction)
    assert gradcheck(lambda: loss_fn(pred, target), [pred, target])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_gradcheck(reduction: str) -> None:
    logits = t64(rng.standard_normal((4, 3)) * 3)
    target = t64(rng.uniform(size=(4, 3)))
    loss_fn = BCEWithLogitsLoss(reduction)
    assert gradcheck(lambda: loss_fn(logits, target), [logits, target])


# ---------------------------------------------------------------------------- closed forms
def test_cross_entropy_grad_is_softmax_minus_onehot_over_n() -> None:
    x = rng.standard_normal((6, 5))
    y = rng.integers(0, 5, size=6)
    logits = t64(x)
    loss = CrossEntropyLoss()(logits, y)
    loss.backward()
    np.testing.assert_allclose(loss.item(), numpy_ce(x, y).mean(), rtol=1e-12)
    assert logits.grad is not None
    np.testing.assert_allclose(logits.grad, (softmax(x) - np.eye(5)[y]) / 6, rtol=1e-10, atol=1e-14)


def test_cross_entropy_label_smoothing_value_and_3d_shape() -> None:
    x = rng.standard_normal((2, 4, 7))
    y = rng.integers(0, 7, size=(2, 4))
    per_row = CrossEntropyLoss(label_smoothing=0.3, reduction="none")(t64(x, False), y)
    assert per_row.shape == (2, 4)
    np.testing.assert_allclose(per_row.data, numpy_ce(x, y, 0.3), rtol=1e-12)
    mean = CrossEntropyLoss(label_smoothing=0.3)(t64(x, False), y)
    np.testing.assert_allclose(mean.item(), numpy_ce(x, y, 0.3).mean(), rtol=1e-12)


def test_ignore_index_excludes_rows_from_the_mean() -> None:
    x = rng.standard_normal((8, 3))
    y = rng.integers(0, 3, size=8)
    y[[1, 4, 5]] = -100
    logits = t64(x)
    loss = CrossEntropyLoss(ignore_index=-100)(logits, y)
    keep = y != -100
    np.testing.assert_allclose(loss.item(), numpy_ce(x[keep], y[keep]).mean(), rtol=1e-12)
    loss.backward()
    assert logits.grad is not None and not logits.grad[~keep].any()
    expected = (softmax(x[keep]) - np.eye(3)[y[keep]]) / int(keep.sum())
    np.testing.assert_allclose(logits.grad[keep], expected, rtol=1e-10)


def test_mse_and_bce_values() -> None:
    p, t = rng.standard_normal(10), rng.standard_normal(10)
    np.testing.assert_allclose(MSELoss()(t64(p, False), t).item(), ((p - t) ** 2).mean(), rtol=1e-12)
    np.testing.assert_allclose(MSELoss("sum")(t64(p, False), t).item(), ((p - t) ** 2).sum(), rtol=1e-12)
    x, y = rng.standard_normal(10) * 20, rng.uniform(size=10)  # large logits: must stay finite
    sig = 1 / (1 + np.exp(-x))
    expected = -(y * np.log(sig) + (1 - y) * np.log1p(-sig))
    got = BCEWithLogitsLoss("none")(t64(x, False), y).data
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_default_dtype_is_float32() -> None:
    logits = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    loss = CrossEntropyLoss()(logits, np.array([0, 1, 2, 0]))
    loss.backward()
    assert loss.dtype == np.float32 and logits.grad is not None and logits.grad.dtype == np.float32


def test_bad_arguments_are_clear() -> None:
    with pytest.raises(ValueError, match="reduction"):
        CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(TypeError, match="ignore_index"):
        CrossEntropyLoss(ignore_index=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        MSELoss()(t64(np.zeros(3)), np.zeros(4))
    with pytest.raises(TypeError, match="integer"):
        CrossEntropyLoss()(t64(np.zeros((2, 3))), np.zeros(2))
    with pytest.raises(IndexError, match="out of range"):
        CrossEntropyLoss()(t64(np.zeros((2, 3))), np.array([0, 3]))
    assert "label_smoothing=0.1" in repr(CrossEntropyLoss(label_smoothing=0.1))


# ---------------------------------------------------------------------------- PyTorch parity
@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.15}, {"ignore_index": 2},
                                {"ignore_index": 2, "label_smoothing": 0.1, "reduction": "sum"}])
def test_cross_entropy_torch_parity(kw: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 5, 4))
    y = rng.integers(0, 4, size=(3, 5))
    y[0, :2] = 2
    logits = t64(x)
    ours = CrossEntropyLoss(**kw)(logits, y)
    ours.backward()
    tx = torch.tensor(x, requires_grad=True)
    # torch wants the classes on axis 1 for N-D input.
    theirs = torch.nn.CrossEntropyLoss(**{"ignore_index": -100, **kw})(tx.permute(0, 2, 1), torch.tensor(y))
    theirs.backward()
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-10)
    np.testing.assert_allclose(logits.grad, tx.grad.numpy(), rtol=1e-8, atol=1e-14)  # type: ignore[arg-type]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_and_bce_torch_parity(reduction: str) -> None:
    torch = pytest.importorskip("torch")
    x, y = rng.standard_normal((4, 3)) * 4, rng.uniform(size=(4, 3))
    for ours_cls, theirs_cls in ((MSELoss, torch.nn.MSELoss), (BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss)):
        ours = ours_cls(reduction)(t64(x, False), y)
        theirs = theirs_cls(reduction=reduction)(torch.tensor(x), torch.tensor(y))
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-10)
