"""The reuse report: how much of a plugin is the core, by several defined metrics.

``reuse_report(plugin_name)`` finds the plugin and its reuse targets and returns a
:class:`ReuseReport`; ``measure(name, package, targets)`` does the same from an explicit package and
target list. ``tinytorch report reuse`` (see :mod:`registry.reuse_cli`) prints it as a table, JSON or
Markdown. The machinery knows no plugin by name: everything it runs comes from a plugin's
``tinytorch_register_reuse_targets`` hook.
"""

from registry.reuse.report import (
    CODE,
    COMPUTE,
    DEFINITIONS,
    HEADLINE_METRIC,
    PARAMETERS,
    RUNTIME_INSTANCES,
    RUNTIME_TYPES,
    STATIC,
    UnknownPluginError,
    available_plugins,
    measure,
    report_for,
    reuse_report,
)
from registry.reuse.result import Component, Headline, Metric, ReuseReport
from registry.reuse.targets import ReuseTarget, collect_targets

__all__ = [
    "reuse_report", "measure", "report_for", "available_plugins", "collect_targets", "ReuseTarget",
    "ReuseReport", "Headline", "Metric", "Component", "UnknownPluginError", "DEFINITIONS", "HEADLINE_METRIC",
    "STATIC", "RUNTIME_TYPES", "RUNTIME_INSTANCES", "PARAMETERS", "COMPUTE", "CODE",
]
