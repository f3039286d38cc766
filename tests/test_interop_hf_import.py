"""Hugging Face GPT-2 directories into TinyGPT: logits to 1e-5, greedy generation token for token."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from interop_fixtures import INTEROP_REASON, TORCH_REASON, hf_model, train_tokenizer
from plugins.language.model import TinyGPT

torch = pytest.importorskip("torch", reason=TORCH_REASON)
transformers = pytest.importorskip("transformers", reason=INTEROP_REASON)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tokenizer(tmp_path_factory.mktemp("tokenizer"))


def save_hf(model: Any, folder: Path, tokenizer_dir: Path | None = None, **kwargs: Any) -> Path:
    model.save_pretrained(str(folder), **kwargs)
    if tokenizer_dir is not None:
        for name in ("tokenizer.json", "vocab.json", "merges.txt"):
            shutil.copy(tokenizer_dir / name, folder / name)
    return folder


def hf_logits(model: Any, ids: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    with torch.no_grad():
        return model(torch.from_numpy(ids)).logits.numpy()


VARIANTS = {
    "gpt2": {},
    "erf_gelu_untied_eps": {"activation_function": "gelu", "tie_word_embeddings": False, "layer_norm_epsilon": 1e-3},
    "untied": {"tie_word_embeddings": False},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_logits_and_greedy_generation_match_transformers(tmp_path: Path, tokenizer_dir: Path, variant: str) -> None:
    reference = hf_model(VARIANTS[variant])
    folder = save_hf(reference, tmp_path / variant, tokenizer_dir)
    model = TinyGPT.from_pretrained(folder)
    assert model.config.tie_weights == VARIANTS[variant].get("tie_word_embeddings", True)
    ids = np.random.default_rng(0).integers(0, 400, size=(2, 12), dtype=np.int64)
    np.testing.assert_allclose(model(ids).data, hf_logits(reference, ids), atol=1e-5, rtol=0)
    with torch.no_grad():
        expected = reference.generate(torch.from_numpy(ids), max_new_tokens=16, min_new_tokens=16, do_sample=False,
                                      pad_token_id=399).numpy()
    assert model.generate_tokens(ids, 16, temperature=0.0).tolist() == expected.tolist()


def test_sharded_checkpoint_and_tokenizer_come_along(tmp_path: Path, tokenizer_dir: Path) -> None:
    reference = hf_model({"tie_word_embeddings": False})
    folder = save_hf(reference, tmp_path / "sharded", tokenizer_dir, max_shard_size="40KB")
    assert (folder / "model.safetensors.index.json").is_file() and not (folder / "model.safetensors").exists()
    model = TinyGPT.from_pretrained(folder)
    ids = np.arange(10, dtype=np.int64)[None]
    np.testing.assert_allclose(model(ids).data, hf_logits(reference, ids), atol=1e-5, rtol=0)
    fast = transformers.GPT2TokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    text = "It's 42 degrees, caf\u00e9!"
    assert model.tokenizer is not None and model.tokenizer.encode(text) == fast.encode(text)


def test_a_pickle_is_refused_with_the_conversion_command(tmp_path: Path) -> None:
    reference = hf_model()
    folder = save_hf(reference, tmp_path / "pickled")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(ValueError, match=r"pytorch_model.bin, a pickle.*safe_serialization=True"):
        TinyGPT.from_pretrained(folder)


def test_unsupported_variants_are_named(tmp_path: Path) -> None:
    folder = save_hf(hf_model(), tmp_path / "odd")
    config = json.loads((folder / "config.json").read_text())
    config["activation_function"] = "relu"
    config["scale_attn_by_inverse_layer_idx"] = True
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"activation_function='relu'.*|scale_attn_by_inverse_layer_idx"):
        TinyGPT.from_pretrained(folder)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        TinyGPT.from_pretrained(folder / "config.json")


def test_a_truncated_weight_file_is_one_clear_error(tmp_path: Path) -> None:
    folder = save_hf(hf_model(), tmp_path / "cut")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:-100])
    with pytest.raises(ValueError, match="truncated"):
        TinyGPT.from_pretrained(folder)


def test_generate_command_accepts_a_model_directory(tmp_path: Path, tokenizer_dir: Path) -> None:
    folder = save_hf(hf_model(), tmp_path / "cli", tokenizer_dir)
    model = TinyGPT.from_pretrained(folder)
    assert model.tokenizer is not None
    expected = model.generate("The quick", max_length=8, temperature=0.0)
    result = subprocess.run([sys.executable, "-m", "registry.cli", "generate", str(folder), "--prompt", "The quick",
                             "--max-new-tokens", "8", "--temperature", "0"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip("\n") == expected.rstrip("\n")
