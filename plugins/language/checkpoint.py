"""TinyGPT checkpoints: one safetensors file holding the weights, the config and the tokenizer.

The metadata is ``{"model": "tinygpt", "format": 1, "config": {...}, "tokenizer": {...} | None}``,
``config`` holding :class:`~plugins.language.model.TinyGPTConfig`'s fields by name. Writes are
atomic and loading runs no code (no pickle).
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch_core import default_dtype

if TYPE_CHECKING:
    from plugins.language.model import TinyGPT

__all__ = ["MODEL_NAME", "CHECKPOINT_FORMAT", "save_tinygpt", "load_tinygpt"]

MODEL_NAME = "tinygpt"
CHECKPOINT_FORMAT = 1
# TinyGPTConfig fields newer than format 1 (for GPT-2-family variants): optional in a checkpoint.
_ADDED_LATER = frozenset({"layer_norm_eps", "gelu_approximate"})


def save_tinygpt(model: TinyGPT, path: str | os.PathLike[str]) -> None:
    """Write ``model``'s weights, config and tokenizer to ``path`` (see the module docstring)."""
    from tinytorch_core.serialization import save

    metadata: dict[str, Any] = {
        "model": MODEL_NAME,
        "format": CHECKPOINT_FORMAT,
        "config": dataclasses.asdict(model.config),
        "tokenizer": model.tokenizer.to_dict() if model.tokenizer is not None else None,
    }
    save(path, model.state_dict(), metadata)


def load_tinygpt(cls: type[TinyGPT], path: str | os.PathLike[str]) -> TinyGPT:
    """Rebuild the model saved at ``path``; a foreign or corrupted file raises a ValueError naming it."""
    from plugins.language.checkpoint_checks import read_checked_weights
    from plugins.language.model import TinyGPTConfig
    from plugins.language.tokenizers import tokenizer_from_dict
    from tinytorch_core.serialization import CheckpointError, load_header

    try:
        header, metadata = load_header(path)  # validated, but no tensor read yet
    except CheckpointError as exc:
        raise ValueError(f"cannot load TinyGPT from {os.fspath(path)}: {exc}") from None
    kind = metadata.get("model")
    if kind != MODEL_NAME:
        raise ValueError(
            f"{os.fspath(path)} is not a TinyGPT checkpoint (its metadata says model={kind!r}); "
            "load it with the model that wrote it"
        )
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{os.fspath(path)}: unsupported TinyGPT checkpoint format {metadata.get('format')!r}")
    config = metadata.get("config")
    fields = {f.name for f in dataclasses.fields(TinyGPTConfig)}
    expected = fields - _ADDED_LATER  # checkpoints written before those fields existed hold their defaults
    if not isinstance(config, dict) or not expected <= set(config):
        missing = sorted(expected - set(config)) if isinstance(config, dict) else sorted(expected)
        raise ValueError(f"{os.fspath(path)}: TinyGPT checkpoint config lacks {', '.join(missing)}")
    tensors = read_checked_weights(path, header, config)  # before the model is built: shapes, then finite
    tokenizer = tokenizer_from_dict(metadata["tokenizer"]) if metadata.get("tokenizer") is not None else None
    weight = tensors.get("token_embedding.weight")
    dtype = weight.dtype if weight is not None and weight.dtype.kind == "f" else np.dtype(np.float32)
    with default_dtype(dtype):
        model = cls.from_config(TinyGPTConfig(**{k: config[k] for k in fields if k in config}), tokenizer=tokenizer)
    try:
        model.load_state_dict(tensors, strict=True)
    except KeyError as exc:
        raise ValueError(f"{os.fspath(path)}: weights do not match the TinyGPT config: {exc.args[0]}") from None
    model.eval()
    return model
