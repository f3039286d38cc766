"""Throwaway plugin modules that tests present as installed distributions (with ``fake_installed``)."""

from __future__ import annotations

import itertools
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from registry.discovery import InstalledPlugin

Make = Callable[..., InstalledPlugin]
_counter = itertools.count()


@contextmanager
def plugin_maker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, prefix: str, version: str, default_source: str,
    fill_name: bool = False,
) -> Iterator[Make]:
    """Yield ``make(name, source=default_source, dist=None) -> InstalledPlugin``.

    Each call writes ``source`` as a fresh module on ``sys.path`` (a unique name, so no stale import
    is reused); with ``fill_name`` the source's ``{name}`` placeholders become the plugin name.
    Runs in ``tmp_path`` with ``TINYTORCH_PLUGINS`` unset; the modules are forgotten afterwards.
    """
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TINYTORCH_PLUGINS", raising=False)
    created: list[str] = []

    def make(name: str, source: str = default_source, dist: str | None = None) -> InstalledPlugin:
        module = f"{prefix}_{name.replace('-', '_')}_{next(_counter)}"
        if fill_name:
            source = source.replace("{name}", name).replace("{{", "{").replace("}}", "}")
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        created.append(module)
        return InstalledPlugin(name, module, dist or f"tinytorch-{name}", version)

    try:
        yield make
    finally:
        for module in created:
            sys.modules.pop(module, None)


#: A plugin that builds on the real ``vision`` plugin: declares it, looks up ``vision:simple_cnn``
#: at registration and calls it from a factory through the ``components`` lookup.
NEEDS_VISION = '''
import numpy as np
from tinytorch_core import nn
from tinytorch_core.hookspecs import hookimpl

tinytorch_requires = ("vision",)
SEEN = []


class Scaled(nn.Module):
    """The plugin's own module around a vision encoder: one own parameter."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))

    def forward(self, x):
        return self.encoder(x) * self.scale


def _batch():
    rng = np.random.default_rng(0)
    return rng.standard_normal((4, 1, 16, 16)).astype(np.float32), np.array([0, 1, 2, 3])


def tagger(components, num_classes=4, hidden=8):
    encoder = components.get("models", "vision:simple_cnn")
    return encoder(in_channels=1, num_classes=num_classes, image_size=16, channels=[2], hidden=hidden)


@hookimpl
def tinytorch_register_models(register, components):
    SEEN.append(components.get("modules", "vision:conv2d"))
    register("tagger", tagger, description="a vision CNN reached through the registry")


@hookimpl
def tinytorch_register_reuse_targets(register, components):
    register("scaled_tagger", lambda: Scaled(tagger(components)), description="own wrapper around vision's CNN",
             sample_batch=_batch)
'''
