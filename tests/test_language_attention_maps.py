"""Attention maps of a TinyGPT: what each layer's heads attend to, and `tinytorch attention` drawing them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from plugins.language.attention import MultiHeadAttention
from plugins.language.attention_maps import attention_maps
from plugins.language.model import TinyGPT
from plugins.language.tokenizers import CharTokenizer
from tinytorch_core import Tensor, manual_seed, no_grad

ROOT = Path(__file__).resolve().parent.parent


def _model() -> TinyGPT:
    manual_seed(0)
    tokenizer = CharTokenizer.from_text("hello world, attention maps!")
    return TinyGPT(vocab_size=tokenizer.vocab_size, d_model=16, num_layers=3, num_heads=2, block_size=12,
                   tokenizer=tokenizer)


def test_maps_are_causal_distributions_per_layer_and_head() -> None:
    model = _model()
    ids = model.tokenizer.encode("hello world")  # type: ignore[union-attr]
    maps = attention_maps(model, ids)
    assert maps.shape == (3, 2, len(ids), len(ids))
    assert np.allclose(maps.sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(np.triu(maps, k=1) == 0.0)
    assert model.training  # restored
    assert all(not m.keep_attention for m in model.modules() if isinstance(m, MultiHeadAttention))


def test_first_layer_map_equals_its_attention_on_the_embedded_input() -> None:
    model = _model()
    ids = np.array(model.tokenizer.encode("hello"))  # type: ignore[union-attr]
    maps = attention_maps(model, ids)
    model.eval()
    with no_grad():
        x = model.position(model.token_embedding(ids[None, :]))
        block = model.blocks[0]
        _, expected = block.attention(block.ln1(x), return_attention=True)
    assert np.allclose(maps[0], expected[0], atol=1e-6)


def test_empty_prompt_and_models_without_attention_are_refused() -> None:
    from tinytorch_core import nn

    with pytest.raises(ValueError, match="empty"):
        attention_maps(_model(), [])
    with pytest.raises(ValueError, match="no MultiHeadAttention"):
        attention_maps(nn.Linear(2, 2), [0])


def test_attention_command_draws_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="needs the plot extra: pip install -e '.[plot]'")
    checkpoint = tmp_path / "model.safetensors"
    _model().save(checkpoint)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "registry.cli", "attention", str(checkpoint), *args],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)

    out = tmp_path / "maps.png"
    done = run("--prompt", "hello world", "--out", str(out))
    assert done.returncode == 0, done.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    one = tmp_path / "one.png"
    assert run("--prompt", "hello", "--layer", "2", "--head", "1", "--out", str(one)).returncode == 0
    assert one.stat().st_size < out.stat().st_size
    bad = run("--prompt", "hello", "--head", "7", "--out", str(tmp_path / "x.png"))
    assert bad.returncode == 2 and "head 7 does not exist" in bad.stderr and "Traceback" not in bad.stderr
    unknown = run("--prompt", "\u2603", "--out", str(tmp_path / "y.png"))
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
    assert run("--prompt", "hi", "--out", str(tmp_path / "z.jpg")).returncode == 2
