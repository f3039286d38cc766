"""Which plugins to load, and where each was enabled or disabled (for error messages).

Precedence, lowest to highest:

1. every installed plugin (when nothing is configured);
2. the config's ``[plugins] enable`` list replaces that, and ``disable`` removes from it;
3. the ``TINYTORCH_PLUGINS`` environment variable (comma list, empty = none) replaces both;
4. ``-p NAME`` adds a plugin and ``-p no:NAME`` removes one.

A plugin may be named by its entry-point name or by its distribution name (``tinytorch-audio``),
so disabling works whichever name the user knows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from registry.config import Config, PluginSettings
from registry.discovery import InstalledPlugin, normalize_distribution
from registry.errors import ConfigError, PluginFlagError, did_you_mean, names_list
from registry.versions import Requirement, parse_requirement

ENV_PLUGINS = "TINYTORCH_PLUGINS"


@dataclass(frozen=True)
class Selection:
    """One plugin's fate: enabled or not, why (``origin``) and the version it must satisfy."""

    name: str
    enabled: bool
    origin: str
    requirement: Requirement | None = None


@dataclass
class SelectionResult:
    """The selections by plugin name plus warnings worth printing (e.g. disabling an unknown name)."""

    selections: dict[str, Selection] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _canonical(name: str, installed: Sequence[InstalledPlugin]) -> list[str]:
    """Entry-point names for ``name``: itself if installed, else the plugins of a distribution so named."""
    if any(p.name == name for p in installed):
        return [name]
    wanted = normalize_distribution(name)
    by_dist = [p.name for p in installed if p.distribution and normalize_distribution(p.distribution) == wanted]
    return sorted(set(by_dist)) or [name]


def select_plugins(
    installed: Sequence[InstalledPlugin],
    config: Config,
    settings: PluginSettings,
    *,
    env: Mapping[str, str],
    cli: Sequence[str] = (),
) -> SelectionResult:
    """Resolve the enabled set from defaults, config, environment and ``-p`` flags."""
    result = SelectionResult()
    chosen = result.selections
    installed_names = sorted({p.name for p in installed})

    def enable(requirement: Requirement, origin: str) -> None:
        for name in _canonical(requirement.name, installed):
            chosen[name] = Selection(name, True, origin, Requirement(name, requirement.specifier))

    def disable(name: str, origin: str, *, unknown_is_error: bool) -> None:
        names = _canonical(name, installed)
        if names == [name] and name not in installed_names:
            message = (
                f"{origin}: no installed plugin named {name!r}{did_you_mean(name, installed_names)};"
                f" installed plugins: {names_list(installed_names)}"
            )
            if unknown_is_error:
                raise PluginFlagError(message)
            result.warnings.append(message + " (ignored)")
            return
        for resolved in names:
            chosen[resolved] = Selection(resolved, False, origin)

    if ENV_PLUGINS in env:
        origin = f"environment variable {ENV_PLUGINS}"
        for name in installed_names:
            chosen[name] = Selection(name, False, f"{origin} (not listed)")
        for item in filter(None, (part.strip() for part in env[ENV_PLUGINS].split(","))):
            enable(parse_requirement(item, where=origin), origin)
    elif settings.enable is not None:
        origin = config.where("plugins", "enable")
        for name in installed_names:
            chosen[name] = Selection(name, False, f"{origin} (not listed)")
        for requirement in settings.enable:
            enable(requirement, origin)
    else:
        for name in installed_names:
            chosen[name] = Selection(name, True, "default (all installed plugins)")
    if ENV_PLUGINS not in env:
        for name in settings.disable:
            disable(name, config.where("plugins", "disable"), unknown_is_error=False)

    for flag in cli:
        if flag.startswith("no:"):
            disable(flag[3:], f"command line -p {flag}", unknown_is_error=True)
        else:
            enable(parse_requirement(flag, where=f"command line -p {flag}"), f"command line -p {flag}")
    return result
