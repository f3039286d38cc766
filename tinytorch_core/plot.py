"""Pictures of training: metric curves from ``metrics.jsonl`` and grids of attention maps.

matplotlib is optional (the ``plot`` extra) and imported only when a picture is drawn, with the
non-interactive Agg backend, so nothing here needs a display. Both functions write a PNG atomically
and return its path.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinytorch_core.fileio import atomic_write_bytes

__all__ = ["PlotUnavailableError", "plot_metrics", "plot_attention", "metric_series"]

#: Keys of a metrics record that are coordinates or bookkeeping, not metrics to draw.
_NOT_METRICS = frozenset({"step", "elapsed", "epoch"})
_LOSS_KEYS = ("train_loss", "val_loss")


class PlotUnavailableError(ImportError):
    """matplotlib is not installed."""


class _Figures:
    """Figures made without pyplot, so drawing never switches the backend a notebook is using."""

    @staticmethod
    def subplots(rows: int, columns: int, *, figsize: tuple[float, float], squeeze: bool) -> tuple[Any, Any]:
        try:
            from matplotlib.figure import Figure
        except ImportError as error:
            raise PlotUnavailableError("drawing pictures needs matplotlib: pip install 'tinytorch-numpy[plot]'") from error
        figure = Figure(figsize=figsize)
        return figure, figure.subplots(rows, columns, squeeze=squeeze)

    @staticmethod
    def close(figure: Any) -> None:
        figure.clear()


def _pyplot() -> Any:
    return _Figures


def metric_series(records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    """``{metric: (steps, values)}`` for every numeric metric in ``records``, in first-seen order."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    for record in records:
        step = record.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            continue
        for key, value in record.items():
            if key in _NOT_METRICS or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value):
                continue
            steps, values = series.setdefault(key, ([], []))
            steps.append(step)
            values.append(float(value))
    return series


def _save(figure: Any, out: str | os.PathLike[str]) -> Path:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    target = Path(out)
    atomic_write_bytes(target, buffer.getvalue())
    return target


def _finish(plt: Any, figure: Any, out: str | os.PathLike[str], title: str) -> Path:
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    try:
        return _save(figure, out)
    finally:
        plt.close(figure)


def plot_metrics(records: Sequence[Mapping[str, Any]], out: str | os.PathLike[str], *, title: str = "") -> Path:
    """Draw train and validation loss in one panel and every other logged metric in its own, against step.

    ``records`` are ``metrics.jsonl`` lines (``tinytorch_core.training.read_metrics``). Raises
    ``ValueError`` when they hold no metric at all.
    """
    series = metric_series(records)
    if not series:
        raise ValueError("no metrics to plot: the records hold no numeric values with a 'step'")
    others = [key for key in series if key not in _LOSS_KEYS]
    has_loss = any(key in series for key in _LOSS_KEYS)
    panels = (1 if has_loss else 0) + len(others)
    plt = _pyplot()
    columns = min(panels, 2)
    rows = math.ceil(panels / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6.0 * columns, 3.6 * rows), squeeze=False)
    flat = list(axes.ravel())
    index = 0
    if has_loss:
        ax = flat[index]
        index += 1
        for key, style in zip(_LOSS_KEYS, ("-", "o-")):
            if key in series:
                steps, values = series[key]
                ax.plot(steps, values, style, label=key.replace("_", " "), markersize=3, linewidth=1.2)
        ax.set_ylabel("loss")
        ax.legend()
    for key in others:
        ax = flat[index]
        index += 1
        steps, values = series[key]
        ax.plot(steps, values, "o-" if len(steps) < 50 else "-", markersize=3, linewidth=1.2)
        ax.set_ylabel(key.replace("_", " "))
    first = min(steps[0] for steps, _ in series.values())
    last = max(steps[-1] for steps, _ in series.values())
    for ax in flat[:index]:
        if last > first:  # one step axis for every panel, so curves line up
            ax.set_xlim(first, last)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
    for ax in flat[index:]:
        ax.set_visible(False)
    return _finish(plt, figure, out, title)


def plot_attention(
    weights: np.ndarray[Any, Any],
    labels: Sequence[str],
    out: str | os.PathLike[str],
    *,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    title: str = "",
) -> Path:
    """Draw attention maps: one row per layer, one column per head, ``labels`` (the tokens) on both axes.

    ``weights`` has shape (layers, heads, T, T): row ``i`` of a map is how query position ``i``
    spreads its attention over the key positions. ``layers`` / ``heads`` pick which to draw
    (default: all).
    """
    if weights.ndim != 4 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"attention weights must have shape (layers, heads, T, T), got {weights.shape}")
    num_layers, num_heads, steps, _ = weights.shape
    if len(labels) != steps:
        raise ValueError(f"{len(labels)} labels for {steps} positions")
    layer_ids = list(range(num_layers)) if layers is None else list(layers)
    head_ids = list(range(num_heads)) if heads is None else list(heads)
    for name, chosen, limit in (("layer", layer_ids, num_layers), ("head", head_ids, num_heads)):
        bad = [i for i in chosen if not 0 <= i < limit]
        if bad or not chosen:
            raise ValueError(f"{name} {bad[0] if bad else '(none)'} does not exist: the model has {limit} (0..{limit - 1})")
    plt = _pyplot()
    cell = max(2.2, min(0.28 * steps, 6.0))
    figure, axes = plt.subplots(len(layer_ids), len(head_ids), figsize=(cell * len(head_ids) + 0.6,
                                                                           cell * len(layer_ids) + 0.6), squeeze=False)
    shown = [label.replace("\n", "\\n").replace(" ", "\u2423") or "\u2205" for label in labels]  # visible spaces
    fontsize = 8 if steps <= 24 else 6
    for row, layer in enumerate(layer_ids):
        for column, head in enumerate(head_ids):
            ax = axes[row][column]
            ax.imshow(weights[layer, head], cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title(f"layer {layer} head {head}", fontsize=9)
            ticks = np.arange(steps)
            ax.set_xticks(ticks, shown, fontsize=fontsize, rotation=90)
            ax.set_yticks(ticks, shown, fontsize=fontsize)
            if row == len(layer_ids) - 1:
                ax.set_xlabel("key")
            if column == 0:
                ax.set_ylabel("query")
    return _finish(plt, figure, out, title)
