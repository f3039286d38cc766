"""The ``tinytorch`` command line.

Start-up is kept short: only ``argparse``/``os``/``sys`` load at import time; plugins are loaded
once (only the enabled ones) so their subcommands appear in ``--help``; each command's module is
imported when that command runs.

User mistakes (bad config, unknown plugin or component, bad arguments) print one ``tinytorch:
error:`` line on stderr and exit non-zero; ``--debug`` or ``TINYTORCH_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.config import Config
    from registry.manager import PluginManager

BUILTIN_COMMANDS = ("plugins", "components", "train", "new-plugin", "report")

#: Commands that must work even when a plugin is broken in strict mode.
ALWAYS_RUN = ("plugins", "new-plugin", None)

EXIT_USER_ERROR = 2


@dataclass
class Prescan:
    """What must be known before the full parser exists: which plugins and which config."""

    command: str | None = None
    plugin_flags: list[str] = field(default_factory=list)
    config_path: str | None = None
    train_config: str | None = None
    sets: list[str] = field(default_factory=list)
    debug: bool = False


def prescan(argv: Sequence[str]) -> Prescan:
    """Find ``-p``, ``--config``, ``--debug``, the command and (for ``train``) its config and ``--set``s."""
    scan = Prescan()
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if token == "--":
            break
        if token in ("-p", "--plugin") and following is not None:
            scan.plugin_flags.append(following)
            i += 2
            continue
        if token.startswith("--plugin="):
            scan.plugin_flags.append(token.split("=", 1)[1])
        elif token.startswith("-p") and len(token) > 2 and not token.startswith("--"):
            scan.plugin_flags.append(token[2:])
        elif token == "--debug":
            scan.debug = True
        elif token in ("-c", "--config") and following is not None and scan.command is None:
            scan.config_path = following
            i += 2
            continue
        elif token.startswith("--config=") and scan.command is None:
            scan.config_path = token.split("=", 1)[1]
        elif token == "--set" and following is not None and scan.command == "train":
            scan.sets.append(following)
            i += 2
            continue
        elif token.startswith("--set=") and scan.command == "train":
            scan.sets.append(token.split("=", 1)[1])
        elif token in ("--resume", "--dir", "--kind", "--format") and following is not None:
            i += 2  # options taking a value: the value is not a positional
            continue
        elif not token.startswith("-"):
            if scan.command is None:
                scan.command = token
            elif scan.command == "train" and scan.train_config is None:
                scan.train_config = token
        i += 1
    return scan


def _common_options() -> argparse.ArgumentParser:
    """Options every (sub)command accepts; values are read by :func:`prescan`."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-p", "--plugin", action="append", metavar="NAME", default=argparse.SUPPRESS,
                        help="enable plugin NAME (NAME>=version allowed), or disable it with no:NAME; repeatable")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks (also TINYTORCH_DEBUG=1)")
    return common


def version_string() -> str:
    """``tinytorch 0.1.0 (tinytorch-numpy)``: the installed distribution's version, else the source tree's."""
    from importlib import metadata

    from registry.discovery import BUILTIN_DISTRIBUTION

    try:
        version = metadata.version(BUILTIN_DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        from tinytorch_core import __version__ as version
    return f"tinytorch {version} ({BUILTIN_DISTRIBUTION})"


class _Version(argparse.Action):
    """``--version``: the version line, then which kernels run compiled; computed only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        from tinytorch_core.kernels import describe  # says what runs compiled without importing numba

        print(f"{version_string()}\nkernels: {describe()}")
        parser.exit(0)


def build_parser(manager: PluginManager | None, command: str | None) -> argparse.ArgumentParser:
    """The full parser: built-in commands plus every enabled plugin's commands."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="tinytorch",
        description="TinyTorch: a small deep-learning framework whose modalities are plugins.",
        parents=[common],
        epilog="Environment: TINYTORCH_PLUGINS (comma list of plugins to load; empty = none), "
        "TINYTORCH_TRACE_PLUGINS=1 (print hook calls), TINYTORCH_DEBUG=1 (tracebacks).",
    )
    parser.add_argument("--version", action=_Version,
                        help="print the version, the distribution name and the kernel path (numpy or numba), then exit")
    parser.add_argument("-c", "--config", metavar="PATH",
                        help="config file (default: ./tinytorch.toml or [tool.tinytorch] in ./pyproject.toml)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    plugins = commands.add_parser("plugins", parents=[common], help="list plugins: version, source, status, hooks, what they register")
    plugins.add_argument("--format", choices=("table", "json"), default="table")
    plugins_sub = plugins.add_subparsers(dest="plugins_command", metavar="{check}")
    check = plugins_sub.add_parser("check", parents=[common], help="run the conformance kit on an installed plugin")
    check.add_argument("name", help="the plugin's entry-point name")

    components = commands.add_parser("components", parents=[common], help="list registered components and their plugins")
    components.add_argument("--kind", help="only this kind (models, datasets, modules, tokenizers, ...)")
    components.add_argument("--format", choices=("table", "json"), default="table")

    train = commands.add_parser("train", parents=[common], help="train from a TOML config")
    train.add_argument("config", help="the config file ([data], [model], [train], [output], [plugins])")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a config value (TOML syntax; repeatable), e.g. --set train.steps=30")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue from RUN_DIR/checkpoints/last.safetensors")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the run already in the run directory (default: a non-empty run directory is"
                       " left alone and this run writes to a numbered directory beside it, e.g. runs/x-2)")
    train.add_argument("--no-progress", action="store_true", help="print log lines instead of a progress bar")

    new_plugin = commands.add_parser("new-plugin", parents=[common], help="scaffold a pip-installable plugin package")
    new_plugin.add_argument("name", help="the plugin name (a Python identifier, e.g. audio)")
    new_plugin.add_argument("--dir", default=None, help="parent directory (default: current directory)")

    report = commands.add_parser("report", parents=[common], help="reports (reuse: how much of the core a plugin reuses)")
    report_sub = report.add_subparsers(dest="report_command", metavar="{reuse}")
    reuse = report_sub.add_parser("reuse", parents=[common], help="how much of each plugin is core code")
    if command == "report":
        _configure_reuse(reuse)

    if manager is not None:
        for component in manager.list("commands"):
            sub = commands.add_parser(component.name, parents=[common],
                                      help=f"{component.description} [plugin {component.plugin}]")
            sub.set_defaults(_plugin_command=component)
            arguments = component.meta.get("arguments")
            if arguments is None:
                continue
            try:
                arguments(sub)
            except Exception as exc:  # one plugin's broken options must not take down every command
                sub.set_defaults(_broken_command=f"plugin {component.plugin!r}: command {component.name!r} is"
                                 f" unavailable: its arguments(parser) raised {type(exc).__name__}: {exc}")
    return parser


def _configure_reuse(parser: argparse.ArgumentParser) -> None:
    try:
        from registry import reuse_cli
    except ImportError:
        parser.set_defaults(_reuse_missing=True)
        return
    reuse_cli.configure(parser)


def _load_manager(scan: Prescan) -> tuple[PluginManager, Config, list[str]]:
    """Load config and plugins leniently; returns the problems that only some commands must refuse."""
    from registry.config import Config, apply_overrides, find_config, load_config
    from registry.errors import ConfigError, PluginFlagError
    from registry.manager import PluginManager

    problems: list[str] = []
    path = scan.train_config if scan.command == "train" and scan.train_config else scan.config_path
    try:
        config = load_config(path) if path else find_config()
        if scan.sets:
            config = apply_overrides(config, scan.sets)
        config.plugin_settings()
    except ConfigError as exc:
        if scan.command not in ALWAYS_RUN:
            raise
        problems.append(str(exc))
        config = Config()
    manager = PluginManager()
    try:
        manager.load(config, cli_plugins=scan.plugin_flags, raise_on_failure=False, warn=False)
    except PluginFlagError:
        raise
    except ConfigError as exc:
        if scan.command not in ALWAYS_RUN:
            raise
        problems.append(str(exc))
        if not manager.plugins:  # the config broke selection itself: list what is installed instead
            manager = PluginManager()
            manager.load(Config(), cli_plugins=scan.plugin_flags, raise_on_failure=False, warn=False)
    return manager, config, problems


def _warn(message: str) -> None:
    print(f"tinytorch: warning: {message}", file=sys.stderr)


def run(argv: Sequence[str]) -> int:
    """Parse ``argv``, load plugins and run the command; errors propagate to :func:`main`."""
    from registry.errors import CommandError

    scan = prescan(argv)
    manager, config, problems = _load_manager(scan)
    for problem in problems + manager.warnings:
        _warn(problem)
    if problems and scan.command == "plugins" and not manager.strict:
        problems = []  # lenient: a config problem is reported, not fatal
    failures = manager.failures()
    if failures and scan.command not in ALWAYS_RUN:
        if manager.strict:
            manager.raise_for_failures()
        for info in failures:
            _warn(f"skipped {info.reason}")
    parser = build_parser(manager, scan.command)
    args = parser.parse_args(list(argv))
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "plugins":
        status = _cmd_plugins(args, manager)
        return status or (1 if problems else 0)
    if args.command == "components":
        return _cmd_components(args, manager)
    if args.command == "train":
        from registry.train import run_train

        return run_train(args, manager, config)
    if args.command == "new-plugin":
        from registry.scaffold import scaffold_plugin

        target = scaffold_plugin(args.name, args.dir)
        print(f"created plugin package {target}")
        print(f"next: pip install -e {target} && pytest {target}")
        return 0
    if args.command == "report":
        return _cmd_report(args, parser, manager)
    component = getattr(args, "_plugin_command", None)
    broken = getattr(args, "_broken_command", None)
    if broken is not None:
        raise CommandError(broken)
    if component is not None:
        return _run_plugin_command(component, args)
    parser.error(f"unknown command {args.command!r}")
    return EXIT_USER_ERROR


def _run_plugin_command(component: Any, args: argparse.Namespace) -> int:
    """A plugin's command; what it raises (sys.exit with a message too) is one line naming the plugin."""
    from registry.errors import CommandError, RegistryError
    from registry.observers import describe_exception

    try:
        result = component.obj(args)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return int(exc.code or 0)
        raise CommandError(f"plugin {component.plugin!r}: command {component.name!r} stopped: {exc.code}") from exc
    except (RegistryError, KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as exc:
        raise CommandError(f"plugin {component.plugin!r}: command {component.name!r} failed:"
                           f" {describe_exception(exc)}; fix the arguments, or report it to the plugin's authors"
                           " (--debug shows the traceback)") from exc
    return int(result or 0)


def _cmd_plugins(args: argparse.Namespace, manager: PluginManager) -> int:
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

    print(plugins_json(manager) if args.format == "json" else plugins_table(manager))
    return 1 if manager.failures() and manager.strict else 0


def _cmd_components(args: argparse.Namespace, manager: PluginManager) -> int:
    from registry.listing import components_json, components_table

    components = manager.list(args.kind)
    print(components_json(components) if args.format == "json" else components_table(components))
    return 0


def _cmd_report(args: argparse.Namespace, parser: argparse.ArgumentParser, manager: PluginManager) -> int:
    if args.report_command != "reuse":
        parser.parse_args(["report", "--help"])
        return EXIT_USER_ERROR
    if getattr(args, "_reuse_missing", False):
        print("tinytorch: error: reuse report not available (registry.reuse_cli is missing)", file=sys.stderr)
        return 1
    from registry import reuse_cli

    args.plugin_manager = manager  # the plugins this invocation loaded (config, -p flags) are the ones measured
    return int(reuse_cli.run(args))


def _debug_requested(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("TINYTORCH_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: run and turn errors into one line plus an exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(arguments)
    try:
        return run(arguments)
    except KeyboardInterrupt:
        print("tinytorch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`: not an error worth reporting
        sys.stderr.close()
        return 0
    except Exception as exc:  # the CLI boundary: one line, traceback only on request
        if debug:
            import traceback

            traceback.print_exc()
        from registry.errors import RegistryError

        if isinstance(exc, (RegistryError, OSError, ValueError)):
            message = str(exc)
        else:
            message = f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"
        code = EXIT_USER_ERROR if isinstance(exc, RegistryError) else 1
        group = sys.modules.get("tinytorch_core.distributed.group")
        if group is not None and group.world_size() > 1:  # name the rank, and end the other ranks too
            group.fail(f"tinytorch: error: {group.describe_rank()}{message}", code)
        print(f"tinytorch: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    raise SystemExit(main())
