"""The files of one run directory: its lock, its metrics log's cut-back on resume, stale temp files.

A run directory belongs to one run. :class:`RunLock` (``run_dir/.lock`` holding the writer's pid
and host) keeps a second writer out; a lock whose pid is gone on this host is stale and is taken
over. On resume, :func:`cut_metrics` drops the records of steps after the resumed checkpoint (a
run killed between a metrics line and the next checkpoint would otherwise log those steps twice)
and :func:`remove_stale_temps` deletes the temp files an interrupted atomic save left behind.
Run files are opened without following symlinks, so a link planted in a run directory cannot
redirect a write elsewhere.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

__all__ = ["RunLock", "RunDirectoryError", "RunLockedError", "cut_metrics", "remove_stale_temps",
           "open_no_follow", "LOCK_NAME", "TEMP_PATTERNS"]

LOCK_NAME = ".lock"
#: Seconds after which a lock file without a readable pid counts as stale (it is written right after creation).
GARBLED_LOCK_AGE = 10.0
#: What :mod:`tinytorch_core.fileio` names its temp files (``.<target>.<random>.tmp`` / ``.part``).
TEMP_PATTERNS = (".*.tmp", ".*.part")


class RunDirectoryError(OSError):
    """A run directory cannot be used as asked (a planted symlink, an unreadable file)."""


class RunLockedError(RunDirectoryError):
    """Another live process holds the run directory's lock."""


def open_no_follow(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a symlink at ``path`` with :class:`RunDirectoryError`."""
    try:
        return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or path.is_symlink():
            raise RunDirectoryError(f"{path} is a symlink; run files are never written through links: "
                                    f"remove it, or use another run directory") from None
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """``run_dir/.lock``: created exclusively, holding ``{"pid": ..., "host": ...}``; removed on release.

    ``acquire()`` raises :class:`RunLockedError` naming the holder when a live process holds it.
    A lock left by a process that is gone (``kill -9``) is stale: on the same host it is replaced;
    a lock from another host cannot be checked, so it is reported with the path to delete.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.held = False

    def holder(self) -> dict[str, object] | None:
        """The lock file's content, or None when there is no lock (or it cannot be parsed)."""
        try:
            fd = open_no_follow(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, encoding="utf-8", errors="replace") as handle:
            text = handle.read(4096)
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _stale(self, holder: dict[str, object]) -> bool:
        if not holder:  # empty or garbled: a writer killed between creating and filling it, once it is old
            try:
                return time.time() - self.path.stat().st_mtime > GARBLED_LOCK_AGE
            except FileNotFoundError:
                return True
        pid = holder.get("pid")
        if holder.get("host") != socket.gethostname() or not isinstance(pid, int) or isinstance(pid, bool):
            return False
        return pid != os.getpid() and not _pid_alive(pid)

    def acquire(self) -> RunLock:
        """Take the lock (replacing a stale one); :class:`RunLockedError` when a live writer holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n"
        for _ in range(2):
            try:
                fd = open_no_follow(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self.holder()
                if holder is not None and self._stale(holder):
                    self.path.unlink(missing_ok=True)
                    continue
                raise RunLockedError(self._locked_message(holder)) from None
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(record)
            self.held = True
            return self
        raise RunLockedError(self._locked_message(self.holder()))

    def _locked_message(self, holder: dict[str, object] | None) -> str:
        run_dir = self.path.parent
        if holder and "pid" in holder:
            who = f"pid {holder.get('pid')} on host {holder.get('host')}"
            if holder.get("host") != socket.gethostname():
                return (f"run directory {run_dir} is locked by {who} ({self.path}); if that process is gone, "
                        f"delete {self.path}")
            return f"run directory {run_dir} is in use by {who} ({self.path}); wait for it to finish or stop it"
        return f"run directory {run_dir} is locked ({self.path}, unreadable); if no run is using it, delete {self.path}"

    def release(self) -> None:
        """Remove the lock if this process holds it."""
        if self.held:
            holder = self.holder()
            if holder is not None and holder.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def cut_metrics(path: Path, step: int) -> int:
    """Keep only the records of ``path`` with ``step <= step`` (and drop a torn last line); returns how many
    records were dropped. The file is rewritten atomically; a missing file is left missing."""
    from tinytorch_core.fileio import atomic_write_text

    if path.is_dir() and not path.is_symlink():
        raise RunDirectoryError(f"{path} is a directory, not a metrics log: remove it, or use another run directory")
    try:
        fd = open_no_follow(path, os.O_RDONLY)
    except FileNotFoundError:
        return 0
    with os.fdopen(fd, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    kept: list[str] = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line torn by a kill mid-write, or garbage
        if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
            kept.append(line)
    dropped = sum(1 for line in lines if line.strip()) - len(kept)
    if dropped:
        atomic_write_text(path, "".join(line + "\n" for line in kept))
    return dropped


def remove_stale_temps(run_dir: Path) -> list[Path]:
    """Delete the temp files interrupted atomic saves left in ``run_dir`` and ``run_dir/checkpoints``.

    Only call this while holding the run's lock: a live writer's temp file is not stale.
    """
    removed: list[Path] = []
    for folder in (run_dir, run_dir / "checkpoints"):
        if not folder.is_dir() or folder.is_symlink():
            continue
        for pattern in TEMP_PATTERNS:
            for path in folder.glob(pattern):
                if path.is_file() or path.is_symlink():
                    path.unlink(missing_ok=True)
                    removed.append(path)
    return removed
