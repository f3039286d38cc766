"""Plugin manager: discovery, selection, validation, component registry and the broken-plugin errors."""

from __future__ import annotations

import itertools
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from registry.config import Config, load_config
from registry.discovery import InstalledPlugin
from registry.errors import (
    ComponentNotFoundError,
    ConfigError,
    DuplicateComponentError,
    HookValidationError,
    PluginImportError,
    PluginNotInstalledError,
    PluginVersionError,
    RegistrationError,
)
from registry.manager import PluginManager, PluginSkippedWarning
from registry.testing import fake_installed, isolated_manager, registered_plugin

_counter = itertools.count()

GOOD = '''
from tinytorch_core.hookspecs import hookimpl

@hookimpl
def tinytorch_register_modalities(register):
    register("{name}", "a test modality")

@hookimpl
def tinytorch_register_models(register):
    register("{name}_model", lambda: None, description="a model", sample_kwargs={{}})
'''

MakePlugin = Callable[..., InstalledPlugin]


@pytest.fixture(autouse=True)
def in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Config paths in messages are shown relative to the working directory."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def make_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakePlugin]:
    """Write a plugin module and describe it as installed from distribution ``tinytorch-<name>``."""
    monkeypatch.syspath_prepend(str(tmp_path))
    created: list[str] = []

    def make(name: str, source: str = GOOD, version: str = "1.2.0", dist: str | None = None) -> InstalledPlugin:
        module = f"fake_tt_plugin_{name}_{next(_counter)}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source.format(name=name)))
        created.append(module)
        return InstalledPlugin(name, module, dist or f"tinytorch-{name}", version)

    yield make
    for module in created:
        sys.modules.pop(module, None)


def load(plugins: list[InstalledPlugin], config: Config | None = None, **kwargs: object) -> PluginManager:
    manager = PluginManager(trace=False)
    with fake_installed(plugins):
        manager.load(config, env=kwargs.pop("env", {}), **kwargs)  # type: ignore[arg-type]
    return manager


def write_config(tmp_path: Path, text: str, name: str = "tinytorch.toml") -> Config:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_config(path)


# --------------------------------------------------------------------------- loading
def test_good_plugins_register_components_attributed_to_their_plugin(make_plugin: MakePlugin) -> None:
    manager = load([make_plugin("alpha"), make_plugin("beta")])
    component = manager.get("models", "alpha_model")
    assert component.plugin == "alpha" and component.description == "a model"
    assert component.meta == {"sample_kwargs": {}}
    assert [c.name for c in manager.list("modalities")] == ["alpha", "beta"]
    assert manager.get("modality", "beta").obj == "a test modality"  # singular kind accepted
    info = manager.plugins["alpha"]
    assert info.status == "enabled" and info.source == "third-party"
    assert info.distribution == "tinytorch-alpha" and info.version == "1.2.0"
    assert info.hooks == ["tinytorch_register_modalities", "tinytorch_register_models"]
    assert info.counts == {"modalities": 1, "models": 1}


def test_builtin_source_is_the_tinytorch_numpy_distribution(make_plugin: MakePlugin) -> None:
    manager = load([make_plugin("core_thing", dist="tinytorch-numpy")])
    assert manager.plugins["core_thing"].source == "builtin"


def test_unknown_component_suggests_and_lists(make_plugin: MakePlugin) -> None:
    manager = load([make_plugin("alpha")])
    with pytest.raises(ComponentNotFoundError) as info:
        manager.get("models", "alpha_modle")
    message = str(info.value)
    assert "did you mean 'alpha_model'" in message and "available models: alpha_model" in message
    with pytest.raises(ConfigError, match="did you mean 'models'"):
        manager.get("modelz", "x")


def test_disabled_plugins_are_not_imported(make_plugin: MakePlugin, tmp_path: Path) -> None:
    alpha, beta = make_plugin("alpha"), make_plugin("beta")
    config = write_config(tmp_path, '[plugins]\nenable = ["alpha"]\n')
    manager = load([alpha, beta], config)
    assert beta.target not in sys.modules
    assert manager.plugins["beta"].status == "disabled"
    assert "tinytorch.toml [plugins] enable" in str(manager.plugins["beta"].enabled_by)
    assert manager.plugins["alpha"].enabled_by == "tinytorch.toml [plugins] enable"


# ------------------------------------------------------------------------- selection
def test_env_empty_means_no_plugins_and_overrides_config(make_plugin: MakePlugin, tmp_path: Path) -> None:
    plugins = [make_plugin("alpha"), make_plugin("beta")]
    config = write_config(tmp_path, '[plugins]\nenable = ["alpha"]\n')
    assert load(plugins, config, env={"TINYTORCH_PLUGINS": ""}).enabled() == []
    manager = load(plugins, config, env={"TINYTORCH_PLUGINS": "beta"})
    assert [p.name for p in manager.enabled()] == ["beta"]
    assert manager.plugins["beta"].enabled_by == "environment variable TINYTORCH_PLUGINS"


def test_cli_flags_enable_and_disable_last(make_plugin: MakePlugin, tmp_path: Path) -> None:
    plugins = [make_plugin("alpha"), make_plugin("beta")]
    config = write_config(tmp_path, '[plugins]\nenable = ["alpha"]\n')
    manager = load(plugins, config, cli_plugins=["beta", "no:alpha"])
    assert [p.name for p in manager.enabled()] == ["beta"]
    assert manager.plugins["alpha"].enabled_by == "command line -p no:alpha"


def test_disable_by_distribution_name(make_plugin: MakePlugin) -> None:
    # Entry-point name and distribution name differ; disabling must work with either (pytest-timer #9).
    manager = load([make_plugin("alpha"), make_plugin("beta")], cli_plugins=["no:tinytorch-alpha"])
    assert [p.name for p in manager.enabled()] == ["beta"]


def test_cli_disable_of_unknown_plugin_is_an_error_not_ignored(make_plugin: MakePlugin) -> None:
    with pytest.raises(ConfigError, match=r"-p no:alpah: no installed plugin named 'alpah'.*did you mean 'alpha'"):
        load([make_plugin("alpha")], cli_plugins=["no:alpah"])


def test_version_specifiers(make_plugin: MakePlugin, tmp_path: Path) -> None:
    alpha = make_plugin("alpha", version="1.2.0")
    ok = write_config(tmp_path, '[plugins]\nenable = ["alpha>=1.0,<2"]\n')
    assert load([alpha], ok).plugins["alpha"].status == "enabled"
    too_old = write_config(tmp_path, '[plugins]\nenable = ["alpha>=2.0"]\n')
    with pytest.raises(PluginVersionError) as info:
        load([alpha], too_old)
    message = str(info.value)
    assert "version 1.2.0 does not satisfy alpha>=2.0" in message
    assert "pip install -U 'tinytorch-alpha>=2.0'" in message and "tinytorch.toml [plugins] enable" in message


# ----------------------------------------------------------------- broken plugins
BROKEN_IMPORT = '''
import definitely_not_a_module_xyz
'''

MISSPELLED = '''
from tinytorch_core.hookspecs import hookimpl

@hookimpl
def tinytorch_register_model(register):
    register("x", object)
'''

BAD_ARGUMENT = '''
from tinytorch_core.hookspecs import hookimpl

@hookimpl
def tinytorch_register_models(regster):
    regster("x", object)
'''

DEFAULT_ARGUMENT = '''
from tinytorch_core.hookspecs import hookimpl

@hookimpl
def tinytorch_register_models(register=None):
    register("x", object)
'''

UNMARKED = '''
def tinytorch_register_models(register):
    register("x", object)
'''

RAISES = '''
from tinytorch_core.hookspecs import hookimpl

@hookimpl
def tinytorch_register_modalities(register):
    register("{name}", "registered before the failure")

@hookimpl
def tinytorch_register_models(register):
    raise RuntimeError("model zoo offline")
'''

DUPLICATE = '''
from tinytorch_core.hookspecs import hookimpl

@hookimpl
def tinytorch_register_models(register):
    register("alpha_model", object)
'''


def test_import_error_names_plugin_distribution_origin_and_fix(make_plugin: MakePlugin) -> None:
    with pytest.raises(PluginImportError) as info:
        load([make_plugin("alpha"), make_plugin("broken", BROKEN_IMPORT, version="0.3.1")])
    error = info.value
    message = str(error)
    assert "plugin 'broken' (distribution tinytorch-broken 0.3.1, enabled by default" in message
    assert "ModuleNotFoundError: No module named 'definitely_not_a_module_xyz'" in message
    assert "-p no:broken" in message and "\n" not in message
    assert isinstance(error.__cause__, ModuleNotFoundError)  # the original traceback is chained


def test_lenient_mode_skips_broken_plugin_and_keeps_the_others(make_plugin: MakePlugin, tmp_path: Path) -> None:
    config = write_config(tmp_path, "[plugins]\nstrict = false\n")
    plugins = [make_plugin("alpha"), make_plugin("broken", BROKEN_IMPORT)]
    with pytest.warns(PluginSkippedWarning, match="broken"):
        manager = load(plugins, config)
    assert manager.plugins["broken"].status == "failed"
    assert manager.get("models", "alpha_model").plugin == "alpha"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (MISSPELLED, "'tinytorch_register_model', which is not a tinytorch hook; fix: rename it to 'tinytorch_register_models'"),
        (BAD_ARGUMENT, "takes argument 'regster', which the hook does not provide (it provides: register, components); fix: rename the argument to 'register'"),
        (DEFAULT_ARGUMENT, "pluggy never passes arguments with defaults (pluggy #442); fix: remove the default from register"),
        (UNMARKED, "without the @hookimpl marker"),
    ],
    ids=["misspelled-hook", "argument-not-in-spec", "default-argument", "unmarked"],
)
def test_hook_validation_errors(make_plugin: MakePlugin, tmp_path: Path, source: str, expected: str) -> None:
    plugins = [make_plugin("alpha"), make_plugin("bad", source)]
    with pytest.raises(HookValidationError) as info:
        load(plugins)
    assert expected in str(info.value) and "plugin 'bad' (distribution tinytorch-bad" in str(info.value)
    lenient = load(plugins, write_config(tmp_path, "[plugins]\nstrict = false\n"), warn=False)
    assert lenient.plugins["bad"].status == "failed" and expected in str(lenient.plugins["bad"].reason)
    assert lenient.get("models", "alpha_model").plugin == "alpha"
    assert lenient.components.counts("bad") == {}
    assert not lenient.pm.has_plugin("bad")


def test_exception_in_registration_hook_rolls_back(make_plugin: MakePlugin, tmp_path: Path) -> None:
    plugins = [make_plugin("alpha"), make_plugin("flaky", RAISES)]
    with pytest.raises(RegistrationError) as info:
        load(plugins)
    assert "tinytorch_register_models raised RuntimeError: model zoo offline" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)
    lenient = load(plugins, write_config(tmp_path, "[plugins]\nstrict = false\n"), warn=False)
    assert [c.name for c in lenient.list("modalities")] == ["alpha"]  # flaky's modality rolled back


def test_duplicate_component_names_both_plugins(make_plugin: MakePlugin, tmp_path: Path) -> None:
    plugins = [make_plugin("alpha"), make_plugin("copycat", DUPLICATE)]
    with pytest.raises(DuplicateComponentError) as info:
        load(plugins)
    message = str(info.value)
    assert "plugin 'copycat'" in message and "already registered by plugin 'alpha'" in message
    assert "-p no:copycat or -p no:alpha" in message
    lenient = load(plugins, write_config(tmp_path, "[plugins]\nstrict = false\n"), warn=False)
    assert lenient.get("models", "alpha_model").plugin == "alpha"


def test_enabled_but_not_installed(make_plugin: MakePlugin, tmp_path: Path) -> None:
    config = write_config(tmp_path, '[plugins]\nenable = ["alpha", "audio"]\n')
    with pytest.raises(PluginNotInstalledError) as info:
        load([make_plugin("alpha"), make_plugin("beta")], config)
    message = str(info.value)
    assert "plugin 'audio' (enabled by tinytorch.toml [plugins] enable): is enabled but not installed" in message
    assert "pip install tinytorch-audio" in message and "installed plugins: alpha, beta" in message
    config = write_config(tmp_path, '[plugins]\nenable = ["alpha", "audio"]\nstrict = false\n')
    lenient = load([make_plugin("alpha")], config, warn=False)
    assert lenient.plugins["audio"].status == "failed" and lenient.plugins["alpha"].status == "enabled"


def test_invalid_config_key_did_you_mean_with_file_and_section(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[plugins]\nenabel = []\n")
    with pytest.raises(ConfigError, match=r"unknown key 'enabel' in tinytorch.toml \[plugins\] \(did you mean 'enable'\?\)"):
        load([], config)
    config = write_config(tmp_path, "[trian]\nsteps = 3\n")
    with pytest.raises(ConfigError, match=r"unknown section \[trian\] in tinytorch.toml \(did you mean 'train'\?\)"):
        load([], config)
    config = write_config(tmp_path, '[train]\nsteps = "many"\n')
    with pytest.raises(ConfigError, match=r"tinytorch.toml \[train\] steps must be int, got 'many' \(str\)"):
        load([], config)


def test_plugin_config_schema_validates_its_section(make_plugin: MakePlugin, tmp_path: Path) -> None:
    source = GOOD + '''
@hookimpl
def tinytorch_add_config_schema(schema):
    schema.add_section("{name}", {{"window": int, "scale": float}}, "sine settings")
'''
    plugin = make_plugin("alpha", source)
    good = write_config(tmp_path, "[alpha]\nwindow = 8\nscale = 2\n")
    manager = load([plugin], good)
    assert manager.schema.sections["alpha"].plugin == "alpha"
    typo = write_config(tmp_path, "[alpha]\nwindw = 8\n")
    with pytest.raises(ConfigError, match=r"unknown key 'windw' in tinytorch.toml \[alpha\] \(declared by plugin 'alpha'\).*did you mean 'window'"):
        load([plugin], typo)
    wrong = write_config(tmp_path, "[alpha]\nwindow = 1.5\n")
    with pytest.raises(ConfigError, match=r"\[alpha\] \(declared by plugin 'alpha'\) window must be int, got 1.5"):
        load([plugin], wrong)


def test_pyproject_tool_table_is_read(tmp_path: Path, make_plugin: MakePlugin) -> None:
    config = write_config(tmp_path, '[project]\nname="x"\n[tool.tinytorch.plugins]\nenable = ["beta"]\n', "pyproject.toml")
    manager = load([make_plugin("alpha"), make_plugin("beta")], config)
    assert [p.name for p in manager.enabled()] == ["beta"]
    assert manager.plugins["beta"].enabled_by == "pyproject.toml [tool.tinytorch.plugins] enable"


def test_local_plugin_from_config_path(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(textwrap.dedent(GOOD.format(name="mine")))
    config = write_config(tmp_path, '[plugins]\nlocal = ["mine.py"]\n')
    manager = load([], config)
    assert manager.plugins["mine"].source == "local"
    assert manager.get("models", "mine_model").plugin == "mine"


# ---------------------------------------------------------------- direct registration
class ClassPlugin:
    """A plugin written as a class instance."""

    from tinytorch_core.hookspecs import hookimpl

    @hookimpl
    def tinytorch_register_datasets(self, register: Callable[..., None]) -> None:
        register("numbers", lambda: None, sample_config={})


def test_registered_plugin_context_always_unregisters() -> None:
    manager = isolated_manager()
    with pytest.raises(RuntimeError):
        with registered_plugin(manager, ClassPlugin(), name="numbers_plugin"):
            assert manager.get("datasets", "numbers").plugin == "numbers_plugin"
            raise RuntimeError("test body failed")
    assert manager.list("datasets") == [] and "numbers_plugin" not in manager.plugins


def test_trace_prints_hook_calls(make_plugin: MakePlugin, capsys: pytest.CaptureFixture[str]) -> None:
    manager = PluginManager(trace=True)
    with fake_installed([make_plugin("alpha")]):
        manager.load(env={})
    manager.hook.tinytorch_on_step_end(trainer=None, step=3, loss=0.5)
    err = capsys.readouterr().err
    assert "[tinytorch trace] tinytorch_register_models(register=" in err and "-> alpha" in err
    assert "[tinytorch trace] tinytorch_on_step_end(trainer=None, step=3, loss=0.5) -> no plugin" in err


def test_env_variable_turns_tracing_on(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TINYTORCH_TRACE_PLUGINS", "1")
    PluginManager().hook.tinytorch_on_train_end(trainer=None, config={})
    assert "tinytorch_on_train_end" in capsys.readouterr().err


def test_module_level_get_and_list_use_the_default_manager(make_plugin: MakePlugin) -> None:
    import registry

    manager = load([make_plugin("alpha")])
    registry.set_default_manager(manager)
    try:
        assert registry.get("models", "alpha_model").plugin == "alpha"
        assert [c.name for c in registry.list("modalities")] == ["alpha"]
    finally:
        registry.set_default_manager(None)
