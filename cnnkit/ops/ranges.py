"""The range mappings' names and numpy's 'linear' percentile, shared by the Numba path
(``quantize``) and the light path (``light``); numpy only, so the light path loads no Numba.
"""

from __future__ import annotations

import numpy as np

# Range mappings, in the order of the integer codes the Numba kernels take.
MAPPINGS = ("clip", "abs", "offset", "stretch", "edges")


def ranks(count: int, q: float) -> tuple[int, int, float]:
    """numpy's 'linear' percentile of ``count`` values: the two order statistics and the
    weight between them."""
    q = np.true_divide(q, 100)
    virtual = count * q + (1 + q * (1 - 1 - 1)) - 1
    if virtual >= count - 1:
        return count - 1, count - 1, float(virtual - np.floor(virtual))
    below = int(np.floor(virtual))
    return below, below + 1, float(virtual - np.floor(virtual))


def interpolate(low, high, gamma: float) -> float:
    """Between two order statistics (float32 scalars), as numpy's percentile rounds it."""
    diff = high - low
    if gamma >= 0.5:
        return float(high - diff * (1 - gamma))
    return float(low + diff * gamma)
