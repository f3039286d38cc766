"""Conformance kit for TinyTorch plugins, usable as a pytest plugin.

In a plugin's tests (or ``conftest.py``)::

    pytest_plugins = ["registry.testing"]

    def test_conforms():
        from registry.testing import check_plugin
        assert check_plugin("timeseries") == []

    def test_my_hooks(plugin_manager, hook_recorder):
        with registered_plugin(plugin_manager, my_plugin_module):
            ...

To see what one registration hook registers, without any manager::

    modules = collect_registrations(my_plugin.tinytorch_register_modules)
    factory, meta = modules["my_layer"]

Fixtures: ``plugin_manager`` (an isolated manager, discovery off, no environment influence),
``hook_recorder`` (records every hook call on that manager). Helpers: :func:`registered_plugin`
(registers a plugin and always unregisters it), :func:`fake_installed` (pretend plugins are
installed, for discovery tests), :func:`check_plugin` (the full conformance run).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from registry import discovery
from registry.conformance import Failure, check_plugin, check_plugin_object
from registry.discovery import InstalledPlugin
from registry.manager import PluginInfo, PluginManager

__all__ = [
    "Failure",
    "collect_registrations",
    "HookCall",
    "HookRecorder",
    "check_plugin",
    "check_plugin_object",
    "fake_installed",
    "isolated_manager",
    "registered_plugin",
    "hook_recorder",
    "plugin_manager",
]


def isolated_manager() -> PluginManager:
    """A manager with no plugins: discovery off, ``TINYTORCH_PLUGINS`` ignored, tracing off."""
    manager = PluginManager(trace=False)
    manager.load(discovery=False, env={})
    return manager


@contextmanager
def registered_plugin(manager: PluginManager, plugin: object, name: str | None = None) -> Iterator[PluginInfo]:
    """Register ``plugin`` on ``manager`` for the ``with`` block and always unregister it after."""
    info = manager.register(plugin, name=name)
    try:
        yield info
    finally:
        manager.unregister(info.name)


def collect_registrations(hook: Any, *, require_description: bool = True) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Call one registration hookimpl with a recording ``register``: ``{name: (obj, meta)}``.

    With ``require_description`` every component except a modality (whose ``obj`` is its
    description) must be registered with a ``description``; a missing one fails an assertion.
    """
    items: dict[str, tuple[Any, dict[str, Any]]] = {}

    def register(name: str, obj: Any, *, description: str = "", **meta: Any) -> None:
        if require_description:
            assert description or isinstance(obj, str), f"{name!r} was registered without a description"
        items[name] = (obj, meta)

    hook(register)
    return items


@dataclass(frozen=True)
class HookCall:
    """One recorded hook call: its name, the plugins that answered and the keyword arguments."""

    name: str
    plugins: tuple[str, ...]
    kwargs: Mapping[str, Any]


@dataclass
class HookRecorder:
    """Records hook calls on a manager (through pluggy's hookcall monitoring) until :meth:`stop`."""

    manager: PluginManager
    calls: list[HookCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        def before(name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
            self.calls.append(HookCall(name, tuple(impl.plugin_name for impl in impls), dict(kwargs)))

        def after(*_: Any) -> None:
            return None

        self._undo = self.manager.pm.add_hookcall_monitoring(before, after)

    def names(self) -> list[str]:
        """Hook names in call order."""
        return [call.name for call in self.calls]

    def of(self, name: str) -> list[HookCall]:
        """The calls of one hook."""
        return [call for call in self.calls if call.name == name]

    def stop(self) -> None:
        """Stop recording."""
        self._undo()


@contextmanager
def fake_installed(plugins: Sequence[InstalledPlugin]) -> Iterator[None]:
    """Make discovery return exactly ``plugins`` (entry points need not exist) for the block."""
    original = discovery.discover

    def fake(group: str = discovery.ENTRY_POINT_GROUP) -> list[InstalledPlugin]:
        return sorted(plugins, key=lambda p: p.name)

    discovery.discover = fake
    try:
        yield
    finally:
        discovery.discover = original


@pytest.fixture
def plugin_manager() -> PluginManager:
    """An isolated plugin manager (discovery off)."""
    return isolated_manager()


@pytest.fixture
def hook_recorder(plugin_manager: PluginManager) -> Iterator[HookRecorder]:
    """Records the hook calls made on ``plugin_manager``."""
    recorder = HookRecorder(plugin_manager)
    yield recorder
    recorder.stop()
