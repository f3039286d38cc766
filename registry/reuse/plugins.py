"""Finding the plugins to measure and their reuse targets, with or without a plugin manager.

A *manager* may be a ``pluggy.PluginManager`` (anything with ``list_name_plugin()``) or an object whose
``pm`` attribute is one; each registered plugin's own ``tinytorch_register_reuse_targets`` hook is
called with a collecting ``register``. Without a manager, every installed plugin of the
``tinytorch.plugins`` entry-point group is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from registry.reuse.targets import ReuseTarget, collect_targets, plugin_package


class _NamedPlugins(Protocol):
    def list_name_plugin(self) -> list[tuple[str, object]]: ...


@dataclass(frozen=True)
class MeasurablePlugin:
    """A plugin the report can measure: its name, its source package and its reuse targets."""

    name: str
    package: str
    targets: list[ReuseTarget]


@dataclass
class PluginScan:
    """What a scan found: measurable plugins by name, plugins without targets, and load failures."""

    plugins: dict[str, MeasurablePlugin] = field(default_factory=dict)
    without_targets: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def _named_plugins(manager: Any) -> list[tuple[str, object]]:
    pm: Any = manager
    if not hasattr(pm, "list_name_plugin") and hasattr(manager, "pm"):
        pm = manager.pm
    if not hasattr(pm, "list_name_plugin"):
        raise TypeError(
            f"cannot list plugins from {type(manager).__name__}: pass a pluggy.PluginManager "
            "(or an object with a .pm PluginManager)"
        )
    named: _NamedPlugins = pm
    return [(str(n), p) for n, p in named.list_name_plugin() if p is not None]


def _installed_plugins(scan: PluginScan) -> list[tuple[str, object]]:
    from registry.discovery import discover

    out: list[tuple[str, object]] = []
    for installed in discover():
        try:
            out.append((installed.name, installed.load()))
        except Exception as exc:  # a broken third-party plugin must not hide the others
            scan.errors[installed.name] = f"importing {installed.target} failed: {type(exc).__name__}: {exc}"
    return out


def scan_plugins(manager: Any = None) -> PluginScan:
    """Every plugin the manager (or the installed entry points) offers, with its reuse targets."""
    scan = PluginScan()
    named = _installed_plugins(scan) if manager is None else _named_plugins(manager)
    for name, plugin in named:
        if name.startswith("_") or "tinytorch_core.hookspecs" == getattr(plugin, "__name__", None):
            continue  # the hookspec module or pluggy internals, not a plugin
        try:
            targets = collect_targets(plugin, name)
        except Exception as exc:
            scan.errors[name] = f"its reuse-target hook failed: {type(exc).__name__}: {exc}"
            continue
        if targets:
            scan.plugins[name] = MeasurablePlugin(name=name, package=plugin_package(plugin), targets=targets)
        else:
            scan.without_targets.append(name)
    return scan
