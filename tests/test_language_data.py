"""Corpora (stdlib, verified download against a loopback server, files) and the text data pipeline."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from loopback import closed_port, serve
from plugins.language.corpus import (
    CorpusError,
    download_corpus,
    load_corpus,
    normalise_ascii,
    shakespeare_corpus,
    stdlib_corpus,
)
from plugins.language.data import TextWindows, make_text_splits, text_dataset, validation_windows
from plugins.language.tokenizers import BPETokenizer, CharTokenizer
from tinytorch_core.data import DataLoader

PAYLOAD = b"First Citizen:\nBefore we proceed any further, hear me speak.\n" * 40


@pytest.fixture
def server_url() -> Iterator[str]:
    with serve({"/input.txt": PAYLOAD}) as loopback:
        yield loopback.url


def test_download_verifies_and_caches(server_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "cache" / "corpus.txt"
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    path = download_corpus(f"{server_url}/input.txt", dest, digest, len(PAYLOAD))
    assert path == dest and dest.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.parent.iterdir()) == ["corpus.txt"]
    # A verified cached copy is used without contacting the server.
    assert download_corpus("http://127.0.0.1:9/unreachable", dest, digest, len(PAYLOAD)) == dest


def test_download_with_wrong_checksum_leaves_nothing(server_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "cache" / "corpus.txt"
    with pytest.raises(CorpusError, match="failed verification") as info:
        download_corpus(f"{server_url}/input.txt", dest, "0" * 64, len(PAYLOAD))
    assert "data.corpus=PATH" in str(info.value)
    assert list(dest.parent.iterdir()) == []


def test_download_when_server_is_down_names_the_alternative(tmp_path: Path) -> None:
    port = closed_port()  # connection refused, like being offline
    with pytest.raises(CorpusError, match="offline") as info:
        shakespeare_corpus(cache_dir=tmp_path, url=f"http://127.0.0.1:{port}/input.txt")
    assert "data.corpus=PATH" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_shakespeare_reads_a_verified_cache_without_network(shakespeare_path: Path, tmp_path: Path) -> None:
    (tmp_path / "tinyshakespeare.txt").write_bytes(shakespeare_path.read_bytes())
    text = load_corpus("shakespeare", cache_dir=tmp_path)
    assert text.startswith("First Citizen:") and len(text) == 1_115_394


# ---------------------------------------------------------------- corpora
def test_stdlib_corpus_is_deterministic_ascii_and_substantial() -> None:
    text = load_corpus("stdlib")
    assert len(text) > 100_000
    stdlib_corpus.cache_clear()
    assert load_corpus("stdlib") == text
    assert set(text) <= set(chr(c) for c in range(0x20, 0x7F)) | {"\n"}
    assert "def " in text and "import " in text
    assert CharTokenizer.from_text(text).vocab_size <= 96
    CharTokenizer().encode_array(text)  # the default printable vocabulary covers it


def test_normalise_ascii() -> None:
    assert normalise_ascii("a\tb\r\nc\rd\u00e9\x00") == "a    b\nc\nd??"


def test_file_corpus_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "tiny.txt"
    path.write_text("hello\n", encoding="utf-8")
    assert load_corpus(path) == "hello\n"
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(CorpusError, match="empty"):
        load_corpus(str(empty))
    with pytest.raises(CorpusError, match="neither a file nor a built-in"):
        load_corpus(str(tmp_path / "missing.txt"))
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CorpusError, match="not UTF-8"):
        load_corpus(binary)


# ---------------------------------------------------------------- windows and splits
def test_text_windows_items_and_batches_equal_manual_slices() -> None:
    tokens = np.arange(100, 150, dtype=np.int64)
    windows = TextWindows(tokens, block_size=8)
    assert len(windows) == 42
    x, y = windows[5]
    assert np.array_equal(x, tokens[5:13]) and np.array_equal(y, tokens[6:14])
    last_x, last_y = windows[-1]
    assert np.array_equal(last_y, tokens[-8:])
    indices = np.array([0, 41, 7, 7])
    bx, by = windows.get_batch(indices)
    assert bx.shape == by.shape == (4, 8)
    for row, i in enumerate(indices):
        assert np.array_equal(bx[row], tokens[i : i + 8])
        assert np.array_equal(by[row], tokens[i + 1 : i + 9])
    assert np.array_equal(bx[:, 1:], by[:, :-1])  # targets are the inputs shifted by one
    with pytest.raises(IndexError):
        windows[42]
    with pytest.raises(IndexError):
        windows.get_batch(np.array([42]))


def test_shuffled_loader_draws_contiguous_windows() -> None:
    tokens = np.arange(1000, dtype=np.int64)
    loader = DataLoader(TextWindows(tokens, 16), batch_size=12, shuffle=True, seed=0)
    x, y = next(iter(loader))
    assert x.shape == (12, 16) and x.dtype == np.int64
    assert np.all(np.diff(x, axis=1) == 1) and np.array_equal(y, x + 1)
    assert len(set(x[:, 0].tolist())) > 1  # not the sequential order


def test_text_windows_rejects_too_few_tokens() -> None:
    with pytest.raises(ValueError, match="5 tokens are fewer than one window of block_size \\+ 1 = 9"):
        TextWindows(np.arange(5), 8)
    with pytest.raises(ValueError, match="block_size"):
        TextWindows(np.arange(5), 0)


def test_make_text_splits_first_90_percent_trains() -> None:
    text = "".join(chr(97 + i % 26) for i in range(1000))
    tok = CharTokenizer.from_text(text)
    splits = make_text_splits(text, tok, block_size=16)
    assert isinstance(splits.train, TextWindows) and isinstance(splits.val, TextWindows)
    assert np.array_equal(splits.train.tokens, tok.encode_array(text[:900]))
    assert np.array_equal(splits.val.tokens, tok.encode_array(text[900:]))
    assert len(splits.train) == 900 - 16
    assert splits.info == {"vocab_size": 26, "tokenizer": tok, "block_size": 16}
    assert make_text_splits(text, tok, 16, val_fraction=0.0).val is None


def test_validation_windows_are_disjoint_and_shuffled() -> None:
    tokens = np.arange(1000, dtype=np.int64)
    val = validation_windows(tokens, block_size=16)
    assert len(val) == 62  # starts 0, 16, ..., 976: every window fits (976 + 16 + 1 <= 1000)
    assert sorted(val.starts.tolist()) == list(range(0, 977, 16))  # type: ignore[union-attr]
    assert val.starts is not None and val.starts[:8].tolist() != list(range(0, 128, 16))
    x, y = val.get_batch(np.arange(len(val)))
    assert np.array_equal(np.sort(x[:, 0]), np.arange(0, 977, 16)) and np.array_equal(y, x + 1)
    first_x, first_y = val[0]
    assert np.array_equal(first_x, x[0]) and np.array_equal(first_y, y[0])
    assert np.array_equal(validation_windows(tokens, 16).starts, val.starts)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="starts"):
        TextWindows(tokens, 16, starts=np.array([990]))


def test_too_short_corpus_names_sizes() -> None:
    tok = CharTokenizer()
    with pytest.raises(ValueError, match="the validation split has 10 tokens") as info:
        make_text_splits("x" * 100, tok, block_size=32)
    assert "block_size + 1 = 33" in str(info.value) and "100 tokens" in str(info.value)
    with pytest.raises(ValueError, match="empty"):
        make_text_splits("", tok, block_size=4)


def test_text_dataset_factory(tmp_path: Path) -> None:
    splits = text_dataset(corpus="stdlib", block_size=32, max_chars=20_000)
    assert splits.info["vocab_size"] == splits.info["tokenizer"].vocab_size <= 96
    assert len(splits.train) == 18_000 - 32
    path = tmp_path / "corpus.txt"
    path.write_text("the rain in spain falls mainly on the plain. " * 40, encoding="utf-8")
    bpe = text_dataset(corpus=str(path), tokenizer="bpe", bpe_vocab_size=280, block_size=8)
    assert isinstance(bpe.info["tokenizer"], BPETokenizer) and bpe.info["vocab_size"] <= 280
    with pytest.raises(ValueError, match="unknown tokenizer 'words'"):
        text_dataset(corpus=str(path), tokenizer="words")


def test_tokenizer_names_accept_the_registry_qualified_form() -> None:
    from plugins.language.data import make_tokenizer

    text = "to be or not to be"
    assert make_tokenizer("language:char", text).encode(text) == make_tokenizer("char", text).encode(text)
    with pytest.raises(ValueError, match="unknown tokenizer 'language:nope'|unknown tokenizer 'nope'"):
        make_tokenizer("language:nope", text)
