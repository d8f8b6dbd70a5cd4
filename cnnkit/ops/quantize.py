"""Filter output -> pixels, a block of rows at a time: range statistics and rounding.

The statistics the range mappings need (min, max, and the 99.9th percentile of ``|x|`` for
``edges``) come from histograms of the float32 bit patterns instead of a sort: the top 16
bits of a non-negative float32 order it like its value, so one histogram finds the bin that
holds a given rank and a second one over the low 16 bits of that bin finds the exact value.
Every rounding matches numpy's (the kernels are compiled without fastmath), so the pixels
are bit-identical to ``np.rint(np.clip(mapped, 0, maxval))``.
"""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit_exact_parallel, prange
from cnnkit.ops.ranges import MAPPINGS, interpolate, ranks

HIST_BINS = 1 << 16
SAMPLE_MIN = 20_000  # values: below, a sample says too little about a 99.9th percentile


@njit_exact_parallel
def _finish(values, other, magnitude, bias, relu):
    """In place, per row: gradient magnitude with ``other``, then ``+ bias``, then ReLU."""
    for i in prange(values.shape[0]):
        row, second = values[i], other[i]
        for t in range(row.shape[0]):
            v = row[t]
            if magnitude:
                v = np.sqrt(v * v + second[t] * second[t])
            if bias != 0:
                v = v + bias
            if relu:
                v = v if v > 0 else np.float32(0.0)
            row[t] = v


@njit_exact_parallel
def _scan(values, lows, highs, hist, with_hist):
    """Per chunk ``c`` of rows (``c::C``): min, max and, if asked, a histogram of the top
    16 bits of ``|x|``. lows, highs : (C,) float32; hist : (C, 65536) int64."""
    chunks = hist.shape[0]
    bits = values.view(np.uint32)
    for c in prange(chunks):
        lo, hi = lows[c], highs[c]
        for i in range(c, values.shape[0], chunks):
            row = values[i]
            for t in range(row.shape[0]):
                v = row[t]
                lo = min(lo, v)
                hi = max(hi, v)
            if with_hist:
                brow = bits[i]
                for t in range(brow.shape[0]):
                    hist[c, (brow[t] & np.uint32(0x7FFFFFFF)) >> 16] += 1
        lows[c], highs[c] = lo, hi


@njit_exact_parallel
def _scan_low(values, high_bins, hist):
    """Histograms of the low 16 bits of ``|x|`` for the values whose top 16 bits are
    ``high_bins[0]`` or ``high_bins[1]``. high_bins : (2,) uint32; hist : (C, 2, 65536)."""
    chunks = hist.shape[0]
    bits = values.view(np.uint32)
    first, second = high_bins[0], high_bins[1]
    for c in prange(chunks):
        for i in range(c, values.shape[0], chunks):
            brow = bits[i]
            for t in range(brow.shape[0]):
                b = brow[t] & np.uint32(0x7FFFFFFF)
                high = b >> 16
                if high == first:
                    hist[c, 0, b & np.uint32(0xFFFF)] += 1
                if high == second:
                    hist[c, 1, b & np.uint32(0xFFFF)] += 1


@njit_exact_parallel
def _to_pixels(values, mapping, shift, scale, maxval, out_scale, out_max, dst, outside):
    """Map each value (see ``MAPPINGS``), count those outside ``[0, maxval]``, cut them,
    then round ``mapped * out_scale`` into ``dst`` (uint8 or uint16, same shape)."""
    for i in prange(values.shape[0]):
        row, out = values[i], dst[i]
        count = 0
        for t in range(row.shape[0]):
            v = row[t]
            if mapping == 1:
                v = abs(v)
            elif mapping == 2:
                v = v + shift
            elif mapping == 3:
                v = (v - shift) * scale
            elif mapping == 4:
                v = abs(v) * scale
            if v < 0 or v > maxval:
                count += 1
            v = min(max(v, np.float32(0.0)), maxval)
            q = np.rint(v * out_scale)
            out[t] = min(max(q, np.float32(0.0)), out_max)
        outside[i] += count


def finish(values: np.ndarray, other: np.ndarray | None, bias: float, relu: bool) -> None:
    """In place on ``values`` (n, m) float32: ``sqrt(values**2 + other**2)`` when ``other`` is
    given, then ``+ bias``, then ``max(x, 0)`` if ``relu``; the same roundings as numpy."""
    if other is None and not bias and not relu:
        return
    _finish(values, values if other is None else other, other is not None, np.float32(bias),
            relu)


class RangeStats:
    """Min, max and (optionally) the exact ``q``-th percentile of ``|x|``, gathered block by
    block over two scans: ``add`` every block, then ``refine`` every block with the same
    values, then ``percentile()`` equals ``np.percentile(np.abs(all), q)``."""

    def __init__(self, percentile: float | None = None, chunks: int = 2):
        self.q = percentile
        self.count = 0
        self._lows = np.full(chunks, np.inf, np.float32)
        self._highs = np.full(chunks, -np.inf, np.float32)
        self._hist = np.zeros((chunks, HIST_BINS if percentile is not None else 1), np.int64)
        self._wanted: tuple[int, int] | None = None
        self._low_hist = None

    def add(self, values: np.ndarray) -> None:
        self.count += values.size
        _scan(values, self._lows, self._highs, self._hist, self.q is not None)

    def merge(self, low: float, high: float) -> None:
        """Take in the min and max of values scanned elsewhere."""
        self._lows[0] = min(self._lows[0], low)
        self._highs[0] = max(self._highs[0], high)

    @property
    def min(self) -> float:
        return float(self._lows.min())

    @property
    def max(self) -> float:
        return float(self._highs.max())

    def _ranks(self) -> tuple[int, int, float]:
        """numpy's 'linear' percentile: the two order statistics and the weight between them."""
        return ranks(self.count, self.q)

    def needs_refine(self) -> bool:
        return self.q is not None and self.count > 0

    def refine(self, values: np.ndarray) -> None:
        _scan_low(values, self.wanted(), self._low_hist)

    def wanted(self) -> np.ndarray:
        """The two top-16-bit bins that hold the percentile's order statistics, (2,) uint32
        (fixed once the first scan is complete)."""
        if self._wanted is None:
            counts = np.cumsum(self._hist.sum(axis=0))
            first, second, _ = self._ranks()
            self._wanted = tuple(int(np.searchsorted(counts, r, side="right"))
                                 for r in (first, second))
            self._low_hist = np.zeros((self._hist.shape[0], 2, HIST_BINS), np.int64)
        return np.array(self._wanted, np.uint32)

    def candidates(self, sample: np.ndarray) -> np.ndarray | None:
        """Top-16-bit bins ``[lo, hi]``, (2,) uint32, that very likely hold the percentile's
        two order statistics, judged from ``sample``: (chunks, 65536) histograms of a sample
        of the values (every so many rows). None when the sample is too small to judge.

        The bins span the sample's ranks six standard deviations of a sample quantile
        (sqrt(n q (1 - q))) either side of the percentile's, and two bins more each way;
        ``take_kept`` checks the guess, so a wrong one costs time, never exactness.
        """
        counts = np.cumsum(sample.sum(axis=0))
        n = int(counts[-1])
        if self.q is None or n < SAMPLE_MIN:
            return None
        q = self.q / 100
        rank = q * (n - 1)
        margin = 6 * np.sqrt(n * q * (1 - q)) + 16
        lo = int(np.searchsorted(counts, max(0, int(rank - margin)), side="right"))
        hi = int(np.searchsorted(counts, min(n - 1, int(np.ceil(rank + margin))), side="right"))
        return np.array([max(0, lo - 2), min(HIST_BINS - 1, hi + 2)], np.uint32)

    def take_kept(self, bins: np.ndarray, kept: np.ndarray, kept_count: np.ndarray) -> bool:
        """Do the second scan's work from values kept during the first: ``kept`` (chunks,
        capacity) uint32 holds the bits of ``|x|`` of every value whose top 16 bits lie in
        ``bins`` (``kept_count`` per chunk). Call once the first scan is complete. Returns
        False, changing nothing, when a value was dropped (a chunk past its capacity) or the
        wanted bins lie outside ``bins``: then scan a second time."""
        wanted = self.wanted()
        if (kept_count > kept.shape[1]).any() or not (
                bins[0] <= wanted[0] and wanted[1] <= bins[1]):
            return False
        values = np.concatenate([kept[c, :int(n)] for c, n in enumerate(kept_count)])
        high = values >> 16
        for k in range(2):
            self._low_hist[0, k] += np.bincount(values[high == wanted[k]] & 0xFFFF,
                                                minlength=HIST_BINS)
        return True

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The accumulators, for kernels that scan values where they are made:
        lows, highs (chunks,) float32; hist (chunks, 65536 or 1); low_hist (chunks, 2, 65536)
        once ``wanted()`` was called, else a dummy."""
        low_hist = self._low_hist if self._low_hist is not None else np.zeros((1, 2, 1),
                                                                             np.int64)
        return self._lows, self._highs, self._hist, low_hist

    def percentile(self) -> float:
        """The percentile of ``|x|`` over everything added (float, as numpy rounds it)."""
        counts = np.concatenate([[0], np.cumsum(self._hist.sum(axis=0))])
        first, second, gamma = self._ranks()
        picked = []
        for k, rank in enumerate((first, second)):
            high = self._wanted[k]
            low_counts = np.cumsum(self._low_hist[:, k].sum(axis=0))
            low = int(np.searchsorted(low_counts, rank - counts[high], side="right"))
            picked.append(np.array((high << 16) | low, np.uint32).view(np.float32)[()])
        return interpolate(*picked, gamma)


def to_pixels(values: np.ndarray, mapping: str, shift: float, scale: float, maxval: float,
              out: np.ndarray, outside: np.ndarray) -> None:
    """Map ``values`` (n, m) float32 onto ``[0, maxval]`` and round into ``out`` (n, m),
    uint8 or uint16 (scaled to 255 when ``out`` is uint8 and ``maxval`` is 65535).

    shift : the offset added (``offset``) or the minimum subtracted (``stretch``)
    scale : the factor of ``stretch`` and ``edges``
    outside : (n,) int64, += the count of values each row had to cut
    """
    out_max = 255.0 if out.dtype == np.uint8 else 65535.0
    out_scale = np.float32(255.0 / maxval) if out.dtype == np.uint8 else np.float32(1.0)
    _to_pixels(values, MAPPINGS.index(mapping), np.float32(shift), np.float32(scale),
               np.float32(maxval), out_scale, np.float32(out_max), out, outside)
