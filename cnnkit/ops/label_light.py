"""Numpy twins of :mod:`cnnkit.ops.label` (8-connected components of a mask), for preparing
one picture without starting Numba; re-exported by :mod:`cnnkit.ops.ink_light`.

A mask is cut into runs (the stretches of True along each row: a few hundred in a digit's mask,
where it has tens of thousands of pixels), runs of neighbouring rows that touch are joined, and
the joined runs are merged into components by vectorised union-find. The labels are the
kernel's exactly: 1..count in the order components are first met scanning rows top to bottom.
Imports numpy only.
"""

from __future__ import annotations

import numpy as np


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs of ``mask`` (H, W) bool in raster order: (row, first column, one past the last
    column), each (runs,) int64."""
    height, width = mask.shape
    padded = np.zeros((height, width + 2), np.int8)
    padded[:, 1:-1] = mask
    steps = np.diff(padded, axis=1)  # +1 where a run starts, -1 one past where it ends
    rows, starts = np.nonzero(steps == 1)
    _, stops = np.nonzero(steps == -1)
    return rows, starts, stops


def _touching(rows: np.ndarray, starts: np.ndarray, stops: np.ndarray, width: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (upper, lower) of runs on neighbouring rows that touch, diagonals included:
    the run [s', e') above touches [s, e) when s' <= e and s <= e'. Each (pairs,) int64."""
    line = width + 2  # (row, column) -> one key that sorts in raster order
    start_keys = rows * line + starts
    stop_keys = rows * line + stops
    above = (rows - 1) * line
    # the runs of the row above that touch form one stretch of that row's runs: from the
    # first that stops at or after s to the last that starts at or before e
    lo = np.searchsorted(stop_keys, above + starts, "left")
    hi = np.searchsorted(start_keys, above + stops, "right")
    many = np.maximum(hi - lo, 0)
    lower = np.repeat(np.arange(rows.size), many)
    offset = np.arange(lower.size) - np.repeat(np.cumsum(many) - many, many)
    return np.repeat(lo, many) + offset, lower


def _roots(n: int, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Each of ``n`` nodes' component, named by its lowest node, given the edges (upper[i],
    lower[i]): (n,) int64.

    Union-find, vectorised: every root that an edge joins to a lower root is hooked under the
    lowest such, then every node is pointed straight at its root (pointer jumping), until no
    edge joins two roots. A node only ever points at a lower node of its own component, so
    the root that is left is the component's lowest node.
    """
    root = np.arange(n)
    while True:
        a, b = root[upper], root[lower]
        apart = a != b
        if not apart.any():
            return root
        np.minimum.at(root, np.maximum(a, b)[apart], np.minimum(a, b)[apart])
        while True:
            jumped = root[root]
            if np.array_equal(jumped, root):
                break
            root = jumped


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label 8-connected regions of ``mask`` (H, W) bool: (labels (H, W) int64, count).

    Labels run 1..count in the order regions are first met scanning rows top to bottom.
    """
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    labels = np.zeros(mask.shape, np.int64)
    rows, starts, stops = _runs(mask)
    if rows.size == 0:
        return labels, 0
    root = _roots(rows.size, *_touching(rows, starts, stops, mask.shape[1]))
    # a region is first met at the start of its lowest run, its root: roots numbered in
    # order are the kernel's labels
    is_root = root == np.arange(rows.size)
    run_label = np.cumsum(is_root)[root]
    labels.ravel()[np.flatnonzero(mask)] = np.repeat(run_label, stops - starts)
    return labels, int(is_root.sum())


def component_boxes(labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Each labelled region's pixel count and box, from ``labels`` (H, W) of
    :func:`label_components`: (areas (count,) int64, boxes (count, 4) int64 of x0, y0, x1,
    y1 with x1 and y1 one past the last pixel; (W, H, -1, -1) for a label with no pixel)."""
    labels = np.ascontiguousarray(labels, np.int64)
    if labels.ndim != 2:
        raise ValueError(f"labels must be 2-D, got shape {labels.shape}")
    count = int(count)
    areas = np.zeros(count, np.int64)
    boxes = np.empty((count, 4), np.int64)
    boxes[:] = (labels.shape[1], labels.shape[0], -1, -1)
    ys, xs = np.nonzero(labels > 0)
    k = labels[ys, xs] - 1
    areas += np.bincount(k, minlength=count)[:count]
    np.minimum.at(boxes[:, 0], k, xs)
    np.minimum.at(boxes[:, 1], k, ys)
    np.maximum.at(boxes[:, 2], k, xs + 1)
    np.maximum.at(boxes[:, 3], k, ys + 1)
    return areas, boxes
