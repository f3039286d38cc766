"""Which run directory a ``tinytorch train`` writes, and the checks before anything is written there.

A run directory belongs to one run. A fresh run whose ``[output] dir`` already holds files does
not touch them: it writes to the first free numbered directory beside it (``runs/x-2``,
``runs/x-3``, ...) and says so, like Ultralytics' ``runs/train2`` or Lightning's ``version_N``.
Refusing instead would make the README's main job fail the second time it is run, and silently
replacing or appending would lose or mix records. ``--overwrite`` replaces the old run in place;
``--resume RUN_DIR`` continues it.

Every run holds ``RUN_DIR/.lock`` (pid and host) while it writes, so a second writer stops with one
line. A resumed run may change only what it can honour (:data:`RESUMABLE`, e.g. ``train.steps``);
other differences from the run's recorded ``config.json`` are refused, never recorded and ignored.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry.config import Config, display_path
from registry.errors import ConfigError
from tinytorch_core.training.run_files import LOCK_NAME, RunLock, RunLockedError, remove_stale_temps

__all__ = ["RunPlan", "plan_run", "RESUMABLE", "RUN_FILES", "check_resume_config"]

#: Settings a resumed run may change; the rest are fixed by its checkpoint (weights, optimizer and
#: scheduler state, RNG) or by its record (data, model). Plugin sections and ``[plugins]`` may change.
RESUMABLE: dict[str, frozenset[str]] = {
    "train": frozenset({"steps", "epochs", "eval_every", "eval_batches", "log_every", "progress",
                        "checkpoint_every", "callbacks"}),
    "output": frozenset({"dir"}),
}
_FIXED_SECTIONS = ("data", "model", "train", "output")

#: What a run writes; none of these may be a symlink (a write must never be redirected elsewhere).
RUN_FILES = ("metrics.jsonl", "config.toml", "config.json", "model.safetensors", "checkpoints",
             "checkpoints/last.safetensors", LOCK_NAME)
_RUN_MARKERS = ("config.json", "metrics.jsonl", "checkpoints")
_MAX_NUMBERED = 1000


@dataclass
class RunPlan:
    """The directory a run writes, holding its lock; ``release()`` when the run ends."""

    directory: Path
    lock: RunLock
    note: str | None = None

    def release(self) -> None:
        """Give the run directory back."""
        self.lock.release()


def _entries(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name != LOCK_NAME] if directory.is_dir() else []


def _check_no_links(directory: Path) -> None:
    for name in RUN_FILES:
        if (directory / name).is_symlink():
            link = Path(display_path(directory)) / name  # the link's own path, not where it points
            raise ConfigError(f"{link} is a symlink; a run never writes through links:"
                              " remove the link, or train into another run directory")



def _lock(directory: Path) -> RunLock:
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"run directory {display_path(directory)} is a file; set [output] dir to a directory")
    try:
        return RunLock(directory).acquire()
    except RunLockedError as exc:
        raise ConfigError(str(exc)) from None


def _fresh(base: Path) -> RunPlan:
    """``base`` when it is free, else the first free ``base-N``; the chosen one is locked."""
    for n in range(1, _MAX_NUMBERED + 1):
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        if candidate.exists() and (not candidate.is_dir() or _entries(candidate)):
            continue
        try:
            lock = RunLock(candidate).acquire()
        except RunLockedError:
            continue  # another run is starting there right now
        if _entries(candidate):  # it filled up between the look and the lock
            lock.release()
            continue
        note = None if n == 1 else (
            f"{display_path(base)} already holds a run, so this run writes to {display_path(candidate)}"
            f" (continue the old run with --resume {display_path(base)}, or replace it with --overwrite)")
        return RunPlan(candidate, lock, note)
    raise ConfigError(f"{display_path(base)} and {_MAX_NUMBERED - 1} numbered directories beside it are taken;"
                      " set [output] dir to a new directory")


def _overwrite(directory: Path) -> RunPlan:
    """Lock ``directory`` and delete the previous run's files (only when it holds a run)."""
    lock = _lock(directory)
    try:
        entries = _entries(directory)
        if entries and not any((directory / m).exists() for m in _RUN_MARKERS):
            raise ConfigError(f"--overwrite: {display_path(directory)} is not empty and holds no tinytorch run"
                              f" (no {', '.join(_RUN_MARKERS)}); it is left untouched: set [output] dir to"
                              " another directory")
        _check_no_links(directory)
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    except BaseException:
        lock.release()
        raise
    return RunPlan(directory, lock, f"--overwrite: replaced the previous run in {display_path(directory)}"
                   if entries else None)


def _resume(directory: Path, config: Config) -> RunPlan:
    checkpoint = directory / "checkpoints" / "last.safetensors"
    if not checkpoint.is_file():
        raise ConfigError(f"--resume {display_path(directory)}: no checkpoint at {display_path(checkpoint)}"
                          " (was it a tinytorch train run directory?)")
    _check_no_links(directory)
    for name in RUN_FILES:  # a resumed run writes to these again: each must be what the run made it
        expect_dir = name == "checkpoints"
        if (directory / name).exists() and (directory / name).is_dir() != expect_dir:
            raise ConfigError(f"--resume: {Path(display_path(directory)) / name} should be a"
                              f" {'directory' if expect_dir else 'file'} but is not; remove it, or start a new run")
    check_resume_config(config, directory)
    lock = _lock(directory)
    removed = remove_stale_temps(directory)
    note = (f"removed {len(removed)} temp file(s) an interrupted save left in {display_path(directory)}"
            if removed else None)
    return RunPlan(directory, lock, note)


def plan_run(config: Config, base: Path, *, resume: Path | None = None, overwrite: bool = False) -> RunPlan:
    """Choose and lock the run directory (call only after config, data and model are validated)."""
    if resume is None and Path(base).name in ("", ".", ".."):
        raise ConfigError(f"[output] dir = {str(base)!r} names no directory of its own; a run needs its own"
                          " directory: use e.g. runs/NAME")
    try:
        return _plan(config, base, resume, overwrite)
    except OSError as exc:
        if isinstance(exc, RunLockedError):
            raise ConfigError(str(exc)) from None
        where = exc.filename or (resume or base)
        raise ConfigError(f"cannot use run directory {display_path(Path(where))}: {exc.strerror or exc}; set"
                          " [output] dir to a directory you can write") from exc


def _plan(config: Config, base: Path, resume: Path | None, overwrite: bool) -> RunPlan:
    if resume is not None:
        if overwrite:
            raise ConfigError("--resume and --overwrite contradict each other: --resume continues a run,"
                              " --overwrite replaces it; give one")
        return _resume(resume, config)
    if overwrite:
        return _overwrite(base)
    return _fresh(base)


def _normalized(data: Any) -> Any:
    return json.loads(json.dumps(data, default=str))


def check_resume_config(config: Config, directory: Path) -> None:
    """Refuse settings a resumed run cannot honour: anything differing from ``config.json`` outside
    :data:`RESUMABLE` and the plugin sections."""
    recorded_path = directory / "config.json"
    if not recorded_path.is_file():
        print(f"note: {display_path(directory)} has no config.json; resuming without comparing settings",
              file=sys.stderr)
        return
    try:
        recorded = json.loads(recorded_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--resume: {display_path(recorded_path)} is not valid JSON ({exc}); the run's record is"
                          " damaged: restore it or start a new run") from None
    if not isinstance(recorded, dict):
        raise ConfigError(f"--resume: {display_path(recorded_path)} is not a JSON object; restore it or start a new run")
    current = _normalized(config.data)
    for section in _FIXED_SECTIONS:
        old, new = recorded.get(section, {}), current.get(section, {})
        if not isinstance(old, dict) or not isinstance(new, dict):
            continue
        for key in sorted(set(old) | set(new)):
            if key in RESUMABLE.get(section, ()) or old.get(key) == new.get(key):
                continue
            allowed = ", ".join(f"train.{k}" for k in sorted(RESUMABLE["train"]))
            raise ConfigError(
                f"--resume {display_path(directory)}: {section}.{key} is {_show(new, key)} here but the run was"
                f" started with {_show(old, key)} ({display_path(recorded_path)}); a resumed run keeps its"
                f" settings (only {allowed} may change): drop that change, or start a new run without --resume")


def _show(table: dict[str, Any], key: str) -> str:
    return repr(table[key]) if key in table else "unset (the default)"
