"""Timing shared by the benchmark scripts."""

from __future__ import annotations

import os
import subprocess
import time


def best_of(fn, repeats: int = 7) -> float:
    """The fastest of ``repeats`` calls, after one warm-up call (compilation, page faults)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def alternating(tools: dict, rounds: int = 3, repeats: int = 5) -> dict[str, float]:
    """Each tool's best of ``repeats`` calls, taken in turns for ``rounds`` rounds; the median
    of its rounds. Taking turns puts a slow spell of the machine on every tool alike, not on
    whichever ran during it."""
    import statistics

    for fn in tools.values():
        fn()  # warm-up: compilation, page faults
    bests: dict[str, list[float]] = {name: [] for name in tools}
    for _ in range(rounds):
        for name, fn in tools.items():
            bests[name].append(best_of(fn, repeats))
    return {name: statistics.median(times) for name, times in bests.items()}


def compile_package() -> None:
    """Write cnnkit's bytecode, as ``pip install`` does at install time. A source tree run with
    PYTHONDONTWRITEBYTECODE=1 (set on some machines) would otherwise compile every module on
    every start, about 0.1 s that no installed copy pays; the peers' packages have theirs."""
    import compileall

    package = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cnnkit")
    compileall.compile_dir(package, quiet=1)


def run_process(command: list[str], env: dict | None = None):
    """Run ``command`` to its end, output discarded: (wall seconds, its standard error, its
    resource usage). A failure ends the bench with the command and what it said."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    error = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{error}")
    return wall, error, usage
