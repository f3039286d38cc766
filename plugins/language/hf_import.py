"""Load a Hugging Face GPT-2-family directory into TinyGPT (``TinyGPT.from_pretrained(DIR)``).

The directory holds ``config.json``, the weights as ``model.safetensors`` (or shards listed in
``model.safetensors.index.json``) and the tokenizer (``tokenizer.json`` and/or ``vocab.json`` +
``merges.txt``). GPT-2's names map onto TinyGPT's one to one; its ``Conv1D`` layers store weights
as (in, out), the transpose of a ``Linear``'s (out, in). ``pytorch_model.bin`` is a pickle, which
can run code when loaded, so it is refused with the one-line conversion to safetensors.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from plugins.language.safetensors_io import SafetensorsFile
from tinytorch_core.fileio import read_json_object

if TYPE_CHECKING:
    from plugins.language.model import TinyGPT, Tokenizer  # noqa: F401 (Tokenizer: the signature tinygpt shows)

__all__ = ["load_pretrained", "tinygpt", "tinygpt_kwargs", "read_hf_config", "hf_to_tinygpt_name", "GELU_KINDS"]

#: ``activation_function`` -> TinyGPT's ``gelu_approximate`` (PyTorch's ``GELU(approximate=...)``).
#: gelu_new, gelu_fast and gelu_pytorch_tanh are the same tanh formula; gelu is the exact erf form.
GELU_KINDS = {"gelu_new": "tanh", "gelu_fast": "tanh", "gelu_pytorch_tanh": "tanh", "gelu": "none", "gelu_python": "none"}

CONVERT_HINT = (
    "python -c \"from transformers import AutoModelForCausalLM as M; "
    "M.from_pretrained('{dir}').save_pretrained('{dir}', safe_serialization=True)\""
)

_LAYER = re.compile(r"h\.(\d+)\.(.+)")
_BLOCK_NAMES = {
    "ln_1": "ln1", "ln_2": "ln2", "attn.c_attn": "attention.qkv", "attn.c_proj": "attention.proj",
    "mlp.c_fc": "feedforward.0", "mlp.c_proj": "feedforward.2",
}
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
_TOP_NAMES = {"wte.weight": "token_embedding.weight", "wpe.weight": "position.weight",
              "ln_f.weight": "ln_f.weight", "ln_f.bias": "ln_f.bias", "lm_head.weight": "lm_head.weight"}
# Buffers older GPT-2 checkpoints carry (the causal mask and its fill value): not weights.
_IGNORED = re.compile(r"h\.\d+\.attn\.(bias|masked_bias)")


def read_hf_config(folder: Path) -> dict[str, Any]:
    """``config.json`` of a GPT-2-family model, refusing the variants TinyGPT cannot represent."""
    path = folder / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no config.json; is this a Hugging Face model directory?")
    config = read_json_object(path, "Hugging Face config (JSON)")
    if config.get("model_type") != "gpt2":
        raise ValueError(f"{path}: model_type {config.get('model_type')!r} is not 'gpt2'; TinyGPT loads GPT-2-family models only")
    d_model = int(config.get("n_embd", 768))
    refusals = [
        (config.get("n_inner") not in (None, 4 * d_model), f"n_inner={config.get('n_inner')} (TinyGPT's MLP is 4 * n_embd wide)"),
        (not config.get("scale_attn_weights", True), "scale_attn_weights=false"),
        (bool(config.get("scale_attn_by_inverse_layer_idx", False)), "scale_attn_by_inverse_layer_idx=true"),
        (bool(config.get("add_cross_attention", False)), "add_cross_attention=true"),
        (config.get("activation_function", "gelu_new") not in GELU_KINDS,
         f"activation_function={config.get('activation_function')!r} (supported: {', '.join(GELU_KINDS)})"),
    ]
    unsupported = [reason for bad, reason in refusals if bad]
    if unsupported:
        raise ValueError(f"{path}: TinyGPT cannot represent {'; '.join(unsupported)}")
    return config


def tinygpt_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """TinyGPT's constructor keywords for a GPT-2 ``config.json`` (dropout 0: fine-tuning sets its own)."""
    return {
        "vocab_size": int(config.get("vocab_size", 50257)),
        "d_model": int(config.get("n_embd", 768)),
        "num_layers": int(config.get("n_layer", 12)),
        "num_heads": int(config.get("n_head", 12)),
        "block_size": int(config.get("n_positions", 1024)),
        "tie_weights": bool(config.get("tie_word_embeddings", True)),
        "layer_norm_eps": float(config.get("layer_norm_epsilon", 1e-5)),
        "gelu_approximate": GELU_KINDS[config.get("activation_function", "gelu_new")],
    }


def hf_to_tinygpt_name(name: str) -> tuple[str, bool] | None:
    """TinyGPT's name for a GPT-2 weight and whether it must be transposed (Conv1D); None for ignored buffers."""
    if name.startswith("transformer."):
        name = name[len("transformer."):]
    if _IGNORED.fullmatch(name):
        return None
    if name in _TOP_NAMES:
        return _TOP_NAMES[name], False
    match = _LAYER.fullmatch(name)
    if match:
        layer, rest = match.groups()
        module, _, leaf = rest.rpartition(".")
        if module in _BLOCK_NAMES and leaf in ("weight", "bias"):
            return f"blocks.{layer}.{_BLOCK_NAMES[module]}.{leaf}", rest in _CONV1D
    raise ValueError(f"unexpected weight {name!r}: not part of GPT-2's architecture")


def weight_files(folder: Path) -> list[Path]:
    """The safetensors file(s) of ``folder``: ``model.safetensors`` or the shards of its index."""
    index = folder / "model.safetensors.index.json"
    single = folder / "model.safetensors"
    if single.is_file():
        return [single]
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{index}: not a safetensors index (no weight_map: {exc})") from None
        shards = sorted(set(weight_map.values()))
        if any(Path(s).name != s for s in shards):
            raise ValueError(f"{index}: shard names must be plain file names in the directory")
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise FileNotFoundError(f"{index} lists {', '.join(missing)}, which are not in {folder}")
        return [folder / s for s in shards]
    pickled = [p.name for p in (folder / "pytorch_model.bin", folder / "pytorch_model.bin.index.json") if p.is_file()]
    if pickled:
        raise ValueError(
            f"{folder} has {pickled[0]}, a pickle: loading one can run arbitrary code, so TinyTorch never does. "
            f"Convert it to safetensors once (needs torch + transformers): {CONVERT_HINT.format(dir=folder)}"
        )
    raise FileNotFoundError(f"{folder}: no model.safetensors (nor model.safetensors.index.json)")


def _tensors(folder: Path) -> Iterator[tuple[SafetensorsFile, str]]:
    for path in weight_files(folder):
        tensors = SafetensorsFile(path)
        for name in tensors.names():
            yield tensors, name


def load_pretrained(cls: type[TinyGPT], directory: str | os.PathLike[str], dtype: Any = np.float32,
                    dropout: float = 0.0) -> TinyGPT:
    """A TinyGPT holding the weights (and tokenizer, when present) of a Hugging Face GPT-2 directory."""
    from tinytorch_core import default_dtype

    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a directory (a Hugging Face model directory holds config.json, "
                                "model.safetensors and the tokenizer files)")
    config = read_hf_config(folder)
    kwargs = tinygpt_kwargs(config)
    files = weight_files(folder)  # before building a model: a refused pickle should cost nothing
    tokenizer = _tokenizer(folder)
    with default_dtype(np.dtype(dtype)):
        model = cls(**kwargs, dropout=dropout, tokenizer=tokenizer)
    params = dict(model.named_parameters())
    plan: list[tuple[SafetensorsFile, str, str, bool]] = []
    problems: list[str] = []
    for tensors, hf_name in _tensors(folder):
        try:
            mapped = hf_to_tinygpt_name(hf_name)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if mapped is None:
            continue
        name, transpose = mapped
        if name == "lm_head.weight" and kwargs["tie_weights"]:
            continue  # a tied checkpoint may still store the head: it is the embedding
        shape = tensors.shape(hf_name)[::-1] if transpose else tensors.shape(hf_name)
        if name not in params:
            problems.append(f"{hf_name} has no place in the model")
        elif tuple(params[name].shape) != tuple(shape):
            problems.append(f"{hf_name}: shape {tensors.shape(hf_name)} does not fit {name} {params[name].shape}")
        else:
            plan.append((tensors, hf_name, name, transpose))
    missing = sorted(set(params) - {name for _, _, name, _ in plan})
    if missing:
        problems.append(f"missing weights for {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}")
    if problems:
        raise ValueError(f"{folder} ({', '.join(f.name for f in files)}): {'; '.join(problems[:4])}")
    for tensors, hf_name, name, transpose in plan:
        array = tensors.read(hf_name, params[name].data.dtype)
        params[name].data[...] = array.T if transpose else array
    model.eval()
    return model


def _tokenizer(folder: Path) -> Any:
    """The directory's GPT-2 tokenizer, or None when it ships none (ids in and out still work)."""
    from plugins.language.gpt2_tokenizer import GPT2Tokenizer

    if not any((folder / f).is_file() for f in ("tokenizer.json", "vocab.json")):
        return None
    return GPT2Tokenizer.from_pretrained(folder)


# ---------------------------------------------------------------- the registered ``tinygpt`` factory
_ARCHITECTURE = ("d_model", "num_layers", "num_heads", "tie_weights", "layer_norm_eps", "gelu_approximate")


def tinygpt(*, pretrained: str | None = None, **kwargs: Any) -> TinyGPT:
    """``[model] name = "tinygpt"``: a new TinyGPT, or with ``pretrained = "DIR"`` a Hugging Face GPT-2 to fine-tune.

    With ``pretrained``, the architecture comes from ``DIR/config.json`` (setting it too is an error);
    ``dropout`` applies to the fine-tuning. The text must be encoded with the directory's tokenizer
    (``[data] tokenizer = "DIR"``), and the dataset's ``block_size`` (its windows) may be shorter
    than the model's context: the position table is kept whole.
    """
    from plugins.language.model import TinyGPT, Tokenizer  # noqa: F401 (Tokenizer: the signature tinygpt shows)

    if pretrained is None:
        return TinyGPT(**kwargs)
    where = f"[model] pretrained = {pretrained!r}"
    clashing = sorted(k for k in _ARCHITECTURE if k in kwargs)
    if clashing:
        raise ValueError(f"{where}: {', '.join(clashing)} come(s) from the pretrained config.json; remove them")
    model = load_pretrained(TinyGPT, pretrained, dropout=float(kwargs.get("dropout", 0.0)))
    tokenizer = kwargs.get("tokenizer")
    if tokenizer is not None and tokenizer != model.tokenizer:
        raise ValueError(f"{where}: the text was encoded with another tokenizer ({tokenizer!r}); "
                         f"set [data] tokenizer = {pretrained!r} to use the model's own")
    block = kwargs.get("block_size")
    if block is not None and int(block) > model.config.block_size:
        raise ValueError(f"{where}: block_size={block} exceeds the model's context of {model.config.block_size} positions")
    vocab = kwargs.get("vocab_size")
    if vocab is not None and int(vocab) > model.config.vocab_size:
        raise ValueError(f"{where}: vocab_size={vocab} exceeds the model's {model.config.vocab_size} tokens")
    model.train()
    return model


def _tinygpt_signature() -> Any:
    """TinyGPT's keywords plus ``pretrained``, so the registry checks config keys against them."""
    import inspect

    from plugins.language.model import TinyGPT, Tokenizer  # noqa: F401 (Tokenizer: the signature tinygpt shows)

    params = list(inspect.signature(TinyGPT).parameters.values())
    extra = inspect.Parameter("pretrained", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="str | None")
    return inspect.Signature([*params, extra])


tinygpt.__signature__ = _tinygpt_signature()  # type: ignore[attr-defined]
