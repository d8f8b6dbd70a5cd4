"""Turning real pictures of digits into what an MNIST model expects, the way MNIST was made.

MNIST digits are white ink (255) on black (0), size-normalised so the longer side of the ink
is 20 px (anti-aliased, hence grey levels), then placed in 28x28 with the centre of mass at
the centre. A photo of a digit on paper is none of that: dark ink on light paper, any size,
off-centre, with paper texture and uneven light. :func:`prepare_digit` closes the gap step by
step and keeps every stage so a user can see what the model saw (``numbers`` cuts a number
into its digits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnnkit.digits.backend import kernels as digit_kernels
from cnnkit.digits.levels import Levels, median, otsu, quantile, sample
from cnnkit.digits.stroke import normalise_stroke
from cnnkit.digits.verdict import erosion_depth
from cnnkit.errors import CnnkitError
from cnnkit.imaging.io import Picture

BOX = 20  # px: the longer side of the ink in MNIST
SIDE = 28
CENTRE = 14.0  # where MNIST puts the centre of mass (measured on the test set: 14.0, 14.0)
BACKGROUND_SIDE = 64  # px: the size at which paper shading is estimated
EDGE_GROW = 2  # px: how far anti-aliased stroke edges may reach beyond the thresholded ink
WORK_SIDE = 192  # px: pictures are analysed at most this large (a digit is then ~80+ px)
WORK_SIDE_NUMBER = 768  # px: the same for a number, whose digits share the width
MAX_PAPER_LEVEL = 0.5  # the ink image's paper level above which ink is not amplified more
CLOSER_BELOW = 48  # px: a digit smaller than this at the working size is looked at again
MIN_CONTRAST = 0.12  # mean ink minus mean paper, on 0..1, below which nothing is written
MIN_INK_PIXELS = 12
HYSTERESIS = 0.7  # faint ink joined to clear ink is kept down to this share of the threshold


class NoDigitError(CnnkitError):
    """The picture is blank or nearly so."""


@dataclass
class Prepared:
    """A 28x28 MNIST-style digit and the stages that made it.

    digit : ndarray (28, 28) float32, 0..255, white ink on black
    stages : (name, (H, W) float32 in 0..1) pairs, in order
    box : (x0, y0, x1, y1) of the ink in the input image
    evidence : measurements of the ink that tell a digit from other things (see ink_box)
    """

    digit: np.ndarray
    stages: list[tuple[str, np.ndarray]] = field(default_factory=list)
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    evidence: dict = field(default_factory=dict)


def to_grey(picture: Picture) -> np.ndarray:
    """(H, W) float32 in 0..1; transparent areas count as white paper."""
    pixels = picture.pixels
    if pixels.ndim == 3:  # ITU-R 601 luma, as Pillow's own grey conversion
        pixels = pixels @ np.float32([0.299, 0.587, 0.114])
    grey = np.multiply(pixels, np.float32(1 / picture.maxval), dtype=np.float32)
    if picture.alpha is not None:
        alpha = picture.alpha * np.float32(1 / picture.maxval)
        grey = grey * alpha + (1 - alpha)
    return grey


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
    paper = float(median(_border(grey)))
    levels = Levels(sample(grey))
    dark, light = levels.quantile(0.005), levels.quantile(0.995)
    paper_is_light = paper - dark > light - paper
    return (1 - grey if paper_is_light else grey.copy()), bool(paper_is_light)


def paper_level(ink: np.ndarray) -> np.ndarray:
    """The paper's own level under the ink (uneven light, shadows), shape (H, W).

    A quadratic surface is fitted to the paper pixels of a small copy; pixels standing more
    than 3 noise widths above the fit (and their neighbours, the strokes' blurred edges) are
    ink and left out, and the fit is repeated. Unlike a morphological opening, this does not
    mistake the inside of a thick stroke for paper.
    """
    kernels = digit_kernels()
    height, width = ink.shape
    scale = BACKGROUND_SIDE / max(height, width)
    small_w, small_h = max(4, round(width * scale)), max(4, round(height * scale))
    small = kernels.resample(ink, (small_w, small_h), kernels.BOX).astype(np.float64)
    paper = small <= otsu(small)  # otsu clips to 0..1
    # least squares over the paper pixels only, three rounds, each leaving out what stands
    # more than 3 noise widths above the last fit (and its neighbours: the strokes' edges)
    fit = kernels.paper_fit(small, paper, float(median(small)))
    return kernels.resample(fit.astype(np.float32), (width, height), kernels.BILINEAR)


def remove_background(ink: np.ndarray) -> np.ndarray:
    """Flatten the paper to 0 and rescale the ink against it, shape (H, W) in 0..1.

    With the paper at level ``b`` (from :func:`paper_level`, at most ``MAX_PAPER_LEVEL``),
    ``(ink - b) / (1 - b)`` is the ink's strength relative to the paper under it: for dark ink
    on paper that is ``1 - grey / paper``, so a stroke in a shadow is as strong as one in the
    light.
    """
    # paper darker than mid-grey in the ink image means no room for ink: amplifying by more
    # than 2 would only turn noise into "ink"
    level = np.clip(paper_level(ink), 0, MAX_PAPER_LEVEL)
    return np.clip((ink - level) / (1 - level), 0, 1).astype(np.float32)


def clean_ink(ink: np.ndarray, evidence: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Threshold away paper texture but keep the ink's grey levels and soft edges.

    The paper level and its noise come from the median and the median absolute deviation;
    the threshold is Otsu's, but never inside the noise. Ink is then measured from just above
    the noise, not from the threshold, and pixels within ``EDGE_GROW`` px of the ink keep
    their level too, so strokes keep the anti-aliased edges MNIST digits have. Returns
    (cleaned (H, W) 0..1 with the strong ink at 1, mask of ink pixels). Raises NoDigitError
    when nothing stands out.
    """
    kernels = digit_kernels()
    few = sample(ink)
    levels = Levels(few)
    floor = levels.quantile(0.5)
    spread = 1.4826 * Levels(np.abs(few - floor)).quantile(0.5) + 1e-3
    strong = levels.quantile(0.999)  # a small digit may cover only 0.1% of a picture
    if strong - floor < MIN_CONTRAST:
        raise NoDigitError(f"no digit found (nothing stands out from the background by more "
                           f"than {strong - floor:.0%} of the brightness range)")
    if evidence is not None:
        evidence["contrast"] = strong - floor
    threshold = max(levels.otsu(), floor + 4 * spread)
    mask = ink > threshold
    if mask.sum() < MIN_INK_PIXELS:
        raise NoDigitError("no digit found (the picture is blank or nearly so)")
    # faint ink joined to clear ink is ink too (as Canny keeps edges)
    mask = kernels.hysteresis(ink, mask, max(floor + 4 * spread, HYSTERESIS * threshold))
    level = Levels(ink[mask]).quantile(0.9)
    base = floor + 3 * spread
    cleaned, steepness = kernels.kept_ink(ink, mask, base, max(level - base, 1e-6), EDGE_GROW)
    if evidence is not None:
        evidence["sharpness"] = _sharpness(steepness, level - floor)
    return cleaned, mask


def _sharpness(steepness: np.ndarray, contrast: float) -> float:
    """How steep the ink's edges are: the 90th percentile of ``steepness``, the gradient along
    the mask's outline (:func:`cnnkit.ops.ink.edge_gradients`), as a share of the ink's
    contrast per pixel. A pen line, even a faint or blurred one, rises to its level within a
    few pixels (0.2 and up); a shadow or a fold in the paper takes ten or more (below 0.1)."""
    if steepness.size == 0 or contrast <= 0:
        return 0.0
    return float(quantile(steepness, 0.9)) / contrast


def ink_box(mask: np.ndarray, min_share: float = 0.05
            ) -> tuple[tuple[int, int, int, int], dict]:
    """(x0, y0, x1, y1) around the ink, ignoring specks under ``min_share`` of the largest part.

    Also returns what the ink looks like, the evidence for :mod:`cnnkit.digits.verdict`:
    ``parts`` (how many parts are kept), ``kept`` (their share of all the ink), ``ink`` (the
    ink's share of the picture), ``box`` (the box's share of the picture), ``groups`` (side
    by side groups of parts at least half as high as the ink: several digits?), ``aspect``
    (width / height of the box) and ``edges`` (picture sides the ink touches).
    Raises NoDigitError when no part is large enough to be a stroke.
    """
    kernels = digit_kernels()
    labels, count = kernels.label_components(mask)
    areas, boxes = kernels.component_boxes(labels, count)
    if count == 0 or areas.max() < MIN_INK_PIXELS:
        raise NoDigitError("no digit found (only specks stand out from the background)")
    keep = areas >= max(2, min_share * areas.max())
    boxes = boxes[keep]
    x0, y0 = boxes[:, :2].min(axis=0)
    x1, y1 = boxes[:, 2:].max(axis=0)
    evidence = {"parts": int(keep.sum()), "kept": float(areas[keep].sum() / areas.sum()),
                "ink": float(areas.sum() / mask.size),
                "box": float((x1 - x0) * (y1 - y0) / mask.size),
                "groups": sum(int(b[3] - b[1] >= 0.5 * (y1 - y0))  # digit-high groups only
                              for b in _merge_overlapping(sorted(boxes.tolist()))),
                "aspect": float((x1 - x0) / max(1, y1 - y0)),
                "edges": int(x0 == 0) + int(y0 == 0) + int(x1 == mask.shape[1])
                + int(y1 == mask.shape[0])}
    return (int(x0), int(y0), int(x1), int(y1)), evidence


def fit_mnist(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale a tight ink crop (0..1) so its longer side is 20 px, anti-aliased from the full
    resolution, and centre its mass in 28x28. Returns (resized crop, 28x28 in 0..1)."""
    height, width = ink.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    kernels = digit_kernels()
    resized = np.clip(kernels.resample(ink, size, kernels.LANCZOS), 0, 1)
    _, cy, cx = kernels.centre_of_mass(resized)
    top, left = int(round(CENTRE - cy)), int(round(CENTRE - cx))
    canvas = np.zeros((SIDE, SIDE), np.float32)
    ys0, xs0 = max(top, 0), max(left, 0)
    ys1, xs1 = min(top + resized.shape[0], SIDE), min(left + resized.shape[1], SIDE)
    canvas[ys0:ys1, xs0:xs1] = resized[ys0 - top:ys1 - top, xs0 - left:xs1 - left]
    return resized, canvas


def shrink(grey: np.ndarray, side: int, scale: float = 1.0
           ) -> tuple[np.ndarray, tuple[float, float]]:
    """Area-average ``grey`` (H, W) so its longer side is at most ``side``; ``scale``
    multiplies the values as they are read (uint8 pixels to 0..1 in the same pass).

    Returns the working copy and (x, y) scale factors from it back to ``grey``. Averaging is
    the right anti-aliasing for the later 20 px resampling, and makes every step after it
    cost the same for a phone photo as for a thumbnail.
    """
    height, width = grey.shape
    if max(height, width) <= side:
        return grey, (1.0, 1.0)
    kernels = digit_kernels()
    factor = side / max(height, width)
    size = max(1, round(width * factor)), max(1, round(height * factor))
    return (kernels.resample(grey, size, kernels.BOX, scale),
            (width / size[0], height / size[1]))


def work_copy(picture: Picture, side: int) -> tuple[np.ndarray, tuple[float, float]]:
    """``shrink(to_grey(picture), side)``, in one pass for a grey picture without alpha (the
    scaling to 0..1 happens as the pixels are read)."""
    pixels = picture.pixels
    if pixels.ndim == 2 and picture.alpha is None and max(pixels.shape) > side:
        return shrink(pixels, side, 1 / picture.maxval)
    return shrink(to_grey(picture), side)


def _to_picture_box(box, scale: tuple[float, float], shape) -> tuple[int, int, int, int]:
    """A box (x0, y0, x1, y1) on the working copy -> the same box on the picture, covering it."""
    x0, y0, x1, y1 = box
    sx, sy = scale
    return (int(x0 * sx), int(y0 * sy), min(shape[1], int(np.ceil(x1 * sx))),
            min(shape[0], int(np.ceil(y1 * sy))))


def prepare_digit(picture: Picture) -> Prepared:
    """The whole MNIST-style preprocessing of one picture holding one digit."""
    return _prepare(picture, WORK_SIDE, closer=True)


def _prepare(picture: Picture, side: int, closer: bool) -> Prepared:
    work, (sx, sy) = work_copy(picture, side)
    shape = picture.pixels.shape[:2]
    ink, inverted = ink_image(work)
    flattened = remove_background(ink)
    measured: dict = {}
    cleaned, mask = clean_ink(flattened, measured)
    (x0, y0, x1, y1), evidence = ink_box(mask)
    evidence.update(measured)
    box = _to_picture_box((x0, y0, x1, y1), (sx, sy), shape)
    if closer and max(x1 - x0, y1 - y0) < CLOSER_BELOW and (sx > 1 or sy > 1):
        # a small digit in a large picture: prepare it again from the full-resolution pixels
        # around it, with as much paper again on every side
        pad = max(box[2] - box[0], box[3] - box[1])
        left, top = max(0, box[0] - pad), max(0, box[1] - pad)
        right, bottom = min(shape[1], box[2] + pad), min(shape[0], box[3] + pad)
        window = np.s_[top:bottom, left:right]
        near = _prepare(Picture(np.ascontiguousarray(picture.pixels[window]),
                                None if picture.alpha is None else
                                np.ascontiguousarray(picture.alpha[window]), picture.maxval),
                        side, False)
        a, b, c, d = near.box
        near.box = (a + left, b + top, c + left, d + top)
        return near
    crop = cleaned[y0:y1, x0:x1]
    stroked, evidence["width"], _ = normalise_stroke(crop)
    evidence["depth"] = erosion_depth(fit_mnist(crop)[1])  # as drawn, before the width changes
    resized, digit = fit_mnist(stroked)
    stages = [("1-grey", work), ("2-ink" + ("-inverted" if inverted else ""), ink),
              ("3-background-removed", flattened), ("4-thresholded", cleaned),
              ("5-cropped", crop), ("6-stroke-width", stroked), ("7-resized-20px", resized),
              ("8-centred-28x28", digit)]
    return Prepared(digit * np.float32(255), stages, box, evidence)


def prepare_raw(picture: Picture) -> Prepared:
    """``--preprocess none``: the picture already is a 28x28 MNIST-style digit."""
    grey = to_grey(picture)
    if grey.shape != (SIDE, SIDE):
        raise CnnkitError(f"--preprocess none needs a 28x28 image, got "
                          f"{grey.shape[1]}x{grey.shape[0]} (use --preprocess mnist)")
    return Prepared(grey * np.float32(255), [("28x28", grey)], (0, 0, SIDE, SIDE))


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
