"""The course's own calls work: train_on_text with epochs, a refused pickle explains itself."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from plugins.language.model import TinyGPT
from plugins.language.tokenizers import CharTokenizer
from tinytorch_core import manual_seed

TEXT = "to be or not to be, that is the question. " * 30


def _model() -> TinyGPT:
    manual_seed(0)
    tokenizer = CharTokenizer.from_text(TEXT)
    return TinyGPT(vocab_size=tokenizer.vocab_size, d_model=16, num_layers=1, num_heads=2, block_size=16,
                   tokenizer=tokenizer)


def test_train_on_text_takes_epochs_or_steps() -> None:
    model = _model()
    by_epochs = model.train_on_text(TEXT, epochs=1, batch_size=32, progress=False)
    windows = int(len(TEXT) * 0.9) - 16
    assert by_epochs.steps == windows // 32  # one pass over the training windows (drop_last)
    assert _model().train_on_text(TEXT, steps=3, epochs=5, progress=False).steps == 3  # whichever ends first
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        _model().train_on_text(TEXT, epochs=0)


def test_train_on_text_shows_progress_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    _model().train_on_text(TEXT, steps=20, progress=True)
    assert "step 20/20" in capsys.readouterr().out


def test_a_pickle_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "trained_model.pkl"
    path.write_bytes(pickle.dumps({"weights": np.zeros(3)}))
    with pytest.raises(ValueError, match="refuses pickles on purpose: loading one runs whatever code"):
        TinyGPT.load(path)
    done = subprocess.run([sys.executable, "-m", "registry.cli", "generate", str(path)], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert done.returncode == 2 and "pickle" in done.stderr and done.stderr.count("\n") == 1


def test_attention_maps_method_takes_text() -> None:
    model = _model()
    maps = model.attention_maps("to be or not")
    assert maps.shape == (1, 2, 12, 12)
    assert np.allclose(maps.sum(-1), 1.0, atol=1e-5)


def test_generate_streams_the_same_text_and_stops(tmp_path: Path) -> None:
    model = _model()
    model.train_on_text(TEXT, steps=30, progress=False)
    pieces: list[str] = []
    streamed = model.generate("to ", max_length=40, seed=1, stream=pieces.append)
    assert len(pieces) > 1 and "to " + "".join(pieces) == streamed == model.generate("to ", max_length=40, seed=1)
    stopped: list[str] = []
    cut = model.generate("to ", max_length=40, seed=1, stop="e", stream=stopped.append)
    assert "e" not in cut[3:] and "".join(stopped) == cut[3:]
    path = tmp_path / "m.safetensors"
    model.save(path)
    root = Path(__file__).resolve().parent.parent

    def generate(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "registry.cli", "generate", str(path), "--prompt", "to ",
                               "--max-new-tokens", "40", "--seed", "1", *args],
                              capture_output=True, text=True, cwd=root, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert generate("--stream") == generate() == streamed + "\n"
    assert generate("--stop", "e") == cut + "\n"
