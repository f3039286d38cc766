"""The language plugin's hook implementations (entry point ``language = plugins.language.plugin``).

Loading this module must stay cheap (it runs on every ``tinytorch`` invocation): the model,
attention and data code is imported inside the factories and hooks that need it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from tinytorch_core.lazy import LazyFactory
from tinytorch_core.hookspecs import CommandRegistry, ConfigSchema, Register, hookimpl

if TYPE_CHECKING:
    import numpy as np

    from tinytorch_core import Tensor
    from tinytorch_core.nn import Module

__all__ = [
    "tinytorch_register_modalities", "tinytorch_register_tokenizers", "tinytorch_register_datasets",
    "tinytorch_register_modules", "tinytorch_register_models", "tinytorch_register_reuse_targets",
    "tinytorch_register_commands", "tinytorch_add_config_schema", "tinytorch_on_train_end",
    "tinytorch_register_callbacks",
    "tinygpt", "SAMPLE_DEFAULTS",
]

#: ``[language]`` settings for the sample printed after training (and their defaults).
SAMPLE_DEFAULTS: dict[str, Any] = {
    "sample_chars": 300,  # tokens to generate: characters with the char tokenizer
    "sample_prompt": "\n",
    "sample_temperature": 1.0,
    "sample_top_k": 0,  # 0 = no top-k filtering
    "sample_seed": 0,
    "save_model": True,  # write <run dir>/model.safetensors for `tinytorch generate`
}

_SAMPLE_KEY_TYPES: dict[str, type | tuple[type, ...]] = {
    "sample_chars": int,
    "sample_prompt": str,
    "sample_temperature": float,
    "sample_top_k": int,
    "sample_seed": int,
    "save_model": bool,
}


def _randn(*shape: int) -> Tensor:
    """A fixed pseudo-random float input, so conformance checks are reproducible."""
    import numpy as np

    from tinytorch_core import Tensor

    return Tensor(np.random.default_rng(0).standard_normal(shape))


def _token_batch(batch: int, steps: int, vocab_size: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Random token ids (B, T) and their next-token targets (B, T), from one sequence of T + 1."""
    import numpy as np

    sequence = np.random.default_rng(0).integers(0, vocab_size, size=(batch, steps + 1), dtype=np.int64)
    return sequence[:, :-1], sequence[:, 1:]


# ---------------------------------------------------------------- factories (lazy imports)
def attention(d_model: int = 8, num_heads: int = 2, dropout: float = 0.0, causal: bool = True, bias: bool = True) -> Module:
    """``MultiHeadAttention`` (small defaults, for the conformance check)."""
    from plugins.language.attention import MultiHeadAttention

    return MultiHeadAttention(d_model, num_heads, dropout=dropout, causal=causal, bias=bias)


def transformer_block(d_model: int = 8, num_heads: int = 2, d_ff: int | None = None, dropout: float = 0.0) -> Module:
    """A pre-LayerNorm ``TransformerBlock`` (small defaults, for the conformance check)."""
    from plugins.language.transformer import TransformerBlock

    return TransformerBlock(d_model, num_heads, d_ff=d_ff, dropout=dropout)


def positional_encoding(block_size: int = 8, d_model: int = 8, kind: str = "learned") -> Module:
    """``PositionalEncoding`` (learned or sinusoidal); called on (B, T, d) it adds the positions."""
    from plugins.language.positional import PositionalEncoding

    return PositionalEncoding(block_size, d_model, kind=kind)


tinygpt = LazyFactory(
    "plugins.language.hf_import", "tinygpt",
    "``TinyGPT``; the ``text`` dataset's info supplies ``vocab_size``, ``block_size`` and ``tokenizer``; "
    "``pretrained = DIR`` starts from a Hugging Face GPT-2 directory (fine-tuning).",
)


_TINY_GPT: dict[str, Any] = {"vocab_size": 13, "d_model": 16, "num_layers": 1, "num_heads": 2, "block_size": 8}
_REUSE_GPT: dict[str, Any] = {"vocab_size": 65, "d_model": 32, "num_layers": 2, "num_heads": 4, "block_size": 16}


def _reuse_model() -> Module:
    return cast("Module", tinygpt(**_REUSE_GPT))


# ---------------------------------------------------------------- registration hooks
@hookimpl
def tinytorch_register_modalities(register: Register) -> None:
    """The ``language`` modality."""
    register("language", "text: tokenizers, attention, transformer language models")


@hookimpl
def tinytorch_register_tokenizers(register: Register) -> None:
    """``char`` and ``bpe``."""
    from plugins.language.tokenizers import BPETokenizer, CharTokenizer

    register("char", CharTokenizer, description="one token per character (default vocabulary: string.printable)",
             sample_text="Hello, world!\n  x = 42\n")
    register("bpe", BPETokenizer, description="byte-level byte-pair encoding, trained on a text",
             sample_text="the theme of the thesis: caf\u00e9 \u2603\n", trainable=True)


@hookimpl
def tinytorch_register_datasets(register: Register) -> None:
    """``text``: a corpus cut into windows of block_size tokens."""
    from plugins.language.data import text_dataset

    register("text", text_dataset,
             description="a corpus (file path, 'stdlib' offline default, or 'shakespeare') as next-token windows",
             sample_config={"corpus": "stdlib", "block_size": 16, "max_chars": 20_000})


@hookimpl
def tinytorch_register_modules(register: Register) -> None:
    """Attention, transformer block and positional encoding."""
    register("attention", attention, description="multi-head causal self-attention (fused QKV)",
             sample_input=lambda: (_randn(2, 4, 8),), kwargs={"d_model": 8, "num_heads": 2})
    register("transformer_block", transformer_block, description="pre-LayerNorm transformer block",
             sample_input=lambda: (_randn(2, 4, 8),), kwargs={"d_model": 8, "num_heads": 2})
    register("positional_encoding", positional_encoding, description="learned or sinusoidal position table",
             sample_input=lambda: (_randn(2, 4, 8),), kwargs={"block_size": 8, "d_model": 8})


@hookimpl
def tinytorch_register_models(register: Register) -> None:
    """``tinygpt``."""
    register("tinygpt", tinygpt, description="GPT language model (nanoGPT architecture)",
             sample_kwargs=dict(_TINY_GPT), sample_batch=lambda: _token_batch(2, 8, _TINY_GPT["vocab_size"]))


@hookimpl
def tinytorch_register_callbacks(register: Register) -> None:
    """``sample``: print a short generation every N steps."""
    register("sample", LazyFactory("plugins.language.callbacks", "sample",
                                   "print a short sample every N steps: {name = \"sample\", every = 200}"),
             description="print a short sample every N steps ([train] callbacks = [{name = \"sample\", every = 200}])")


@hookimpl
def tinytorch_register_reuse_targets(register: Register) -> None:
    """A small TinyGPT training step, for the reuse report."""
    register("tinygpt", _reuse_model, description="2-layer TinyGPT, batch 4 x 16 tokens",
             sample_batch=lambda: _token_batch(4, 16, _REUSE_GPT["vocab_size"]))


@hookimpl
def tinytorch_register_commands(cli: CommandRegistry) -> None:
    """``tinytorch generate`` and ``tinytorch export``."""
    from plugins.language.cli import GENERATE_HELP, add_generate_arguments, run_generate
    from plugins.language.export_cli import EXPORT_HELP, add_export_arguments, run_export

    cli.add_command("generate", run_generate, help=GENERATE_HELP, arguments=add_generate_arguments)
    cli.add_command("export", run_export, help=EXPORT_HELP, arguments=add_export_arguments)


@hookimpl
def tinytorch_add_config_schema(schema: ConfigSchema) -> None:
    """``[language]``: the sample printed after training and whether the model is saved."""
    schema.add_section("language", _SAMPLE_KEY_TYPES,
                       "after training a TinyGPT: sample_chars/sample_prompt/sample_temperature/sample_top_k/"
                       "sample_seed for the printed sample, save_model for <run dir>/model.safetensors")


# ---------------------------------------------------------------- trainer events
def language_settings(config: Any) -> dict[str, Any]:
    """``SAMPLE_DEFAULTS`` updated by the config's ``[language]`` table (a dict or a registry ``Config``)."""
    data = getattr(config, "data", config)
    table = data.get("language", {}) if isinstance(data, Mapping) else {}
    settings = dict(SAMPLE_DEFAULTS)
    if isinstance(table, Mapping):
        settings.update({k: v for k, v in table.items() if k in SAMPLE_DEFAULTS})
    return settings


@hookimpl
def tinytorch_on_train_end(trainer: Any, config: Mapping[str, Any]) -> None:
    """After a TinyGPT trained: save it to ``<run dir>/model.safetensors`` and print a sample."""
    model_module = sys.modules.get("plugins.language.model")
    # The model module is imported by whoever built a TinyGPT; if it is absent, this run trained something else.
    if model_module is None or not isinstance(getattr(trainer, "model", None), model_module.TinyGPT):
        return
    model = trainer.model
    settings = language_settings(config)
    run_dir = getattr(trainer, "run_dir", None)
    if run_dir is not None and settings["save_model"]:
        path = Path(run_dir) / "model.safetensors"
        model.save(path)
        print(f"saved model to {path} (sample from it: tinytorch generate {path} --prompt TEXT)")
    if settings["sample_chars"] <= 0 or model.tokenizer is None:
        return
    was_training = model.training
    model.eval()
    try:
        sample: Callable[..., str] = model.generate
        text = sample(
            settings["sample_prompt"],
            max_length=int(settings["sample_chars"]),
            temperature=float(settings["sample_temperature"]),
            top_k=int(settings["sample_top_k"]) or None,
            seed=int(settings["sample_seed"]),
        )
    except ValueError as exc:
        print(f"note: no sample printed: {exc}")
        return
    finally:
        model.train(was_training)
    print(f"--- sample ({settings['sample_chars']} tokens, temperature {settings['sample_temperature']}) ---")
    print(text)
    print("---")
