"""TinyGPT: a nanoGPT-architecture language model built from core components.

nanoGPT's architecture, initialisation and weight layouts (PyTorch ``Linear`` (out, in), the fused
``qkv`` rows ordered [q; k; v], a tied LM head), under TinyGPT's own parameter names, which are
not nanoGPT's: ``token_embedding`` (nanoGPT ``transformer.wte``), ``position`` (``wpe``),
``blocks.{i}`` (``h.{i}``) with ``ln1``, ``attention.qkv`` (``attn.c_attn``), ``attention.proj``
(``attn.c_proj``), ``ln2``, ``feedforward.0`` (``mlp.c_fc``), ``feedforward.2`` (``mlp.c_proj``),
and ``ln_f``. A PyTorch model with TinyGPT's names (``benchmarks/reference_torch.py``) loads the
weights unchanged. Generation (KV-cache decoding) is in :mod:`plugins.language.generation`,
checkpoint I/O in :mod:`plugins.language.checkpoint`.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np

from plugins.language.generation import iter_generate, sample_next, validate_sampling
from plugins.language.positional import PositionalEncoding
from plugins.language.transformer import TransformerBlock
from tinytorch_core import Tensor
from tinytorch_core import functional as F
from tinytorch_core.data import DataLoader
from tinytorch_core.nn import Dropout, Embedding, LayerNorm, Linear, Module, ModuleList, init

Array = np.ndarray[Any, Any]

__all__ = ["TinyGPT", "TinyGPTConfig", "Tokenizer", "sample_next"]


@dataclass(frozen=True)
class TinyGPTConfig:
    """TinyGPT's hyperparameters (nanoGPT's ``GPTConfig``): ``n_embd`` is ``d_model``, ``n_layer``
    ``num_layers``, ``n_head`` ``num_heads``; ``tie_weights`` shares the LM head with the token embedding."""

    vocab_size: int = 100
    d_model: int = 128
    num_layers: int = 6
    num_heads: int = 8
    block_size: int = 256
    dropout: float = 0.0
    tie_weights: bool = True
    layer_norm_eps: float = 1e-5  # GPT-2's layer_norm_epsilon
    gelu_approximate: str = "tanh"  # GELU(approximate=...): "tanh" (GPT-2's gelu_new) or "none" (erf, HF "gelu")

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "num_layers", "num_heads", "block_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"TinyGPT: {name} must be a positive int, got {value!r}")
            object.__setattr__(self, name, int(value))  # numpy ints become plain ints (JSON metadata)
        if self.d_model % self.num_heads != 0:
            raise ValueError(
                f"TinyGPT: d_model={self.d_model} is not divisible by num_heads={self.num_heads}; "
                "pick num_heads dividing d_model (e.g. d_model=128 with 4 or 8 heads)"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"TinyGPT: dropout must be in [0, 1), got {self.dropout}")
        object.__setattr__(self, "dropout", float(self.dropout))
        object.__setattr__(self, "tie_weights", bool(self.tie_weights))
        if not (isinstance(self.layer_norm_eps, (int, float)) and 0.0 < float(self.layer_norm_eps) < 1.0):
            raise ValueError(f"TinyGPT: layer_norm_eps must be a small positive float (e.g. 1e-5), got {self.layer_norm_eps!r}")
        object.__setattr__(self, "layer_norm_eps", float(self.layer_norm_eps))
        if self.gelu_approximate not in ("tanh", "none"):
            raise ValueError(f"TinyGPT: gelu_approximate must be 'tanh' (GPT-2) or 'none' (erf), got {self.gelu_approximate!r}")


class Tokenizer(Protocol):
    """What TinyGPT needs from a tokenizer (``CharTokenizer`` and ``BPETokenizer`` both fit)."""

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def encode_array(self, text: str) -> Array: ...  # whole corpora, for train_on_text

    def decode(self, ids: Sequence[int] | Array) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


def _interactive() -> bool:
    """Whether a person is watching: a terminal on stdout, or a Jupyter kernel."""
    import sys

    isatty = getattr(sys.stdout, "isatty", None)
    return "ipykernel" in sys.modules or (callable(isatty) and bool(isatty()))


class TinyGPT(Module):
    """A GPT language model: token + learned position embeddings, pre-LN blocks, final LayerNorm, LM head.

    ``model(idx)`` maps integer token ids (B, T), T <= block_size, to logits (B, T, vocab_size).
    With ``tie_weights`` (default) the LM head reuses ``token_embedding.weight`` (no separate
    parameter, no bias); otherwise it is ``lm_head``. Initialisation follows nanoGPT: weights
    N(0, 0.02), biases 0, residual projections N(0, 0.02 / sqrt(2 * num_layers)).

    The keywords are :class:`TinyGPTConfig`'s fields (``TinyGPT.from_config(config)`` takes one);
    ``model.config`` holds them, and ``model.block_size`` etc. read them.
    ``layer_norm_eps`` and ``gelu_approximate`` cover GPT-2-family variants (:meth:`from_pretrained`).
    ``tokenizer`` (with ``encode``/``decode``/``vocab_size``/``to_dict``) is needed by
    :meth:`generate`, :meth:`train_on_text` and kept in checkpoints; when ``vocab_size == 100``
    and none is given, ``CharTokenizer()`` (``string.printable``) is used.
    """

    def __init__(
        self,
        vocab_size: int = 100,
        d_model: int = 128,
        num_layers: int = 6,
        num_heads: int = 8,
        block_size: int = 256,
        dropout: float = 0.0,
        tie_weights: bool = True,
        tokenizer: Tokenizer | None = None,
        layer_norm_eps: float = 1e-5,
        gelu_approximate: str = "tanh",
    ) -> None:
        super().__init__()
        config = TinyGPTConfig(vocab_size, d_model, num_layers, num_heads, block_size, dropout, tie_weights,
                               layer_norm_eps, gelu_approximate)
        if tokenizer is None and config.vocab_size == 100:
            from plugins.language.tokenizers import CharTokenizer

            tokenizer = CharTokenizer()
        if tokenizer is not None and tokenizer.vocab_size > config.vocab_size:
            raise ValueError(
                f"TinyGPT: the tokenizer has {tokenizer.vocab_size} tokens but vocab_size={config.vocab_size}; "
                f"use vocab_size={tokenizer.vocab_size} (or larger)"
            )
        self.config = config
        self.tokenizer: Tokenizer | None = tokenizer

        d = config.d_model
        self.token_embedding = Embedding(config.vocab_size, d)
        init.normal_(self.token_embedding.weight, 0.0, 0.02)
        self.position = PositionalEncoding(config.block_size, d, kind="learned")
        self.drop = Dropout(config.dropout)
        self.blocks = ModuleList(TransformerBlock(d, config.num_heads, 4 * d, config.dropout,
                                                  layer_norm_eps=config.layer_norm_eps,
                                                  gelu_approximate=config.gelu_approximate)
                                 for _ in range(config.num_layers))
        self.ln_f = LayerNorm(d, eps=config.layer_norm_eps)
        if not config.tie_weights:
            self.lm_head = Linear(d, config.vocab_size, bias=False)
            init.normal_(self.lm_head.weight, 0.0, 0.02)
        residual_std = 0.02 / math.sqrt(2 * config.num_layers)
        for name, param in self.named_parameters():
            if name.endswith("attention.proj.weight") or name.endswith("feedforward.2.weight"):
                init.normal_(param, 0.0, residual_std)

    @classmethod
    def from_config(cls, config: TinyGPTConfig, tokenizer: Tokenizer | None = None) -> TinyGPT:
        """A freshly initialised model of ``config``'s shape."""
        return cls(config.vocab_size, config.d_model, config.num_layers, config.num_heads, config.block_size,
                   config.dropout, config.tie_weights, tokenizer=tokenizer, layer_norm_eps=config.layer_norm_eps,
                   gelu_approximate=config.gelu_approximate)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike[str]) -> TinyGPT:
        """A Hugging Face GPT-2-family directory (config.json, model.safetensors, tokenizer files) as a TinyGPT.

        See :mod:`plugins.language.hf_import`; ``pytorch_model.bin`` (a pickle) is refused.
        """
        from plugins.language.hf_import import load_pretrained

        return load_pretrained(cls, directory)

    # The config's fields, read-only, under the names the model always had.
    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def d_model(self) -> int:
        return self.config.d_model

    @property
    def num_layers(self) -> int:
        return self.config.num_layers

    @property
    def num_heads(self) -> int:
        return self.config.num_heads

    @property
    def block_size(self) -> int:
        return self.config.block_size

    @property
    def dropout_p(self) -> float:
        return self.config.dropout

    @property
    def tie_weights(self) -> bool:
        return self.config.tie_weights

    # ------------------------------------------------------------------ forward
    def _check_ids(self, idx: Tensor | Array | Sequence[Sequence[int]]) -> Array:
        ids = idx.data if isinstance(idx, Tensor) else np.asarray(idx)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"TinyGPT: token ids must be integers, got dtype {ids.dtype}")
        if ids.ndim != 2:
            raise ValueError(f"TinyGPT: expected token ids of shape (B, T), got shape {ids.shape}; use ids[None] for one sequence")
        if ids.shape[1] > self.block_size:
            raise ValueError(
                f"TinyGPT: sequence length {ids.shape[1]} exceeds block_size={self.block_size}; "
                f"crop to the last {self.block_size} tokens (generate() does this for you)"
            )
        if ids.shape[1] == 0:
            raise ValueError("TinyGPT: empty sequence (T = 0); pass at least one token")
        return ids

    def _head(self, x: Tensor) -> Tensor:
        weight = self.token_embedding.weight if self.config.tie_weights else self.lm_head.weight
        return F.linear(x, weight)

    def forward(self, idx: Tensor | Array, padding_mask: Array | Tensor | None = None) -> Tensor:
        """Logits (B, T, vocab_size) for token ids (B, T); ``padding_mask`` (B, T) bool hides padded keys."""
        ids = self._check_ids(idx)
        x = self.token_embedding(ids) + self.position(ids.shape[1])
        if self.config.dropout > 0.0 and self.training:
            x = self.drop(x)
        for block in self.blocks:
            x = block(x, padding_mask) if padding_mask is not None else block(x)
        return self._head(self.ln_f(x))

    # ------------------------------------------------------------------ generation
    def generate_tokens(
        self,
        idx: Array | Tensor | Sequence[Sequence[int]],
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        use_cache: bool = True,
    ) -> Array:
        """Extend each row of ``idx`` (B, T) by ``max_new_tokens`` sampled tokens; returns (B, T + new) int64.

        Rows longer than block_size condition only on their last block_size tokens (a warning says
        so) but are returned whole. ``use_cache=False`` recomputes the full context at every step
        (the reference the KV cache must equal).
        """
        validate_sampling(max_new_tokens, temperature, top_k, top_p)
        ids = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if ids.dtype.kind not in "iu" or ids.ndim != 2 or ids.shape[1] == 0:
            raise ValueError(f"generate_tokens: idx must be a non-empty (B, T) integer array, got shape {ids.shape}, dtype {ids.dtype}")
        ids = ids.astype(np.int64, copy=False)
        if ids.min() < 0 or ids.max() >= self.config.vocab_size:
            raise ValueError(f"generate_tokens: token ids must be in [0, {self.config.vocab_size}), got range [{ids.min()}, {ids.max()}]")
        if ids.shape[1] > self.config.block_size:
            warnings.warn(
                f"prompt of {ids.shape[1]} tokens is longer than block_size={self.config.block_size}; "
                f"conditioning on its last {self.config.block_size} tokens",
                stacklevel=2,
            )
        new = list(iter_generate(self, ids, max_new_tokens, temperature, top_k, top_p, seed, use_cache))
        if not new:
            return ids.copy()
        return np.concatenate([ids, np.stack(new, axis=1)], axis=1)

    def _require_tokenizer(self) -> Tokenizer:
        if self.tokenizer is None:
            raise ValueError(
                "TinyGPT has no tokenizer: build it with TinyGPT(..., tokenizer=CharTokenizer.from_text(text)) "
                "(or set model.tokenizer) to generate or train from text"
            )
        return self.tokenizer

    def generate(
        self,
        prompt: str,
        max_length: int = 100,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        stream: Callable[[str], object] | None = None,
    ) -> str:
        """Continue ``prompt`` by up to ``max_length`` new tokens and return prompt + continuation.

        ``stream``, when given, is called with each new piece of the continuation as it is sampled
        (text that could still turn into a ``stop`` string is held back until it cannot).

        The returned text starts with the prompt, as nanoGPT's ``sample.py`` prints it (take
        ``text[len(prompt):]`` for the continuation alone). ``stop``: a string (or strings) ending
        generation; the continuation is cut just before its first occurrence. ``seed`` makes the
        sample reproducible; ``temperature=0`` or ``top_k=1`` is greedy decoding.
        """
        tokenizer = self._require_tokenizer()
        if not isinstance(prompt, str):
            raise TypeError(f"generate: prompt must be a str, got {type(prompt).__name__}")
        validate_sampling(max_length, temperature, top_k, top_p)
        prompt_ids = tokenizer.encode(prompt)
        if not prompt_ids:
            raise ValueError("generate: the prompt is empty; pass at least one character (e.g. prompt='\\n')")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if any(not s for s in stops):
            raise ValueError("generate: stop strings must be non-empty")
        ids = np.asarray([prompt_ids], dtype=np.int64)
        if ids.shape[1] > self.config.block_size:
            warnings.warn(
                f"prompt of {ids.shape[1]} tokens is longer than block_size={self.config.block_size}; "
                f"conditioning on its last {self.config.block_size} tokens",
                stacklevel=2,
            )
        new_ids: list[int] = []
        continuation = ""
        emitted = 0
        hold = max((len(s) - 1 for s in stops), default=0)
        for token in iter_generate(self, ids, max_length, temperature, top_k, top_p, seed, True):
            new_ids.append(int(token[0]))
            if stops or stream is not None:
                continuation = tokenizer.decode(new_ids)
                cut = min((continuation.find(s) for s in stops if s in continuation), default=-1)
                if cut >= 0:
                    if stream is not None and cut > emitted:
                        stream(continuation[emitted:cut])
                    return prompt + continuation[:cut]
                safe = len(continuation) - hold
                if stream is not None and safe > emitted and not continuation[:safe].endswith("\ufffd"):
                    stream(continuation[emitted:safe])
                    emitted = safe
        text = tokenizer.decode(new_ids) if new_ids else ""
        if stream is not None and len(text) > emitted:
            stream(text[emitted:])
        return prompt + text

    # ------------------------------------------------------------------ training
    def optimizer_groups(self, weight_decay: float = 0.1) -> list[dict[str, Any]]:
        """nanoGPT's parameter groups: weight decay on matrices (ndim >= 2), none on biases and LayerNorm."""
        from tinytorch_core.optim import optimizer_groups

        return optimizer_groups(self.parameters(), weight_decay)

    def train_on_text(
        self,
        text: str,
        steps: int | None = None,
        batch_size: int = 12,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.99),
        grad_clip: float | None = 1.0,
        val_fraction: float = 0.1,
        eval_every: int | None = None,
        eval_batches: int = 20,
        seed: int = 0,
        progress: bool | None = None,
        epochs: int | None = None,
    ) -> Any:
        """Train on ``text`` with AdamW through the core Trainer and DataLoader; returns the Trainer's History.

        The text is encoded with the model's tokenizer (a ``CharTokenizer`` built from the text is
        set when the model has none) and split by :func:`plugins.language.data.make_text_splits`:
        training samples random windows of block_size + 1 tokens from the first ``1 - val_fraction``,
        evaluation reads ``eval_batches`` batches of the rest. ``history.val_loss`` holds
        ``(step, loss)`` pairs every ``eval_every`` steps (default: 5 evaluations per run) and at the end.

        Training stops after ``steps`` optimizer steps or ``epochs`` passes over the training windows,
        whichever comes first (1000 steps when neither is given). ``progress`` (default: on when run
        interactively, in a terminal or a notebook) shows a bar or a line every 5% of the run.
        """
        from plugins.language.data import make_text_splits
        from tinytorch_core.optim import AdamW
        from tinytorch_core.training import Trainer

        if steps is None and epochs is None:
            steps = 1000
        for name, value in (("steps", steps), ("epochs", epochs), ("batch_size", batch_size)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise ValueError(f"train_on_text: {name} must be a positive int, got {name}={value!r}")
        tokenizer = self.tokenizer
        if tokenizer is None:
            from plugins.language.tokenizers import CharTokenizer

            tokenizer = CharTokenizer.from_text(text)
            if tokenizer.vocab_size > self.config.vocab_size:
                raise ValueError(
                    f"train_on_text: the text has {tokenizer.vocab_size} distinct characters but the model's "
                    f"vocab_size is {self.config.vocab_size}; build TinyGPT(vocab_size={tokenizer.vocab_size})"
                )
        # make_text_splits types its tokenizer as the built-in classes; it uses only encode_array and vocab_size.
        splits = make_text_splits(text, cast(Any, tokenizer), self.config.block_size, val_fraction)
        self.tokenizer = tokenizer  # only once the text is known to be usable
        train_loader = DataLoader(splits.train, batch_size=batch_size, shuffle=True, drop_last=True, seed=seed)
        val_loader = DataLoader(splits.val, batch_size=batch_size) if splits.val is not None else None
        optimizer = AdamW(self.optimizer_groups(weight_decay), lr=lr, betas=betas)
        by_epochs = None if epochs is None else epochs * len(train_loader)
        planned = min(n for n in (steps, by_epochs) if n is not None)
        every = eval_every if eval_every is not None else max(1, planned // 5)
        show = _interactive() if progress is None else progress
        trainer = Trainer(self, optimizer, grad_clip=grad_clip, eval_every=every, eval_batches=eval_batches,
                          progress=show, log_every=max(1, planned // 20) if show else None)
        self.train()
        return trainer.fit(train_loader, val_loader, max_steps=steps, epochs=epochs)

    def attention_maps(self, prompt: str | Sequence[int]) -> Array:
        """The attention weights (num_layers, num_heads, T, T) of every layer and head for ``prompt`` (text or
        token ids; the last ``block_size`` tokens), e.g. for :func:`tinytorch_core.plot.plot_attention`."""
        from plugins.language.attention_maps import attention_maps

        ids = self._require_tokenizer().encode(prompt) if isinstance(prompt, str) else list(prompt)
        return attention_maps(self, ids[-self.config.block_size:])

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write weights, config and tokenizer to one safetensors file (atomically; no pickle)."""
        from plugins.language.checkpoint import save_tinygpt

        save_tinygpt(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TinyGPT:
        """Rebuild a model saved by :meth:`save`; a foreign or corrupted file raises a ValueError naming it."""
        from plugins.language.checkpoint import load_tinygpt

        return load_tinygpt(cls, path)

    def extra_repr(self) -> str:
        c = self.config
        return (f"vocab_size={c.vocab_size}, d_model={c.d_model}, num_layers={c.num_layers}, "
                f"num_heads={c.num_heads}, block_size={c.block_size}, tie_weights={c.tie_weights}")
