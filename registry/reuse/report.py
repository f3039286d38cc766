"""Build a :class:`ReuseReport` for one plugin from its source and its reuse targets.

:func:`measure` works from an explicit package and target list (no plugin manager needed);
:func:`reuse_report` finds both through the registry's plugins.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any

from registry.errors import RegistryError, did_you_mean, names_list

from registry.reuse.exercised import exercised_core_lines
from registry.reuse.plugins import PluginScan, scan_plugins
from registry.reuse.result import Component, Headline, Metric, ReuseReport, share, sort_components
from registry.reuse.runtime import RuntimeTally, measure_target, origin
from registry.reuse.source import count_code_lines, package_files
from registry.reuse.static import StaticAnalysis, analyse_sources
from registry.reuse.targets import ReuseTarget, plugin_package

STATIC = "static components"
RUNTIME_TYPES = "runtime components (types)"
RUNTIME_INSTANCES = "runtime components (instances)"
PARAMETERS = "parameters"
COMPUTE = "compute time"
CODE = "code lines"

#: The metric quoted as the headline: what share of the modules and ops that actually run is core.
HEADLINE_METRIC = RUNTIME_INSTANCES

_ATTRIBUTION = (
    "core = defined in a tinytorch_core module, plugin = defined anywhere else "
    "(the plugin's package or a library it pulls in)"
)

DEFINITIONS: dict[str, str] = {
    STATIC: (
        "distinct public core classes/functions the plugin's source uses (imports and attribute chains "
        "resolved with ast, every alias of one object counted once, type annotations not counted) vs "
        "classes (all) and public functions (hook implementations excluded) defined at the top level of "
        "the plugin's modules"
    ),
    RUNTIME_TYPES: (
        "distinct module types in the reuse targets' model trees (model.modules()) plus distinct autograd "
        f"op types run in one forward + loss + backward (record_ops); {_ATTRIBUTION}"
    ),
    RUNTIME_INSTANCES: (
        "module instances in the reuse targets' model trees plus op applications in one forward + loss "
        f"(each op counted once per application, not again for its backward step); {_ATTRIBUTION}"
    ),
    PARAMETERS: (
        "parameter elements held directly by core module types vs by plugin module types "
        "(a parameter belongs to the module that owns it directly; a shared one counts once)"
    ),
    COMPUTE: (
        "median over timed runs of forward + loss + backward wall time, in seconds: plugin = time measured "
        "inside ops defined outside the core (Function forwards and backward steps), core = the rest, "
        "including the Python glue in plugin modules' forward; FLOPs not reported (ops carry no shapes)"
    ),
    CODE: (
        "non-blank, non-comment, non-docstring lines: the core lines the plugin exercises (whole source of "
        "the core classes/functions it uses statically, of core classes in its modules' MROs, of core "
        "Functions and built-in tensor ops it runs, and of Tensor.backward) vs all lines of the plugin's "
        "package"
    ),
}

UNITS: dict[str, str] = {
    STATIC: "components",
    RUNTIME_TYPES: "types",
    RUNTIME_INSTANCES: "instances",
    PARAMETERS: "parameters",
    COMPUTE: "seconds",
    CODE: "lines",
}


def resolve_package(plugin_module_or_package: str | types.ModuleType | object) -> str:
    """A package name as given, or the package of a plugin module/object."""
    if isinstance(plugin_module_or_package, str):
        if not plugin_module_or_package:
            raise ValueError("the plugin package name is empty; pass the plugin's importable package, e.g. 'acme_audio'")
        return plugin_module_or_package
    return plugin_package(plugin_module_or_package)


def measure(
    plugin_name: str,
    plugin_module_or_package: str | types.ModuleType | object,
    targets: Sequence[ReuseTarget],
    *,
    repeats: int = 5,
) -> ReuseReport:
    """Measure a plugin: static analysis of its package plus a run of every target.

    ``plugin_module_or_package`` is the importable package holding the plugin's source (or its plugin
    module/object, whose package is used). Raises ``ValueError`` when there is no target to run.
    """
    package = resolve_package(plugin_module_or_package)
    if not targets:
        raise ValueError(
            f"plugin {plugin_name!r} registers no reuse target; implement tinytorch_register_reuse_targets "
            "and call register(name, model_factory, sample_batch=...)"
        )
    files = package_files(package)
    static = analyse_sources(files)
    tally = RuntimeTally()
    for target in targets:
        measure_target(target, package, tally, repeats=repeats)

    plugin_lines = count_code_lines(list(files.values()))
    core_lines = exercised_core_lines(static, tally)
    metrics = _metrics(static_core=len(static.core_uses), static_plugin=len(static.plugin_defs), tally=tally,
                       package=package, core_lines=core_lines, plugin_lines=plugin_lines)
    headline = next(Headline(m.name, m.percent) for m in metrics if m.name == HEADLINE_METRIC)
    return ReuseReport(plugin=plugin_name, headline=headline, metrics=metrics,
                       components=_components(static=static, tally=tally, package=package))


def _metric(name: str, core: float, plugin: float) -> Metric:
    return Metric(name=name, core=core, plugin=plugin, percent=share(core, plugin), unit=UNITS[name],
                  definition=DEFINITIONS[name])


def _metrics(*, static_core: int, static_plugin: int, tally: RuntimeTally, package: str, core_lines: int,
             plugin_lines: int) -> list[Metric]:
    type_core = type_plugin = inst_core = inst_plugin = 0
    for name, cls in tally.module_types.items():
        is_core = origin(cls.__module__, package) == "core"
        type_core += is_core
        type_plugin += not is_core
        inst_core += tally.module_instances[name] if is_core else 0
        inst_plugin += 0 if is_core else tally.module_instances[name]
    for name, calls in tally.op_calls.items():
        is_core = origin(tally.op_defined_in[name], package) == "core"
        type_core += is_core
        type_plugin += not is_core
        inst_core += calls if is_core else 0
        inst_plugin += 0 if is_core else calls
    param_core = tally.params["core"]
    param_plugin = sum(v for k, v in tally.params.items() if k != "core")
    return [
        _metric(STATIC, static_core, static_plugin),
        _metric(RUNTIME_TYPES, type_core, type_plugin),
        _metric(RUNTIME_INSTANCES, inst_core, inst_plugin),
        _metric(PARAMETERS, param_core, param_plugin),
        _metric(COMPUTE, tally.core_seconds, tally.plugin_seconds),
        _metric(CODE, core_lines, plugin_lines),
    ]


def _components(*, static: StaticAnalysis, tally: RuntimeTally, package: str) -> list[Component]:
    out = [Component(u.name, "core", u.kind, u.count) for u in static.core_uses]
    out += [Component(d.name, "plugin", d.kind, d.count) for d in static.plugin_defs]
    for name, cls in tally.module_types.items():
        out.append(Component(name, origin(cls.__module__, package), "module", tally.module_instances[name]))
    for name, calls in tally.op_calls.items():
        out.append(Component(name, origin(tally.op_defined_in[name], package), "op", calls))
    return sort_components(out)


class UnknownPluginError(RegistryError, LookupError):
    """The requested plugin is not installed/enabled, or registers no reuse target."""


def available_plugins(manager: Any = None) -> PluginScan:
    """Scan the manager's (or the installed) plugins for reuse targets."""
    return scan_plugins(manager)


def reuse_report(plugin_name: str, *, manager: Any = None, repeats: int = 5) -> ReuseReport:
    """The reuse report of one plugin, found through ``manager`` (default: the installed plugins).

    Raises :class:`UnknownPluginError` listing the plugins that can be measured when ``plugin_name`` is
    not one of them.
    """
    scan = scan_plugins(manager)
    return report_for(plugin_name, scan, repeats=repeats)


def report_for(plugin_name: str, scan: PluginScan, *, repeats: int = 5) -> ReuseReport:
    """The report of ``plugin_name`` from an existing scan (so ``--all`` scans once)."""
    found = scan.plugins.get(plugin_name)
    if found is None:
        available = names_list(scan.plugins)
        if plugin_name in scan.errors:
            problem = f"plugin {plugin_name!r} could not be loaded: {scan.errors[plugin_name]}"
        elif plugin_name in scan.without_targets:
            problem = (f"plugin {plugin_name!r} registers no reuse target (it implements no "
                       "tinytorch_register_reuse_targets, or registers nothing there)")
        else:
            problem = f"no plugin named {plugin_name!r}{did_you_mean(plugin_name, scan.plugins)} is enabled"
        raise UnknownPluginError(f"{problem}; plugins with a reuse target: {available}")
    return measure(found.name, found.package, found.targets, repeats=repeats)
