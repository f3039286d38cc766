"""A trained captioner as one safetensors file: weights, model config, tokenizer and data config (no pickle)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tinytorch_core import serialization

from tinytorch_captioning.model import Captioner
from tinytorch_captioning.words import WordTokenizer

FORMAT = "tinytorch-captioner"
FILENAME = "captioner.safetensors"


def save_captioner(model: Captioner, path: str | os.PathLike[str], data: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``path`` atomically; ``data`` (the dataset's config) lets ``--index`` rebuild images."""
    target = Path(path)
    metadata = {"format": FORMAT, "model": model.config, "tokenizer": model.tokenizer.to_dict(), "data": data or {}}
    serialization.save(target, model.state_dict(), metadata)
    return target


def resolve(path: str | os.PathLike[str]) -> Path:
    """A captioner file, or the run directory holding one."""
    source = Path(path)
    return source / FILENAME if source.is_dir() else source


def _tokenizer(payload: Any, components: Any, where: Path) -> Any:
    kind = payload.get("type") if isinstance(payload, dict) else None
    if kind == "caption_words":
        return WordTokenizer.from_dict(payload)
    if kind == "char":
        return components.get("tokenizers", "language:char")(vocab=str(payload["vocab"]))
    raise serialization.CheckpointError(f"{where}: unknown tokenizer {kind!r} in the captioner's metadata")


def load_captioner(path: str | os.PathLike[str], components: Any) -> tuple[Captioner, dict[str, Any]]:
    """The captioner stored at ``path`` (file or run directory) and its data config."""
    source = resolve(path)
    if not source.is_file():
        raise FileNotFoundError(f"no captioner at {source}; train one first (tinytorch train "
                                f"examples/tinytorch-captioning/captioning.toml writes <run dir>/{FILENAME})")
    tensors, metadata = serialization.load(source)
    if metadata.get("format") != FORMAT or not isinstance(metadata.get("model"), dict):
        raise serialization.CheckpointError(
            f"{source}: not a captioner file (tinytorch train examples/tinytorch-captioning/captioning.toml "
            f"writes <run dir>/{FILENAME})")
    model = Captioner(components, tokenizer=_tokenizer(metadata.get("tokenizer"), components, source),
                      **metadata["model"])
    model.load_state_dict(tensors)
    model.eval()
    data = metadata.get("data")
    return model, data if isinstance(data, dict) else {}
