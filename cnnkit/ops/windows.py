"""Where sliding windows (convolution kernels, pooling windows) fall along one axis.

For input length ``n``, window ``k`` and stride ``s``:

* ``valid``: ``floor((n - k) / s) + 1`` outputs (windows that fit entirely; < 1 when none do);
* ``same``: ``ceil(n / s)`` outputs; the input is padded by ``max((out - 1)*s + k - n, 0)``
  cells, half before (rounded down) and the rest after, as TensorFlow does.

Plain Python, no Numba: a layer computes its output shape with these when it is built, and
building or loading a model must not start Numba (about 0.6 s).
"""

from __future__ import annotations


def output_size(n: int, k: int, s: int, padding: str) -> int:
    """Output length along one axis (see the module docstring)."""
    return (n - k) // s + 1 if padding == "valid" else -(-n // s)


def pad_before(n: int, k: int, s: int, padding: str) -> int:
    """Padding cells before the first input cell (0 for ``valid``)."""
    if padding == "valid":
        return 0
    return max((output_size(n, k, s, padding) - 1) * s + k - n, 0) // 2
