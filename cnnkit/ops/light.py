"""The light path: numpy versions of what filtering a small picture runs, so it never
starts Numba.

Starting Numba costs a command about 0.25-0.35 s on the machine of 2026-11-25 and 0.6-0.9 s
on the slower one of 2026-12-07 (importing it, then loading the first cached kernels), more
than filtering a 1-megapixel picture takes. For small pictures these numpy versions give the
pixels of the Numba path, bit for bit:

* The correlation runs only where every sum is exact in float32 whatever the order of its
  terms (``exact_units``): integer pixels, and kernel values that are integer multiples of
  one power of two with every partial sum below 2**24 such units (Laplacians, Sobel, sharpen,
  emboss, box and binomial sums, kernels scaled by powers of two). The Numba kernels are
  compiled with fastmath, so LLVM may reorder any other sum or fuse its steps; an exact sum
  cannot come out differently. Other kernels take the Numba path.
* Finishing (bias, ReLU, gradient magnitude), the range mappings and rounding are the same
  float32 operations as the kernels compiled without fastmath (``quantize``, the pixel rows
  of ``filter2d``), so numpy rounds them alike.
* The PNG row filter choice repeats ``png._filter_rows``'s score in integers.
* A large picture's output rows are cut into bands, one per core (``bands``, ``in_threads``):
  every step is exact per value, so the cut never shows in the pixels.

``numpy_pays`` is the one place that chooses between the paths for filtering and PNG rows;
``predict`` of one picture chooses its own (``cnnkit/digits/backend.py``).
"""

from __future__ import annotations

import sys

import numpy as np

from cnnkit.ops.filter_shape import check, fits
from cnnkit.ops.ranges import interpolate, ranks

# Values (height x width x channels) up to which a picture goes the numpy way while Numba
# has not started, at up to 9 kernel taps (more taps lower it in proportion). Measured in
# bench/light_bench.py (docs/benchmarks.md, issue 12): about where the numpy path's extra
# work per value has used up the start-up it saves.
NUMPY_MAX_VALUES = 6_000_000
_TAPS = 9
EXACT_LIMIT = 1 << 24  # float32 holds every integer below this exactly
# Output values per band of rows, at least, when a filter is cut into bands for threads:
# below that a thread costs about what it saves.
BAND_VALUES = 1 << 18


def numpy_pays(values: int, taps: int = _TAPS) -> bool:
    """Whether work on ``values`` picture values (with ``taps`` kernel taps) should run in
    numpy: Numba has not been started in this process, and the work is too small to pay
    for starting it. Once Numba has started, its kernels do everything."""
    if "numba" in sys.modules:
        return False
    return values * max(taps, _TAPS) <= NUMPY_MAX_VALUES * _TAPS


def plan(values: int, kernels, maxval: float, cval: float = 0.0):
    """The light path's ``exact_units`` of each kernel of a filter of ``values`` picture
    values, or None when the filter is Numba's to run (too much work, Numba already started,
    or a sum that may round)."""
    taps = sum(int(np.count_nonzero(k)) for k in kernels)
    if not numpy_pays(values, taps):
        return None
    units = [exact_units(k, maxval, cval) for k in kernels]
    return None if any(u is None for u in units) else units


def exact_units(kernel: np.ndarray, maxval: float, cval: float = 0.0):
    """``(integers, unit)`` with ``kernel == integers * unit`` (unit a power of two) when any
    sum of kernel values times pixels (integers in ``[0, maxval]``, or ``cval``) is exact in
    float32, in any order; None otherwise.

    kernel : ndarray (kh, kw) float32; returns int64 (kh, kw) and a float.
    """
    weights = np.asarray(kernel, np.float32).astype(np.float64)
    if not np.isfinite(weights).all() or not np.isfinite(cval) or not float(cval).is_integer():
        return None
    nonzero = weights[weights != 0]
    if nonzero.size == 0:
        return np.zeros(weights.shape, np.int64), 1.0
    # A float32 is m * 2**(e - 24) with |m| < 2**24 an integer: the smallest such power of
    # two makes every value an integer; common factors of two are then taken out.
    _, exponents = np.frexp(nonzero)
    unit = 2.0 ** (int(exponents.min()) - 24)
    integers = np.rint(weights / unit).astype(np.int64)
    while np.all(integers % 2 == 0):
        integers //= 2
        unit *= 2
    reach = max(float(maxval), abs(float(cval)))
    if float(np.abs(integers).sum()) * reach >= EXACT_LIMIT:
        return None
    return integers, unit


def border_index(positions: np.ndarray, n: int, border: str) -> np.ndarray:
    """``filter2d._border_index`` for an array of positions: each mapped into ``[0, n)``, or
    -1 for the constant (``zero``, ``valid``)."""
    p = np.asarray(positions, np.int64)
    inside = (p >= 0) & (p < n)
    if border == "reflect":  # d c b a | a b c d | d c b a
        q = p % (2 * n)
        mapped = np.where(q < n, q, 2 * n - 1 - q)
    elif border == "mirror":  # d c b | a b c d | c b a
        if n == 1:
            mapped = np.zeros_like(p)
        else:
            q = p % (2 * n - 2)
            mapped = np.where(q < n, q, 2 * n - 2 - q)
    elif border == "replicate":
        mapped = np.clip(p, 0, n - 1)
    elif border == "wrap":
        mapped = p % n
    else:
        mapped = np.full_like(p, -1)
    return np.where(inside, p, mapped)


def output_height(image: np.ndarray, kernel: np.ndarray, *, op: str = "conv",
                  border: str = "reflect", cval: float = 0.0, stride: int = 1) -> int:
    """The rows ``correlate_exact`` gives, or the ValueError it would raise."""
    check(image, np.asarray(kernel), op, border, stride)
    return fits(image.shape[0], image.shape[1], np.shape(kernel), border, stride)[0]


def bands(rows: int, values: int) -> list[tuple[int, int]]:
    """``rows`` output rows of ``values`` values cut into one band per thread the command
    may use (``pending.threads``, else every core), each of ``BAND_VALUES`` or more."""
    import os

    from cnnkit.ops import pending

    cores = pending.threads or os.cpu_count() or 1
    count = max(1, min(cores, rows, values // BAND_VALUES))
    step = -(-rows // count)
    return [(start, min(rows, start + step)) for start in range(0, rows, step)]


def in_threads(work, items: list) -> list:
    """``[work(item) for item in items]``, one thread per item (numpy releases the GIL for
    whole-array work)."""
    if len(items) < 2:
        return [work(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(work, items))


def correlate_exact(image: np.ndarray, kernel: np.ndarray, *, units, op: str = "conv",
                    border: str = "reflect", cval: float = 0.0, stride: int = 1,
                    band: tuple[int, int] | None = None) -> np.ndarray:
    """``filter2d(image, kernel, ...)`` for an integer picture and a kernel that
    ``exact_units`` accepted (``units`` is its answer): summed in integers, so exact.

    image : ndarray, shape (H, W) or (H, W, C), uint8 or uint16
    band : (start, stop): only those output rows (for threads); None: all
    Returns float32, shape (Ho, Wo) or (Ho, Wo, C), the same values as ``filter2d``
    (``stop - start`` rows for a band).
    """
    image = np.asarray(image)
    kernel = np.asarray(kernel)
    check(image, kernel, op, border, stride)
    integers, unit = units
    if op == "conv":
        integers = integers[::-1, ::-1]
    kh, kw = integers.shape
    height, width = image.shape[:2]
    out_h, out_w = fits(height, width, (kh, kw), border, stride)
    first, stop = band or (0, out_h)
    out_h = stop - first
    pad_top, pad_left = (0, 0) if border == "valid" else (kh // 2, kw // 2)
    rows = border_index(np.arange(first * stride, (stop - 1) * stride + kh) - pad_top, height,
                        border)
    cols = border_index(np.arange((out_w - 1) * stride + kw) - pad_left, width, border)
    cval = cval if border == "zero" else 0.0  # the other borders never read it
    read = rows[rows >= 0]  # the picture's rows the band reads
    peak = int(image[read.min():read.max() + 1].max()) if read.size else 0
    reach = max(peak, abs(int(cval))) * int(np.abs(integers).sum())
    # The weights themselves must fit too: an all-black picture reaches 0 with any kernel.
    dtype = np.int16 if max(reach, int(np.abs(integers).max())) < (1 << 15) else np.int32
    channels = 1 if image.ndim == 2 else image.shape[2]
    source = _bordered(image.reshape(height, -1), rows, cols, channels, dtype, int(cval))
    source = source.reshape(len(rows), len(cols), channels)
    total = None
    row_end, col_end = (out_h - 1) * stride + 1, (out_w - 1) * stride + 1
    for a in range(kh):
        for b in range(kw):
            weight = int(integers[a, b])
            if weight == 0:
                continue
            window = source[a:a + row_end:stride, b:b + col_end:stride]
            if total is None:
                total = window * dtype(weight)
            elif weight == 1:
                total += window
            elif weight == -1:
                total -= window
            else:
                total += window * dtype(weight)
    if total is None:
        total = np.zeros((out_h, out_w, channels), dtype)
    total = total.reshape((out_h, out_w) + image.shape[2:])
    values = total.astype(np.float32)
    if unit != 1.0:
        values *= np.float32(unit)
    return values


def _bordered(flat: np.ndarray, rows: np.ndarray, cols: np.ndarray, channels: int, dtype,
              cval: int) -> np.ndarray:
    """``flat`` (H, W*C) with its rows and columns picked by ``rows`` and ``cols`` (-1: the
    constant ``cval``), as ``dtype``: runs of consecutive columns are copied in one go."""
    picked = np.maximum(rows, 0)
    out = np.empty((len(rows), len(cols) * channels), dtype)
    start = 0
    while start < len(cols):
        stop = start + 1
        if cols[start] < 0:
            while stop < len(cols) and cols[stop] < 0:
                stop += 1
            out[:, start * channels:stop * channels] = cval
        else:
            while stop < len(cols) and cols[stop] == cols[stop - 1] + 1:
                stop += 1
            first = int(cols[start]) * channels
            out[:, start * channels:stop * channels] = flat[
                picked, first:first + (stop - start) * channels]
        start = stop
    out[rows < 0] = cval
    return out


def finish(values: np.ndarray, other: np.ndarray | None, bias: float, relu: bool
           ) -> np.ndarray:
    """``quantize.finish`` (gradient magnitude with ``other``, ``+ bias``, ReLU), float32."""
    if other is not None:
        values = np.sqrt(values * values + other * other)
    if bias:
        values = values + np.float32(bias)
    if relu:
        values = np.where(values > 0, values, np.float32(0.0))
    return values


def to_pixels(values: np.ndarray, mapping: str, shift: float, scale: float, maxval: float,
              out_dtype) -> tuple[np.ndarray, int]:
    """``quantize.to_pixels`` of a whole array: (pixels of ``out_dtype``, how many values
    the mapping cut). Steps that cannot change a value are skipped (after ``abs`` nothing
    is below 0; at 8 bits from 8 bits the rounded values are already in range)."""
    f32 = np.float32
    shift, scale, top = f32(shift), f32(scale), f32(maxval)
    work = np.empty(values.shape, np.float32)
    if mapping in ("abs", "edges"):
        np.abs(values, out=work)
        if mapping == "edges":
            work *= scale
    elif mapping == "offset":
        np.add(values, shift, out=work)
    elif mapping == "stretch":
        np.subtract(values, shift, out=work)
        work *= scale
    else:
        work[...] = values
    signed = mapping not in ("abs", "edges") or not scale >= 0
    outside = int(np.count_nonzero(work > top))
    if signed:
        outside += int(np.count_nonzero(work < 0))
        np.maximum(work, f32(0.0), out=work)
    np.minimum(work, top, out=work)
    eight = np.dtype(out_dtype) == np.uint8
    out_scale, out_max = (f32(255.0 / maxval), f32(255.0)) if eight else (f32(1.0),
                                                                             f32(65535.0))
    if out_scale != 1:
        work *= out_scale
    np.rint(work, out=work)
    if not (out_scale == 1 and top <= out_max):
        np.minimum(np.maximum(work, f32(0.0), out=work), out_max, out=work)
    return work.astype(out_dtype), outside


def abs_percentile(values: np.ndarray | list[np.ndarray], q: float) -> float:
    """``np.percentile(np.abs(values), q)`` as ``quantize.RangeStats`` finds it, for float32
    ``values``, which may be a list of arrays (bands of one output) taken together.

    Only the values at or above a threshold guessed from every 16th value are partitioned
    (for a high ``q``, a small share of them); if the guess leaves out a wanted order
    statistic, everything is.
    """
    parts = values if isinstance(values, list) else [values]
    magnitudes = np.empty(sum(part.size for part in parts), np.float32)
    start = 0
    for part in parts:
        np.abs(part.ravel(), out=magnitudes[start:start + part.size])
        start += part.size
    count = magnitudes.size
    first, second, gamma = ranks(count, q)
    below, chosen = 0, magnitudes
    sample = magnitudes[::16]
    if sample.size >= 1024:
        at = max(0, min(sample.size - 1, int(sample.size * first / count * 0.995) - 8))
        threshold = np.partition(sample, at)[at]
        candidates = magnitudes[magnitudes >= threshold]
        if count - candidates.size <= first:
            below, chosen = count - candidates.size, candidates
    wanted = sorted({first - below, second - below})
    picked = np.partition(chosen, wanted)
    return interpolate(picked[first - below], picked[second - below], gamma)


def png_filter_rows(rows: np.ndarray, above: np.ndarray, bytes_per_pixel: int) -> np.ndarray:
    """``png.filter_rows`` in numpy: each row PNG-filtered with whichever of None, Sub and
    Up scores lowest by the same score (256 per place a byte differs from the one before
    it, plus the sum of |byte as signed|), ties going Up, then Sub, then None.

    rows : (n, stride) uint8; above : (stride,) uint8. Returns (n, 1 + stride) uint8.
    """
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    above = np.ascontiguousarray(above, dtype=np.uint8)
    n, stride = rows.shape
    bpp = min(bytes_per_pixel, stride)
    sub = rows.copy()
    np.subtract(rows[:, bpp:], rows[:, :stride - bpp], out=sub[:, bpp:])
    up = np.empty_like(rows)
    if n:
        np.subtract(rows[0], above, out=up[0])
        np.subtract(rows[1:], rows[:-1], out=up[1:])
    scratch = np.empty_like(rows)

    def score(lines):
        # min(b, 256 - b) is |b as signed|; uint8 negation wraps to 256 - b
        np.negative(lines, out=scratch)
        np.minimum(lines, scratch, out=scratch)
        size = scratch.sum(axis=1, dtype=np.int64)
        breaks = 1 + np.count_nonzero(lines[:, 1:] != lines[:, :-1], axis=1)
        return size + 256 * breaks

    none_score, sub_score, up_score = score(rows), score(sub), score(up)
    kind = np.where((up_score <= sub_score) & (up_score <= none_score), 2,
                    np.where(sub_score <= none_score, 1, 0)).astype(np.uint8)
    out = np.empty((n, stride + 1), np.uint8)
    out[:, 0] = kind
    for code, lines in ((0, rows), (1, sub), (2, up)):
        chosen = kind == code
        out[chosen, 1:] = lines[chosen]
    return out
