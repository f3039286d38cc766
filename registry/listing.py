"""Text and JSON renderings for ``tinytorch plugins`` and ``tinytorch components``."""

from __future__ import annotations

import json
from collections.abc import Sequence

from registry.components import Component
from registry.manager import PluginInfo, PluginManager


def _short_hook(name: str) -> str:
    for prefix in ("tinytorch_register_", "tinytorch_"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return [line.format(*headers).rstrip(), line.format(*("-" * w for w in widths)).rstrip()] + [
        line.format(*row).rstrip() for row in rows
    ]


def plugins_table(manager: PluginManager) -> str:
    """One row per plugin (name, version, source, status, requirements both ways, hooks, counts),
    reasons underneath (``captioning: disabled: requires vision (...)``)."""
    infos = list(manager.iter_plugins())
    if not infos:
        return "no plugins installed (entry-point group 'tinytorch.plugins') or enabled"
    rows = [
        [
            info.name,
            info.version or "-",
            info.source,
            info.status,
            ", ".join(info.requires) or "-",
            ", ".join(manager.required_by(info.name)) or "-",
            ", ".join(_short_hook(h) for h in info.hooks) or "-",
            ", ".join(f"{kind}={n}" for kind, n in info.counts.items()) or "-",
        ]
        for info in infos
    ]
    lines = _table(["NAME", "VERSION", "SOURCE", "STATUS", "REQUIRES", "REQUIRED BY", "HOOKS", "REGISTERED"], rows)
    notes = [info for info in infos if info.status != "enabled" and info.reason]
    if notes:
        lines.append("")
        lines.extend(f"{info.name}: {info.status}: {info.reason}" for info in notes)
    config = manager.config.name if manager.config.path is not None else "none (all installed plugins enabled)"
    lines.append("")
    lines.append(f"config: {config}; strict: {str(manager.strict).lower()}")
    return "\n".join(lines)


def plugins_json(manager: PluginManager) -> str:
    """``{"config": path|null, "strict": bool, "plugins": [PluginInfo.to_dict() + required_by, ...]}``."""
    payload = {
        "config": str(manager.config.path) if manager.config.path is not None else None,
        "strict": manager.strict,
        "plugins": [{**info.to_dict(), "required_by": manager.required_by(info.name)} for info in manager.iter_plugins()],
    }
    return json.dumps(payload, indent=2)


def _component_dict(component: Component) -> dict[str, str]:
    return {"kind": component.kind, "name": component.name, "plugin": component.plugin,
            "description": component.description}


def components_table(components: Sequence[Component]) -> str:
    """One row per component: kind, name, plugin, description."""
    if not components:
        return "no components registered (are any plugins enabled? see `tinytorch plugins`)"
    rows = [[c.kind, c.name, c.plugin, c.description] for c in components]
    return "\n".join(_table(["KIND", "NAME", "PLUGIN", "DESCRIPTION"], rows))


def components_json(components: Sequence[Component]) -> str:
    """A JSON list of ``{kind, name, plugin, description}``."""
    return json.dumps([_component_dict(c) for c in components], indent=2)


def failure_summary(infos: Sequence[PluginInfo]) -> str:
    """``"2 plugins failed: a, b"`` for a closing line."""
    names = ", ".join(info.name for info in infos)
    return f"{len(infos)} plugin{'s' if len(infos) != 1 else ''} failed: {names}"
