"""Calling the observer hooks (``tinytorch_on_*``) one plugin at a time, so a failure names its plugin.

Observer hooks watch a run; they do not steer it. So a plugin whose observer hook raises does not
stop or fail the run: the first failure of each (plugin, hook) is one ``tinytorch: warning:`` line
naming the plugin, the hook and the fix, later ones are counted and summarised when the run ends,
and a run that finished and saved its checkpoint exits 0. (A Ctrl-C inside a hook still interrupts.)
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["OBSERVER_HOOKS", "Observers", "describe_exception"]

OBSERVER_HOOKS = ("tinytorch_on_train_start", "tinytorch_on_step_end", "tinytorch_on_eval_end", "tinytorch_on_train_end")


def describe_exception(exc: BaseException) -> str:
    """``KeyError: 'x'``, or ``sys.exit(3)`` for a SystemExit: never a bare class name."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else f"{type(exc).__name__} (no message)"


def _warn(message: str) -> None:
    print(f"tinytorch: warning: {message}", file=sys.stderr)


class Observers:
    """The observer hooks of every registered plugin, called per plugin in pluggy's order (last registered first)."""

    def __init__(self, pm: pluggy.PluginManager, warn: Callable[[str], None] = _warn) -> None:
        self._warn = warn
        self.failures: Counter[tuple[str, str]] = Counter()
        self._callers: dict[str, list[tuple[str, Any]]] = {}
        plugins = pm.get_plugins()
        for hook in OBSERVER_HOOKS:
            callers = []
            for impl in reversed(getattr(pm.hook, hook).get_hookimpls()):
                others = [p for p in plugins if p is not impl.plugin]
                # A subset caller goes through pluggy's dispatch, so TINYTORCH_TRACE_PLUGINS still traces it.
                callers.append((impl.plugin_name, pm.subset_hook_caller(hook, remove_plugins=others)))
            self._callers[hook] = callers

    def call(self, hook: str, **kwargs: Any) -> None:
        """Call ``hook`` of each plugin; a plugin's exception (SystemExit too) becomes a warning."""
        for plugin, caller in self._callers[hook]:
            try:
                caller(**kwargs)
            except (Exception, SystemExit) as exc:
                self.failures[(plugin, hook)] += 1
                if self.failures[(plugin, hook)] == 1:
                    self._warn(f"plugin {plugin!r}: {hook} raised {describe_exception(exc)}; the run goes on (an"
                               f" observer hook cannot fail a run): fix the plugin or disable it (-p no:{plugin})"
                               "; --debug shows the traceback")
                    from registry.cli import _debug_requested

                    if _debug_requested(sys.argv[1:]):
                        import traceback

                        traceback.print_exception(exc)

    def summary(self) -> None:
        """One line per (plugin, hook) that failed more than once."""
        for (plugin, hook), count in sorted(self.failures.items()):
            if count > 1:
                self._warn(f"plugin {plugin!r}: {hook} failed {count} times in this run")
