"""Pictures: metric curves and attention maps are valid PNGs with real content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="needs the plot extra: pip install -e '.[plot]'")

from tinytorch_core.plot import metric_series, plot_attention, plot_metrics  # noqa: E402


def png_pixels(path: Path) -> np.ndarray:
    """Check the file is a well-formed PNG (signature, chunk CRCs via Pillow's verify) and decode it."""
    from PIL import Image  # Pillow comes with matplotlib

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def assert_nontrivial_picture(path: Path, min_colours: int = 20) -> np.ndarray:
    pixels = png_pixels(path)
    height, width, _ = pixels.shape
    assert width >= 200 and height >= 150
    colours = np.unique(pixels[..., :3].reshape(-1, 3), axis=0)
    assert len(colours) >= min_colours, f"only {len(colours)} colours: an empty picture?"
    assert (pixels[..., :3] < 250).any(axis=-1).mean() > 0.02, "almost all white"
    return pixels


def test_metric_curves(tmp_path: Path) -> None:
    records = [{"step": s, "train_loss": 3.0 / s, "lr": 1e-3, "elapsed": s * 0.1} for s in range(1, 101)]
    records += [{"step": s, "val_loss": 3.2 / s, "val_accuracy": 1 - 1 / s} for s in (25, 50, 100)]
    series = metric_series(records)
    assert set(series) == {"train_loss", "lr", "val_loss", "val_accuracy"}  # step and elapsed are not metrics
    out = plot_metrics(records, tmp_path / "m.png", title="run")
    assert_nontrivial_picture(out)
    assert not list(tmp_path.glob("*.tmp*")), "atomic write left a temp file"


def test_metric_curves_need_a_metric(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no metrics"):
        plot_metrics([{"step": 1, "note": "x"}], tmp_path / "m.png")


def test_attention_grid(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((2, 3, 6, 6))
    scores = np.where(np.tril(np.ones((6, 6), dtype=bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    out = plot_attention(weights, list("hello!"), tmp_path / "a.png")
    assert_nontrivial_picture(out)
    one = plot_attention(weights, list("hello!"), tmp_path / "one.png", layers=[1], heads=[2])
    assert png_pixels(one).shape[1] < png_pixels(out).shape[1]  # one head is a narrower picture than three
    with pytest.raises(ValueError, match="head 5 does not exist"):
        plot_attention(weights, list("hello!"), tmp_path / "b.png", heads=[5])
    with pytest.raises(ValueError, match="labels"):
        plot_attention(weights, list("hi"), tmp_path / "c.png")
