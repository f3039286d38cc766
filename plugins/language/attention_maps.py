"""What a trained model attends to: every layer's and head's attention weights for one prompt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from plugins.language.attention import MultiHeadAttention
from tinytorch_core import no_grad
from tinytorch_core.nn import Module

Array = np.ndarray[Any, Any]


def attention_maps(model: Module, ids: Sequence[int] | Array) -> Array:
    """Attention weights (layers, heads, T, T) of ``model`` on one sequence of token ids.

    Runs one forward pass in eval mode without a graph, with every ``MultiHeadAttention`` in the
    model (in registration order: layer 0 first) keeping its weights; row ``i`` of a map is how
    query position ``i`` spreads its attention over the keys. Train mode is restored.
    """
    layers = [module for module in model.modules() if isinstance(module, MultiHeadAttention)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no MultiHeadAttention layers to read attention from")
    tokens = np.asarray(ids, dtype=np.int64).reshape(1, -1)
    if tokens.shape[1] == 0:
        raise ValueError("attention_maps: the prompt is empty; give at least one token")
    was_training = model.training
    model.eval()
    for layer in layers:
        layer.keep_attention = True
        layer.last_attention = None
    try:
        with no_grad():
            model(tokens)
        kept = [layer.last_attention for layer in layers]
    finally:
        for layer in layers:
            layer.keep_attention = False
        model.train(was_training)
    if any(weights is None for weights in kept):
        raise ValueError(f"{type(model).__name__}'s forward did not run every attention layer")
    return np.stack([np.asarray(weights)[0] for weights in kept if weights is not None])
