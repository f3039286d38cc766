"""GPT-2's tokenizer: byte-level BPE over GPT-2's pre-tokenization regex, read from Hugging Face files.

It reads ``vocab.json`` + ``merges.txt`` or a ``tokenizer.json`` and gives the ids of the reference
(``tokenizers`` / ``GPT2TokenizerFast``) with no dependency beyond the standard library. GPT-2's
regex needs the Unicode classes ``\\p{L}`` and ``\\p{N}``, which stdlib ``re`` lacks, so they are built
once per process as explicit character classes from ``unicodedata`` (through ``str.isalpha`` and
``str.isnumeric``, which select exactly the categories L* and N* there), plus the letters and numbers
of Unicode 15.0-16.0 for Pythons older than that. Checked code point by code point against the
reference (``tokenizers`` 0.23): every one of the 1,112,064 scalar values pre-tokenizes the same.

Encoding is OpenAI's original algorithm: split the text with the regex, map each piece's UTF-8
bytes to printable characters, merge the lowest-ranked pair (all its occurrences) until none is
left, and cache each distinct piece, so a corpus costs about one dictionary lookup per word.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from plugins.language.tokenizers import GPT2_TYPE, TokenIds, _as_id_array, _JsonTokenizer, _read_json
from tinytorch_core.fileio import atomic_write_json, atomic_write_text

__all__ = ["GPT2Tokenizer", "bytes_to_unicode", "gpt2_pattern", "END_OF_TEXT"]

END_OF_TEXT = "<|endoftext|>"
# Unicode White_Space, the set the reference's \s matches (str.isspace adds U+001C..U+001F).
_WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Letters and numbers assigned in Unicode 15.0-16.0, which the reference's tables (16.0) know and
# Python 3.11's unicodedata (14.0) does not; on a newer Python they are already in its classes.
_NEWER_LETTERS = (
    (0x1C89, 0x1C8A), (0xA7CB, 0xA7CD), (0xA7DA, 0xA7DC), (0x105C0, 0x105F3), (0x10D4A, 0x10D65),
    (0x10D6F, 0x10D85), (0x10EC2, 0x10EC4), (0x1123F, 0x11240), (0x11380, 0x11389), (0x1138B, 0x1138B),
    (0x1138E, 0x1138E), (0x11390, 0x113B5), (0x113B7, 0x113B7), (0x113D1, 0x113D1), (0x113D3, 0x113D3),
    (0x11BC0, 0x11BE0), (0x11F02, 0x11F02), (0x11F04, 0x11F10), (0x11F12, 0x11F33), (0x1342F, 0x1342F),
    (0x13441, 0x13446), (0x13460, 0x143FA), (0x16100, 0x1611D), (0x16D40, 0x16D6C), (0x18CFF, 0x18CFF),
    (0x1B132, 0x1B132), (0x1B155, 0x1B155), (0x1DF25, 0x1DF2A), (0x1E030, 0x1E06D), (0x1E4D0, 0x1E4EB),
    (0x1E5D0, 0x1E5ED), (0x1E5F0, 0x1E5F0), (0x2B739, 0x2B739), (0x2EBF0, 0x2EE5D), (0x31350, 0x323AF),
)
_NEWER_NUMBERS = (
    (0x10D40, 0x10D49), (0x116D0, 0x116E3), (0x11BF0, 0x11BF9), (0x11F50, 0x11F59), (0x16130, 0x16139),
    (0x16D70, 0x16D79), (0x1CCF0, 0x1CCF9), (0x1D2C0, 0x1D2D3), (0x1E4F0, 0x1E4F9), (0x1E5F1, 0x1E5FA),
)
_CACHE_LIMIT = 200_000  # distinct pieces remembered; a corpus has far fewer distinct words


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from the 256 byte values to printable characters (printable Latin-1 maps to itself).

    BPE then works on strings without whitespace or control characters, and every byte sequence
    is representable, so any text round-trips.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\xa1"), ord("\xac") + 1), *range(ord("\xae"), 256)]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def _class_body(points: NDArray[np.int64]) -> str:
    """A regex character-class body of ranges covering the sorted code points ``points``."""
    if points.size == 0:
        return ""
    breaks = np.flatnonzero(np.diff(points) != 1)
    starts = points[np.r_[0, breaks + 1]]
    ends = points[np.r_[breaks, points.size - 1]]
    return "".join(f"\\U{int(a):08x}-\\U{int(b):08x}" for a, b in zip(starts, ends))


@functools.cache
def _letter_and_number_classes() -> tuple[str, str]:
    """Character-class bodies equal to \\p{L} and \\p{N} under this Python's ``unicodedata``.

    Scanning 1.1M code points one by one costs ~1 s, so stdlib ``re`` first finds the alphanumeric
    ones (``[^\\W_]``, in C; ~135k), and only those are classified: L is ``str.isalpha`` and N is
    ``str.isnumeric`` without the letters (a few CJK ideographs are numeric but category Lo).
    """
    everything = np.arange(0x110000, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    alnum = "".join(re.findall(r"[^\W_]+", everything))
    points = np.frombuffer(alnum.encode("utf-32-le"), dtype="<u4").astype(np.int64)
    alpha = np.fromiter(map(str.isalpha, alnum), dtype=bool, count=len(alnum))
    numeric = np.fromiter(map(str.isnumeric, alnum), dtype=bool, count=len(alnum))
    letters = np.union1d(points[alpha], _expand(_NEWER_LETTERS))
    numbers = np.union1d(points[numeric & ~alpha], _expand(_NEWER_NUMBERS))
    return _class_body(letters), _class_body(numbers)


def _expand(ranges: tuple[tuple[int, int], ...]) -> NDArray[np.int64]:
    return np.concatenate([np.arange(a, b + 1, dtype=np.int64) for a, b in ranges])


@functools.cache
def gpt2_pattern() -> re.Pattern[str]:
    """GPT-2's pre-tokenization regex in stdlib ``re`` syntax.

    The original: ``'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+``.
    """
    letters, numbers = _letter_and_number_classes()
    space = _WHITE_SPACE
    return re.compile(
        rf"'s|'t|'re|'ve|'m|'ll|'d| ?[{letters}]+| ?[{numbers}]+| ?[^{space}{letters}{numbers}]+"
        rf"|[{space}]+(?![^{space}])|[{space}]+"
    )


class GPT2Tokenizer(_JsonTokenizer):
    """GPT-2's byte-level BPE: ``vocab`` (token string -> id), ranked ``merges`` and special tokens.

    Special tokens (``<|endoftext|>`` for GPT-2) are matched in the text before pre-tokenization, as
    the reference does, and encode to their own ids. ``decode`` reverses the byte mapping; byte
    sequences that are not valid UTF-8 decode to U+FFFD. Build one with :meth:`from_pretrained`.
    """

    def __init__(
        self,
        vocab: Mapping[str, int],
        merges: Iterable[tuple[str, str]],
        special_tokens: Mapping[str, int] | None = None,
        add_prefix_space: bool = False,
    ) -> None:
        self.vocab: dict[str, int] = {str(token): int(i) for token, i in vocab.items()}
        self.merges: list[tuple[str, str]] = [(str(a), str(b)) for a, b in merges]
        if special_tokens is None:
            special_tokens = {END_OF_TEXT: self.vocab[END_OF_TEXT]} if END_OF_TEXT in self.vocab else {}
        self.special_tokens: dict[str, int] = {str(t): int(i) for t, i in special_tokens.items()}
        self.add_prefix_space = bool(add_prefix_space)
        self._check()
        self._ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        self._id_to_token: dict[int, str] = {i: t for t, i in self.vocab.items()}
        self._id_to_token.update({i: t for t, i in self.special_tokens.items()})
        self._special_ids = set(self.special_tokens.values())
        self._byte_to_char = str.maketrans({chr(b): c for b, c in bytes_to_unicode().items()})
        self._char_to_byte = str.maketrans({c: chr(b) for b, c in bytes_to_unicode().items()})
        # Longest first, so one special token that is a prefix of another does not shadow it.
        specials = sorted(self.special_tokens, key=len, reverse=True)
        self._special_split = re.compile("(" + "|".join(map(re.escape, specials)) + ")") if specials else None
        self._cache: dict[str, list[int]] = {}

    def _check(self) -> None:
        ids = sorted(set(self.vocab.values()) | set(self.special_tokens.values()))
        if not ids or ids[0] < 0:
            raise ValueError("GPT2Tokenizer: the vocabulary is empty or has negative ids")
        alphabet = set(bytes_to_unicode().values())
        missing = sorted(alphabet - set(self.vocab))
        if missing:
            raise ValueError(f"GPT2Tokenizer: the vocabulary lacks byte tokens {missing[:5]}; is it a byte-level BPE vocab.json?")
        for rank, (a, b) in enumerate(self.merges):
            if a + b not in self.vocab:
                raise ValueError(f"GPT2Tokenizer: merge {rank} ({a!r}, {b!r}) makes {a + b!r}, which is not in the vocabulary")

    # ------------------------------------------------------------------ reading the files
    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike[str]) -> GPT2Tokenizer:
        """Read ``tokenizer.json`` from a Hugging Face model directory, else ``vocab.json`` + ``merges.txt``."""
        folder = Path(directory)
        if (folder / "tokenizer.json").is_file():
            return cls.from_tokenizer_json(folder / "tokenizer.json")
        if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
            return cls.from_files(folder / "vocab.json", folder / "merges.txt")
        raise FileNotFoundError(
            f"{folder}: no tokenizer.json, nor vocab.json + merges.txt; fetch them with the model "
            "(e.g. hf download gpt2 tokenizer.json vocab.json merges.txt --local-dir DIR)"
        )

    @classmethod
    def from_files(cls, vocab_file: str | os.PathLike[str], merges_file: str | os.PathLike[str]) -> GPT2Tokenizer:
        """GPT-2's original pair of files: ``vocab.json`` (token -> id) and ``merges.txt`` (one pair per line)."""
        vocab = _read_json(vocab_file, "GPT2Tokenizer")
        lines = Path(merges_file).read_text(encoding="utf-8").splitlines()
        merges = []
        for number, line in enumerate(lines, start=1):
            if (number == 1 and line.startswith("#version")) or not line.strip():
                continue
            parts = line.split(" ")
            if len(parts) != 2:
                raise ValueError(f"{merges_file}:{number}: expected two tokens separated by one space, got {line!r}")
            merges.append((parts[0], parts[1]))
        return cls(vocab, merges)

    @classmethod
    def from_tokenizer_json(cls, path: str | os.PathLike[str]) -> GPT2Tokenizer:
        """A ``tokenizers`` JSON file whose model is byte-level BPE (GPT-2 and its family)."""
        source = Path(path)
        payload = _read_json(source, "GPT2Tokenizer")
        model = payload.get("model") or {}
        if model.get("type") != "BPE":
            raise ValueError(f"{source}: model type {model.get('type')!r} is not BPE; only GPT-2's byte-level BPE is supported")
        pre = payload.get("pre_tokenizer") or {}
        if pre.get("type") != "ByteLevel" or not pre.get("use_regex", True):
            raise ValueError(f"{source}: pre_tokenizer {pre.get('type')!r} is not GPT-2's ByteLevel with its regex; "
                             "this tokenizer is not GPT-2's")
        if payload.get("normalizer") is not None:
            raise ValueError(f"{source}: has a normalizer ({payload['normalizer'].get('type')!r}), which GPT-2's tokenizer has not")
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model.get("merges", [])]
        if any(len(m) != 2 for m in merges):
            raise ValueError(f"{source}: model.merges must hold pairs ('a b' strings or [a, b] lists)")
        specials = {t["content"]: int(t["id"]) for t in payload.get("added_tokens", []) if isinstance(t, dict)}
        return cls(model.get("vocab", {}), [(m[0], m[1]) for m in merges], specials, bool(pre.get("add_prefix_space", False)))

    # ------------------------------------------------------------------ encoding and decoding
    @property
    def vocab_size(self) -> int:
        """One more than the largest id (GPT-2: 50257, ``<|endoftext|>`` being the last)."""
        return max(max(self.vocab.values()), max(self.special_tokens.values(), default=0)) + 1

    @property
    def eos_token_id(self) -> int | None:
        """The id of ``<|endoftext|>`` (GPT-2's end of text, also its start), or None without one."""
        return self.special_tokens.get(END_OF_TEXT)

    def _bpe(self, piece: str) -> list[int]:
        """The ids of one pre-tokenized piece (already in the byte alphabet): merge by rank until none applies."""
        word = list(piece)
        ranks = self._ranks
        while len(word) > 1:
            best = min(zip(word, word[1:]), key=lambda pair: ranks.get(pair, 1 << 62))
            if best not in ranks:
                break
            first, second = best
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        vocab = self.vocab
        return [vocab[token] for token in word]

    def _encode_ordinary(self, text: str, out: list[int]) -> None:
        cache = self._cache
        to_alphabet = self._byte_to_char
        for piece in gpt2_pattern().findall(text):
            ids = cache.get(piece)
            if ids is None:
                ids = self._bpe(piece.encode("utf-8").decode("latin-1").translate(to_alphabet))
                if len(cache) < _CACHE_LIMIT:
                    cache[piece] = ids
            out.extend(ids)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (special tokens in it encode to their ids, as in the reference)."""
        if not isinstance(text, str):
            raise TypeError(f"GPT2Tokenizer.encode expects a str, got {type(text).__name__}")
        if self.add_prefix_space and text and not text[0].isspace():
            text = " " + text
        out: list[int] = []
        parts = self._special_split.split(text) if self._special_split is not None else [text]
        for index, part in enumerate(parts):
            if index % 2:
                out.append(self.special_tokens[part])
            elif part:
                self._encode_ordinary(part, out)
        return out

    def encode_array(self, text: str) -> NDArray[np.int64]:
        """Token ids of ``text`` as an int64 array (whole corpora)."""
        return np.asarray(self.encode(text), dtype=np.int64)

    def decode(self, ids: TokenIds) -> str:
        """The text of token ids; byte sequences that are not valid UTF-8 decode to U+FFFD (as the reference)."""
        array = _as_id_array(ids, self.vocab_size, "GPT2Tokenizer")
        try:
            tokens = [self._id_to_token[i] for i in array.tolist()]
        except KeyError as exc:
            raise ValueError(f"GPT2Tokenizer.decode: id {exc.args[0]} is not in the vocabulary") from None
        text = "".join(tokens)
        try:  # the usual case: every character is one of the 256 byte characters
            raw = text.translate(self._char_to_byte).encode("latin-1")
        except UnicodeEncodeError:  # a special token outside the byte alphabet passes through as UTF-8
            inverse = {c: b for b, c in bytes_to_unicode().items()}
            raw = b"".join(bytes([inverse[c]]) if c in inverse else c.encode("utf-8") for c in text)
        return raw.decode("utf-8", errors="replace")

    # ------------------------------------------------------------------ saving
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description (kept in TinyGPT checkpoints); ``tokenizer_from_dict`` rebuilds it."""
        return {"type": GPT2_TYPE, "vocab": self.vocab, "merges": [f"{a} {b}" for a, b in self.merges],
                "special_tokens": self.special_tokens, "add_prefix_space": self.add_prefix_space}

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> GPT2Tokenizer:
        """Rebuild from :meth:`to_dict` output."""
        merges = [tuple(str(m).split(" ")) for m in payload["merges"]]
        if any(len(m) != 2 for m in merges):
            raise ValueError("'merges' must be 'left right' strings")
        return cls(payload["vocab"], [(m[0], m[1]) for m in merges], payload.get("special_tokens"),
                   bool(payload.get("add_prefix_space", False)))

    def save_pretrained(self, directory: str | os.PathLike[str]) -> None:
        """Write ``vocab.json`` and ``merges.txt`` (GPT-2's original files) into ``directory``."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / "vocab.json", {**self.vocab, **self.special_tokens})
        atomic_write_text(folder / "merges.txt", "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in self.merges))

    def __hash__(self) -> int:
        return hash((len(self.vocab), tuple(self.merges[:16]), tuple(sorted(self.special_tokens.items()))))

    def __repr__(self) -> str:
        return f"GPT2Tokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)})"


def pieces(text: str) -> Sequence[str]:
    """GPT-2's pre-tokenization of ``text`` (the pieces BPE runs on), for inspection and tests."""
    return gpt2_pattern().findall(text)
