"""The kernel dispatch (numpy reference vs numba-compiled), the two paths' agreement, and what loads numba.

The float64 gradient checks of the ops that use these kernels live with the ops
(test_functional_and_nn.py, test_optim.py ...); CI runs them once per TINYTORCH_FAST setting.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinytorch_core import kernels
from tinytorch_core.kernels import reference

REPO = Path(__file__).resolve().parent.parent
HAS_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed (the 'fast' extra)")


@pytest.fixture
def compiled() -> Any:
    if not HAS_NUMBA:
        pytest.skip("numba not installed (the 'fast' extra)")
    from tinytorch_core.kernels import compiled as module

    return module


@pytest.fixture
def fresh_choice(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Let a test change TINYTORCH_FAST and re-make the choice; the previous choice comes back after."""
    saved = kernels._table, kernels._compiled
    kernels._table = None
    yield monkeypatch
    kernels._table, kernels._compiled = saved


def _inputs(dtype: type, shape: tuple[int, ...] = (24, 96), seed: int = 0) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * 2.5).astype(dtype) for _ in range(3)]


def _close(a: Any, b: Any, dtype: type) -> None:
    """float32: within a few ulps of the largest value; float64: to 1e-12 (same formula, other rounding order)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype == np.dtype(dtype) and a.shape == b.shape
    scale = max(float(np.abs(b).max()), 1.0)
    tol = 4e-6 if dtype is np.float32 else 1e-12
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale)


# ---------------------------------------------------------------------------- agreement of the two paths
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_paths_agree(compiled: Any, dtype: type) -> None:
    x, _, grad = _inputs(dtype)
    x[0, :4] = [0.0, -9.0, 9.0, 1e-4]  # the rational tanh's clamp and its tiny-argument end
    out, t = compiled.gelu_tanh_forward(x)
    ref_out, ref_t = reference.gelu_tanh_forward(x)
    assert t is None and ref_t is not None  # the compiled backward recomputes the tanh
    _close(out, ref_out, dtype)
    expected = reference.gelu_tanh_backward(x, ref_t, grad)
    _close(compiled.gelu_tanh_backward(x, None, grad), expected, dtype)
    _close(compiled.gelu_tanh_backward(x, ref_t, grad), expected, dtype)  # given the numpy forward's tanh too
    _close(reference.gelu_tanh_backward(x, None, grad), expected, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_paths_agree(compiled: Any, dtype: type, affine: bool) -> None:
    x, grad, wb = _inputs(dtype, (2, 12, 40))
    x += 3.0  # an offset mean: the subtraction must happen before the variance
    weight = wb[0, 0] if affine else None
    bias = wb[0, 1] if affine else None
    out, xhat, rstd = compiled.layer_norm_forward(x, weight, bias, 1e-5)
    ref_out, ref_xhat, ref_rstd = reference.layer_norm_forward(x, weight, bias, 1e-5)
    for mine, theirs in ((out, ref_out), (xhat, ref_xhat), (rstd, ref_rstd)):
        _close(mine, theirs, dtype)
    w = weight if weight is not None else np.ones(x.shape[-1], dtype=dtype)
    got = compiled.layer_norm_backward(grad, xhat, rstd, w, True)
    want = reference.layer_norm_backward(grad, ref_xhat, ref_rstd, w, True)
    for mine, theirs in zip(got, want):
        _close(mine, theirs, dtype)
    assert compiled.layer_norm_backward(grad, xhat, rstd, w, False)[1:] == (None, None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("decoupled", [True, False])
def test_adam_paths_agree(compiled: Any, dtype: type, decoupled: bool) -> None:
    param, grad, _ = (a.reshape(-1) for a in _inputs(dtype, (50, 41)))
    states = []
    for module in (compiled, reference):
        p, g = param.copy(), grad.copy()
        m, v, scratch = np.zeros_like(p), np.zeros_like(p), np.empty_like(p)
        for step in range(1, 4):
            module.adam_update(p, g, scratch, np.empty_like(p), m, v, lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-8,
                               weight_decay=0.1, decoupled=decoupled, step=step)
        states.append((p, g, m, v))
    for mine, theirs in zip(*states):
        _close(mine, theirs, dtype)
    assert not np.array_equal(states[0][0], param)
    np.testing.assert_array_equal(states[0][1], grad)  # the gradient is left as it was


def test_uncovered_inputs_use_the_reference(compiled: Any) -> None:
    """float16 and mixed dtypes are not compiled: the numpy reference answers, bit for bit."""
    x = np.linspace(-3, 3, 50, dtype=np.float16)
    np.testing.assert_array_equal(compiled.gelu_tanh_forward(x)[0], reference.gelu_tanh_forward(x)[0])
    x32 = x.astype(np.float32).reshape(5, 10)
    w64 = np.ones(10)
    np.testing.assert_array_equal(compiled.layer_norm_forward(x32, w64, None, 1e-5)[0],
                                  reference.layer_norm_forward(x32, w64, None, 1e-5)[0])


def test_non_contiguous_input_is_handled(compiled: Any) -> None:
    x = _inputs(np.float32, (30, 16))[0].T  # a transposed view
    _close(compiled.gelu_tanh_forward(x)[0], reference.gelu_tanh_forward(x)[0], np.float32)
    _close(compiled.layer_norm_forward(x, None, None, 1e-5)[0], reference.layer_norm_forward(x, None, None, 1e-5)[0],
           np.float32)


# ---------------------------------------------------------------------------- the choice
def test_fast_0_forces_numpy(fresh_choice: pytest.MonkeyPatch) -> None:
    fresh_choice.setenv(kernels.ENV, "0")
    assert kernels.compiled_kernels() == ()
    assert kernels.describe() == "numpy (TINYTORCH_FAST=0)"
    x = _inputs(np.float32)[0]
    np.testing.assert_array_equal(kernels.gelu_tanh_forward(x)[0], reference.gelu_tanh_forward(x)[0])


@needs_numba
def test_fast_1_compiles_every_kernel(fresh_choice: pytest.MonkeyPatch) -> None:
    fresh_choice.setenv(kernels.ENV, "1")
    assert kernels.compiled_kernels() == kernels.KERNELS
    assert kernels.describe().startswith("numba ")
    assert all(name in kernels.describe() for name in kernels.KERNELS)


def test_fast_1_without_numba_is_a_clear_error(fresh_choice: pytest.MonkeyPatch) -> None:
    fresh_choice.setenv(kernels.ENV, "1")
    fresh_choice.setattr(kernels, "_numba_installed", lambda: False)
    with pytest.raises(RuntimeError, match=r"numba is not installed; pip install 'tinytorch-numpy\[fast\]'"):
        kernels.compiled_kernels()


def test_invalid_setting_is_rejected(fresh_choice: pytest.MonkeyPatch) -> None:
    fresh_choice.setenv(kernels.ENV, "yes")
    with pytest.raises(ValueError, match="TINYTORCH_FAST='yes' is not a valid setting; use 0"):
        kernels.compiled_kernels()
    with pytest.raises(ValueError, match=r"kernels.use\('2'\) is not a valid setting"):
        kernels.use("2")


@needs_numba
def test_use_switches_paths_in_one_process(fresh_choice: pytest.MonkeyPatch) -> None:
    fresh_choice.setenv(kernels.ENV, "0")
    kernels.use("1")
    assert kernels.compiled_kernels() == kernels.KERNELS
    kernels.use(None)  # back to the environment's setting
    assert kernels.compiled_kernels() == ()


# ---------------------------------------------------------------------------- what loads numba, and where it caches
def _run_python(code: str, env: dict[str, str] | None = None) -> str:
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=full_env, capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_import_and_cli_without_compute_never_load_numba() -> None:
    """``import tinytorch_core``, building the CLI, ``--help`` and ``plugins``: numba stays unloaded."""
    code = (
        "import contextlib, io, json, sys\n"
        "import tinytorch_core, tinytorch_core.functional, tinytorch_core.optim\n"
        "from registry import cli\n"
        "seen = {}\n"
        "for argv in (['--help'], ['plugins']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            cli.main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        "    seen[argv[0]] = 'numba' in sys.modules\n"
        "print(json.dumps(seen))\n"
    )
    assert json.loads(_run_python(code, {kernels.ENV: "auto"})) == {"--help": False, "plugins": False}


@needs_numba
def test_compiled_code_is_cached_in_the_user_cache_dir(tmp_path: Path) -> None:
    """numba's cache goes to $TINYTORCH_CACHE/numba, never beside the (possibly read-only) package."""
    package = REPO / "tinytorch_core" / "kernels"
    before = sorted(p.name for p in package.rglob("*.nb*"))
    env = {"TINYTORCH_CACHE": str(tmp_path), kernels.ENV: "1"}
    env_without_numba_dir = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | env
    code = ("import numpy as np, os\n"
            "from tinytorch_core import kernels\n"
            "kernels.gelu_tanh_forward(np.ones(8, np.float32))\n"
            "print(os.environ['NUMBA_CACHE_DIR'])\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env_without_numba_dir, capture_output=True,
                          text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "numba")
    assert list((tmp_path / "numba").rglob("*gelu_forward*.nbi")), "no numba index in the cache dir"
    assert sorted(p.name for p in package.rglob("*.nb*")) == before
