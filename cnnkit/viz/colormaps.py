"""Colour maps for pictures: a sequential one for magnitudes and a diverging one for signs.

Both are 256-entry sRGB tables built by interpolating a few anchor colours in CIELAB, where
equal steps look roughly equally different. ``sequential`` runs dark blue-violet -> teal ->
yellow with lightness rising steadily (the anchors are viridis's colours at 0, 1/4, 1/2, 3/4
and 1), so brighter always means more, also in grey print. ``diverging`` runs blue -> near
white -> red with symmetric lightness, so zero is pale and the sign is the hue.
"""

from __future__ import annotations

import numpy as np

_SEQUENTIAL_ANCHORS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")
_DIVERGING_ANCHORS = ("#3b4cc0", "#eeeeee", "#b40426")
# D65 white point and the sRGB <-> XYZ matrices (IEC 61966-2-1).
_WHITE = np.array([0.95047, 1.0, 1.08883])
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_EPSILON = (6 / 29) ** 3


def _hex_to_rgb(code: str) -> np.ndarray:
    return np.array([int(code[i:i + 2], 16) for i in (1, 3, 5)], np.float64) / 255.0


def _to_linear(rgb: np.ndarray) -> np.ndarray:
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def _to_gamma(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1], shape (..., 3) -> CIELAB (L in 0..100), shape (..., 3)."""
    xyz = _to_linear(rgb) @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _EPSILON, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB, shape (..., 3) -> sRGB in [0, 1], shape (..., 3) (out-of-gamut clipped)."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE
    return _to_gamma(xyz @ _XYZ_TO_RGB.T)


def _table(anchors: tuple[str, ...], size: int = 256) -> np.ndarray:
    """(size, 3) uint8: the anchors spaced evenly, linear in CIELAB between them."""
    lab = rgb_to_lab(np.stack([_hex_to_rgb(a) for a in anchors]))
    where = np.linspace(0, len(anchors) - 1, size)
    below = np.minimum(where.astype(int), len(anchors) - 2)
    t = (where - below)[:, None]
    mixed = lab[below] * (1 - t) + lab[below + 1] * t
    return np.rint(lab_to_rgb(mixed) * 255).astype(np.uint8)


SEQUENTIAL = _table(_SEQUENTIAL_ANCHORS)
DIVERGING = _table(_DIVERGING_ANCHORS)


def colorize(values: np.ndarray, table: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``values`` (any shape) through ``table`` with ``lo`` -> first and ``hi`` -> last
    entry (clipped); returns uint8 (..., 3)."""
    span = hi - lo if hi > lo else 1.0
    index = np.clip(np.rint((values - lo) * ((len(table) - 1) / span)), 0, len(table) - 1)
    return table[index.astype(np.intp)]


def signed_limits(values: np.ndarray) -> tuple[float, float]:
    """(-m, m) with m the largest magnitude, so zero sits in the middle of a diverging map."""
    m = float(np.abs(values).max()) if values.size else 0.0
    return (-m, m) if m > 0 else (-1.0, 1.0)


def luminance(rgb) -> float:
    """Relative luminance (0 black .. 1 white) of one sRGB colour given as 0..255 values."""
    linear = _to_linear(np.asarray(rgb, np.float64) / 255.0)
    return float(linear @ _RGB_TO_XYZ[1])


def text_colour(rgb) -> tuple[int, int, int]:
    """Black or white, whichever contrasts more with the background ``rgb``."""
    # WCAG contrast against black is (L + 0.05) / 0.05, against white 1.05 / (L + 0.05);
    # they are equal at L = 0.179.
    return (0, 0, 0) if luminance(rgb) > 0.179 else (255, 255, 255)
