"""``TINYTORCH_TRACE_PLUGINS=1``: print every hook call, which plugins answer it and how it ended."""

from __future__ import annotations

import os
import reprlib
import sys
from collections.abc import Callable, Mapping, Sequence

import pluggy

ENV_TRACE = "TINYTORCH_TRACE_PLUGINS"

_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40


def trace_requested(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for hook tracing (any value but empty, ``0`` or ``false``)."""
    value = (os.environ if env is None else env).get(ENV_TRACE, "")
    return value.strip().lower() not in ("", "0", "false", "no", "off")


def _format_kwargs(kwargs: Mapping[str, object]) -> str:
    return ", ".join(f"{key}={_short.repr(value)}" for key, value in kwargs.items())


def install_tracer(
    manager: pluggy.PluginManager,
    write: Callable[[str], object] | None = None,
) -> Callable[[], None]:
    """Print hook calls through pluggy's hookcall monitoring; returns the undo function."""
    out: Callable[[str], object] = write if write is not None else sys.stderr.write

    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]) -> None:
        plugins = ", ".join(impl.plugin_name for impl in impls) or "no plugin"
        out(f"[tinytorch trace] {hook_name}({_format_kwargs(kwargs)}) -> {plugins}\n")

    def after(
        outcome: pluggy.Result[object],
        hook_name: str,
        impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, object],
    ) -> None:
        if outcome.exception is not None:
            out(f"[tinytorch trace] {hook_name} raised {type(outcome.exception).__name__}: {outcome.exception}\n")

    return manager.add_hookcall_monitoring(before, after)


def trace_direct_call(hook_name: str, plugin: str, kwargs: Mapping[str, object], write: Callable[[str], object] | None = None) -> None:
    """Trace line for a hook the registry calls per plugin outside pluggy's dispatch (the historic one)."""
    out: Callable[[str], object] = write if write is not None else sys.stderr.write
    out(f"[tinytorch trace] {hook_name}({_format_kwargs(kwargs)}) -> {plugin}\n")
