"""The TinyTorch plugin manager: a typed wrapper around ``pluggy.PluginManager("tinytorch")``.

It discovers plugins through entry points, imports only the enabled ones, validates their hook
implementations (misspelled hook names, arguments not in the spec, default-valued arguments that
pluggy would silently never pass - pluggy #442), calls each plugin's registration hooks with a
``register`` callback bound to that plugin, and records every plugin's fate (enabled, disabled,
failed with the reason) for ``tinytorch plugins``. Importing lives in :mod:`registry.loading`, hook
checks in :mod:`registry.hookcheck`, requirements and the component lookup in :mod:`registry.dependencies`.
"""

from __future__ import annotations

import builtins
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pluggy

import tinytorch_core.hookspecs as hookspecs
from registry import dependencies
from registry import discovery as discovery_module
from registry.commands import RESERVED_COMMANDS  # the built-in commands' names, which plugins cannot take
from registry.components import KINDS, Component, ComponentRegistry, hook_for_kind, normalize_kind
from registry.config import Config, ConfigSchemaRegistry, validate_config
from registry.discovery import InstalledPlugin
from registry.errors import (
    DependencyError,
    HookValidationError,
    PluginError,
    RegistrationError,
    RegistryError,
    did_you_mean,
)
from registry.hookcheck import validate_hooks
from registry.loading import PluginInfo, Status, fail, import_local, import_selected
from registry.observers import describe_exception
from registry.ownership import load_order, resolve_conflict
from registry.selection import select_plugins
from registry.tracing import install_tracer, trace_direct_call, trace_requested

__all__ = ["PluginInfo", "PluginManager", "PluginSkippedWarning", "Status", "print_failure_warnings"]


SCHEMA_HOOK = "tinytorch_add_config_schema"


class PluginSkippedWarning(UserWarning):
    """A broken plugin was skipped because ``strict = false``."""


class CommandCollector:
    """Implements ``tinytorch_core.hookspecs.CommandRegistry`` for one plugin."""

    def __init__(self, manager: PluginManager, plugin: str) -> None:
        self._manager = manager
        self._plugin = plugin

    def add_command(
        self,
        name: str,
        run: Callable[..., Any],
        *,
        help: str,
        arguments: Callable[..., Any] | None = None,
    ) -> None:
        """Add ``tinytorch NAME``: ``run(args) -> int | None``, ``arguments(parser)`` adds its options."""
        if name in RESERVED_COMMANDS:
            raise ValueError(f"command name {name!r} is reserved by tinytorch; choose another name")
        if not callable(run):
            raise TypeError(f"command {name!r}: run must be callable, got {type(run).__name__}")
        if arguments is not None and not callable(arguments):
            raise TypeError(f"command {name!r}: arguments must be callable(parser), got {type(arguments).__name__}")
        bound = dependencies.bind_components(run, self._manager.lookup_for(self._plugin))
        self._manager._add_component(
            Component("commands", name, bound, self._plugin, help, {"arguments": arguments}), self._plugin
        )


class PluginManager:
    """Discovers, validates and loads TinyTorch plugins and holds what they register.

    ``load()`` does discovery and loading from a config; ``register()`` adds a local plugin
    object directly (tests, notebooks, config ``[plugins] local``). ``get``/``list`` query the
    component registry; ``hook`` is pluggy's hook relay for trainer events.
    """

    def __init__(self, *, trace: bool | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.components = ComponentRegistry()
        self.schema = ConfigSchemaRegistry()
        self.plugins: dict[str, PluginInfo] = {}
        self.config = Config()
        self.strict = True
        self.warnings: builtins.list[str] = []
        self.hook_names: builtins.list[str] = sorted(
            name for name in vars(self.pm.hook) if name.startswith("tinytorch_")
        )
        self._trace = trace_requested() if trace is None else trace
        if self._trace:
            install_tracer(self.pm)

    # ----------------------------------------------------------------- queries
    @property
    def hook(self) -> Any:
        """pluggy's hook relay: ``manager.hook.tinytorch_on_step_end(trainer=..., step=..., loss=...)``."""
        return self.pm.hook

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` of ``kind``; did-you-mean and the available names otherwise."""
        return self.components.get(kind, name)

    def list(self, kind: str | None = None) -> builtins.list[Component]:
        """Registered components of ``kind`` (all when ``None``)."""
        return self.components.list(kind)

    def failures(self) -> builtins.list[PluginInfo]:
        """Plugins that were enabled but could not be loaded."""
        return [info for info in self.plugins.values() if info.status == "failed"]

    def enabled(self) -> builtins.list[PluginInfo]:
        """Plugins that loaded and are active."""
        return [info for info in self.plugins.values() if info.status == "enabled"]

    def raise_for_failures(self) -> None:
        """Raise the first failure's error (chained to its cause) when any plugin failed."""
        for info in sorted(self.failures(), key=lambda i: isinstance(i.error, DependencyError)):
            if info.error is not None:
                raise info.error
            raise RegistryError(f"plugin {info.name!r} failed: {info.reason}")

    # ----------------------------------------------------------------- loading
    def load(
        self,
        config: Config | None = None,
        *,
        env: Mapping[str, str] | None = None,
        cli_plugins: Sequence[str] = (),
        discovery: bool = True,
        strict: bool | None = None,
        raise_on_failure: bool | None = None,
        warn: bool = True,
    ) -> None:
        """Discover installed plugins and load the enabled ones.

        ``config`` supplies ``[plugins]``; ``env`` (default ``os.environ``) may set
        ``TINYTORCH_PLUGINS``; ``cli_plugins`` are ``-p`` values. ``strict`` (default: the config's
        ``[plugins] strict``, true) makes a broken plugin an error; ``raise_on_failure=False``
        records failures without raising (``tinytorch plugins`` always shows them), and ``warn``
        emits a :class:`PluginSkippedWarning` per skipped plugin in lenient mode.
        """
        self.config = config if config is not None else Config()
        settings = self.config.plugin_settings()
        self.strict = settings.strict if strict is None else strict
        installed = discovery_module.discover() if discovery else []
        result = select_plugins(
            installed, self.config, settings, env=os.environ if env is None else env, cli=cli_plugins
        )
        self.warnings.extend(result.warnings)
        by_name: dict[str, list[InstalledPlugin]] = {}
        for plugin in installed:
            by_name.setdefault(plugin.name, []).append(plugin)
        pending: builtins.list[tuple[PluginInfo, object | None]] = []
        for name in load_order(result.selections, by_name):  # built-ins first: they own their names
            pending.append(import_selected(result.selections[name], by_name.get(name, []), sorted(by_name)))
        for spec in settings.local:
            pending.append(import_local(spec, self.config.where("plugins", "local"), self.config.base_dir()))
        for info, _ in pending:
            self.plugins[info.name] = info
        self._activate_in_order([(info, plugin) for info, plugin in pending if plugin is not None])
        self._check_pending()
        failures = self.failures()
        if failures and (self.strict if raise_on_failure is None else raise_on_failure):
            self.raise_for_failures()  # the plugin's own error (pip install ...) comes before its config table's
        validate_config(self.config, self.schema, skip=[info.name for info in failures])
        if failures and warn and not self.strict:
            for info in failures:
                warnings.warn(f"{info.reason} (skipped: strict = false)", PluginSkippedWarning, stacklevel=2)

    def _fail(self, info: PluginInfo, error: PluginError, cause: BaseException | None = None) -> None:
        fail(info, error, cause)

    def _activate_in_order(self, pending: builtins.list[tuple[PluginInfo, object]]) -> None:
        """Activate required plugins first; unmet requirements fail (strict) or disable (lenient)."""
        for info, plugin, unmet in dependencies.in_order(pending, self.plugins):
            if unmet is None:
                try:
                    self._activate(plugin, info)
                except PluginError as error:
                    fail(info, error)
            elif self.strict or unmet.broken:
                fail(info, unmet.error(info))
            else:
                info.status, info.reason = "disabled", unmet.reason
                self.warnings.append(f"plugin {info.name!r} is disabled: {unmet.reason}")

    def lookup_for(self, name: str) -> dependencies.ComponentLookup:
        """The ``Components`` lookup of plugin ``name``: its own components and its requirements'."""
        info = self.plugins[name]
        return dependencies.ComponentLookup(self.components, name, info.requires, info.target)

    def required_by(self, name: str) -> builtins.list[str]:
        """The plugins that declare plugin ``name`` in their ``tinytorch_requires``."""
        return dependencies.required_by(name, self.plugins)

    # ------------------------------------------------------------ registration
    def register(self, plugin: object, name: str | None = None) -> PluginInfo:
        """Register a plugin object directly (source ``local``) and run its registration hooks.

        Raises a :class:`PluginError` when it does not validate; nothing of it stays registered then.
        """
        plugin_name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if plugin_name in self.plugins and self.plugins[plugin_name].status == "enabled":
            raise RegistrationError("a plugin with this name is already registered", plugin=plugin_name, local=True,
                                    fix="pass another name= or unregister it first")
        info = PluginInfo(plugin_name, "local", "enabled", enabled_by="registered directly",
                          version=getattr(plugin, "__version__", None), target=getattr(plugin, "__name__", None))
        self.plugins[plugin_name] = info
        try:
            for _, _, unmet in dependencies.in_order([(info, plugin)], self.plugins):
                if unmet is not None:
                    raise unmet.error(info)
            self._activate(plugin, info)
        except PluginError:
            del self.plugins[plugin_name]
            raise
        return info

    def unregister(self, name: str) -> None:
        """Remove plugin ``name`` and everything it registered."""
        info = self.plugins.pop(name, None)
        if info is not None and info.plugin is not None and self.pm.is_registered(info.plugin):
            self.pm.unregister(info.plugin)
        self.components.remove_plugin(name)
        self.schema.remove_plugin(name)

    def _error_kwargs(self, info: PluginInfo) -> dict[str, Any]:
        return {
            "plugin": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "enabled_by": info.enabled_by,
            "local": info.source == "local",
        }

    def _activate(self, plugin: object, info: PluginInfo) -> None:
        """Validate, register with pluggy and run the registration hooks; all-or-nothing."""
        validate_hooks(self.pm, self.hook_names, plugin, info.name, self._error_kwargs(info))
        try:
            self.pm.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:
            raise HookValidationError(str(exc).replace("\n", "; "), fix="match the hook specification in"
                                      " tinytorch_core.hookspecs", **self._error_kwargs(info)) from exc
        except ValueError as exc:  # pluggy: name or object already registered
            raise RegistrationError(str(exc), fix="register it once, under one name",
                                    **self._error_kwargs(info)) from exc
        info.plugin = plugin
        try:
            for kind in KINDS:
                self._call_registration(plugin, info, kind)
            self._call_schema(plugin, info)
        except BaseException:
            self.pm.unregister(plugin)
            info.plugin = None
            self.components.remove_plugin(info.name)
            self.schema.remove_plugin(info.name)
            raise
        info.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])
        info.counts = self.components.counts(info.name)

    def _impls_of(self, plugin: object, hook_name: str) -> builtins.list[pluggy.HookImpl]:
        return [impl for impl in getattr(self.pm.hook, hook_name).get_hookimpls() if impl.plugin is plugin]

    def _call_registration(self, plugin: object, info: PluginInfo, kind: str) -> None:
        """Call ``tinytorch_register_<kind>`` of this plugin only, with a callback bound to it."""
        hook_name = hook_for_kind(kind)
        if not self._impls_of(plugin, hook_name):
            return
        others = [p for p in self.pm.get_plugins() if p is not plugin]
        caller = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
        argument: object = CommandCollector(self, info.name) if kind == "commands" else self._register_callback(kind, info.name)
        kwargs = {"cli" if kind == "commands" else "register": argument, "components": self.lookup_for(info.name)}
        self._guarded(info, hook_name, lambda: caller(**kwargs))

    def _call_schema(self, plugin: object, info: PluginInfo) -> None:
        """The historic schema hook, per plugin, so each section knows who declared it."""
        for impl in self._impls_of(plugin, SCHEMA_HOOK):
            kwargs = {"schema": self.schema.bind(info.name)}
            if self._trace:
                trace_direct_call(SCHEMA_HOOK, info.name, kwargs)
            function = impl.function
            self._guarded(info, SCHEMA_HOOK, lambda: function(**{a: kwargs[a] for a in impl.argnames}))

    def _guarded(self, info: PluginInfo, hook_name: str, call: Callable[[], object]) -> None:
        try:
            call()
        except PluginError:
            raise
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # plugin code: report which plugin and hook
            raise RegistrationError(
                f"{hook_name} raised {describe_exception(exc)}",
                fix=f"fix the plugin's {hook_name}, or disable it (-p no:{info.name}); --debug shows the traceback",
                **self._error_kwargs(info),
            ) from exc

    def _register_callback(self, kind: str, plugin: str) -> hookspecs.Register:
        lookup = self.lookup_for(plugin)

        def register(name: str, obj: Any, *, description: str = "", **meta: Any) -> None:
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"register() needs a non-empty string name for a {kind} component, got {name!r}")
            if not isinstance(description, str):
                raise TypeError(f"register({name!r}): description must be a string")
            bound = dependencies.bind_components(obj, lookup)
            self._add_component(Component(kind, name, bound, plugin, description, dict(meta)), plugin)

        return register

    def _add_component(self, component: Component, plugin: str) -> None:
        existing = self.components.find(component.kind, component.name)
        if existing is not None:
            resolve_conflict(self, component, existing, plugin)
        self.components.add(component)

    def _check_pending(self) -> None:
        """pluggy's own check for hookimpls without a spec (a safety net behind ``_validate_hooks``)."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.pm.get_name(exc.plugin) or repr(exc.plugin)
            info = self.plugins.get(name)
            if info is None:
                raise HookValidationError(str(exc), plugin=name) from exc
            self.pm.unregister(exc.plugin)
            self.components.remove_plugin(name)
            self.schema.remove_plugin(name)
            fail(info, HookValidationError(
                f"{exc}{did_you_mean(str(exc), self.hook_names)}", **self._error_kwargs(info)), cause=exc)

    # ------------------------------------------------------------------ helpers
    def component_kinds(self) -> tuple[str, ...]:
        """All component kinds."""
        return KINDS

    def normalize_kind(self, kind: str) -> str:
        """``model`` -> ``models`` (error with did-you-mean for unknown kinds)."""
        return normalize_kind(kind)

    def iter_plugins(self) -> Iterator[PluginInfo]:
        """Plugins sorted by name."""
        for name in sorted(self.plugins):
            yield self.plugins[name]


def print_failure_warnings(manager: PluginManager, stream: Any = None) -> None:
    """One ``warning:`` line per skipped plugin (lenient mode), for CLIs."""
    out = sys.stderr if stream is None else stream
    for text in manager.warnings:
        print(f"tinytorch: warning: {text}", file=out)
    for info in manager.failures():
        print(f"tinytorch: warning: skipped {info.reason}", file=out)
