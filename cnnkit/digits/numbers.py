"""Cutting a picture of a number into MNIST-style digits, left to right."""

from __future__ import annotations

import numpy as np

from cnnkit.digits.prepare import (MIN_INK_PIXELS, WORK_SIDE_NUMBER, NoDigitError, Prepared,
                                   _component_boxes, _to_picture_box, clean_ink, fit_mnist,
                                   ink_image, remove_background, shrink, to_grey)
from cnnkit.imaging import Picture


def find_digits(picture: Picture) -> tuple[list[Prepared], np.ndarray]:
    """Cut a picture of a number into MNIST-style digits, left to right.

    Connected parts of the ink are grouped into digits: parts that overlap horizontally by more
    than half the narrower one belong together (a broken stroke, the bar of a 5); a group much
    wider than tall is split at the emptiest columns (touching digits). Returns the digits
    (boxes in the picture's pixels) and the cleaned ink image they were cut from, at the
    working size (at most ``WORK_SIDE_NUMBER`` px).
    """
    from cnnkit.ops.label import label_components

    grey = to_grey(picture)
    work, (sx, sy) = shrink(grey, WORK_SIDE_NUMBER)
    ink, _ = ink_image(work)
    cleaned, mask = clean_ink(remove_background(ink))
    labels, count = label_components(mask)
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    bounds = _component_boxes(labels, count)
    keep = areas[1:] >= max(MIN_INK_PIXELS, 0.02 * areas[1:].max())  # drop dust and texture
    groups = _merge_overlapping(sorted(bounds[keep].tolist()))
    digits = []
    for box in _split_wide(groups, cleaned):
        x0, y0, x1, y1 = box
        part = cleaned[y0:y1, x0:x1] * (labels[y0:y1, x0:x1] > 0)
        rows = np.flatnonzero(part.any(axis=1))
        if rows.size == 0:
            continue
        y0, y1 = y0 + int(rows[0]), y0 + int(rows[-1]) + 1
        _, digit = fit_mnist(cleaned[y0:y1, x0:x1])
        box = _to_picture_box((x0, y0, x1, y1), (sx, sy), grey.shape)
        digits.append(Prepared(digit * np.float32(255), [("digit", digit)], box))
    if not digits:
        raise NoDigitError("no digit found")
    return digits, cleaned


def _merge_overlapping(boxes: list[list[int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for box in boxes:  # sorted by x0
        for other in merged:
            overlap = min(box[2], other[2]) - max(box[0], other[0])
            narrower = min(box[2] - box[0], other[2] - other[0])
            if overlap > 0.5 * narrower:
                other[:] = [min(box[0], other[0]), min(box[1], other[1]),
                            max(box[2], other[2]), max(box[3], other[3])]
                break
        else:
            merged.append(list(box))
    return sorted(merged)


def _split_wide(boxes: list[list[int]], ink: np.ndarray) -> list[tuple[int, int, int, int]]:
    heights = [b[3] - b[1] for b in boxes]
    typical = float(np.median(heights)) if heights else 1.0
    result = []
    for x0, y0, x1, y1 in boxes:
        width, height = x1 - x0, max(y1 - y0, typical)
        pieces = int(round(width / (0.75 * height)))
        if width <= 1.3 * height or pieces < 2:
            result.append((x0, y0, x1, y1))
            continue
        profile = ink[y0:y1, x0:x1].sum(axis=0)
        cuts, step = [0], width / pieces
        for i in range(1, pieces):
            lo, hi = int(i * step - step / 3), int(i * step + step / 3)
            cuts.append(lo + int(np.argmin(profile[lo:hi])))
        cuts.append(width)
        result.extend((x0 + a, y0, x0 + b, y1) for a, b in zip(cuts, cuts[1:]) if b > a)
    return result
