"""scatter_add / index_add / gather: PyTorch semantics, float64 gradient checks, repeated indices,
one-line errors, and parity with torch where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch_core as tt
from tinytorch_core import Tensor
from tinytorch_core.gradcheck import gradcheck


def t64(shape: tuple[int, ...], seed: int) -> Tensor:
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True, dtype=np.float64)


def test_scatter_add_sums_repeated_indices_like_the_definition() -> None:
    x = np.zeros((3, 4))
    src = np.arange(8.0).reshape(2, 4)
    index = np.array([[0, 1, 2, 0], [0, 0, 2, 1]])
    out = tt.scatter_add(Tensor(x, dtype=np.float64), 0, index, src).data
    expected = x.copy()
    for i in range(2):
        for j in range(4):
            expected[index[i, j], j] += src[i, j]
    assert np.array_equal(out, expected) and out[0, 0] == 0 + 4  # both rows landed on row 0


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_add_gradcheck(dim: int) -> None:
    x = t64((4, 5), 0)
    src = t64((3, 5) if dim == 0 else (4, 3), 1)
    size = x.shape[dim]
    index = np.random.default_rng(2).integers(0, size, size=src.shape)
    gradcheck(lambda: tt.scatter_add(x, dim, index, src), [x, src])


@pytest.mark.parametrize("dim, alpha", [(0, 1.0), (1, -2.5)])
def test_index_add_gradcheck_and_repeats(dim: int, alpha: float) -> None:
    x = t64((4, 3, 2), 3)
    index = np.array([1, 1, 0, 2]) if dim == 1 else np.array([3, 0, 3])
    shape = list(x.shape)
    shape[dim] = len(index)
    source = t64(tuple(shape), 4)
    gradcheck(lambda: tt.index_add(x, dim, index, source, alpha=alpha), [x, source])
    out = tt.index_add(x, dim, index, source, alpha=alpha).data
    expected = x.data.copy()
    for i, row in enumerate(index):
        target = [slice(None)] * 3
        target[dim] = row
        picked = [slice(None)] * 3
        picked[dim] = i
        expected[tuple(target)] += alpha * source.data[tuple(picked)]
    assert np.allclose(out, expected)


def test_gather_is_the_adjoint_of_scatter_add() -> None:
    x = t64((3, 4), 5)
    index = np.array([[0, 2], [1, 1], [3, 0]])
    assert np.array_equal(tt.gather(x, 1, index).data, np.take_along_axis(x.data, index, axis=1))
    gradcheck(lambda: tt.gather(x, 1, index), [x])
    # <gather(x), y> == <x, scatter_add(0, index, y)>
    y = np.random.default_rng(6).standard_normal(index.shape)
    lhs = float((tt.gather(x, 1, index).data * y).sum())
    rhs = float((x.data * tt.scatter_add(Tensor(np.zeros(x.shape), dtype=np.float64), 1, index, y).data).sum())
    assert lhs == pytest.approx(rhs)


def test_float32_stays_float32_and_negative_indices_count_from_the_end() -> None:
    x = Tensor(np.zeros((3, 2), dtype=np.float32))
    out = tt.index_add(x, 0, np.array([-1]), np.ones((1, 2), dtype=np.float32))
    assert out.dtype == np.float32 and out.data[2].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("call, message", [
    (lambda x: tt.scatter_add(x, 0, np.array([[3, 0]]), np.ones((1, 2))), "index 3 is out of range for a dimension of size 3"),
    (lambda x: tt.scatter_add(x, 0, np.array([[0.0, 1.0]]), np.ones((1, 2))), "index must hold integers"),
    (lambda x: tt.scatter_add(x, 0, np.array([[0, 1]]), np.ones((2, 2))), "index shape (1, 2) must equal src shape (2, 2)"),
    (lambda x: tt.scatter_add(x, 2, np.array([[0, 1]]), np.ones((1, 2))), "dim 2 is out of range for a 2-D tensor"),
    (lambda x: tt.index_add(x, 0, np.array([[0]]), np.ones((1, 2))), "index must be 1-D"),
    (lambda x: tt.index_add(x, 0, np.array([0, 1]), np.ones((1, 2))), "source shape (1, 2) must be (2, 2)"),
])
def test_bad_arguments_are_one_line_errors(call: object, message: str) -> None:
    x = Tensor(np.zeros((3, 2)), dtype=np.float64)
    with pytest.raises((ValueError, IndexError, TypeError)) as info:
        call(x)  # type: ignore[operator]
    assert message in str(info.value) and "\n" not in str(info.value)


def test_parity_with_torch() -> None:
    torch = pytest.importorskip("torch", reason="torch (bench extra) not installed: pip install -e '.[bench]'")
    rng = np.random.default_rng(7)
    x, src = rng.standard_normal((5, 3)), rng.standard_normal((7, 3))
    index = rng.integers(0, 5, size=(7, 3))
    ours = tt.scatter_add(Tensor(x, dtype=np.float64), 0, index, src).data
    theirs = torch.from_numpy(x).scatter_add(0, torch.from_numpy(index), torch.from_numpy(src)).numpy()
    assert np.allclose(ours, theirs)
    rows = rng.integers(0, 5, size=7)
    ours = tt.index_add(Tensor(x, dtype=np.float64), 0, rows, src, alpha=0.5).data
    theirs = torch.from_numpy(x).index_add(0, torch.from_numpy(rows), torch.from_numpy(src), alpha=0.5).numpy()
    assert np.allclose(ours, theirs)
