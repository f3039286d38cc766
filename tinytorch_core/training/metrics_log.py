"""Append-only JSON-lines metrics file (``run_dir/metrics.jsonl``), one object per optimizer step."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tinytorch_core.training.run_files import open_no_follow


class MetricsLog:
    """Writes one JSON object per line; each line is flushed so a crash loses at most the line being written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Never through a symlink: a link planted as metrics.jsonl must not redirect the appends.
        fd = open_no_follow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        self._file: IO[str] | None = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` as one line."""
        if self._file is None:
            raise ValueError(f"MetricsLog({self.path}) is closed")
        try:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror or str(exc), str(self.path)) from exc

    def close(self) -> None:
        """Close the file; further writes raise."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Parse a metrics file back into a list of records (blank lines skipped)."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
