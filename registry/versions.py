"""Plugin requirements such as ``"language>=0.1"``: parsing and version matching.

Uses ``packaging`` (PEP 440 specifiers) when it is installed; otherwise a small comparator that
understands ``==, !=, >=, <=, >, <, ~=`` on dotted numeric versions (pre-release suffixes are
compared as their numeric prefix).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from registry.errors import ConfigError

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*$")
_CLAUSE = re.compile(r"^(~=|==|!=|>=|<=|>|<)\s*([0-9][0-9A-Za-z.+!*-]*)$")


@dataclass(frozen=True)
class Requirement:
    """A plugin name and an optional version specifier (``""`` when none)."""

    name: str
    specifier: str = ""

    def __str__(self) -> str:
        return f"{self.name}{self.specifier}"


def parse_requirement(text: str, *, where: str = "") -> Requirement:
    """Parse ``"name"`` or ``"name>=0.1,<1"``; ``where`` names the config location for errors."""
    match = _REQUIREMENT.match(text)
    location = f" in {where}" if where else ""
    if not match:
        raise ConfigError(f"invalid plugin requirement {text!r}{location}; expected a name like 'language' or 'language>=0.1'")
    name, spec = match.group(1), match.group(2).replace(" ", "")
    for clause in filter(None, spec.split(",")):
        if not _CLAUSE.match(clause):
            raise ConfigError(
                f"invalid version specifier {clause!r} in plugin requirement {text!r}{location};"
                " use e.g. 'language>=0.1' or 'language>=0.1,<1'"
            )
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
    except ImportError:
        return Requirement(name=name, specifier=spec)
    try:
        SpecifierSet(spec)
    except InvalidSpecifier as exc:  # e.g. ==1.x: the clause shape is fine, the version is not
        raise ConfigError(f"invalid version specifier in plugin requirement {text!r}{location} ({exc});"
                          " use e.g. 'language>=0.1', 'language==0.1.*' or 'language>=0.1,<1'") from None
    return Requirement(name=name, specifier=spec)


def _numeric(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def _padded(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)), b + (0,) * (width - len(b))


def _fallback_satisfies(version: str, specifier: str) -> bool:
    for clause in filter(None, specifier.split(",")):
        match = _CLAUSE.match(clause)
        assert match is not None  # parse_requirement validated every clause
        op, wanted = match.groups()
        have, want = _padded(_numeric(version), _numeric(wanted.rstrip(".*")))
        if op == "~=":
            prefix = _numeric(wanted)[:-1]
            ok = have >= want and _numeric(version)[: len(prefix)] == prefix
        else:
            ok = {
                "==": have == want,
                "!=": have != want,
                ">=": have >= want,
                "<=": have <= want,
                ">": have > want,
                "<": have < want,
            }[op]
        if not ok:
            return False
    return True


def satisfies(version: str, specifier: str) -> bool:
    """Whether ``version`` matches ``specifier`` (always ``True`` for an empty specifier)."""
    if not specifier:
        return True
    try:
        from packaging.specifiers import SpecifierSet
        from packaging.version import InvalidVersion, Version
    except ImportError:
        return _fallback_satisfies(version, specifier)
    try:
        return Version(version) in SpecifierSet(specifier)
    except InvalidVersion:
        return _fallback_satisfies(version, specifier)
