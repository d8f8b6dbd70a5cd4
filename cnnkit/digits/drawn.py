"""Digits drawn from pen-stroke templates, for training alongside MNIST.

MNIST was written by American census staff and students, and some ways of writing a digit
are rare in it: a 1 with a flag and a foot, a 4 with a closed top (as printed), a 7 with a
bar through it, a 9 whose tail curls. Real pictures hold them, and a model trained on MNIST
alone reads a drawn 1 with a flag as a 7 nearly half the time (docs/model.md). This module
draws such digits, each a random variation of a template: every point moved a little, the
whole slanted, turned and narrowed, the pen 1.8 to 3.3 px wide (MNIST's range at 28x28, see
``cnnkit.digits.stroke``), then size-normalised and centred as MNIST's digits were
(:func:`cnnkit.digits.prepare.fit_mnist`).

A template is a list of strokes; a stroke is a list of (x, y) points in a unit box (x to the
right, y down) and whether a smooth curve passes through them (``True``) or straight lines
join them.
"""

from __future__ import annotations

import numpy as np

CURVE, LINES = True, False
Stroke = tuple[bool, list[tuple[float, float]]]

TEMPLATES: dict[int, list[list[Stroke]]] = {
    0: [[(CURVE, [(0.55, 0.0), (0.2, 0.15), (0.05, 0.5), (0.2, 0.88), (0.5, 1.0), (0.8, 0.85),
                  (0.95, 0.5), (0.8, 0.12), (0.5, 0.02)])]],
    1: [[(LINES, [(0.5, 0.0), (0.5, 1.0)])],
        [(LINES, [(0.2, 0.25), (0.55, 0.0), (0.55, 1.0)])],
        [(LINES, [(0.2, 0.25), (0.5, 0.0), (0.5, 1.0)]), (LINES, [(0.15, 1.0), (0.85, 1.0)])]],
    2: [[(CURVE, [(0.08, 0.25), (0.4, 0.0), (0.8, 0.1), (0.8, 0.4), (0.4, 0.72), (0.05, 1.0)]),
         (LINES, [(0.05, 1.0), (0.95, 0.98)])],
        [(CURVE, [(0.1, 0.2), (0.5, 0.0), (0.85, 0.25), (0.6, 0.6), (0.15, 0.95), (0.1, 0.8),
                  (0.3, 0.82), (0.6, 1.0), (0.95, 0.95)])]],
    3: [[(CURVE, [(0.1, 0.15), (0.45, 0.0), (0.82, 0.12), (0.78, 0.38), (0.4, 0.48)]),
         (CURVE, [(0.4, 0.48), (0.85, 0.6), (0.9, 0.85), (0.5, 1.0), (0.08, 0.88)])],
        [(LINES, [(0.1, 0.0), (0.85, 0.0), (0.4, 0.42)]),
         (CURVE, [(0.4, 0.42), (0.85, 0.58), (0.9, 0.85), (0.5, 1.0), (0.08, 0.88)])]],
    4: [[(LINES, [(0.35, 0.0), (0.05, 0.65), (0.95, 0.65)]), (LINES, [(0.7, 0.2), (0.7, 1.0)])],
        [(LINES, [(0.7, 1.0), (0.7, 0.0), (0.05, 0.65), (0.95, 0.65)])],
        [(LINES, [(0.6, 1.0), (0.6, 0.0), (0.05, 0.7), (0.95, 0.7)])]],
    5: [[(LINES, [(0.85, 0.0), (0.2, 0.0), (0.15, 0.45)]),
         (CURVE, [(0.15, 0.45), (0.55, 0.35), (0.9, 0.6), (0.8, 0.9), (0.45, 1.0), (0.1, 0.88)])],
        [(LINES, [(0.2, 0.0), (0.15, 0.45)]),
         (CURVE, [(0.15, 0.45), (0.55, 0.35), (0.9, 0.6), (0.8, 0.9), (0.45, 1.0), (0.1, 0.88)]),
         (LINES, [(0.2, 0.0), (0.9, 0.0)])]],
    6: [[(CURVE, [(0.75, 0.0), (0.35, 0.25), (0.1, 0.65), (0.3, 0.98), (0.7, 0.95), (0.85, 0.7),
                  (0.55, 0.5), (0.15, 0.65)])]],
    7: [[(LINES, [(0.05, 0.0), (0.95, 0.0), (0.35, 1.0)])],
        [(LINES, [(0.05, 0.0), (0.95, 0.0), (0.35, 1.0)]), (LINES, [(0.3, 0.5), (0.85, 0.5)])],
        [(LINES, [(0.05, 0.15), (0.05, 0.0), (0.95, 0.0)]),
         (CURVE, [(0.95, 0.0), (0.6, 0.45), (0.45, 1.0)])]],
    8: [[(CURVE, [(0.8, 0.15), (0.5, 0.0), (0.2, 0.15), (0.3, 0.38), (0.7, 0.6), (0.85, 0.85),
                  (0.5, 1.0), (0.15, 0.85), (0.3, 0.6), (0.7, 0.38), (0.8, 0.15)])]],
    9: [[(CURVE, [(0.85, 0.25), (0.5, 0.0), (0.15, 0.2), (0.2, 0.45), (0.5, 0.52),
                  (0.85, 0.3)]), (LINES, [(0.85, 0.1), (0.8, 1.0)])],
        [(CURVE, [(0.85, 0.25), (0.5, 0.0), (0.15, 0.2), (0.2, 0.45), (0.5, 0.52),
                  (0.85, 0.3)]), (CURVE, [(0.85, 0.1), (0.85, 0.6), (0.6, 0.97), (0.25, 0.92)])]],
}

JITTER = 0.035  # standard deviation of each point's move, in units of the box
MAX_TURN = 8.0  # degrees either way
MAX_SLANT = 0.3  # x moves by up to this much per unit up, either way
NARROWEST = 0.55  # the box's width is scaled by 0.55..1
WAIST = 1.6  # heights y are remapped to y ** g, g from 1 / WAIST to WAIST (where a 4's bar is)
PEN = (1.8, 3.3)  # px at 28x28: MNIST's 10th to 90th percentile of stroke width
DRAW_SIDE = 64  # px: the longer side of the ink when drawn, before the 20 px resize
POINTS_PER_SPAN = 8  # segments per span of a curve


def _curve(points: np.ndarray) -> np.ndarray:
    """A Catmull-Rom spline through ``points`` (P, 2): (P - 1) * POINTS_PER_SPAN + 1 points."""
    padded = np.concatenate([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, POINTS_PER_SPAN, endpoint=False)[:, None]
    out = []
    for k in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[k - 1], padded[k], padded[k + 1], padded[k + 2]
        out.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (3 * p1 - p0 - 3 * p2 + p3) * t ** 3))
    out.append(points[-1:])
    return np.concatenate(out)


def _paths(template: list[Stroke], rng: np.random.Generator) -> list[np.ndarray]:
    """The template's strokes as polylines, every point moved, the whole slanted, turned and
    narrowed, its parts' heights changed (a 4's bar higher or lower, a 9's loop larger or
    smaller). Points two strokes share move together, so joined strokes stay joined."""
    moves: dict[tuple[float, float], np.ndarray] = {}
    turn = np.radians(rng.uniform(-MAX_TURN, MAX_TURN))
    slant = rng.uniform(-MAX_SLANT, MAX_SLANT)
    narrow = rng.uniform(NARROWEST, 1.0)
    waist = np.exp(rng.uniform(-np.log(WAIST), np.log(WAIST)))
    cos, sin = np.cos(turn), np.sin(turn)
    paths = []
    for smooth, points in template:
        # a draw for every point, shared or not (the digits of a seed depend on it)
        moved = np.array([p + moves.setdefault(p, rng.normal(0, JITTER, 2)) for p in points])
        line = _curve(moved) if smooth else moved
        y = np.clip(line[:, 1], 0, None) ** waist - 0.5
        x = (line[:, 0] - 0.5) * narrow - slant * y
        paths.append(np.stack([cos * x - sin * y, sin * x + cos * y], axis=1))
    return paths


def draw_digit(label: int, rng: np.random.Generator, style: int | None = None) -> np.ndarray:
    """One digit ``label`` in MNIST's form: (28, 28) float32 0..1, white ink on black.

    ``style`` picks the template (default: one at random); ``rng`` draws the variation.
    """
    from cnnkit.digits.prepare import fit_mnist
    from cnnkit.ops.pen import draw_segments

    templates = TEMPLATES[label]
    template = templates[rng.integers(len(templates)) if style is None else style]
    paths = _paths(template, rng)
    corner = np.min([p.min(axis=0) for p in paths], axis=0)
    extent = np.max([p.max(axis=0) for p in paths], axis=0) - corner
    scale = DRAW_SIDE / max(float(extent.max()), 1e-6)
    pen = rng.uniform(*PEN) * DRAW_SIDE / 20
    margin = pen
    size = np.ceil(extent * scale + 2 * margin).astype(int) + 1
    canvas = np.zeros((size[1], size[0]), np.float32)
    for path in paths:
        points = (path - corner) * scale + margin
        draw_segments(canvas, np.concatenate([points[:-1], points[1:]], axis=1), pen)
    rows = np.flatnonzero(canvas.max(axis=1) > 0)
    cols = np.flatnonzero(canvas.max(axis=0) > 0)
    return fit_mnist(canvas[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])[1]


def drawn_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` drawn digits, the labels in turn 0..9: ((count, 28, 28) uint8, (count,)
    uint8), the same for the same ``seed``."""
    rng = np.random.default_rng([seed, 4])
    labels = (np.arange(count) % 10).astype(np.uint8)
    images = np.empty((count, 28, 28), np.uint8)
    for k, label in enumerate(labels):
        images[k] = np.round(draw_digit(int(label), rng) * 255)
    return images, labels


def for_recipe(recipe) -> tuple[np.ndarray, np.ndarray]:
    """The drawn digits of a training recipe (``cnnkit.nn.train.TrainConfig``): its
    ``drawn`` count, from its ``seed``."""
    return drawn_digits(recipe.drawn, recipe.seed)
