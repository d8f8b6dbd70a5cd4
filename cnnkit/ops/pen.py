"""Drawing pen strokes: line segments of a given width, anti-aliased, onto a canvas.

Used to draw training digits from stroke templates (``cnnkit.digits.drawn``).
"""

from __future__ import annotations

import math

import numpy as np

from cnnkit.ops._jit import njit_exact


@njit_exact
def _draw(canvas, segments, radius):
    height, width = canvas.shape
    reach = radius + 1.0
    for s in range(segments.shape[0]):
        x0, y0, x1, y1 = segments[s, 0], segments[s, 1], segments[s, 2], segments[s, 3]
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        left = max(0, int(math.floor(min(x0, x1) - reach)))
        right = min(width - 1, int(math.ceil(max(x0, x1) + reach)))
        top = max(0, int(math.floor(min(y0, y1) - reach)))
        bottom = min(height - 1, int(math.ceil(max(y0, y1) + reach)))
        for y in range(top, bottom + 1):
            py = y + 0.5
            for x in range(left, right + 1):
                px = x + 0.5
                t = 0.0
                if length2 > 0.0:
                    t = min(1.0, max(0.0, ((px - x0) * dx + (py - y0) * dy) / length2))
                ex, ey = px - (x0 + t * dx), py - (y0 + t * dy)
                # full ink within radius - 0.5 of the segment, none beyond radius + 0.5: about
                # how much of the pixel the pen covers
                ink = min(1.0, max(0.0, radius + 0.5 - math.sqrt(ex * ex + ey * ey)))
                if ink > canvas[y, x]:
                    canvas[y, x] = ink


def draw_segments(canvas: np.ndarray, segments: np.ndarray, width: float) -> None:
    """Draw ``segments`` (M, 4) as (x0, y0, x1, y1) in pixel units (0 is a pixel's left or
    top edge) with a round pen ``width`` px wide onto ``canvas`` (H, W) float32, in place.

    A pixel takes the larger of its value and the pen's coverage, so strokes that cross do
    not add up (as ink on paper).
    """
    if canvas.dtype != np.float32 or canvas.ndim != 2:
        raise ValueError("canvas must be a 2-D float32 array")
    segments = np.ascontiguousarray(segments, np.float64).reshape(-1, 4)
    _draw(canvas, segments, max(float(width), 0.0) / 2)
