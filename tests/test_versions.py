"""Plugin requirement parsing and matching (PEP 440, through ``packaging``)."""

from __future__ import annotations

import pytest

from registry.errors import ConfigError
from registry.versions import Requirement, parse_requirement, satisfies


def test_requirements_parse_and_match_pep440_versions() -> None:
    req = parse_requirement("language >= 0.1, <1")
    assert req == Requirement("language", ">=0.1,<1") and str(req) == "language>=0.1,<1"
    assert satisfies("0.2.0", req.specifier) and not satisfies("1.0", req.specifier)
    assert not satisfies("1.0rc1", ">=1.0")  # a pre-release sorts before its release
    assert satisfies("1.4.2", "~=1.4") and not satisfies("2.0", "~=1.4")
    assert satisfies("anything", "") and not satisfies("not-a-version", ">=0")


def test_bad_specifier_names_the_clause_and_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"invalid version specifier '=>1' .* in \[plugins\]; use e.g."):
        parse_requirement("language=>1", where="[plugins]")
    with pytest.raises(ConfigError, match="expected a name like 'language'"):
        parse_requirement("")
