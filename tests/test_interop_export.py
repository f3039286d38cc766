"""TinyGPT out to transformers (``--format hf``) and onnxruntime (``--format onnx``), checked against TinyGPT."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from interop_fixtures import INTEROP_REASON, TORCH_REASON, TRAINING_TEXT, train_tokenizer
from plugins.language.gpt2_tokenizer import GPT2Tokenizer
from plugins.language.model import TinyGPT
from plugins.language.tokenizers import BPETokenizer, CharTokenizer

VARIED = ["Hello, world!", "  two  spaces\tand a tab\n", "It's 42 -- don't panic", "caf\u00e9 \u4eca\u65e5\u306f \U0001f600", ""]


def randomised(model: TinyGPT, seed: int = 0) -> TinyGPT:
    """Every parameter random (LayerNorm gains and biases too), so no mapping mistake can hide."""
    rng = np.random.default_rng(seed)
    for _, param in model.named_parameters():
        param.data[...] = rng.normal(0.0, 0.2, size=param.shape).astype(param.data.dtype)
    return model.eval()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "registry.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def gpt2_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> GPT2Tokenizer:
    return GPT2Tokenizer.from_pretrained(train_tokenizer(tmp_path_factory.mktemp("tok")))


def tokenizers_by_kind(gpt2_tokenizer: GPT2Tokenizer) -> dict[str, Any]:
    return {"gpt2": gpt2_tokenizer, "bpe": BPETokenizer().train(TRAINING_TEXT, 300),
            "char": CharTokenizer.from_text(TRAINING_TEXT)}


CASES = {  # name: (tokenizer kind, TinyGPT keywords)
    "gpt2-tied": ("gpt2", {}),
    "bpe-untied-erf": ("bpe", {"tie_weights": False, "gelu_approximate": "none", "layer_norm_eps": 1e-3}),
    "char": ("char", {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_transformers_loads_the_export_offline(tmp_path: Path, gpt2_tokenizer: GPT2Tokenizer, case: str) -> None:
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    transformers = pytest.importorskip("transformers", reason=INTEROP_REASON)
    kind, kwargs = CASES[case]
    tokenizer = tokenizers_by_kind(gpt2_tokenizer)[kind]
    model = randomised(TinyGPT(vocab_size=tokenizer.vocab_size, d_model=32, num_layers=2, num_heads=4,
                               block_size=48, tokenizer=tokenizer, **kwargs))
    checkpoint = tmp_path / "model.safetensors"
    model.save(checkpoint)
    result = cli("export", str(checkpoint), "--format", "hf", "--out", str(tmp_path / "hf"))
    assert result.returncode == 0, result.stderr
    reference = transformers.GPT2LMHeadModel.from_pretrained(str(tmp_path / "hf")).eval()
    ids = np.random.default_rng(1).integers(0, tokenizer.vocab_size, size=(2, 20), dtype=np.int64)
    with torch.no_grad():
        logits = reference(torch.from_numpy(ids)).logits.numpy()
        greedy = reference.generate(torch.from_numpy(ids[:1, :6]), max_new_tokens=24, min_new_tokens=24,
                                    do_sample=False, pad_token_id=0).numpy()
    np.testing.assert_allclose(logits, model(ids).data, atol=1e-5, rtol=0)
    assert greedy.tolist() == model.generate_tokens(ids[:1, :6], 24, temperature=0.0).tolist()
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    for text in VARIED:
        text = text if kind != "char" else "".join(ch for ch in text if ch in tokenizer.vocab)
        ids_hf = hf_tokenizer.encode(text)
        assert ids_hf == tokenizer.encode(text)
        assert hf_tokenizer.decode(ids_hf) == text
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    if kind == "gpt2":  # end of text is the tokenizer's <|endoftext|>; the others have none to declare
        assert config["eos_token_id"] == gpt2_tokenizer.eos_token_id == hf_tokenizer.eos_token_id
    else:
        assert config["eos_token_id"] is None and hf_tokenizer.eos_token is None


@pytest.mark.parametrize("kwargs", [{}, {"tie_weights": False, "gelu_approximate": "none", "layer_norm_eps": 1e-3}])
def test_onnxruntime_runs_the_export(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    ort = pytest.importorskip("onnxruntime", reason=INTEROP_REASON)
    pytest.importorskip("onnx", reason=INTEROP_REASON)
    model = randomised(TinyGPT(vocab_size=100, d_model=32, num_layers=2, num_heads=4, block_size=40, **kwargs))
    model.save(tmp_path / "model.safetensors")
    result = cli("export", str(tmp_path / "model.safetensors"), "--format", "onnx", "--out", str(tmp_path / "m.onnx"))
    assert result.returncode == 0, result.stderr
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(2)
    for shape in [(1, 1), (3, 17), (2, 40)]:  # dynamic batch and sequence axes
        ids = rng.integers(0, 100, size=shape, dtype=np.int64)
        (logits,) = session.run(None, {"input_ids": ids})
        np.testing.assert_allclose(logits, model(ids).data, atol=1e-4, rtol=0)


def test_export_errors_are_one_line(tmp_path: Path) -> None:
    missing = cli("export", str(tmp_path / "nope.safetensors"), "--format", "hf", "--out", str(tmp_path / "x"))
    assert missing.returncode == 2 and missing.stderr.strip().startswith("error: checkpoint not found")
    TinyGPT(vocab_size=100, d_model=16, num_layers=1, num_heads=2, block_size=8).save(tmp_path / "m.safetensors")
    bad_name = cli("export", str(tmp_path / "m.safetensors"), "--format", "onnx", "--out", str(tmp_path / "m.bin"))
    assert bad_name.returncode == 2 and "ends in .onnx" in bad_name.stderr and not (tmp_path / "m.bin").exists()
