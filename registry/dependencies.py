"""Plugins that build on plugins: ``tinytorch_requires``, the load order, and the component lookup.

A plugin module declares what it builds on, in the spirit of pytest's ``pytest_plugins``::

    tinytorch_requires: Requires = ("vision", "language>=0.1")

The registry imports every enabled plugin, reads these declarations, and activates the plugins
in dependency order (required plugins first, otherwise built-ins first, then by name), so a plugin's registration
hooks can already look up what it requires. Plugins that require each other in a cycle fail
with one line naming the cycle. A requirement that is missing, disabled, broken or too old
fails the dependent plugin in strict mode (one line naming both plugins and the fix) and
disables it in lenient mode (``[plugins] strict = false``), so the rest still loads.

The lookup (:class:`ComponentLookup`, implementing ``tinytorch_core.hookspecs.Components``) is
the only way to reach another plugin's components: it serves the plugin's own components and
those of the plugins it declared, and names the missing declaration otherwise.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from registry.components import ComponentRegistry, normalize_kind, split_name
from registry.errors import ConfigError, DependencyError, UndeclaredPluginError, names_list
from registry.versions import Requirement, parse_requirement, satisfies
from tinytorch_core.lazy import LazyFactory

if TYPE_CHECKING:
    from registry.manager import PluginInfo

#: The module attribute a plugin declares its requirements in.
REQUIRES_ATTRIBUTE = "tinytorch_requires"


def read_requires(plugin: object, name: str) -> tuple[Requirement, ...]:
    """The parsed ``tinytorch_requires`` of ``plugin`` (empty when it declares none).

    Raises :class:`ValueError` (one line) when the declaration is not a tuple or list of
    requirement strings, or names the plugin itself.
    """
    raw = getattr(plugin, REQUIRES_ATTRIBUTE, ())
    if isinstance(raw, str) or not isinstance(raw, (tuple, list)) or not all(isinstance(r, str) for r in raw):
        raise ValueError(f"{REQUIRES_ATTRIBUTE} must be a tuple of plugin names such as (\"vision\", \"language>=0.1\"),"
                         f" got {raw!r}")
    try:
        requirements = tuple(parse_requirement(r, where=REQUIRES_ATTRIBUTE) for r in raw)
    except ConfigError as exc:
        raise ValueError(str(exc)) from exc
    if any(r.name == name for r in requirements):
        raise ValueError(f"{REQUIRES_ATTRIBUTE} names the plugin itself ({name!r})")
    return requirements


def requirement_names(requires: Sequence[str]) -> list[str]:
    """Plugin names of declared requirement strings (``"language>=0.1"`` -> ``"language"``)."""
    return [parse_requirement(r).name for r in requires]


def dependency_order(graph: Mapping[str, Sequence[str]]) -> tuple[list[str], dict[str, list[str]]]:
    """Every name of ``graph`` after the names it requires (those in ``graph``), ties in ``graph``'s order; and each
    plugin on a cycle mapped to that cycle as a path (``["a", "b", "a"]``)."""
    order: list[str] = []
    done: set[str] = set()
    stack: list[str] = []
    cycles: dict[str, list[str]] = {}

    def visit(name: str) -> None:
        stack.append(name)
        for required in graph[name]:
            if required in stack:
                cycle = stack[stack.index(required):] + [required]
                for member in cycle:
                    cycles.setdefault(member, cycle)
            elif required in graph and required not in done:
                visit(required)
        stack.pop()
        done.add(name)
        order.append(name)

    for name in graph:  # the caller's order (built-ins first) breaks ties
        if name not in done:
            visit(name)
    return order, cycles


@dataclass(frozen=True)
class Unmet:
    """Why a plugin cannot be activated. ``broken``: the plugin itself is wrong (it fails even in
    lenient mode); otherwise a requirement is not available (lenient mode disables the plugin)."""

    problem: str
    fix: str
    reason: str
    broken: bool = False

    def error(self, info: PluginInfo) -> DependencyError:
        """The one-line error for strict mode."""
        return DependencyError(self.problem, plugin=info.name, distribution=info.distribution,
                               version=info.version, enabled_by=info.enabled_by, fix=self.fix,
                               local=info.source == "local")


def check_requirement(name: str, requirement: Requirement, infos: Mapping[str, PluginInfo]) -> Unmet | None:
    """``None`` when plugin ``name``'s ``requirement`` is enabled, loaded and new enough."""
    wanted = requirement.name
    required = infos.get(wanted)
    disable_me = f"or disable {name!r} too (-p no:{name}, or [plugins] disable = [\"{name}\"])"
    if required is None:
        state = "is not installed"
        fix = f"pip install tinytorch-{wanted} (or the distribution that provides it), {disable_me}"
    elif required.status == "disabled":
        reason = required.reason or "disabled"
        state = f"is {reason}" if reason.startswith("disabled") else f"is disabled: {reason}"
        fix = f"enable {wanted!r} (remove what disables it, e.g. -p no:{wanted}), {disable_me}"
    elif required.status == "failed" or required.plugin is None:
        state = "failed to load (its own error is reported too)"
        fix = f"fix plugin {wanted!r} first, {disable_me}"
    elif requirement.specifier and required.version and not satisfies(required.version, requirement.specifier):
        state = f"is version {required.version}, which does not satisfy {requirement}"
        fix = f"pip install -U '{required.distribution or wanted}{requirement.specifier}', {disable_me}"
    else:
        return None
    return Unmet(f"requires plugin {wanted!r}, which {state}", fix, f"requires {wanted} ({wanted} {state})")


def in_order(pending: Sequence[tuple[PluginInfo, object]],
             infos: Mapping[str, PluginInfo]) -> Iterator[tuple[PluginInfo, object, Unmet | None]]:
    """Yield ``(info, plugin, unmet)`` in dependency order; ``unmet`` is ``None`` when the plugin can be
    activated. Lazy: each plugin's requirements are checked after the caller activated the earlier ones."""
    graph: dict[str, list[str]] = {}
    declared: dict[str, tuple[Requirement, ...] | str] = {}
    for info, plugin in pending:
        try:
            requirements = read_requires(plugin, info.name)
        except ValueError as exc:
            declared[info.name] = str(exc)
            graph[info.name] = []
            continue
        declared[info.name] = requirements
        info.requires = [str(r) for r in requirements]
        graph[info.name] = [r.name for r in requirements]
    order, cycles = dependency_order(graph)
    by_name = {info.name: (info, plugin) for info, plugin in pending}
    for name in order:
        info, plugin = by_name[name]
        entry = declared[name]
        if isinstance(entry, str):
            yield info, plugin, Unmet(entry, f"fix {REQUIRES_ATTRIBUTE} in {info.target or name}", entry, True)
        elif name in cycles:
            path = " -> ".join(cycles[name])
            yield info, plugin, Unmet(f"plugins require each other in a cycle: {path}",
                                      f"remove one of these requirements from {REQUIRES_ATTRIBUTE}", f"cycle {path}", True)
        else:
            yield info, plugin, next(
                (u for r in entry if (u := check_requirement(name, r, infos)) is not None), None)


def required_by(name: str, infos: Mapping[str, PluginInfo]) -> list[str]:
    """The plugins whose ``tinytorch_requires`` names plugin ``name``, sorted."""
    return sorted(info.name for info in infos.values() if name in requirement_names(info.requires))


class ComponentLookup:
    """Implements ``tinytorch_core.hookspecs.Components`` for one plugin: its own components and
    those of the plugins it declared in ``tinytorch_requires``."""

    def __init__(self, registry: ComponentRegistry, plugin: str, requires: Sequence[str], where: str | None) -> None:
        self._registry = registry
        self.plugin = plugin
        self.reachable = frozenset([plugin, *requirement_names(requires)])
        self._where = where or plugin

    def get(self, kind: str, name: str) -> Any:
        """The registered object ``name`` (``"plugin:name"`` or bare) of ``kind``."""
        kind = normalize_kind(kind)
        owner, _ = split_name(name)
        if owner is not None:
            self._check(owner, kind, name)
        component = self._registry.get(kind, name)
        self._check(component.plugin, kind, name)
        return component.obj

    def names(self, kind: str) -> list[str]:
        """Every reachable ``"plugin:name"`` of ``kind``."""
        return [f"{c.plugin}:{c.name}" for c in self._registry.list(kind) if c.plugin in self.reachable]

    def _check(self, owner: str, kind: str, name: str) -> None:
        if owner not in self.reachable:
            declared = sorted(self.reachable - {self.plugin})
            raise UndeclaredPluginError(
                f"plugin {self.plugin!r} looked up {kind} {name!r} of plugin {owner!r}, which it does not declare"
                f" (its {REQUIRES_ATTRIBUTE}: {names_list(declared)}); fix: add {owner!r} to {REQUIRES_ATTRIBUTE}"
                f" in {self._where}"
            )

    def __repr__(self) -> str:
        return f"<components for plugin {self.plugin!r}: {names_list(self.reachable)}>"


def takes_components(factory: object) -> bool:
    """Whether ``factory`` has a parameter named ``components``."""
    try:
        return "components" in inspect.signature(factory).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


class BoundFactory:
    """A registered factory that takes ``components``, called with its plugin's lookup.

    Transparent otherwise: its signature is the factory's without ``components`` (so configs
    cannot set it and key checks still work) and attributes are the factory's. Lazy factories are
    always wrapped and only inspected when called, so registering stays import-free.
    """

    def __init__(self, factory: Any, components: ComponentLookup) -> None:
        self.factory = factory
        self.components = components
        self._takes: bool | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._takes is None:
            self._takes = takes_components(self.factory)
        if self._takes and "components" not in kwargs:
            kwargs["components"] = self.components
        return self.factory(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        signature = inspect.signature(self.factory)
        return signature.replace(parameters=[p for p in signature.parameters.values() if p.name != "components"])

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return inspect.getdoc(self.factory)

    def __getattr__(self, name: str) -> Any:
        if name in ("factory", "components", "_takes"):
            raise AttributeError(name)
        return getattr(self.factory, name)

    def __repr__(self) -> str:
        return f"<{self.factory!r} with components of {self.components.plugin!r}>"


def bind_components(obj: Any, components: ComponentLookup) -> Any:
    """``obj`` itself, or a :class:`BoundFactory` when it is a factory that takes ``components``."""
    if isinstance(obj, LazyFactory) or (callable(obj) and not isinstance(obj, str) and takes_components(obj)):
        return BoundFactory(obj, components)
    return obj
