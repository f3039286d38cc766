"""TinyTorch config files: ``tinytorch.toml`` or ``[tool.tinytorch]`` in ``pyproject.toml``.

Layout::

    [plugins]            # which plugins to load (all installed ones when absent)
    enable = ["language>=0.1"]
    disable = []
    strict = true        # false: a broken plugin is warned about and skipped
    local = ["my_plugin.py"]   # plugin modules by path (relative to this file) or dotted name

    [data]    name = "<dataset>",  other keys -> the dataset factory's kwargs
    [model]   name = "<model>",    other keys -> the model factory's kwargs
    [train]   optimizer, lr, steps, batch_size, ... (see TRAIN_KEYS)
    [output]  dir = "runs/<name>"

    [<plugin table>]     # declared by a plugin through ``tinytorch_add_config_schema``

Every key is checked: unknown keys get a did-you-mean naming the file and section, wrong value
types name the expected type.
"""

from __future__ import annotations

import inspect
import os
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.errors import ConfigError, did_you_mean, names_list
from registry.versions import Requirement, parse_requirement

TypeSpec = type | tuple[type, ...]

PLUGINS_KEYS: dict[str, TypeSpec] = {"enable": list, "disable": list, "strict": bool, "local": list}

#: The ``[train]`` keys and their types (``float`` keys also accept integers).
TRAIN_KEYS: dict[str, TypeSpec] = {
    "optimizer": str,
    "lr": float,
    "weight_decay": float,
    "betas": list,
    "eps": float,
    "momentum": float,
    "nesterov": bool,
    "steps": int,
    "epochs": int,
    "batch_size": int,
    "eval_every": int,
    "eval_batches": int,
    "grad_clip": float,
    "grad_accum_steps": int,
    "seed": int,
    "checkpoint_every": int,
    "warmup_steps": int,
    "cosine": bool,
    "min_lr": float,
    "callbacks": list,
    "progress": bool,
    "log_every": int,
    "shuffle": bool,
    "distributed": bool,
}

OUTPUT_KEYS: dict[str, TypeSpec] = {"dir": str}

#: Sections the registry itself understands; plugins add theirs through the config schema hook.
BUILTIN_SECTIONS: tuple[str, ...] = ("plugins", "data", "model", "train", "output")


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass
class PluginSettings:
    """The ``[plugins]`` table, parsed; ``enable is None`` means "every installed plugin"."""

    enable: list[Requirement] | None = None
    disable: list[str] = field(default_factory=list)
    strict: bool = True
    local: list[str] = field(default_factory=list)


@dataclass
class Config:
    """A parsed config: the TinyTorch table, the file it came from and the table prefix in that file."""

    data: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    prefix: str = ""

    @property
    def name(self) -> str:
        """The file name shown in messages (``<no config file>`` when there is none)."""
        return display_path(self.path) if self.path is not None else "<no config file>"

    def where(self, section: str, key: str | None = None) -> str:
        """Where a setting lives, for messages: ``"tinytorch.toml [plugins] enable"``."""
        text = f"{self.name} [{self.prefix}{section}]"
        return f"{text} {key}" if key is not None else text

    def section(self, name: str) -> dict[str, Any]:
        """The table ``[name]`` (empty when absent)."""
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{self.where(name)} must be a table, got {type(value).__name__}")
        return value

    def base_dir(self) -> Path:
        """The directory relative paths in the config are resolved against."""
        return self.path.parent if self.path is not None else Path.cwd()

    def plugin_settings(self) -> PluginSettings:
        """Parse and check ``[plugins]``."""
        table = self.section("plugins")
        check_keys(table, PLUGINS_KEYS, self.where("plugins"))
        settings = PluginSettings(strict=bool(table.get("strict", True)))
        if "enable" in table:
            settings.enable = [
                parse_requirement(_string(item, self.where("plugins", "enable")), where=self.where("plugins", "enable"))
                for item in table["enable"]
            ]
        settings.disable = [_string(item, self.where("plugins", "disable")) for item in table.get("disable", [])]
        settings.local = [_string(item, self.where("plugins", "local")) for item in table.get("local", [])]
        return settings


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a list of strings, found {value!r} ({type(value).__name__})")
    return value


def type_name(expected: TypeSpec) -> str:
    """``int``, or ``float or int`` for a tuple."""
    if isinstance(expected, tuple):
        return " or ".join(t.__name__ for t in expected)
    return expected.__name__


def check_type(value: object, expected: TypeSpec, where: str) -> None:
    """Raise a :class:`ConfigError` naming ``where`` when ``value`` is not of the expected type.

    ``bool`` is not accepted as a number, and integers are accepted where a float is expected
    (TOML writes ``lr = 1`` as an integer).
    """
    types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in types:
        ok = False
    elif float in types and isinstance(value, int):
        ok = True
    else:
        ok = isinstance(value, types)
    if not ok:
        raise ConfigError(
            f"{where} must be {type_name(expected)}, got {value!r} ({type(value).__name__})"
        )


def check_keys(table: Mapping[str, Any], keys: Mapping[str, TypeSpec], where: str) -> None:
    """Every key of ``table`` is known (did-you-mean otherwise) and of the declared type."""
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(
                f"unknown key {key!r} in {where}{did_you_mean(key, keys)}; known keys: {names_list(keys)}"
            )
        check_type(value, keys[key], f"{where} {key}")


def check_kwargs(factory: Callable[..., Any], kwargs: Mapping[str, Any], where: str, what: str) -> None:
    """Every key of ``kwargs`` is a parameter of ``factory`` (unless it takes ``**kwargs``)."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: let the call report it
        return
    params = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in kwargs:
        if key not in accepted:
            raise ConfigError(
                f"unknown key {key!r} in {where}{did_you_mean(key, accepted)}: {what} accepts {names_list(accepted)}"
            )


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read ``tinytorch.toml`` (any name) or a ``pyproject.toml`` (its ``[tool.tinytorch]`` table)."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file not found: {file} (give the path to a .toml file)")
    try:
        with file.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{display_path(file)} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{display_path(file)} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset"
                          f" {exc.start}); TOML files must be UTF-8: re-save it as UTF-8") from exc
    if file.name == "pyproject.toml":
        tool = document.get("tool", {})
        table = tool.get("tinytorch", {}) if isinstance(tool, dict) else {}
        if not isinstance(table, dict):
            raise ConfigError(f"{display_path(file)} [tool.tinytorch] must be a table")
        return Config(data=table, path=file, prefix="tool.tinytorch.")
    return Config(data=document, path=file)


def find_config(directory: str | os.PathLike[str] | None = None) -> Config:
    """The config for ``directory`` (default: cwd): ``tinytorch.toml``, else ``pyproject.toml``'s
    ``[tool.tinytorch]``, else an empty config."""
    base = Path(directory) if directory is not None else Path.cwd()
    if (base / "tinytorch.toml").is_file():
        return load_config(base / "tinytorch.toml")
    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        config = load_config(pyproject)
        if config.data:
            return config
    return Config()


def parse_value(text: str) -> Any:
    """A ``--set`` value: parsed as a TOML value (``30``, ``1e-3``, ``true``, ``[1, 2]``, ``"x"``),
    falling back to the plain string (so ``--set model.name=tinygpt`` works unquoted)."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(config: Config, assignments: Sequence[str]) -> Config:
    """A copy of ``config`` with ``section.key=value`` assignments applied (from ``--set``)."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in config.data.items()}
    for assignment in assignments:
        target, sep, raw = assignment.partition("=")
        section, dot, key = target.strip().partition(".")
        if not sep or not dot or not section or not key:
            raise ConfigError(
                f"--set {assignment!r}: expected section.key=value, e.g. --set train.steps=30"
            )
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"--set {assignment!r}: [{section}] is not a table in {config.name}")
        table[key] = parse_value(raw.strip())
    return Config(data=data, path=config.path, prefix=config.prefix)


@dataclass(frozen=True)
class SchemaSection:
    """A plugin's config table: its keys' types, a description and the plugin that declared it."""

    name: str
    keys: Mapping[str, TypeSpec]
    description: str
    plugin: str


class ConfigSchemaRegistry:
    """The sections plugins declare through ``tinytorch_add_config_schema``."""

    def __init__(self) -> None:
        self.sections: dict[str, SchemaSection] = {}

    def bind(self, plugin: str) -> BoundSchema:
        """The object handed to one plugin's hook, so each section knows its plugin."""
        return BoundSchema(self, plugin)

    def remove_plugin(self, plugin: str) -> None:
        """Forget the sections ``plugin`` declared."""
        for name in [n for n, s in self.sections.items() if s.plugin == plugin]:
            del self.sections[name]


class BoundSchema:
    """Implements ``tinytorch_core.hookspecs.ConfigSchema`` for one plugin."""

    def __init__(self, schema: ConfigSchemaRegistry, plugin: str) -> None:
        self._schema = schema
        self._plugin = plugin

    def add_section(self, name: str, keys: Mapping[str, TypeSpec], description: str = "") -> None:
        """Declare ``[name]`` with ``keys`` (key -> type or tuple of types)."""
        if name in BUILTIN_SECTIONS:
            raise ConfigError(f"plugin {self._plugin!r} cannot declare config section [{name}]: it is built in")
        existing = self._schema.sections.get(name)
        if existing is not None and existing.plugin != self._plugin:
            raise ConfigError(
                f"config section [{name}] is declared by both plugin {existing.plugin!r} and plugin {self._plugin!r}"
            )
        for key, expected in keys.items():
            types = expected if isinstance(expected, tuple) else (expected,)
            if not all(isinstance(t, type) for t in types):
                raise ConfigError(f"plugin {self._plugin!r}, config section [{name}] key {key!r}: type must be a type, got {expected!r}")
        self._schema.sections[name] = SchemaSection(name, dict(keys), description, self._plugin)


def validate_config(config: Config, schema: ConfigSchemaRegistry, skip: Collection[str] = ()) -> None:
    """Check the top-level sections and the keys of ``[plugins]``, ``[train]``, ``[output]`` and
    every plugin-declared section. ``[data]``/``[model]`` kwargs are checked against the selected
    factory when training (see ``registry.train``). Tables named in ``skip`` (plugins that are enabled
    but did not load, whose failure is reported on its own) are not "unknown sections"."""
    known = list(BUILTIN_SECTIONS) + sorted(schema.sections)
    for name, value in config.data.items():
        if name not in known and name in skip:
            continue
        if name not in known:
            raise ConfigError(
                f"unknown section [{config.prefix}{name}] in {config.name}{did_you_mean(name, known)};"
                f" known sections: {', '.join(known)} (plugin sections exist only while their plugin is enabled)"
            )
        if not isinstance(value, dict):
            raise ConfigError(f"{config.where(name)} must be a table, got {type(value).__name__}")
    config.plugin_settings()
    check_keys(config.section("train"), TRAIN_KEYS, config.where("train"))
    check_keys(config.section("output"), OUTPUT_KEYS, config.where("output"))
    for section in ("data", "model"):
        table = config.section(section)
        if table and "name" not in table:
            raise ConfigError(f"{config.where(section)} needs name = \"<registered {section} name>\"")
        if "name" in table:
            check_type(table["name"], str, config.where(section, "name"))
    for name, spec in schema.sections.items():
        check_keys(config.section(name), spec.keys, config.where(name) + f" (declared by plugin {spec.plugin!r})")
