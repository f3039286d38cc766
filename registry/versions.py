"""Plugin requirements such as ``"language>=0.1"``: parsing and version matching (PEP 440, by ``packaging``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from registry.errors import ConfigError

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Requirement:
    """A plugin name and an optional version specifier (``""`` when none)."""

    name: str
    specifier: str = ""

    def __str__(self) -> str:
        return f"{self.name}{self.specifier}"


def parse_requirement(text: str, *, where: str = "") -> Requirement:
    """Parse ``"name"`` or ``"name>=0.1,<1"``; ``where`` names the config location for errors."""
    from packaging.specifiers import InvalidSpecifier, Specifier

    match = _REQUIREMENT.match(text)
    location = f" in {where}" if where else ""
    if not match:
        raise ConfigError(f"invalid plugin requirement {text!r}{location}; expected a name like 'language' or 'language>=0.1'")
    name, spec = match.group(1), match.group(2).replace(" ", "")
    for clause in filter(None, spec.split(",")):
        try:
            Specifier(clause)
        except InvalidSpecifier:
            raise ConfigError(
                f"invalid version specifier {clause!r} in plugin requirement {text!r}{location};"
                " use e.g. 'language>=0.1', 'language==0.1.*' or 'language>=0.1,<1'"
            ) from None
    return Requirement(name=name, specifier=spec)


def satisfies(version: str, specifier: str) -> bool:
    """Whether ``version`` matches ``specifier`` (always ``True`` for an empty specifier).

    A version that is not PEP 440 (``packaging`` cannot order it) satisfies no specifier.
    """
    if not specifier:
        return True
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) in SpecifierSet(specifier)
    except InvalidVersion:
        return False
