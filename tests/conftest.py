"""Shared test fixtures: paths to the real data beside the project; with CI=true a skip for a missing
optional module fails (tests/ci_strict.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["ci_strict", "pytester"]

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture
def shakespeare_path() -> Path:
    path = SHARED / "tinyshakespeare.txt"
    if not path.exists():
        pytest.skip(f"real corpus not found at {path} (../shared/data beside the project)")
    return path


@pytest.fixture
def mnist_dir() -> Path:
    path = SHARED / "mnist"
    if not (path / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST files not found in {path} (../shared/data beside the project)")
    return path
