"""Who to tell when Numba compiles kernels (the first run on a machine takes a while).

Pure Python, so the CLI can register a notice without importing Numba; ``ops/_jit.py``
calls ``started()`` when Numba begins compiling (not when it loads a cached kernel) and
``finished()`` when the outermost compilation ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

hooks: list[tuple[Callable[[], None], Callable[[], None]]] = []
_lock = threading.Lock()
_active = False


def started() -> None:
    global _active
    with _lock:
        if _active:
            return
        _active = True
        for start, _ in hooks:
            start()


def finished() -> None:
    global _active
    with _lock:
        if not _active:
            return
        _active = False
        for _, stop in hooks:
            stop()
