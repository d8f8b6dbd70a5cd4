"""Kernels for preparing a picture of a digit (cnnkit.digits): resampling, grey-level counts,
the paper's fit, the ink's masks and measurements.

Each kernel does in one call what took a dozen numpy calls and Pillow round trips per picture;
many pictures are prepared at once on several threads, and these kernels release the GIL
where those calls held it. Resampling follows Pillow's float ("F") resize: the same taps,
weights and double-precision sums, horizontal pass first (Pillow sometimes runs the vertical
pass first, and then a value may differ in its last bit), so a digit is prepared as with
Pillow.
"""

from __future__ import annotations

import math

import numpy as np

from cnnkit.ops._jit import njit, njit_exact
from cnnkit.ops.label import component_boxes, label_components  # noqa: F401 (the digits'
# kernels in one module, as ops/ink_light.py has them: digits/backend.py picks one)

BOX, BILINEAR, LANCZOS = 0, 1, 2  # resampling filters, as Pillow names them


@njit_exact
def _filter(kind, x):
    if kind == BOX:
        return 1.0 if -0.5 < x <= 0.5 else 0.0
    if kind == BILINEAR:
        x = abs(x)
        return 1.0 - x if x < 1.0 else 0.0
    if -3.0 <= x < 3.0:  # Lanczos: sinc(x) * sinc(x / 3)
        if x == 0.0:
            return 1.0
        a = x * math.pi
        b = x / 3.0 * math.pi
        return (math.sin(a) / a) * (math.sin(b) / b)
    return 0.0


@njit_exact
def _coefficients(in_size, out_size, kind):
    """Pillow's taps for resampling ``in_size`` to ``out_size``: (first tap, tap count) per
    output pixel and the normalised weights, shape (out_size, taps)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = (0.5 if kind == BOX else 1.0 if kind == BILINEAR else 3.0) * filterscale
    size = math.ceil(support) * 2 + 1
    bounds = np.zeros((out_size, 2), np.int64)
    weights = np.zeros((out_size, size), np.float64)
    for xx in range(out_size):
        centre = (xx + 0.5) * scale
        ss = 1.0 / filterscale
        first = max(int(centre - support + 0.5), 0)
        last = min(int(centre + support + 0.5), in_size)
        count = last - first
        total = 0.0
        for x in range(count):
            w = _filter(kind, (x + first - centre + 0.5) * ss)
            weights[xx, x] = w
            total += w
        if total != 0.0:
            for x in range(count):
                weights[xx, x] /= total
        bounds[xx, 0] = first
        bounds[xx, 1] = count
    return bounds, weights


@njit_exact
def _resample(src, scale, out_h, out_w, kind, out):
    """``src`` (H, W) times ``scale`` (a float32 multiply, as numpy's) resampled to
    (out_h, out_w) into ``out`` float32: horizontal pass first, each pass stored as float32.

    Each output pixel's taps are summed in order, in float64, as Pillow sums them; the loops
    run over many output pixels at once (a tap at a time) so the sums do not wait on each
    other. A pixel with fewer taps adds exact zeros for the rest.
    """
    height, width = src.shape
    s = np.float32(scale)
    if out_w != width:
        bounds, weights = _coefficients(width, out_w, kind)
        taps = weights.shape[1]
        index = np.empty((taps, out_w), np.int64)
        weight = np.empty((taps, out_w), np.float64)
        for xx in range(out_w):
            for t in range(taps):
                index[t, xx] = min(bounds[xx, 0] + t, width - 1)
                weight[t, xx] = weights[xx, t] if t < bounds[xx, 1] else 0.0
        rows = np.empty((height, out_w), np.float32)
        line = np.empty(width, np.float32)
        total = np.empty(out_w, np.float64)
        for y in range(height):
            for x in range(width):
                line[x] = np.float32(src[y, x] * s)
            total[:] = 0.0
            for t in range(taps):
                for xx in range(out_w):
                    total[xx] += line[index[t, xx]] * weight[t, xx]
            for xx in range(out_w):
                rows[y, xx] = total[xx]
    else:
        rows = np.empty((height, width), np.float32)
        for y in range(height):
            for x in range(width):
                rows[y, x] = np.float32(src[y, x] * s)
    if out_h != height:
        bounds, weights = _coefficients(height, out_h, kind)
        total = np.empty(out_w, np.float64)
        for yy in range(out_h):
            first, count = bounds[yy, 0], bounds[yy, 1]
            total[:] = 0.0
            for t in range(count):
                w = weights[yy, t]
                for x in range(out_w):
                    total[x] += rows[first + t, x] * w
            for x in range(out_w):
                out[yy, x] = total[x]
    else:
        out[:, :] = rows


def resample(src: np.ndarray, size: tuple[int, int], kind: int, scale: float = 1.0
             ) -> np.ndarray:
    """``src`` (H, W), any real dtype, times ``scale`` and resampled to ``size`` = (width,
    height) with filter ``kind`` (BOX, BILINEAR or LANCZOS); float32 (height, width).

    The same values as Pillow's ``Image.fromarray(src * scale, "F").resize(size, kind)``.
    """
    if src.ndim != 2:
        raise ValueError(f"src must be 2-D, got shape {src.shape}")
    width, height = int(size[0]), int(size[1])
    if width < 1 or height < 1:
        raise ValueError(f"size must be at least 1x1, got {width}x{height}")
    if kind not in (BOX, BILINEAR, LANCZOS):
        raise ValueError(f"kind must be BOX, BILINEAR or LANCZOS, got {kind}")
    out = np.empty((height, width), np.float32)
    _resample(np.ascontiguousarray(src), float(scale), height, width, kind, out)
    return out


@njit_exact
def _otsu(counts, levels):
    """Otsu's threshold on ``levels`` equal levels of ``counts`` (bins,), bins a multiple of
    levels: the centre of the level that maximises the between-class variance."""
    group = counts.shape[0] // levels
    weight = np.zeros(levels)
    mean = np.zeros(levels)
    running, weighted = 0.0, 0.0
    for k in range(levels):
        count = 0.0
        for i in range(group):
            count += counts[k * group + i]
        running += count
        weighted += count * ((k + 0.5) / levels)
        weight[k] = running
        mean[k] = weighted
    total = weight[levels - 1]
    best, where = -1.0, 0
    for k in range(levels):
        between = (mean[levels - 1] * weight[k] - mean[k] * total) ** 2 / max(
            weight[k] * (total - weight[k]), 1e-12)
        if between > best:
            best, where = between, k
    return (where + 0.5) / levels


@njit_exact
def _distribution(values, step, bins, levels, counts, cdf):
    """Count every ``step``-th value of ``values`` (H, W) in both directions, clipped to 0..1,
    into ``counts`` (bins,) (the value v falls in bin ``int(v * (bins - 1))``), their running
    share into ``cdf`` (as np.cumsum(counts) / total), and return Otsu's threshold on
    ``levels`` levels. One kernel for the three: each picture needs them five times."""
    top = values.dtype.type(bins - 1)
    for y in range(0, values.shape[0], step):
        for x in range(0, values.shape[1], step):
            v = min(max(values[y, x], values.dtype.type(0)), values.dtype.type(1))
            counts[int(v * top)] += 1
    total = 0
    for k in range(bins):
        total += counts[k]
    running = 0
    for k in range(bins):
        running += counts[k]
        cdf[k] = running / max(1, total)
    return _otsu(counts, levels)


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
    counts = np.zeros(bins, np.int64)
    cdf = np.empty(bins, np.float64)
    threshold = _distribution(np.ascontiguousarray(values), int(step), int(bins), int(levels),
                              counts, cdf)
    return counts, cdf, float(threshold)


def otsu_level(counts: np.ndarray, levels: int = 256) -> float:
    """Otsu's threshold, in 0..1, of the histogram ``counts`` (bins,) read on ``levels``
    levels (``bins`` a multiple of ``levels``)."""
    if counts.ndim != 1 or counts.shape[0] % levels:
        raise ValueError(f"counts must be 1-D with a multiple of {levels} bins, got "
                         f"{counts.shape}")
    return float(_otsu(np.ascontiguousarray(counts, np.int64), int(levels)))


@njit
def _solve(a, b):
    """Solve the small system ``a x = b`` (n, n) float64 by Gaussian elimination with partial
    pivoting (as LAPACK's gesv); ``a`` and ``b`` are overwritten."""
    n = b.shape[0]
    for col in range(n):
        pivot = col
        for row in range(col + 1, n):
            if abs(a[row, col]) > abs(a[pivot, col]):
                pivot = row
        if pivot != col:
            for k in range(n):
                a[col, k], a[pivot, k] = a[pivot, k], a[col, k]
            b[col], b[pivot] = b[pivot], b[col]
        for row in range(col + 1, n):
            factor = a[row, col] / a[col, col]
            for k in range(col, n):
                a[row, k] -= factor * a[col, k]
            b[row] -= factor * b[col]
    x = np.zeros(n)
    for row in range(n - 1, -1, -1):
        total = b[row]
        for k in range(row + 1, n):
            total -= a[row, k] * x[k]
        x[row] = total / a[row, row]
    return x


@njit
def _paper_fit(small, paper, start, rounds):
    """Fit a quadratic surface to the paper of ``small`` (H, W) float64, ``rounds`` times:
    least squares over the pixels ``paper`` (H, W) bool marks (updated in place), then every
    pixel more than 3 noise widths above the fit, and its 4 neighbours, is ink and left out.
    Returns the fit (H, W) float64 (``start`` everywhere when too few paper pixels)."""
    height, width = small.shape
    terms = np.empty((height, width, 6), np.float64)
    sy = np.float32(2 / max(height - 1, 1))
    sx = np.float32(2 / max(width - 1, 1))
    for y in range(height):
        for x in range(width):
            ty = np.float32(y) * sy - np.float32(1)
            tx = np.float32(x) * sx - np.float32(1)
            terms[y, x, 0] = 1.0
            terms[y, x, 1] = tx
            terms[y, x, 2] = ty
            terms[y, x, 3] = tx * tx
            terms[y, x, 4] = tx * ty
            terms[y, x, 5] = ty * ty
    fit = np.full((height, width), start)
    ink = np.zeros((height, width), np.bool_)
    for _ in range(rounds):
        count = 0
        normal = np.zeros((6, 6))
        rhs = np.zeros(6)
        for y in range(height):
            for x in range(width):
                if paper[y, x]:
                    count += 1
                    for i in range(6):
                        rhs[i] += terms[y, x, i] * small[y, x]
                        for j in range(i + 1):
                            normal[i, j] += terms[y, x, i] * terms[y, x, j]
        if count < 12:
            break
        for i in range(6):
            for j in range(i + 1, 6):
                normal[i, j] = normal[j, i]
        for i in range(6):
            normal[i, i] += 1e-9
        coefficients = _solve(normal, rhs)
        total = 0.0
        for y in range(height):
            for x in range(width):
                value = 0.0
                for i in range(6):
                    value += terms[y, x, i] * coefficients[i]
                fit[y, x] = value
                if paper[y, x]:
                    total += small[y, x] - value
        mean = total / count
        spread = 0.0
        for y in range(height):
            for x in range(width):
                if paper[y, x]:
                    d = small[y, x] - fit[y, x] - mean
                    spread += d * d
        limit = 3 * (math.sqrt(spread / count) + 1e-3)
        for y in range(height):
            for x in range(width):
                ink[y, x] = small[y, x] - fit[y, x] > limit
        for y in range(height):
            for x in range(width):
                grown = ink[y, x] or (y > 0 and ink[y - 1, x]) or (
                    y + 1 < height and ink[y + 1, x]) or (x > 0 and ink[y, x - 1]) or (
                    x + 1 < width and ink[y, x + 1])
                paper[y, x] = not grown
    return fit


def paper_fit(small: np.ndarray, paper: np.ndarray, start: float, rounds: int = 3
              ) -> np.ndarray:
    """The paper's quadratic surface under ``small`` (H, W): see :func:`_paper_fit`.
    ``paper`` (H, W) bool: the first guess at the paper pixels. Returns (H, W) float64."""
    if small.ndim != 2 or paper.shape != small.shape:
        raise ValueError(f"small and paper must be the same 2-D shape, got {small.shape} "
                         f"and {paper.shape}")
    return _paper_fit(np.ascontiguousarray(small, np.float64),
                      np.array(paper, np.bool_, order="C"), float(start), int(rounds))


@njit
def _hysteresis(ink, strong, low, out):
    """``out`` (H, W) bool: ``strong`` plus every 8-connected part of ``ink > low`` that
    touches it, by a flood fill from the strong pixels."""
    height, width = ink.shape
    stack = np.empty(height * width, np.int64)
    top = 0
    for y in range(height):
        for x in range(width):
            out[y, x] = strong[y, x]
            if strong[y, x]:
                stack[top] = y * width + x
                top += 1
    while top > 0:
        top -= 1
        y, x = divmod(stack[top], width)
        for yy in range(max(y - 1, 0), min(y + 2, height)):
            for xx in range(max(x - 1, 0), min(x + 2, width)):
                if not out[yy, xx] and ink[yy, xx] > low:
                    out[yy, xx] = True
                    stack[top] = yy * width + xx
                    top += 1


def hysteresis(ink: np.ndarray, strong: np.ndarray, low: float) -> np.ndarray:
    """``strong`` (H, W) bool plus every 8-connected part of ``ink > low`` touching it."""
    if ink.ndim != 2 or strong.shape != ink.shape:
        raise ValueError(f"ink and strong must be the same 2-D shape, got {ink.shape} and "
                         f"{strong.shape}")
    out = np.empty(ink.shape, np.bool_)
    _hysteresis(np.ascontiguousarray(ink, np.float32), np.ascontiguousarray(strong, np.bool_),
                np.float32(low), out)
    return out


@njit
def _edge_gradients(ink, mask):
    """The gradient's magnitude (np.gradient's differences) at the pixels of ``mask`` with a
    4-neighbour outside it (pixels beyond the border count as inside), float32 (n,).
    Called from :func:`_kept_ink` (one kernel to load, not two)."""
    height, width = ink.shape
    out = np.empty(height * width, np.float32)
    n = 0
    half = np.float32(0.5)
    for y in range(height):
        for x in range(width):
            if not mask[y, x]:
                continue
            if ((y > 0 and not mask[y - 1, x]) or (y + 1 < height and not mask[y + 1, x])
                    or (x > 0 and not mask[y, x - 1]) or (x + 1 < width and not mask[y, x + 1])):
                if height < 2:
                    dy = np.float32(0)
                elif y == 0:
                    dy = ink[1, x] - ink[0, x]
                elif y == height - 1:
                    dy = ink[y, x] - ink[y - 1, x]
                else:
                    dy = (ink[y + 1, x] - ink[y - 1, x]) * half
                if width < 2:
                    dx = np.float32(0)
                elif x == 0:
                    dx = ink[y, 1] - ink[y, 0]
                elif x == width - 1:
                    dx = ink[y, x] - ink[y, x - 1]
                else:
                    dx = (ink[y, x + 1] - ink[y, x - 1]) * half
                out[n] = np.hypot(dx, dy)
                n += 1
    return out[:n]


def edge_gradients(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The magnitude of ``ink``'s gradient (H, W) float32 along the outline of ``mask``: at the
    mask's pixels with a 4-neighbour outside it. Returns float32 (n,), in row order."""
    if ink.ndim != 2 or mask.shape != ink.shape:
        raise ValueError(f"ink and mask must be the same 2-D shape, got {ink.shape} and "
                         f"{mask.shape}")
    return kept_ink(ink, mask, 0.0, 1.0, 0)[1]


@njit
def _kept_ink(ink, mask, base, span, reach, out):
    """:func:`_keep_near` into ``out``, and return :func:`_edge_gradients`."""
    _keep_near(ink, mask, base, span, reach, out)
    return _edge_gradients(ink, mask)


@njit
def _keep_near(ink, mask, base, span, reach, out):
    """``out`` = (ink - base) / span clipped to 0..1 where ``ink > base`` and a pixel of
    ``mask`` lies within ``reach`` steps up, down, left or right (a diamond); 0 elsewhere."""
    height, width = ink.shape
    near = mask.copy()
    for _ in range(reach):  # grown by one step up, down, left and right at a time
        before = near.copy()
        for y in range(height):
            for x in range(width):
                if not before[y, x] and ((y > 0 and before[y - 1, x]) or (
                        y + 1 < height and before[y + 1, x]) or (x > 0 and before[y, x - 1])
                        or (x + 1 < width and before[y, x + 1])):
                    near[y, x] = True
    for y in range(height):
        for x in range(width):
            value = np.float32(0)
            if near[y, x] and ink[y, x] > base:
                value = min(max((ink[y, x] - base) / span, np.float32(0)), np.float32(1))
            out[y, x] = value


def keep_near(ink: np.ndarray, mask: np.ndarray, base: float, span: float, reach: int
              ) -> np.ndarray:
    """The ink's level above ``base`` as a share of ``span``, clipped to 0..1, kept within
    ``reach`` px (a diamond) of ``mask`` and where ``ink > base``; 0 elsewhere. float32."""
    if ink.ndim != 2 or mask.shape != ink.shape:
        raise ValueError(f"ink and mask must be the same 2-D shape, got {ink.shape} and "
                         f"{mask.shape}")
    return kept_ink(ink, mask, base, span, reach)[0]


def kept_ink(ink: np.ndarray, mask: np.ndarray, base: float, span: float, reach: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """(:func:`keep_near`, :func:`edge_gradients`) in one kernel call."""
    if ink.ndim != 2 or mask.shape != ink.shape:
        raise ValueError(f"ink and mask must be the same 2-D shape, got {ink.shape} and "
                         f"{mask.shape}")
    out = np.empty(ink.shape, np.float32)
    edges = _kept_ink(np.ascontiguousarray(ink, np.float32),
                      np.ascontiguousarray(mask, np.bool_), np.float32(base),
                      np.float32(span), int(reach), out)
    return out, edges


@njit
def _erosion_depth(mask):
    height, width = mask.shape
    now = mask.copy()
    down = np.empty_like(now)
    depth = 0
    while now.any():
        for y in range(height):  # the vertical step: pixels beyond the border count as ink
            for x in range(width):
                down[y, x] = now[y, x] and (y == 0 or now[y - 1, x]) and (
                    y == height - 1 or now[y + 1, x])
        rows = down if depth % 2 else now  # a square step, or a cross
        after = np.empty_like(now)
        changed = False
        for y in range(height):
            for x in range(width):
                after[y, x] = down[y, x] and (x == 0 or rows[y, x - 1]) and (
                    x == width - 1 or rows[y, x + 1])
                changed = changed or after[y, x] != now[y, x]
        if not changed:  # ink covering whole rows and columns: it never vanishes
            return max(height, width)
        now = after
        depth += 1
    return depth


def erosion_steps(mask: np.ndarray) -> int:
    """How many erosions (3x3 crosses and squares in turn, an octagon; pixels beyond the
    border count as inside) it takes for ``mask`` (H, W) bool to vanish; the larger side
    when it never does (ink filling the whole picture)."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    return int(_erosion_depth(np.ascontiguousarray(mask, np.bool_)))


@njit
def _moments(ink):
    """(sum, sum of row * value, sum of column * value, outline) of ``ink`` (H, W): the
    outline is the sum of the gradient's magnitude (forward differences, 0 beyond the last
    row and column). One kernel for the centre of mass and the stroke width."""
    height, width = ink.shape
    total, sy, sx, outline = 0.0, 0.0, 0.0, 0.0
    zero = np.float32(0)
    for y in range(height):
        for x in range(width):
            v = ink[y, x]
            total += v
            sy += v * y
            sx += v * x
            dx = (ink[y, x + 1] if x + 1 < width else zero) - v
            dy = (ink[y + 1, x] if y + 1 < height else zero) - v
            outline += np.hypot(dx, dy)
    return total, sy, sx, outline


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
