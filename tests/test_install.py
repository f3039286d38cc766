"""Installing as a newcomer does: the distribution name, ``tinytorch --version``, and CI running the
README's own commands (``.ci/run`` reads them from README.md)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from registry.cli import main
from registry.discovery import BUILTIN_DISTRIBUTION

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "tinytorch-numpy"  # `tinytorch` on PyPI is an unrelated project


def readme_commands() -> list[str]:
    """The lines of README.md's first ```bash block."""
    block = re.search(r"^```bash\n(.*?)^```$", (ROOT / "README.md").read_text(), re.MULTILINE | re.DOTALL)
    assert block is not None, "README.md has no ```bash block"
    return block.group(1).splitlines()


def test_the_distribution_is_tinytorch_numpy_everywhere() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION == BUILTIN_DISTRIBUTION
    assert metadata.version(DISTRIBUTION) == project["version"]  # the installed one is this project
    example = tomllib.loads((ROOT / "examples" / "tinytorch-timeseries" / "pyproject.toml").read_text())
    assert DISTRIBUTION in example["project"]["dependencies"]
    from registry.scaffold import PYPROJECT

    assert f'"{DISTRIBUTION}"' in PYPROJECT and '"tinytorch",' not in PYPROJECT
    assert f'dependencies = ["{DISTRIBUTION}"' in (ROOT / "docs" / "plugins.md").read_text()


def test_version_prints_the_version_and_the_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    version = metadata.version(DISTRIBUTION)
    first, kernels = capsys.readouterr().out.strip().splitlines()
    assert first == f"tinytorch {version} ({DISTRIBUTION})"
    from tinytorch_core.kernels import describe

    assert kernels == f"kernels: {describe()}"  # which kernels run compiled (numba) or "numpy (...)"


def test_version_through_the_installed_command() -> None:
    done = subprocess.run([sys.executable, "-m", "registry.cli", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"tinytorch \d+\.\d+\.\d+\S* \(tinytorch-numpy\)\nkernels: (numba \S+ \(.*gelu.*\)|numpy \(.*\))\n",
                        done.stdout)


def test_readme_starts_with_the_two_commands_ci_runs() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    install_and_train, install_and_test = commands
    # CI appends --set train.steps=N to the first: it must end in a `tinytorch train CONFIG`.
    assert re.fullmatch(r"pip install -e \. && tinytorch train configs/\S+\.toml", install_and_train)
    assert re.fullmatch(r"pip install -e '\.\[test[^]]*\]' && python -m pytest", install_and_test)
    readme_text = (ROOT / "README.md").read_text()
    assert readme_text.index("```bash") < readme_text.index("\n## ")  # the first thing a reader sees


def test_ci_reads_the_readme_commands_from_the_readme() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    definition = next(line for line in script.splitlines() if line.startswith("readme_commands()"))
    extracted = subprocess.run(["bash", "-c", f"{definition}\nreadme_commands"], cwd=ROOT, capture_output=True,
                               text=True, timeout=30, check=True).stdout.splitlines()
    assert extracted == readme_commands()
    assert '"${README_COMMANDS[0]} --set train.steps=$STEPS"' in script
    assert '"${README_COMMANDS[1]}"' in script
    assert "python3.11 -m venv" in script and "mypy --strict tinytorch_core registry plugins" in script


class _Dist:
    def __init__(self, name: str) -> None:
        self.metadata = {"Name": name}
        self.version = "0.1.0"


class _EntryPoint:
    def __init__(self, name: str, value: str, dist: str) -> None:
        self.name, self.value, self.dist = name, value, _Dist(dist)


def test_metadata_left_under_the_former_name_is_not_a_clash(monkeypatch: pytest.MonkeyPatch) -> None:
    from registry import discovery

    entries = [_EntryPoint("language", "plugins.language.plugin", "tinytorch"),  # a stale tinytorch.egg-info
               _EntryPoint("language", "plugins.language.plugin", DISTRIBUTION),
               _EntryPoint("audio", "plugins.language.plugin", "tinytorch"),  # not a built-in entry point: kept
               _EntryPoint("vision", "elsewhere.plugin", "tinytorch"),  # another target: a real clash, kept
               _EntryPoint("vision", "plugins.vision.plugin", DISTRIBUTION)]
    monkeypatch.setattr(discovery, "iter_entry_points", lambda group=discovery.ENTRY_POINT_GROUP: entries)
    found = [(p.name, p.distribution) for p in discovery.discover()]
    assert found == [("audio", "tinytorch"), ("language", DISTRIBUTION), ("vision", "tinytorch"), ("vision", DISTRIBUTION)]
