"""tinytorch_core.fileio: atomic writes, the cache folder, sha256, verified downloads from a loopback server."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopback import Loopback, closed_port, serve
from tinytorch_core.fileio import (
    DownloadError,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    cache_dir,
    download_verified,
    file_matches,
    sha256_of,
)

PAYLOAD = bytes(range(256)) * 40  # 10 KiB, every byte value, so text-mode mangling would show

TRUNCATED = "/truncated.bin"  # announces the full length, sends half, then closes the connection


@pytest.fixture
def server() -> Iterator[Loopback]:
    with serve({"/blob.bin": PAYLOAD}, truncated={TRUNCATED: PAYLOAD}) as loopback:
        yield loopback


# ---------------------------------------------------------------- atomic writes
def test_atomic_writes_round_trip_and_create_parent_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "blob.bin"
    assert atomic_write_bytes(target, PAYLOAD) == target and target.read_bytes() == PAYLOAD
    text = "caf\u00e9 \u2603\nline two\n"
    atomic_write_text(tmp_path / "t.txt", text)
    assert (tmp_path / "t.txt").read_bytes() == text.encode("utf-8")  # UTF-8 always, newlines untranslated
    obj: dict[str, Any] = {"name": "caf\u00e9", "values": [1, 2.5, None], "nested": {"ok": True}}
    atomic_write_json(tmp_path / "o.json", obj)
    raw = (tmp_path / "o.json").read_text(encoding="utf-8")
    assert json.loads(raw) == obj and "caf\u00e9" in raw  # non-ASCII kept readable
    atomic_write_json(tmp_path / "i.json", obj, indent=2)
    assert (tmp_path / "i.json").read_text(encoding="utf-8").endswith("}\n")
    atomic_write_bytes(target, b"new")  # replacing an existing file
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["blob.bin"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failure_mid_write_keeps_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    target = tmp_path / "state.json"
    target.write_text("old", encoding="utf-8")
    seen: list[str] = []

    def disk_full(*args: Any) -> None:
        # The temp file exists at this point: the failure really is mid-write.
        seen.extend(p.name for p in tmp_path.iterdir() if p.name != "state.json")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, disk_full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(target, "new" * 1000)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(target, b"new")
    with pytest.raises(OSError, match="No space left"):
        atomic_write_json(target, {"new": 1})
    monkeypatch.undo()
    assert len(seen) == 3 and all(name.startswith(".state.json.") for name in seen)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_interrupt_mid_write_also_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "ckpt.bin"
    target.write_bytes(b"old")

    def ctrl_c(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["ckpt.bin"]


def test_unserialisable_json_touches_nothing(tmp_path: Path) -> None:
    target = tmp_path / "o.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(TypeError, match="not JSON serializable"):
        atomic_write_json(target, {"bad": object()})
    assert target.read_text(encoding="utf-8") == "old" and len(list(tmp_path.iterdir())) == 1


# ---------------------------------------------------------------- cache folder and hashing
def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYTORCH_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" and cache_dir("mnist") == tmp_path / "c" / "mnist"
    assert not (tmp_path / "c").exists()  # only named, not created
    monkeypatch.delenv("TINYTORCH_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("x") == tmp_path / "home" / ".cache" / "tinytorch" / "x"


def test_sha256_and_file_matches(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(PAYLOAD * 200)  # 2 MB: more than one read chunk
    digest = hashlib.sha256(PAYLOAD * 200).hexdigest()
    assert sha256_of(path) == digest
    assert file_matches(path, digest, len(PAYLOAD) * 200) and file_matches(path, digest.upper())
    assert not file_matches(path, digest, 1) and not file_matches(path, "0" * 64)
    assert not file_matches(tmp_path / "missing", digest) and not file_matches(tmp_path, None)


# ---------------------------------------------------------------- downloads
def test_download_verifies_caches_and_reuses(server: Loopback, tmp_path: Path) -> None:
    dest = tmp_path / "cache" / "blob.bin"
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    assert download_verified(f"{server.url}/blob.bin", dest, digest, len(PAYLOAD)) == dest
    assert dest.read_bytes() == PAYLOAD and [p.name for p in dest.parent.iterdir()] == ["blob.bin"]
    # A verified copy is returned without any request; unverifiable calls (no sha, no size) fetch again.
    dead = f"http://127.0.0.1:{closed_port()}/blob.bin"
    assert download_verified(dead, dest, digest) == dest and download_verified(dead, dest, size=len(PAYLOAD)) == dest
    assert server.requests == ["/blob.bin"]
    download_verified(f"{server.url}/blob.bin", dest)
    assert server.requests == ["/blob.bin", "/blob.bin"]


def test_stale_copy_is_replaced(server: Loopback, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    dest.write_bytes(b"damaged")
    download_verified(f"{server.url}/blob.bin", dest, hashlib.sha256(PAYLOAD).hexdigest())
    assert dest.read_bytes() == PAYLOAD


@pytest.mark.parametrize("kind", ["sha256", "size"])
def test_mismatch_caches_nothing(server: Loopback, tmp_path: Path, kind: str) -> None:
    dest = tmp_path / "cache" / "blob.bin"
    url = f"{server.url}/blob.bin"
    expected = {"sha256": "0" * 64} if kind == "sha256" else {"size": len(PAYLOAD) + 1}
    with pytest.raises(DownloadError) as info:
        download_verified(url, dest, **expected)
    error = info.value
    assert isinstance(error, OSError) and error.url == url and error.verification_failed
    pattern = f"checksum mismatch .* expected sha256 {'0' * 64}" if kind == "sha256" else \
        f"size mismatch: expected {len(PAYLOAD) + 1} bytes, got {len(PAYLOAD)}"
    assert error.reason in str(error) and url in str(error)
    with pytest.raises(DownloadError, match=pattern):
        download_verified(url, dest, **expected)
    assert list(dest.parent.iterdir()) == []  # no destination, no temp file


def test_a_previous_good_file_survives_a_failed_download(server: Loopback, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    dest.write_bytes(b"previous")
    with pytest.raises(DownloadError):
        download_verified(f"{server.url}/blob.bin", dest, "0" * 64)
    assert dest.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["blob.bin"]


def test_network_failures_name_the_url_and_leave_nothing(server: Loopback, tmp_path: Path) -> None:
    cases = {
        f"{server.url}/missing.bin": "Not Found",
        f"{server.url}{TRUNCATED}": f"closed after {len(PAYLOAD) // 2} of {len(PAYLOAD)} bytes",
        f"http://127.0.0.1:{closed_port()}/blob.bin": "refused",
        "not-a-url": "unknown url type",
    }
    for url, reason in cases.items():
        with pytest.raises(DownloadError, match=reason) as info:
            download_verified(url, tmp_path / "dl" / "blob.bin", timeout=5.0)
        assert str(info.value).startswith(f"could not download {url}: ") and not info.value.verification_failed
    assert list((tmp_path / "dl").iterdir()) == []


def test_with_hint_keeps_the_cause_and_adds_the_alternative(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/data.txt"
    with pytest.raises(DownloadError) as info:
        download_verified(url, tmp_path / "data.txt", size=3)
    hinted = info.value.with_hint("offline? pass the file with --set data.path=PATH")
    assert str(hinted) == f"{info.value}. offline? pass the file with --set data.path=PATH"
    assert (hinted.url, hinted.reason, hinted.verification_failed) == (url, info.value.reason, False)


def test_read_json_object_names_the_file_in_every_error(tmp_path: Path) -> None:
    from tinytorch_core.fileio import read_json_object

    good = tmp_path / "good.json"
    good.write_text('{"a": 1}', encoding="utf-8")
    assert read_json_object(good, "config") == {"a": 1}
    with pytest.raises(FileNotFoundError, match="no config at .*missing.json"):
        read_json_object(tmp_path / "missing.json", "config")
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": ', encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json is not a valid config"):
        read_json_object(broken, "config")
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="list.json holds list, expected a config holding a JSON object"):
        read_json_object(listed, "config")
