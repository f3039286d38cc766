"""The language plugin's ``sample`` callback: samples during training without changing the training."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from plugins.language.callbacks import SampleCallback
from plugins.language.model import TinyGPT
from plugins.language.tokenizers import CharTokenizer
from tinytorch_core import manual_seed, nn

TEXT = "the quick brown fox jumps over the lazy dog. " * 40


def _train(callbacks: list[SampleCallback]) -> list[float]:
    manual_seed(0)
    tokenizer = CharTokenizer.from_text(TEXT)
    model = TinyGPT(vocab_size=tokenizer.vocab_size, d_model=16, num_layers=1, num_heads=2, block_size=16,
                    tokenizer=tokenizer)
    from plugins.language.data import make_text_splits
    from tinytorch_core.data import DataLoader
    from tinytorch_core.optim import AdamW
    from tinytorch_core.training import Trainer

    splits = make_text_splits(TEXT, tokenizer, 16)
    trainer = Trainer(model, AdamW(model.parameters(), lr=1e-2), callbacks=callbacks, progress=False)
    return trainer.fit(DataLoader(splits.train, batch_size=4, shuffle=True, seed=0), max_steps=12).train_loss


def test_samples_every_n_steps_and_training_is_unchanged() -> None:
    stream = io.StringIO()
    callback = SampleCallback(every=5, max_new_tokens=20, prompt="the ", stream=stream)
    with_samples = _train([callback])
    assert [step for step, _ in callback.samples] == [5, 10]
    assert all(text.startswith("the ") and len(text) == 24 for _, text in callback.samples)
    assert "--- sample at step 10" in stream.getvalue()
    assert with_samples == _train([])  # sampling draws from its own seed, not the training RNG


def test_sample_callback_refuses_a_model_that_cannot_generate() -> None:
    from tinytorch_core.data import ArrayDataset, DataLoader
    from tinytorch_core.optim import SGD
    from tinytorch_core.training import Trainer

    model = nn.Linear(2, 2)
    x, y = np.zeros((4, 2), dtype=np.float32), np.zeros(4, dtype=np.int64)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), callbacks=[SampleCallback(every=1)], progress=False)
    with pytest.raises(TypeError, match="cannot generate text"):
        trainer.fit(DataLoader(ArrayDataset(x, y), batch_size=2), max_steps=1)
    with pytest.raises(ValueError, match="every"):
        SampleCallback(every=0)


def test_sample_callback_from_a_config(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    config = (root / "configs" / "tinygpt-stdlib.toml").read_text()
    config = config.replace("seed = 1337", 'seed = 1337\ncallbacks = [{name = "sample", every = 4, max_new_tokens = 30}]')
    path = tmp_path / "sample.toml"
    path.write_text(config)
    result = subprocess.run(
        [sys.executable, "-m", "registry.cli", "train", str(path), "--no-progress", "--set", "train.steps=8",
         "--set", "model.num_layers=1", "--set", "model.d_model=32", "--set", "data.max_chars=20000",
         "--set", f'output.dir="{tmp_path / "run"}"', "--set", "language.sample_chars=0"],
        capture_output=True, text=True, cwd=root, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("--- sample at step") == 2, result.stdout
