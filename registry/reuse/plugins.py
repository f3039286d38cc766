"""Finding the plugins to measure and their reuse targets, with or without a plugin manager.

With the registry's ``PluginManager`` (the default), the reuse targets it collected are used as they
are. With a bare ``pluggy.PluginManager`` (or an object whose ``pm`` is one), each registered plugin's
own ``tinytorch_register_reuse_targets`` hook is called with a collecting ``register``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from registry.reuse.targets import ReuseTarget, collect_targets, make_target, plugin_package


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


def _from_registry_manager(manager: Any, scan: PluginScan) -> None:
    """Use what the registry's ``PluginManager`` already collected: its components and plugin objects."""
    by_plugin: dict[str, list[ReuseTarget]] = {}
    for component in manager.list("reuse_targets"):
        try:
            target = make_target(component.plugin, component.name, component.obj, component.description,
                                 dict(component.meta))
        except (TypeError, ValueError) as exc:
            scan.errors[component.plugin] = str(exc)
            continue
        by_plugin.setdefault(component.plugin, []).append(target)
    for info in manager.plugins.values():
        if info.status != "enabled":
            if info.status == "failed":
                scan.errors[info.name] = str(info.reason or info.error or "failed to load")
            continue
        if info.name in scan.errors:
            continue
        targets = by_plugin.get(info.name, [])
        if targets and info.plugin is not None:
            scan.plugins[info.name] = MeasurablePlugin(info.name, plugin_package(info.plugin), targets)
        else:
            scan.without_targets.append(info.name)


def _from_pluggy(manager: Any, scan: PluginScan) -> None:
    """Call each registered plugin's reuse-target hook with a collecting ``register``."""
    pm: _NamedPlugins = manager.pm if not hasattr(manager, "list_name_plugin") else manager
    for name, plugin in pm.list_name_plugin():
        if plugin is None or name.startswith("_") or getattr(plugin, "__name__", None) == "tinytorch_core.hookspecs":
            continue  # pluggy's blocked names and the hookspec module are not plugins
        try:
            targets = collect_targets(plugin, name)
        except Exception as exc:  # one broken plugin must not hide the others
            scan.errors[name] = f"its reuse-target hook failed: {type(exc).__name__}: {exc}"
            continue
        if targets:
            scan.plugins[name] = MeasurablePlugin(name=name, package=plugin_package(plugin), targets=targets)
        else:
            scan.without_targets.append(name)


def scan_plugins(manager: Any = None) -> PluginScan:
    """Every plugin the manager offers, with its reuse targets.

    ``manager``: the registry's ``PluginManager`` (default: ``registry.api.default_manager()``, the
    plugins the working directory's config enables), a ``pluggy.PluginManager``, or an object with a
    ``.pm`` pluggy manager. Raises ``TypeError`` for anything else.
    """
    if manager is None:
        from registry.api import default_manager

        manager = default_manager()
    scan = PluginScan()
    if hasattr(manager, "components") and hasattr(manager, "plugins") and hasattr(manager, "list"):
        _from_registry_manager(manager, scan)
    elif hasattr(manager, "list_name_plugin") or hasattr(getattr(manager, "pm", None), "list_name_plugin"):
        _from_pluggy(manager, scan)
    else:
        raise TypeError(
            f"cannot list plugins from a {type(manager).__name__}: pass registry.PluginManager, "
            "a pluggy.PluginManager, or an object with a .pm pluggy manager"
        )
    return scan
