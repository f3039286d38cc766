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

    from registry import commands as builtin

    builtins = builtin.BuiltinCommands(command, common)
    builtin.tinytorch_register_commands(cli=builtins)
    entries: list[tuple[str, Any, str, Any, str | None]] = [
        (name, run, help, arguments, None) for name, run, help, arguments in builtins.commands
    ]
    if manager is not None:
        entries += [(c.name, c.obj, f"{c.description} [plugin {c.plugin}]", c.meta.get("arguments"), c.plugin)
                    for c in manager.list("commands")]
    for name, run, help, arguments, plugin in entries:
        sub = commands.add_parser(name, parents=[common], help=help)
        sub.set_defaults(_run=run, _plugin=plugin)
        if arguments is None:
            continue
        try:
            arguments(sub)
        except Exception as exc:  # one plugin's broken options must not take down every command
            if plugin is None:
                raise
            sub.set_defaults(_broken_command=f"plugin {plugin!r}: command {name!r} is"
                             f" unavailable: its arguments(parser) raised {type(exc).__name__}: {exc}")
    return parser


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
    broken = getattr(args, "_broken_command", None)
    if broken is not None:
        raise CommandError(broken)
    from registry.commands import Invocation

    args.tinytorch = Invocation(manager, config, parser, problems)
    plugin: str | None = getattr(args, "_plugin", None)
    if plugin is not None:
        return _run_plugin_command(plugin, args.command, args._run, args)
    return int(args._run(args) or 0)


def _run_plugin_command(plugin: str, name: str, run: Any, args: argparse.Namespace) -> int:
    """A plugin's command; what it raises (sys.exit with a message too) is one line naming the plugin."""
    from registry.errors import CommandError, RegistryError
    from registry.observers import describe_exception

    try:
        result = run(args)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return int(exc.code or 0)
        raise CommandError(f"plugin {plugin!r}: command {name!r} stopped: {exc.code}") from exc
    except (RegistryError, KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as exc:
        raise CommandError(f"plugin {plugin!r}: command {name!r} failed:"
                           f" {describe_exception(exc)}; fix the arguments, or report it to the plugin's authors"
                           " (--debug shows the traceback)") from exc
    return int(result or 0)


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
