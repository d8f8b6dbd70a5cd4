"""Numpy twins of the digit-preparation kernels (:mod:`cnnkit.ops.ink`, :mod:`cnnkit.ops.label`),
for preparing one picture without starting Numba.

Importing Numba costs a command 0.6-0.9 s; preparing one picture in numpy costs milliseconds.
Each function here takes the same arguments, raises the same errors and returns the same types
as its twin, and gives:

* the kernel's numbers bit for bit where it is compiled without fastmath (``resample``,
  ``level_distribution``, ``otsu_level``): every step in the same float type, every sum in the
  same order (a tap at a time, over many pixels at once);
* the same masks, labels, boxes and counts (``hysteresis``, ``label_components``,
  ``component_boxes``, ``erosion_steps``);
* the same numbers to float rounding where the kernel is compiled with fastmath, which lets
  LLVM reorder its sums and fuse its steps (``paper_fit``, ``kept_ink`` and its halves,
  ``centre_of_mass``, ``stroke_width``).

Imports numpy and the standard library only.
"""

from __future__ import annotations

import math

import numpy as np

from cnnkit.ops.label_light import component_boxes, label_components

__all__ = ["BILINEAR", "BOX", "LANCZOS", "centre_of_mass", "component_boxes", "edge_gradients",
           "erosion_steps", "hysteresis", "keep_near", "kept_ink", "label_components",
           "level_distribution", "otsu_level", "paper_fit", "resample", "stroke_width"]

BOX, BILINEAR, LANCZOS = 0, 1, 2  # resampling filters, as Pillow names them
_SUPPORT = {BOX: 0.5, BILINEAR: 1.0, LANCZOS: 3.0}
# Source values converted per block of rows in the first pass: a 12-megapixel photo is never
# held as float32 or float64 all at once (about 8 MB of float64 sums per block).
_BLOCK_VALUES = 1 << 20
# Source types whose product with a float32 scale is exact in float64, so that rounding it to
# float32 once is numpy's float32 multiply; the kernel multiplies other types in float64.
_FLOAT32_PRODUCT = {np.dtype(t) for t in (np.bool_, np.int8, np.uint8, np.int16, np.uint16,
                                          np.float16, np.float32)}


def _filter(kind: int, x: np.ndarray) -> np.ndarray:
    """The filter's weight at each offset of ``x`` (any shape, float64), as ``ink._filter``."""
    if kind == BOX:
        return np.where((x > -0.5) & (x <= 0.5), 1.0, 0.0)
    if kind == BILINEAR:
        x = np.abs(x)
        return np.where(x < 1.0, 1.0 - x, 0.0)
    weights = np.where(x == 0.0, 1.0, 0.0)  # Lanczos: sinc(x) * sinc(x / 3)
    inside = (x >= -3.0) & (x < 3.0) & (x != 0.0)
    a = x[inside] * math.pi
    b = x[inside] / 3.0 * math.pi
    # the C library's sine, which the kernel calls too: numpy's own may differ in a last bit
    sin_a = np.fromiter(map(math.sin, a.tolist()), np.float64, a.size)
    sin_b = np.fromiter(map(math.sin, b.tolist()), np.float64, b.size)
    weights[inside] = (sin_a / a) * (sin_b / b)
    return weights


def _coefficients(in_size: int, out_size: int, kind: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pillow's taps for resampling ``in_size`` to ``out_size``, as ``ink._coefficients``:
    (first tap (out_size,) int64, tap count (out_size,) int64, normalised weights
    (out_size, taps) float64, 0 beyond each pixel's count)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = _SUPPORT[kind] * filterscale
    size = math.ceil(support) * 2 + 1
    centre = (np.arange(out_size) + 0.5) * scale
    first = np.maximum(np.trunc(centre - support + 0.5), 0).astype(np.int64)
    last = np.minimum(np.trunc(centre + support + 0.5), in_size).astype(np.int64)
    count = last - first
    taps = np.arange(size)
    weights = _filter(kind, (taps + first[:, None] - centre[:, None] + 0.5) * (1.0 / filterscale))
    unused = taps >= count[:, None]
    weights[unused] = 0.0
    total = np.zeros(out_size)
    for t in range(size):  # in tap order, as the kernel sums them
        total += weights[:, t]
    weighed = total != 0.0
    weights[weighed] /= total[weighed, None]
    weights[unused] = 0.0  # a negative total would have made them -0.0
    return first, count, weights


def _scaled(src: np.ndarray, scale: np.float32) -> np.ndarray:
    """``np.float32(src * scale)`` as the kernel computes it: float32 (H, W)."""
    if src.dtype in _FLOAT32_PRODUCT:
        if scale == 1 and src.dtype == np.float32:
            return src
        return np.multiply(src, scale, dtype=np.float32)
    return np.multiply(src, np.float64(scale), dtype=np.float64).astype(np.float32)


def _across(src: np.ndarray, scale: np.float32, out_w: int, kind: int) -> np.ndarray:
    """The horizontal pass: ``src`` (H, W) times ``scale`` resampled to (H, out_w) float32,
    a block of rows at a time. Every pixel sums the same number of taps, the ones past its
    count with weight 0 (on the last column), as the kernel does."""
    height, width = src.shape
    first, _, weights = _coefficients(width, out_w, kind)
    taps = weights.shape[1]
    index = np.minimum(first + np.arange(taps)[:, None], width - 1)  # (taps, out_w)
    weight = np.ascontiguousarray(weights.T)
    rows = np.empty((height, out_w), np.float32)
    block = max(1, _BLOCK_VALUES // max(width, out_w * taps))
    for y in range(0, height, block):
        line = _scaled(src[y:y + block], scale)
        total = np.zeros((line.shape[0], out_w))
        # a tap at a time (gathering all taps at once is slower on a large picture): float32
        # values times float64 weights, summed in float64
        for t in range(taps):
            total += np.take(line, index[t], axis=1) * weight[t]
        rows[y:y + block] = total
    return rows


def _down(rows: np.ndarray, out_h: int, kind: int) -> np.ndarray:
    """The vertical pass: ``rows`` (H, W) float32 resampled to (out_h, W) float32, each output
    row summing its own taps in order, in float64, a block of output rows at a time."""
    height, width = rows.shape
    first, count, weights = _coefficients(height, out_h, kind)
    taps = weights.shape[1]
    index = np.minimum(first[:, None] + np.arange(taps), height - 1)  # (out_h, taps)
    # the kernel adds only each row's own taps: the others must add nothing, not 0 * inf
    unused = np.arange(taps) >= count[:, None]
    out = np.empty((out_h, width), np.float32)
    block = max(1, _BLOCK_VALUES // (width * taps))
    for y in range(0, out_h, block):
        part = np.s_[y:y + block]
        products = rows[index[part]] * weights[part, :, None]  # (block, taps, W) float64
        products[unused[part]] = 0.0
        total = np.zeros((products.shape[0], width))
        for t in range(taps):  # in tap order, from 0.0, as the kernel sums them
            total += products[:, t]
        out[part] = total
    return out


def resample(src: np.ndarray, size: tuple[int, int], kind: int, scale: float = 1.0
             ) -> np.ndarray:
    """``src`` (H, W), any real dtype, times ``scale`` and resampled to ``size`` = (width,
    height) with filter ``kind`` (BOX, BILINEAR or LANCZOS); float32 (height, width).

    Bit for bit :func:`cnnkit.ops.ink.resample` (Pillow's float resize, horizontal pass
    first, each pass stored as float32).
    """
    if src.ndim != 2:
        raise ValueError(f"src must be 2-D, got shape {src.shape}")
    width, height = int(size[0]), int(size[1])
    if width < 1 or height < 1:
        raise ValueError(f"size must be at least 1x1, got {width}x{height}")
    if kind not in (BOX, BILINEAR, LANCZOS):
        raise ValueError(f"kind must be BOX, BILINEAR or LANCZOS, got {kind}")
    s = np.float32(scale)
    with np.errstate(invalid="ignore", over="ignore"):  # the kernel's inf * 0 is silent too
        rows = _across(src, s, width, kind) if width != src.shape[1] else _scaled(src, s)
        if height != src.shape[0]:
            return _down(rows, height, kind)
    return np.array(rows, np.float32)  # a copy: rows may be src itself


def _otsu(counts: np.ndarray, levels: int) -> float:
    """Otsu's threshold on ``levels`` equal levels of ``counts`` (bins,) int64, as
    ``ink._otsu``: the centre of the level that maximises the between-class variance."""
    group = counts.shape[0] // levels
    per_level = counts.reshape(levels, group).sum(axis=1).astype(np.float64)  # exact
    weight = np.cumsum(per_level)
    mean = np.cumsum(per_level * ((np.arange(levels) + 0.5) / levels))  # in order, as the kernel
    total = weight[-1]
    between = (mean[-1] * weight - mean * total) ** 2 / np.maximum(
        weight * (total - weight), 1e-12)
    return (int(np.argmax(between)) + 0.5) / levels  # the first best, as the kernel's ">"


def level_distribution(values: np.ndarray, bins: int, step: int = 1, levels: int = 256
                       ) -> tuple[np.ndarray, np.ndarray, float]:
    """The distribution of ``values`` (any shape, float32 or float64) clipped to 0..1, read
    every ``step`` pixels in both directions of a 2-D array: (counts (bins,) int64, where
    value v counts in bin ``int(v * (bins - 1))``; their cumulative share (bins,) float64;
    Otsu's threshold in 0..1 on ``levels`` levels, ``bins`` a multiple of ``levels``)."""
    if bins % levels:
        raise ValueError(f"bins must be a multiple of levels, got {bins} and {levels}")
    if values.ndim != 2:
        values = values.reshape(1, -1)
    if values.dtype != np.float64:
        values = values.astype(np.float32, copy=False)
    step, bins, kind = int(step), int(bins), values.dtype.type
    picked = np.minimum(np.maximum(values[::step, ::step], kind(0)), kind(1))
    index = (picked * kind(bins - 1)).astype(np.int64)  # truncated, as int() in the kernel
    counts = np.bincount(index.ravel(), minlength=bins).astype(np.int64, copy=False)
    cdf = np.cumsum(counts) / max(1, int(counts.sum()))
    return counts, cdf, float(_otsu(counts, int(levels)))


def otsu_level(counts: np.ndarray, levels: int = 256) -> float:
    """Otsu's threshold, in 0..1, of the histogram ``counts`` (bins,) read on ``levels``
    levels (``bins`` a multiple of ``levels``)."""
    if counts.ndim != 1 or counts.shape[0] % levels:
        raise ValueError(f"counts must be 1-D with a multiple of {levels} bins, got "
                         f"{counts.shape}")
    return float(_otsu(np.ascontiguousarray(counts, np.int64), int(levels)))


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``a x = b`` (n, n) float64 by Gaussian elimination with the same partial
    pivoting as ``ink._solve`` (not LAPACK's, so the two stay close); returns x (n,)."""
    a, b = a.copy(), b.copy()
    n = b.shape[0]
    for col in range(n):
        pivot = col + int(np.argmax(np.abs(a[col:, col])))  # the first largest
        if pivot != col:
            a[[col, pivot]] = a[[pivot, col]]
            b[[col, pivot]] = b[[pivot, col]]
        factor = a[col + 1:, col] / a[col, col]
        a[col + 1:, col:] -= factor[:, None] * a[col, col:]
        b[col + 1:] -= factor * b[col]
    x = np.zeros(n)
    for row in range(n - 1, -1, -1):
        total = b[row]
        for k in range(row + 1, n):
            total -= a[row, k] * x[k]
        x[row] = total / a[row, row]
    return x


def _quadratic_terms(height: int, width: int) -> np.ndarray:
    """(1, x, y, x², xy, y²) at every pixel, x and y mapped to -1..1 in float32 as the
    kernel maps them: (6, H, W) float64.

    With fastmath on a CPU with FMA the kernel rounds ``y * sy - 1`` once, not twice (its
    fits differ from the twice-rounded terms' by up to 4e-8, from these by 5e-15); the
    product and difference are exact in float64, so rounding that to float32 is the fused
    result.
    """
    sy = np.float32(2 / max(height - 1, 1))
    sx = np.float32(2 / max(width - 1, 1))
    ty = (np.arange(height) * np.float64(sy) - 1.0).astype(np.float32)[:, None]
    tx = (np.arange(width) * np.float64(sx) - 1.0).astype(np.float32)[None, :]
    one = np.ones((height, width), np.float32)
    return np.stack([one, tx * one, ty * one, tx * tx * one, tx * ty, ty * ty * one]
                    ).astype(np.float64)


def _grow4(mask: np.ndarray) -> np.ndarray:
    """``mask`` (H, W) bool grown by one pixel up, down, left and right."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown


def paper_fit(small: np.ndarray, paper: np.ndarray, start: float, rounds: int = 3
              ) -> np.ndarray:
    """The paper's quadratic surface under ``small`` (H, W), as
    :func:`cnnkit.ops.ink.paper_fit`: least squares over the pixels ``paper`` (H, W) bool
    marks, ``rounds`` times, each round leaving out what stands more than 3 noise widths
    above the last fit and its 4 neighbours. Returns (H, W) float64 (``start`` everywhere
    when fewer than 12 paper pixels)."""
    if small.ndim != 2 or paper.shape != small.shape:
        raise ValueError(f"small and paper must be the same 2-D shape, got {small.shape} "
                         f"and {paper.shape}")
    small = np.ascontiguousarray(small, np.float64)
    paper = np.array(paper, np.bool_, order="C")
    terms = _quadratic_terms(*small.shape)
    fit = np.full(small.shape, float(start))
    for _ in range(int(rounds)):
        count = int(paper.sum())
        if count < 12:
            break
        picked = terms[:, paper]  # (6, count)
        normal = np.zeros((6, 6))
        for i in range(6):  # the lower triangle, mirrored, as the kernel builds it
            for j in range(i + 1):
                normal[i, j] = normal[j, i] = picked[i] @ picked[j]
        normal[np.diag_indices(6)] += 1e-9
        coefficients = _solve(normal, picked @ small[paper])
        fit = terms[0] * coefficients[0]
        for i in range(1, 6):  # term by term, as the kernel adds them
            fit += terms[i] * coefficients[i]
        residual = small - fit
        mean = residual[paper].sum() / count
        spread = np.square(residual[paper] - mean).sum()
        limit = 3 * (math.sqrt(spread / count) + 1e-3)
        paper = ~_grow4(residual > limit)
    return fit


def hysteresis(ink: np.ndarray, strong: np.ndarray, low: float) -> np.ndarray:
    """``strong`` (H, W) bool plus every 8-connected part of ``ink > low`` touching it."""
    if ink.ndim != 2 or strong.shape != ink.shape:
        raise ValueError(f"ink and strong must be the same 2-D shape, got {ink.shape} and "
                         f"{strong.shape}")
    ink = np.ascontiguousarray(ink, np.float32)
    strong = np.ascontiguousarray(strong, np.bool_)
    faint = ink > np.float32(low)
    labels, count = label_components(faint)
    # the kernel's flood fill steps from a strong pixel to any faint one among its 8
    # neighbours, and from there through that faint part: the parts within one step of it
    near = _grow4(strong)
    near[1:, 1:] |= strong[:-1, :-1]
    near[1:, :-1] |= strong[:-1, 1:]
    near[:-1, 1:] |= strong[1:, :-1]
    near[:-1, :-1] |= strong[1:, 1:]
    reached = np.zeros(count + 1, np.bool_)
    reached[labels[near]] = True
    reached[0] = False
    return strong | reached[labels]


def _keep_near(ink: np.ndarray, mask: np.ndarray, base: np.float32, span: np.float32,
               reach: int) -> np.ndarray:
    """(ink - base) / span clipped to 0..1 where ``ink > base`` within ``reach`` steps (a
    diamond) of ``mask``; 0 elsewhere: float32 (H, W)."""
    near = mask
    for _ in range(reach):
        near = _grow4(near)
    # fastmath lets the kernel divide by multiplying with 1 / span (hoisted out of its loop):
    # so here too, or 1 value in 100 differs in its last bit
    with np.errstate(divide="ignore", invalid="ignore"):  # the kernel's span may be 0
        level = (ink - base) * (np.float32(1) / span)
    level = np.minimum(np.maximum(level, np.float32(0)), np.float32(1))
    return np.where(near & (ink > base), level, np.float32(0))


def _gradient(ink: np.ndarray, axis: int) -> np.ndarray:
    """np.gradient's differences of ``ink`` (H, W) float32 along ``axis`` (one-sided at the
    ends, 0 along a side of 1 pixel), as the kernel takes them: float32 (H, W)."""
    ink = np.moveaxis(ink, axis, 0)
    out = np.zeros(ink.shape, np.float32)
    if ink.shape[0] >= 2:
        out[1:-1] = (ink[2:] - ink[:-2]) * np.float32(0.5)
        out[0] = ink[1] - ink[0]
        out[-1] = ink[-1] - ink[-2]
    return np.moveaxis(out, 0, axis)


def _edge_gradients(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The gradient's magnitude at the pixels of ``mask`` with a 4-neighbour outside it
    (pixels beyond the border count as inside), in row order: float32 (n,)."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    edge = mask & ~inner
    return np.hypot(_gradient(ink, 1)[edge], _gradient(ink, 0)[edge])


def _ink_and_mask(ink: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if ink.ndim != 2 or mask.shape != ink.shape:
        raise ValueError(f"ink and mask must be the same 2-D shape, got {ink.shape} and "
                         f"{mask.shape}")
    return np.ascontiguousarray(ink, np.float32), np.ascontiguousarray(mask, np.bool_)


def edge_gradients(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The magnitude of ``ink``'s gradient (H, W) float32 along the outline of ``mask``: at the
    mask's pixels with a 4-neighbour outside it. Returns float32 (n,), in row order."""
    return _edge_gradients(*_ink_and_mask(ink, mask))


def keep_near(ink: np.ndarray, mask: np.ndarray, base: float, span: float, reach: int
              ) -> np.ndarray:
    """The ink's level above ``base`` as a share of ``span``, clipped to 0..1, kept within
    ``reach`` px (a diamond) of ``mask`` and where ``ink > base``; 0 elsewhere. float32."""
    ink, mask = _ink_and_mask(ink, mask)
    return _keep_near(ink, mask, np.float32(base), np.float32(span), int(reach))


def kept_ink(ink: np.ndarray, mask: np.ndarray, base: float, span: float, reach: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """(:func:`keep_near`, :func:`edge_gradients`) in one call."""
    ink, mask = _ink_and_mask(ink, mask)
    return (_keep_near(ink, mask, np.float32(base), np.float32(span), int(reach)),
            _edge_gradients(ink, mask))


def erosion_steps(mask: np.ndarray) -> int:
    """How many erosions (3x3 crosses and squares in turn, an octagon; pixels beyond the
    border count as inside) it takes for ``mask`` (H, W) bool to vanish; the larger side
    when it never does (ink filling the whole picture)."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    now = np.ascontiguousarray(mask, np.bool_)
    depth = 0
    while now.any():
        down = now.copy()  # the vertical step
        down[1:] &= now[:-1]
        down[:-1] &= now[1:]
        rows = down if depth % 2 else now  # a square step, or a cross
        after = down.copy()
        after[:, 1:] &= rows[:, :-1]
        after[:, :-1] &= rows[:, 1:]
        if np.array_equal(after, now):  # ink covering whole rows and columns: it never vanishes
            return max(mask.shape)
        now = after
        depth += 1
    return depth


def _moments(ink: np.ndarray) -> tuple[float, float, float, float]:
    """(sum, sum of row * value, sum of column * value, outline) of ``ink`` (H, W) float32,
    as ``ink._moments``: the outline is the sum of the gradient's magnitude (forward
    differences, 0 beyond the last row and column)."""
    height, width = ink.shape
    values = ink.astype(np.float64)
    zero = np.float32(0)
    dx = np.diff(ink, axis=1, append=np.full((height, 1), zero))
    dy = np.diff(ink, axis=0, append=np.full((1, width), zero))
    sy = values.sum(axis=1) @ np.arange(height, dtype=np.float64)
    sx = values.sum(axis=0) @ np.arange(width, dtype=np.float64)
    return (float(values.sum()), float(sy), float(sx),
            float(np.hypot(dx, dy).sum(dtype=np.float64)))


def centre_of_mass(ink: np.ndarray) -> tuple[float, float, float]:
    """(total, row, column) of ``ink`` (H, W): its sum and the centre of its mass, (H / 2,
    W / 2) when the sum is not positive."""
    if ink.ndim != 2:
        raise ValueError(f"ink must be 2-D, got shape {ink.shape}")
    total, sy, sx, _ = _moments(np.ascontiguousarray(ink, np.float32))
    if total > 0:
        return total, sy / total, sx / total
    return total, ink.shape[0] / 2, ink.shape[1] / 2


def stroke_width(ink: np.ndarray) -> float:
    """The mean width of the strokes of ``ink`` (H, W), ``2 * area / outline`` measured on the
    grey levels (see :func:`cnnkit.digits.stroke.stroke_width`); 0 for no outline."""
    if ink.ndim != 2:
        raise ValueError(f"ink must be 2-D, got shape {ink.shape}")
    area, _, _, outline = _moments(np.ascontiguousarray(ink, np.float32))
    return 2.0 * area / outline if outline > 0 else 0.0
