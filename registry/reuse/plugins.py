"""Finding the plugins to measure: their reuse targets, packages and the plugins they require."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from registry.reuse.targets import ReuseTarget, make_target, plugin_package


@dataclass(frozen=True)
class MeasurablePlugin:
    """A plugin the report can measure: name, source package, reuse targets, required plugins' packages."""

    name: str
    package: str
    targets: list[ReuseTarget]
    requires: dict[str, str] = field(default_factory=dict)


@dataclass
class PluginScan:
    """What a scan found: measurable plugins by name, plugins without targets, and load failures."""

    plugins: dict[str, MeasurablePlugin] = field(default_factory=dict)
    without_targets: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def scan_plugins(manager: Any = None) -> PluginScan:
    """Every enabled plugin of the registry's ``PluginManager`` (default: ``registry.api.default_manager()``,
    the plugins the working directory's config enables), with its reuse targets."""
    if manager is None:
        from registry.api import default_manager

        manager = default_manager()
    if not (hasattr(manager, "plugins") and hasattr(manager, "list")):
        raise TypeError(f"cannot list plugins from a {type(manager).__name__}: pass a registry.PluginManager")
    scan = PluginScan()
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
        if info.status == "failed":
            scan.errors[info.name] = str(info.reason or info.error or "failed to load")
        if info.status != "enabled" or info.name in scan.errors:
            continue
        targets = by_plugin.get(info.name, [])
        if not targets or info.plugin is None:
            scan.without_targets.append(info.name)
            continue
        required = {r: manager.plugins[r].plugin for r in manager.lookup_for(info.name).reachable - {info.name}}
        scan.plugins[info.name] = MeasurablePlugin(info.name, plugin_package(info.plugin), targets,
                                                   {r: plugin_package(p) for r, p in required.items() if p is not None})
    return scan
