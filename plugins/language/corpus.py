"""Text corpora: a file, the built-in ``stdlib`` corpus, or ``shakespeare`` (downloaded once, verified).

``stdlib`` needs no network: it is built deterministically from the Python standard library's
own top-level ``.py`` files on this machine (sorted by name, whole files, until about 1 MB),
normalised to printable ASCII plus newline so a character vocabulary stays under 100 tokens.
``shakespeare`` is Karpathy's tinyshakespeare, fetched on first use into a cache directory
(``$TINYTORCH_CACHE`` or ``~/.cache/tinytorch``) and checked by size and sha256.
"""

from __future__ import annotations

import functools
import os
import re
import sysconfig
from pathlib import Path

from tinytorch_core.fileio import DownloadError, download_verified
from tinytorch_core.fileio import cache_dir as default_cache_dir

__all__ = [
    "CorpusError", "load_corpus", "stdlib_corpus", "shakespeare_corpus", "download_corpus",
    "SHAKESPEARE_URL", "SHAKESPEARE_SHA256", "SHAKESPEARE_SIZE", "STDLIB_MAX_CHARS",
]

SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_SIZE = 1_115_394
SHAKESPEARE_FILE = "tinyshakespeare.txt"

#: The stdlib corpus takes whole files in name order until it holds at least this many characters.
STDLIB_MAX_CHARS = 1_000_000

NAMED_SOURCES = ("stdlib", "shakespeare")

# Everything outside printable ASCII (0x20-0x7E) and newline becomes "?", after tabs and CR are normalised.
_OUTSIDE_ALPHABET = re.compile(r"[^\x20-\x7e\n]")


class CorpusError(ValueError):
    """A corpus could not be loaded; the message says why and what to do instead."""


def load_corpus(source: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> str:
    """The text of a corpus: ``"stdlib"``, ``"shakespeare"`` or a path to a UTF-8 text file.

    The names take precedence over files of the same name (write ``./stdlib`` for such a file).
    An empty corpus is an error.
    """
    name = os.fspath(source)
    if name == "stdlib":
        text = stdlib_corpus()
    elif name == "shakespeare":
        text = shakespeare_corpus(cache_dir=cache_dir)
    else:
        path = Path(name).expanduser()
        if not path.is_file():
            raise CorpusError(
                f"corpus {name!r} is neither a file nor a built-in corpus; give a path to a UTF-8 text "
                f"file or one of {', '.join(repr(s) for s in NAMED_SOURCES)}"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(f"corpus file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text:
        raise CorpusError(f"corpus {name!r} is empty; a language model needs text to train on")
    return text


def normalise_ascii(text: str) -> str:
    """Printable ASCII plus newline: CRLF/CR -> newline, tab -> 4 spaces, any other character -> ``?``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return _OUTSIDE_ALPHABET.sub("?", text)


@functools.lru_cache(maxsize=1)
def stdlib_corpus(max_chars: int = STDLIB_MAX_CHARS) -> str:
    """The built-in offline corpus from this Python's standard library sources (deterministic per Python version).

    Files: the top-level ``*.py`` files of ``sysconfig.get_paths()["stdlib"]`` in sorted order
    (no packages, tests or site-packages), each normalised with :func:`normalise_ascii` and
    joined by a blank line, whole files until the text reaches ``max_chars``.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if p.is_file())
    if not files:
        raise CorpusError(
            f"no Python source files found in the standard library directory {root}; "
            "use a text file instead (data.corpus=PATH)"
        )
    parts: list[str] = []
    total = 0
    for file in files:
        try:
            source = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue  # an unreadable file is skipped; the others still make a corpus
        piece = normalise_ascii(source).strip("\n") + "\n\n"
        parts.append(piece)
        total += len(piece)
        if total >= max_chars:
            break
    return "".join(parts)


def shakespeare_corpus(cache_dir: str | os.PathLike[str] | None = None, url: str = SHAKESPEARE_URL) -> str:
    """tinyshakespeare: read from the cache, downloading and verifying it on first use."""
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = download_corpus(url, directory / SHAKESPEARE_FILE, SHAKESPEARE_SHA256, SHAKESPEARE_SIZE)
    return path.read_text(encoding="utf-8")


def download_corpus(url: str, destination: Path, sha256: str, size: int, timeout: float = 30.0) -> Path:
    """``destination``, downloaded and verified by :func:`tinytorch_core.fileio.download_verified` unless cached.

    A failure is a :class:`CorpusError` that adds the offline alternative: pass a local file instead.
    """
    try:
        return download_verified(url, destination, sha256, size, timeout)
    except DownloadError as exc:
        if exc.verification_failed:
            raise CorpusError(f"{exc}. Retry, or pass a local copy with --set data.corpus=PATH") from None
        raise CorpusError(
            f"{exc}; are you offline? Download it by hand and pass the file instead: --set data.corpus=PATH "
            f"(or place it at {destination})"
        ) from None
