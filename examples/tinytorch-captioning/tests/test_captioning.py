"""Tests of the captioning plugin: caption grammar, data geometry and splits, model, image files, training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from registry.testing import check_plugin_object
from tinytorch_core import Tensor, manual_seed
from tinytorch_core.optim import Adam
from tinytorch_captioning import plugin
from tinytorch_captioning.captions import (
    COLOUR_NAMES, DEFAULT_HELD_OUT, POSITIONS, SHAPES, SIZES, caption, held_out_mask,
)
from tinytorch_captioning.data import EXTENT, captioned_shapes
from tinytorch_captioning.imagefile import ImageFileError, read_image, write_ppm
from tinytorch_captioning.metrics import exact_match
from tinytorch_captioning.model import Captioner, caption_loss
from tinytorch_captioning.words import WordTokenizer

SMALL = {"n_train": 48, "n_val": 24, "n_unseen": 24, "image_size": 24}


def _parse(tokenizer: Any, ids: np.ndarray) -> tuple[str, str, str, str]:
    text = tokenizer.decode([int(t) for t in ids if t >= 0])
    words = text.rstrip(".").split()
    return words[1], words[2], words[3], " ".join(words[4:])  # size, colour, shape, position


def test_caption_grammar_and_word_tokenizer_round_trip() -> None:
    text = caption(SHAPES.index("circle"), COLOUR_NAMES.index("red"), SIZES.index("small"), 0)
    assert text == "a small red circle at the top left."
    tokenizer = WordTokenizer()
    ids = tokenizer.encode(text)
    assert len(ids) == 9 and tokenizer.decode(ids) == text and ids[-1] == tokenizer.encode(".")[0]
    with pytest.raises(ValueError, match="'tiny' is not in the vocabulary"):
        tokenizer.encode("a tiny red circle.")


def test_held_out_pairs_are_validated() -> None:
    mask = held_out_mask(DEFAULT_HELD_OUT)
    assert mask.sum() == 5 and mask.any(axis=0).sum() == 5 and mask.any(axis=1).all()
    with pytest.raises(ValueError, match=r"'circle green' is not '<colour> <shape>'"):
        held_out_mask(["circle green"])
    with pytest.raises(ValueError, match="every colour of 'ring'"):
        held_out_mask([f"{c} ring" for c in COLOUR_NAMES])


def test_dataset_is_deterministic_and_keeps_held_out_pairs_out_of_training(components: Any) -> None:
    first, second = captioned_shapes(components, **SMALL), captioned_shapes(components, **SMALL)
    assert first.val is not None and first.unseen is not None
    for a, b in ((first.train, second.train), (first.unseen, second.unseen)):
        assert all(np.array_equal(x, y) for x, y in zip(a.arrays, b.arrays, strict=True))  # type: ignore[attr-defined]
    held = {tuple(p.split()) for p in DEFAULT_HELD_OUT}
    tokenizer = first.info["tokenizer"]
    seen = [_parse(tokenizer, ids) for split in (first.train, first.val) for ids in split.arrays[1]]  # type: ignore[attr-defined]
    unseen = [_parse(tokenizer, ids) for ids in first.unseen.arrays[1]]  # type: ignore[attr-defined]
    assert not any((colour, shape) in held for _, colour, shape, _ in seen)
    assert all((colour, shape) in held for _, colour, shape, _ in unseen)
    images = first.train.arrays[0]  # type: ignore[attr-defined]
    assert images.shape == (48, 3, 24, 24) and images.dtype == np.float32
    other = captioned_shapes(components, **{**SMALL, "seed": 1})
    assert not np.array_equal(other.train.arrays[0], images)  # type: ignore[attr-defined]


def test_images_show_what_the_captions_say(components: Any) -> None:
    splits = captioned_shapes(components, n_train=200, n_val=0, n_unseen=0, image_size=28, noise=0.0)
    images, ids = splits.train.arrays  # type: ignore[attr-defined]
    tokenizer = splits.info["tokenizer"]
    background = images[:, :, :1, :1]
    shape_pixels = np.abs(images - background).max(axis=1) > 0.3  # (N, H, W)
    rows, cols = shape_pixels.any(axis=2), shape_pixels.any(axis=1)
    for i, (size, colour, _, position) in enumerate(_parse(tokenizer, row) for row in ids):
        r, c = np.flatnonzero(rows[i]), np.flatnonzero(cols[i])
        extent = max(r[-1] - r[0] + 1, c[-1] - c[0] + 1) / 28
        low, high = EXTENT[SIZES.index(size)]
        assert low - 0.08 <= extent <= high + 0.05, (i, size, extent)
        cell_row, cell_col = divmod(POSITIONS.index(position), 3)
        assert int((r[0] + r[-1] + 1) / 2 / (28 / 3)) == cell_row and int((c[0] + c[-1] + 1) / 2 / (28 / 3)) == cell_col
        colour_seen = images[i][:, shape_pixels[i]].mean(axis=1)
        assert int(np.argmax(colour_seen)) == int(np.argmax(_rgb(colour))), (i, colour)


def _rgb(name: str) -> np.ndarray:
    from tinytorch_captioning.captions import COLOURS

    return np.asarray(COLOURS[name])


def _tiny_model(components: Any) -> Captioner:
    return Captioner(components, image_size=16, prefix_tokens=2, d_model=16, num_layers=1, num_heads=2,
                     channels=[4], hidden=16)


def test_model_is_causal_and_conditioned_on_the_image(components: Any) -> None:
    model = _tiny_model(components)
    splits = captioned_shapes(components, n_train=4, n_val=0, n_unseen=0, image_size=16)
    images, ids = splits.train.arrays  # type: ignore[attr-defined]
    model.eval()
    logits = model(images, ids).data
    assert logits.shape == (4, ids.shape[1], WordTokenizer().vocab_size + 1)  # + the mask id
    changed = ids.copy()
    changed[:, 5] = (changed[:, 5] + 1) % 20
    after = model(images, changed).data
    np.testing.assert_array_equal(logits[:, :6], after[:, :6])  # row t sees ids[:, :t] only
    assert not np.allclose(logits[:, 6:], after[:, 6:])
    assert not np.allclose(model(images[::-1].copy(), ids).data[:, 0], logits[:, 0])
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 3, H, W\)"):
        model(np.zeros((1, 1, 16, 16), dtype=np.float32), ids[:1])


def test_tiny_training_learns_to_caption(components: Any) -> None:
    # 400 small steps on 16x16 images: whole captions right for >= 5% of held-out images (chance: 1 in 540).
    manual_seed(0)
    splits = captioned_shapes(components, n_train=1024, n_val=64, n_unseen=0, image_size=16, held_out=[], seed=3)
    assert splits.val is not None
    model = Captioner(components, image_size=16, prefix_tokens=3, d_model=32, num_layers=1, num_heads=2,
                      channels=[8], hidden=32)
    optimizer = Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    images, ids = splits.train.arrays  # type: ignore[attr-defined]
    before = exact_match(model, splits.val)
    losses = []
    for _ in range(400):
        pick = rng.integers(0, len(images), size=32)
        loss = caption_loss(model, (images[pick], ids[pick]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.data))
    assert np.mean(losses[:10]) > 2.0 and np.mean(losses[-20:]) < 0.5
    # Chance is 1 in 540 captions; a few exact ones after 400 steps (0.03-0.06 across the numpy and numba kernels).
    assert before == 0.0 and exact_match(model, splits.val) >= 2 / 64


def test_image_files_round_trip_and_bad_files_fail_in_one_line(tmp_path: Path) -> None:
    image = np.random.default_rng(0).random((3, 5, 7)).astype(np.float32)
    write_ppm(tmp_path / "x.ppm", image)
    np.testing.assert_allclose(read_image(tmp_path / "x.ppm"), image, atol=1 / 255)
    np.save(tmp_path / "x.npy", image.transpose(1, 2, 0))
    np.testing.assert_array_equal(read_image(tmp_path / "x.npy"), image)
    (tmp_path / "grey.pgm").write_bytes(b"P5\n# a comment\n2 1\n255\n\x00\xff")
    np.testing.assert_array_equal(read_image(tmp_path / "grey.pgm"), np.array([[[0.0, 1.0]]] * 3, dtype=np.float32))
    (tmp_path / "short.ppm").write_bytes(b"P6\n4 4\n255\n" + b"\x00" * 10)
    with pytest.raises(ImageFileError, match="48 bytes.*holds 10"):
        read_image(tmp_path / "short.ppm")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ImageFileError, match="not a plain .npy array"):
        read_image(tmp_path / "obj.npy")
    with pytest.raises(ImageFileError, match="expected an image of shape"):
        np.save(tmp_path / "flat.npy", np.zeros(5))
        read_image(tmp_path / "flat.npy")


def test_prefix_gradients_reach_the_encoder(components: Any) -> None:
    model = _tiny_model(components)
    splits = captioned_shapes(components, n_train=2, n_val=0, n_unseen=0, image_size=16)
    caption_loss(model, splits.train.arrays).backward()  # type: ignore[attr-defined]
    first_conv = next(p for p in model.encoder.parameters() if p.ndim == 4)
    assert first_conv.grad is not None and np.abs(first_conv.grad).sum() > 0
    tokens, colour = model.prefix(Tensor(splits.train.arrays[0]))  # type: ignore[attr-defined]
    assert tokens.shape == (2, 2, 16) and colour is not None and colour.shape == (2, 1, WordTokenizer().vocab_size + 1)


def test_plugin_conforms() -> None:
    assert check_plugin_object(plugin, "captioning") == []


def test_it_builds_on_vision_and_language_through_the_lookup(components: Any) -> None:
    assert plugin.tinytorch_requires == ("vision", "language")
    model = Captioner(components, image_size=16, prefix_tokens=2, d_model=16, num_layers=1, num_heads=2,
                      channels=[4], hidden=16)
    assert type(model.encoder).__module__.startswith("tinytorch_core")  # vision's simple_cnn is a core Sequential
    assert type(model.decoder).__name__ == "TinyGPT" and type(model.decoder).__module__ == "plugins.language.model"
    assert "tinytorch_captioning" not in type(model.decoder).__module__
