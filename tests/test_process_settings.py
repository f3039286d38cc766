"""The process-wide memory settings ``import tinytorch_core`` makes (tinytorch_core/_malloc.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and madvise settings are Linux-only")

# _set_madvise_hugepage returns the setting it replaces: it says what import tinytorch_core left behind.
_PROBE = "import tinytorch_core; from numpy._core.multiarray import _set_madvise_hugepage as s; print(s(True))"


def _huge_page_advice_after_import(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("NUMPY_MADVISE_HUGEPAGE", "TINYTORCH_NO_MALLOPT")}
    done = subprocess.run([sys.executable, "-c", _PROBE], env={**clean, **env}, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_import_switches_off_numpys_huge_page_advice() -> None:
    assert _huge_page_advice_after_import() == "False"


def test_the_users_own_numpy_setting_and_the_opt_out_are_respected() -> None:
    assert _huge_page_advice_after_import(NUMPY_MADVISE_HUGEPAGE="1") == "True"
    assert _huge_page_advice_after_import(TINYTORCH_NO_MALLOPT="1") == "True"  # numpy's default stays
