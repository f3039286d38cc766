"""Who owns a component name: built-in plugins first, and a conflict that blames the right plugin.

The built-in plugins (``vision``, ``language``: shipped by the TinyTorch distribution itself) are
loaded before any third-party plugin, whatever their names sort to, so they register their names
first. A third-party plugin that registers a name a built-in owns fails (strict mode: the error
names it and the owner; lenient mode: it is skipped, the owner keeps the name). Between two
third-party plugins the one loaded first keeps the name and the error names both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from registry.components import Component
from registry.errors import DuplicateComponentError

if TYPE_CHECKING:
    from registry.manager import PluginManager

__all__ = ["load_order", "conflict_message", "is_builtin", "resolve_conflict"]


class _HasSource(Protocol):
    @property
    def source(self) -> str: ...


def is_builtin(plugin: _HasSource | None) -> bool:
    """Whether the plugin (an ``InstalledPlugin`` or ``PluginInfo``) ships with TinyTorch."""
    return plugin is not None and plugin.source == "builtin"


def load_order(names: Iterable[str], candidates: Mapping[str, Sequence[_HasSource]]) -> list[str]:
    """Built-in plugins first, then the rest; each group by name."""
    return sorted(names, key=lambda name: (not any(is_builtin(c) for c in candidates.get(name, ())), name))


def conflict_message(kind: str, name: str, newcomer: str, owner: str, owner_builtin: bool) -> tuple[str, str]:
    """(problem, fix) for plugin ``newcomer`` registering ``kind`` ``name`` that ``owner`` holds."""
    if owner_builtin:
        return (f"registers {kind} {name!r}, a name owned by the built-in plugin {owner!r}; a third-party plugin"
                " cannot take a built-in's names",
                f"rename it in plugin {newcomer!r} (e.g. {f'{newcomer}_{name}'!r}), or disable it (-p no:{newcomer})")
    return (f"registers {kind} {name!r}, already registered by plugin {owner!r}",
            f"rename one of them, or disable one of the two plugins (-p no:{newcomer} or -p no:{owner})")


def resolve_conflict(manager: PluginManager, component: Component, existing: Component, plugin: str) -> None:
    """``plugin`` registers a name ``existing`` holds: a built-in newcomer evicts a third-party holder (which is
    marked failed, naming the built-in); any other newcomer raises :class:`DuplicateComponentError`."""
    info, owner = manager.plugins[plugin], manager.plugins.get(existing.plugin)
    if owner is not None and is_builtin(info) and not is_builtin(owner):
        problem, fix = conflict_message(component.kind, component.name, owner.name, info.name, True)
        if owner.plugin is not None and manager.pm.is_registered(owner.plugin):
            manager.pm.unregister(owner.plugin)
        manager.components.remove_plugin(owner.name)
        manager.schema.remove_plugin(owner.name)
        owner.plugin = None
        manager._fail(owner, DuplicateComponentError(problem, fix=fix, **manager._error_kwargs(owner)))
        return
    problem, fix = conflict_message(component.kind, component.name, plugin, existing.plugin, is_builtin(owner))
    raise DuplicateComponentError(problem, fix=fix, **manager._error_kwargs(info))
