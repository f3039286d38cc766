"""Fine-tuning a Hugging Face GPT-2 directory from a training config (``[model] pretrained = DIR``)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from interop_fixtures import TRAINING_TEXT, hf_model, train_tokenizer
from plugins.language.model import TinyGPT


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "registry.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_a_config_fine_tunes_a_pretrained_directory(tmp_path: Path) -> None:
    folder = tmp_path / "gpt2-tiny"
    hf_model().save_pretrained(str(folder))
    train_tokenizer(folder)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TRAINING_TEXT, encoding="utf-8")
    config = tmp_path / "finetune.toml"
    config.write_text(f"""
[plugins]
enable = ["language"]
[data]
name = "text"
corpus = "{corpus}"
tokenizer = "{folder}"
block_size = 16
[model]
name = "tinygpt"
pretrained = "{folder}"
[train]
lr = 3e-3
steps = 40
batch_size = 8
eval_every = 40
seed = 0
[output]
dir = "{tmp_path / 'run'}"
[language]
sample_chars = 5
""", encoding="utf-8")
    result = run_cli("train", str(config), "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    losses = [json.loads(line).get("train_loss") for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [x for x in losses if x is not None]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5  # it learned the corpus
    tuned = TinyGPT.load(tmp_path / "run" / "model.safetensors")
    start = TinyGPT.from_pretrained(folder)
    assert tuned.tokenizer == start.tokenizer and tuned.config == start.config
    assert not np.allclose(tuned.token_embedding.weight.data, start.token_embedding.weight.data)
    # The fine-tuned checkpoint goes back out as a Hugging Face directory.
    exported = run_cli("export", str(tmp_path / "run" / "model.safetensors"), "--format", "hf",
                       "--out", str(tmp_path / "tuned-hf"), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    np.testing.assert_allclose(TinyGPT.from_pretrained(tmp_path / "tuned-hf")(np.arange(8)[None]).data,
                               tuned(np.arange(8)[None]).data, atol=1e-6)


def test_a_mismatched_tokenizer_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "gpt2-tiny"
    hf_model().save_pretrained(str(folder))
    train_tokenizer(folder)
    from plugins.language.hf_import import tinygpt
    from plugins.language.tokenizers import CharTokenizer

    with pytest.raises(ValueError, match="another tokenizer.*tokenizer ="):
        tinygpt(pretrained=str(folder), tokenizer=CharTokenizer.from_text("abc"), vocab_size=3, block_size=8)
    with pytest.raises(ValueError, match="d_model come"):
        tinygpt(pretrained=str(folder), d_model=64)
    with pytest.raises(ValueError, match="exceeds the model's context"):
        tinygpt(pretrained=str(folder), block_size=4096)


def test_the_shipped_fine_tuning_config_runs(tmp_path: Path) -> None:
    folder = tmp_path / "gpt2"
    hf_model().save_pretrained(str(folder))
    train_tokenizer(folder)
    corpus = tmp_path / "my.txt"
    corpus.write_text(TRAINING_TEXT, encoding="utf-8")
    config = Path(__file__).resolve().parent.parent / "configs" / "gpt2-finetune.toml"
    result = run_cli("train", str(config), "--no-progress", "--set", f'data.corpus="{corpus}"',
                     "--set", "data.block_size=16", "--set", "train.steps=2", "--set", f'output.dir="{tmp_path / "run"}"',
                     "--set", "language.sample_chars=3", cwd=tmp_path)  # its "gpt2" paths resolve in tmp_path
    assert result.returncode == 0, result.stderr
    pretrained = TinyGPT.from_pretrained(folder).config
    assert TinyGPT.load(tmp_path / "run" / "model.safetensors").config == replace(pretrained, dropout=0.1)  # the config's
