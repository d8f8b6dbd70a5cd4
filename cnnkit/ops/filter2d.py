"""2-D convolution and correlation of an image with a kernel, with border modes and stride.

The image is channels-last, ``(H, W)`` or ``(H, W, C)``; every channel is filtered with the
same kernel. Convolution is the seed's
``(f*g)(x, y) = sum_m sum_n f(m, n) g(x - m, y - n)``, which is correlation with the kernel
flipped in both axes; CNN layers use correlation.
"""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit, njit_exact, njit_parallel, prange
from cnnkit.ops.filter_shape import BORDERS, MAX_KERNEL_SIDE, OPS, fits, output_shape  # noqa: F401
from cnnkit.ops.filter_shape import check as _check

_ZERO, _REFLECT, _MIRROR, _REPLICATE, _WRAP, _VALID = range(len(BORDERS))


@njit
def _border_index(p, n, mode):
    """Map index ``p`` (possibly outside ``[0, n)``) into the image, or -1 for the constant."""
    if 0 <= p < n:
        return p
    if mode == _REFLECT:  # d c b a | a b c d | d c b a
        period = 2 * n
        p %= period
        return p if p < n else period - 1 - p
    if mode == _MIRROR:  # d c b | a b c d | c b a
        if n == 1:
            return 0
        period = 2 * n - 2
        p %= period
        return p if p < n else period - p
    if mode == _REPLICATE:
        return 0 if p < 0 else n - 1
    if mode == _WRAP:
        return p % n
    return -1


@njit_parallel
def _correlate_rows(src, kernel, channels, mode, cval, stride, pad_top, pad_left, out):
    """Correlate ``src`` with ``kernel``, writing every cell of ``out``.

    src : (H, W*C) float32, a channels-last image with its channel axis folded into the row
    kernel : (kh, kw) float32
    out : (Ho, Wo*C) float32, ``out[i, j*C + c]`` is centred on source row
        ``i*stride - pad_top + kh//2`` and column ``j*stride - pad_left + kw//2``
    """
    height = src.shape[0]
    kh, kw = kernel.shape
    fast = kh == 3 and kw == 3 and stride == 1
    for pair in prange((out.shape[0] + 1) // 2):
        i = 2 * pair
        top = i * stride - pad_top
        if fast and i + 1 < out.shape[0] and 0 <= top and top + 3 < height:
            _rows_3x3(src, kernel, channels, mode, cval, top, pad_left, out[i], out[i + 1])
            continue
        for row in range(i, min(i + 2, out.shape[0])):
            top = row * stride - pad_top
            if fast and 0 <= top and top + 2 < height:
                _row_3x3(src, kernel, channels, mode, cval, top, pad_left, out[row])
            else:
                _row_any(src, kernel, channels, mode, cval, stride, top, pad_left, out[row])


@njit_parallel
def _widen(src, out):
    """``out[:] = src`` as float32, rows in parallel (src: (n, m) uint8 or uint16)."""
    for i in prange(src.shape[0]):
        row, dst = src[i], out[i]
        for t in range(row.shape[0]):
            dst[t] = np.float32(row[t])


@njit
def _interior_columns(out_w, width, kw, stride, pad_left):
    """Output columns ``[lo, hi)`` whose whole kernel window lies inside the image."""
    lo = min(out_w, max(0, (pad_left + stride - 1) // stride))
    hi = max(lo, min(out_w, (width - kw + pad_left) // stride + 1))
    return lo, hi


@njit
def _row_3x3(src, kernel, channels, mode, cval, top, pad_left, acc):
    """One output row of a 3x3 kernel at stride 1 whose three source rows are all inside.

    Nine taps summed in registers: nine loads and one store per value, which LLVM packs
    into SIMD lanes.
    """
    width = src.shape[1] // channels
    out_w = acc.shape[0] // channels
    r0, r1, r2 = src[top], src[top + 1], src[top + 2]
    k00, k01, k02 = kernel[0, 0], kernel[0, 1], kernel[0, 2]
    k10, k11, k12 = kernel[1, 0], kernel[1, 1], kernel[1, 2]
    k20, k21, k22 = kernel[2, 0], kernel[2, 1], kernel[2, 2]
    lo, hi = _interior_columns(out_w, width, 3, 1, pad_left)
    # Slices that start at 0 let LLVM prove every index is non-negative, which removes
    # Numba's wraparound branch and lets the loop vectorise.
    first, count = (lo - pad_left) * channels, (hi - lo) * channels
    # One slice per tap column, each indexed by ``t`` alone: an index ``t + channels`` may
    # be negative as far as LLVM knows, and its wraparound select turned every such load of
    # the vector loop into eight scalar loads.
    c1, c2 = first + channels, first + 2 * channels
    a0, a1, a2 = r0[first:], r0[c1:], r0[c2:]
    b0, b1, b2 = r1[first:], r1[c1:], r1[c2:]
    e0, e1, e2 = r2[first:], r2[c1:], r2[c2:]
    dst = acc[lo * channels:hi * channels]
    for t in range(count):
        dst[t] = (k00 * a0[t] + k01 * a1[t] + k02 * a2[t]
                  + k10 * b0[t] + k11 * b1[t] + k12 * b2[t]
                  + k20 * e0[t] + k21 * e1[t] + k22 * e2[t])
    for j in range(0, lo):
        _pixel(src, kernel, channels, mode, cval, 1, top, pad_left, j, acc)
    for j in range(hi, out_w):
        _pixel(src, kernel, channels, mode, cval, 1, top, pad_left, j, acc)


@njit
def _rows_3x3(src, kernel, channels, mode, cval, top, pad_left, acc, acc2):
    """Two adjacent output rows of a 3x3 kernel: their four source rows are loaded once."""
    width = src.shape[1] // channels
    out_w = acc.shape[0] // channels
    r0, r1, r2, r3 = src[top], src[top + 1], src[top + 2], src[top + 3]
    k00, k01, k02 = kernel[0, 0], kernel[0, 1], kernel[0, 2]
    k10, k11, k12 = kernel[1, 0], kernel[1, 1], kernel[1, 2]
    k20, k21, k22 = kernel[2, 0], kernel[2, 1], kernel[2, 2]
    lo, hi = _interior_columns(out_w, width, 3, 1, pad_left)
    first, count = (lo - pad_left) * channels, (hi - lo) * channels
    c1, c2 = first + channels, first + 2 * channels  # one slice per tap, as in _row_3x3
    s00, s01, s02 = r0[first:], r0[c1:], r0[c2:]
    s10, s11, s12 = r1[first:], r1[c1:], r1[c2:]
    s20, s21, s22 = r2[first:], r2[c1:], r2[c2:]
    s30, s31, s32 = r3[first:], r3[c1:], r3[c2:]
    dst, dst2 = acc[lo * channels:hi * channels], acc2[lo * channels:hi * channels]
    for t in range(count):
        a0, a1, a2 = s00[t], s01[t], s02[t]
        b0, b1, b2 = s10[t], s11[t], s12[t]
        c0_, c1_, c2_ = s20[t], s21[t], s22[t]
        d0, d1, d2 = s30[t], s31[t], s32[t]
        dst[t] = (k00 * a0 + k01 * a1 + k02 * a2 + k10 * b0 + k11 * b1 + k12 * b2
                  + k20 * c0_ + k21 * c1_ + k22 * c2_)
        dst2[t] = (k00 * b0 + k01 * b1 + k02 * b2 + k10 * c0_ + k11 * c1_ + k12 * c2_
                   + k20 * d0 + k21 * d1 + k22 * d2)
    for j in range(0, lo):
        _pixel(src, kernel, channels, mode, cval, 1, top, pad_left, j, acc)
        _pixel(src, kernel, channels, mode, cval, 1, top + 1, pad_left, j, acc2)
    for j in range(hi, out_w):
        _pixel(src, kernel, channels, mode, cval, 1, top, pad_left, j, acc)
        _pixel(src, kernel, channels, mode, cval, 1, top + 1, pad_left, j, acc2)


@njit
def _row_any(src, kernel, channels, mode, cval, stride, top, pad_left, acc):
    """One output row for any kernel and stride: one pass over the row per kernel tap."""
    height = src.shape[0]
    width = src.shape[1] // channels
    kh, kw = kernel.shape
    out_w = acc.shape[0] // channels
    lo, hi = _interior_columns(out_w, width, kw, stride, pad_left)
    dst = acc[lo * channels:hi * channels]
    dst[:] = np.float32(0.0)
    for a in range(kh):
        r = _border_index(top + a, height, mode)
        if r < 0:  # a whole row of constant border
            row_sum = np.float32(0.0)
            for b in range(kw):
                row_sum += kernel[a, b]
            dst += row_sum * cval
            continue
        row = src[r]
        start = 0
        if stride == 1:
            # Four taps a pass: a quarter of the loads and stores of ``dst`` (a 5x5 kernel made
            # 25 passes over the row, 10 now). One zero-based slice per tap, indexed by ``t``
            # alone, as in _row_3x3, so the loop vectorises.
            while start + 4 <= kw:
                first = (lo + start - pad_left) * channels
                w0, w1 = kernel[a, start], kernel[a, start + 1]
                w2, w3 = kernel[a, start + 2], kernel[a, start + 3]
                s0, s1 = row[first:], row[first + channels:]
                s2, s3 = row[first + 2 * channels:], row[first + 3 * channels:]
                for t in range(dst.shape[0]):
                    dst[t] += w0 * s0[t] + w1 * s1[t] + w2 * s2[t] + w3 * s3[t]
                start += 4
        for b in range(start, kw):
            weight = kernel[a, b]
            if weight == 0:
                continue
            shift = b - pad_left
            if stride == 1:
                seg = row[(lo + shift) * channels:]
                for t in range(dst.shape[0]):
                    dst[t] += weight * seg[t]
            else:
                for j in range(lo, hi):
                    base = (j * stride + shift) * channels
                    for c in range(channels):
                        acc[j * channels + c] += weight * row[base + c]
    for j in range(0, lo):
        _pixel(src, kernel, channels, mode, cval, stride, top, pad_left, j, acc)
    for j in range(hi, out_w):
        _pixel(src, kernel, channels, mode, cval, stride, top, pad_left, j, acc)


@njit
def _pixel(src, kernel, channels, mode, cval, stride, top, pad_left, j, acc):
    """Output column ``j`` of one row, every tap through the border mapping (edges only)."""
    height = src.shape[0]
    width = src.shape[1] // channels
    kh, kw = kernel.shape
    for c in range(channels):
        total = np.float32(0.0)
        for a in range(kh):
            r = _border_index(top + a, height, mode)
            for b in range(kw):
                col = _border_index(j * stride + b - pad_left, width, mode)
                value = cval if r < 0 or col < 0 else src[r, col * channels + c]
                total += kernel[a, b] * value
        acc[j * channels + c] = total


def filter2d(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    op: str = "conv",
    border: str = "reflect",
    cval: float = 0.0,
    stride: int = 1,
) -> np.ndarray:
    """Convolve (``op="conv"``) or correlate (``op="corr"``) every channel of an image.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Converted to float32.
    kernel : ndarray, shape (kh, kw)
        Odd height and width, each at most 255.
    op : {"conv", "corr"}
        Convolution flips the kernel in both axes; they agree for symmetric kernels.
    border : {"zero", "reflect", "mirror", "replicate", "wrap", "valid"}
        How pixels beyond the edge are made up; ``valid`` makes none and shrinks the output.
        ``zero`` uses ``cval``.
    stride : int
        Step between output pixels, >= 1.

    Returns
    -------
    ndarray, shape (Ho, Wo) or (Ho, Wo, C), float32
        ``(Ho, Wo) = output_shape(H, W, kernel.shape, border, stride)``.
    """
    rows = FilterRows(image, kernel, op=op, border=border, cval=cval, stride=stride)
    out = np.empty((rows.out_h, rows.row_size), dtype=np.float32)
    src = np.ascontiguousarray(rows.image, dtype=np.float32).reshape(rows.height, -1)
    _correlate_rows(src, rows.weights, rows.channels, rows.mode, rows.cval, stride,
                    rows.pad_top, rows.pad_left, out)
    return out.reshape(rows.out_shape)


class FilterRows:
    """One filter over one image, computed a block of output rows at a time.

    The image keeps its own dtype (uint8, uint16, float32); each block converts only the
    source rows it needs to float32, so filtering a large 8-bit picture never holds a
    float32 copy of it. A block's values are bit-identical to the same rows of ``filter2d``:
    the block is filtered as an image of its own whose first and last rows are the image's
    first and last rows, or rows that no output of the block reads beyond.

    image : ndarray, shape (H, W) or (H, W, C); kernel, op, border, cval, stride as
    ``filter2d``.
    """

    def __init__(self, image, kernel, *, op="conv", border="reflect", cval=0.0, stride=1):
        image = np.asarray(image)
        kernel = np.asarray(kernel)
        _check(image, kernel, op, border, stride)
        kh, kw = kernel.shape
        self.height, self.width = image.shape[:2]
        self.out_h, self.out_w = fits(self.height, self.width, (kh, kw), border, stride)
        self.image = image
        self.channels = 1 if image.ndim == 2 else image.shape[2]
        self.row_size = self.out_w * self.channels
        self.out_shape = (self.out_h, self.out_w) + image.shape[2:]
        weights = kernel[::-1, ::-1] if op == "conv" else kernel
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        self.kh, self.stride, self.border = kh, stride, border
        self.mode, self.cval = BORDERS.index(border), np.float32(cval)
        self.pad_top, self.pad_left = (0, 0) if border == "valid" else (kh // 2, kw // 2)
        self._scratch = None

    def blocks(self, budget: int = 1 << 20) -> list[tuple[int, int]]:
        """``(start, stop)`` output rows, each block about ``budget`` float32 values.

        Blocks start on even rows and hold at least twice the kernel's height, so the border
        rules see the same rows as on the whole image; a wrap border reads the far side of the
        image and so gets one block.
        """
        rows = max(16, 2 * self.kh, budget // max(1, self.row_size)) // 2 * 2
        if self.border == "wrap" or 2 * rows > self.out_h:
            return [(0, self.out_h)]
        starts = list(range(0, self.out_h - rows, rows))  # the last block takes the tail
        return [(a, b) for a, b in zip(starts, starts[1:] + [self.out_h])]

    def compute(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Output rows ``[start, stop)`` into ``out[:stop - start]``, shape (n, Wo*C), float32.

        ``start`` must be even (rows are filtered in pairs; blocks keep the same pairs).
        """
        first = start * self.stride - self.pad_top
        last = (stop - 1) * self.stride - self.pad_top + self.kh
        lo, hi = max(first, 0), min(last, self.height)
        if self.border == "wrap":  # wraps round the whole image, past rows a stride skips
            lo, hi = 0, self.height
        flat = self.image.reshape(self.height, -1) if self.image.flags.c_contiguous else None
        if flat is not None and flat.dtype == np.float32:
            src = flat[lo:hi]
        else:
            if self._scratch is None or self._scratch.shape[0] < hi - lo:
                self._scratch = np.empty((hi - lo, self.width * self.channels), np.float32)
            src = self._scratch[:hi - lo]
            part = self.image[lo:hi].reshape(hi - lo, -1) if flat is None else flat[lo:hi]
            if part.dtype in (np.uint8, np.uint16) and part.flags.c_contiguous:
                _widen(part, src)
            else:
                np.copyto(src, part, casting="unsafe")
        dst = out[:stop - start]
        _correlate_rows(src, self.weights, self.channels, self.mode, self.cval, self.stride,
                        self.pad_top + lo - start * self.stride, self.pad_left, dst)
        return dst


    def fused(self) -> bool:
        """Whether ``pixels`` can do this filter in one pass: a 3x3 kernel at stride 1 on a
        C-contiguous uint8/uint16 image, with a border that pads (not wrap)."""
        return (self.kh == 3 and self.weights.shape[1] == 3 and self.stride == 1
                and self.border not in ("wrap", "valid") and self.height >= 4
                and self.image.flags.c_contiguous
                and self.image.dtype in (np.uint8, np.uint16))

    def pixels(self, mapping: int, shift, scale, maxval, out_scale, out_max, bias, relu,
               out: np.ndarray, chunks: int = 16):
        """The rows ``_pixels_3x3`` covers, straight into ``out`` (H, W*C); only when
        ``fused()``. Returns (min, max, cut) over those rows; ``left_by_pixels()`` gives the
        blocks left for ``compute`` (the first and last rows, which read past the edge).

        ``out`` may be the image itself (C-contiguous, same dtype): its rows are then
        written over as they are read; compute the blocks left over first."""
        lows = np.full(chunks, np.inf, np.float32)
        highs = np.full(chunks, -np.inf, np.float32)
        outside = np.zeros(chunks, np.int64)
        src = self.image.reshape(self.height, -1)
        f32 = np.float32
        _pixels_3x3(src, self.weights, self.channels, self.mode, self.cval, self.pad_left,
                    f32(bias), relu, mapping, f32(shift), f32(scale), f32(maxval),
                    f32(out_scale), f32(out_max), out, lows, highs, outside,
                    np.may_share_memory(out, src))
        return float(lows.min()), float(highs.max()), int(outside.sum())

    def left_by_pixels(self) -> list[tuple[int, int]]:
        """The ``(start, stop)`` output rows ``pixels`` and ``stats`` leave for ``compute``:
        the first pair, and those whose window passes the bottom edge."""
        tail = 2 * ((self.out_h - 1) // 2)
        return [(0, 2), (tail, self.out_h)]


    def stats(self, level: int, wanted, arrays, bias, relu, step: int = 1, kept=None,
              kept_count=None) -> list[tuple[int, int]]:
        """Scan the rows ``_stats_3x3`` covers into ``arrays`` (``RangeStats.arrays()``);
        only when ``fused()``. Returns the number of values scanned and the ``(start, stop)``
        blocks left for ``compute``, as ``pixels`` does.

        step : scan one pair of rows in each ``step`` only (a sample; the count returned is
            then that of all the pairs, not of those scanned)
        kept, kept_count : level 0 only, (chunks, capacity) uint32 and (chunks,) int64: also
            keep the bits of ``|x|`` whose top 16 bits lie in ``[wanted[0], wanted[1]]``
            (``kept_count`` counts them all, past the capacity too)
        """
        lows, highs, hist, low_hist = arrays
        if kept is None:
            kept, kept_count = np.zeros((lows.shape[0], 0), np.uint32), np.zeros(
                lows.shape[0], np.int64)
        src = self.image.reshape(self.height, -1)
        _stats_3x3(src, self.weights, self.channels, self.mode, self.cval, self.pad_left,
                   np.float32(bias), relu, level, wanted, lows, highs, hist, low_hist, step,
                   kept, kept_count)
        tail = 2 * ((self.out_h - 1) // 2)
        return max(0, tail - 2) * self.row_size, self.left_by_pixels()


# Source rows widened to float32 at once by the one-pass 3x3 kernels: four pairs of output
# rows read 10 rows (a pair alone reads 4, so every row was widened twice).
WINDOW_ROWS = 10


@njit
def _pair_3x3(src, window, base, filled, top, halo, first_row, stop, kernel, channels, mode,
              cval, pad_left, acc):
    """Output rows ``top + 1`` and ``top + 2`` of a 3x3 filter of the integer image ``src``
    into ``acc[0]``, ``acc[1]``, from ``window``: ``WINDOW_ROWS`` source rows widened to
    float32 from row ``base`` on (``filled`` of them). The window moves on only when the pair
    needs rows past it, carrying the rows it still needs and widening only new ones, so each
    source row is widened once. Returns the window's new ``(base, filled)``.

    Rows ``first_row`` and ``stop`` are taken from ``halo[0]``/``halo[1]`` (widened before,
    when another thread may have written over them since), and no row past ``stop`` is read:
    so ``src`` may be the output of the same pass (see ``_pixels_3x3``).
    """
    height, row_size = src.shape
    if top + 4 > base + filled:
        carried = max(0, base + filled - top)
        for r in range(carried):  # forward, so a row is read before it is written over
            window[r, :] = window[top - base + r]
        filled = min(WINDOW_ROWS, height - top, stop + 1 - top)
        for r in range(carried, filled):
            row, wrow = top + r, window[r]
            if row == first_row or row == stop:
                wrow[:] = halo[0] if row == first_row else halo[1]
            else:
                srow = src[row]
                for t in range(row_size):
                    wrow[t] = np.float32(srow[t])
        base = top
    _rows_3x3(window, kernel, channels, mode, cval, top - base, pad_left, acc[0], acc[1])
    return base, filled


@njit_parallel
def _pixels_3x3(src, kernel, channels, mode, cval, pad_left, bias, relu, mapping, shift, scale,
                maxval, out_scale, out_max, dst, lows, highs, outside, in_place):
    """``_correlate_rows`` of an integer image with a 3x3 kernel at stride 1, straight to
    pixels: each pair of output rows whose four source rows lie inside the image is widened
    to float32, summed by ``_rows_3x3`` (the same code as the float path, so the same sums),
    finished and mapped by ``_pixel_row`` into ``dst``. Other pairs are left to the caller.

    src : (H, W*C) uint8 or uint16; dst : (H, W*C) uint8 or uint16, or ``src`` itself when
    ``in_place``: a run of pairs reads the row above its first output row and the row below
    its last, which the neighbouring runs write, so those two rows are widened first
    lows, highs : (chunks,) float32 running min/max of the finished values, outside : (chunks,)
    int64 count of values the mapping cut; work is split into ``chunks`` runs of row pairs.
    """
    height, row_size = src.shape
    chunks = lows.shape[0]
    pairs = height // 2
    halos = np.zeros((chunks, 2, row_size if in_place else 0), dtype=np.float32)
    if in_place:
        for c in prange(chunks):
            for k, row in enumerate((2 * (c * pairs // chunks) - 1,
                                     2 * ((c + 1) * pairs // chunks))):
                if 0 <= row < height:
                    srow, hrow = src[row], halos[c, k]
                    for t in range(row_size):
                        hrow[t] = np.float32(srow[t])
    for c in prange(chunks):
        window = np.empty((WINDOW_ROWS, row_size), dtype=np.float32)
        base, filled = 0, 0
        acc = np.empty((2, row_size), dtype=np.float32)
        lo, hi, cut = lows[c], highs[c], outside[c]
        start, stop = c * pairs // chunks, (c + 1) * pairs // chunks
        first_row, last_row = (2 * start - 1, 2 * stop) if in_place else (-1, height)
        for pair in range(start, stop):
            i = 2 * pair
            top = i - 1
            if top < 0 or top + 3 >= height or i + 1 >= height:
                continue
            base, filled = _pair_3x3(src, window, base, filled, top, halos[c], first_row,
                                     last_row, kernel, channels, mode, cval, pad_left, acc)
            for r in range(2):
                cut += _pixel_row(acc[r], bias, relu, mapping, shift, scale, maxval,
                                  out_scale, out_max, dst[i + r])
                lo, hi = _row_extent(acc[r], lo, hi)
        lows[c], highs[c], outside[c] = lo, hi, cut


@njit_parallel
def _stats_3x3(src, kernel, channels, mode, cval, pad_left, bias, relu, level, wanted, lows,
               highs, hist, low_hist, step, kept, kept_count):
    """The range statistics of ``_pixels_3x3``'s rows, without writing them anywhere.

    level 0: per chunk, min and max of the finished values and (if ``hist`` has 65536
    columns) a histogram of the top 16 bits of ``|x|``, and if ``kept`` has columns, the
    bits of ``|x|`` whose top 16 bits lie in ``[wanted[0], wanted[1]]``; level 1: histograms
    of the low 16 bits of the values whose top bits are ``wanted[0]``/``wanted[1]`` (see
    quantize.py). Only one pair of rows in each run of ``step`` is scanned.
    lows, highs : (chunks,) float32; hist : (chunks, 65536 or 1); low_hist : (chunks, 2, 65536)
    kept : (chunks, capacity) uint32; kept_count : (chunks,) int64, += every value in range
    """
    height, row_size = src.shape
    chunks = lows.shape[0]
    pairs = height // 2
    with_hist = hist.shape[1] > 1
    keep = kept.shape[1] > 0
    capacity = kept.shape[1]
    no_halo = np.zeros((2, row_size), dtype=np.float32)
    for c in prange(chunks):
        window = np.empty((WINDOW_ROWS, row_size), dtype=np.float32)
        base, filled = 0, 0
        acc = np.empty((2, row_size), dtype=np.float32)
        lo, hi = lows[c], highs[c]
        n_kept = kept_count[c]
        for pair in range(c * pairs // chunks, (c + 1) * pairs // chunks):
            # One pair in each run of ``step``, at an offset that moves from run to run: a
            # fixed one sampled the same row of every JPEG block (their edges filter high).
            if step > 1 and pair % step != (pair // step) % step:
                continue
            i = 2 * pair
            top = i - 1
            if top < 0 or top + 3 >= height or i + 1 >= height:
                continue
            base, filled = _pair_3x3(src, window, base, filled, top, no_halo, -1, height,
                                     kernel, channels, mode, cval, pad_left, acc)
            for r in range(2):
                values = acc[r]
                _finish_row(values, bias, relu)
                bits = values.view(np.uint32)
                if level == 0:
                    lo, hi = _row_extent(values, lo, hi)
                    if with_hist and keep:
                        first, last = wanted[0], wanted[1]
                        for t in range(row_size):
                            b = bits[t] & np.uint32(0x7FFFFFFF)
                            high = b >> 16
                            hist[c, high] += 1
                            if first <= high <= last:
                                if n_kept < capacity:
                                    kept[c, n_kept] = b
                                n_kept += 1
                    elif with_hist:
                        for t in range(row_size):
                            hist[c, (bits[t] & np.uint32(0x7FFFFFFF)) >> 16] += 1
                else:
                    for t in range(row_size):
                        b = bits[t] & np.uint32(0x7FFFFFFF)
                        high = b >> 16
                        if high == wanted[0]:
                            low_hist[c, 0, b & np.uint32(0xFFFF)] += 1
                        if high == wanted[1]:
                            low_hist[c, 1, b & np.uint32(0xFFFF)] += 1
        lows[c], highs[c] = lo, hi
        kept_count[c] = n_kept


@njit_exact
def _finish_row(values, bias, relu):
    """``+ bias`` then ReLU, in place, with numpy's roundings (no fastmath)."""
    if bias != 0 or relu:
        for t in range(values.shape[0]):
            v = values[t]
            if bias != 0:
                v = v + bias
            if relu:
                v = v if v > 0 else np.float32(0.0)
            values[t] = v


@njit_exact
def _pixel_row(values, bias, relu, mapping, shift, scale, maxval, out_scale, out_max, out):
    """One row of filter output -> pixels, with numpy's roundings (no fastmath).

    ``+ bias`` and ReLU in place (``values`` is then the finished output), the mapping of
    ``quantize.MAPPINGS`` (0 clip, 1 abs, 2 offset, 3 stretch, 4 edges), cut to
    ``[0, maxval]``, ``rint(v * out_scale)`` into ``out``. Returns the count it cut.
    """
    _finish_row(values, bias, relu)
    # The mapping is chosen once per row, not per value: each loop is then branch-free and
    # vectorises (a per-value branch and an ``or`` made the clip row 1.7x slower).
    count = 0
    n = values.shape[0]
    if mapping == 0:
        for t in range(n):
            count += _cut(values[t], maxval, out_scale, out_max, out, t)
    elif mapping == 1:
        for t in range(n):
            count += _cut(abs(values[t]), maxval, out_scale, out_max, out, t)
    elif mapping == 2:
        for t in range(n):
            count += _cut(values[t] + shift, maxval, out_scale, out_max, out, t)
    elif mapping == 3:
        for t in range(n):
            count += _cut((values[t] - shift) * scale, maxval, out_scale, out_max, out, t)
    else:
        for t in range(n):
            count += _cut(abs(values[t]) * scale, maxval, out_scale, out_max, out, t)
    return count


@njit_exact
def _cut(v, maxval, out_scale, out_max, out, t):
    """``out[t]`` = ``v`` cut to ``[0, maxval]``, times ``out_scale``, rounded; returns 1
    if ``v`` was outside."""
    outside = np.int64(v < 0) + np.int64(v > maxval)
    v = min(max(v, np.float32(0.0)), maxval)
    q = np.rint(v * out_scale)
    out[t] = min(max(q, np.float32(0.0)), out_max)
    return outside


@njit
def _row_extent(values, lo, hi):
    """(min, max) of ``lo``, ``hi`` and a row (fastmath; exact for finite values). Four
    running minima and maxima: a single pair chains every compare on the one before it
    (measured 1.7-2.8x slower on 36 M values)."""
    l0 = l1 = l2 = l3 = lo
    h0 = h1 = h2 = h3 = hi
    n = values.shape[0]
    m = n - n % 4
    for t in range(0, m, 4):
        a, b, c, d = values[t], values[t + 1], values[t + 2], values[t + 3]
        l0 = a if a < l0 else l0
        l1 = b if b < l1 else l1
        l2 = c if c < l2 else l2
        l3 = d if d < l3 else l3
        h0 = a if a > h0 else h0
        h1 = b if b > h1 else h1
        h2 = c if c > h2 else h2
        h3 = d if d > h3 else h3
    for t in range(m, n):
        v = values[t]
        l0 = v if v < l0 else l0
        h0 = v if v > h0 else h0
    l0 = l1 if l1 < l0 else l0
    l2 = l3 if l3 < l2 else l2
    h0 = h1 if h1 > h0 else h0
    h2 = h3 if h3 > h2 else h2
    return (l2 if l2 < l0 else l0), (h2 if h2 > h0 else h0)
