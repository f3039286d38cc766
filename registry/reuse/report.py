"""Build a :class:`ReuseReport` for one plugin by running its reuse targets.

:func:`measure` works from an explicit package, target list and required plugins (no plugin
manager needed); :func:`reuse_report` and :func:`report_for` find them through the registry.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Any

from registry.errors import RegistryError, did_you_mean, names_list
from registry.reuse.plugins import PluginScan, scan_plugins
from registry.reuse.result import Component, Metric, ReuseReport, sort_components
from registry.reuse.runtime import CORE, OTHER, RuntimeTally, measure_target
from registry.reuse.targets import ReuseTarget, plugin_package

RUNTIME_TYPES = "runtime components (types)"
RUNTIME_INSTANCES = "runtime components (instances)"
PARAMETERS = "parameters"
COMPUTE = "compute time"

#: The metric quoted as the headline: who wrote the modules and ops that actually run.
HEADLINE_METRIC = RUNTIME_INSTANCES

_OWNER = ("owner = who wrote the Python module defining it: core (tinytorch_core), a plugin (its package:"
          " the measured one or a plugin it requires), or other")

DEFINITIONS: dict[str, str] = {
    RUNTIME_TYPES: ("distinct module types in the reuse targets' model trees (model.modules()) plus distinct"
                    f" autograd op types run in one forward + loss + backward (record_ops); {_OWNER}"),
    RUNTIME_INSTANCES: ("module instances in the reuse targets' model trees plus op applications in one forward"
                        f" + loss (once per application, not again for its backward step); {_OWNER}"),
    PARAMETERS: ("parameter elements, owned by the owner of the module type that holds them directly"
                 " (a shared parameter counts once)"),
    COMPUTE: ("median over timed runs of forward + loss + backward wall time, in seconds: time inside ops"
              " defined outside the core goes to their owner, the rest (Python glue included) to the core"),
}

UNITS = {RUNTIME_TYPES: "types", RUNTIME_INSTANCES: "instances", PARAMETERS: "parameters", COMPUTE: "seconds"}


def _package(plugin: str | types.ModuleType | object) -> str:
    if isinstance(plugin, str):
        if not plugin:
            raise ValueError("the plugin package name is empty; pass the plugin's importable package, e.g. 'acme_audio'")
        return plugin
    return plugin_package(plugin)


def measure(
    plugin_name: str,
    plugin_module_or_package: str | types.ModuleType | object,
    targets: Sequence[ReuseTarget],
    *,
    requires: Mapping[str, str | types.ModuleType | object] | None = None,
    repeats: int = 5,
) -> ReuseReport:
    """Run every target of a plugin and attribute what ran to the core, the plugin and ``requires``
    (required plugin name -> its package or plugin module). ``ValueError`` when there is no target."""
    if not targets:
        raise ValueError(
            f"plugin {plugin_name!r} registers no reuse target; implement tinytorch_register_reuse_targets "
            "and call register(name, model_factory, sample_batch=...)"
        )
    required = {name: _package(p) for name, p in sorted((requires or {}).items())}
    for name in (plugin_name, *required):
        if name in (CORE, OTHER):
            raise ValueError(f"plugin name {name!r} names an owner in the reuse report ({CORE}, {OTHER}); rename the plugin")
    owners = {package: name for name, package in required.items()}
    owners[_package(plugin_module_or_package)] = plugin_name
    tally = RuntimeTally()
    for target in targets:
        measure_target(target, owners, tally, repeats=repeats)

    types_: dict[str, float] = {}
    instances: dict[str, float] = {}
    for name, (_, who) in tally.kinds.items():
        types_[who] = types_.get(who, 0) + 1
        instances[who] = instances.get(who, 0) + tally.counts[name]
    amounts: dict[str, dict[str, float]] = {RUNTIME_TYPES: types_, RUNTIME_INSTANCES: instances, PARAMETERS: dict(tally.params),
               COMPUTE: tally.seconds}
    metrics = [Metric(name, UNITS[name], DEFINITIONS[name], plugin_name, amounts[name]) for name in DEFINITIONS]
    components = [Component(name, who, kind, tally.counts[name]) for name, (kind, who) in tally.kinds.items()]
    return ReuseReport(plugin=plugin_name, metrics=metrics, headline_metric=HEADLINE_METRIC,
                       requires=list(required), components=sort_components(components, plugin_name, list(required)))


class UnknownPluginError(RegistryError, LookupError):
    """The requested plugin is not enabled, or registers no reuse target."""


def reuse_report(plugin_name: str, *, manager: Any = None, repeats: int = 5) -> ReuseReport:
    """The reuse report of one plugin, found through ``manager`` (default: the working directory's plugins)."""
    return report_for(plugin_name, scan_plugins(manager), repeats=repeats)


def report_for(plugin_name: str, scan: PluginScan, *, repeats: int = 5) -> ReuseReport:
    """The report of ``plugin_name`` from an existing scan (so ``--all`` scans once)."""
    found = scan.plugins.get(plugin_name)
    if found is None:
        if plugin_name in scan.errors:
            problem = f"plugin {plugin_name!r} could not be loaded: {scan.errors[plugin_name]}"
        elif plugin_name in scan.without_targets:
            problem = (f"plugin {plugin_name!r} registers no reuse target (it implements no "
                       "tinytorch_register_reuse_targets, or registers nothing there)")
        else:
            problem = f"no plugin named {plugin_name!r}{did_you_mean(plugin_name, scan.plugins)} is enabled"
        raise UnknownPluginError(f"{problem}; plugins with a reuse target: {names_list(scan.plugins)}")
    return measure(found.name, found.package, found.targets, requires=found.requires, repeats=repeats)
