"""Fetch dataset files into a local cache, verified by sha256, written atomically.

The cache is ``$TINYTORCH_CACHE`` or ``~/.cache/tinytorch``. Every function takes the URL as
a parameter, so tests serve files from a local HTTP server and nothing here hard-codes a host.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DownloadError", "atomic_write_bytes", "cache_dir", "sha256_of", "download_file", "fetch"]

_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A dataset file could not be fetched or failed verification; the message says how to proceed offline."""


def cache_dir(subdir: str = "") -> Path:
    """``$TINYTORCH_CACHE`` (or ``~/.cache/tinytorch``), joined with ``subdir``; not created here."""
    root = os.environ.get("TINYTORCH_CACHE") or str(Path.home() / ".cache" / "tinytorch")
    return Path(root) / subdir if subdir else Path(root)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return path


def download_file(url: str, dest: Path, sha256: str | None = None, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest``: streamed into a temp file beside it, verified, then renamed in place.

    A failed or mismatching download leaves nothing at ``dest``. Raises :class:`DownloadError`.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DownloadError(f"could not download {url}: {exc}") from exc
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256.lower():
            raise DownloadError(
                f"checksum mismatch for {url}: expected sha256 {sha256.lower()}, got {actual}; "
                "the download is corrupt or the URL serves a different file"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def fetch(filename: str, base_urls: Sequence[str], sha256: str | None, subdir: str, dataset: str,
          path_hint: str = "path") -> Path:
    """The cached copy of ``filename`` (verified against ``sha256``), downloading it from the first mirror that works.

    On failure the message names the cache location and the offline alternative (``path_hint``).
    """
    dest = cache_dir(subdir) / filename
    if dest.exists():
        if sha256 is None or sha256_of(dest) == sha256.lower():
            return dest
        dest.unlink()  # a stale or damaged copy: fetch it again
    errors: list[str] = []
    for base in base_urls:
        try:
            return download_file(base.rstrip("/") + "/" + filename, dest, sha256)
        except DownloadError as exc:
            errors.append(str(exc))
    raise DownloadError(
        f"{dataset}: {filename} is not cached at {dest} and could not be downloaded "
        f"(offline?): {'; '.join(errors) or 'no mirror given'}. Download it by hand and pass "
        f"{path_hint}=<folder containing {filename}>, or place it in {dest.parent} "
        "(set $TINYTORCH_CACHE to change the cache folder)."
    )
