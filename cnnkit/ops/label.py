"""Connected components of a binary mask (8-connectivity), by union-find in two passes."""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit


@njit
def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]  # path halving keeps the trees flat
        i = parent[i]
    return i


@njit
def _label(mask, labels):
    height, width = mask.shape
    parent = np.arange(height * width + 1, dtype=np.int64)
    next_label = 1
    for y in range(height):
        for x in range(width):
            if not mask[y, x]:
                labels[y, x] = 0
                continue
            best = 0
            # the four neighbours already visited: W, NW, N, NE
            for dy, dx in ((0, -1), (-1, -1), (-1, 0), (-1, 1)):
                yy, xx = y + dy, x + dx
                if 0 <= yy and 0 <= xx < width and labels[yy, xx] > 0:
                    other = _find(parent, labels[yy, xx])
                    if best == 0:
                        best = other
                    elif other != best:
                        low, high = min(best, other), max(best, other)
                        parent[high] = low
                        best = low
            if best == 0:
                best = next_label
                next_label += 1
            labels[y, x] = best
    # second pass: roots to consecutive numbers
    remap = np.zeros(next_label, dtype=np.int64)
    count = 0
    for y in range(height):
        for x in range(width):
            if labels[y, x] > 0:
                root = _find(parent, labels[y, x])
                if remap[root] == 0:
                    count += 1
                    remap[root] = count
                labels[y, x] = remap[root]
    return count


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label 8-connected regions of ``mask`` (H, W) bool: (labels (H, W) int64, count).

    Labels run 1..count in the order regions are first met scanning rows top to bottom.
    """
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    labels = np.zeros(mask.shape, np.int64)
    count = _label(mask, labels)
    return labels, int(count)
