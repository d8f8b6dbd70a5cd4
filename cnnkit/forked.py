"""CPU-bound Python work spread over forked worker processes.

Threads share one interpreter lock, so a batch whose per-item work is many short numpy and
Pillow calls gains little from a second thread. A forked child starts as a copy of this
process, with its imported modules, loaded Numba kernels and read model already in place,
so a worker does not pay the second a fresh interpreter needs to import and load them.
Preparing 1,000 digit photos for ``cnnkit predict`` took 2.9 s this way against 4.5-6.0 s
on two threads (docs/predict.md).

Linux only: there a fork is well understood (macOS forks too, but its system libraries are
not safe in a forked child, which is why Python spawns there), and a worker can ask the kernel
to end it with its parent. Callers check :func:`available` and keep their threads elsewhere.
The children must not use Numba's parallel kernels (GNU OpenMP, one of its threading layers,
is not safe after a fork) nor write files: they compute and return picklable results; the
parent does the rest.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator

_WORK: Callable | None = None  # the child's function, inherited at the fork, never pickled
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def available() -> bool:
    """Whether this system forks workers (Linux)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def _start(work: Callable, parent: int) -> None:
    global _WORK
    _WORK = work
    # Ctrl-C reaches the whole process group; the parent alone stops the batch, then the pool
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with(parent)


def _end_with(parent: int) -> None:
    """Have the kernel end this worker when its parent ends, however it ends (killed, out of
    memory): a worker left waiting for work would hold the parent's stdout open, and a
    pipeline reading it would never finish."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - every Linux libc has prctl
        pass
    if os.getppid() != parent:  # the parent ended before the request was made
        os._exit(1)


def _run_group(items: list) -> list:
    return [_WORK(item) for item in items]


class ForkedMap:
    """``work(item)`` for each item on ``workers`` forked processes, results in order.

    ``work`` may be any callable, a closure too: the children inherit it at the fork, so
    only the items and the results are pickled. Items go out in groups of ``group`` (fewer
    round trips) and at most ``ahead`` items are in flight, so results never pile up far
    ahead of the caller. An exception raised by ``work`` is re-raised by :meth:`__iter__`
    for its item; return errors as values to keep going past them. A worker that dies
    (killed, out of memory) raises ``concurrent.futures.process.BrokenProcessPool`` there;
    workers that cannot be forked raise OSError here, with none left running.
    """

    def __init__(self, work: Callable, items: Iterable, workers: int, group: int = 8,
                 ahead: int = 128):
        from concurrent.futures import ProcessPoolExecutor

        self._items = iter(items)
        self._group, self._ahead = group, ahead
        self._sent: deque = deque()  # futures of groups, in item order
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                         initializer=_start, initargs=(work, os.getpid()))
        # The workers fork at the first submit, here: before the caller starts threads of its
        # own (a progress bar), which a fork would copy in whatever lock they hold
        try:
            self._send()
        except OSError:  # a fork failed (process limit, memory): end those that started
            self._stop_workers()
            raise

    def _stop_workers(self) -> None:
        # the executor has no public way to end idle workers before Python 3.14
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __iter__(self) -> Iterator:
        while self._sent:
            results = self._sent.popleft().result()
            self._send()  # keep the workers busy while the caller uses these
            yield from results

    def _send(self) -> None:
        while len(self._sent) * self._group < self._ahead:
            items = [item for _, item in zip(range(self._group), self._items)]
            if not items:
                return
            self._sent.append(self._pool.submit(_run_group, items))

    def close(self) -> None:
        """Stop the workers; groups not started are dropped."""
        self._pool.shutdown(wait=True, cancel_futures=True)
