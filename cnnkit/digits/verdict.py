"""Is it a digit at all? The verdict on a prepared picture, from its ink and the model.

A model trained on digits only answers with a digit, whatever it is shown: noise, a blank
page in uneven light, a photo of a desk. The preprocessing then finds "ink" in texture, a
shadow or the edge of a sheet, and the model reads it, often confidently. What the ink looks
like tells them apart better than the model's confidence does: a digit is one to a few parts
(noise is hundreds of specks), covers a modest share of the picture, and is made of strokes,
lines about 2.4 px wide at 28x28, where a shadow or a sphere is a solid blob. The limits below
lie outside what the MNIST training digits, the user-style photos (bench/user_digits.py) and
real handwriting show, with a margin; bench/non_digit_bench.py measures both sides.
"""

from __future__ import annotations

import numpy as np

DIGIT = "digit"
NO_DIGIT = "no digit"
UNSURE = "unsure"
MAX_PARTS = 6  # separate parts of ink kept (a digit drawn in a few strokes: up to 4)
MIN_KEPT = 0.9  # the kept parts' share of all the ink: below it, the rest is speckle
MAX_INK = 0.4  # the ink's share of the picture
MAX_DEPTH = 5  # erosions a digit's 28x28 ink survives, as drawn (MNIST: 5 or fewer for 99.9%)
MIN_CONTRAST = 0.4  # the ink's strength over the paper, 0..1 (real ink: 0.45 and up) ...
MIN_SHARPNESS = 0.35  # ... unless its edges are steep: faint pencil (0.6), shadows (0.1-0.25)
MAX_ASPECT = 2.5  # width / height of one digit's ink (real digits: up to 1.8)
NUMBER_ASPECT = 0.9  # a number's ink is about as wide as high or wider (a single digit: ~0.6)
# the model's probability under which a digit is flagged unsure: 0.6 until the bundled model
# learnt drawn digits (docs/model.md), which made it surer of strokes in photo crops too
UNSURE_BELOW = 0.7


def erosion_depth(digit: np.ndarray, level: float = 0.5) -> int:
    """How many 3x3 erosions (crosses and squares in turn, an octagon) it takes for the
    ink above ``level`` of ``digit`` (28, 28) in 0..1 to vanish: about the radius of the
    widest place in the ink. MNIST digits: 2 (80%), at most 5 (99.9%)."""
    from cnnkit.digits.backend import kernels

    return kernels().erosion_steps(digit > level)


def not_a_digit(evidence: dict, digits: int = 1) -> str:
    """Why the ink measured by the preprocessing is no digit (or number of ``digits``
    digits), or "" when it may well be one. ``evidence``: :func:`cnnkit.digits.prepare.ink_box`
    plus ``contrast`` (and ``depth`` for one digit)."""
    if evidence["parts"] > MAX_PARTS * digits or evidence["kept"] < MIN_KEPT:
        return "scattered specks, not strokes"
    if evidence["ink"] > MAX_INK:
        return "the 'ink' covers most of the picture"
    if evidence["edges"] >= 3:
        return "the 'ink' runs off three sides of the picture"
    if evidence["contrast"] < MIN_CONTRAST and evidence.get("sharpness", 1) < MIN_SHARPNESS:
        return "only a faint, soft-edged shade stands out from the background"
    if digits == 1 and evidence.get("aspect", 0) > MAX_ASPECT:
        return "far wider than a digit"
    if evidence.get("depth", 0) > MAX_DEPTH:
        return "a solid blob, not strokes"
    return ""


def looks_like_number(evidence: dict) -> bool:
    """Several digit-high groups of ink side by side, together at least about as wide as
    high: a number. (A 4 or a 5 drawn in pieces is narrower, or its pieces are shorter.)"""
    return evidence.get("groups", 1) > 1 and evidence.get("aspect", 0) >= NUMBER_ASPECT


def judge(evidence: dict, confidence: float, digits: int = 1) -> tuple[str, str]:
    """(verdict, why) for a prepared digit (or a number of ``digits``) the model read with
    probability ``confidence`` (the least of its digits'): ``digit``, ``unsure`` (digit-like
    ink the model reads with less than UNSURE_BELOW) or ``no digit``. An empty ``evidence``
    (``--preprocess none``, ``--multi``: already judged) leaves it to the model."""
    if digits > 1:  # the blob test was made on the number as one digit: not for numbers
        evidence = {k: v for k, v in evidence.items() if k != "depth"}
    why = not_a_digit(evidence, digits) if evidence else ""
    if why:
        return NO_DIGIT, why
    if confidence < UNSURE_BELOW:
        return UNSURE, "low confidence"
    return DIGIT, ""
