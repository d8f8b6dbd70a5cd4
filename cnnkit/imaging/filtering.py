"""Applying a named or custom filter to an image: the library call behind ``cnnkit filter``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from cnnkit.errors import KernelError
from cnnkit.imaging.kernels import Filter


@dataclass(frozen=True)
class FilterOptions:
    """How to run a filter; the defaults are the CLI's."""

    op: str = "conv"
    border: str = "reflect"
    cval: float = 0.0
    stride: int = 1
    bias: float = 0.0
    relu: bool = False


def _with_kernel_errors(make, image, kernel, options: FilterOptions):
    """``make(image, kernel, op=, border=, cval=, stride=)`` (filter2d or FilterRows), their
    ValueError for a kernel that does not fit the picture or the options as a KernelError."""
    try:
        return make(image, kernel, op=options.op, border=options.border, cval=options.cval,
                    stride=options.stride)
    except ValueError as exc:
        raise KernelError(str(exc)) from None


def apply_filter(image: np.ndarray, flt: Filter, options: FilterOptions = FilterOptions()):
    """Filter every channel of ``image``; a gradient pair gives ``sqrt(gx**2 + gy**2)``.

    image : ndarray, shape (H, W) or (H, W, C), float32
    Returns ndarray, shape (Ho, Wo) or (Ho, Wo, C), float32: ``result + bias``, then ReLU if
    asked (the seed applies ReLU after every convolution).
    """
    from cnnkit.ops.activations import relu
    from cnnkit.ops.filter2d import filter2d

    def run(kernel):
        return _with_kernel_errors(filter2d, image, kernel, options)

    if flt.magnitude:
        gx, gy = (run(k) for k in flt.kernels)
        out = np.sqrt(gx * gx + gy * gy)
    else:
        out = run(flt.kernel)
    if options.bias:
        out += np.float32(options.bias)
    return relu(out) if options.relu else out


def display_range(flt: Filter, relu: bool = False) -> str:
    """The ``--range auto`` choice: ``edges`` for a zero-sum kernel's signed output (so both
    signs show), ``clip`` for everything that stays in the pixel range."""
    from cnnkit.imaging.kernels import describe

    signed = not relu and not flt.magnitude and describe(flt.kernel)["zero_sum"]
    return "edges" if signed else "clip"


def sample_alpha(alpha: np.ndarray, kernel_shape: tuple[int, int], border: str, stride: int,
                 out_shape: tuple[int, int]) -> np.ndarray:
    """The alpha value at the centre of each output pixel, so alpha passes through untouched.

    alpha : (H, W); returns (Ho, Wo) matching the filtered image.
    """
    top, left = (kernel_shape[0] // 2, kernel_shape[1] // 2) if border == "valid" else (0, 0)
    return np.ascontiguousarray(alpha[top::stride, left::stride][:out_shape[0], :out_shape[1]])


EDGES_SATURATED = 0.1  # percent of values the "edges" range lets saturate (as imaging.py)


def filter_to_pixels(image: np.ndarray, flt: Filter, options: FilterOptions, mode: str,
                     maxval: float, out_dtype=None, *, budget: int = 1 << 20,
                     overwrite: bool = False) -> tuple[np.ndarray, dict]:
    """Filter an 8- or 16-bit picture straight to pixels, a block of rows at a time.

    The same pixels as ``apply_filter`` then ``imaging.map_range`` and rounding, bit for bit,
    without a float32 copy of the picture or of the result: only a few rows are float32 at
    a time. ``stretch`` and ``edges`` need statistics of the whole output first, so their
    blocks are filtered two or three times (3x3 filters cost less than the memory they
    would otherwise fill).

    image : ndarray, shape (H, W) or (H, W, C), uint8 or uint16
    mode : one of "clip", "abs", "offset", "stretch", "edges"
    out_dtype : uint8 or uint16 (default: the image's); uint16 pixels shrink to 0-255 in uint8
    budget : float32 values per block of rows (4 MB by default: the blocks stay in cache)
    overwrite : allow the pixels to be written over ``image`` (when shape and dtype match and
        it is writable), which saves a picture's worth of memory; ``image`` is then garbage
        unless it is the returned array
    Returns (pixels, shape (Ho, Wo) or (Ho, Wo, C), and ``{"min", "max", "clipped"}`` as
    ``map_range`` reports them).
    """
    light = _light_pixels(image, flt, options, mode, maxval, out_dtype)
    if light is not None:
        return light
    from cnnkit.ops.filter2d import FilterRows
    from cnnkit.ops.quantize import RangeStats, finish, to_pixels

    makers = [_with_kernel_errors(FilterRows, image, k, options) for k in (flt.kernels if flt.magnitude else (flt.kernel,))]
    first = makers[0]
    blocks = first.blocks(budget)
    height = max(b - a for a, b in blocks)
    buffers = [np.empty((height, first.row_size), np.float32) for _ in makers]

    def filtered(start, stop):
        values = [m.compute(start, stop, buf) for m, buf in zip(makers, buffers)]
        finish(values[0], values[1] if len(values) > 1 else None, options.bias, options.relu)
        return values[0]

    stats = RangeStats(100 - EDGES_SATURATED if mode == "edges" else None)
    scan_fused = len(makers) == 1 and first.fused()
    if mode in ("stretch", "edges") and scan_fused:  # scanned where the values are made
        bins, kept, kept_count = _percentile_candidates(first, stats, options)
        scanned, left = first.stats(0, bins, stats.arrays(), options.bias, options.relu,
                                    kept=kept, kept_count=kept_count)
        stats.count += scanned
        for start, stop in left:
            stats.add(filtered(start, stop))
        if stats.needs_refine():
            if kept is None or not stats.take_kept(bins, kept, kept_count):
                first.stats(1, stats.wanted(), stats.arrays(), options.bias, options.relu)
            kept = None  # no longer needed: lowers the peak of the pixel pass
            for start, stop in left:
                stats.refine(filtered(start, stop))
    elif mode in ("stretch", "edges"):
        for start, stop in blocks:
            stats.add(filtered(start, stop))
        if stats.needs_refine():
            for start, stop in blocks:
                stats.refine(filtered(start, stop))
    shift, scale = _mapping(mode, stats.min, stats.max,
                            stats.percentile() if mode == "edges" else 0.0, maxval)
    out_dtype = np.dtype(out_dtype or image.dtype)
    in_place = (overwrite and len(blocks) > 1 and image.flags.writeable
                and image.flags.c_contiguous and out_dtype == image.dtype
                and first.out_shape == image.shape)
    out = (image.reshape(first.out_h, first.row_size) if in_place
           else np.empty((first.out_h, first.row_size), out_dtype))
    outside = np.zeros(first.out_h, np.int64)
    if len(makers) == 1 and first.fused() and out.dtype in (np.uint8, np.uint16):
        return _fused_pixels(first, buffers[0], mode, shift, scale, maxval, options, stats,
                             out)
    # In place, a block's pixels wait until the next block has read the rows it shares with
    # this one (the kernel reaches a few rows past a block's edge), then go into the image.
    waiting = []
    for start, stop in blocks:
        values = filtered(start, stop)
        if mode not in ("stretch", "edges"):
            stats.add(values)
        if in_place:
            while waiting:
                begin, pixels = waiting.pop()
                out[begin:begin + len(pixels)] = pixels
            pixels = np.empty((stop - start, first.row_size), out_dtype)
            to_pixels(values, mode, shift, scale, maxval, pixels, outside[start:stop])
            waiting.append((start, pixels))
        else:
            to_pixels(values, mode, shift, scale, maxval, out[start:stop],
                      outside[start:stop])
    for begin, pixels in waiting:
        out[begin:begin + len(pixels)] = pixels
    clipped = 100.0 * int(outside.sum()) / out.size
    return (out.reshape(first.out_shape),
            {"min": stats.min, "max": stats.max, "clipped": clipped})


def _mapping(mode: str, low: float, high: float, top: float, maxval: float):
    """(shift, scale) of a range mapping, from the output's min, max and (edges) the
    percentile of its magnitude."""
    shift, scale = 0.0, 0.0
    if mode == "offset":
        shift = (maxval + 1) / 2 if maxval > 1 else maxval / 2
    elif mode == "stretch":
        shift, span = low, high - low
        scale = maxval / span if span > 0 else 0.0
    elif mode == "edges":
        scale = maxval / top if top > 0 else 0.0
    return shift, scale


def _light_pixels(image, flt, options, mode, maxval, out_dtype):
    """``filter_to_pixels`` in numpy (``ops/light.py``), the same pixels and figures, when
    ``light.numpy_pays`` chooses it and the kernel's sums are exact; else None."""
    from cnnkit.ops import light

    if image.dtype not in (np.uint8, np.uint16):
        return None
    kernels = flt.kernels if flt.magnitude else (flt.kernel,)
    units = light.plan(image.size, kernels, np.iinfo(image.dtype).max,
                       options.cval if options.border == "zero" else 0.0)
    if units is None:
        return None
    rows = _with_kernel_errors(light.output_height, image, kernels[0], options)
    out_dtype = np.dtype(out_dtype or image.dtype)

    def filtered(band):  # one band of output rows, with its range
        sums = [_with_kernel_errors(partial(light.correlate_exact, units=u, band=band), image,
                                    k, options) for k, u in zip(kernels, units)]
        values = light.finish(sums[0], sums[1] if len(sums) > 1 else None, options.bias,
                              options.relu)
        return values, float(values.min()), float(values.max())

    # Bands of rows on every core: the integer sums and mappings are exact, so the pixels
    # are the same however the rows are cut (1 MP RGB Laplacian in process, median of 10:
    # edges 40.3 -> 29.7 ms, clip 44.5 -> 20.6 ms on 2 cores).
    parts = light.in_threads(filtered, light.bands(rows, image.size // image.shape[0] * rows))
    values = [part[0] for part in parts]
    low, high = min(part[1] for part in parts), max(part[2] for part in parts)
    top = light.abs_percentile(values, 100 - EDGES_SATURATED) if mode == "edges" else 0.0
    shift, scale = _mapping(mode, low, high, top, maxval)
    done = light.in_threads(
        lambda band: light.to_pixels(band, mode, shift, scale, maxval, out_dtype), values)
    pixels = done[0][0] if len(done) == 1 else np.concatenate([d[0] for d in done])
    cut = sum(d[1] for d in done)
    return pixels, {"min": low, "max": high, "clipped": 100.0 * cut / pixels.size}


def _percentile_candidates(rows, stats, options):
    """For the one-pass 3x3 scan of ``edges``: the top-16-bit bins likely to hold the
    percentile, guessed from one pair of rows in every ``step``, and the arrays the first scan
    keeps those bins' values in, so that the exact percentile usually needs no second scan
    of the picture (``RangeStats.take_kept``). (zeros, None, None) when there is no guess."""
    from cnnkit.ops.quantize import RangeStats

    none = np.zeros(2, np.uint32), None, None
    pairs = rows.out_h // 2
    if stats.q is None or pairs < 64:
        return none
    step = max(2, min(16, pairs // 32))
    sample = RangeStats(stats.q)
    arrays = sample.arrays()  # lows, highs, hist and an unused low_hist
    rows.stats(0, np.zeros(2, np.uint32), arrays, options.bias, options.relu, step=step)
    bins = stats.candidates(arrays[2])
    if bins is None:
        return none
    chunks = stats.arrays()[0].shape[0]
    # Room for 1/128 of the values; a good guess keeps far fewer (a few per 10,000).
    capacity = max(4096, rows.out_h * rows.row_size // (128 * chunks))
    return bins, np.empty((chunks, capacity), np.uint32), np.zeros(chunks, np.int64)


def _fused_pixels(rows, buffer, mode, shift, scale, maxval, options, stats, out):
    """The last pass of ``filter_to_pixels`` in one kernel (3x3, stride 1): source rows are
    widened, summed and mapped a pair at a time, so only a few rows are ever float32.
    ``out`` may be the picture itself (filtered over itself): the few edge rows the kernel
    leaves are filtered first, while their source rows are intact, and put in last."""
    from cnnkit.ops.quantize import MAPPINGS, finish, to_pixels

    out_max = 255.0 if out.dtype == np.uint8 else 65535.0
    out_scale = 255.0 / maxval if out.dtype == np.uint8 else 1.0
    outside = np.zeros(rows.out_h, np.int64)
    edge_rows = []
    for start, stop in rows.left_by_pixels():
        values = rows.compute(start, stop, buffer)
        finish(values, None, options.bias, options.relu)
        if mode not in ("stretch", "edges"):
            stats.add(values)
        pixels = np.empty((stop - start, rows.row_size), out.dtype)
        to_pixels(values, mode, shift, scale, maxval, pixels, outside[start:stop])
        edge_rows.append((start, pixels))
    lo, hi, cut = rows.pixels(MAPPINGS.index(mode), shift, scale, maxval, out_scale, out_max,
                              options.bias, options.relu, out)
    for start, pixels in edge_rows:
        out[start:start + len(pixels)] = pixels
    count = int(outside.sum()) + cut
    if mode not in ("stretch", "edges"):
        stats.merge(lo, hi)
    clipped = 100.0 * count / out.size
    return (out.reshape(rows.out_shape),
            {"min": stats.min, "max": stats.max, "clipped": clipped})


def pool_picture(image: np.ndarray, mode: str, size, stride, padding: str = "valid",
                 budget: int = 1 << 22) -> np.ndarray:
    """Max or average pooling of a picture of any dtype, a block of output rows at a time.

    The same values as ``ops.pool.max_pool``/``avg_pool`` of a float32 copy (each window is
    pooled by the same kernel), without that copy: with ``valid`` padding each block
    converts only its own source rows. ``same`` padding pools the whole picture at once.

    image : ndarray, shape (H, W) or (H, W, C); size, stride : (h, w)
    Returns float32, shape (Ho, Wo) or (Ho, Wo, C).
    """
    from cnnkit.ops.pool import avg_pool, max_pool, pool_output_size

    pool = max_pool if mode == "max" else avg_pool
    (kh, kw), (sh, sw) = size, stride
    height = image.shape[0]
    out_h = pool_output_size(height, kh, sh, padding) if padding == "valid" else 0
    row_values = max(1, image[0].size)
    rows = max(1, budget // row_values // max(1, sh))
    if padding != "valid" or out_h <= rows:
        return pool(image, (kh, kw), (sh, sw), padding)
    parts = [pool(image[a * sh:(min(out_h, a + rows) - 1) * sh + kh], (kh, kw), (sh, sw),
                  padding) for a in range(0, out_h, rows)]
    return np.concatenate(parts, axis=0)
