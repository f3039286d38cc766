"""Tokenizers: a character-level one and a byte-level BPE, both saved as plain JSON.

Both work on whole texts with numpy rather than per-character Python loops, because
corpora here are megabytes: a character tokenizer maps code points through a lookup
table, and BPE training counts pairs with ``np.bincount`` and merges with masks.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from tinytorch_core.fileio import atomic_write_json, read_json_object

if TYPE_CHECKING:
    from plugins.language.gpt2_tokenizer import GPT2Tokenizer

IntArray = NDArray[np.int64]
TokenIds = Sequence[int] | NDArray[np.integer[Any]]

CHAR_TYPE = "char"
BPE_TYPE = "bpe"
GPT2_TYPE = "gpt2"  # plugins.language.gpt2_tokenizer.GPT2Tokenizer
DEFAULT_REPLACEMENT = "?"


def _code_points(text: str) -> NDArray[np.uint32]:
    """The Unicode code points of ``text`` as one array (UTF-32 is exactly one unit per character)."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


def _as_id_array(ids: TokenIds, vocab_size: int, owner: str) -> IntArray:
    """Validate token ids (integers in ``[0, vocab_size)``) and return them as an int64 array."""
    array = np.asarray(ids)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1:
        raise ValueError(f"{owner}.decode expects a 1-D sequence of token ids, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{owner}.decode expects integer token ids, got dtype {array.dtype}")
    bad = (array < 0) | (array >= vocab_size)
    if bad.any():
        position = int(np.argmax(bad))
        raise ValueError(
            f"{owner}.decode: token id {int(array[position])} at position {position} is outside the "
            f"vocabulary [0, {vocab_size}); was this text encoded with a different tokenizer?"
        )
    return array.astype(np.int64, copy=False)


def _read_json(path: str | os.PathLike[str], owner: str) -> dict[str, Any]:
    """Read a tokenizer JSON file with a clear error for a missing or damaged file."""
    try:
        return read_json_object(path, "tokenizer JSON file")
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{owner}.load: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{owner}.load: {exc}") from None


_Saved = TypeVar("_Saved", bound="_JsonTokenizer")


class _JsonTokenizer:
    """Saving, loading and equality shared by the tokenizers: all three follow from ``to_dict``."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the tokenizer as JSON (atomically)."""
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls: type[_Saved], path: str | os.PathLike[str]) -> _Saved:
        """Read a tokenizer written by ``save``."""
        tokenizer = tokenizer_from_dict(_read_json(path, cls.__name__))
        if not isinstance(tokenizer, cls):
            kind = type(tokenizer).__name__
            raise ValueError(f"{cls.__name__}.load: {path} holds a {kind}; use {kind}.load")
        return tokenizer

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _JsonTokenizer) and type(other) is type(self) and self.to_dict() == other.to_dict()


class CharTokenizer(_JsonTokenizer):
    """One token per character of a fixed vocabulary.

    The default vocabulary is ``string.printable`` (100 characters), so ``TinyGPT(vocab_size=100)``
    works without building anything; ``CharTokenizer.from_text(corpus)`` uses the corpus's own
    sorted distinct characters instead. A character outside the vocabulary raises a ``ValueError``
    naming it and its position, unless ``errors="replace"``: then it becomes the ``replacement``
    character (``"?"`` by default), which must itself be in the vocabulary.
    """

    def __init__(self, vocab: str | None = None, errors: str = "strict", replacement: str = DEFAULT_REPLACEMENT) -> None:
        vocabulary = string.printable if vocab is None else vocab
        if not isinstance(vocabulary, str) or not vocabulary:
            raise ValueError("CharTokenizer: vocab must be a non-empty string of distinct characters")
        if len(set(vocabulary)) != len(vocabulary):
            duplicates = sorted(c for c in set(vocabulary) if vocabulary.count(c) > 1)
            raise ValueError(f"CharTokenizer: vocab repeats the characters {duplicates!r}; each must appear once")
        if errors not in ("strict", "replace"):
            raise ValueError(f"CharTokenizer: errors must be 'strict' or 'replace', got {errors!r}")
        if errors == "replace" and (len(replacement) != 1 or replacement not in vocabulary):
            raise ValueError(
                f"CharTokenizer: errors='replace' maps unknown characters to {replacement!r}, which is not in "
                "the vocabulary; pass replacement=<a character of the vocabulary> "
                "(CharTokenizer.from_text(..., errors='replace') adds it for you)"
            )
        self.vocab = vocabulary
        self.errors = errors
        self.replacement = replacement
        self._vocab_points = _code_points(vocabulary).astype(np.int64)
        # Code point -> token id (-1 = unknown); sized by the largest code point in the vocabulary.
        self._lookup = np.full(int(self._vocab_points.max()) + 1, -1, dtype=np.int64)
        self._lookup[self._vocab_points] = np.arange(len(vocabulary), dtype=np.int64)
        self._decode_points = self._vocab_points.astype("<u4")

    @classmethod
    def from_text(cls, text: str, errors: str = "strict", replacement: str = DEFAULT_REPLACEMENT) -> CharTokenizer:
        """Build the vocabulary from the sorted distinct characters of ``text``.

        With ``errors="replace"`` the replacement character is added to the vocabulary if absent.
        """
        if not text:
            raise ValueError("CharTokenizer.from_text: the text is empty, so there is no vocabulary to build")
        distinct = np.unique(_code_points(text))
        if errors == "replace":
            distinct = np.union1d(distinct, _code_points(replacement))
        vocab = distinct.astype("<u4").tobytes().decode("utf-32-le")
        return cls(vocab, errors=errors, replacement=replacement)

    @property
    def vocab_size(self) -> int:
        """Number of distinct tokens."""
        return len(self.vocab)

    def encode_array(self, text: str) -> IntArray:
        """Token ids of ``text`` as an int64 array (vectorised over the whole text)."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.encode expects a str, got {type(text).__name__}")
        points = _code_points(text).astype(np.int64)
        ids = self._lookup[np.minimum(points, len(self._lookup) - 1)]
        unknown = (ids < 0) | (points >= len(self._lookup))
        if unknown.any():
            if self.errors == "replace":
                ids = np.where(unknown, self._lookup[ord(self.replacement)], ids)
            else:
                position = int(np.argmax(unknown))
                raise ValueError(
                    f"CharTokenizer: character {text[position]!r} at position {position} is not in the "
                    f"vocabulary ({self.vocab_size} characters); use CharTokenizer(errors='replace') to map "
                    f"unknown characters to {self.replacement!r}, or build the vocabulary from your text "
                    "with CharTokenizer.from_text(text)"
                )
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        ids: list[int] = self.encode_array(text).tolist()
        return ids

    def decode(self, ids: TokenIds) -> str:
        """The text of token ids (a list or integer array)."""
        array = _as_id_array(ids, self.vocab_size, "CharTokenizer")
        return self._decode_points[array].tobytes().decode("utf-32-le")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description; ``tokenizer_from_dict`` rebuilds it."""
        return {"type": CHAR_TYPE, "vocab": self.vocab, "errors": self.errors, "replacement": self.replacement}

    def __hash__(self) -> int:
        return hash((self.vocab, self.errors, self.replacement))

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, errors={self.errors!r})"


class BPETokenizer(_JsonTokenizer):
    """Byte-level byte-pair encoding: 256 byte tokens plus learned merges.

    Any UTF-8 string round-trips, since every byte is a token. ``train(text, vocab_size)`` runs
    over the raw UTF-8 bytes of the whole text (no pre-splitting into words) and is deterministic:
    each round merges the most frequent adjacent pair, counting overlapping occurrences ("aaa"
    counts ("a", "a") twice), and a tie goes to the pair with the smallest (left id, right id).
    A merge replaces non-overlapping occurrences from left to right ("aaa" -> "[aa]a").
    Training stops early when no pair occurs at least twice.
    """

    def __init__(self, merges: Iterable[tuple[int, int]] | None = None) -> None:
        self.merges: list[tuple[int, int]] = []
        self._token_bytes_cache: tuple[NDArray[np.uint8], IntArray, IntArray] | None = None
        self._rank_lookup_cache: Callable[[IntArray], IntArray] | None = None
        for pair in merges or ():
            self._append_merge(int(pair[0]), int(pair[1]))

    def _append_merge(self, left: int, right: int) -> None:
        limit = 256 + len(self.merges)
        if not (0 <= left < limit and 0 <= right < limit):
            raise ValueError(
                f"BPETokenizer: merge {len(self.merges)} = ({left}, {right}) refers to a token that does not "
                f"exist yet (ids must be below {limit})"
            )
        self.merges.append((left, right))
        self._token_bytes_cache = None
        self._rank_lookup_cache = None

    @property
    def vocab_size(self) -> int:
        """256 byte tokens plus one per merge."""
        return 256 + len(self.merges)

    def train(self, text: str, vocab_size: int) -> BPETokenizer:
        """Learn ``vocab_size - 256`` merges from ``text`` (replacing any previous merges); returns self."""
        if vocab_size < 256:
            raise ValueError(f"BPETokenizer.train: vocab_size must be at least 256 (the byte tokens), got {vocab_size}")
        if not text:
            raise ValueError("BPETokenizer.train: the training text is empty")
        self.merges = []
        self._token_bytes_cache = None
        self._rank_lookup_cache = None
        ids = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        width = vocab_size  # pair (a, b) is coded as a * width + b, unique while ids < vocab_size
        for new_id in range(256, vocab_size):
            if len(ids) < 2:
                break
            best, count = _most_frequent_pair_code(ids[:-1] * width + ids[1:], width)
            if count < 2:
                break
            left, right = divmod(best, width)
            self._append_merge(left, right)
            ids = _merge_pair(ids, left, right, new_id)
        return self

    def _token_bytes(self) -> tuple[NDArray[np.uint8], IntArray, IntArray]:
        """All tokens' bytes concatenated, with each token's start offset and length."""
        if self._token_bytes_cache is not None:
            return self._token_bytes_cache
        pieces = [bytes([i]) for i in range(256)]
        for left, right in self.merges:
            pieces.append(pieces[left] + pieces[right])
        lengths = np.array([len(p) for p in pieces], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        flat = np.frombuffer(b"".join(pieces), dtype=np.uint8)
        self._token_bytes_cache = (flat, offsets, lengths)
        return self._token_bytes_cache

    def encode_array(self, text: str) -> IntArray:
        """Token ids of ``text`` as an int64 array.

        Repeatedly merges the present pair with the lowest merge rank, all its occurrences at once;
        this equals applying the merges in training order, and stops as soon as no known pair remains.
        """
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.encode expects a str, got {type(text).__name__}")
        ids = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        if not self.merges:
            return ids
        width = self.vocab_size
        rank_of_code = self._rank_lookup()
        while len(ids) >= 2:
            ranks = rank_of_code(ids[:-1] * width + ids[1:])
            rank = int(ranks.min())
            if rank >= len(self.merges):
                break
            left, right = self.merges[rank]
            ids = _merge_pair(ids, left, right, 256 + rank)
        return ids

    def _rank_lookup(self) -> Callable[[IntArray], IntArray]:
        """A function from pair codes (left * vocab_size + right) to merge ranks (``len(merges)`` = no merge)."""
        if self._rank_lookup_cache is not None:
            return self._rank_lookup_cache
        width = self.vocab_size
        no_merge = len(self.merges)
        merge_codes = np.array([a * width + b for a, b in self.merges], dtype=np.int64)
        if width * width <= _DENSE_RANK_TABLE_LIMIT:
            table = np.full(width * width, no_merge, dtype=np.int32)
            table[merge_codes] = np.arange(no_merge, dtype=np.int32)

            def dense(codes: IntArray) -> IntArray:
                return table[codes].astype(np.int64, copy=False)

            self._rank_lookup_cache = dense
        else:
            order = np.argsort(merge_codes, kind="stable")
            sorted_codes = merge_codes[order]

            def sparse(codes: IntArray) -> IntArray:
                slot = np.minimum(np.searchsorted(sorted_codes, codes), no_merge - 1)
                return np.where(sorted_codes[slot] == codes, order[slot], no_merge)

            self._rank_lookup_cache = sparse
        return self._rank_lookup_cache

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        ids: list[int] = self.encode_array(text).tolist()
        return ids

    def decode(self, ids: TokenIds) -> str:
        """The text of token ids; byte sequences that are not valid UTF-8 decode to U+FFFD."""
        array = _as_id_array(ids, self.vocab_size, "BPETokenizer")
        flat, offsets, lengths = self._token_bytes()
        token_lengths = lengths[array]
        total = int(token_lengths.sum())
        # Byte k of the output comes from token t at offset (k - start of t in the output).
        starts_in_output = np.cumsum(token_lengths) - token_lengths
        gather = np.repeat(offsets[array] - starts_in_output, token_lengths) + np.arange(total, dtype=np.int64)
        return flat[gather].tobytes().decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description; ``tokenizer_from_dict`` rebuilds it."""
        return {"type": BPE_TYPE, "merges": [[a, b] for a, b in self.merges]}

    def __hash__(self) -> int:
        return hash(tuple(self.merges))

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size})"


# Above this many possible pair codes a dense bincount would allocate too much; sort-based counting instead.
_DENSE_PAIR_COUNT_LIMIT = 1 << 24
# Encoding keeps a pair-code -> rank table (int32) while it stays small (vocab_size <= 4096, at most
# 64 MB); a sorted search, ~10x slower per pass, otherwise.
_DENSE_RANK_TABLE_LIMIT = 1 << 24


def _most_frequent_pair_code(codes: IntArray, width: int) -> tuple[int, int]:
    """The most frequent pair code and its count; ties go to the smallest code (= smallest (left, right))."""
    if width * width <= _DENSE_PAIR_COUNT_LIMIT:
        counts = np.bincount(codes)
        best = int(np.argmax(counts))  # argmax returns the first maximum
        return best, int(counts[best])
    unique_codes, unique_counts = np.unique(codes, return_counts=True)  # sorted, so the first maximum is smallest
    index = int(np.argmax(unique_counts))
    return int(unique_codes[index]), int(unique_counts[index])


def _merge_pair(ids: IntArray, left: int, right: int, new_id: int) -> IntArray:
    """Replace non-overlapping occurrences of (left, right) in ``ids``, scanning left to right."""
    if len(ids) < 2:
        return ids
    matches = (ids[:-1] == left) & (ids[1:] == right)
    if left == right:
        # In a run like "aaaa" every position matches; left-to-right merging takes every other one,
        # i.e. the matches at an even distance from the start of their run of matches.
        positions = np.arange(len(matches))
        run_start = np.r_[True, ~matches[:-1]] & matches
        start_index = np.maximum.accumulate(np.where(run_start, positions, 0))
        matches &= (positions - start_index) % 2 == 0
    where = np.flatnonzero(matches)
    if len(where) == 0:
        return ids
    merged = ids.copy()
    merged[where] = new_id
    keep = np.ones(len(ids), dtype=bool)
    keep[where + 1] = False
    return merged[keep]


def load_tokenizer(path: str | os.PathLike[str]) -> CharTokenizer | BPETokenizer | GPT2Tokenizer:
    """Read a tokenizer JSON file of either kind (written by ``save``)."""
    return tokenizer_from_dict(_read_json(path, "load_tokenizer"))


def tokenizer_from_dict(payload: Mapping[str, Any]) -> CharTokenizer | BPETokenizer | GPT2Tokenizer:
    """Rebuild a tokenizer from ``to_dict()`` output (e.g. stored in a checkpoint's metadata)."""
    if not isinstance(payload, Mapping):
        raise TypeError(f"tokenizer_from_dict expects a dict from to_dict(), got {type(payload).__name__}")
    kind = payload.get("type")
    try:
        if kind == CHAR_TYPE:
            return CharTokenizer(
                str(payload["vocab"]),
                errors=str(payload.get("errors", "strict")),
                replacement=str(payload.get("replacement", DEFAULT_REPLACEMENT)),
            )
        if kind == BPE_TYPE:
            merges = payload["merges"]
            if not isinstance(merges, list) or any(not isinstance(m, list) or len(m) != 2 for m in merges):
                raise ValueError("'merges' must be a list of [left, right] id pairs")
            return BPETokenizer((int(a), int(b)) for a, b in merges)
        if kind == GPT2_TYPE:
            from plugins.language.gpt2_tokenizer import GPT2Tokenizer

            return GPT2Tokenizer.from_dict(payload)
    except KeyError as exc:
        raise ValueError(f"tokenizer_from_dict: a {kind!r} tokenizer description lacks the key {exc}") from None
    except ValueError as exc:
        raise ValueError(f"tokenizer_from_dict: invalid {kind!r} tokenizer description: {exc}") from None
    raise ValueError(
        f"tokenizer_from_dict: unknown tokenizer type {kind!r}; expected {CHAR_TYPE!r}, {BPE_TYPE!r} or {GPT2_TYPE!r}"
    )


__all__ = ["CharTokenizer", "BPETokenizer", "tokenizer_from_dict", "load_tokenizer"]
