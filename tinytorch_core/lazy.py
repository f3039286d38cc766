"""``LazyFactory``: register a component without importing it, for plugins that must start fast.

A plugin's entry-point module is imported by every ``tinytorch`` command, so it should not pull
in its layers and models at import time. ``LazyFactory("pkg.models", "TinyGPT")`` stands in for
``pkg.models.TinyGPT``: it imports the target on first call, and ``inspect.signature`` reports
the target's own parameters, so the registry can still check config keys against them.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any


class LazyFactory:
    """A callable standing in for ``module.attr``; imports it when called or inspected."""

    def __init__(self, module: str, attr: str, doc: str | None = None) -> None:
        self.module = module
        self.attr = attr
        self._doc = doc

    def target(self) -> Any:
        """The real factory (imported now if needed)."""
        return getattr(importlib.import_module(self.module), self.attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self.target())

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self._doc if self._doc is not None else inspect.getdoc(self.target())

    def __repr__(self) -> str:
        return f"<lazy {self.module}.{self.attr}>"
