"""Dense-layer matrix products, split across the cores by rows.

BLAS runs single-threaded inside cnnkit (its spinning worker threads would starve Numba's);
instead each product is cut into one block of rows per Numba thread, and the blocks run on a
small pool of Python threads (numpy releases the GIL inside BLAS). Measured for the
digit_classifier's three products per batch: 3.7 ms one-threaded, 2.4 ms split in two.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numba
import numpy as np

_POOL: ThreadPoolExecutor | None = None
MIN_ROWS = 16  # below this per block, threading costs more than it saves
MIN_WORK = 1 << 21  # multiply-adds; smaller products (the 10-class head) run directly


def _pool(workers: int) -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None or _POOL._max_workers < workers:
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cnnkit-matmul")
    return _POOL


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for float32 (M, K) and (K, N), rows of ``a`` split over the thread count."""
    blocks = min(numba.get_num_threads(), a.shape[0] // MIN_ROWS)
    if blocks < 2 or a.shape[0] * a.shape[1] * b.shape[1] < MIN_WORK:
        return a @ b
    out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    edges = np.linspace(0, a.shape[0], blocks + 1).astype(int)
    futures = [_pool(blocks - 1).submit(np.matmul, a[lo:hi], b, out=out[lo:hi])
               for lo, hi in zip(edges[1:-1], edges[2:])]
    np.matmul(a[:edges[1]], b, out=out[:edges[1]])
    for future in futures:
        future.result()
    return out


def matmul_tn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a.T @ b`` for float32 (M, K) and (M, N) with M large (a weight gradient summed over
    every output pixel): M is split over the threads and the partial products added in order,
    so the result does not depend on timing."""
    blocks = min(numba.get_num_threads(), a.shape[0] // (MIN_ROWS * 16))
    if blocks < 2 or a.shape[0] * a.shape[1] * b.shape[1] < MIN_WORK:
        return a.T @ b
    edges = np.linspace(0, a.shape[0], blocks + 1).astype(int)
    futures = [_pool(blocks - 1).submit(lambda lo, hi: a[lo:hi].T @ b[lo:hi], lo, hi)
               for lo, hi in zip(edges[1:-1], edges[2:])]
    out = a[:edges[1]].T @ b[:edges[1]]
    for future in futures:
        out += future.result()
    return out


def for_blocks(task, n_blocks: int) -> None:
    """Call ``task(first, stop)`` over the blocks 0..n_blocks-1, each thread (the Numba
    thread count) one contiguous share of them, in order; the caller's thread takes the first.

    For work that runs a kernel and a BLAS product per block (ops/conv_gemm.py), so a block's
    data stays in cache from one to the other: ``task`` must release the GIL (Numba kernels
    compiled with ``nogil``, numpy's BLAS) and write only its own blocks' outputs.
    """
    workers = max(1, min(numba.get_num_threads(), n_blocks))
    edges = [n_blocks * t // workers for t in range(workers + 1)]
    futures = [_pool(workers - 1).submit(task, lo, hi) for lo, hi in pairwise(edges[1:])]
    try:
        task(edges[0], edges[1])
    finally:
        for future in futures:
            future.result()
