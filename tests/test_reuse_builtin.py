"""The reuse report on the installed built-in plugins: `--all --format json` covers vision and language."""

from __future__ import annotations

import argparse
import json

import pytest

from registry.manager import PluginManager
from registry.reuse import DEFINITIONS
from registry.reuse_cli import configure, run


def test_all_json_covers_the_builtin_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    manager = PluginManager(trace=False)
    manager.load(raise_on_failure=False, warn=False)
    parser = argparse.ArgumentParser()
    configure(parser)
    rc = run(parser.parse_args(["--all", "--format", "json", "--repeats", "1"]), manager=manager)
    captured = capsys.readouterr()
    reports = {r["plugin"]: r for r in json.loads(captured.out)}
    assert {"vision", "language"} <= set(reports), captured.err
    assert rc == 0, captured.err
    for name in ("vision", "language"):
        report = reports[name]
        assert [m["name"] for m in report["metrics"]] == list(DEFINITIONS)
        assert 0.0 < report["headline"]["reused_percent"] < 100.0  # each adds its own modules/ops to the core's
        own = [c for c in report["components"] if c["owner"] == name]
        assert own and all(c["name"].startswith(f"plugins.{name}.") for c in own)
        params = next(m for m in report["metrics"] if m["name"] == "parameters")
        assert params["by_owner"]["core"] + params["by_owner"][name] > 0
