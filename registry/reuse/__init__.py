"""The reuse report: how much of a plugin it did not write itself - the core's share, and each
required plugin's - measured at run time.

``reuse_report(plugin_name)`` finds the plugin, its reuse targets and the plugins it requires and
returns a :class:`ReuseReport`; ``measure(name, package, targets, requires=...)`` does the same from
explicit arguments. ``tinytorch report reuse`` (see :mod:`registry.reuse_cli`) prints it as a table,
JSON or Markdown. The machinery knows no plugin by name and no core internals: everything it runs
comes from a plugin's ``tinytorch_register_reuse_targets`` hook, and everything it counts from the
public ``Module`` tree and ``tinytorch_core.autograd.record_ops``.
"""

from registry.reuse.report import (
    COMPUTE,
    DEFINITIONS,
    HEADLINE_METRIC,
    PARAMETERS,
    RUNTIME_INSTANCES,
    RUNTIME_TYPES,
    UnknownPluginError,
    measure,
    report_for,
    reuse_report,
)
from registry.reuse.plugins import scan_plugins
from registry.reuse.result import Component, Metric, ReuseReport
from registry.reuse.targets import ReuseTarget, collect_targets

__all__ = [
    "reuse_report", "measure", "report_for", "scan_plugins", "collect_targets", "ReuseTarget", "ReuseReport",
    "Metric", "Component", "UnknownPluginError", "DEFINITIONS", "HEADLINE_METRIC", "RUNTIME_TYPES",
    "RUNTIME_INSTANCES", "PARAMETERS", "COMPUTE",
]
