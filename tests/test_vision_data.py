"""Vision data: batched transforms, the procedural shapes set, MNIST IDX and CIFAR-10 binary loaders on
small files written here, corrupted-file errors, and sha256-checked downloads from a local HTTP server."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from plugins.vision import Compose, Normalize, RandomCrop, RandomHorizontalFlip
from plugins.vision.datasets import (
    CIFARError,
    DownloadError,
    IDXError,
    load_cifar10,
    load_mnist,
    load_shapes,
    make_shapes,
    read_idx,
    write_idx,
)
from plugins.vision.datasets.download import cache_dir, fetch
from tinytorch_core.data import DataLoader
from tinytorch_core.fileio import download_verified

Array = np.ndarray[Any, Any]


def _batch(n: int = 6, c: int = 3, h: int = 5, w: int = 4) -> Array:
    return np.random.default_rng(0).standard_normal((n, c, h, w)).astype(np.float32)


# ---------------------------------------------------------------------------- transforms
def test_normalize_per_channel_keeps_float32() -> None:
    x = _batch()
    out = Normalize([0.5, -1.0, 2.0], [2.0, 0.5, 4.0])(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 1], (x[:, 1] + 1.0) / 0.5, rtol=1e-6)
    np.testing.assert_allclose(out[:, 2], (x[:, 2] - 2.0) / 4.0, rtol=1e-6)
    with pytest.raises(ValueError, match="2 channel statistics but the batch .* has 3 channels"):
        Normalize([0.0, 0.0], [1.0, 1.0])(x)
    with pytest.raises(ValueError, match="std must be positive"):
        Normalize(0.0, 0.0)


def test_random_crop_picks_real_windows_of_the_padded_image() -> None:
    x = _batch(8, 2, 6, 6)
    out = RandomCrop(6, padding=2, seed=1)(x)
    assert out.shape == x.shape and out.dtype == np.float32
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for i in range(len(x)):  # each output is exactly one window of its own padded image
        hits = [(t, l) for t in range(5) for l in range(5) if np.array_equal(padded[i, :, t : t + 6, l : l + 6], out[i])]
        assert hits, f"image {i} is not a crop of its padded input"
    offsets_differ = not all(np.array_equal(out[i], x[i]) for i in range(len(x)))
    assert offsets_differ


def test_random_transforms_are_deterministic_under_a_seed() -> None:
    x = _batch(16)

    def pipeline() -> Compose:
        return Compose([RandomCrop(4, padding=1, seed=3), RandomHorizontalFlip(0.5, seed=4)])

    np.testing.assert_array_equal(pipeline()(x), pipeline()(x))
    other = Compose([RandomCrop(4, padding=1, seed=5), RandomHorizontalFlip(0.5, seed=6)])(x)
    assert not np.array_equal(pipeline()(x), other)


def test_horizontal_flip_mirrors_the_chosen_images_only() -> None:
    x = _batch(32)
    out = RandomHorizontalFlip(0.5, seed=0)(x)
    flipped = np.array([np.array_equal(out[i], x[i, :, :, ::-1]) for i in range(32)])
    kept = np.array([np.array_equal(out[i], x[i]) for i in range(32)])
    assert np.all(flipped | kept) and 0 < flipped.sum() < 32
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0, seed=0)(x), x[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0, seed=0)(x), x)


def test_transforms_reject_non_batches() -> None:
    with pytest.raises(ValueError, match=r"expected a numpy batch of shape \(N, C, H, W\), got \(5, 4\)"):
        RandomHorizontalFlip()(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop(9)(_batch())


# ---------------------------------------------------------------------------- shapes
def test_shapes_deterministic_and_any_count() -> None:
    x1, y1 = make_shapes(50, image_size=16, seed=7)
    x2, y2 = make_shapes(50, image_size=16, seed=7)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    x3, _ = make_shapes(50, image_size=16, seed=8)
    assert not np.array_equal(x1, x3)
    assert make_shapes(0)[0].shape == (0, 1, 20, 20)
    xs, ys = make_shapes(3, image_size=24, channels=3, num_classes=5, seed=1)
    assert xs.shape == (3, 3, 24, 24) and xs.dtype == np.float32 and ys.dtype == np.int64


def test_shapes_classes_are_distinct_and_drawn_inside_the_image() -> None:
    x, y = make_shapes(2000, image_size=20, num_classes=4, noise=0.0, seed=0)
    assert set(np.unique(y)) == {0, 1, 2, 3}
    assert np.bincount(y).min() > 400  # roughly balanced
    # Foreground coverage (pixels near the shape's intensity) differs by class on average:
    # a cross/triangle covers less area than a circle of the same radius.
    bright = (x[:, 0] > x[:, 0].min(axis=(1, 2), keepdims=True) + 0.2).mean(axis=(1, 2))
    means = np.array([bright[y == k].mean() for k in range(4)])
    assert means[0] > means[2] and means[0] > means[3]  # circle > triangle, cross
    # Shapes stay inside the frame: border pixels are almost always background.
    border = np.concatenate([x[:, 0, 0, :], x[:, 0, -1, :], x[:, 0, :, 0], x[:, 0, :, -1]], axis=1)
    inner_max = x[:, 0].max(axis=(1, 2))
    assert (border.max(axis=1) < inner_max - 0.1).mean() > 0.9


def test_shapes_splits_and_info() -> None:
    splits = load_shapes(n_train=30, n_val=10, image_size=16, seed=2)
    assert len(splits.train) == 30 and splits.val is not None and len(splits.val) == 10
    assert splits.info["num_classes"] == 4 and splits.info["in_channels"] == 1 and splits.info["image_size"] == 16
    xb, yb = next(iter(DataLoader(splits.train, batch_size=8)))
    assert xb.shape == (8, 1, 16, 16) and xb.dtype == np.float32 and yb.dtype == np.int64
    with pytest.raises(ValueError, match="num_classes must be in"):
        make_shapes(4, num_classes=9)


# ---------------------------------------------------------------------------- IDX / MNIST
def _write_mnist(folder: Path, n_train: int = 20, n_test: int = 12, gz: bool = True) -> tuple[Array, Array]:
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    images = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n_test).astype(np.uint8)
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", labels)
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8))
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", rng.integers(0, 10, size=n_train).astype(np.uint8))
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_idx_files(tmp_path: Path, gz: bool) -> None:
    images, labels = _write_mnist(tmp_path, gz=gz)
    splits = load_mnist(tmp_path, normalize=False)
    assert len(splits.train) == 20 and splits.val is not None and len(splits.val) == 12
    xb, yb = splits.val.get_batch(np.arange(12))  # type: ignore[attr-defined]
    np.testing.assert_allclose(xb[:, 0], images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(yb, labels)
    assert splits.info == {**splits.info, "num_classes": 10, "in_channels": 1, "image_size": 28}
    normalized = load_mnist(tmp_path).val
    assert normalized is not None
    xn, _ = normalized.get_batch(np.arange(12))  # type: ignore[attr-defined]
    np.testing.assert_allclose(xn, (xb - 0.1307) / 0.3081, rtol=1e-5, atol=1e-6)


def test_mnist_test_only_split(tmp_path: Path) -> None:
    _write_mnist(tmp_path, n_test=50)
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*split='test'"):
        load_mnist(tmp_path)
    splits = load_mnist(tmp_path, split="test", val_size=10)
    assert len(splits.train) == 40 and splits.val is not None and len(splits.val) == 10


def test_idx_round_trip_of_other_dtypes(tmp_path: Path) -> None:
    arr = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "a.idx", arr)), arr)
    f = np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "f.idx.gz", f)), f)


def test_corrupted_idx_files_name_the_file(tmp_path: Path) -> None:
    good = write_idx(tmp_path / "good.idx", np.zeros((4, 28, 28), dtype=np.uint8)).read_bytes()
    bad_magic = tmp_path / "bad-magic-idx3-ubyte"
    bad_magic.write_bytes(b"\x12\x34" + good[2:])
    with pytest.raises(IDXError, match=r"bad-magic-idx3-ubyte: bad magic number 1234"):
        read_idx(bad_magic)
    truncated = tmp_path / "truncated-idx3-ubyte"
    truncated.write_bytes(good[:-100])
    with pytest.raises(IDXError, match=r"truncated-idx3-ubyte: truncated - header declares shape \(4, 28, 28\)"):
        read_idx(truncated)
    bad_gzip = tmp_path / "broken-idx3-ubyte.gz"
    bad_gzip.write_bytes(gzip.compress(good)[:-30])
    with pytest.raises(IDXError, match=r"broken-idx3-ubyte.gz: damaged gzip stream"):
        read_idx(bad_gzip)
    _write_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(5, dtype=np.uint8))
    with pytest.raises(IDXError, match=r"t10k-labels-idx1-ubyte.gz: expected 12 labels"):
        load_mnist(tmp_path)


# ---------------------------------------------------------------------------- CIFAR-10
def _cifar_bytes(n: int, seed: int) -> tuple[bytes, Array, Array]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    records = np.concatenate([labels[:, None], images.reshape(n, -1)], axis=1)
    return records.tobytes(), images, labels


def _write_cifar_folder(folder: Path) -> dict[str, tuple[bytes, Array, Array]]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {f"data_batch_{i}.bin": _cifar_bytes(3, i) for i in range(1, 6)}
    files["test_batch.bin"] = _cifar_bytes(4, 9)
    for name, (payload, _, _) in files.items():
        (folder / name).write_bytes(payload)
    return files


def test_cifar10_from_binary_batches_folder(tmp_path: Path) -> None:
    files = _write_cifar_folder(tmp_path / "cifar-10-batches-bin")
    splits = load_cifar10(tmp_path, normalize=False)
    assert len(splits.train) == 15 and splits.val is not None and len(splits.val) == 4
    xb, yb = splits.val.get_batch(np.arange(4))  # type: ignore[attr-defined]
    _, images, labels = files["test_batch.bin"]
    np.testing.assert_allclose(xb, images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(yb, labels)
    xt, yt = splits.train.get_batch(np.arange(3, 6))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(yt, files["data_batch_2.bin"][2])
    assert splits.info["in_channels"] == 3 and splits.info["image_size"] == 32 and splits.info["num_classes"] == 10


def test_cifar10_from_archive_and_augmentation_is_seeded(tmp_path: Path) -> None:
    files = _write_cifar_folder(tmp_path / "src")
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in files:
            tar.add(tmp_path / "src" / name, arcname=f"cifar-10-batches-bin/{name}")
    a = load_cifar10(archive, augment=True, seed=3)
    b = load_cifar10(tmp_path, augment=True, seed=3)  # a folder holding only the archive
    xa, ya = a.train.get_batch(np.arange(15))  # type: ignore[attr-defined]
    xb, yb = b.train.get_batch(np.arange(15))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    assert xa.shape == (15, 3, 32, 32) and xa.dtype == np.float32


def test_corrupted_cifar_files_name_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    files = _write_cifar_folder(folder)
    (folder / "data_batch_3.bin").write_bytes(files["data_batch_3.bin"][0][:-7])
    with pytest.raises(CIFARError, match=r"data_batch_3.bin: 9212 bytes is not a whole number of 3073-byte records"):
        load_cifar10(tmp_path)
    bad = bytearray(files["data_batch_3.bin"][0])
    bad[3073] = 42
    (folder / "data_batch_3.bin").write_bytes(bytes(bad))
    with pytest.raises(CIFARError, match=r"data_batch_3.bin: record 1 has label 42"):
        load_cifar10(tmp_path)
    (folder / "test_batch.bin").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch.bin not found"):
        load_cifar10(tmp_path)
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(b"not an archive at all")
    with pytest.raises(CIFARError, match=r"cifar-10-binary.tar.gz: damaged or not a .tar.gz archive"):
        load_cifar10(archive)


# ---------------------------------------------------------------------------- downloads
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server on 127.0.0.1 serving ``tmp_path/served``; stopped after the test."""
    root = tmp_path / "served"
    root.mkdir()
    handler = lambda *a, **k: _QuietHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_download_verifies_sha256_and_writes_atomically(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_root
    payload = b"x" * 5000 + b"end"
    (root / "blob.bin").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "cache" / "blob.bin"
    assert download_verified(url + "blob.bin", dest, digest).read_bytes() == payload
    with pytest.raises(DownloadError, match="checksum mismatch .* expected sha256 0000"):
        download_verified(url + "blob.bin", tmp_path / "cache" / "other.bin", "0" * 64)
    assert not (tmp_path / "cache" / "other.bin").exists()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["blob.bin"]  # no temp files left
    with pytest.raises(DownloadError, match="could not download .*missing.bin"):
        download_verified(url + "missing.bin", tmp_path / "cache" / "missing.bin")


def test_mnist_downloads_into_cache_once(http_root: tuple[str, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    url, root = http_root
    _write_mnist(root)
    monkeypatch.setenv("TINYTORCH_CACHE", str(tmp_path / "cache"))
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.iterdir()}
    monkeypatch.setattr("plugins.vision.datasets.mnist.MNIST_FILES", sums)
    splits = load_mnist(base_urls=[url])
    assert len(splits.train) == 20
    cached = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(sums)
    for p in root.iterdir():  # the second load reads the cache: the server has nothing left to serve
        p.unlink()
    assert len(load_mnist(base_urls=[url]).train) == 20


def test_offline_message_names_the_path_alternative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYTORCH_CACHE", str(tmp_path / "cache"))
    assert cache_dir("cifar10") == tmp_path / "cache" / "cifar10"
    dead = "http://127.0.0.1:9/"  # the discard port: nothing listens, the connection is refused at once
    with pytest.raises(DownloadError, match=r"offline\?.*pass path=<folder containing train-images-idx3-ubyte.gz>"):
        load_mnist(base_urls=[dead])
    with pytest.raises(DownloadError, match=r"cifar-10-binary.tar.gz is not cached at .*cache/cifar10"):
        load_cifar10(base_urls=[dead])


def test_stale_cache_entry_is_replaced(http_root: tuple[str, Path], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    url, root = http_root
    monkeypatch.setenv("TINYTORCH_CACHE", str(tmp_path / "cache"))
    (root / "f.bin").write_bytes(b"right")
    (tmp_path / "cache" / "sub").mkdir(parents=True)
    (tmp_path / "cache" / "sub" / "f.bin").write_bytes(b"damaged")
    got = fetch("f.bin", [url], hashlib.sha256(b"right").hexdigest(), "sub", "demo")
    assert got.read_bytes() == b"right"

