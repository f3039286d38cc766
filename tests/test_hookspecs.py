"""Every hookspec is typed, documented in its docstring, and has an entry in docs/plugins.md."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pluggy

import tinytorch_core.hookspecs as hookspecs

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def hookspec_names() -> list[str]:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return sorted(name for name in vars(manager.hook) if not name.startswith("_"))


def documented_hooks() -> set[str]:
    return set(re.findall(r"^#{2,4}\s+`?(tinytorch_\w+)`?\s*$", DOCS.read_text(encoding="utf-8"), flags=re.M))


def test_there_are_hooks_and_all_are_namespaced() -> None:
    names = hookspec_names()
    assert len(names) >= 12 and all(name.startswith("tinytorch_") for name in names)


def test_every_hookspec_has_a_docs_heading() -> None:
    missing = sorted(set(hookspec_names()) - documented_hooks())
    assert not missing, f"hooks without a '### name' entry in docs/plugins.md: {missing}"


def test_docs_name_no_hook_that_does_not_exist() -> None:
    stale = sorted(documented_hooks() - set(hookspec_names()))
    assert not stale, f"docs/plugins.md documents hooks that do not exist: {stale}"


def documented_signatures() -> dict[str, str]:
    """Each hook's section text in docs/plugins.md (from its heading to the next heading)."""
    text = DOCS.read_text(encoding="utf-8")
    parts = re.split(r"^#{2,4}\s+`?(tinytorch_\w+)`?\s*$", text, flags=re.M)
    return {parts[i]: re.split(r"^#", parts[i + 1], flags=re.M)[0] for i in range(1, len(parts) - 1, 2)}


def test_every_hook_section_shows_the_hook_with_all_its_arguments() -> None:
    sections = documented_signatures()
    for name in hookspec_names():
        args = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"`{name}({args})`" in sections.get(name, ""), f"docs/plugins.md ### {name} must show `{name}({args})`"


def test_every_hookspec_is_typed_and_has_a_docstring() -> None:
    for name in hookspec_names():
        function = getattr(hookspecs, name)
        assert inspect.getdoc(function), f"{name} has no docstring"
        signature = inspect.signature(function)
        for param in signature.parameters.values():
            assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name}) is not annotated"
            assert param.default is inspect.Parameter.empty, f"{name}({param.name}) has a default (pluggy #442)"


def test_the_docs_check_can_fail(tmp_path: Path) -> None:
    # The regex must not match a hook mentioned only in running text.
    text = "We call tinytorch_register_models in passing.\n### tinytorch_on_step_end\n"
    found = set(re.findall(r"^#{2,4}\s+`?(tinytorch_\w+)`?\s*$", text, flags=re.M))
    assert found == {"tinytorch_on_step_end"}
