"""A TinyGPT checkpoint checked before the model is built: the config's implied shapes against the
tensors the file holds (from the header alone), then the weights finite.

A config claiming a huge model (``d_model=65536, num_layers=4096``) must fail in well under a
second, not allocate terabytes in the constructor; weights of the wrong shape must fail before
anything is read; NaN weights (a diverged run) must fail rather than generate garbage.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["expected_shapes", "read_checked_weights"]


def expected_shapes(config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """The ``state_dict()`` names and shapes of ``TinyGPT(**config)``, computed without building it."""
    vocab, d, layers, block = (int(config[k]) for k in ("vocab_size", "d_model", "num_layers", "block_size"))
    shapes: dict[str, tuple[int, ...]] = {"token_embedding.weight": (vocab, d), "position.weight": (block, d)}
    per_block = {"ln1.weight": (d,), "ln1.bias": (d,),
                 "attention.qkv.weight": (3 * d, d), "attention.qkv.bias": (3 * d,),
                 "attention.proj.weight": (d, d), "attention.proj.bias": (d,),
                 "ln2.weight": (d,), "ln2.bias": (d,),
                 "feedforward.0.weight": (4 * d, d), "feedforward.0.bias": (4 * d,),
                 "feedforward.2.weight": (d, 4 * d), "feedforward.2.bias": (d,)}
    for i in range(layers):
        shapes.update({f"blocks.{i}.{name}": shape for name, shape in per_block.items()})
    shapes.update({"ln_f.weight": (d,), "ln_f.bias": (d,)})
    if not config.get("tie_weights", True):
        shapes["lm_head.weight"] = (vocab, d)
    return shapes


def _count(shapes: Mapping[str, tuple[int, ...]]) -> int:
    return sum(int(np.prod(shape, dtype=object)) for shape in shapes.values())


def read_checked_weights(path: str | os.PathLike[str], header: Any, config: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The checkpoint's tensors, read only after their names and shapes match what ``config`` implies,
    and checked finite. Raises ``ValueError`` (one line, naming the file) otherwise."""
    from tinytorch_core.safetensors_header import read_tensors
    from tinytorch_core.serialization import check_finite

    where = os.fspath(path)
    # TinyGPTConfig's own checks (positive ints, heads dividing d_model) run when the model is built;
    # here only what the shapes need, so a hostile config cannot make this loop or allocate.
    for key in ("vocab_size", "d_model", "num_layers", "block_size"):
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{where}: TinyGPT checkpoint config has {key}={value!r}; expected a positive int")
    held = {name: entry.shape for name, entry in header.tensors.items()}
    held_count = _count(held)
    # a config implying far more tensors than the file holds is refused before listing them all
    if int(config["num_layers"]) > len(held):
        layers = int(config["num_layers"])
        raise ValueError(f"{where}: the TinyGPT config implies {layers} layers ({12 * layers + 4} tensors), the file "
                         f"holds {len(held)} tensors ({held_count} parameters); the checkpoint is corrupt")
    wanted = expected_shapes(config)
    wanted_count = _count(wanted)
    if wanted_count != held_count or wanted != held:
        missing = sorted(set(wanted) - set(held))
        unexpected = sorted(set(held) - set(wanted))
        differ = [f"{name} {held[name]} in the file vs {wanted[name]} in the config"
                  for name in wanted if name in held and held[name] != wanted[name]]
        details = "; ".join(filter(None, [
            f"missing {', '.join(missing[:3])}" if missing else "",
            f"unexpected {', '.join(unexpected[:3])}" if unexpected else "",
            ", ".join(differ[:3]),
        ]))
        raise ValueError(f"{where}: the TinyGPT config implies {wanted_count} parameters, the file holds {held_count} "
                         f"({details}); the checkpoint is corrupt or from another model")
    tensors = read_tensors(header)
    check_finite(tensors, where)
    return tensors
