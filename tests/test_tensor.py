"""Autograd tensor ops: float64 central-difference checks for every differentiable op."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch_core as tt
from tinytorch_core import Tensor, no_grad
from tinytorch_core.gradcheck import GradcheckError, gradcheck

RNG = np.random.default_rng(0)


def t64(shape: tuple[int, ...], positive: bool = False, seed: int = 0) -> Tensor:
    r = np.random.default_rng(seed)
    data = r.uniform(0.5, 2.0, shape) if positive else r.standard_normal(shape)
    return Tensor(data, requires_grad=True, dtype=np.float64)


# ----------------------------------------------------------------- broadcasting binary ops
@st.composite
def broadcast_pair(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    other = [d if draw(st.booleans()) else 1 for d in shape]
    drop = draw(st.integers(0, ndim - 1))
    return shape, tuple(other[drop:])


BINARY: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "where": lambda a, b: tt.where(a.data > 1.2, a, b),
}


@pytest.mark.parametrize("op", sorted(BINARY))
@settings(max_examples=15, deadline=None)
@given(shapes=broadcast_pair(), swap=st.booleans())
def test_binary_ops_broadcast_gradients(op: str, shapes: tuple[tuple[int, ...], tuple[int, ...]], swap: bool) -> None:
    sa, sb = shapes if not swap else shapes[::-1]
    a, b = t64(sa, positive=True, seed=1), t64(sb, positive=True, seed=2)
    fn = BINARY[op]
    gradcheck(lambda: fn(a, b), [a, b])


def test_scalar_operands_and_reflected_ops() -> None:
    a = t64((3, 2), positive=True)
    gradcheck(lambda: 2.0 - a * 3.0 + 1.5 / a - (-a) ** 2 + 2.0**a, [a])


@pytest.mark.parametrize(
    "name, fn, positive",
    [
        ("exp", lambda x: x.exp(), False),
        ("log", lambda x: x.log(), True),
        ("sqrt", lambda x: x.sqrt(), True),
        ("abs", lambda x: (x + 0.1).abs(), False),
        ("tanh", lambda x: x.tanh(), False),
        ("sigmoid", lambda x: x.sigmoid(), False),
        ("relu", lambda x: (x + 0.05).relu(), False),
        ("gelu_tanh", lambda x: x.gelu(), False),
        ("gelu_erf", lambda x: x.gelu("none"), False),
        ("softmax", lambda x: x.softmax(axis=1), False),
        ("log_softmax", lambda x: x.log_softmax(axis=-1), False),
        ("clip", lambda x: x.clip(-0.5, 0.7), False),
        ("neg", lambda x: -x, False),
        ("pow_scalar", lambda x: x**3, False),
    ],
)
def test_unary_ops(name: str, fn: Callable[[Tensor], Tensor], positive: bool) -> None:
    x = t64((3, 4, 2), positive=positive, seed=3)
    gradcheck(lambda: fn(x), [x])


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("reduction", ["sum", "mean", "max", "var"])
def test_reductions(axis: int | tuple[int, ...] | None, keepdims: bool, reduction: str) -> None:
    x = t64((3, 4, 2), seed=4)
    gradcheck(lambda: getattr(x, reduction)(axis=axis, keepdims=keepdims), [x])


def test_max_ties_share_gradient() -> None:
    x = Tensor(np.array([1.0, 3.0, 3.0]), requires_grad=True, dtype=np.float64)
    x.max().backward()
    assert np.allclose(x.grad, [0.0, 0.5, 0.5])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "sa, sb",
    [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 2)), ((4,), (4, 3)),
     ((3, 4), (4,)), ((2, 2, 3, 4), (2, 1, 4, 3))],
)
def test_matmul_shapes(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    a, b = t64(sa, seed=5), t64(sb, seed=6)
    gradcheck(lambda: a @ b, [a, b])


def test_shape_ops() -> None:
    x = t64((2, 3, 4), seed=7)
    gradcheck(lambda: x.reshape(4, 6) * x.reshape(4, 6), [x])
    gradcheck(lambda: x.transpose(2, 0, 1), [x])
    gradcheck(lambda: x.permute(1, 2, 0).T, [x])
    gradcheck(lambda: x.swapaxes(0, 2), [x])
    gradcheck(lambda: x.unsqueeze(1).squeeze(1), [x])
    gradcheck(lambda: x.flatten(1), [x])


def test_getitem_slices_and_integer_arrays_scatter_add() -> None:
    x = t64((5, 3), seed=8)
    gradcheck(lambda: x[1:4, ::2], [x])
    idx = np.array([0, 2, 2, 4, 0])
    gradcheck(lambda: x[idx], [x])
    gradcheck(lambda: x[idx, np.array([0, 1, 1, 2, 2])], [x])
    x.grad = None
    x[np.array([1, 1, 1])].sum().backward()
    assert np.allclose(x.grad[1], 3.0)  # type: ignore[index]


def test_concatenate_stack_split() -> None:
    a, b = t64((2, 3), seed=9), t64((2, 2), seed=10)
    gradcheck(lambda: tt.concatenate([a, b, a], axis=1), [a, b])
    c = t64((2, 3), seed=11)
    gradcheck(lambda: tt.stack([a, c], axis=1), [a, c])
    x = t64((6, 2), seed=12)
    gradcheck(lambda: tt.split(x, 3)[1] * tt.split(x, [1, 4])[2][:2], [x])


def test_masked_fill() -> None:
    x = t64((3, 4), seed=13)
    mask = np.triu(np.ones((3, 4), dtype=bool), 1)
    gradcheck(lambda: x.masked_fill(mask, -5.0), [x])
    assert np.all(x.masked_fill(mask, -5.0).data[mask] == -5.0)


def test_gradients_accumulate_and_diamond_graph() -> None:
    x = Tensor(np.array([2.0]), requires_grad=True, dtype=np.float64)
    y = x * x  # used twice below: d/dx (y + y*x) = 2x + 3x^2
    (y + y * x).sum().backward()
    assert np.allclose(x.grad, [4.0 + 12.0])  # type: ignore[arg-type]
    (x * 2).sum().backward()
    assert np.allclose(x.grad, [18.0])  # type: ignore[arg-type]


def test_deep_chain_is_not_recursive() -> None:
    x = Tensor(np.ones(3), requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    assert np.allclose(x.grad, 1.0001**5000)  # type: ignore[arg-type]


def test_no_grad_builds_no_graph() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        y = (x * 2).exp()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_backward_twice_without_retain_graph_errors() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="already freed"):
        y.backward()
    z = (x * 3).sum()
    z.backward(retain_graph=True)
    z.backward()
    assert np.allclose(x.grad, 2 + 3 + 3)  # type: ignore[arg-type]


def test_shape_mismatch_errors_name_both_shapes() -> None:
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        _ = a + b
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        _ = a @ b
    with pytest.raises(RuntimeError, match="scalar"):
        Tensor(np.ones(3), requires_grad=True).backward()


def test_default_dtype_is_float32_and_float64_kept_when_asked() -> None:
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.ones(2)).dtype == np.float32
    assert Tensor(np.ones(2), dtype=np.float64).dtype == np.float64
    assert Tensor(np.arange(3)).dtype.kind == "i"
    with tt.default_dtype(np.float64):
        assert Tensor([1.0]).dtype == np.float64
    assert (Tensor([1.0]) * 2.5).dtype == np.float32  # no float64 promotion from Python scalars


def test_gradcheck_catches_a_wrong_backward() -> None:
    from tinytorch_core.autograd import Context, Function

    class WrongSquare(Function):
        @staticmethod
        def forward(ctx: Context, x: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
            ctx.save_for_backward(x)
            return x * x  # type: ignore[no-any-return]

        @staticmethod
        def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
            (x,) = ctx.saved_tensors
            return 3 * x * grad  # type: ignore[no-any-return]

    x = t64((3,))
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda: WrongSquare.apply(x), [x])


def test_function_wrong_gradient_count_is_reported() -> None:
    from tinytorch_core.autograd import Context, Function

    class TwoInputs(Function):
        @staticmethod
        def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
            return a + b  # type: ignore[no-any-return]

        @staticmethod
        def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray]:  # type: ignore[type-arg]
            return (grad,)

    a, b = t64((2,)), t64((2,))
    with pytest.raises(RuntimeError, match="returned 1 gradients for 2"):
        TwoInputs.apply(a, b).sum().backward()


def test_truth_value_of_a_multi_element_tensor_is_an_error() -> None:
    assert Tensor([2.0]) and not Tensor(0.0)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]) > 0)
