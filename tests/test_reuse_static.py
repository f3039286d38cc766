"""The reuse report's static analysis (import aliases, annotations, definitions) and its line counting."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from registry.reuse.exercised import builtin_op_spans
from registry.reuse.source import code_lines, package_files
from registry.reuse.static import analyse_source_text
from tinytorch_core import functional, nn

SAMPLE = textwrap.dedent(
    '''
    """A plugin module spelling core components every way Python allows."""
    from __future__ import annotations

    from typing import TYPE_CHECKING

    import numpy as np
    import tinytorch_core.nn as tnn
    import tinytorch_core.optim
    from tinytorch_core import functional as F
    from tinytorch_core.nn import Linear, Dense as D
    from tinytorch_core.nn import *
    from tinytorch_core.tensor import Tensor
    from tinytorch_core.autograd import Context, Function
    from tinytorch_core.functional import _Linear

    if TYPE_CHECKING:
        from tinytorch_core.data import DataLoader


    class Block(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = Linear(2, 2)
            self.b = D(2, 2)          # Dense is Linear: one component
            self.c = tnn.Linear(2, 2)
            self.act = GELU()         # from the star import

        def forward(self, x: Tensor, ctx: Context | None = None) -> Tensor:
            y = F.gelu(self.a(x))
            return F.linear(y, self.c.weight)


    class _Op(Function):
        pass


    def make(model: Block):
        return tinytorch_core.optim.SGD(model.parameters(), lr=0.1)


    def _helper() -> None:
        np.zeros(3)
        _Linear.apply


    def tinytorch_register_models(register):
        register("block", Block)
    '''
)


def test_import_aliases_resolve_to_one_component_each() -> None:
    result = analyse_source_text(SAMPLE, module="acme.layers")
    names = {u.name: u for u in result.core_uses}
    assert set(names) == {
        "tinytorch_core.nn.Module",
        "tinytorch_core.nn.Linear",  # Linear, D (Dense) and tnn.Linear
        "tinytorch_core.nn.GELU",
        "tinytorch_core.functional.gelu",
        "tinytorch_core.functional.linear",
        "tinytorch_core.optim.SGD",
        "tinytorch_core.autograd.Function",
    }
    assert names["tinytorch_core.nn.Linear"].count == 3
    assert names["tinytorch_core.nn.Linear"].obj is nn.Linear
    assert names["tinytorch_core.functional.linear"].obj is functional.linear
    assert names["tinytorch_core.nn.Module"].kind == "class"
    assert names["tinytorch_core.functional.gelu"].kind == "function"


def test_annotations_type_checking_imports_and_private_helpers_are_not_uses() -> None:
    result = analyse_source_text(SAMPLE)
    used = {u.name.rpartition(".")[2] for u in result.core_uses}
    assert not {"Tensor", "Context", "DataLoader", "_Linear"} & used


def test_definitions_cover_classes_and_public_functions_but_not_hooks() -> None:
    result = analyse_source_text(SAMPLE, module="acme.layers")
    assert [(d.name, d.kind) for d in result.plugin_defs] == [
        ("acme.layers.Block", "class"),
        ("acme.layers._Op", "class"),
        ("acme.layers.make", "function"),
    ]
    assert {d.name: d.count for d in result.plugin_defs}["acme.layers.Block"] == 1  # register(); the annotation is no use


def test_names_resolve_as_python_binds_them() -> None:
    """``from tinytorch_core import tensor`` is the ``tensor()`` factory, not the submodule."""
    import tinytorch_core
    from tinytorch_core.nn import init

    src = (
        "from tinytorch_core import tensor\n"
        "import tinytorch_core.nn.init as I\n"
        "t = tensor([1.0])\n"
        "I.normal_(t)\n"
        "tinytorch_core.nn.Dense(2, 2)\n"  # never imported under that name here: not a use
    )
    names = {u.name: u.obj for u in analyse_source_text(src).core_uses}
    assert names == {"tinytorch_core.tensor": tinytorch_core.tensor, "tinytorch_core.nn.init.normal_": init.normal_}


def test_non_core_imports_are_ignored() -> None:
    result = analyse_source_text("import numpy as nn\nx = nn.zeros(3)\nfrom os import path\npath.join('a')\n")
    assert result.core_uses == []


def test_code_lines_skip_blanks_comments_and_docstrings(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(
        '"""Module docstring\non two lines."""\n'  # 1-2
        "\n"  # 3
        "# a comment\n"  # 4
        "def f(x):\n"  # 5
        '    """Doc."""\n'  # 6
        "    y = (x +\n"  # 7
        "         1)  # trailing comment\n"  # 8
        "    return y\n"  # 9
        's = """not a docstring"""\n',  # 10
        encoding="utf-8",
    )
    assert code_lines(src) == frozenset({5, 7, 8, 9, 10})


def test_package_files_map_module_names_and_reject_unknown_packages() -> None:
    files = package_files("registry.reuse")
    assert "registry.reuse" in files and files["registry.reuse"].name == "__init__.py"
    assert "registry.reuse.static" in files
    with pytest.raises(ValueError, match="cannot find the plugin package 'no_such_pkg_xyz'"):
        package_files("no_such_pkg_xyz")


def test_every_builtin_tensor_op_maps_to_the_function_that_builds_it() -> None:
    spans = builtin_op_spans()
    for op in ("add", "mul", "matmul", "relu", "getitem", "reshape", "concatenate"):
        assert op in spans, op
    path, start, end = spans["matmul"]
    text = path.read_text(encoding="utf-8").splitlines()[start - 1 : end]
    assert text[0].lstrip().startswith("def matmul")
