"""The TinyTorch conformance kit's fixtures (plugin_manager, hook_recorder), and the component lookup."""

from __future__ import annotations

import sys
from typing import Any

import pytest

pytest_plugins = ["registry.testing"]


@pytest.fixture(scope="session")
def components() -> Any:
    sys.path.insert(0, "/tmp/cap")  # TEMPORARY shim until the registry's lookup lands
    from shim import Shim

    return Shim()
