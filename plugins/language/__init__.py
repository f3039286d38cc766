"""The language plugin: tokenizers, attention, TinyGPT and text data for TinyTorch.

Public names: ``CharTokenizer``, ``BPETokenizer``, ``MultiHeadAttention``, ``PositionalEncoding``,
``TransformerBlock``, ``TinyGPT``. They are imported on first use (PEP 562 module ``__getattr__``)
so that loading the plugin for ``tinytorch --help`` does not import the model code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plugins.language.attention import MultiHeadAttention
    from plugins.language.model import TinyGPT
    from plugins.language.positional import PositionalEncoding
    from plugins.language.tokenizers import BPETokenizer, CharTokenizer
    from plugins.language.transformer import TransformerBlock

_EXPORTS: dict[str, str] = {
    "CharTokenizer": "plugins.language.tokenizers",
    "BPETokenizer": "plugins.language.tokenizers",
    "MultiHeadAttention": "plugins.language.attention",
    "PositionalEncoding": "plugins.language.positional",
    "TransformerBlock": "plugins.language.transformer",
    "TinyGPT": "plugins.language.model",
}

__all__ = ["CharTokenizer", "BPETokenizer", "MultiHeadAttention", "PositionalEncoding", "TransformerBlock", "TinyGPT"]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first access."""
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'plugins.language' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
