"""Static analysis: which core components a plugin's source uses, and which it defines itself.

Uses are resolved from imports and attribute chains with :mod:`ast`, then looked up on the real
objects, so every spelling of one component counts once::

    from tinytorch_core.nn import Linear             # Linear(...)
    import tinytorch_core.nn as nn                   # nn.Linear(...)
    from tinytorch_core import functional as F       # F.linear(...)
    import tinytorch_core.nn                         # tinytorch_core.nn.Linear(...)
    from tinytorch_core.nn import *                  # Linear(...)

A *use* is a reference in code; names that appear only in type annotations are not uses (importing
``Tensor`` for a signature reuses nothing). Method calls on values (``x.relu()``) cannot be resolved
statically; the runtime metrics see those.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORE_PACKAGE = "tinytorch_core"


@dataclass(frozen=True)
class CoreUse:
    """One core class or function the plugin's source refers to."""

    name: str  # the shortest public dotted path the plugin used for it
    obj: Any
    kind: str  # "class" or "function"
    count: int


@dataclass(frozen=True)
class PluginDef:
    """One top-level class or function the plugin defines."""

    name: str  # dotted: module.Name
    kind: str
    count: int  # references to it by name anywhere in the plugin's source


@dataclass(frozen=True)
class StaticAnalysis:
    """Everything the static metric and the code metric need from the plugin's source."""

    core_uses: list[CoreUse]
    plugin_defs: list[PluginDef]


def is_core_module(module_name: str) -> bool:
    """True for ``tinytorch_core`` and its submodules."""
    return module_name == CORE_PACKAGE or module_name.startswith(CORE_PACKAGE + ".")


def _component_kind(obj: Any) -> str | None:
    if inspect.isclass(obj):
        return "class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "function"
    return None


class _Resolver:
    """Maps a dotted reference to the core class or function it names (cached)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[Any, str] | None] = {}

    def resolve(self, dotted: str) -> tuple[Any, str] | None:
        """``(object, path up to it)`` for the first class or function along ``dotted``, else ``None``."""
        if dotted not in self._cache:
            self._cache[dotted] = self._resolve(dotted)
        return self._cache[dotted]

    @staticmethod
    def _resolve(dotted: str) -> tuple[Any, str] | None:
        parts = dotted.split(".")
        try:
            obj: Any = importlib.import_module(parts[0])
        except ImportError:
            return None
        for i in range(1, len(parts)):
            if _component_kind(obj) is not None:
                return obj, ".".join(parts[:i])
            # Attribute first, as Python does for ``a.b`` and ``from a import b`` (``tinytorch_core.tensor``
            # is the ``tensor()`` function, not the submodule); a submodule not yet imported comes next.
            if hasattr(obj, parts[i]):
                obj = getattr(obj, parts[i])
            elif inspect.ismodule(obj):
                try:
                    obj = importlib.import_module(".".join(parts[: i + 1]))
                except ImportError:
                    return None
            else:
                return None
        if _component_kind(obj) is not None:
            return obj, dotted
        return None

    def public_names(self, module: str) -> set[str]:
        """The names ``from module import *`` binds."""
        try:
            mod = importlib.import_module(module)
        except ImportError:
            return set()
        exported = getattr(mod, "__all__", None)
        if exported is not None:
            return {str(n) for n in exported}
        return {n for n in vars(mod) if not n.startswith("_")}


def _import_aliases(tree: ast.Module, resolver: _Resolver) -> tuple[dict[str, str], list[tuple[str, set[str]]]]:
    """Local name -> dotted core path for every core import in the file, plus star-imported modules."""
    aliases: dict[str, str] = {}
    stars: list[tuple[str, set[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not is_core_module(alias.name):
                    continue
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    # ``import a.b.c`` binds ``a``; attribute chains from it spell the rest.
                    root = alias.name.split(".")[0]
                    aliases[root] = root
        elif isinstance(node, ast.ImportFrom):
            if node.level or node.module is None or not is_core_module(node.module):
                continue
            for alias in node.names:
                if alias.name == "*":
                    stars.append((node.module, resolver.public_names(node.module)))
                else:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases, stars


def _chain(node: ast.expr) -> list[str] | None:
    """``a.b.c`` -> ``["a", "b", "c"]``; ``None`` when the chain does not start at a plain name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


class _UseCollector(ast.NodeVisitor):
    """Collects the dotted core paths a file refers to in code (annotations skipped)."""

    def __init__(self, aliases: dict[str, str], stars: list[tuple[str, set[str]]]) -> None:
        self.aliases = aliases
        self.stars = stars
        self.refs: list[str] = []
        self.names: Counter[str] = Counter()

    def _reference(self, node: ast.expr) -> bool:
        parts = _chain(node)
        if parts is None:
            return False
        root = parts[0]
        if root in self.aliases:
            self.refs.append(".".join([self.aliases[root], *parts[1:]]))
            return True
        for module, names in self.stars:
            if root in names:
                self.refs.append(".".join([module, *parts]))
                return True
        return False

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.names[node.attr] += 1
        if not self._reference(node):
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        self.names[node.id] += 1
        if isinstance(node.ctx, ast.Load):
            self._reference(node)

    def visit_Import(self, node: ast.Import) -> None:
        return  # an import alone is not a use

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        return

    def visit_arg(self, node: ast.arg) -> None:
        return  # skip the annotation

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for deco in node.decorator_list:
            self.visit(deco)
        self.visit(node.args)
        for stmt in node.body:
            self.visit(stmt)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._visit_function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._visit_function(node)

    def visit_If(self, node: ast.If) -> None:
        if _chain(node.test) in (["TYPE_CHECKING"], ["typing", "TYPE_CHECKING"]):
            for stmt in node.orelse:
                self.visit(stmt)
            return  # imports for type checking only
        self.generic_visit(node)


def _is_hook_implementation(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    if node.name.startswith("tinytorch_"):
        return True
    return any((_chain(d) or [""])[-1] == "hookimpl" for d in node.decorator_list if isinstance(d, ast.expr))


def _definitions(module: str, tree: ast.Module) -> list[tuple[str, str]]:
    """``(dotted name, kind)`` of the file's top-level classes (all) and public functions (not hooks)."""
    out: list[tuple[str, str]] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out.append((f"{module}.{node.name}", "class"))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if not node.name.startswith("_") and not _is_hook_implementation(node):
                out.append((f"{module}.{node.name}", "function"))
    return out


def analyse_sources(files: dict[str, Path]) -> StaticAnalysis:
    """Resolve the core uses and list the definitions of the given ``module name -> file`` sources."""
    resolver = _Resolver()
    refs: list[str] = []
    names: Counter[str] = Counter()
    defs: list[tuple[str, str]] = []
    for module, path in sorted(files.items()):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        aliases, stars = _import_aliases(tree, resolver)
        collector = _UseCollector(aliases, stars)
        collector.visit(tree)
        refs.extend(collector.refs)
        names.update(collector.names)
        defs.extend(_definitions(module, tree))
    return StaticAnalysis(core_uses=_core_uses(refs, resolver), plugin_defs=_plugin_defs(defs, names))


def analyse_source_text(text: str, module: str = "sample") -> StaticAnalysis:
    """The same analysis on one source string (for checks and examples)."""
    resolver = _Resolver()
    tree = ast.parse(text)
    aliases, stars = _import_aliases(tree, resolver)
    collector = _UseCollector(aliases, stars)
    collector.visit(tree)
    return StaticAnalysis(
        core_uses=_core_uses(collector.refs, resolver),
        plugin_defs=_plugin_defs(_definitions(module, tree), collector.names),
    )


def _core_uses(refs: list[str], resolver: _Resolver) -> list[CoreUse]:
    by_id: dict[int, tuple[Any, str, str]] = {}
    counts: Counter[int] = Counter()
    for ref in refs:
        found = resolver.resolve(ref)
        if found is None:
            continue
        obj, path = found
        owner = getattr(obj, "__module__", None) or ""
        if not is_core_module(owner) or any(p.startswith("_") for p in path.split(".")):
            continue  # not core, or a private core helper (not part of the public API)
        kind = _component_kind(obj) or "function"
        key = id(obj)
        counts[key] += 1
        prev = by_id.get(key)
        if prev is None or _display_rank(obj, path) < _display_rank(obj, prev[1]):
            by_id[key] = (obj, path, kind)
    uses = [CoreUse(name=path, obj=obj, kind=kind, count=counts[k]) for k, (obj, path, kind) in by_id.items()]
    return sorted(uses, key=lambda u: u.name)


def _display_rank(obj: Any, path: str) -> tuple[bool, int, str]:
    """Prefer a path ending in the object's own name (``nn.Linear`` over its alias ``nn.Dense``), then the shortest."""
    return path.rpartition(".")[2] != getattr(obj, "__name__", ""), len(path), path


def _plugin_defs(defs: list[tuple[str, str]], names: Counter[str]) -> list[PluginDef]:
    out = [PluginDef(name=d, kind=k, count=names[d.rpartition(".")[2]]) for d, k in defs]
    return sorted(out, key=lambda d: d.name)
