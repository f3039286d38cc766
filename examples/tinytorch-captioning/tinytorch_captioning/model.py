"""``Captioner``: the vision plugin's CNN as image encoder, the language plugin's TinyGPT as caption decoder.

Both halves are other plugins' registered models, fetched through the component lookup. The CNN's
output layer is sized ``prefix_tokens * d_model`` and reshaped into that many *prefix tokens* in the
decoder's embedding space; the TinyGPT then reads ``[prefix tokens, caption tokens]`` through its own
position table, blocks, final LayerNorm and tied head, unchanged (prefix conditioning, as in ClipCap).
The prefix positions attend only to each other and every caption token attends to all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinytorch_core import Tensor, no_grad
from tinytorch_core import functional as F
from tinytorch_core.nn import Linear, Module, ReLU, Sequential
from tinytorch_core.tensor import concatenate

from tinytorch_captioning.captions import COLOUR_NAMES, END, longest_caption
from tinytorch_captioning.words import WordTokenizer

Array = np.ndarray[Any, np.dtype[Any]]
PAD = -1
#: ``rgb``: the CNN sees the image; ``colour_token``: it sees the brightness and a colour MLP adds a prefix
#: token; ``colour_head``: it sees the brightness and the colour MLP scores the colour words directly.
ENCODER_INPUTS = ("colour_head", "colour_token", "rgb")


class Captioner(Module):
    """Images (B, 3, S, S) -> next-character logits of their captions.

    ``model(images, ids)`` returns (B, T, vocab) logits where row t predicts ``ids[:, t]`` from the
    image and ``ids[:, :t]`` (teacher forcing); :meth:`caption` decodes greedily.
    """

    def __init__(
        self,
        components: Any,
        tokenizer: Any = None,
        image_size: int = 28,
        max_caption_length: int | None = None,
        prefix_tokens: int = 4,
        d_model: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        channels: Sequence[int] = (16, 32),
        hidden: int = 128,
        dropout: float = 0.0,
        encoder_input: str = "colour_head",
        token_dropout: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if encoder_input not in ENCODER_INPUTS:
            raise ValueError(f"Captioner: encoder_input must be one of {', '.join(ENCODER_INPUTS)}, got {encoder_input!r}")
        factorized = encoder_input == "colour_token"  # one prefix token is the colour's
        if prefix_tokens < 1 + factorized:
            raise ValueError(f"Captioner: prefix_tokens must be >= {1 + factorized} with encoder_input={encoder_input!r}, "
                             f"got {prefix_tokens}")
        if not 0.0 <= token_dropout < 1.0:
            raise ValueError(f"Captioner: token_dropout must be in [0, 1), got {token_dropout}")
        tokenizer = WordTokenizer() if tokenizer is None else tokenizer
        if max_caption_length is None:
            max_caption_length = longest_caption(tokenizer.encode)
        self.tokenizer = tokenizer
        end = tokenizer.encode(END)
        if len(end) != 1:
            raise ValueError(f"Captioner: the tokenizer must encode the end mark {END!r} as one token, got {end}")
        self.end_id = int(end[0])
        self.config: dict[str, Any] = {
            "image_size": int(image_size), "max_caption_length": int(max_caption_length),
            "prefix_tokens": int(prefix_tokens), "d_model": int(d_model), "num_layers": int(num_layers),
            "num_heads": int(num_heads), "channels": [int(c) for c in channels], "hidden": int(hidden),
            "dropout": float(dropout), "encoder_input": encoder_input, "token_dropout": float(token_dropout),
        }
        self.encoder_input = encoder_input
        self.factorized = factorized
        self.token_dropout = float(token_dropout)
        self._rng = np.random.default_rng(seed)
        self.prefix_tokens = int(prefix_tokens)
        self.d_model = int(d_model)
        self.max_caption_length = int(max_caption_length)
        cnn = components.get("models", "vision:simple_cnn")
        self.encoder = cnn(in_channels=3 if encoder_input == "rgb" else 1,
                           num_classes=(prefix_tokens - factorized) * d_model,
                           image_size=image_size, channels=list(channels), hidden=hidden)
        self.colour_ids = np.zeros(0, dtype=np.int64)
        if factorized:
            self.colour = Sequential(Linear(3, hidden), ReLU(), Linear(hidden, d_model))
        elif encoder_input == "colour_head":
            encoded = [tokenizer.encode(name) for name in COLOUR_NAMES]
            if any(len(e) != 1 for e in encoded):
                raise ValueError("Captioner: encoder_input='colour_head' needs one token per colour name; use "
                                 "tokens = 'words', or encoder_input = 'colour_token' with the char tokenizer")
            self.colour_ids = np.asarray([e[0] for e in encoded], dtype=np.int64)
            self.colour = Sequential(Linear(3, hidden), ReLU(), Linear(hidden, len(COLOUR_NAMES)))
        gpt = components.get("models", "language:tinygpt")
        self.mask_id = int(tokenizer.vocab_size)
        self._scatter = np.zeros((tokenizer.vocab_size + 1, len(self.colour_ids)), dtype=np.float32)
        self._scatter[self.colour_ids, np.arange(len(self.colour_ids))] = 1.0  # colour logits -> their word ids
        self.decoder = gpt(d_model=d_model, num_layers=num_layers,
                           num_heads=num_heads, block_size=prefix_tokens + max_caption_length, dropout=dropout,
                           vocab_size=tokenizer.vocab_size + 1,  # + a mask id, what token dropout reads
                           tokenizer=None)

    def prefix(self, images: Tensor | Array) -> tuple[Tensor, Tensor | None]:
        """(B, prefix_tokens, d_model): the encoder's features as tokens in the decoder's embedding space,
        and with ``colour_head`` the (B, 1, vocab) colour-word logits added to every position's logits."""
        x = np.asarray(images.data if isinstance(images, Tensor) else images, dtype=np.float32)
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"Captioner: expected images of shape (B, 3, H, W), got {x.shape}")
        if self.encoder_input == "rgb":
            tokens: Tensor = self.encoder(Tensor(x)).reshape(x.shape[0], self.prefix_tokens, self.d_model)
            return tokens, None
        brightness, chroma = colour_split(x)
        if not self.factorized:
            tokens = self.encoder(Tensor(brightness)).reshape(x.shape[0], self.prefix_tokens, self.d_model)
            bias = F.linear(self.colour(Tensor(chroma)), Tensor(self._scatter))
            return tokens, bias.reshape(x.shape[0], 1, self._scatter.shape[0])
        shape_tokens = self.encoder(Tensor(brightness)).reshape(x.shape[0], self.prefix_tokens - 1, self.d_model)
        colour_token = self.colour(Tensor(chroma)).reshape(x.shape[0], 1, self.d_model)
        return concatenate([shape_tokens, colour_token], axis=1), None

    def _decode(self, encoded: tuple[Tensor, Tensor | None], ids: Array) -> Tensor:
        """Logits (B, 1 + T, vocab) at the last prefix position and after each of the T tokens in ``ids``."""
        decoder = self.decoder
        prefix, colour = encoded
        if colour is not None:
            # The colour reaches the logits only: the decoder reads every colour word as the mask, so no
            # position's state knows the colour and the shape word cannot depend on it.
            ids = np.where(np.isin(ids, self.colour_ids), self.mask_id, ids)
        x = prefix if ids.shape[1] == 0 else concatenate([prefix, decoder.token_embedding(ids)], axis=1)
        x = decoder.drop(decoder.position(x)) if self.training else decoder.position(x)
        for block in decoder.blocks:
            x = block(x)
        hidden = decoder.ln_f(x[:, self.prefix_tokens - 1 :])
        logits = F.linear(hidden, decoder.token_embedding.weight)  # TinyGPT's tied head
        return logits if colour is None else logits + colour

    def forward(self, images: Tensor | Array, ids: Tensor | Array) -> Tensor:
        """(B, T, vocab) logits for caption ids (B, T) (padding, -1, after the end mark)."""
        tokens = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if tokens.ndim != 2 or tokens.shape[1] > self.max_caption_length:
            raise ValueError(f"Captioner: expected caption ids (B, T <= {self.max_caption_length}), got {tokens.shape}")
        inputs = np.where(tokens[:, :-1] == PAD, self.end_id, tokens[:, :-1])  # what follows the end is never read
        if self.training and self.token_dropout > 0.0:
            # Hiding earlier words makes the decoder read each attribute off the image, not off the words before it.
            inputs = np.where(self._rng.random(inputs.shape) < self.token_dropout, self.mask_id, inputs)
        return self._decode(self.prefix(images), inputs)

    def caption_ids(self, images: Array, batch_size: int = 500) -> list[list[int]]:
        """Greedy decoding: each image's caption token ids, up to and including the end mark."""
        was_training = self.training
        self.eval()
        out: list[list[int]] = []
        try:
            with no_grad():
                for start in range(0, len(images), batch_size):
                    out.extend(self._greedy(images[start : start + batch_size]))
        finally:
            self.train(was_training)
        return out

    def _greedy(self, images: Array) -> list[list[int]]:
        prefix = self.prefix(images)
        ids = np.zeros((len(images), 0), dtype=np.int64)
        done = np.zeros(len(images), dtype=bool)
        for _ in range(self.max_caption_length):
            logits = self._decode(prefix, ids).data[:, -1]
            logits[:, self.mask_id] = -np.inf  # the mask is an input, never a word
            token = np.where(done, self.end_id, logits.argmax(axis=-1))
            ids = np.concatenate([ids, token[:, None]], axis=1)
            done |= token == self.end_id
            if done.all():
                break
        return [list(row[: int(np.argmax(row == self.end_id)) + 1]) if (row == self.end_id).any() else list(row)
                for row in ids]

    def caption(self, images: Array) -> list[str]:
        """Greedy captions of (B, 3, S, S) images."""
        return [self.tokenizer.decode(ids) for ids in self.caption_ids(images)]


def colour_split(images: Array) -> tuple[Array, Array]:
    """Brightness (B, 1, H, W), rescaled to [0, 1] per image, and the shape's chromaticity (B, 3).

    The chromaticity is the colour of the pixels brighter than the image's mean brightness, weighted
    by how much brighter, divided by its largest channel: the same for a dim and a bright red.
    """
    brightness = images.max(axis=1)  # (B, H, W)
    low = brightness.min(axis=(1, 2), keepdims=True)
    high = brightness.max(axis=(1, 2), keepdims=True)
    scaled = (brightness - low) / np.maximum(high - low, np.float32(1e-6))
    weight = np.maximum(scaled - scaled.mean(axis=(1, 2), keepdims=True), 0.0) ** 2
    colour = np.einsum("bhw,bchw->bc", weight, images) / np.maximum(weight.sum(axis=(1, 2)), 1e-6)[:, None]
    chroma = colour / np.maximum(colour.max(axis=1, keepdims=True), np.float32(1e-6))
    return scaled[:, None].astype(np.float32), chroma.astype(np.float32)


def caption_loss(model: Captioner, batch: Sequence[Array]) -> Tensor:
    """Mean next-character cross-entropy over the caption characters (padding ignored)."""
    images, ids = batch[0], np.asarray(batch[1])
    return F.cross_entropy(model(images, ids), ids, ignore_index=PAD)
