"""TinyTorch's plugin registry: plugin manager, component registry, config, CLI and conformance kit.

Quick use::

    import registry
    model_factory = registry.get("models", "tinygpt").obj
    for component in registry.list("datasets"):
        print(component.name, component.plugin)

Attributes load lazily so ``import registry`` (and the CLI's start-up) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.api import default_manager, get, set_default_manager
    from registry.api import list_components as list
    from registry.components import KINDS, Component, ComponentRegistry
    from registry.config import Config, apply_overrides, find_config, load_config
    from registry.errors import (
        ComponentNotFoundError,
        ConfigError,
        DuplicateComponentError,
        HookValidationError,
        PluginError,
        PluginImportError,
        PluginNotInstalledError,
        RegistrationError,
        RegistryError,
    )
    from registry.manager import PluginInfo, PluginManager

_LAZY: dict[str, tuple[str, str]] = {
    "get": ("registry.api", "get"),
    "list": ("registry.api", "list_components"),
    "default_manager": ("registry.api", "default_manager"),
    "set_default_manager": ("registry.api", "set_default_manager"),
    "KINDS": ("registry.components", "KINDS"),
    "Component": ("registry.components", "Component"),
    "ComponentRegistry": ("registry.components", "ComponentRegistry"),
    "Config": ("registry.config", "Config"),
    "load_config": ("registry.config", "load_config"),
    "find_config": ("registry.config", "find_config"),
    "apply_overrides": ("registry.config", "apply_overrides"),
    "PluginManager": ("registry.manager", "PluginManager"),
    "PluginInfo": ("registry.manager", "PluginInfo"),
    "RegistryError": ("registry.errors", "RegistryError"),
    "PluginError": ("registry.errors", "PluginError"),
    "PluginImportError": ("registry.errors", "PluginImportError"),
    "PluginNotInstalledError": ("registry.errors", "PluginNotInstalledError"),
    "HookValidationError": ("registry.errors", "HookValidationError"),
    "RegistrationError": ("registry.errors", "RegistrationError"),
    "DuplicateComponentError": ("registry.errors", "DuplicateComponentError"),
    "ComponentNotFoundError": ("registry.errors", "ComponentNotFoundError"),
    "ConfigError": ("registry.errors", "ConfigError"),
}

__all__ = [
    "Component",
    "ComponentNotFoundError",
    "ComponentRegistry",
    "Config",
    "ConfigError",
    "DuplicateComponentError",
    "HookValidationError",
    "KINDS",
    "PluginError",
    "PluginImportError",
    "PluginInfo",
    "PluginManager",
    "PluginNotInstalledError",
    "RegistrationError",
    "RegistryError",
    "apply_overrides",
    "default_manager",
    "find_config",
    "get",
    "list",
    "load_config",
    "set_default_manager",
]


def __getattr__(name: str) -> Any:
    """Import the attribute's module on first access."""
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'registry' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module_name), attribute)
