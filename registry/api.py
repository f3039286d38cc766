"""Module-level convenience API over a default, lazily loaded :class:`PluginManager`.

``registry.get("models", "tinygpt")`` and ``registry.list("datasets")`` load the plugins chosen by
the config found in the working directory (``tinytorch.toml`` or ``pyproject.toml``), once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry.components import Component
    from registry.manager import PluginManager

_default: PluginManager | None = None


def default_manager() -> PluginManager:
    """The process-wide manager, loaded on first use from the working directory's config."""
    global _default
    if _default is None:
        from registry.config import find_config
        from registry.manager import PluginManager

        manager = PluginManager()
        manager.load(find_config())
        _default = manager
    return _default


def set_default_manager(manager: PluginManager | None) -> None:
    """Replace (or with ``None`` reset) the process-wide manager, e.g. in tests."""
    global _default
    _default = manager


def get(kind: str, name: str) -> Component:
    """The registered component ``name`` of ``kind`` (``"models"``, ``"datasets"``...)."""
    return default_manager().get(kind, name)


def list_components(kind: str | None = None) -> list[Component]:
    """Registered components of ``kind`` (every kind when ``None``)."""
    return default_manager().list(kind)
