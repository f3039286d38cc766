"""Plugins that build on plugins: ``tinytorch_requires``, load order, cycles, unmet requirements
(strict and lenient), the ``Components`` lookup and ``plugin:name`` in configs."""

from __future__ import annotations

import inspect
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.cli import main
from registry.config import Config, check_kwargs, load_config
from registry.dependencies import dependency_order, read_requires
from registry.discovery import InstalledPlugin, discover
from registry.errors import ComponentNotFoundError, ConfigError, DependencyError, UndeclaredPluginError
from registry.manager import PluginManager
from registry.testing import fake_installed, isolated_manager
from fake_plugins import NEEDS_VISION, Make, plugin_maker

BASE = '''
from tinytorch_core import nn
from tinytorch_core.hookspecs import hookimpl


def mlp(num_classes=3, hidden=8):
    return nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


@hookimpl
def tinytorch_register_models(register):
    register("mlp", mlp, description="a small MLP")
'''

# "aaa" sorts before "zzz": loading it first would fail its registration-time lookup.
TOP = '''
from tinytorch_core.hookspecs import hookimpl

tinytorch_requires = ("zzz",)
SEEN = []


def stacked(components, num_classes=3):
    return components.get("models", "zzz:mlp")(num_classes=num_classes)


@hookimpl
def tinytorch_register_models(register, components):
    SEEN.append(components.names("models"))
    register("stacked", stacked, description="built from zzz's mlp")
'''


@pytest.fixture
def make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Make]:
    with plugin_maker(tmp_path, monkeypatch, prefix="fake_dep_plugin", version="1.0.0", default_source=BASE) as maker:
        yield maker


def load(plugins: list[InstalledPlugin], config: Config | None = None, **kwargs: object) -> PluginManager:
    manager = PluginManager(trace=False)
    with fake_installed(plugins):
        manager.load(config, env={}, **kwargs)  # type: ignore[arg-type]
    return manager


def vision() -> InstalledPlugin:
    found = [p for p in discover() if p.name == "vision"]
    if not found:
        pytest.skip("the built-in vision plugin is not installed (pip install -e .)")
    return found[0]


def test_required_plugins_load_first_and_factories_get_the_lookup(make: Make) -> None:
    manager = load([make("aaa", TOP), make("zzz")])
    assert [i.status for i in manager.iter_plugins()] == ["enabled", "enabled"]
    # the registration hook ran after zzz's: zzz:mlp was already reachable
    assert manager.plugins["aaa"].plugin.SEEN == [["zzz:mlp"]]  # type: ignore[attr-defined]
    factory = manager.get("models", "stacked").obj
    assert "components" not in inspect.signature(factory).parameters  # configs cannot set it
    model = factory(num_classes=5)
    assert [p.data.shape for p in model.parameters()][-1] == (5,)
    assert manager.plugins["aaa"].requires == ["zzz"] and manager.required_by("zzz") == ["aaa"]


def test_a_cycle_is_refused_in_one_line_naming_it(make: Make) -> None:
    a = make("a", 'tinytorch_requires = ("b",)\n')
    b = make("b", 'tinytorch_requires = ("a",)\n')
    with pytest.raises(DependencyError) as info:
        load([a, b])
    message = str(info.value)
    assert "\n" not in message and "cycle: a -> b -> a" in message and "fix:" in message
    lenient = load([a, b], strict=False)
    assert {i.status for i in lenient.iter_plugins()} == {"failed"}  # a broken declaration is not a mere "disabled"


def test_dependency_order_is_deterministic_and_finds_every_cycle() -> None:
    order, cycles = dependency_order({"c": ["b"], "b": ["a"], "a": [], "x": ["y"], "y": ["x"], "d": ["outside"]})
    assert order.index("a") < order.index("b") < order.index("c") and "d" in order
    assert cycles["x"] == ["x", "y", "x"] and set(cycles) == {"x", "y"}


def test_vision_disabled_strict_fails_in_one_line_naming_both_and_the_fix(
    make: Make, capsys: pytest.CaptureFixture[str]
) -> None:
    plugins = [vision(), make("captioner", NEEDS_VISION)]
    with fake_installed(plugins):
        code = main(["-p", "no:vision", "components"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1, err
    assert "plugin 'captioner'" in err and "requires plugin 'vision'" in err
    assert "disabled by command line -p no:vision" in err and "fix: enable 'vision'" in err and "-p no:captioner" in err


def test_vision_disabled_lenient_lists_the_dependent_as_disabled_because_of_vision(
    make: Make, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugins = [vision(), make("captioner", NEEDS_VISION)]
    (tmp_path / "tinytorch.toml").write_text("[plugins]\nstrict = false\n")
    with fake_installed(plugins):
        assert main(["-p", "no:vision", "plugins"]) == 0
        table = capsys.readouterr().out
        assert main(["-p", "no:vision", "plugins", "--format", "json"]) == 0
        payload = json.loads(capsys.readouterr().out)
    assert "captioner: disabled: requires vision (vision is disabled by command line -p no:vision)" in table
    rows = {p["name"]: p for p in payload["plugins"]}
    assert rows["captioner"]["status"] == "disabled" and rows["captioner"]["requires"] == ["vision"]
    assert rows["captioner"]["reason"].startswith("requires vision")
    with fake_installed(plugins):  # enabled again, vision shows who requires it
        assert main(["plugins", "--format", "json"]) == 0
    rows = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert rows["captioner"]["status"] == "enabled" and rows["vision"]["required_by"] == ["captioner"]


def test_the_table_shows_requires_and_required_by(make: Make, capsys: pytest.CaptureFixture[str]) -> None:
    with fake_installed([make("aaa", TOP), make("zzz")]):
        assert main(["plugins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "REQUIRES" in lines[0] and "REQUIRED BY" in lines[0]
    aaa = next(line for line in lines if line.startswith("aaa "))
    zzz = next(line for line in lines if line.startswith("zzz "))
    assert " zzz " in aaa and " aaa " in zzz


def test_a_real_vision_component_is_built_through_the_lookup(make: Make) -> None:
    manager = load([vision(), make("captioner", NEEDS_VISION)])
    model = manager.get("models", "captioner:tagger").obj(num_classes=3)
    assert sum(p.data.size for p in model.parameters()) > 0
    assert manager.plugins["captioner"].plugin.SEEN[0] is manager.get("modules", "conv2d").obj  # type: ignore[attr-defined]


def test_an_undeclared_plugin_is_unreachable_and_the_error_names_the_declaration(make: Make) -> None:
    sneaky = make("sneaky", TOP.replace('tinytorch_requires = ("zzz",)', "tinytorch_requires = ()"))
    manager = load([sneaky, make("zzz")])
    assert manager.plugins["sneaky"].plugin.SEEN == [[]]  # type: ignore[attr-defined]  # names() shows only its own
    with pytest.raises(UndeclaredPluginError) as info:
        manager.get("models", "stacked").obj()
    message = str(info.value)
    assert "plugin 'sneaky' looked up models 'zzz:mlp' of plugin 'zzz', which it does not declare" in message
    assert "fix: add 'zzz' to tinytorch_requires" in message
    manager = load([make("zzz")])
    lookup = manager.lookup_for("zzz")
    assert lookup.get("model", "mlp") is manager.get("models", "mlp").obj  # its own, bare name
    with pytest.raises(ComponentNotFoundError, match="no model named 'nope'"):
        lookup.get("models", "zzz:nope")


@pytest.mark.parametrize("requires, expected", [
    ("tinytorch_requires = ('missing',)\n", "requires plugin 'missing', which is not installed; fix: pip install"),
    ("tinytorch_requires = ('zzz>=2',)\n", "which is version 1.0.0, which does not satisfy zzz>=2"),
    ("tinytorch_requires = 'zzz'\n", "tinytorch_requires must be a tuple of plugin names"),
    ("tinytorch_requires = ('own',)\n", "names the plugin itself"),
])
def test_unmet_or_malformed_requirements(make: Make, requires: str, expected: str) -> None:
    with pytest.raises(DependencyError, match=None) as info:
        load([make("own", requires), make("zzz")])
    assert expected in str(info.value) and "plugin 'own'" in str(info.value)


def test_a_broken_requirement_reports_the_root_cause_first(make: Make) -> None:
    plugins = [make("aaa", TOP), make("zzz", "import not_a_module_qq\n")]
    with pytest.raises(Exception, match="plugin 'zzz'.*failed to import"):
        load(plugins)
    lenient = load(plugins, strict=False, warn=False)
    assert lenient.plugins["aaa"].status == "disabled"
    assert lenient.plugins["aaa"].reason == "requires zzz (zzz failed to load (its own error is reported too))"
    assert any("plugin 'aaa' is disabled: requires zzz" in w for w in lenient.warnings)


def test_register_directly_checks_requirements(make: Make) -> None:
    import importlib

    manager = isolated_manager()
    top = importlib.import_module(make("aaa", TOP).target)
    with pytest.raises(DependencyError, match="requires plugin 'zzz', which is not installed"):
        manager.register(top, name="aaa")
    assert "aaa" not in manager.plugins
    manager.register(importlib.import_module(make("zzz").target), name="zzz")
    manager.register(top, name="aaa")
    assert manager.get("models", "aaa:stacked").plugin == "aaa"


def test_configs_name_components_as_plugin_colon_name(make: Make, tmp_path: Path) -> None:
    manager = load([make("aaa", TOP), make("zzz")])
    assert manager.get("models", "zzz:mlp").plugin == "zzz"
    with pytest.raises(ComponentNotFoundError, match="no model 'mlp' is registered by plugin 'aaa'.*use zzz:mlp"):
        manager.get("models", "aaa:mlp")
    path = tmp_path / "run.toml"
    path.write_text(textwrap.dedent("""\
        [model]
        name = "aaa:stacked"
        num_classes = 2
        components = 1
        """))
    component = manager.get("models", load_config(path).section("model")["name"])
    with pytest.raises(ConfigError, match="unknown key 'components'"):
        check_kwargs(component.obj, {"num_classes": 2, "components": 1}, "run.toml [model]", "model")


def test_read_requires_accepts_version_specifiers() -> None:
    class Plugin:
        tinytorch_requires = ("vision", "language>=0.1")

    assert [str(r) for r in read_requires(Plugin(), "captioning")] == ["vision", "language>=0.1"]
    assert read_requires(object(), "plain") == ()


def test_the_reuse_report_attributes_components_to_the_plugins_a_plugin_builds_on(make: Make) -> None:
    from registry.reuse import HEADLINE_METRIC, report_for, scan_plugins

    manager = load([vision(), make("captioner", NEEDS_VISION)])
    report = report_for("captioner", scan_plugins(manager), repeats=1)
    assert report.requires == ["vision"] and report.owners == ["core", "vision", "captioner"]
    head = report.headline
    assert head.name == HEADLINE_METRIC
    assert head.share("core") > 0 and head.share("vision") > 0 and head.share("captioner") > 0
    assert head.percent == pytest.approx(100 - head.share("captioner"), abs=0.11)  # reused = not written by it
    owners = {c.name: c.owner for c in report.components}
    assert owners["plugins.vision.layers.Conv2d"] == "vision"
    assert next(o for n, o in owners.items() if n.endswith(".Scaled")) == "captioner"
    assert any(o == "core" for o in owners.values())
    params = report.metric("parameters")
    assert params.by_owner["captioner"] == 1 and params.by_owner["vision"] > 0
    data = report.to_dict()
    assert list(data["headline"]["percent_by_owner"]) == ["core", "vision", "captioner"]
    assert all(c["owner"] in ("core", "vision", "captioner") for c in data["components"])
