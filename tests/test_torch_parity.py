"""TinyGPT against an independent PyTorch implementation of the same architecture (issue 7).

With identical weights, TinyGPT's logits, loss, every parameter gradient, AdamW updates and
greedy generation must equal those of ``benchmarks/reference_torch.py``: float64 to rtol 1e-6,
float32 to rtol 1e-4. Skipped where torch (the optional ``bench`` extra) is not installed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from plugins.language.model import TinyGPT  # noqa: E402
from tinytorch_core import Tensor, default_dtype  # noqa: E402
from tinytorch_core import functional as F  # noqa: E402
from tinytorch_core.optim import AdamW  # noqa: E402

Array = np.ndarray[Any, Any]

VOCAB, D_MODEL, HEADS, LAYERS, BLOCK, BATCH = 11, 16, 2, 2, 8, 3
REFERENCE_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "reference_torch.py"


def _load_reference() -> ModuleType:
    """Import benchmarks/reference_torch.py by path (benchmarks/ is not an installed package)."""
    spec = importlib.util.spec_from_file_location("_reference_torch", REFERENCE_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


reference = _load_reference()


def _random_weights(model: TinyGPT, seed: int) -> dict[str, Array]:
    """Weights far from the N(0, 0.02) init, so attention is peaked and every term matters."""
    rng = np.random.default_rng(seed)
    weights: dict[str, Array] = {}
    for name, value in model.state_dict().items():
        if ".ln" in name or name.startswith("ln_f"):
            base = 1.0 if name.endswith("weight") else 0.0
            weights[name] = (base + 0.2 * rng.standard_normal(value.shape)).astype(value.dtype)
        else:
            weights[name] = (0.3 * rng.standard_normal(value.shape)).astype(value.dtype)
    return weights


def _pair(dtype: type[np.floating[Any]], attention: str = "sdpa", seed: int = 0) -> tuple[TinyGPT, Any]:
    """A TinyGPT and a ReferenceGPT of the test config holding the same random weights."""
    with default_dtype(dtype):
        tiny = TinyGPT(VOCAB, D_MODEL, LAYERS, HEADS, BLOCK)
    tiny.load_state_dict(_random_weights(tiny, seed))
    ref = reference.ReferenceGPT(VOCAB, D_MODEL, LAYERS, HEADS, BLOCK, attention=attention)
    ref = ref.to(reference.torch_dtype_of(dtype))
    ref.load_from_tinytorch(tiny.state_dict())
    return tiny, ref


def _batch(seed: int = 1) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, VOCAB, size=(BATCH, BLOCK + 1))
    return tokens[:, :-1], tokens[:, 1:]


def _forward_backward(tiny: TinyGPT, ref: Any, idx: Array, targets: Array) -> dict[str, Any]:
    """Logits, loss and gradients of both models on one batch."""
    tiny.zero_grad()
    logits = tiny(idx)
    loss = F.cross_entropy(logits, targets)
    loss.backward()
    ref.zero_grad(set_to_none=True)
    ref_logits = ref(torch.from_numpy(idx))
    ref_loss = torch.nn.functional.cross_entropy(ref_logits.reshape(-1, VOCAB), torch.from_numpy(targets).reshape(-1))
    ref_loss.backward()
    grads = {name: p.grad for name, p in tiny.named_parameters()}
    return {
        "logits": (logits.data, ref_logits.detach().numpy()),
        "loss": (loss.item(), ref_loss.item()),
        "grads": (grads, ref.numpy_grads()),
    }


def _assert_close(actual: Array, expected: Array, rtol: float, atol_fraction: float, what: str) -> None:
    """``actual`` equals ``expected`` to ``rtol``, with atol a fraction of the largest reference value."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    atol = atol_fraction * float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def test_parameter_and_state_dict_order_is_pytorchs() -> None:
    """Same module structure, same order: depth-first in registration order, as PyTorch walks it, so
    index-based mappings (optimizer state, weight porting) line up. TinyGPT's names map 1:1 to the
    reference's (``benchmarks/reference_torch.py`` uses TinyGPT's names)."""
    tiny, ref = _pair(np.float64)
    names = [name for name, _ in tiny.named_parameters()]
    assert names == [name for name, _ in ref.named_parameters()]
    assert list(tiny.state_dict()) == list(ref.state_dict())
    assert [p.shape for p in tiny.parameters()] == [tuple(p.shape) for p in ref.parameters()]
    assert names.index("blocks.0.ln1.weight") < names.index("ln_f.weight")  # not breadth-first


@pytest.mark.parametrize("attention", ["sdpa", "explicit"])
def test_float64_logits_loss_and_every_gradient_match(attention: str) -> None:
    tiny, ref = _pair(np.float64, attention)
    idx, targets = _batch()
    out = _forward_backward(tiny, ref, idx, targets)
    _assert_close(out["logits"][0], out["logits"][1], rtol=1e-6, atol_fraction=1e-9, what="logits")
    assert out["loss"][0] == pytest.approx(out["loss"][1], rel=1e-9)
    grads, ref_grads = out["grads"]
    assert set(grads) == set(ref_grads) and len(grads) == 4 + 12 * LAYERS
    for name, grad in grads.items():
        assert grad is not None, f"TinyGPT left {name} without a gradient"
        assert grad.dtype == np.float64
        _assert_close(grad, ref_grads[name], rtol=1e-6, atol_fraction=1e-8, what=f"grad of {name}")


def test_float32_logits_loss_and_every_gradient_match() -> None:
    tiny, ref = _pair(np.float32)
    idx, targets = _batch()
    out = _forward_backward(tiny, ref, idx, targets)
    assert out["logits"][0].dtype == np.float32
    _assert_close(out["logits"][0], out["logits"][1], rtol=1e-4, atol_fraction=1e-5, what="logits")
    assert out["loss"][0] == pytest.approx(out["loss"][1], rel=1e-5)
    grads, ref_grads = out["grads"]
    for name, grad in grads.items():
        assert grad is not None and grad.dtype == np.float32, name
        _assert_close(grad, ref_grads[name], rtol=1e-4, atol_fraction=1e-4, what=f"grad of {name}")


def test_adamw_steps_give_the_same_parameters_float64() -> None:
    tiny, ref = _pair(np.float64)
    # nanoGPT's groups: decay on matrices only, the same split on both sides
    optimizer = AdamW(tiny.optimizer_groups(weight_decay=0.1), lr=1e-2, betas=(0.9, 0.99))
    decay = [p for p in ref.parameters() if p.ndim >= 2]
    no_decay = [p for p in ref.parameters() if p.ndim < 2]
    ref_optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-2, betas=(0.9, 0.99)
    )
    before = ref.numpy_state_dict()
    for step in range(3):  # several steps: the moment estimates and bias corrections are compared too
        idx, targets = _batch(seed=10 + step)
        _forward_backward(tiny, ref, idx, targets)
        optimizer.step()
        ref_optimizer.step()
    after = ref.numpy_state_dict()
    for name, value in tiny.state_dict().items():
        assert not np.allclose(after[name], before[name]), f"{name} did not move"
        _assert_close(value, after[name], rtol=1e-6, atol_fraction=1e-9, what=f"{name} after 3 AdamW steps")


def test_greedy_generation_gives_the_same_tokens() -> None:
    tiny, ref = _pair(np.float64, seed=3)
    prompt = np.random.default_rng(4).integers(0, VOCAB, size=(BATCH, 3))
    new = 3 * BLOCK  # runs past block_size: the sliding-window re-encode is compared as well
    ours = tiny.generate_tokens(prompt, new, temperature=0.0)
    theirs = ref.generate(prompt, new, temperature=0.0)
    assert ours.shape == (BATCH, 3 + new)
    np.testing.assert_array_equal(ours, theirs)
    assert len(np.unique(ours[:, 3:])) > 1, "degenerate weights: generation repeats one token"


def test_reference_cache_matches_its_full_forward() -> None:
    """The reference's own KV-cache path must equal its uncached forward (else the comparisons prove nothing)."""
    _, ref = _pair(np.float64, attention="explicit")
    idx = torch.from_numpy(_batch()[0])
    full = ref(idx)
    caches = ref.new_cache(BATCH)
    first = ref(idx[:, :5], caches, 0)
    rest = ref(idx[:, 5:], caches, 5)  # several new queries against a partly filled cache
    torch.testing.assert_close(torch.cat([first, rest], dim=1), full, rtol=1e-10, atol=1e-12)


def test_load_from_tinytorch_rejects_mismatched_weights() -> None:
    with default_dtype(np.float64):
        untied = TinyGPT(VOCAB, D_MODEL, LAYERS, HEADS, BLOCK, tie_weights=False)
    ref = reference.ReferenceGPT(VOCAB, D_MODEL, LAYERS, HEADS, BLOCK)
    with pytest.raises(KeyError, match="lm_head.weight"):
        ref.load_from_tinytorch(untied.state_dict())
    with default_dtype(np.float64):
        wider = TinyGPT(VOCAB, 2 * D_MODEL, LAYERS, HEADS, BLOCK)
    with pytest.raises(ValueError, match="same config"):
        ref.load_from_tinytorch(wider.state_dict())


def test_cross_entropy_input_layout_is_the_same() -> None:
    """Guard for the loss comparison: TinyGPT's (B, T, V) cross-entropy equals the flattened (N, V) one."""
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((BATCH, BLOCK, VOCAB))
    targets = rng.integers(0, VOCAB, size=(BATCH, BLOCK))
    ours = F.cross_entropy(Tensor(logits, dtype=np.float64), targets).item()
    theirs = torch.nn.functional.cross_entropy(torch.from_numpy(logits).reshape(-1, VOCAB), torch.from_numpy(targets).reshape(-1))
    assert ours == pytest.approx(theirs.item(), rel=1e-12)
