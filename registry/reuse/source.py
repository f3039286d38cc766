"""Where a package's source lives and which of its lines are code.

A *code line* is a physical line holding at least one token that is not a comment, a blank or a
docstring (module, class or function docstring). The reuse report counts lines with this one rule
on both sides, so plugin and core line counts are comparable.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import io
import tokenize
from pathlib import Path
from typing import Any

_NON_CODE_TOKENS = frozenset(
    {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENCODING,
        tokenize.ENDMARKER,
    }
)


def package_files(package: str) -> dict[str, Path]:
    """Dotted module name -> source file for every ``.py`` file of an importable package or module.

    Raises ``ValueError`` naming the package when it cannot be found or has no Python source.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError) as exc:
        raise ValueError(f"cannot find the plugin package {package!r}: {exc}; is it installed and importable?") from exc
    if spec is None:
        raise ValueError(f"cannot find the plugin package {package!r}; is it installed and importable?")
    if spec.submodule_search_locations:
        files: dict[str, Path] = {}
        for root in spec.submodule_search_locations:
            base = Path(root)
            for path in sorted(base.rglob("*.py")):
                rel = path.relative_to(base).with_suffix("")
                parts = [p for p in rel.parts if p != "__init__"]
                files[".".join([package, *parts])] = path
        if files:
            return files
    elif spec.origin and spec.origin.endswith(".py"):
        return {package: Path(spec.origin)}
    raise ValueError(f"the plugin package {package!r} has no Python source files to analyse")


@functools.lru_cache(maxsize=256)
def code_lines(path: Path) -> frozenset[int]:
    """Line numbers of the code lines of a Python file (see the module docstring for the rule)."""
    text = path.read_text(encoding="utf-8")
    return _code_lines_of(text)


def _code_lines_of(text: str) -> frozenset[int]:
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in _NON_CODE_TOKENS:
            continue
        lines.update(range(tok.start[0], tok.end[0] + 1))
    return frozenset(lines - _docstring_lines(ast.parse(text)))


def _docstring_lines(tree: ast.Module) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            if isinstance(body[0].value.value, str):
                first = body[0]
                out.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return out


def count_code_lines(paths: list[Path]) -> int:
    """Total code lines of these files."""
    return sum(len(code_lines(p)) for p in paths)


def source_span(obj: Any) -> tuple[Path, int, int] | None:
    """``(file, first_line, last_line)`` of a class or function's source, or ``None`` when unavailable."""
    try:
        file = inspect.getsourcefile(obj)
        lines, start = inspect.getsourcelines(obj)
    except (OSError, TypeError):
        return None
    if file is None:
        return None
    return Path(file), max(start, 1), max(start, 1) + len(lines) - 1
