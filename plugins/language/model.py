"""TinyGPT: a nanoGPT-architecture language model built from core components.

Parameter names and layouts match nanoGPT's (token_embedding, position, blocks.{i}.{ln1,
attention.qkv, attention.proj, ln2, feedforward.0, feedforward.2}, ln_f, tied head), so a
PyTorch reference loads identical weights. Generation runs under ``no_grad`` with a preallocated
KV cache; checkpoints are one safetensors file holding weights, config and tokenizer.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, cast

import numpy as np

from plugins.language.attention import KVCache, cached_attention
from plugins.language.positional import PositionalEncoding
from plugins.language.transformer import TransformerBlock
from tinytorch_core import Tensor, default_dtype, no_grad
from tinytorch_core import functional as F
from tinytorch_core.data import DataLoader
from tinytorch_core.nn import Dropout, Embedding, LayerNorm, Linear, Module, ModuleList, init

Array = np.ndarray[Any, Any]

__all__ = ["TinyGPT", "Tokenizer", "sample_next"]

MODEL_NAME = "tinygpt"
CHECKPOINT_FORMAT = 1


class Tokenizer(Protocol):
    """What TinyGPT needs from a tokenizer (``CharTokenizer`` and ``BPETokenizer`` both fit)."""

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def encode_array(self, text: str) -> Array: ...  # whole corpora, for train_on_text

    def decode(self, ids: Sequence[int] | Array) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


def sample_next(
    logits: Array,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Array:
    """Draw one token id per row of (B, V) ``logits``; returns a (B,) int64 array.

    ``temperature == 0`` is greedy (argmax, no random draw). ``top_k`` keeps the k largest
    logits, ``top_p`` the smallest set of most likely tokens whose probability reaches p
    (nucleus sampling); both may be combined. One uniform draw per row, inverse-CDF.
    """
    if temperature == 0.0:
        return cast(Array, np.argmax(logits, axis=-1).astype(np.int64))
    vocab = logits.shape[-1]
    z = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < vocab:
        kth = np.partition(z, vocab - top_k, axis=-1)[:, vocab - top_k : vocab - top_k + 1]
        z = np.where(z < kth, -np.inf, z)
    z -= z.max(axis=-1, keepdims=True)
    probs = np.exp(z)
    probs /= probs.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-probs, axis=-1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, axis=-1)
        mass_before = np.cumsum(sorted_probs, axis=-1) - sorted_probs
        sorted_probs[mass_before >= top_p] = 0.0  # the most likely token always has mass_before 0: kept
        probs = np.zeros_like(probs)
        np.put_along_axis(probs, order, sorted_probs, axis=-1)
    cdf = np.cumsum(probs, axis=-1)
    draw = rng.random(logits.shape[0])[:, None] * cdf[:, -1:]
    choice = (cdf <= draw).sum(axis=-1)
    return cast(Array, np.minimum(choice, vocab - 1).astype(np.int64))


def _validate_sampling(max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None) -> None:
    if not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens (max_length) must be a non-negative int, got {max_new_tokens!r}")
    if not math.isfinite(temperature) or temperature < 0.0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if top_k is not None and (not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p!r}")


# ---------------------------------------------------------------------------- inference kernels


def _affine(x: Array, weight: Array, bias: Array | None) -> Array:
    """``x @ weight.T + bias`` on arrays (weight in the (out, in) layout)."""
    out = x.reshape(-1, x.shape[-1]) @ weight.T  # one 2-D GEMM, as the core's linear does
    if bias is not None:
        out += bias
    return cast(Array, out.reshape(*x.shape[:-1], weight.shape[0]))


def _layer_norm(x: Array, weight: Array | None, bias: Array | None, eps: float = 1e-5) -> Array:
    """LayerNorm on arrays: the core's own fused kernel, without the graph."""
    return F.layer_norm_arrays(x, weight, bias, eps)[0]


def _gelu_tanh(x: Array) -> Array:
    """GELU (tanh form) on arrays: the core's own fused kernel, without the graph."""
    return F.gelu_tanh_arrays(x)[0]


class _InferenceWeights:
    """The weight arrays of a TinyGPT, gathered once per generation call (no Module lookups per step)."""

    def __init__(self, model: TinyGPT) -> None:
        def linear(layer: Any) -> tuple[Array, Array | None]:
            return layer.weight.data, None if layer.bias is None else layer.bias.data

        def norm(layer: Any) -> tuple[Array | None, Array | None, float]:
            return (None if layer.weight is None else layer.weight.data,
                    None if layer.bias is None else layer.bias.data, float(layer.eps))

        self.token: Array = model.token_embedding.weight.data
        self.position: Array = model.position.weight.data
        self.head: Array = model.token_embedding.weight.data if model.tie_weights else model.lm_head.weight.data
        self.ln_f = norm(model.ln_f)
        self.blocks = []
        for block in model.blocks:
            ff = list(block.feedforward.children())
            self.blocks.append((norm(block.ln1), linear(block.attention.qkv), linear(block.attention.proj),
                                norm(block.ln2), linear(ff[0]), linear(ff[2])))


class TinyGPT(Module):
    """A GPT language model: token + learned position embeddings, pre-LN blocks, final LayerNorm, LM head.

    ``model(idx)`` maps integer token ids (B, T), T <= block_size, to logits (B, T, vocab_size).
    With ``tie_weights`` (default) the LM head reuses ``token_embedding.weight`` (no separate
    parameter, no bias); otherwise it is ``lm_head``. Initialisation follows nanoGPT: weights
    N(0, 0.02), biases 0, residual projections N(0, 0.02 / sqrt(2 * num_layers)).

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
    ) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("d_model", d_model), ("num_layers", num_layers),
                            ("num_heads", num_heads), ("block_size", block_size)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"TinyGPT: {name} must be a positive int, got {value!r}")
        if d_model % num_heads != 0:
            raise ValueError(
                f"TinyGPT: d_model={d_model} is not divisible by num_heads={num_heads}; "
                "pick num_heads dividing d_model (e.g. d_model=128 with 4 or 8 heads)"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"TinyGPT: dropout must be in [0, 1), got {dropout}")
        if tokenizer is None and vocab_size == 100:
            from plugins.language.tokenizers import CharTokenizer

            tokenizer = CharTokenizer()
        if tokenizer is not None and tokenizer.vocab_size > vocab_size:
            raise ValueError(
                f"TinyGPT: the tokenizer has {tokenizer.vocab_size} tokens but vocab_size={vocab_size}; "
                f"use vocab_size={tokenizer.vocab_size} (or larger)"
            )
        self.config: dict[str, Any] = {
            "vocab_size": int(vocab_size), "d_model": int(d_model), "num_layers": int(num_layers),
            "num_heads": int(num_heads), "block_size": int(block_size), "dropout": float(dropout),
            "tie_weights": bool(tie_weights),
        }
        self.vocab_size = int(vocab_size)
        self.d_model = int(d_model)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.block_size = int(block_size)
        self.dropout_p = float(dropout)
        self.tie_weights = bool(tie_weights)
        self.tokenizer: Tokenizer | None = tokenizer

        self.token_embedding = Embedding(vocab_size, d_model)
        init.normal_(self.token_embedding.weight, 0.0, 0.02)
        self.position = PositionalEncoding(block_size, d_model, kind="learned")
        self.drop = Dropout(dropout)
        self.blocks = ModuleList(TransformerBlock(d_model, num_heads, 4 * d_model, dropout) for _ in range(num_layers))
        self.ln_f = LayerNorm(d_model, eps=1e-5)
        if not tie_weights:
            self.lm_head = Linear(d_model, vocab_size, bias=False)
            init.normal_(self.lm_head.weight, 0.0, 0.02)
        residual_std = 0.02 / math.sqrt(2 * num_layers)
        for name, param in self.named_parameters():
            if name.endswith("attention.proj.weight") or name.endswith("feedforward.2.weight"):
                init.normal_(param, 0.0, residual_std)

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
        weight = self.token_embedding.weight if self.tie_weights else self.lm_head.weight
        return F.linear(x, weight)

    def forward(self, idx: Tensor | Array, padding_mask: Array | Tensor | None = None) -> Tensor:
        """Logits (B, T, vocab_size) for token ids (B, T); ``padding_mask`` (B, T) bool hides padded keys."""
        ids = self._check_ids(idx)
        x = self.token_embedding(ids) + self.position(ids.shape[1])
        if self.dropout_p > 0.0 and self.training:
            x = self.drop(x)
        for block in self.blocks:
            x = block(x, padding_mask) if padding_mask is not None else block(x)
        return self._head(self.ln_f(x))

    def _forward_cached(self, ids: Array, cache: KVCache, weights: _InferenceWeights) -> Array:
        """Inference step: run ``ids`` (B, Tn) at positions ``cache.length..``, fill the cache, return last logits (B, V).

        Plain numpy on the weight arrays, no Tensors: one decoding step is ~60 small numpy calls,
        and the graph machinery would cost more than the maths at batch 1.
        """
        start = cache.length
        steps = ids.shape[1]
        x = weights.token[ids] + weights.position[start : start + steps]
        last_layer = len(weights.blocks) - 1
        for layer, (ln1, qkv, proj, ln2, ff0, ff2) in enumerate(weights.blocks):
            mixed = cached_attention(_affine(_layer_norm(x, *ln1), *qkv), self.num_heads,
                                      cache.keys[layer], cache.values[layer], start)
            if layer == last_layer:
                # Every position's keys and values are cached by now; only the last position's
                # output feeds the logits, so the last block's projection and MLP run on it alone.
                x, mixed = x[:, -1:], mixed[:, -1:]
            x += _affine(mixed, *proj)
            x += _affine(_gelu_tanh(_affine(_layer_norm(x, *ln2), *ff0)), *ff2)
        cache.length = start + steps
        last = _layer_norm(x[:, -1, :], *weights.ln_f)
        return cast(Array, last @ weights.head.T)

    def _last_logits_uncached(self, ids: Array) -> Array:
        """Full forward over ``ids`` (the reference path for generation without a cache)."""
        return self.forward(ids).data[:, -1, :]

    # ------------------------------------------------------------------ generation
    def _iter_generate(
        self,
        ids: Array,
        max_new_tokens: int,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        seed: int | None,
        use_cache: bool,
    ) -> Iterator[Array]:
        """Yield the next (B,) token ids, one step at a time, in eval mode under ``no_grad``.

        With the cache, the prompt (cropped to block_size) runs once and each later step runs one
        token. Once the context is block_size tokens long, a new token pushes the oldest out and the
        positions of all the others shift (learned absolute positions), so the cropped window of the
        last block_size tokens is re-run to rebuild the cache: exactly nanoGPT's sliding-window
        semantics, token for token equal to a full recompute at every step.
        """
        rng = np.random.default_rng(seed)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                context = ids[:, -self.block_size :]
                cache: KVCache | None = None
                if use_cache:
                    dtype = self.token_embedding.weight.dtype
                    cache = KVCache(self.num_layers, ids.shape[0], self.num_heads, self.block_size,
                                    self.d_model // self.num_heads, dtype)
                    weights = _InferenceWeights(self)
                    logits = self._forward_cached(context, cache, weights)
                else:
                    logits = self._last_logits_uncached(context)
                for step in range(max_new_tokens):
                    token = sample_next(logits, rng, temperature, top_k, top_p)
                    yield token
                    if step == max_new_tokens - 1:
                        break
                    context = np.concatenate([context, token[:, None]], axis=1)[:, -self.block_size :]
                    if cache is None:
                        logits = self._last_logits_uncached(context)
                    elif cache.length < self.block_size:
                        logits = self._forward_cached(token[:, None], cache, weights)
                    else:
                        cache.reset()
                        logits = self._forward_cached(context, cache, weights)
        finally:
            self.train(was_training)

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
        _validate_sampling(max_new_tokens, temperature, top_k, top_p)
        ids = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if ids.dtype.kind not in "iu" or ids.ndim != 2 or ids.shape[1] == 0:
            raise ValueError(f"generate_tokens: idx must be a non-empty (B, T) integer array, got shape {ids.shape}, dtype {ids.dtype}")
        ids = ids.astype(np.int64, copy=False)
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"generate_tokens: token ids must be in [0, {self.vocab_size}), got range [{ids.min()}, {ids.max()}]")
        if ids.shape[1] > self.block_size:
            warnings.warn(
                f"prompt of {ids.shape[1]} tokens is longer than block_size={self.block_size}; "
                f"conditioning on its last {self.block_size} tokens",
                stacklevel=2,
            )
        new = list(self._iter_generate(ids, max_new_tokens, temperature, top_k, top_p, seed, use_cache))
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
    ) -> str:
        """Continue ``prompt`` by up to ``max_length`` new tokens and return prompt + continuation.

        The returned text starts with the prompt, as nanoGPT's ``sample.py`` prints it (take
        ``text[len(prompt):]`` for the continuation alone). ``stop``: a string (or strings) ending
        generation; the continuation is cut just before its first occurrence. ``seed`` makes the
        sample reproducible; ``temperature=0`` or ``top_k=1`` is greedy decoding.
        """
        tokenizer = self._require_tokenizer()
        if not isinstance(prompt, str):
            raise TypeError(f"generate: prompt must be a str, got {type(prompt).__name__}")
        _validate_sampling(max_length, temperature, top_k, top_p)
        prompt_ids = tokenizer.encode(prompt)
        if not prompt_ids:
            raise ValueError("generate: the prompt is empty; pass at least one character (e.g. prompt='\\n')")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if any(not s for s in stops):
            raise ValueError("generate: stop strings must be non-empty")
        ids = np.asarray([prompt_ids], dtype=np.int64)
        if ids.shape[1] > self.block_size:
            warnings.warn(
                f"prompt of {ids.shape[1]} tokens is longer than block_size={self.block_size}; "
                f"conditioning on its last {self.block_size} tokens",
                stacklevel=2,
            )
        new_ids: list[int] = []
        continuation = ""
        for token in self._iter_generate(ids, max_length, temperature, top_k, top_p, seed, True):
            new_ids.append(int(token[0]))
            if stops:
                continuation = tokenizer.decode(new_ids)
                cut = min((continuation.find(s) for s in stops if s in continuation), default=-1)
                if cut >= 0:
                    return prompt + continuation[:cut]
        return prompt + tokenizer.decode(new_ids) if new_ids else prompt

    # ------------------------------------------------------------------ training
    def optimizer_groups(self, weight_decay: float = 0.1) -> list[dict[str, Any]]:
        """nanoGPT's parameter groups: weight decay on matrices (ndim >= 2), none on biases and LayerNorm."""
        decay = [p for p in self.parameters() if p.ndim >= 2]
        no_decay = [p for p in self.parameters() if p.ndim < 2]
        return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

    def train_on_text(
        self,
        text: str,
        steps: int = 1000,
        batch_size: int = 12,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.99),
        grad_clip: float | None = 1.0,
        val_fraction: float = 0.1,
        eval_every: int | None = None,
        eval_batches: int = 20,
        seed: int = 0,
        progress: bool = False,
    ) -> Any:
        """Train on ``text`` with AdamW through the core Trainer and DataLoader; returns the Trainer's History.

        The text is encoded with the model's tokenizer (a ``CharTokenizer`` built from the text is
        set when the model has none) and split by :func:`plugins.language.data.make_text_splits`:
        training samples random windows of block_size + 1 tokens from the first ``1 - val_fraction``,
        evaluation reads ``eval_batches`` batches of the rest. ``history.val_loss`` holds
        ``(step, loss)`` pairs every ``eval_every`` steps (default: 5 evaluations per run) and at the end.
        """
        from plugins.language.data import make_text_splits
        from tinytorch_core.optim import AdamW
        from tinytorch_core.training import Trainer

        if steps <= 0 or batch_size <= 0:
            raise ValueError(f"train_on_text: steps and batch_size must be positive, got steps={steps}, batch_size={batch_size}")
        tokenizer = self.tokenizer
        if tokenizer is None:
            from plugins.language.tokenizers import CharTokenizer

            tokenizer = CharTokenizer.from_text(text)
            if tokenizer.vocab_size > self.vocab_size:
                raise ValueError(
                    f"train_on_text: the text has {tokenizer.vocab_size} distinct characters but the model's "
                    f"vocab_size is {self.vocab_size}; build TinyGPT(vocab_size={tokenizer.vocab_size})"
                )
        # make_text_splits types its tokenizer as the built-in classes; it uses only encode_array and vocab_size.
        splits = make_text_splits(text, cast(Any, tokenizer), self.block_size, val_fraction)
        self.tokenizer = tokenizer  # only once the text is known to be usable
        train_loader = DataLoader(splits.train, batch_size=batch_size, shuffle=True, drop_last=True, seed=seed)
        val_loader = DataLoader(splits.val, batch_size=batch_size) if splits.val is not None else None
        optimizer = AdamW(self.optimizer_groups(weight_decay), lr=lr, betas=betas)
        every = eval_every if eval_every is not None else max(1, steps // 5)
        trainer = Trainer(self, optimizer, grad_clip=grad_clip, eval_every=every, eval_batches=eval_batches,
                          progress=progress)
        self.train()
        return trainer.fit(train_loader, val_loader, max_steps=steps)

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write weights, config and tokenizer to one safetensors file (atomically; no pickle)."""
        from tinytorch_core.serialization import save

        metadata: dict[str, Any] = {
            "model": MODEL_NAME,
            "format": CHECKPOINT_FORMAT,
            "config": dict(self.config),
            "tokenizer": self.tokenizer.to_dict() if self.tokenizer is not None else None,
        }
        save(path, self.state_dict(), metadata)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TinyGPT:
        """Rebuild a model saved by :meth:`save`; a foreign or corrupted file raises a ValueError naming it."""
        from plugins.language.checkpoint_checks import read_checked_weights
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
        expected = {"vocab_size", "d_model", "num_layers", "num_heads", "block_size", "dropout", "tie_weights"}
        if not isinstance(config, dict) or not expected <= set(config):
            missing = sorted(expected - set(config)) if isinstance(config, dict) else sorted(expected)
            raise ValueError(f"{os.fspath(path)}: TinyGPT checkpoint config lacks {', '.join(missing)}")
        tensors = read_checked_weights(path, header, config)  # before the model is built: shapes, then finite
        tokenizer = tokenizer_from_dict(metadata["tokenizer"]) if metadata.get("tokenizer") is not None else None
        weight = tensors.get("token_embedding.weight")
        dtype = weight.dtype if weight is not None and weight.dtype.kind == "f" else np.dtype(np.float32)
        with default_dtype(dtype):
            model = cls(**{k: config[k] for k in expected}, tokenizer=tokenizer)
        try:
            model.load_state_dict(tensors, strict=True)
        except KeyError as exc:
            raise ValueError(f"{os.fspath(path)}: weights do not match the TinyGPT config: {exc.args[0]}") from None
        model.eval()
        return model

    def extra_repr(self) -> str:
        c = self.config
        return (f"vocab_size={c['vocab_size']}, d_model={c['d_model']}, num_layers={c['num_layers']}, "
                f"num_heads={c['num_heads']}, block_size={c['block_size']}, tie_weights={c['tie_weights']}")

