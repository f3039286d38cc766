"""With CI=true a skip for a missing optional module fails; other skips stay skips (tests/ci_strict.py)."""

from __future__ import annotations

import pytest

SKIPS = '''
import pytest

def test_importorskip():
    pytest.importorskip("tinytorch_no_such_module")

def test_names_an_extra():
    pytest.skip("numba not installed (pip install -e '.[fast]')")

@pytest.mark.skipif(True, reason="needs the interop extra")
def test_skipif_names_an_extra():
    pass

def test_missing_data():
    pytest.skip("real corpus not found at ../shared/data/tinyshakespeare.txt (../shared/data beside the project)")

def test_no_unshare():
    pytest.skip("unshare -n is not permitted here (needs root)")

@pytest.mark.xfail(reason="could not import the future")
def test_xfail():
    assert False
'''

MODULE_LEVEL = '''
import pytest
pytest.importorskip("tinytorch_no_such_module")

def test_never_collected():
    pass
'''


@pytest.fixture
def strict_pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest('pytest_plugins = ["ci_strict"]')
    return pytester


@pytest.mark.parametrize("ci", ["true", "1"])
def test_under_ci_a_skip_for_a_missing_module_fails(strict_pytester: pytest.Pytester,
                                                    monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    strict_pytester.makepyfile(test_skips=SKIPS)
    result = strict_pytester.runpytest("-rA")
    result.assert_outcomes(failed=2, errors=1, skipped=2, xfailed=1)  # a skipif fails at setup: an error
    for line in ("FAILED*test_importorskip*", "FAILED*test_names_an_extra*", "ERROR*test_skipif_names_an_extra*"):
        result.stdout.fnmatch_lines([line])
    assert "a skip for a missing optional dependency is a failure" in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_under_ci_a_module_level_importorskip_is_an_error(strict_pytester: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    strict_pytester.makepyfile(test_module_level=MODULE_LEVEL)
    result = strict_pytester.runpytest()
    result.assert_outcomes(errors=1)
    assert "tinytorch_no_such_module" in result.stdout.str()
    assert result.ret != pytest.ExitCode.OK


@pytest.mark.parametrize("ci", [None, "false", ""])
def test_outside_ci_every_skip_stays_a_skip(strict_pytester: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    strict_pytester.makepyfile(test_skips=SKIPS, test_module_level=MODULE_LEVEL)
    result = strict_pytester.runpytest()
    result.assert_outcomes(skipped=6, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
