"""Progress display for training: a rich progress bar on a terminal, compact log lines otherwise.

rich is imported only when a bar is actually shown, so ``import tinytorch_core`` stays fast.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO


def _format_eta(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):  # NaN or unknown
        return "?"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Shows step, loss, steps/s and ETA.

    ``bar`` asks for a rich progress bar; it is used only when ``stream`` is a terminal. Without a bar a
    compact line is printed every ``log_every`` steps (never when ``log_every`` is None or 0). ``total``
    is the step the run will end at (None when unknown), ``start`` the step it starts from.
    """

    def __init__(self, *, bar: bool, log_every: int | None, total: int | None, start: int,
                 stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.log_every = log_every
        self.total = total
        self.start = start
        self._started = time.perf_counter()
        self._bar: Any = None
        self._task: Any = None
        isatty = getattr(self.stream, "isatty", None)
        self.use_bar = bar and callable(isatty) and bool(isatty())

    def __enter__(self) -> Progress:
        self._started = time.perf_counter()
        if self.use_bar:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("step"), MofNCompleteColumn(), BarColumn(),
                TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]} steps/s"),
                TextColumn("eta"), TimeRemainingColumn(),
                console=Console(file=self.stream), refresh_per_second=4,
            )
            self._bar.start()
            self._task = self._bar.add_task("train", total=self.total, completed=self.start, loss="-", rate="-")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def rate(self, step: int) -> float:
        """Optimizer steps per second since this display started."""
        elapsed = time.perf_counter() - self._started
        return (step - self.start) / elapsed if elapsed > 0 else 0.0

    def update(self, step: int, loss: float) -> None:
        """Record that ``step`` finished with ``loss``."""
        if self._bar is not None:
            rate = self.rate(step)
            self._bar.update(self._task, completed=step, loss=f"{loss:.4f}", rate=f"{rate:.1f}")
            return
        if self.log_every and step % self.log_every == 0:
            rate = self.rate(step)
            parts = [f"step {step}" + (f"/{self.total}" if self.total else ""), f"loss {loss:.4f}", f"{rate:.1f} steps/s"]
            if self.total and rate > 0:
                parts.append(f"eta {_format_eta((self.total - step) / rate)}")
            print(" | ".join(parts), file=self.stream, flush=True)

    def message(self, text: str) -> None:
        """Print an event (evaluation result) without breaking the bar."""
        if self._bar is not None:
            self._bar.console.print(text)
        elif self.log_every:
            print(text, file=self.stream, flush=True)
