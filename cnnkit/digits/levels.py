"""Statistics of a picture's grey levels: quantiles and Otsu's threshold from one histogram,
read from a regular subsample."""

from __future__ import annotations

import numpy as np

SAMPLE_PIXELS = 1 << 14  # statistics (percentiles, medians, Otsu) read at most this many


class Levels:
    """The distribution of values in 0..1 as counts in ``BINS`` equal bins.

    One pass of counting answers every quantile and Otsu's threshold; sorting (what
    ``np.median`` and ``np.percentile`` do) costs several times more, once per question.
    """

    BINS = 4096

    def __init__(self, values: np.ndarray):
        from cnnkit.digits.backend import kernels

        self.counts, self._cdf, self._otsu = kernels().level_distribution(np.asarray(values),
                                                                          self.BINS)

    def quantile(self, q: float) -> float:
        """The value below which a share ``q`` of the values lie (to 1/BINS)."""
        return float(np.searchsorted(self._cdf, q)) / (self.BINS - 1)

    def otsu(self) -> float:
        """Otsu's threshold on 256 levels: maximises the between-class variance."""
        return self._otsu


def otsu(values: np.ndarray) -> float:
    """Otsu's threshold of values in 0..1 (256 levels)."""
    return Levels(values).otsu()


def sample(values: np.ndarray, limit: int = SAMPLE_PIXELS) -> np.ndarray:
    """Every k-th pixel in both directions, at most about ``limit`` of them.

    Statistics of a picture (its paper level, noise, Otsu threshold) are the same on a regular
    subsample, which keeps each pixel's own noise (unlike averaging) and costs a fraction.
    """
    step = max(1, int(np.sqrt(values.size / limit)))
    return values[::step, ::step]


def median(values: np.ndarray):
    """``np.median(values)``, the same value, without importing numpy.ma as np.median does
    (0.02 s of a one-picture command): the middle value, or the mean of the two middle
    values of an even count, averaged as np.mean averages them (float64 for integers).
    ``values`` must be finite."""
    flat = np.ravel(values)
    half = flat.size // 2
    middle = (half,) if flat.size % 2 else (half - 1, half)
    return np.partition(flat, middle)[middle[0]:half + 1].mean()


def quantile(values: np.ndarray, q: float):
    """``np.quantile(values, q)`` (linear), the same value, without importing numpy.ma as
    np.quantile does: the two order statistics around ``(n - 1) * q``, interpolated in the
    values' own float type from the nearer one, as numpy's lerp does. ``values`` must be
    finite and non-empty; ``q`` a Python float."""
    flat = np.ravel(values)
    virtual = (flat.size - 1) * q
    below = int(np.floor(virtual))
    above = min(below + 1, flat.size - 1)
    part = np.partition(flat, (below, above) if above > below else below)
    low, high, t = part[below], part[above], virtual - below
    step, kind = high - low, flat.dtype.type
    return high - step * kind(1 - t) if t >= 0.5 else low + step * kind(t)
