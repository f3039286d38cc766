"""GPT2Tokenizer against the reference (``tokenizers`` and transformers' ``GPT2TokenizerFast``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from interop_fixtures import INTEROP_REASON, TRAINING_TEXT, train_tokenizer
from plugins.language.gpt2_tokenizer import GPT2Tokenizer, bytes_to_unicode, pieces
from plugins.language.tokenizers import load_tokenizer, tokenizer_from_dict

tokenizers = pytest.importorskip("tokenizers", reason=INTEROP_REASON)
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

VARIED = [
    "",
    "Hello world",
    " Hello  world   ",
    "It's, I'm, we'll, they've, she'd, you're, don't; IT'S (upper case is not a contraction)",
    "'s's 'S ''t ' ll",
    "digits 1234567890 3.14 1,000 007 \u0663\u0664\u0665 \u00bd \u2167\u2168",
    "whitespace:\t\ttabs\n\n\nnewlines \r\n crlf \u00a0nbsp\u3000ideographic\u2028sep   end   ",
    "   ",
    "\n",
    "unicode: caf\u00e9 na\u00efve \u00fcber \u041f\u0440\u0438\u0432\u0435\u0442 \u4eca\u65e5\u306f \ud55c\uad6d\uc5b4 \U0001f600\U0001f680\U0001f469\u200d\U0001f4bb",
    "combining: e\u0301 a\u0308 \u0915\u094d\u0937",
    "symbols: $%^&*()_+-=[]{}|;:'\",.<>/?`~ \u00a9\u00ae\u2122 \u2190\u2192",
    "controls: \x00\x01\x1c\x1d\x1e\x1f\x7f",
    "new in Unicode 16: \U00011f04\U00011f05 \U000116d0\U000116d1 x\U0001e5d0y",
    "special <|endoftext|> inside <|endoftext|><|endoftext|>text<|endoftext",
    TRAINING_TEXT[:2000],
]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tokenizer(tmp_path_factory.mktemp("bpe"))


@pytest.fixture(scope="module")
def reference(tokenizer_dir: Path) -> Any:
    return tokenizers.Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))


@pytest.fixture(scope="module")
def ours(tokenizer_dir: Path) -> GPT2Tokenizer:
    return GPT2Tokenizer.from_pretrained(tokenizer_dir)


def test_bytes_to_unicode_is_gpt2s_table() -> None:
    table = bytes_to_unicode()
    assert len(set(table.values())) == 256
    assert table[ord("A")] == "A" and table[ord(" ")] == "\u0120" and table[ord("\n")] == "\u010a"


@pytest.mark.parametrize("text", VARIED)
def test_ids_and_decode_match_the_reference(ours: GPT2Tokenizer, reference: Any, text: str) -> None:
    ids = ours.encode(text)
    assert ids == reference.encode(text).ids
    assert ours.decode(ids) == text == reference.decode(ids, skip_special_tokens=False)


def test_pre_tokenization_matches_the_reference() -> None:
    byte_level = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    for text in VARIED:
        assert [len(p) for p in pieces(text)] == [b - a for _, (a, b) in byte_level.pre_tokenize_str(text)]


def test_vocab_and_merges_files_give_the_same_tokenizer(tokenizer_dir: Path, ours: GPT2Tokenizer) -> None:
    pair = GPT2Tokenizer.from_files(tokenizer_dir / "vocab.json", tokenizer_dir / "merges.txt")
    assert pair.merges == ours.merges
    assert pair.eos_token_id is None  # vocab.json from tokenizers' model.save lacks the added token
    text = VARIED[9]
    assert pair.encode(text) == ours.encode(text)
    assert ours.eos_token_id == ours.vocab_size - 1 == 399


def test_transformers_fast_tokenizer_agrees(tokenizer_dir: Path, ours: GPT2Tokenizer) -> None:
    transformers = pytest.importorskip("transformers", reason=INTEROP_REASON)
    fast = transformers.GPT2TokenizerFast(tokenizer_file=str(tokenizer_dir / "tokenizer.json"))
    for text in VARIED:
        assert ours.encode(text) == fast.encode(text)
        assert ours.decode(ours.encode(text)) == fast.decode(fast.encode(text), clean_up_tokenization_spaces=False)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=80))
def test_any_text_matches_the_reference(ours: GPT2Tokenizer, reference: Any, text: str) -> None:
    ids = ours.encode(text)
    assert ids == reference.encode(text).ids
    assert ours.decode(ids) == text


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.sampled_from(["the", " the", "It", "'s", "'ll", " ", "  ", "\n", "\t", "42", " 7", "\u00e9t\u00e9",
                                       "<|endoftext|>", "!!", " ?", "\u4eca", "\U0001f600", "'", "s"]), max_size=30))
def test_word_soup_matches_the_reference(ours: GPT2Tokenizer, reference: Any, words: list[str]) -> None:
    text = "".join(words)
    assert ours.encode(text) == reference.encode(text).ids


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.integers(0, 399), max_size=40))
def test_decoding_any_ids_matches_the_reference(ours: GPT2Tokenizer, reference: Any, ids: list[int]) -> None:
    # Arbitrary ids can cut a UTF-8 sequence: both sides replace the broken bytes with U+FFFD alike.
    assert ours.decode(ids) == reference.decode(ids, skip_special_tokens=False)


def test_saved_and_restored_through_to_dict(tmp_path: Path, ours: GPT2Tokenizer) -> None:
    assert tokenizer_from_dict(ours.to_dict()) == ours
    ours.save(tmp_path / "tok.json")
    restored = load_tokenizer(tmp_path / "tok.json")
    assert restored == ours and restored.encode(VARIED[9]) == ours.encode(VARIED[9])
    ours.save_pretrained(tmp_path / "pair")
    assert GPT2Tokenizer.from_pretrained(tmp_path / "pair").encode(VARIED[14]) == ours.encode(VARIED[14])


def test_encode_array_is_int64(ours: GPT2Tokenizer) -> None:
    array = ours.encode_array("hello there")
    assert array.dtype == np.int64 and array.tolist() == ours.encode("hello there")


def test_bad_files_give_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="tokenizer.json, nor vocab.json"):
        GPT2Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").write_text('{"model": {"type": "WordPiece"}}')
    with pytest.raises(ValueError, match="not BPE"):
        GPT2Tokenizer.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="lacks byte tokens"):
        GPT2Tokenizer({"a": 0}, [])
