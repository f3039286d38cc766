"""The typed result of a reuse report and its stable JSON form.

JSON layout (keys always in this order; ``percent`` is the core share, 0-100, one decimal)::

    {
      "plugin": "vision",
      "headline": {"metric": "runtime components (instances)", "percent": 93.8},
      "metrics": [
        {"name": ..., "core": <number>, "plugin": <number>, "percent": <number>, "unit": ..., "definition": ...},
        ...
      ],
      "components": [{"name": ..., "origin": "plugin"|"core"|"other", "kind": ..., "count": <int>}, ...]
    }

``core`` and ``plugin`` are the two sides each metric compares (``plugin`` is everything that is not
core: the plugin's own code and any third-party code it pulls in). ``components`` lists plugin-side
entries first, then core, each by count (descending) then name, so two runs on the same code give the
same list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: Where a component comes from: the core framework, the measured plugin, or anything else.
ORIGINS = ("plugin", "other", "core")

#: What a component is: a class or function the plugin's source refers to or defines (static), a module
#: type in the model tree, or an autograd op type run in forward + backward.
KINDS = ("module", "op", "class", "function")


def share(core: float, plugin: float) -> float:
    """The core share in percent (0 when both sides are empty), rounded to one decimal."""
    total = core + plugin
    return round(100.0 * core / total, 1) if total > 0 else 0.0


@dataclass(frozen=True)
class Headline:
    """The one figure to quote, with the name of the metric it comes from."""

    metric: str
    percent: float


@dataclass(frozen=True)
class Metric:
    """One measured comparison of core against plugin, with its definition beside the value."""

    name: str
    core: float
    plugin: float
    percent: float
    unit: str
    definition: str


@dataclass(frozen=True)
class Component:
    """One class, function, module type or op type the plugin uses or defines."""

    name: str
    origin: str
    kind: str
    count: int


@dataclass(frozen=True)
class ReuseReport:
    """How much of a plugin is core, by every metric the report computes."""

    plugin: str
    headline: Headline
    metrics: list[Metric]
    components: list[Component] = field(default_factory=list)

    def metric(self, name: str) -> Metric:
        """The metric called ``name``; ``KeyError`` lists the names there are."""
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(f"no metric {name!r} in the reuse report; metrics: {', '.join(m.name for m in self.metrics)}")

    def plugin_components(self) -> list[Component]:
        """What the plugin had to add: components not from the core, most used first."""
        return [c for c in self.components if c.origin != "core"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form, keys in the documented order."""
        return {
            "plugin": self.plugin,
            "headline": {"metric": self.headline.metric, "percent": self.headline.percent},
            "metrics": [
                {
                    "name": m.name,
                    "core": _number(m.core),
                    "plugin": _number(m.plugin),
                    "percent": m.percent,
                    "unit": m.unit,
                    "definition": m.definition,
                }
                for m in self.metrics
            ],
            "components": [
                {"name": c.name, "origin": c.origin, "kind": c.kind, "count": c.count} for c in self.components
            ],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Stable JSON (documented in this module's docstring)."""
        return json.dumps(self.to_dict(), indent=indent)

    def to_markdown(self) -> str:
        """A Markdown section with a metrics table, ready to paste into a README."""
        from registry.reuse.render import markdown

        return markdown([self])


def _number(x: float) -> float | int:
    """Counts stay integers in JSON; measured quantities keep six significant digits."""
    if float(x).is_integer() and abs(x) < 2**53:
        return int(x)
    return float(f"{x:.6g}")


def sort_components(components: list[Component]) -> list[Component]:
    """Plugin side first, then by count (descending) and name: the order the JSON documents."""
    rank = {o: i for i, o in enumerate(ORIGINS)}
    return sorted(components, key=lambda c: (rank.get(c.origin, len(ORIGINS)), -c.count, c.name, c.kind))
