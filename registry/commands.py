"""The built-in ``tinytorch`` commands: a plugin inside the registry, registered through the same
``tinytorch_register_commands`` hook and ``cli.add_command`` calls as any plugin's commands (as llm
registers its built-ins), so the CLI builds every subcommand in one loop.

A command's ``run(args)`` finds the invocation's plugin manager, config and parser on
``args.tinytorch`` (a :class:`Invocation`). Only argparse loads at import time (start-up budget).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from registry.cli import EXIT_USER_ERROR
from tinytorch_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from registry.config import Config
    from registry.manager import PluginManager

@dataclass
class Invocation:
    """What a built-in command needs beyond its parsed arguments."""

    manager: PluginManager
    config: Config
    parser: argparse.ArgumentParser
    problems: list[str] = field(default_factory=list)


def _invocation(args: argparse.Namespace) -> Invocation:
    found: Invocation = args.tinytorch
    return found


# ---------------------------------------------------------------------- plugins
def _plugins_arguments(parser: argparse.ArgumentParser, cli: BuiltinCommands) -> None:
    parser.add_argument("--format", choices=("table", "json"), default="table")
    sub = parser.add_subparsers(dest="plugins_command", metavar="{check}")
    check = sub.add_parser("check", parents=[cli.common], help="run the conformance kit on an installed plugin")
    check.add_argument("name", help="the plugin's entry-point name")


def _plugins(args: argparse.Namespace) -> int:
    run = _invocation(args)
    if args.plugins_command == "check":
        from registry.conformance import check_plugin

        failures = check_plugin(args.name)
        if not failures:
            print(f"plugin {args.name!r} conforms: all checks passed")
            return 0
        print(f"plugin {args.name!r} does not conform ({len(failures)} failure{'s' if len(failures) != 1 else ''}):")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    from registry.listing import plugins_json, plugins_table

    print(plugins_json(run.manager) if args.format == "json" else plugins_table(run.manager))
    status = 1 if run.manager.failures() and run.manager.strict else 0
    return status or (1 if run.problems else 0)


# ---------------------------------------------------------------------- components
def _components_arguments(parser: argparse.ArgumentParser, cli: BuiltinCommands) -> None:
    parser.add_argument("--kind", help="only this kind (models, datasets, modules, tokenizers, ...)")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def _components(args: argparse.Namespace) -> int:
    from registry.listing import components_json, components_table

    components = _invocation(args).manager.list(args.kind)
    print(components_json(components) if args.format == "json" else components_table(components))
    return 0


# ---------------------------------------------------------------------- train
def _train_arguments(parser: argparse.ArgumentParser, cli: BuiltinCommands) -> None:
    parser.add_argument("config", help="the config file ([data], [model], [train], [output], [plugins])")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value (TOML syntax; repeatable), e.g. --set train.steps=30")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue from RUN_DIR/checkpoints/last.safetensors")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run already in the run directory (default: a non-empty run directory is"
                        " left alone and this run writes to a numbered directory beside it, e.g. runs/x-2)")
    parser.add_argument("--no-progress", action="store_true", help="print log lines instead of a progress bar")


def _train(args: argparse.Namespace) -> int:
    from registry.train import run_train

    run = _invocation(args)
    return run_train(args, run.manager, run.config)


# ---------------------------------------------------------------------- new-plugin
def _new_plugin_arguments(parser: argparse.ArgumentParser, cli: BuiltinCommands) -> None:
    parser.add_argument("name", help="the plugin name (a Python identifier, e.g. audio)")
    parser.add_argument("--dir", default=None, help="parent directory (default: current directory)")


def _new_plugin(args: argparse.Namespace) -> int:
    from registry.scaffold import scaffold_plugin

    target = scaffold_plugin(args.name, args.dir)
    print(f"created plugin package {target}")
    print(f"next: pip install -e {target} && pytest {target}")
    return 0


# ---------------------------------------------------------------------- report
def _report_arguments(parser: argparse.ArgumentParser, cli: BuiltinCommands) -> None:
    sub = parser.add_subparsers(dest="report_command", metavar="{reuse}")
    reuse = sub.add_parser("reuse", parents=[cli.common], help="how much of each plugin is core code")
    if cli.running != "report":  # the reuse options import the report's code: only when `report` runs
        return
    try:
        from registry import reuse_cli
    except ImportError:
        reuse.set_defaults(_reuse_missing=True)
        return
    reuse_cli.configure(reuse)


def _report(args: argparse.Namespace) -> int:
    run = _invocation(args)
    if args.report_command != "reuse":
        run.parser.parse_args(["report", "--help"])
        return EXIT_USER_ERROR
    if getattr(args, "_reuse_missing", False):
        print("tinytorch: error: reuse report not available (registry.reuse_cli is missing)", file=sys.stderr)
        return 1
    from registry import reuse_cli

    args.plugin_manager = run.manager  # the plugins this invocation loaded (config, -p flags) are the ones measured
    return int(reuse_cli.run(args))


#: The one list of built-in commands: name, run(args), help, arguments(parser, cli).
BUILTINS: tuple[tuple[str, Callable[[argparse.Namespace], int], str, Callable[..., None]], ...] = (
    ("plugins", _plugins, "list plugins: version, source, status, hooks, what they register", _plugins_arguments),
    ("components", _components, "list registered components and their plugins", _components_arguments),
    ("train", _train, "train from a TOML config", _train_arguments),
    ("new-plugin", _new_plugin, "scaffold a pip-installable plugin package", _new_plugin_arguments),
    ("report", _report, "reports (reuse: how much of the core a plugin reuses)", _report_arguments),
)

#: Names plugins cannot take: the built-in commands, and ``help``.
RESERVED_COMMANDS: frozenset[str] = frozenset({name for name, *_ in BUILTINS} | {"help"})


class BuiltinCommands:
    """The ``CommandRegistry`` the CLI hands the built-in plugin: collects ``(name, run, help, arguments)``.

    ``running`` is the command this invocation runs (None for ``--help``); ``common`` holds the
    options every subcommand shares, for nested subparsers.
    """

    def __init__(self, running: str | None, common: argparse.ArgumentParser) -> None:
        self.running = running
        self.common = common
        self.commands: list[tuple[str, Callable[..., Any], str, Callable[..., Any] | None]] = []

    def add_command(self, name: str, run: Callable[..., Any], *, help: str,
                    arguments: Callable[..., Any] | None = None) -> None:
        self.commands.append((name, run, help, arguments))


@hookimpl
def tinytorch_register_commands(cli: BuiltinCommands) -> None:
    """Register the built-in commands, as a plugin's hookimpl does."""
    for name, run, help, arguments in BUILTINS:
        cli.add_command(name, run, help=help, arguments=functools.partial(arguments, cli=cli))
