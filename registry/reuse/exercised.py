"""The core source lines a plugin exercises, for the code metric.

Definition (an estimate, without a coverage tracer): the union of the code lines (see
:mod:`registry.reuse.source`) of

- every public core class or function the plugin's source uses (static analysis);
- every core class in the method resolution order of each module type in the models' trees (a plugin
  module subclassing ``Module`` exercises ``Module``);
- every core ``Function`` subclass run in forward + backward, plus ``Function.apply``;
- for each built-in tensor op run, the ``tinytorch_core.tensor`` function that builds it, plus
  ``Tensor.backward`` and its graph walk when a backward ran.

A whole class counts when it is used, even if only some of its methods run (an over-estimate), and
helpers called from the counted code are not followed (an under-estimate).
"""

from __future__ import annotations

import ast
import functools
import importlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tinytorch_core import graph
from tinytorch_core.autograd import Function
from tinytorch_core.tensor import Tensor


from registry.reuse.runtime import BUILTIN_OP_MODULE, RuntimeTally
from registry.reuse.source import code_lines, source_span
from registry.reuse.static import StaticAnalysis, is_core_module

Span = tuple[Path, int, int]


@functools.lru_cache(maxsize=1)
def builtin_op_spans() -> dict[str, Span]:
    """Built-in op name -> span of the top-level function or ``Tensor`` method that builds it.

    Found by parsing ``tinytorch_core/tensor.py`` for ``_make(..., "op")`` calls, so a new op is
    picked up without a table to maintain.
    """
    # ``tinytorch_core.tensor`` the attribute is the ``tensor()`` factory; fetch the module itself.
    defs: list[tuple[Path, ast.FunctionDef]] = []
    for module in (BUILTIN_OP_MODULE, "tinytorch_core.ops"):  # Tensor's methods, then the ops written as functions
        file = Path(importlib.import_module(module).__file__ or "")
        for node in ast.parse(file.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef):
                defs.append((file, node))
            elif isinstance(node, ast.ClassDef):
                defs.extend((file, n) for n in node.body if isinstance(n, ast.FunctionDef))
    spans: dict[str, Span] = {}
    for file, fn in defs:
        for call in ast.walk(fn):
            if not isinstance(call, ast.Call) or not call.args:
                continue
            func = call.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            last = call.args[-1]
            if name == "_make" and isinstance(last, ast.Constant) and isinstance(last.value, str):
                spans.setdefault(last.value, (file, fn.lineno, fn.end_lineno or fn.lineno))
    return spans


def _resolve_qualified(dotted_module: str, qualname: str) -> Any:
    try:
        obj: Any = importlib.import_module(dotted_module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj


def core_objects(static: StaticAnalysis, runtime: RuntimeTally) -> list[Any]:
    """The core classes and functions whose whole source counts as exercised."""
    objs: list[Any] = [u.obj for u in static.core_uses]
    for cls in runtime.module_types.values():
        objs.extend(k for k in cls.__mro__ if is_core_module(k.__module__))
    function_ran = False
    for name, defined_in in runtime.op_defined_in.items():
        if defined_in == BUILTIN_OP_MODULE:
            continue
        function_ran = True  # every other op is a Function subclass, core or plugin: both run Function.apply
        if is_core_module(defined_in):
            obj = _resolve_qualified(defined_in, name[len(defined_in) + 1 :])
            if obj is not None:
                objs.append(obj)
    if function_ran:
        objs.append(Function.apply)
    if runtime.backward_ran:
        objs.extend([Tensor.backward, graph.backward, graph.propagate, graph.topological_order, graph.accumulate, graph.Node])
    return objs


def exercised_core_lines(static: StaticAnalysis, runtime: RuntimeTally) -> int:
    """Number of distinct core code lines exercised (see the module docstring)."""
    spans: list[Span] = []
    for obj in core_objects(static, runtime):
        span = source_span(obj)
        if span is not None:
            spans.append(span)
    builtin = builtin_op_spans()
    for name, defined_in in runtime.op_defined_in.items():
        if defined_in == BUILTIN_OP_MODULE:
            op = name[len(defined_in) + 1 :]
            if op in builtin:
                spans.append(builtin[op])
    return len(_lines(spans))


def _lines(spans: Iterable[Span]) -> set[tuple[Path, int]]:
    out: set[tuple[Path, int]] = set()
    for path, start, end in spans:
        code = code_lines(path)
        out.update((path, n) for n in range(start, end + 1) if n in code)
    return out
