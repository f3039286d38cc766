"""The component registry: what each plugin registered, by kind and name."""

from __future__ import annotations

import builtins

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from registry.errors import ComponentNotFoundError, ConfigError, did_you_mean, names_list

#: Every component kind, each filled by the registration hook ``tinytorch_register_<kind>``.
KINDS: tuple[str, ...] = (
    "modalities",
    "modules",
    "datasets",
    "tokenizers",
    "models",
    "callbacks",
    "commands",
    "reuse_targets",
)

_SINGULAR = {
    "modality": "modalities",
    "module": "modules",
    "dataset": "datasets",
    "tokenizer": "tokenizers",
    "model": "models",
    "callback": "callbacks",
    "command": "commands",
    "reuse_target": "reuse_targets",
}


def hook_for_kind(kind: str) -> str:
    """The registration hook that fills ``kind`` (``"models"`` -> ``tinytorch_register_models``)."""
    return f"tinytorch_register_{normalize_kind(kind)}"


def normalize_kind(kind: str) -> str:
    """Accept plural or singular kind names (``model`` -> ``models``); unknown kinds get a did-you-mean."""
    key = kind.strip().lower().replace("-", "_")
    if key in KINDS:
        return key
    if key in _SINGULAR:
        return _SINGULAR[key]
    raise ConfigError(f"unknown component kind {kind!r}{did_you_mean(key, KINDS)}; kinds are: {', '.join(KINDS)}")


def split_name(name: str) -> tuple[str | None, str]:
    """``"vision:simple_cnn"`` -> ``("vision", "simple_cnn")``; a bare name has no owner (``None``)."""
    owner, sep, bare = name.partition(":")
    return (owner.strip(), bare.strip()) if sep else (None, name)


@dataclass(frozen=True)
class Component:
    """One registered component: what it is, who registered it, and its metadata."""

    kind: str
    name: str
    obj: Any
    plugin: str
    description: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)


class ComponentRegistry:
    """Components by kind and name; duplicates are reported by the plugin manager."""

    def __init__(self) -> None:
        self._by_kind: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}

    def find(self, kind: str, name: str) -> Component | None:
        """The component, or ``None`` when it is not registered."""
        return self._by_kind[normalize_kind(kind)].get(name)

    def add(self, component: Component) -> None:
        """Store ``component``; the caller has checked for a clash with :meth:`find`."""
        self._by_kind[normalize_kind(component.kind)][component.name] = component

    def get(self, kind: str, name: str) -> Component:
        """The component registered as ``name`` for ``kind``; a helpful error when there is none.

        ``name`` may be qualified by its plugin, ``"vision:simple_cnn"``: then it must be that plugin's.
        """
        kind = normalize_kind(kind)
        owner, bare = split_name(name)
        found = self._by_kind[kind].get(bare)
        if found is not None and owner is not None and found.plugin != owner:
            mine = [n for n, c in self._by_kind[kind].items() if c.plugin == owner]
            raise ComponentNotFoundError(
                f"no {kind[:-1] if kind != 'modalities' else 'modality'} {bare!r} is registered by plugin {owner!r}"
                f" (plugin {found.plugin!r} registers it: use {found.plugin}:{bare}); {owner} registers"
                f" {kind}: {names_list(mine)}"
            )
        if found is None:
            available = self._by_kind[kind]
            name = bare
            raise ComponentNotFoundError(
                f"no {kind[:-1] if kind != 'modalities' else 'modality'} named {name!r} is registered"
                f"{did_you_mean(name, available)}; available {kind}: {names_list(available)}"
                " (run `tinytorch components` to see who registers what, `tinytorch plugins` for enabled plugins)"
            )
        return found

    def list(self, kind: str | None = None) -> builtins.list[Component]:
        """Components of ``kind`` (all kinds when ``None``), sorted by kind then name."""
        kinds = KINDS if kind is None else (normalize_kind(kind),)
        return [self._by_kind[k][n] for k in kinds for n in sorted(self._by_kind[k])]

    def names(self, kind: str) -> builtins.list[str]:
        """Sorted names registered for ``kind``."""
        return sorted(self._by_kind[normalize_kind(kind)])

    def remove_plugin(self, plugin: str) -> None:
        """Forget everything ``plugin`` registered (it failed, or was unregistered)."""
        for by_name in self._by_kind.values():
            for name in [n for n, c in by_name.items() if c.plugin == plugin]:
                del by_name[name]

    def counts(self, plugin: str) -> dict[str, int]:
        """How many components of each kind ``plugin`` registered (kinds with none are left out)."""
        counts: dict[str, int] = {}
        for kind, by_name in self._by_kind.items():
            n = sum(1 for c in by_name.values() if c.plugin == plugin)
            if n:
                counts[kind] = n
        return counts
