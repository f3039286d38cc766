"""``tinytorch report reuse``: options and entry point (the registry's CLI wires these in).

Output formats: ``table`` (terminal), ``json`` (one report object for a single ``--plugin``, a list of
them otherwise; layout documented in :mod:`registry.reuse.result`), ``markdown`` (a README-ready table).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from registry.reuse.render import markdown, table
from registry.reuse.report import UnknownPluginError, report_for
from registry.reuse.plugins import scan_plugins
from registry.reuse.result import ReuseReport
from tinytorch_core.fileio import atomic_write_text

FORMATS = ("table", "json", "markdown")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``report reuse`` options to ``parser``.

    The ``tinytorch`` CLI already has a global ``-p/--plugin NAME`` (enable a plugin, repeatable); when
    the parser has it, it is reused: ``tinytorch report reuse --plugin vision`` enables ``vision`` if
    needed and measures it. ``--plugin`` and ``--all`` together measure every enabled plugin.
    """
    try:
        parser.add_argument("-p", "--plugin", action="append", metavar="NAME",
                            help="measure this plugin (repeatable; default: all)")
    except argparse.ArgumentError:
        pass  # the CLI's own -p/--plugin: same spelling, same list of names
    parser.add_argument("--all", action="store_true", help="measure every enabled plugin with a reuse target (default)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument("--output", metavar="FILE", help="write the output to FILE (atomically) instead of stdout")
    parser.add_argument("--repeats", type=int, default=5, help="timed forward+backward runs per target (median)")


def selected_plugins(args: argparse.Namespace) -> list[str]:
    """The plugin names ``--plugin`` asked for (``no:NAME`` disables a plugin; it selects nothing)."""
    raw = getattr(args, "plugin", None)
    names = [raw] if isinstance(raw, str) else list(raw or [])
    out: list[str] = []
    for name in names:
        name = str(name).strip()
        if name and not name.startswith("no:") and name not in out:
            out.append(name)
    return out


def run(args: argparse.Namespace, manager: Any = None) -> int:
    """Measure, render and write; returns the exit status (1 when a plugin failed or is unknown).

    ``manager``: the loaded ``registry.PluginManager`` (default: ``args.plugin_manager`` when set,
    else the working directory's default manager).
    """
    fmt = getattr(args, "format", "table")
    if fmt not in FORMATS:
        print(f"tinytorch report reuse: unknown format {fmt!r}; use one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    repeats = int(getattr(args, "repeats", 5))
    if repeats < 1:
        print(f"tinytorch report reuse: --repeats must be at least 1, got {repeats}", file=sys.stderr)
        return 2
    scan = scan_plugins(manager if manager is not None else getattr(args, "plugin_manager", None))
    wanted = [] if getattr(args, "all", False) else selected_plugins(args)
    status = 0
    reports: list[ReuseReport] = []
    if wanted:
        for name in wanted:
            try:
                reports.append(report_for(name, scan, repeats=repeats))
            except UnknownPluginError as exc:
                print(f"tinytorch report reuse: {exc}", file=sys.stderr)
                return 1
    else:
        for name, problem in sorted(scan.errors.items()):
            print(f"tinytorch report reuse: skipped plugin {name!r}: {problem}", file=sys.stderr)
            status = 1
        for name in sorted(scan.plugins):
            reports.append(report_for(name, scan, repeats=repeats))
    text = render(reports, fmt, single=len(wanted) == 1)
    output = getattr(args, "output", None)
    if output:
        try:
            write_atomic(Path(output), text)
        except OSError as exc:
            print(f"tinytorch report reuse: cannot write --output {output}: {exc}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return status


def render(reports: list[ReuseReport], fmt: str, *, single: bool) -> str:
    """The reports in ``fmt``; JSON is one object when ``single``, else a list."""
    if fmt == "json":
        payload: Any = reports[0].to_dict() if single and reports else [r.to_dict() for r in reports]
        return json.dumps(payload, indent=2) + "\n"
    if fmt == "markdown":
        return markdown(reports)
    return table(reports)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically; unlike a run directory, a missing --output folder is an error."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist; create it first")
    atomic_write_text(path, text)
