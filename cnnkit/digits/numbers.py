"""Cutting a picture of a number into MNIST-style digits, left to right."""

from __future__ import annotations

import numpy as np

from cnnkit.digits.levels import median
from cnnkit.digits.prepare import (MIN_INK_PIXELS, WORK_SIDE_NUMBER, NoDigitError, Prepared,
                                   _merge_overlapping, _to_picture_box, clean_ink, fit_mnist,
                                   ink_image, remove_background, work_copy)
from cnnkit.digits.stroke import normalise_stroke
from cnnkit.digits.verdict import not_a_digit
from cnnkit.imaging.io import Picture


def find_digits(picture: Picture) -> tuple[list[Prepared], np.ndarray]:
    """Cut a picture of a number into MNIST-style digits, left to right.

    Connected parts of the ink are grouped into digits: parts that overlap horizontally by more
    than half the narrower one belong together (a broken stroke, the bar of a 5); a group much
    wider than tall is split at the emptiest columns (touching digits). Returns the digits
    (boxes in the picture's pixels) and the cleaned ink image they were cut from, at the
    working size (at most ``WORK_SIDE_NUMBER`` px). Each digit's strokes are brought to
    MNIST's width (:mod:`cnnkit.digits.stroke`). Raises NoDigitError when the ink is no
    writing at all (:func:`cnnkit.digits.verdict.not_a_digit`).
    """
    from cnnkit.digits.backend import kernels as digit_kernels

    kernels = digit_kernels()
    work, (sx, sy) = work_copy(picture, WORK_SIDE_NUMBER)
    ink, _ = ink_image(work)
    evidence: dict = {}
    cleaned, mask = clean_ink(remove_background(ink), evidence)
    labels, count = kernels.label_components(mask)
    areas, bounds = kernels.component_boxes(labels, count)
    if count == 0 or areas.max() < MIN_INK_PIXELS:
        raise NoDigitError("no digit found (only specks stand out from the background)")
    keep = areas >= max(MIN_INK_PIXELS, 0.02 * areas.max())  # drop dust and texture
    groups = _merge_overlapping(sorted(bounds[keep].tolist()))
    x0, y0 = bounds[keep, :2].min(axis=0)
    x1, y1 = bounds[keep, 2:].max(axis=0)
    evidence.update(parts=int(keep.sum()), kept=float(areas[keep].sum() / areas.sum()),
                    ink=float(areas.sum() / mask.size),
                    edges=int(x0 == 0) + int(y0 == 0) + int(x1 == mask.shape[1])
                    + int(y1 == mask.shape[0]))
    why = not_a_digit(evidence, max(1, len(groups)))
    if why:  # noise would otherwise be cut into a dozen "digits"
        raise NoDigitError(f"no digit found ({why})")
    digits = []
    for box in _split_wide(groups, cleaned):
        x0, y0, x1, y1 = box
        part = cleaned[y0:y1, x0:x1] * (labels[y0:y1, x0:x1] > 0)
        rows = np.flatnonzero(part.any(axis=1))
        if rows.size == 0:
            continue
        y0, y1 = y0 + int(rows[0]), y0 + int(rows[-1]) + 1
        _, digit = fit_mnist(normalise_stroke(cleaned[y0:y1, x0:x1])[0])
        box = _to_picture_box((x0, y0, x1, y1), (sx, sy), picture.pixels.shape[:2])
        digits.append(Prepared(digit * np.float32(255), [("digit", digit)], box))
    if not digits:
        raise NoDigitError("no digit found")
    return digits, cleaned


def _split_wide(boxes: list[list[int]], ink: np.ndarray) -> list[tuple[int, int, int, int]]:
    heights = [b[3] - b[1] for b in boxes]
    typical = float(median(np.asarray(heights))) if heights else 1.0
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
