"""``caption_words``: a word-level tokenizer over the caption grammar's closed vocabulary.

A caption is about 9 words but 35 to 40 characters; the decoder's cost grows with the sequence
length, so words make a training step several times cheaper than the language plugin's ``char``
tokenizer (which ``captioned_shapes(tokens="char")`` still uses, for comparison).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tinytorch_captioning.captions import COLOUR_NAMES, END, POSITIONS, SHAPES, SIZES


def caption_vocabulary() -> list[str]:
    """Every word a caption can contain, and the end mark, sorted."""
    words = {"a", END, *SHAPES, *SIZES, *COLOUR_NAMES}
    for phrase in POSITIONS:
        words.update(phrase.split())
    return sorted(words)


class WordTokenizer:
    """One token per word of a fixed vocabulary; the end mark ``.`` is a token of its own.

    ``decode(encode(text)) == text`` for text made of vocabulary words separated by single spaces,
    with the end mark attached to the word before it (as the captions are written).
    """

    def __init__(self, vocab: Iterable[str] | None = None) -> None:
        words = list(caption_vocabulary() if vocab is None else vocab)
        if not words or len(set(words)) != len(words) or any(not w or " " in w for w in words):
            raise ValueError("WordTokenizer: vocab must be distinct, non-empty words without spaces")
        self.vocab = words
        self._ids = {w: i for i, w in enumerate(words)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        words = text.replace(END, f" {END}").split()
        unknown = [w for w in words if w not in self._ids]
        if unknown:
            raise ValueError(f"WordTokenizer: {unknown[0]!r} is not in the vocabulary ({len(self.vocab)} words: "
                             f"{' '.join(self.vocab)})")
        return [self._ids[w] for w in words]

    def encode_array(self, text: str) -> np.ndarray[Any, np.dtype[np.int64]]:
        return np.asarray(self.encode(text), dtype=np.int64)

    def decode(self, ids: Sequence[int] | np.ndarray[Any, Any]) -> str:
        bad = [int(i) for i in ids if not 0 <= int(i) < len(self.vocab)]
        if bad:
            raise ValueError(f"WordTokenizer: token id {bad[0]} is out of range [0, {len(self.vocab)})")
        return " ".join(self.vocab[int(i)] for i in ids).replace(f" {END}", END)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "caption_words", "vocab": list(self.vocab)}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> WordTokenizer:
        return cls(payload["vocab"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WordTokenizer) and other.vocab == self.vocab

    def __hash__(self) -> int:
        return hash(tuple(self.vocab))

    def __repr__(self) -> str:
        return f"WordTokenizer({len(self.vocab)} words)"
