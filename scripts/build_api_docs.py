"""Build the API reference (HTML, with pdoc) from the docstrings; any warning is an error.

    python scripts/build_api_docs.py [--out DIR]      # default: docs/api (not committed)

Covers every public module of ``tinytorch_core`` (the hookspecs included), the plugins' public
packages, and the registry's conformance kit (``registry.testing``). Needs ``pip install pdoc``
(the ``docs`` extra).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tinytorch_core", "plugins.language", "plugins.vision")
EXTRA_MODULES = ("registry.testing",)


def public_modules() -> list[str]:
    """Every importable module under PACKAGES whose dotted path has no ``_private`` part."""
    names: list[str] = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return names + list(EXTRA_MODULES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "api")
    args = parser.parse_args(argv)
    try:
        import pdoc
        import pdoc.render
    except ImportError:
        print("build_api_docs: pdoc is not installed: pip install -e '.[docs]'", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    modules = public_modules()
    pdoc.render.configure(docformat="restructuredtext", show_source=True, search=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(*modules, output_directory=args.out)
    # A package listing a submodule in __all__ makes pdoc add it a second time: that notice is harmless.
    problems = [w for w in caught if "has already been added" not in str(w.message)]
    for warning in problems:
        print(f"build_api_docs: warning as error: {warning.filename}:{warning.lineno}: {warning.message}", file=sys.stderr)
    pages = sorted(args.out.rglob("*.html"))
    print(f"API reference: {len(modules)} modules, {len(pages)} pages in {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
