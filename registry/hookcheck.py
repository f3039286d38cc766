"""Checks on a plugin's hook implementations that pluggy misses or reports badly.

Misspelled hook names (with the nearest real name), a missing ``@hookimpl`` marker, arguments
the hook does not provide, and arguments with default values, which pluggy silently never passes
(pluggy #442). Run before the plugin is registered, so nothing of a bad plugin is left behind.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pluggy

from registry.errors import HookValidationError, nearest


def required_args(function: Callable[..., Any]) -> tuple[list[str], list[str]]:
    """(arguments pluggy passes, arguments with defaults that pluggy never passes)."""
    params = inspect.signature(function).parameters.values()
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    passed = [p.name for p in positional if p.default is inspect.Parameter.empty]
    defaulted = [p.name for p in positional if p.default is not inspect.Parameter.empty]
    return passed, defaulted


def validate_hooks(pm: pluggy.PluginManager, hook_names: Sequence[str], plugin: object, name: str,
                   error_kwargs: Mapping[str, Any]) -> None:
    """Raise a :class:`HookValidationError` for the first bad ``tinytorch_*`` attribute of ``plugin``."""
    disable_hint = f"or disable the plugin (-p no:{name})"
    for attr in sorted(dir(plugin)):
        if not attr.startswith("tinytorch_"):
            continue
        function = getattr(plugin, attr, None)
        if not callable(function):
            continue
        opts = pm.parse_hookimpl_opts(plugin, attr)
        hook_name = (opts.get("specname") or attr) if opts else attr
        if hook_name not in hook_names:
            close = nearest(hook_name, hook_names)
            raise HookValidationError(
                f"defines {attr!r}, which is not a tinytorch hook",
                fix=(f"rename it to {close!r}" if close else "use one of the hooks in docs/plugins.md")
                + f", {disable_hint}",
                **error_kwargs,
            )
        if opts is None:
            raise HookValidationError(
                f"defines {attr!r} without the @hookimpl marker, so it would never be called",
                fix="decorate it with @hookimpl (from tinytorch_core.hookspecs import hookimpl)",
                **error_kwargs,
            )
        spec = getattr(pm.hook, hook_name).spec
        spec_args = list(spec.argnames) if spec is not None else []
        passed, defaulted = required_args(function)
        for arg in passed:
            if arg not in spec_args:
                close = nearest(arg, spec_args)
                raise HookValidationError(
                    f"hook {hook_name} takes argument {arg!r}, which the hook does not provide"
                    f" (it provides: {', '.join(spec_args) or 'nothing'})",
                    fix=f"rename the argument to {close!r}" if close else f"remove the argument {arg!r}",
                    **error_kwargs,
                )
        if defaulted:
            raise HookValidationError(
                f"hook {hook_name} gives argument(s) {', '.join(map(repr, defaulted))} a default value;"
                " pluggy never passes arguments with defaults (pluggy #442)",
                fix=f"remove the default from {', '.join(defaulted)}",
                **error_kwargs,
            )
