"""Text as training data: overlapping windows of tokens, train/validation splits, the ``text`` dataset.

Sample ``i`` of :class:`TextWindows` is the window starting at token ``i``, so a shuffled
``DataLoader`` over it draws random contiguous windows, as nanoGPT's ``get_batch`` does.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from plugins.language.corpus import load_corpus
from plugins.language.tokenizers import BPETokenizer, CharTokenizer, load_tokenizer
from tinytorch_core.data import Dataset, DataSplits

if TYPE_CHECKING:
    from plugins.language.gpt2_tokenizer import GPT2Tokenizer

__all__ = ["TextWindows", "validation_windows", "make_text_splits", "make_tokenizer", "text_dataset"]

IntArray = NDArray[np.int64]
Tokenizer: TypeAlias = "CharTokenizer | BPETokenizer | GPT2Tokenizer"


class TextWindows(Dataset):
    """Windows of ``block_size`` tokens with their next-token targets.

    By default every window: ``dataset[i] == (tokens[i:i+T], tokens[i+1:i+T+1])`` for the
    ``len(tokens) - T`` offsets. With ``starts``, item ``i`` is the window starting at ``starts[i]``
    (the validation split uses this for a fixed random sample, see :func:`make_text_splits`).
    """

    def __init__(
        self,
        tokens: NDArray[np.integer[Any]] | list[int],
        block_size: int,
        starts: NDArray[np.integer[Any]] | None = None,
    ) -> None:
        array = np.asarray(tokens)
        if array.ndim != 1:
            raise ValueError(f"TextWindows expects a 1-D array of token ids, got shape {array.shape}")
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"TextWindows expects integer token ids, got dtype {array.dtype}")
        if not isinstance(block_size, (int, np.integer)) or isinstance(block_size, bool) or block_size <= 0:
            raise ValueError(f"TextWindows: block_size must be a positive int, got {block_size!r}")
        if len(array) < block_size + 1:
            raise ValueError(
                f"TextWindows: {len(array)} tokens are fewer than one window of block_size + 1 = "
                f"{block_size + 1} tokens; use a longer text or a smaller block_size"
            )
        self.tokens: IntArray = array.astype(np.int64, copy=False)
        self.block_size = int(block_size)
        self._offsets = np.arange(self.block_size, dtype=np.int64)
        self.starts: IntArray | None = None
        if starts is not None:
            chosen = np.asarray(starts, dtype=np.int64).reshape(-1)
            last = len(self.tokens) - self.block_size - 1
            if chosen.size == 0 or chosen.min() < 0 or chosen.max() > last:
                raise ValueError(f"TextWindows: starts must be a non-empty array of offsets in [0, {last}]")
            self.starts = chosen

    def __len__(self) -> int:
        return len(self.tokens) - self.block_size if self.starts is None else len(self.starts)

    def __getitem__(self, index: int) -> tuple[IntArray, IntArray]:
        count = len(self)
        i = int(index)
        if not -count <= i < count:
            raise IndexError(f"TextWindows index {index} out of range for {count} windows")
        i %= count
        start = i if self.starts is None else int(self.starts[i])
        return self.tokens[start : start + self.block_size], self.tokens[start + 1 : start + self.block_size + 1]

    def get_batch(self, indices: NDArray[np.integer[Any]]) -> tuple[IntArray, IntArray]:
        """Inputs and targets (B, T) for items ``indices``, gathered with one fancy index each."""
        items = np.asarray(indices, dtype=np.int64).reshape(-1)
        if items.size and (items.min() < 0 or items.max() >= len(self)):
            raise IndexError(f"TextWindows.get_batch: indices must be in [0, {len(self)}), got {items.min()}..{items.max()}")
        starts = items if self.starts is None else self.starts[items]
        positions = starts[:, None] + self._offsets
        return self.tokens[positions], self.tokens[positions + 1]


def validation_windows(tokens: IntArray, block_size: int, seed: int = 0) -> TextWindows:
    """Non-overlapping windows covering ``tokens``, in a fixed shuffled order.

    Evaluation usually reads only the first batches of an unshuffled loader; with overlapping
    windows in order those would all come from the split's first few hundred tokens. Here any
    prefix of the items is a uniform random sample of the whole split, the same on every run.
    """
    last = len(tokens) - block_size - 1
    starts = np.arange(0, last + 1, block_size, dtype=np.int64)
    return TextWindows(tokens, block_size, starts=np.random.default_rng(seed).permutation(starts))


def make_text_splits(text: str, tokenizer: Tokenizer, block_size: int, val_fraction: float = 0.1) -> DataSplits:
    """Encode ``text``; the first ``1 - val_fraction`` of the tokens train, the rest validate (as nanoGPT).

    Training windows start at every token (a shuffled loader draws random contiguous windows);
    validation windows come from :func:`validation_windows`, so evaluating a few batches estimates
    the loss over the whole validation text. ``info`` carries ``vocab_size``, ``tokenizer`` and
    ``block_size`` for the model factory.
    ``val_fraction=0`` gives no validation set. Either split shorter than one window is an error.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if not text:
        raise ValueError("make_text_splits: the text is empty; a language model needs text to train on")
    tokens = tokenizer.encode_array(text)
    split = int(len(tokens) * (1.0 - val_fraction))
    window = block_size + 1
    train_tokens, val_tokens = tokens[:split], tokens[split:]
    short = [(name, len(part)) for name, part in (("train", train_tokens), ("validation", val_tokens))
             if len(part) < window and (name == "train" or val_fraction > 0)]
    if short:
        described = ", ".join(f"the {name} split has {n}" for name, n in short)
        raise ValueError(
            f"corpus too short: {len(text)} characters encode to {len(tokens)} tokens, and {described} tokens, "
            f"fewer than one window of block_size + 1 = {window}; use a longer corpus or a smaller "
            f"block_size (or a smaller val_fraction)"
        )
    val = validation_windows(val_tokens, block_size) if val_fraction > 0 else None
    info: dict[str, Any] = {"vocab_size": tokenizer.vocab_size, "tokenizer": tokenizer, "block_size": block_size}
    return DataSplits(train=TextWindows(train_tokens, block_size), val=val, info=info)


def make_tokenizer(kind: str, text: str, bpe_vocab_size: int = 512) -> Tokenizer:
    """``"char"`` (vocabulary from ``text``), ``"bpe"`` (trained on ``text``), a tokenizer JSON file, or a
    Hugging Face model directory (its GPT-2 tokenizer, for fine-tuning that model).

    The registry's qualified names work too: ``"language:char"``, ``"language:bpe"``.
    """
    if kind.startswith("language:"):
        kind = kind[len("language:"):]
    if kind == "char":
        return CharTokenizer.from_text(text)
    if kind == "bpe":
        return BPETokenizer().train(text, bpe_vocab_size)
    if os.path.isdir(kind):
        from plugins.language.gpt2_tokenizer import GPT2Tokenizer

        return GPT2Tokenizer.from_pretrained(kind)
    if kind.endswith(".json") and os.path.isfile(kind):
        return load_tokenizer(kind)
    raise ValueError(f"unknown tokenizer {kind!r}: use 'char', 'bpe', the path of a saved tokenizer .json file "
                     "or a Hugging Face model directory (e.g. one holding gpt2's tokenizer.json)")


def text_dataset(
    corpus: str = "stdlib",
    tokenizer: str = "char",
    block_size: int = 64,
    val_fraction: float = 0.1,
    bpe_vocab_size: int = 512,
    max_chars: int | None = None,
    cache_dir: str | None = None,
) -> DataSplits:
    """The registered ``text`` dataset: a corpus (file, ``"stdlib"`` or ``"shakespeare"``), tokenized.

    ``max_chars`` keeps only the first characters of the corpus (quick runs and tests).
    """
    if max_chars is not None and max_chars <= 0:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    if not isinstance(block_size, int) or isinstance(block_size, bool) or block_size <= 0:
        raise ValueError(f"block_size must be a positive int (the context length in tokens), got {block_size!r}")
    text = load_corpus(corpus, cache_dir=cache_dir)
    if max_chars is not None:
        text = text[:max_chars]
    return make_text_splits(text, make_tokenizer(tokenizer, text, bpe_vocab_size), block_size, val_fraction)
