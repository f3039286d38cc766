"""The TinyTorch conformance kit's fixtures (plugin_manager, hook_recorder), and this plugin's component lookup."""

from __future__ import annotations

import pytest

from registry.manager import PluginManager
from tinytorch_core.hookspecs import Components

pytest_plugins = ["registry.testing"]


@pytest.fixture(scope="session")
def components() -> Components:
    """What the registry hands the captioning plugin's factories: its own and vision's and language's components.

    The required plugins are loaded as installed (through their entry points, never imported here); this
    plugin is registered from the source under test.
    """
    import tinytorch_captioning.plugin as plugin

    manager = PluginManager(trace=False)
    manager.load(env={"TINYTORCH_PLUGINS": "vision,language"})
    manager.register(plugin, name="captioning")
    return manager.lookup_for("captioning")
