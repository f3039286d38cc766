"""Importing plugins: what ``tinytorch plugins`` knows about each one, and the two ways one arrives.

An installed plugin comes through its entry point (:func:`import_selected`), a local one from a
``.py`` path or dotted module named in ``[plugins] local`` (:func:`import_local`). Importing never
raises: a failure is recorded on the plugin's :class:`PluginInfo` with a one-line error naming the
plugin, where it came from and the fix. The manager then activates what imported, in dependency
order (see :mod:`registry.dependencies`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from registry.config import display_path
from registry.discovery import InstalledPlugin, Source
from registry.errors import (
    PluginError,
    PluginImportError,
    PluginNotInstalledError,
    PluginVersionError,
    RegistrationError,
    did_you_mean,
    names_list,
)
from registry.observers import describe_exception
from registry.selection import Selection
from registry.versions import satisfies

Status = Literal["enabled", "disabled", "failed"]


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
    hooks: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
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
            "requires": list(self.requires),
            "registered": dict(self.counts),
        }


def fail(info: PluginInfo, error: PluginError, cause: BaseException | None = None) -> None:
    """Mark ``info`` failed with ``error`` (chained to ``cause``)."""
    if cause is not None:
        error.__cause__ = cause
    info.status = "failed"
    info.error = error
    info.reason = str(error)


def import_selected(selection: Selection, candidates: list[InstalledPlugin],
                    installed_names: list[str]) -> tuple[PluginInfo, object | None]:
    """Import one selected plugin: its info and the plugin object (``None`` when disabled or it failed,
    the failure recorded on the info)."""
    name = selection.name
    if not selection.enabled:
        first = candidates[0] if candidates else None
        info = PluginInfo(
            name,
            first.source if first else "not installed",
            "disabled",
            first.distribution if first else None,
            first.version if first else None,
            enabled_by=selection.origin,
            target=first.target if first else None,
            reason=f"disabled by {selection.origin}",
        )
        return info, None
    if not candidates:
        error: PluginError = PluginNotInstalledError(
            "is enabled but not installed",
            plugin=name,
            enabled_by=selection.origin,
            fix=f"pip install tinytorch-{name} (or its actual distribution name), or remove {name!r} from"
            f" {selection.origin}; installed plugins: {names_list(installed_names)}"
            f"{did_you_mean(name, installed_names)}",
        )
        info = PluginInfo(name, "not installed", "failed", enabled_by=selection.origin,
                          reason=str(error), error=error)
        return info, None
    chosen = candidates[0]
    info = PluginInfo(name, chosen.source, "enabled", chosen.distribution, chosen.version,
                      enabled_by=selection.origin, target=chosen.target)
    if len(candidates) > 1:
        dists = ", ".join(f"{c.distribution} {c.version}" for c in candidates)
        fail(info, RegistrationError(
            f"is declared by more than one installed distribution ({dists})",
            plugin=name, distribution=chosen.distribution, version=chosen.version, enabled_by=selection.origin,
            fix="uninstall all but one of them",
        ))
        return info, None
    requirement = selection.requirement
    if requirement is not None and requirement.specifier and chosen.version is not None:
        if not satisfies(chosen.version, requirement.specifier):
            fail(info, PluginVersionError(
                f"version {chosen.version} does not satisfy {requirement}",
                plugin=name, distribution=chosen.distribution, version=chosen.version, enabled_by=selection.origin,
                fix=f"pip install -U '{chosen.distribution}{requirement.specifier}', or change the specifier in"
                f" {selection.origin}",
            ))
            return info, None
    try:
        plugin = chosen.load()
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # third-party code: even sys.exit() is its failure
        fail(info, PluginImportError(
            f"failed to import {chosen.target}: {describe_exception(exc)}",
            plugin=name, distribution=chosen.distribution, version=chosen.version, enabled_by=selection.origin,
            fix=f"fix or reinstall {chosen.distribution}, or disable it: -p no:{name},"
            f" TINYTORCH_PLUGINS, or [plugins] disable = [\"{name}\"] in your tinytorch.toml"
            " (run with --debug for the original traceback)",
        ), cause=exc)
        return info, None
    return info, plugin


def import_local(spec: str, origin: str, base_dir: Path) -> tuple[PluginInfo, object | None]:
    """Load ``[plugins] local`` entry ``spec``: a ``.py`` path (relative to the config) or a dotted module."""
    is_path = spec.endswith(".py") or "/" in spec or os.sep in spec
    name = Path(spec).stem if is_path else spec.rsplit(".", 1)[-1]
    info = PluginInfo(name, "local", "enabled", enabled_by=origin, target=spec,
                      version=None)
    try:
        if is_path:
            path = Path(spec)
            if not path.is_absolute():
                path = base_dir / path
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
        fail(info, PluginImportError(
            f"failed to import {spec}: {describe_exception(exc)}", plugin=name, enabled_by=origin, local=True,
            fix=f"fix the module or remove it from {origin} (run with --debug for the original traceback)",
        ), cause=exc)
        return info, None
    info.version = getattr(plugin, "__version__", None)
    return info, plugin

