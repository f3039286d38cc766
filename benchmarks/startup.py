"""Start-up time of ``tinytorch --help`` and ``tinytorch plugins`` with both built-in plugins enabled.

    python benchmarks/startup.py [--repeat 9]

Runs each command in a fresh interpreter ``--repeat`` times and prints the median and best wall
time, next to a bare ``python -c pass`` for reference. The target is under 0.3 s. The console
script of this interpreter is used when it exists (not a pyenv shim, which adds its own start-up),
else ``python -m registry.cli``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

TARGET_SECONDS = 0.3


def console_script() -> list[str]:
    """The ``tinytorch`` script installed beside this interpreter, or ``python -m registry.cli``."""
    script = Path(sysconfig.get_path("scripts")) / "tinytorch"
    if script.is_file():
        return [str(script)]
    found = shutil.which("tinytorch")
    if found and "shims" not in found:
        return [found]
    return [sys.executable, "-m", "registry.cli"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(command: list[str], repeat: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds) of ``repeat`` runs, after one warm-up run that fills the OS file cache
    (and the bytecode cache).

    CPU time (user + system of the child) is reported too because wall time on a shared, loaded
    machine mostly measures the other processes.
    """
    subprocess.run(command, env=env, capture_output=True, check=True)
    walls, cpus = [], []
    for _ in range(repeat):
        cpu_before = _children_cpu()
        start = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True)
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu_before)
    return walls, cpus


def main() -> int:
    """Print one line per command; exit 1 when a median is over the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    # A user's Python caches bytecode; with PYTHONDONTWRITEBYTECODE set (as in some sandboxes) every
    # start would compile the project's sources again (measured here: 354 vs 263 ms for --help).
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYTORCH_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["TINYTORCH_PLUGINS"] = "vision,language"  # both built-ins, whatever the local config says
    cli = console_script()
    cases = {
        "python -c pass (reference)": [sys.executable, "-c", "pass"],
        "tinytorch --help": [*cli, "--help"],
        "tinytorch plugins": [*cli, "plugins"],
    }
    print(f"interpreter: {sys.executable}; cli: {' '.join(cli)}; repeat: {args.repeat}; cpus: {os.cpu_count()}")
    over = False
    for label, command in cases.items():
        walls, cpus = time_command(command, args.repeat, env)
        median = statistics.median(walls)
        verdict = ""
        if label.startswith("tinytorch"):
            verdict = "ok" if median < TARGET_SECONDS else f"over the {TARGET_SECONDS} s target"
            over |= median >= TARGET_SECONDS
        print(f"{label:<28} wall median {median * 1000:6.1f} ms  best {min(walls) * 1000:6.1f} ms"
              f"   cpu median {statistics.median(cpus) * 1000:6.1f} ms   {verdict}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
