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


@njit
def _boxes(labels, count, areas, boxes):
    for k in range(count):
        boxes[k, 0] = labels.shape[1]
        boxes[k, 1] = labels.shape[0]
        boxes[k, 2] = -1
        boxes[k, 3] = -1
    for y in range(labels.shape[0]):
        for x in range(labels.shape[1]):
            k = labels[y, x] - 1
            if k < 0:
                continue
            areas[k] += 1
            boxes[k, 0] = min(boxes[k, 0], x)
            boxes[k, 1] = min(boxes[k, 1], y)
            boxes[k, 2] = max(boxes[k, 2], x + 1)
            boxes[k, 3] = max(boxes[k, 3], y + 1)


def component_boxes(labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Each labelled region's pixel count and box, in one pass over ``labels`` (H, W) from
    :func:`label_components`: (areas (count,) int64, boxes (count, 4) int64 of x0, y0, x1,
    y1 with x1 and y1 one past the last pixel)."""
    labels = np.ascontiguousarray(labels, np.int64)
    if labels.ndim != 2:
        raise ValueError(f"labels must be 2-D, got shape {labels.shape}")
    areas = np.zeros(count, np.int64)
    boxes = np.empty((count, 4), np.int64)
    _boxes(labels, int(count), areas, boxes)
    return areas, boxes
