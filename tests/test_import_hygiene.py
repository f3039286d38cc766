"""No plugin imports another: built-in plugins and example plugins reach each other only through
the registry (``tinytorch_requires`` and the ``components`` lookup), and use only the core.

Every package is found from the tree (``plugins/*`` and each ``examples/*`` package declaring a
``tinytorch.plugins`` entry point), so a new example is covered without editing this test.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def plugin_packages() -> dict[str, Path]:
    """Top-level import name -> package folder, for every plugin in the tree."""
    found = {f"plugins.{p.name}": p for p in sorted((ROOT / "plugins").iterdir()) if (p / "__init__.py").is_file()}
    for pyproject in sorted(ROOT.glob("examples/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        for target in project.get("entry-points", {}).get("tinytorch.plugins", {}).values():
            package = target.split(":")[0].split(".")[0]
            found[package] = pyproject.parent / package
    return found


def imported_modules(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def foreign_imports(own: str, folder: Path, packages: dict[str, Path]) -> list[str]:
    """``file: module`` for each import of another plugin (or of the registry) in ``folder``."""
    forbidden = [p for p in packages if p != own] + ["registry"]
    bad: list[str] = []
    for source in sorted(folder.rglob("*.py")):
        for module in sorted(imported_modules(source)):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                shown = source.relative_to(ROOT) if source.is_relative_to(ROOT) else source
                bad.append(f"{shown}: {module}")
    return bad


def test_the_example_plugins_are_covered() -> None:
    packages = plugin_packages()
    assert {"plugins.vision", "plugins.language", "tinytorch_timeseries"} <= set(packages)
    assert all(folder.is_dir() for folder in packages.values()), packages


@pytest.mark.parametrize("own", sorted(plugin_packages()))
def test_no_plugin_imports_another_or_the_registry(own: str) -> None:
    packages = plugin_packages()
    bad = foreign_imports(own, packages[own], packages)
    assert not bad, f"{own} imports another plugin (use tinytorch_requires and the components lookup): {bad}"


def test_the_check_can_fail(tmp_path: Path) -> None:
    (tmp_path / "sneaky.py").write_text("import os\nfrom plugins.vision.layers import Conv2d\nimport registry.cli\n")
    packages = {"mine": tmp_path, "plugins.vision": ROOT / "plugins" / "vision"}
    bad = foreign_imports("mine", tmp_path, packages)
    assert [b.split(": ")[1] for b in bad] == ["plugins.vision.layers", "registry.cli"]
