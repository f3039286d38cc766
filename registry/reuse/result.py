"""The typed result of a reuse report and its stable JSON form.

Every amount is broken down by *owner* (see :mod:`registry.reuse.runtime`): ``core``, each plugin
the measured one requires, the plugin itself, and ``other``. A report's figure is the share the
plugin did **not** write: ``reused_percent`` = (core + required plugins) / total. JSON layout
(keys in this order; percentages 0-100, one decimal; owners core, required plugins, the plugin,
other)::

    {
      "plugin": "captioning",
      "requires": ["language", "vision"],
      "headline": {"metric": "runtime components (instances)", "reused_percent": 81.2,
                   "percent_by_owner": {"core": 62.5, "language": 6.2, "vision": 12.5, "captioning": 18.8}},
      "metrics": [{"name": ..., "unit": ..., "definition": ..., "reused_percent": ...,
                   "by_owner": {"core": <amount>, ...}, "percent_by_owner": {"core": <percent>, ...}}, ...],
      "components": [{"name": ..., "owner": "core"|<plugin>|"other", "kind": "module"|"op", "count": <int>}, ...]
    }

``components`` lists the plugin's own first, then the required plugins', then the core's, each by
count (descending) then name, so two runs on the same code give the same list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CORE, OTHER = "core", "other"


def percent(part: float, total: float) -> float:
    """``part`` as a percentage of ``total`` (0 when the total is 0), one decimal."""
    return round(100.0 * part / total, 1) if total > 0 else 0.0


@dataclass(frozen=True)
class Metric:
    """One measured quantity, split by owner, with its definition beside it."""

    name: str
    unit: str
    definition: str
    plugin: str
    by_owner: Mapping[str, float]

    @property
    def total(self) -> float:
        return sum(self.by_owner.values())

    @property
    def core(self) -> float:
        """The core's amount."""
        return self.by_owner.get(CORE, 0)

    @property
    def own(self) -> float:
        """What the plugin (or a third-party library it pulls in) wrote itself."""
        return self.by_owner.get(self.plugin, 0) + self.by_owner.get(OTHER, 0)

    @property
    def percent(self) -> float:
        """The reused share: what the core and the required plugins wrote, in percent."""
        return percent(self.total - self.own, self.total)

    def share(self, owner: str) -> float:
        """One owner's share in percent."""
        return percent(self.by_owner.get(owner, 0), self.total)


@dataclass(frozen=True)
class Component:
    """One module type or op type that ran, who wrote it, and how often it was used."""

    name: str
    owner: str
    kind: str
    count: int


@dataclass(frozen=True)
class ReuseReport:
    """How much of a plugin others wrote: the core, and each plugin it builds on."""

    plugin: str
    metrics: list[Metric]
    headline_metric: str
    requires: list[str] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)

    @property
    def owners(self) -> list[str]:
        """Owners in report order: core, required plugins, the plugin itself, then other (when present)."""
        present = {o for m in self.metrics for o in m.by_owner}
        return [CORE, *self.requires, self.plugin] + ([OTHER] if OTHER in present else [])

    @property
    def headline(self) -> Metric:
        return self.metric(self.headline_metric)

    def metric(self, name: str) -> Metric:
        """The metric called ``name``; ``KeyError`` lists the names there are."""
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(f"no metric {name!r} in the reuse report; metrics: {', '.join(m.name for m in self.metrics)}")

    def plugin_components(self) -> list[Component]:
        """What did not come from the core, the plugin's own first, most used first."""
        return [c for c in self.components if c.owner != CORE]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form, keys in the documented order."""
        owners = self.owners

        def shares(m: Metric) -> dict[str, float]:
            return {o: m.share(o) for o in owners}

        head = self.headline
        return {
            "plugin": self.plugin,
            "requires": list(self.requires),
            "headline": {"metric": head.name, "reused_percent": head.percent, "percent_by_owner": shares(head)},
            "metrics": [
                {"name": m.name, "unit": m.unit, "definition": m.definition, "reused_percent": m.percent,
                 "by_owner": {o: _number(m.by_owner.get(o, 0)) for o in owners}, "percent_by_owner": shares(m)}
                for m in self.metrics
            ],
            "components": [{"name": c.name, "owner": c.owner, "kind": c.kind, "count": c.count}
                           for c in self.components],
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


def sort_components(components: Sequence[Component], plugin: str, requires: Sequence[str]) -> list[Component]:
    """The plugin's own first, then other, required plugins', the core's; by count (descending) and name."""
    rank = {plugin: 0, OTHER: 1, **{r: 2 for r in requires}, CORE: 3}
    return sorted(components, key=lambda c: (rank.get(c.owner, 2), -c.count, c.name, c.kind))
