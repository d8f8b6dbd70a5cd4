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
