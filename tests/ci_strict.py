"""With ``CI=true``, a test skipped because an optional module is missing fails instead.

CI installs every extra, so there a skip such as ``pytest.importorskip("torch")`` or
``skip("numba not installed (pip install -e '.[fast]')")`` means a missing install step, not an
optional feature: "skipped for a missing extra" must never pass CI. Skips for anything else (the
real data in ``../shared`` absent, no ``unshare``) stay skips. Loaded by ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator
from typing import Any

import pytest

#: Reasons that mean "an optional module is missing": importorskip's message, or a hint naming an extra.
MISSING_MODULE = re.compile(r"could not import|not installed|\bextras?\b|\.\[[a-z]", re.IGNORECASE)


def ci_strict() -> bool:
    """Whether the ``CI`` environment variable says this is CI (``true``, ``1`` or ``yes``)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    """The message of a skip report (pytest stores ``(path, lineno, message)``)."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def fail_missing_module_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    """Turn ``report`` into a failure when it is a skip for a missing optional module under CI."""
    if not report.skipped or hasattr(report, "wasxfail") or not ci_strict():
        return
    reason = skip_reason(report)
    if MISSING_MODULE.search(reason):
        report.outcome = "failed"
        report.longrepr = f"CI=true: a skip for a missing optional dependency is a failure; install every extra ({reason})"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    fail_missing_module_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield  # a module-level importorskip skips the whole module at collection
    fail_missing_module_skip(outcome.get_result())
