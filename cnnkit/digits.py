"""Turning real pictures of digits into what an MNIST model expects, the way MNIST was made.

MNIST digits are white ink (255) on black (0), size-normalised so the longer side of the ink
is 20 px (anti-aliased, hence grey levels), then placed in 28x28 with the centre of mass at
the centre. A photo of a digit on paper is none of that: dark ink on light paper, any size,
off-centre, with paper texture and uneven light. :func:`prepare_digit` closes the gap step by
step and keeps every stage so a user can see what the model saw; :func:`find_digits` cuts a
number into its digits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter

from cnnkit.errors import CnnkitError
from cnnkit.imaging import Picture
from cnnkit.ops.filter2d import filter2d

BOX = 20  # px: the longer side of the ink in MNIST
SIDE = 28
CENTRE = 14.0  # where MNIST puts the centre of mass (measured on the test set: 14.0, 14.0)
BACKGROUND_SIDE = 64  # px: the size at which paper shading is estimated
MIN_CONTRAST = 0.12  # mean ink minus mean paper, on 0..1, below which nothing is written
MIN_INK_PIXELS = 12


class NoDigitError(CnnkitError):
    """The picture is blank or nearly so."""


@dataclass
class Prepared:
    """A 28x28 MNIST-style digit and the stages that made it.

    digit : ndarray (28, 28) float32, 0..255, white ink on black
    stages : (name, (H, W) float32 in 0..1) pairs, in order
    box : (x0, y0, x1, y1) of the ink in the input image
    """

    digit: np.ndarray
    stages: list[tuple[str, np.ndarray]] = field(default_factory=list)
    box: tuple[int, int, int, int] = (0, 0, 0, 0)


def to_grey(picture: Picture) -> np.ndarray:
    """(H, W) float32 in 0..1; transparent areas count as white paper."""
    pixels = picture.pixels / np.float32(picture.maxval)
    grey = pixels if pixels.ndim == 2 else pixels @ np.float32([0.299, 0.587, 0.114])
    if picture.alpha is not None:
        alpha = picture.alpha / np.float32(picture.maxval)
        grey = grey * alpha + (1 - alpha)
    return grey.astype(np.float32)


def otsu(values: np.ndarray) -> float:
    """Otsu's threshold of values in 0..1 (256 bins): maximises the between-class variance."""
    hist, edges = np.histogram(values, bins=256, range=(0.0, 1.0))
    hist = hist.astype(np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(hist)
    total = weight[-1]
    mean = np.cumsum(hist * centres)
    between = (mean[-1] * weight - mean * total) ** 2 / np.maximum(weight * (total - weight), 1e-12)
    return float(centres[int(np.argmax(between))])


def _border(grey: np.ndarray) -> np.ndarray:
    band = max(1, min(grey.shape) // 20)
    return np.concatenate([grey[:band].ravel(), grey[-band:].ravel(), grey[:, :band].ravel(),
                           grey[:, -band:].ravel()])


def ink_image(grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """Make ink bright on dark: invert when the ink is darker than the paper.

    The paper is what the border shows; the ink is whichever extreme of the picture (its
    0.5th or 99.5th percentile) lies farther from the paper. Unlike a global threshold this
    holds when the ink covers a few percent of the picture and the light is uneven.
    Returns (ink (H, W) 0..1, whether the picture was inverted).
    """
    paper = float(np.median(_border(grey)))
    dark, light = np.percentile(grey, [0.5, 99.5])
    paper_is_light = paper - dark > light - paper
    return (1 - grey if paper_is_light else grey.copy()), bool(paper_is_light)


def remove_background(ink: np.ndarray) -> np.ndarray:
    """Subtract the paper's own shading (uneven light, shadows) from an ink-bright image.

    The paper level is estimated on a small copy by a grey-level opening (a minimum then a
    maximum filter), which erases strokes thinner than the filter and keeps slow shading.
    """
    height, width = ink.shape
    scale = BACKGROUND_SIDE / max(height, width)
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(ink, mode="F").resize(small_size, Image.BOX)
    opened = small.filter(ImageFilter.MinFilter(7)).filter(ImageFilter.MaxFilter(7))
    smooth = filter2d(np.asarray(opened, np.float32), np.full((5, 5), 1 / 25, np.float32),
                      border="replicate")  # the opening is blocky; shading is smooth
    paper = Image.fromarray(smooth, mode="F").resize((width, height), Image.BILINEAR)
    return np.clip(ink - np.asarray(paper, np.float32), 0, 1)


def clean_ink(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Threshold away paper texture but keep the ink's grey levels.

    The paper level and its noise come from the median and the median absolute deviation;
    the threshold is Otsu's, but never inside the noise. Returns (cleaned (H, W) 0..1 with the
    strong ink at 1, mask of ink pixels). Raises NoDigitError when nothing stands out.
    """
    floor = float(np.median(ink))
    spread = 1.4826 * float(np.median(np.abs(ink - floor))) + 1e-3
    strong = float(np.percentile(ink, 99.7))
    if strong - floor < MIN_CONTRAST:
        raise NoDigitError(f"no digit found (nothing stands out from the background by more "
                           f"than {strong - floor:.0%} of the brightness range)")
    threshold = max(otsu(ink), floor + 4 * spread)
    mask = ink > threshold
    if mask.sum() < MIN_INK_PIXELS:
        raise NoDigitError("no digit found (the picture is blank or nearly so)")
    level = float(np.percentile(ink[mask], 90))
    cleaned = np.where(mask, np.clip((ink - threshold) / max(level - threshold, 1e-6), 0, 1), 0)
    return cleaned.astype(np.float32), mask


def ink_box(mask: np.ndarray, min_share: float = 0.05) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) around the ink, ignoring specks under ``min_share`` of the largest part."""
    from cnnkit.ops.label import label_components

    labels, count = label_components(mask)
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    keep = np.flatnonzero(areas >= max(2, min_share * areas.max())) + 1
    ys, xs = np.nonzero(np.isin(labels, keep))
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def fit_mnist(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale a tight ink crop (0..1) so its longer side is 20 px, anti-aliased from the full
    resolution, and centre its mass in 28x28. Returns (resized crop, 28x28 in 0..1)."""
    height, width = ink.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = np.clip(np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize(
        size, Image.LANCZOS), np.float32), 0, 1)
    total = float(resized.sum())
    ys, xs = np.mgrid[0:resized.shape[0], 0:resized.shape[1]]
    cy = float((resized * ys).sum() / total) if total > 0 else resized.shape[0] / 2
    cx = float((resized * xs).sum() / total) if total > 0 else resized.shape[1] / 2
    top, left = int(round(CENTRE - cy)), int(round(CENTRE - cx))
    canvas = np.zeros((SIDE, SIDE), np.float32)
    ys0, xs0 = max(top, 0), max(left, 0)
    ys1, xs1 = min(top + resized.shape[0], SIDE), min(left + resized.shape[1], SIDE)
    canvas[ys0:ys1, xs0:xs1] = resized[ys0 - top:ys1 - top, xs0 - left:xs1 - left]
    return resized, canvas


def prepare_digit(picture: Picture) -> Prepared:
    """The whole MNIST-style preprocessing of one picture holding one digit."""
    grey = to_grey(picture)
    ink, inverted = ink_image(grey)
    flattened = remove_background(ink)
    cleaned, mask = clean_ink(flattened)
    x0, y0, x1, y1 = ink_box(mask)
    resized, digit = fit_mnist(cleaned[y0:y1, x0:x1])
    stages = [("1-grey", grey), ("2-ink" + ("-inverted" if inverted else ""), ink),
              ("3-background-removed", flattened), ("4-thresholded", cleaned),
              ("5-cropped", cleaned[y0:y1, x0:x1]), ("6-resized-20px", resized),
              ("7-centred-28x28", digit)]
    return Prepared(digit * np.float32(255), stages, (x0, y0, x1, y1))


def prepare_raw(picture: Picture) -> Prepared:
    """``--preprocess none``: the picture already is a 28x28 MNIST-style digit."""
    grey = to_grey(picture)
    if grey.shape != (SIDE, SIDE):
        raise CnnkitError(f"--preprocess none needs a 28x28 image, got "
                          f"{grey.shape[1]}x{grey.shape[0]} (use --preprocess mnist)")
    return Prepared(grey * np.float32(255), [("28x28", grey)], (0, 0, SIDE, SIDE))


def find_digits(picture: Picture) -> tuple[list[Prepared], np.ndarray]:
    """Cut a picture of a number into MNIST-style digits, left to right.

    Connected parts of the ink are grouped into digits: parts that overlap horizontally by more
    than half the narrower one belong together (a broken stroke, the bar of a 5); a group much
    wider than tall is split at the emptiest columns (touching digits). Returns the digits and
    the cleaned ink image they were cut from.
    """
    from cnnkit.ops.label import label_components

    ink, _ = ink_image(to_grey(picture))
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
        digits.append(Prepared(digit * np.float32(255), [("digit", digit)], (x0, y0, x1, y1)))
    if not digits:
        raise NoDigitError("no digit found")
    return digits, cleaned


def _component_boxes(labels: np.ndarray, count: int) -> np.ndarray:
    """(count, 4) int array of each component's (x0, y0, x1, y1), in one pass over its pixels."""
    ys, xs = np.nonzero(labels)
    owner = labels[ys, xs] - 1
    boxes = np.empty((count, 4), np.int64)
    boxes[:, :2] = np.iinfo(np.int64).max
    boxes[:, 2:] = -1
    np.minimum.at(boxes[:, 0], owner, xs)
    np.minimum.at(boxes[:, 1], owner, ys)
    np.maximum.at(boxes[:, 2], owner, xs + 1)
    np.maximum.at(boxes[:, 3], owner, ys + 1)
    return boxes


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
