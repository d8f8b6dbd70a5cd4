"""Bringing a digit's pen width to MNIST's before it is shrunk to 20 px.

A 1 px line drawn in Paint, or a 2 px ballpoint line on a 500 px photo, is a fifth of a pixel
wide once the digit is shrunk to MNIST's 20 px box: it survives as a faint grey trace the model
reads as a "1" or nothing. A felt-tip blob fills the loops of an 8. MNIST's own strokes are
2.4 px wide at 28x28 (median over the training set, 10th to 90th percentile 1.8 to 3.3 px,
measured with :func:`stroke_width` by ``bench/stroke_width.py``). So the width of the ink is
measured at the crop's own resolution and brought into MNIST's range, by growing thin strokes
(a grey dilation, which moves the soft edges outwards and keeps them soft) or shrinking fat
ones (a grey erosion), before the anti-aliased resize. Faint ink is first raised to the level
of MNIST's nearly saturated strokes (:func:`level_ink`), so the part of a digit written with
less pressure, or blurred, does not fade away when it is shrunk.
"""

from __future__ import annotations

import numpy as np

from cnnkit.digits.levels import median

BOX = 20  # px: the longer side of the ink in MNIST
MNIST_WIDTH = 2.4  # px at 28x28: the median stroke width of the MNIST training digits
THINNEST = 2.0  # px at 28x28: strokes thinner than this are grown to it
THICKEST = 3.3  # px at 28x28: strokes thicker than this are shrunk to it
MIN_SCALE = 3.0  # crop px per 28x28 px below which the crop is enlarged first
INK_LEVEL = 0.9  # the median level of a crop's ink (above 0.1) is raised to at least this


def stroke_width(ink: np.ndarray) -> float:
    """The mean width of the strokes in ``ink`` (H, W) 0..1, in pixels.

    A stroke of length L and width w has area ``w * L`` and an outline ``2 * L`` long, so
    ``w = 2 * area / outline``. Both are measured on the grey levels: the area is the sum of
    the ink, the outline the sum of the gradient's magnitude (a soft edge of height 1
    contributes 1 per pixel of its length, however blurred). Ends and loops make it a slight
    underestimate, the same on MNIST and on a picture.
    """
    from cnnkit.digits.backend import kernels

    return kernels().stroke_width(np.asarray(ink, np.float32))


def level_ink(crop: np.ndarray) -> np.ndarray:
    """Raise faint strokes to the level of MNIST's: ``crop`` (H, W) 0..1 scaled so that the
    median of its ink (pixels above 0.1) is at least ``INK_LEVEL``, clipped to 1.

    MNIST's strokes are nearly saturated: at 28x28 the median level of a digit's ink is 0.89
    (median over the 60,000 training digits; 10th percentile 0.73). The cleaned picture puts its strongest ink at 1, but in a blurred photo, or a drawing in
    grey 1 px lines, most of the ink is a mid-grey blur around a few strong places, and the
    faint half of a digit (the upper loop of an 8 drawn with less pressure) fades away when
    the crop is shrunk: the model reads what is left (a 3). One gain for the whole crop keeps
    the strokes' relative levels and their soft edges; the width step that follows measures
    the strokes as they now are.
    """
    ink = crop[crop > 0.1]
    if ink.size == 0:
        return crop
    middle = float(median(ink))
    if middle >= INK_LEVEL:
        return crop
    return np.minimum(crop * np.float32(INK_LEVEL / middle), np.float32(1))


def _step(ink: np.ndarray, square: bool, pick) -> np.ndarray:
    """One 3x3 step of a grey dilation (pick=np.maximum) or erosion (np.minimum)."""
    out = ink.copy()
    pick(out[1:], ink[:-1], out=out[1:])
    pick(out[:-1], ink[1:], out=out[:-1])
    if square:  # the row neighbours of the result, i.e. all 8 neighbours
        rows = out.copy()
        pick(out[:, 1:], rows[:, :-1], out=out[:, 1:])
        pick(out[:, :-1], rows[:, 1:], out=out[:, :-1])
    else:
        pick(out[:, 1:], ink[:, :-1], out=out[:, 1:])
        pick(out[:, :-1], ink[:, 1:], out=out[:, :-1])
    return out


def morph(ink: np.ndarray, radius: float, grow: bool) -> np.ndarray:
    """Grey dilation (``grow``) or erosion of ``ink`` (H, W) by an octagon of ``radius`` px.

    Alternating 3x3 crosses and squares build an octagon, close to a disc, in ``radius`` cheap
    steps; a fractional radius blends the last two steps, so the width changes smoothly.
    """
    pick = np.maximum if grow else np.minimum
    whole = int(radius)
    before = ink
    for k in range(whole):
        before = _step(before, k % 2 == 1, pick)
    fraction = np.float32(radius - whole)
    if fraction <= 0:
        return before
    after = _step(before, whole % 2 == 1, pick)
    return before + fraction * (after - before)


def _keep_holes(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Reopen the loops that growing the strokes closed: a small closed loop (the top of a
    4 written closed, the eye of a small 6) filled with ink would read as a blob or a 9.

    A hole is a part of the paper (``before`` < 0.5) that does not reach the crop's border.
    If ``after`` covers all of it, its deepest pixels (the last to survive shrinking the
    hole) are made paper again, so the loop stays a loop.
    """
    from cnnkit.digits.backend import kernels

    labels, count = kernels().label_components(before < 0.5)
    if count < 2:
        return after
    # the parts that reach the border, marked by label (np.unique would import numpy.ma,
    # 0.02 s of a one-picture command)
    on_border = np.zeros(count + 1, np.bool_)
    on_border[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
    out = after.copy()
    for hole in np.flatnonzero(~on_border[1:]) + 1:
        ys, xs = np.nonzero(labels == hole)  # a hole never touches the border: pad by 1
        window = np.s_[ys.min() - 1:ys.max() + 2, xs.min() - 1:xs.max() + 2]
        region = labels[window] == hole
        if (after[window][region] < 0.5).any():
            continue  # still open
        core = region
        while True:
            inner = core.copy()
            inner[1:] &= core[:-1]
            inner[:-1] &= core[1:]
            inner[:, 1:] &= core[:, :-1]
            inner[:, :-1] &= core[:, 1:]
            if not inner.any():
                break
            core = inner
        out[window][core] = 0
    return out


def normalise_stroke(crop: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Grow or shrink the strokes of a tight ink crop (H, W) 0..1 into MNIST's range.

    Widths are compared at the 28x28 scale the crop will be shrunk to (its longer side to 20
    px). A small crop is enlarged first (bilinear) so the change can be made in fractions of
    a final pixel. Growing strokes also grows the box (and so shrinks the final scale), and
    corners and ends take a little of the change, so a second, smaller step corrects the
    first. Returns (new crop, tight around its ink; width before; width after), the widths
    in px at 28x28.
    """
    from cnnkit.digits.backend import kernels as digit_kernels

    kernels = digit_kernels()
    height, width = crop.shape
    scale = max(height, width) / BOX  # crop px per 28x28 px
    if scale < MIN_SCALE:
        factor = MIN_SCALE / scale
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        crop = kernels.resample(crop, size, kernels.BILINEAR)
    crop = level_ink(crop)
    before = now = stroke_width(crop) / (max(crop.shape) / BOX)
    target = min(max(before, THINNEST), THICKEST)
    for _ in range(2):
        if abs(target - now) < 0.1:
            break
        grow = target > now
        scale = max(crop.shape) / BOX
        # each side moves by r: the width by 2r, the box too (when growing)
        radius = abs(target - now) * scale / 2 / ((1 - target / BOX) if grow else 1)
        pad = int(np.ceil(radius)) + 1 if grow else 0
        out = morph(np.pad(crop, pad), radius, grow)
        if grow:
            out = _keep_holes(np.pad(crop, pad), out)
        rows = np.flatnonzero(out.max(axis=1) > 0.05)
        cols = np.flatnonzero(out.max(axis=0) > 0.05)
        if rows.size == 0:  # eroded away (a stroke narrower than the radius cannot be)
            break
        crop = np.ascontiguousarray(out[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
        now = stroke_width(crop) / (max(crop.shape) / BOX)
    return crop, before, now
