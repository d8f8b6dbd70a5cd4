"""Settings a command makes before Numba starts, applied when it does (``ops/_jit.py``).

Pure Python, like ``compiling``: a small picture may be filtered without Numba at all
(``ops/light.py``), and one picture read by ``predict`` on the kernels' numpy twins
(``light_digits``, ``digits/backend.py``), so choosing the thread count must not start it. Kept here rather than in
``NUMBA_NUM_THREADS``, which Numba reads once as its ceiling: a count put there would stay for
every later command in the process and in its child processes.
"""

from __future__ import annotations

threads: int | None = None  # None: all cores
# a one-picture command prepares its digit on numpy twins of the kernels (digits/backend.py)
light_digits: bool = False
