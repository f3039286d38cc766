"""Character and byte-level BPE tokenizers: round trips, errors, persistence, determinism, speed-relevant paths."""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.language.tokenizers import BPETokenizer, CharTokenizer, load_tokenizer, tokenizer_from_dict


# ---------------------------------------------------------------- CharTokenizer
def test_char_default_vocabulary_is_string_printable() -> None:
    tok = CharTokenizer()
    assert tok.vocab_size == 100
    assert tok.encode(string.printable) == list(range(100))
    assert tok.decode(list(range(100))) == string.printable


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=string.printable, max_size=200))
def test_char_round_trip_within_vocabulary(text: str) -> None:
    tok = CharTokenizer()
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert tok.decode(ids) == text
    assert np.array_equal(tok.encode_array(text), np.array(ids, dtype=np.int64))


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=100))
def test_char_from_text_round_trips_any_unicode(text: str) -> None:
    tok = CharTokenizer.from_text(text)
    assert tok.vocab == "".join(sorted(set(text)))
    assert tok.decode(tok.encode(text)) == text


def test_char_encode_matches_per_character_reference() -> None:
    text = "To be, or not to be: that is the question.\n" * 50
    tok = CharTokenizer.from_text(text)
    reference = [tok.vocab.index(c) for c in text]
    assert tok.encode(text) == reference
    assert tok.encode_array(text).dtype == np.int64


def test_char_unknown_character_names_character_position_and_fix() -> None:
    tok = CharTokenizer()
    with pytest.raises(ValueError) as info:
        tok.encode("caf\u00e9 ok")
    message = str(info.value)
    assert "'\u00e9'" in message and "position 3" in message
    assert "errors='replace'" in message and "from_text" in message


def test_char_unknown_beyond_lookup_table_is_reported() -> None:
    tok = CharTokenizer("ab")
    with pytest.raises(ValueError, match="position 2"):
        tok.encode("ab\U0001F600")


def test_char_errors_replace_maps_to_question_mark() -> None:
    tok = CharTokenizer(errors="replace")
    assert tok.decode(tok.encode("na\u00efve \u2603")) == "na?ve ?"


def test_char_replace_needs_replacement_in_vocabulary() -> None:
    with pytest.raises(ValueError, match="replacement"):
        CharTokenizer("abc", errors="replace")
    tok = CharTokenizer.from_text("abc", errors="replace")
    assert "?" in tok.vocab
    assert tok.decode(tok.encode("abz")) == "ab?"


def test_char_rejects_duplicate_vocabulary_and_bad_ids() -> None:
    with pytest.raises(ValueError, match="repeats"):
        CharTokenizer("abca")
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match="token id 3 at position 1"):
        tok.decode([0, 3])
    assert tok.decode([]) == ""
    assert tok.encode("") == []


def test_char_save_load_json(tmp_path: Path) -> None:
    tok = CharTokenizer.from_text("hello world\n", errors="replace")
    path = tmp_path / "sub" / "tok.json"
    tok.save(path)
    assert json.loads(path.read_text(encoding="utf-8"))["type"] == "char"
    loaded = CharTokenizer.load(path)
    assert loaded == tok and loaded.errors == "replace"
    assert loaded.encode("hollow") == tok.encode("hollow")
    assert [p.name for p in path.parent.iterdir()] == ["tok.json"]  # no temporary file left behind
    assert tokenizer_from_dict(tok.to_dict()) == tok


def test_load_rejects_garbage_and_wrong_kind(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a valid tokenizer JSON"):
        CharTokenizer.load(bad)
    bpe_path = tmp_path / "bpe.json"
    BPETokenizer().train("abababab", 258).save(bpe_path)
    with pytest.raises(ValueError, match="BPETokenizer"):
        CharTokenizer.load(bpe_path)
    assert isinstance(load_tokenizer(bpe_path), BPETokenizer)
    with pytest.raises(ValueError, match="unknown tokenizer type"):
        tokenizer_from_dict({"type": "wordpiece"})
    with pytest.raises(FileNotFoundError):
        CharTokenizer.load(tmp_path / "missing.json")


# ---------------------------------------------------------------- BPETokenizer
def _reference_bpe_train(data: bytes, vocab_size: int) -> list[tuple[int, int]]:
    """Plain-Python BPE with the documented rules (overlapping counts, smallest pair wins ties)."""
    ids = list(data)
    merges: list[tuple[int, int]] = []
    for new_id in range(256, vocab_size):
        counts: dict[tuple[int, int], int] = {}
        for pair in zip(ids, ids[1:]):
            counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        if counts[best] < 2:
            break
        merges.append(best)
        out, i = [], 0
        while i < len(ids):
            if i + 1 < len(ids) and (ids[i], ids[i + 1]) == best:
                out.append(new_id)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out
    return merges


def test_bpe_matches_plain_python_reference() -> None:
    text = "aaaa bbb aaaaaa abab abab ba ba aab aab \u00e9t\u00e9 \u00e9t\u00e9 " * 3
    tok = BPETokenizer().train(text, 300)
    assert tok.merges == _reference_bpe_train(text.encode("utf-8"), 300)


def test_bpe_overlapping_pairs_merge_left_to_right() -> None:
    tok = BPETokenizer([(97, 97)])  # "aa" -> 256
    assert tok.encode("aaa") == [256, 97]
    assert tok.encode("aaaa") == [256, 256]
    assert tok.encode("baaaaab") == [98, 256, 256, 97, 98]


def test_bpe_encode_equals_applying_merges_in_order() -> None:
    text = "the cat sat on the mat; the rat ate the hat. " * 20
    tok = BPETokenizer().train(text, 330)
    ids = list(text.encode("utf-8"))
    for rank, (a, b) in enumerate(tok.merges):
        out, i = [], 0
        while i < len(ids):
            if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
                out.append(256 + rank)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out
    assert tok.encode(text) == ids


# Trained on mixed scripts so that merges span multi-byte characters; round trips must still be exact.
_TRAINED_BPE = BPETokenizer().train("h\u00e9llo w\u00f6rld, \u4f60\u597d \U0001F600! " * 30 + "the quick brown fox " * 30, 320)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_bpe_round_trips_arbitrary_unicode(text: str) -> None:
    tok = _TRAINED_BPE
    assert tok.decode(tok.encode(text)) == text



def test_bpe_is_deterministic_and_persists(tmp_path: Path) -> None:
    text = "low lower lowest newer newest wider widest " * 20
    first = BPETokenizer().train(text, 276)
    second = BPETokenizer().train(text, 276)
    assert first.merges == second.merges and len(first.merges) == 20
    path = tmp_path / "bpe.json"
    first.save(path)
    loaded = BPETokenizer.load(path)
    assert loaded == first and loaded.vocab_size == 276
    assert loaded.encode(text) == first.encode(text)


def test_bpe_errors() -> None:
    with pytest.raises(ValueError, match="at least 256"):
        BPETokenizer().train("abc", 100)
    with pytest.raises(ValueError, match="empty"):
        BPETokenizer().train("", 300)
    with pytest.raises(ValueError, match="does not exist yet"):
        BPETokenizer([(300, 1)])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        BPETokenizer().decode([256])
    tok = BPETokenizer().train("ab" * 3, 1000)
    assert tok.vocab_size < 1000  # stops when no pair occurs twice


def test_bpe_compresses_shakespeare_slice(shakespeare_path: Path) -> None:
    text = shakespeare_path.read_text(encoding="utf-8")[:100_000]
    tok = BPETokenizer().train(text, 512)
    assert tok.vocab_size == 512
    ids = tok.encode_array(text)
    assert len(ids) < 0.6 * len(text)
    assert tok.decode(ids) == text
