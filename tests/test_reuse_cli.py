"""``tinytorch report reuse`` options, output formats, atomic --output and errors, on fixture plugins."""

from __future__ import annotations

import argparse
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry.manager import PluginManager
from registry.reuse import DEFINITIONS, HEADLINE_METRIC, ReuseReport, measure
from registry.reuse.render import _plain_table, markdown, table
from registry.reuse.targets import collect_targets
from registry.reuse_cli import configure, run, write_atomic

FIXTURES = Path(__file__).resolve().parent / "reuse_fixtures"


@pytest.fixture(scope="module")
def fixture_modules() -> Iterator[dict[str, types.ModuleType]]:
    sys.path.insert(0, str(FIXTURES))
    try:
        import reuse_fixture_core.plugin as core_plugin
        import reuse_fixture_own.plugin as own_plugin

        yield {"core": core_plugin, "own": own_plugin}
    finally:
        sys.path.remove(str(FIXTURES))


class _NoTargets:
    """A plugin without a reuse-target hook: --all leaves it out."""

    __name__ = "no_targets"


@pytest.fixture
def manager(fixture_modules: dict[str, types.ModuleType]) -> PluginManager:
    """The registry's manager with two fixture plugins and one that registers no target."""
    pm = PluginManager(trace=False)
    pm.register(fixture_modules["core"], name="core_fixture")
    pm.register(fixture_modules["own"], name="own_fixture")
    pm.register(_NoTargets(), name="no_targets")
    return pm


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tinytorch report reuse")
    configure(parser)
    return parser.parse_args([*argv, "--repeats", "1"])


def test_single_plugin_json_has_the_documented_stable_layout(
    manager: PluginManager, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(_args("--plugin", "own_fixture", "--format", "json"), manager=manager) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["plugin", "requires", "headline", "metrics", "components"]
    assert data["plugin"] == "own_fixture" and data["requires"] == []
    assert list(data["headline"]) == ["metric", "reused_percent", "percent_by_owner"]
    assert data["headline"]["metric"] == HEADLINE_METRIC
    assert [m["name"] for m in data["metrics"]] == list(DEFINITIONS)
    for m in data["metrics"]:
        assert list(m) == ["name", "unit", "definition", "reused_percent", "by_owner", "percent_by_owner"]
        assert m["definition"] == DEFINITIONS[m["name"]]
        assert list(m["by_owner"]) == ["core", "own_fixture"] == list(m["percent_by_owner"])
        total = m["by_owner"]["core"] + m["by_owner"]["own_fixture"]
        assert m["reused_percent"] == pytest.approx(100 * m["by_owner"]["core"] / total if total else 0.0, abs=0.05)
    for c in data["components"]:
        assert list(c) == ["name", "owner", "kind", "count"]
    owners = [c["owner"] for c in data["components"]]
    assert owners == sorted(owners, key=["own_fixture", "core"].index)  # its own first


def test_all_covers_every_plugin_with_a_target(manager: PluginManager, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(_args("--all", "--format", "json"), manager=manager) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["plugin"] for r in data] == ["core_fixture", "own_fixture"]
    by_name = {r["plugin"]: r["headline"]["reused_percent"] for r in data}
    assert by_name["core_fixture"] == 100.0 > by_name["own_fixture"]


def test_unknown_plugin_lists_the_available_ones(manager: PluginManager, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(_args("--plugin", "core_fixtur"), manager=manager) == 1
    err = capsys.readouterr().err
    assert "no plugin named 'core_fixtur'" in err and "did you mean 'core_fixture'" in err
    assert "plugins with a reuse target: core_fixture, own_fixture" in err
    assert run(_args("--plugin", "no_targets"), manager=manager) == 1
    assert "'no_targets' registers no reuse target" in capsys.readouterr().err


def test_output_is_written_atomically(manager: PluginManager, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reuse.md"
    out.write_text("old", encoding="utf-8")
    assert run(_args("--plugin", "core_fixture", "--format", "markdown", "--output", str(out)), manager=manager) == 0
    assert capsys.readouterr().out == ""
    text = out.read_text(encoding="utf-8")
    assert text.startswith("**Headline** (runtime components (instances); share the plugin did not write")
    assert "- core_fixture: **100.0% reused (core 100.0%; own 0.0%)**" in text
    assert [p.name for p in tmp_path.iterdir()] == ["reuse.md"]  # no temporary file left behind
    missing = tmp_path / "nope" / "r.json"
    assert run(_args("--plugin", "core_fixture", "--format", "json", "--output", str(missing)), manager=manager) == 1
    assert "the folder" in capsys.readouterr().err and not missing.exists()


def test_write_atomic_leaves_the_old_file_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.json"
    target.write_text("old", encoding="utf-8")

    def boom(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("tinytorch_core.fileio.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_plugin_option_is_shared_with_the_cli_global_one(
    manager: PluginManager, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under ``tinytorch``, ``-p/--plugin`` already exists (enable a plugin): configure() reuses it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("-p", "--plugin", action="append", default=argparse.SUPPRESS)
    configure(parser)
    args = parser.parse_args(["-p", "no:other", "--plugin", "own_fixture", "-p", "core_fixture", "--repeats", "1",
                              "--format", "json"])
    assert run(args, manager=manager) == 0
    assert [r["plugin"] for r in json.loads(capsys.readouterr().out)] == ["own_fixture", "core_fixture"]
    args = parser.parse_args(["--plugin", "own_fixture", "--all", "--repeats", "1", "--format", "json"])
    assert run(args, manager=manager) == 0  # --all wins: every enabled plugin
    assert len(json.loads(capsys.readouterr().out)) == 2


@pytest.fixture(scope="module")
def two_reports(fixture_modules: dict[str, types.ModuleType]) -> list[ReuseReport]:
    return [measure(f"{n}_fixture", m, collect_targets(m, n), repeats=1) for n, m in sorted(fixture_modules.items())]


def test_markdown_is_one_table_with_a_column_per_plugin(two_reports: list[ReuseReport]) -> None:
    text = markdown(two_reports)
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert rows[0] == "| Metric | core_fixture | own_fixture | Definition |"
    assert len(rows) == 2 + len(DEFINITIONS)
    assert all(line.count(" | ") == rows[0].count(" | ") for line in rows[2:])  # no stray pipes in cells
    assert (f"| **{HEADLINE_METRIC}** | 100.0% reused (core 100.0%; own 0.0%) | 12.5% reused (core 12.5%; own 87.5%) |"
            in text)
    assert two_reports[1].to_markdown() == markdown([two_reports[1]])


def test_table_lists_the_top_plugin_defined_components(two_reports: list[ReuseReport]) -> None:
    own = two_reports[1]
    for text in (table([own]), _plain_table([own])):
        assert "Top components of own_fixture not from the core" in text
        assert "reuse_fixture_own.layers.OwnLinear" in text
        assert "runtime components (instances)" in text and "12.5" in text
    assert table([]) == "No plugin registers a reuse target.\n"
