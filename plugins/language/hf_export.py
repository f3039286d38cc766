"""Write a TinyGPT as a Hugging Face GPT-2 directory (``tinytorch export CKPT --format hf --out DIR``).

The directory is what ``GPT2LMHeadModel.from_pretrained(DIR)`` and ``AutoTokenizer.from_pretrained(DIR)``
read offline: ``config.json``, ``model.safetensors`` (GPT-2's names, Conv1D's (in, out) layout) and
the tokenizer as a ``tokenizers`` ``tokenizer.json`` with ``tokenizer_config.json``. Each TinyTorch
tokenizer maps exactly onto ``tokenizers``' BPE model:

- ``GPT2Tokenizer``: GPT-2's own file (and ``vocab.json`` + ``merges.txt`` beside it);
- ``BPETokenizer``: its byte tokens written in GPT-2's byte alphabet, its merges as pairs of those
  strings, and a ByteLevel pre-tokenizer without the regex (it merges across the whole text);
- ``CharTokenizer``: one vocabulary entry per character, no merges, a ``Fuse`` decoder.

End of text is declared only where the tokenizer has one (``<|endoftext|>`` of GPT-2's); char and
byte-BPE vocabularies have none, so ``eos_token_id`` is null rather than a guessed character.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch_core.fileio import atomic_write_bytes, atomic_write_json

if TYPE_CHECKING:
    from plugins.language.model import TinyGPT

__all__ = ["export_hf", "hf_state_dict", "hf_config", "tokenizer_json"]

_BLOCK = {"ln1": "ln_1", "ln2": "ln_2", "attention.qkv": "attn.c_attn", "attention.proj": "attn.c_proj",
          "feedforward.0": "mlp.c_fc", "feedforward.2": "mlp.c_proj"}
_TOP = {"token_embedding.weight": "transformer.wte.weight", "position.weight": "transformer.wpe.weight",
        "ln_f.weight": "transformer.ln_f.weight", "ln_f.bias": "transformer.ln_f.bias", "lm_head.weight": "lm_head.weight"}


def hf_state_dict(model: TinyGPT) -> dict[str, np.ndarray[Any, Any]]:
    """TinyGPT's weights under GPT2LMHeadModel's names, Linear weights transposed into Conv1D's (in, out)."""
    out: dict[str, np.ndarray[Any, Any]] = {}
    for name, param in model.named_parameters():
        array = param.data
        if name in _TOP:
            out[_TOP[name]] = np.ascontiguousarray(array)
            continue
        _, layer, rest = name.split(".", 2)
        module, _, leaf = rest.rpartition(".")
        target = f"transformer.h.{layer}.{_BLOCK[module]}.{leaf}"
        out[target] = np.ascontiguousarray(array.T if leaf == "weight" else array)
    return out


def _eos_id(tokenizer: Any) -> int | None:
    return getattr(tokenizer, "eos_token_id", None) if tokenizer is not None else None


def hf_config(model: TinyGPT) -> dict[str, Any]:
    """``config.json`` for ``model`` (GPT2Config's keys)."""
    c = model.config
    eos = _eos_id(model.tokenizer)
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": c.vocab_size, "n_positions": c.block_size, "n_ctx": c.block_size, "n_embd": c.d_model,
        "n_layer": c.num_layers, "n_head": c.num_heads, "n_inner": None,
        "activation_function": "gelu_new" if c.gelu_approximate == "tanh" else "gelu",
        "resid_pdrop": c.dropout, "embd_pdrop": c.dropout, "attn_pdrop": c.dropout,
        "layer_norm_epsilon": c.layer_norm_eps, "initializer_range": 0.02, "scale_attn_weights": True,
        "use_cache": True, "tie_word_embeddings": c.tie_weights, "bos_token_id": eos, "eos_token_id": eos,
        "torch_dtype": str(model.token_embedding.weight.dtype),
    }


def tokenizer_json(tokenizer: Any) -> dict[str, Any]:
    """The ``tokenizers`` JSON document equal to a TinyTorch tokenizer (see the module docstring)."""
    from plugins.language.gpt2_tokenizer import GPT2Tokenizer, bytes_to_unicode
    from plugins.language.tokenizers import BPETokenizer, CharTokenizer

    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    added: list[dict[str, Any]] = []
    if isinstance(tokenizer, GPT2Tokenizer):
        byte_level["add_prefix_space"] = tokenizer.add_prefix_space
        vocab, merges = dict(tokenizer.vocab), [[a, b] for a, b in tokenizer.merges]
        added = [_added(content, i) for content, i in sorted(tokenizer.special_tokens.items(), key=lambda kv: kv[1])]
        pre, decoder, unk = byte_level, dict(byte_level), None
    elif isinstance(tokenizer, BPETokenizer):
        alphabet = bytes_to_unicode()
        strings = [alphabet[b] for b in range(256)]
        for left, right in tokenizer.merges:
            strings.append(strings[left] + strings[right])
        if len(set(strings)) != len(strings):
            seen: dict[str, int] = {}
            clash = next((seen[s], i) for i, s in enumerate(strings) if seen.setdefault(s, i) != i)
            raise ValueError(f"export: BPE tokens {clash[0]} and {clash[1]} spell the same bytes, which the tokenizers "
                             "format cannot hold (one vocabulary entry per string); retrain the tokenizer")
        vocab = {s: i for i, s in enumerate(strings)}
        merges = [[strings[a], strings[b]] for a, b in tokenizer.merges]
        pre, decoder, unk = {**byte_level, "use_regex": False}, dict(byte_level), None
    elif isinstance(tokenizer, CharTokenizer):
        vocab, merges = {ch: i for i, ch in enumerate(tokenizer.vocab)}, []
        pre, decoder = None, {"type": "Fuse"}
        unk = tokenizer.replacement if tokenizer.errors == "replace" else None
    else:
        raise ValueError(f"export: no tokenizers-format equivalent for {type(tokenizer).__name__}")
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": pre, "post_processor": None, "decoder": decoder,
        "model": {"type": "BPE", "dropout": None, "unk_token": unk, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


def _added(content: str, index: int) -> dict[str, Any]:
    return {"id": index, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def _tokenizer_config(model: TinyGPT) -> dict[str, Any]:
    from plugins.language.gpt2_tokenizer import GPT2Tokenizer

    tokenizer = model.tokenizer
    config: dict[str, Any] = {
        "tokenizer_class": "GPT2Tokenizer" if isinstance(tokenizer, GPT2Tokenizer) else "PreTrainedTokenizerFast",
        "model_max_length": model.config.block_size, "clean_up_tokenization_spaces": False,
        "add_prefix_space": bool(getattr(tokenizer, "add_prefix_space", False)),
    }
    eos = _eos_id(tokenizer)
    if isinstance(tokenizer, GPT2Tokenizer) and eos is not None:
        name = next(t for t, i in tokenizer.special_tokens.items() if i == eos)
        config.update({"bos_token": name, "eos_token": name, "unk_token": name})
    return config


def export_hf(model: TinyGPT, out: str | os.PathLike[str]) -> Path:
    """Write ``model`` (and its tokenizer, if any) as a Hugging Face GPT-2 directory at ``out``.

    Everything is written into a temporary sibling directory first, so a failure leaves ``out`` as
    it was; an existing ``out`` has its files replaced one by one (each atomically).
    """
    import safetensors.numpy

    from plugins.language.gpt2_tokenizer import GPT2Tokenizer

    target = Path(out)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"export: {target} exists and is not a directory; pick a directory for --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        atomic_write_json(staging / "config.json", hf_config(model), indent=2)
        payload = safetensors.numpy.save(hf_state_dict(model), metadata={"format": "pt"})
        atomic_write_bytes(staging / "model.safetensors", payload)
        if model.tokenizer is not None:
            atomic_write_json(staging / "tokenizer.json", tokenizer_json(model.tokenizer))
            atomic_write_json(staging / "tokenizer_config.json", _tokenizer_config(model), indent=2)
            if isinstance(model.tokenizer, GPT2Tokenizer):
                model.tokenizer.save_pretrained(staging)
        if not target.exists():
            staging.rename(target)
        else:
            for item in staging.iterdir():
                os.replace(item, target / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
