"""Small Hugging Face artefacts made inside the tests (no downloads): a byte-level BPE tokenizer
trained with ``tokenizers`` and random ``GPT2LMHeadModel`` directories."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

INTEROP_REASON = "needs the interop extra: pip install -e '.[interop]'"
TORCH_REASON = "needs the bench extra (PyTorch CPU, for transformers' models): pip install -e '.[bench]'"

# Text the test tokenizer is trained on: words, contractions, digits, runs of spaces, several scripts.
TRAINING_TEXT = "\n".join([
    "The quick brown fox jumps over the lazy dog. It's 2024; we'll see, they've said, I'm sure you'd agree.",
    "def tokenize(text):\n    return [piece for piece in text.split()]  # 4 spaces, a tab:\tend",
    "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, na\u00efve fa\u00e7ade, \u00fcber, stra\u00dfe, \u0141\u00f3d\u017a.",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u03ba\u03cc\u03c3\u03bc\u03b5.",
    "\u4eca\u65e5\u306f\u3044\u3044\u5929\u6c17\u3067\u3059\u306d\u3002\u6c49\u5b57\u548c\u4eee\u540d\u3002 \ud55c\uad6d\uc5b4 \ubb38\uc7a5.",
    "Numbers: 3.14159, 1,000,000 and 42 -- or \u00bd, \u2167, \u0663\u0664\u0665. Emoji: \U0001f600\U0001f680 \u2603!",
    "   leading spaces, trailing spaces   \n\n\nblank lines above; CRLF\r\nline.",
] * 8)


def train_tokenizer(folder: Path, vocab_size: int = 400) -> Path:
    """Train GPT-2's kind of tokenizer (byte-level BPE, GPT-2's regex, ``<|endoftext|>`` last) into ``folder``.

    Writes ``tokenizer.json`` and the ``vocab.json`` + ``merges.txt`` pair; returns ``folder``.
    """
    tokenizers = pytest.importorskip("tokenizers", reason=INTEROP_REASON)
    from tokenizers import decoders, models, pre_tokenizers, processors, trainers

    tokenizer = tokenizers.Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(TRAINING_TEXT.splitlines(), trainer)
    tokenizer.add_special_tokens(["<|endoftext|>"])  # appended: the last id, as in GPT-2
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    tokenizer.model.save(str(folder))  # vocab.json + merges.txt (without the added token)
    return folder


def hf_model(config_overrides: dict[str, Any] | None = None, seed: int = 0) -> Any:
    """A small random ``GPT2LMHeadModel`` (float32, eval mode) with random LayerNorm gains and biases too."""
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    transformers = pytest.importorskip("transformers", reason=INTEROP_REASON)
    settings: dict[str, Any] = {"vocab_size": 400, "n_positions": 32, "n_embd": 32, "n_layer": 2, "n_head": 4,
                                "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
                                "bos_token_id": 399, "eos_token_id": 399}
    settings.update(config_overrides or {})
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**settings))
    with torch.no_grad():  # transformers initialises LayerNorm to (1, 0) and biases to 0: randomise them all
        for name, param in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                param.add_(torch.randn_like(param) * 0.1)
    return model.eval()
