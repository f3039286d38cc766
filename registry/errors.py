"""Errors raised by the registry, each naming what went wrong, where it came from and the fix.

Every error is a single readable line (the CLI prints it without a traceback); the original
exception, when there is one, is chained with ``raise ... from`` so ``--debug`` shows it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` suffix naming the nearest candidate, or ``""`` when none is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def nearest(word: str, candidates: Iterable[str]) -> str | None:
    """The nearest candidate to ``word`` by difflib ratio, or ``None`` when none is close enough."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def names_list(names: Iterable[str]) -> str:
    """Sorted, comma-separated names, or ``(none)``."""
    ordered = sorted(names)
    return ", ".join(ordered) if ordered else "(none)"


class RegistryError(Exception):
    """Base class of everything the registry raises for a user or plugin-author mistake."""


class PluginError(RegistryError):
    """A plugin could not be used; carries who it is and how to fix it.

    ``plugin`` is the plugin name, ``distribution``/``version`` where it came from (``None`` for
    local plugins), ``enabled_by`` where it was enabled (a file and key, an environment variable
    or a command-line flag) and ``fix`` what the user should do.
    """

    def __init__(
        self,
        problem: str,
        *,
        plugin: str,
        distribution: str | None = None,
        version: str | None = None,
        enabled_by: str | None = None,
        fix: str | None = None,
        local: bool = False,
    ) -> None:
        self.problem = problem
        self.plugin = plugin
        self.distribution = distribution
        self.version = version
        self.enabled_by = enabled_by
        self.fix = fix
        self.local = local
        super().__init__(self.format())

    def origin(self) -> str:
        """``"distribution tinytorch-audio 0.2.0, enabled by tinytorch.toml [plugins] enable"``."""
        parts: list[str] = []
        if self.distribution is not None:
            parts.append(f"distribution {self.distribution} {self.version or '(unknown version)'}")
        elif self.local:
            parts.append("local plugin")
        if self.enabled_by:
            parts.append(f"enabled by {self.enabled_by}")
        return ", ".join(parts)

    def format(self) -> str:
        """The one-line message: problem, origin and fix."""
        origin = self.origin()
        text = f"plugin {self.plugin!r} ({origin}): {self.problem}" if origin else f"plugin {self.plugin!r}: {self.problem}"
        if self.fix:
            text += f"; fix: {self.fix}"
        return text


class PluginNotInstalledError(PluginError):
    """A plugin was enabled by name but no installed distribution provides it."""


class PluginVersionError(PluginError):
    """An installed plugin does not satisfy the version specifier it was enabled with."""


class PluginImportError(PluginError):
    """Importing a plugin's entry point raised; the original exception is chained."""


class HookValidationError(PluginError):
    """A plugin's hook implementations do not match the hook specifications."""


class RegistrationError(PluginError):
    """A plugin's registration hook raised or registered something invalid."""


class DuplicateComponentError(PluginError):
    """Two plugins registered the same component name for the same kind."""


class DependencyError(PluginError):
    """A plugin's ``tinytorch_requires`` cannot be met: a required plugin is missing, disabled,
    broken or too old, the declaration is malformed, or plugins require each other in a cycle."""


class ComponentNotFoundError(RegistryError, KeyError):
    """``get(kind, name)`` found nothing; the message lists the available names."""

    def __str__(self) -> str:
        # KeyError would repr() the message (quotes and escaped newlines); show it as written.
        return str(self.args[0]) if self.args else ""


class UndeclaredPluginError(ComponentNotFoundError):
    """A plugin looked up a component of a plugin it does not name in ``tinytorch_requires``."""


class ConfigError(RegistryError, ValueError):
    """A config file or override is invalid: unknown key, wrong type, unparsable TOML."""


class PluginFlagError(ConfigError):
    """A ``-p`` flag names no installed plugin: always an error, never silently ignored (pytest #14135)."""


class CommandError(RegistryError):
    """A CLI command was used wrongly (bad name, bad path); printed as one line."""
