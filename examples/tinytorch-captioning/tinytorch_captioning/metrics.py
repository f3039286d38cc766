"""Exact-match accuracy of greedy captions, and the report printed after ``tinytorch train``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tinytorch_core.data import Dataset, fetch_batch

from tinytorch_captioning.model import PAD, Captioner

Array = np.ndarray[Any, np.dtype[Any]]


def exact_match(model: Captioner, dataset: Dataset, batch_size: int = 500) -> float:
    """Fraction of ``(image, caption ids)`` samples whose greedy caption equals the reference exactly."""
    images, ids = fetch_batch(dataset, np.arange(len(dataset)))
    if len(images) == 0:
        raise ValueError("exact_match: the dataset is empty")
    predicted = model.caption_ids(np.asarray(images), batch_size=batch_size)
    hits = [pred == [int(t) for t in row if t != PAD] for pred, row in zip(predicted, np.asarray(ids), strict=True)]
    return float(np.mean(hits))


def _data_kwargs(config: Mapping[str, Any]) -> dict[str, Any] | None:
    table = config.get("data") if isinstance(config, Mapping) else None
    if not isinstance(table, Mapping) or str(table.get("name", "")).split(":")[-1] != "captioned_shapes":
        return None
    return {k: v for k, v in table.items() if k != "name"}


def report(trainer: Any, config: Mapping[str, Any]) -> None:
    """After training a captioner: save it and print held-out and unseen-combination exact match."""
    from tinytorch_captioning.checkpoint import FILENAME, save_captioner
    from tinytorch_captioning.data import last_built, settings_of

    model = trainer.model
    kwargs = _data_kwargs(config)
    splits = None if kwargs is None else last_built(kwargs)
    run_dir = getattr(trainer, "run_dir", None)
    if run_dir is not None:
        path = save_captioner(model, Path(run_dir) / FILENAME, settings_of(kwargs) if kwargs is not None else None)
        print(f"saved captioner to {path} (caption with it: tinytorch caption {path} --index 0)")
    if splits is None:
        print("note: captioning: exact match not reported (the run did not train on captioned_shapes)")
        return
    sets = [(label, d) for label, d in (("held-out caption", splits.val), ("held-out unseen-combination", splits.unseen))
            if d is not None and len(d)]
    print("greedy captions, exact string match: " + ", ".join(f"{label} {len(d)} images" for label, d in sets))
    for label, dataset in sets:
        print(f"{label} exact match: {100 * exact_match(model, dataset):.1f}%")
