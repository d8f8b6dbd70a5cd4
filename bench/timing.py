"""Timing shared by the benchmark scripts."""

from __future__ import annotations

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
