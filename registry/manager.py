"""The TinyTorch plugin manager: a typed wrapper around ``pluggy.PluginManager("tinytorch")``.

It discovers plugins through entry points, imports only the enabled ones, validates their hook
implementations (misspelled hook names, arguments not in the spec, default-valued arguments that
pluggy would silently never pass - pluggy #442), calls each plugin's registration hooks with a
``register`` callback bound to that plugin, and records every plugin's fate (enabled, disabled,
failed with the reason) for ``tinytorch plugins``.
"""

from __future__ import annotations

import builtins

import importlib
import importlib.util
import inspect
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pluggy

import tinytorch_core.hookspecs as hookspecs
from registry.components import KINDS, Component, ComponentRegistry, hook_for_kind, normalize_kind
from registry.config import Config, ConfigSchemaRegistry, display_path, validate_config
from registry import discovery as discovery_module
from registry.discovery import InstalledPlugin, Source
from registry.errors import (
    DuplicateComponentError,
    HookValidationError,
    PluginError,
    PluginImportError,
    PluginNotInstalledError,
    PluginVersionError,
    RegistrationError,
    RegistryError,
    did_you_mean,
    names_list,
    nearest,
)
from registry.observers import describe_exception
from registry.ownership import load_order, resolve_conflict
from registry.selection import Selection, select_plugins
from registry.tracing import install_tracer, trace_direct_call, trace_requested
from registry.versions import satisfies

Status = Literal["enabled", "disabled", "failed"]

#: Subcommands the ``tinytorch`` CLI defines itself; plugins cannot take these names.
RESERVED_COMMANDS: frozenset[str] = frozenset({"plugins", "components", "train", "new-plugin", "report", "help"})

SCHEMA_HOOK = "tinytorch_add_config_schema"


class PluginSkippedWarning(UserWarning):
    """A broken plugin was skipped because ``strict = false``."""


@dataclass
class PluginInfo:
    """Everything ``tinytorch plugins`` shows about one plugin."""

    name: str
    source: Source | Literal["not installed"]
    status: Status
    distribution: str | None = None
    version: str | None = None
    enabled_by: str | None = None
    target: str | None = None
    reason: str | None = None
    error: PluginError | None = None
    hooks: builtins.list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    plugin: object | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no live objects)."""
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "source": self.source,
            "status": self.status,
            "reason": self.reason,
            "enabled_by": self.enabled_by,
            "module": self.target,
            "hooks": list(self.hooks),
            "registered": dict(self.counts),
        }


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
        self._manager._add_component(
            Component("commands", name, run, self._plugin, help, {"arguments": arguments}), self._plugin
        )


def _required_args(function: Callable[..., Any]) -> tuple[list[str], list[str]]:
    """(arguments pluggy passes, arguments with defaults that pluggy never passes)."""
    params = inspect.signature(function).parameters.values()
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    passed = [p.name for p in positional if p.default is inspect.Parameter.empty]
    defaulted = [p.name for p in positional if p.default is not inspect.Parameter.empty]
    return passed, defaulted


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
        for info in self.failures():
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
        for name in load_order(result.selections, by_name):  # built-ins first: they own their names
            self._load_one(result.selections[name], by_name.get(name, []), sorted(by_name))
        for spec in settings.local:
            self._load_local(spec, self.config.where("plugins", "local"))
        self._check_pending()
        failures = self.failures()
        if failures and (self.strict if raise_on_failure is None else raise_on_failure):
            self.raise_for_failures()  # the plugin's own error (pip install ...) comes before its config table's
        validate_config(self.config, self.schema, skip=[info.name for info in failures])
        if failures and warn and not self.strict:
            for info in failures:
                warnings.warn(f"{info.reason} (skipped: strict = false)", PluginSkippedWarning, stacklevel=2)

    def _load_one(self, selection: Selection, candidates: builtins.list[InstalledPlugin], installed_names: builtins.list[str]) -> None:
        """Import and activate one selected plugin, recording the failure instead of raising."""
        name = selection.name
        if not selection.enabled:
            first = candidates[0] if candidates else None
            self.plugins[name] = PluginInfo(
                name,
                first.source if first else "not installed",
                "disabled",
                first.distribution if first else None,
                first.version if first else None,
                enabled_by=selection.origin,
                target=first.target if first else None,
                reason=f"disabled by {selection.origin}",
            )
            return
        if not candidates:
            error: PluginError = PluginNotInstalledError(
                "is enabled but not installed",
                plugin=name,
                enabled_by=selection.origin,
                fix=f"pip install tinytorch-{name} (or its actual distribution name), or remove {name!r} from"
                f" {selection.origin}; installed plugins: {names_list(installed_names)}"
                f"{did_you_mean(name, installed_names)}",
            )
            self.plugins[name] = PluginInfo(name, "not installed", "failed", enabled_by=selection.origin,
                                            reason=str(error), error=error)
            return
        chosen = candidates[0]
        info = PluginInfo(name, chosen.source, "enabled", chosen.distribution, chosen.version,
                          enabled_by=selection.origin, target=chosen.target)
        self.plugins[name] = info
        if len(candidates) > 1:
            dists = ", ".join(f"{c.distribution} {c.version}" for c in candidates)
            self._fail(info, RegistrationError(
                f"is declared by more than one installed distribution ({dists})",
                plugin=name, distribution=chosen.distribution, version=chosen.version, enabled_by=selection.origin,
                fix="uninstall all but one of them",
            ))
            return
        requirement = selection.requirement
        if requirement is not None and requirement.specifier and chosen.version is not None:
            if not satisfies(chosen.version, requirement.specifier):
                self._fail(info, PluginVersionError(
                    f"version {chosen.version} does not satisfy {requirement}",
                    plugin=name, distribution=chosen.distribution, version=chosen.version, enabled_by=selection.origin,
                    fix=f"pip install -U '{chosen.distribution}{requirement.specifier}', or change the specifier in"
                    f" {selection.origin}",
                ))
                return
        try:
            plugin = chosen.load()
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # third-party code: even sys.exit() is its failure
            self._fail(info, PluginImportError(
                f"failed to import {chosen.target}: {describe_exception(exc)}",
                plugin=name, distribution=chosen.distribution, version=chosen.version, enabled_by=selection.origin,
                fix=f"fix or reinstall {chosen.distribution}, or disable it: -p no:{name},"
                f" TINYTORCH_PLUGINS, or [plugins] disable = [\"{name}\"] in your tinytorch.toml"
                " (run with --debug for the original traceback)",
            ), cause=exc)
            return
        self._activate_recording(plugin, info)

    def _load_local(self, spec: str, origin: str) -> None:
        """Load ``[plugins] local`` entry ``spec``: a ``.py`` path (relative to the config) or a dotted module."""
        is_path = spec.endswith(".py") or "/" in spec or os.sep in spec
        name = Path(spec).stem if is_path else spec.rsplit(".", 1)[-1]
        info = PluginInfo(name, "local", "enabled", enabled_by=origin, target=spec,
                          version=None)
        self.plugins[name] = info
        try:
            if is_path:
                path = Path(spec)
                if not path.is_absolute():
                    path = self.config.base_dir() / path
                if not path.is_file():
                    raise FileNotFoundError(f"no such file: {display_path(path)}")
                module_spec = importlib.util.spec_from_file_location(f"tinytorch_local_{name}", path)
                if module_spec is None or module_spec.loader is None:
                    raise ImportError(f"cannot import {display_path(path)}")
                module = importlib.util.module_from_spec(module_spec)
                module_spec.loader.exec_module(module)
                plugin: object = module
            else:
                plugin = importlib.import_module(spec)
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # any import-time failure of user code
            self._fail(info, PluginImportError(
                f"failed to import {spec}: {describe_exception(exc)}", plugin=name, enabled_by=origin, local=True,
                fix=f"fix the module or remove it from {origin} (run with --debug for the original traceback)",
            ), cause=exc)
            return
        info.version = getattr(plugin, "__version__", None)
        self._activate_recording(plugin, info)

    def _fail(self, info: PluginInfo, error: PluginError, cause: BaseException | None = None) -> None:
        if cause is not None:
            error.__cause__ = cause
        info.status = "failed"
        info.error = error
        info.reason = str(error)

    def _activate_recording(self, plugin: object, info: PluginInfo) -> None:
        try:
            self._activate(plugin, info)
        except PluginError as error:
            self._fail(info, error)

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

    def _validate_hooks(self, plugin: object, info: PluginInfo) -> None:
        """Catch what pluggy misses or reports badly, before registering."""
        disable_hint = f"or disable the plugin (-p no:{info.name})"
        for attr in sorted(dir(plugin)):
            if not attr.startswith("tinytorch_"):
                continue
            function = getattr(plugin, attr, None)
            if not callable(function):
                continue
            opts = self.pm.parse_hookimpl_opts(plugin, attr)
            hook_name = (opts.get("specname") or attr) if opts else attr
            if hook_name not in self.hook_names:
                close = nearest(hook_name, self.hook_names)
                raise HookValidationError(
                    f"defines {attr!r}, which is not a tinytorch hook",
                    fix=(f"rename it to {close!r}" if close else "use one of the hooks in docs/plugins.md")
                    + f", {disable_hint}",
                    **self._error_kwargs(info),
                )
            if opts is None:
                raise HookValidationError(
                    f"defines {attr!r} without the @hookimpl marker, so it would never be called",
                    fix="decorate it with @hookimpl (from tinytorch_core.hookspecs import hookimpl)",
                    **self._error_kwargs(info),
                )
            spec = getattr(self.pm.hook, hook_name).spec
            spec_args = list(spec.argnames) if spec is not None else []
            passed, defaulted = _required_args(function)
            for arg in passed:
                if arg not in spec_args:
                    close = nearest(arg, spec_args)
                    raise HookValidationError(
                        f"hook {hook_name} takes argument {arg!r}, which the hook does not provide"
                        f" (it provides: {', '.join(spec_args) or 'nothing'})",
                        fix=f"rename the argument to {close!r}" if close else f"remove the argument {arg!r}",
                        **self._error_kwargs(info),
                    )
            if defaulted:
                raise HookValidationError(
                    f"hook {hook_name} gives argument(s) {', '.join(map(repr, defaulted))} a default value;"
                    " pluggy never passes arguments with defaults (pluggy #442)",
                    fix=f"remove the default from {', '.join(defaulted)}",
                    **self._error_kwargs(info),
                )

    def _activate(self, plugin: object, info: PluginInfo) -> None:
        """Validate, register with pluggy and run the registration hooks; all-or-nothing."""
        self._validate_hooks(plugin, info)
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
        kwargs = {"cli": argument} if kind == "commands" else {"register": argument}
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
        def register(name: str, obj: Any, *, description: str = "", **meta: Any) -> None:
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"register() needs a non-empty string name for a {kind} component, got {name!r}")
            if not isinstance(description, str):
                raise TypeError(f"register({name!r}): description must be a string")
            self._add_component(Component(kind, name, obj, plugin, description, dict(meta)), plugin)

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
            self._fail(info, HookValidationError(
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
