"""File handling shared by the whole project: atomic writes and cached, sha256-verified downloads.

Atomic writes go to a temporary file in the destination's own directory (so the final rename
never crosses filesystems), are fsync'ed, then ``os.replace``d over the target: a reader, or a
crash, sees the old file or the complete new one, never half of either. A failure mid-write
removes the temporary file and leaves the old file untouched.

Downloads stream into such a temporary file beside the destination, are checked against the
expected size and sha256, and only then renamed into place, so a cache never holds a partial or
wrong file. Every function takes the URL as a parameter: tests serve files from a loopback server.

This module is domain-agnostic: plugins wrap it with their own messages (which file to pass
instead when offline), it knows nothing of datasets or corpora.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "DownloadError", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "read_json_object", "cache_dir", "sha256_of",
    "file_matches", "download_verified", "CACHE_ENV",
]

#: Environment variable naming the download cache folder (default ``~/.cache/tinytorch``).
CACHE_ENV = "TINYTORCH_CACHE"

_CHUNK = 1 << 20
PathLike = str | os.PathLike[str]


class DownloadError(OSError):
    """A download failed or its file did not verify; nothing was written to the destination.

    ``url`` is what was fetched, ``reason`` what went wrong and ``hint`` what to do instead;
    ``str(error)`` names all three. Callers that know the offline alternative (a local file to
    pass instead) add it with ``raise error.with_hint("pass the file with --set data.path=PATH")``.
    """

    def __init__(self, url: str, reason: str, *, verification_failed: bool = False, hint: str = "") -> None:
        if verification_failed:
            message = f"download of {url} failed verification: {reason}"
        else:
            message = f"could not download {url}: {reason}"
        super().__init__(f"{message}. {hint}" if hint else message)
        self.url = url
        self.reason = reason
        self.hint = hint
        #: ``True`` when the file arrived but did not match its size or sha256 (not a network error).
        self.verification_failed = verification_failed

    def with_hint(self, hint: str) -> DownloadError:
        """The same error with ``hint`` (e.g. the offline alternative) at the end of its message."""
        return DownloadError(self.url, self.reason, verification_failed=self.verification_failed, hint=hint)


# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------

@contextmanager
def _replacing(path: PathLike, mode: str, suffix: str = ".tmp") -> Iterator[IO[Any]]:
    """A handle on a temp file beside ``path`` that replaces ``path`` when the block exits cleanly.

    On any exception (Ctrl-C included: a stray temp file is never left) the temp file is removed
    and ``path`` is untouched.
    """
    target = Path(path)
    directory = target.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=suffix)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if exc.filename is None and exc.errno is not None:  # a full disk on write/fsync: say which file
            raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from exc
        raise
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; best effort, as some filesystems cannot open directories."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def atomic_write_bytes(path: PathLike, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` atomically (parent folders are created); returns the path."""
    with _replacing(path, "wb") as handle:
        handle.write(payload)
    return Path(path)


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically (parent folders are created); returns the path."""
    with _replacing(path, "w") as handle:
        handle.write(text)
    return Path(path)


def atomic_write_json(path: PathLike, obj: Any, *, indent: int | None = None) -> Path:
    """Write ``obj`` as JSON (UTF-8, non-ASCII kept as is) to ``path`` atomically; returns the path.

    The object is serialised before the file is opened, so an unserialisable value raises a
    ``TypeError`` without touching the disk.
    """
    text = json.dumps(obj, ensure_ascii=False, indent=indent)
    return atomic_write_text(path, text + "\n" if indent is not None else text)


def read_json_object(path: PathLike, what: str) -> dict[str, Any]:
    """The JSON object in ``path``, a ``what`` (say "tokenizer JSON file"), with one-line errors naming
    the file: ``FileNotFoundError`` when it is missing, ``ValueError`` when it is not JSON or not an object."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"no {what} at {source}")
    try:
        payload = json.loads(source.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{source} is not a valid {what} ({exc})") from None
    if not isinstance(payload, dict):
        raise ValueError(f"{source} holds {type(payload).__name__}, expected a {what} holding a JSON object")
    return payload


# ---------------------------------------------------------------------------------------------
# Cache and verification
# ---------------------------------------------------------------------------------------------

def cache_dir(subdir: str = "") -> Path:
    """``$TINYTORCH_CACHE`` (or ``~/.cache/tinytorch``), joined with ``subdir``; not created here."""
    configured = os.environ.get(CACHE_ENV)
    root = Path(configured).expanduser() if configured else Path.home() / ".cache" / "tinytorch"
    return root / subdir if subdir else root


def sha256_of(path: PathLike) -> str:
    """Hex sha256 of a file, read in chunks (constant memory for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_matches(path: PathLike, sha256: str | None = None, size: int | None = None) -> bool:
    """Whether ``path`` is a file with the given size and sha256 (each checked only when given).

    The size is compared first: it is free, and a wrong size spares hashing the file.
    """
    file = Path(path)
    if not file.is_file():
        return False
    if size is not None and file.stat().st_size != size:
        return False
    return sha256 is None or sha256_of(file) == sha256.lower()


# ---------------------------------------------------------------------------------------------
# Downloads
# ---------------------------------------------------------------------------------------------

def download_verified(
    url: str,
    destination: PathLike,
    sha256: str | None = None,
    size: int | None = None,
    timeout: float = 30.0,
) -> Path:
    """``destination``, downloading ``url`` into it unless it already holds a verified copy.

    A copy counts as verified when ``sha256`` or ``size`` is given and it matches them; with
    neither, the file is always downloaded again. The download streams into a temp file beside
    ``destination``, is checked against ``size`` and ``sha256``, and is only then renamed into
    place. On any failure nothing is left (no temp file, no partial destination) and
    :class:`DownloadError` names the URL and what failed.
    """
    # Imported here: urllib.request pulls in http.client, email and ssl, which every checkpoint
    # save and CLI start-up would otherwise pay for.
    import http.client
    import urllib.error
    import urllib.request

    target = Path(destination)
    if (sha256 is not None or size is not None) and file_matches(target, sha256, size):
        return target
    digest = hashlib.sha256()
    received = 0
    # DownloadError raised inside the block discards the temp file before it propagates.
    announced: str | None = None
    with _replacing(target, "wb", suffix=".part") as handle:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                announced = response.headers.get("Content-Length")
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    handle.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            # URLError carries the cause in .reason (refused, not found); the others say it in str().
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            raise DownloadError(url, str(reason)) from exc
        # http.client returns a short body without complaint when the server hangs up early.
        if announced is not None and announced.isdigit() and received != int(announced):
            raise DownloadError(url, f"the connection closed after {received} of {announced} bytes")
        if size is not None and received != size:
            raise DownloadError(url, f"size mismatch: expected {size} bytes, got {received}; nothing was saved",
                                verification_failed=True)
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256.lower():
            raise DownloadError(
                url,
                f"checksum mismatch on {received} bytes: expected sha256 {sha256.lower()}, got {actual}; the "
                "download is corrupt or the URL serves a different file; nothing was saved",
                verification_failed=True,
            )
    return target
