"""Finding installed plugins through the ``tinytorch.plugins`` entry-point group, without importing them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from typing import Literal

#: The entry-point group every TinyTorch plugin, built-in or third-party, is declared in.
ENTRY_POINT_GROUP = "tinytorch.plugins"

#: The distribution that ships the built-in plugins.
BUILTIN_DISTRIBUTION = "tinytorch-numpy"
#: Its name before the rename (``tinytorch`` on PyPI is an unrelated project). Metadata left under
#: that name (a stale ``tinytorch.egg-info`` in a source checkout, an old editable install) declares
#: the very same entry points again; those duplicates are ignored rather than reported as a clash.
FORMER_BUILTIN_DISTRIBUTIONS = frozenset({"tinytorch"})

Source = Literal["builtin", "third-party", "local"]


def normalize_distribution(name: str) -> str:
    """PEP 503 normalisation, so ``Tinytorch_Audio`` and ``tinytorch-audio`` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class InstalledPlugin:
    """An entry point in the plugin group: its name, the module it points at and its distribution."""

    name: str
    target: str
    distribution: str | None
    version: str | None
    entry_point: metadata.EntryPoint | None = None

    @property
    def source(self) -> Source:
        """``builtin`` when shipped by the ``tinytorch-numpy`` distribution itself, else ``third-party``."""
        if self.distribution is not None and normalize_distribution(self.distribution) == BUILTIN_DISTRIBUTION:
            return "builtin"
        return "third-party"

    def load(self) -> object:
        """Import and return the plugin object (usually a module) the entry point names."""
        if self.entry_point is not None:
            return self.entry_point.load()
        import importlib

        module_name, _, attribute = self.target.partition(":")
        loaded: object = importlib.import_module(module_name)
        for part in filter(None, attribute.split(".")):
            loaded = getattr(loaded, part)
        return loaded


def iter_entry_points(group: str = ENTRY_POINT_GROUP) -> list[metadata.EntryPoint]:
    """The entry points of ``group``; tests monkeypatch this to fake installed plugins."""
    return list(metadata.entry_points(group=group))


def discover(group: str = ENTRY_POINT_GROUP) -> list[InstalledPlugin]:
    """Every installed plugin, sorted by name; nothing is imported.

    Two distributions may declare the same entry-point name; both are returned and the manager
    reports the clash (except the built-ins' own entry points left under their former distribution
    name, see :data:`FORMER_BUILTIN_DISTRIBUTIONS`).
    """
    found: list[InstalledPlugin] = []
    for entry_point in iter_entry_points(group):
        dist = getattr(entry_point, "dist", None)
        found.append(
            InstalledPlugin(
                name=entry_point.name,
                target=entry_point.value,
                distribution=None if dist is None else dist.metadata["Name"],
                version=None if dist is None else dist.version,
                entry_point=entry_point,
            )
        )
    current = {(p.name, p.target) for p in found if p.source == "builtin"}
    found = [p for p in found if not (p.distribution is not None and (p.name, p.target) in current
                                      and normalize_distribution(p.distribution) in FORMER_BUILTIN_DISTRIBUTIONS)]
    return sorted(found, key=lambda p: (p.name, p.distribution or ""))
