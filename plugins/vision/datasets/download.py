"""Dataset files from the download cache, fetched from the first mirror that works.

The download itself (cache folder, streaming, sha256 check, atomic rename) is
:mod:`tinytorch_core.fileio`; this module adds what is particular to image datasets: trying each
mirror in turn, and an error that names the cache location and the ``path=`` alternative.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tinytorch_core.fileio import DownloadError, cache_dir, download_verified

__all__ = ["DownloadError", "cache_dir", "fetch"]


def fetch(filename: str, base_urls: Sequence[str], sha256: str | None, subdir: str, dataset: str,
          path_hint: str = "path") -> Path:
    """The cached copy of ``filename`` (verified against ``sha256``), downloading it from the first mirror that works.

    On failure the :class:`DownloadError` names every URL tried, the cache location and the
    offline alternative (``path_hint=<folder>``).
    """
    dest = cache_dir(subdir) / filename
    if sha256 is None and dest.is_file():
        return dest  # nothing to verify it against: the cached copy is trusted
    urls = [base.rstrip("/") + "/" + filename for base in base_urls]
    reasons: list[str] = []
    for url in urls:
        try:
            return download_verified(url, dest, sha256)
        except DownloadError as exc:
            reasons.append(exc.reason)
    raise DownloadError(
        " or ".join(urls) or filename, "; ".join(reasons) or "no mirror given",
        hint=f"{dataset}: {filename} is not cached at {dest} (offline?). Download it by hand and pass "
             f"{path_hint}=<folder containing {filename}>, or place it in {dest.parent} "
             "(set $TINYTORCH_CACHE to change the cache folder).",
    )
