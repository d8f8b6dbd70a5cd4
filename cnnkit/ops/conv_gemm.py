"""General convolution (correlation) by im2col + float32 GEMM, any kernel, stride and padding.

Shapes, channels-last: input ``x`` (N, H, W, Cin), weights ``w`` (kh, kw, Cin, F), bias ``b``
(F,), output (N, Ho, Wo, F). Per axis, for input ``n``, kernel ``k`` and stride ``s``:
``valid`` gives ``Ho = (n - k) // s + 1``; ``same`` gives ``ceil(n / s)``, the input padded
with zeros by ``max((Ho - 1)*s + k - n, 0)`` cells, half before (rounded down), as TensorFlow.

The work runs in blocks of whole images, each thread (Numba's count) one share of them
(:func:`cnnkit.ops.matmul.for_blocks`): per block a one-thread Numba kernel gathers the
columns (im2col), BLAS multiplies them and a kernel adds the bias, while the block is in cache;
the backward multiplies a block's gradient and scatters it back (col2im) the same way. BLAS is
called between kernels from the threads, never inside ``prange``. The column matrix has one row per output pixel and ``kh*kw*Cin`` columns
in the weights' (a, c, ch) order, so ``w.reshape(kh*kw*Cin, F)`` multiplies it directly.
"""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit, njit_parallel, prange
from cnnkit.ops.matmul import for_blocks
from cnnkit.ops.windows import output_size, pad_before

PADDINGS = ("valid", "same")


@njit
def _gather_row(xp, kh, kw, sh, sw, out_h, out_w, row, cols):
    """The column rows of output row ``row`` (= n*Ho + i): cols[row*Wo + j, (a*kw + c)*C + ch]
    = xp[n, i*sh + a, j*sw + c, ch] of the padded input; each kernel row's kw*C inputs are one
    contiguous run of the image row."""
    channels = xp.shape[3]
    span = kw * channels
    n, i = row // out_h, row % out_h
    for a in range(kh):
        src = xp[n, i * sh + a].reshape(-1)
        for j in range(out_w):  # slices: plain ranges vectorise (see _direct1_forward)
            dst = cols[row * out_w + j, a * span:(a + 1) * span]
            run = src[j * sw * channels:j * sw * channels + span]
            for t in range(span):
                dst[t] = run[t]


@njit_parallel
def _gather(xp, kh, kw, sh, sw, out_h, out_w, cols):
    """The whole im2col matrix (see :func:`_gather_row`), rows over the threads."""
    for row in prange(xp.shape[0] * out_h):
        _gather_row(xp, kh, kw, sh, sw, out_h, out_w, row, cols)


@njit
def _gather_images(xp, kh, kw, sh, sw, out_h, out_w, first, stop, cols):
    """The column rows of images first..stop-1 on the calling thread (a block of
    :func:`conv_forward`; rows at their places in the full matrix)."""
    for row in range(first * out_h, stop * out_h):
        _gather_row(xp, kh, kw, sh, sw, out_h, out_w, row, cols)


@njit
def _scatter_images(dcols, kh, kw, sh, sw, out_h, out_w, first, grad_p):
    """The adjoint of :func:`_gather_images`: grad_p[first + m] = the column gradient rows
    ``dcols`` of image m of the block added back onto their (padded) input cells."""
    channels = grad_p.shape[3]
    span = kw * channels
    for m in range(dcols.shape[0] // (out_h * out_w)):
        image = grad_p[first + m]
        image[:] = 0
        for i in range(out_h):
            for a in range(kh):
                dst = image[i * sh + a].reshape(-1)
                for j in range(out_w):
                    src = dcols[(m * out_h + i) * out_w + j, a * span:(a + 1) * span]
                    run = dst[j * sw * channels:j * sw * channels + span]
                    for t in range(span):
                        run[t] += src[t]


@njit_parallel
def _direct1_forward(xflat, width, w, b, relu, out):
    """One input channel, stride 1: out[n, i, j, f] = b[f] + sum_{a,c} x[n, i+a, j+c] w[a, c, f].

    ``xflat`` (N, Hp*Wp) is the padded image, rows laid end to end (Wp = ``width``). Output
    (i, j) is computed at flat position p = i*Wp + j, so for each tap (a, c) the whole image is
    one contiguous multiply-add, ``acc[p] += w * xflat[p + a*Wp + c]``, hundreds long and fully
    vectorised (a row of 28 is too short for 8-lane loops unrolled 4 times); the Wp - Wo
    positions at each row's end are computed and dropped.
    """
    n_images, out_h, out_w, nf = out.shape
    kh, kw = w.shape[0], w.shape[1]
    span = out_h * width - kw + 1  # through the last real output, never past the image
    zero = np.float32(0.0)
    for n in prange(n_images):
        acc = np.empty((nf, span), np.float32)
        src = xflat[n]
        for f in range(nf):
            line = acc[f]
            line[:] = b[f]
            for a in range(kh):
                for c in range(kw):
                    tap = w[a, c, f]
                    # a slice, so the loop index is a plain non-negative range (an offset
                    # index would keep Numba's negative-index check and block SIMD)
                    seg = src[a * width + c:a * width + c + span]
                    for p in range(span):
                        line[p] += tap * seg[p]
        dst = out[n]
        for i in range(out_h):
            for j in range(out_w):
                for f in range(nf):
                    v = acc[f, i * width + j]
                    dst[i, j, f] = max(v, zero) if relu else v


@njit_parallel
def _direct1_weight_grad(xflat, width, grad, dw_chunks):
    """dw[a, c, f] = sum_{n,i,j} x[n, i+a, j+c] * grad[n, i, j, f] for a one-channel input,
    as dot products over each image's flat positions (see :func:`_direct1_forward`), the
    gradient laid out (F, Ho*Wp) with zeros at the dropped positions; summed per fixed chunk
    of images (deterministic for any thread count)."""
    n_images, out_h, out_w, nf = grad.shape
    chunks, kh, kw = dw_chunks.shape[0], dw_chunks.shape[1], dw_chunks.shape[2]
    span = out_h * width - kw + 1
    for k in prange(chunks):
        dw = dw_chunks[k]
        dw[:] = 0
        g_t = np.zeros((nf, span), np.float32)
        for n in range(k * n_images // chunks, (k + 1) * n_images // chunks):
            g = grad[n]
            for i in range(out_h):
                for j in range(out_w):
                    for f in range(nf):
                        g_t[f, i * width + j] = g[i, j, f]
            src = xflat[n]
            for a in range(kh):
                for c in range(kw):
                    seg = src[a * width + c:a * width + c + span]
                    for f in range(nf):
                        line = g_t[f]
                        total = np.float32(0.0)
                        for p in range(span):
                            total += seg[p] * line[p]
                        dw[a, c, f] += total


@njit
def _bias_relu(y, b, relu):
    """y += b row by row, then max(y, 0) if ``relu``; y (M, F) in place (one block of rows,
    on the calling thread, while the product that wrote it is in cache).

    Indexed flat over slices, the ReLU as a branch-free max: per-row views with a branch per
    value were 20x slower on lenet5's layers (half the values are negative, at random, so the
    branch mispredicts).
    """
    rows, nf = y.shape
    flat = y.reshape(-1)
    zero = np.float32(0.0)
    for r in range(rows):  # slices: plain ranges, no negative-index checks
        row = flat[r * nf:(r + 1) * nf]
        for f in range(nf):
            row[f] += b[f]
    if relu:
        for t in range(flat.size):
            flat[t] = max(flat[t], zero)


@njit
def _mask_and_sum(y, grad, relu, db):
    """grad *= (y > 0) if ``relu`` (in place), then db = the column sums of grad; (M, F) rows
    as flat slices (see :func:`_bias_relu`), on the calling thread."""
    nf = grad.shape[1]
    gs = grad.reshape(-1)
    vs = y.reshape(-1)
    zero = np.float32(0.0)
    if relu:  # a product, not a branch: half the cells are masked, at random
        for t in range(gs.size):
            gs[t] = gs[t] * np.float32(vs[t] > zero)
    for f in range(nf):  # a register sum per column: db[f] in memory chained every add
        total = zero
        for t in range(f, gs.size, nf):
            total += gs[t]
        db[f] = total


@njit_parallel
def _relu_grad_and_bias(y, grad, relu, chunks, db_chunks):
    """:func:`_mask_and_sum` over fixed chunks of rows, in parallel: db_chunks[k] holds
    chunk k's column sums, so the total does not depend on the thread count."""
    rows = grad.shape[0]
    for k in prange(chunks):
        lo, hi = k * rows // chunks, (k + 1) * rows // chunks
        _mask_and_sum(y[lo:hi] if relu else y[:0], grad[lo:hi], relu, db_chunks[k])


def _geometry(x_shape, w_shape, strides, padding):
    _, height, width, _ = x_shape
    kh, kw = w_shape[0], w_shape[1]
    sh, sw = strides
    out_h, out_w = (output_size(height, kh, sh, padding), output_size(width, kw, sw, padding))
    top, left = pad_before(height, kh, sh, padding), pad_before(width, kw, sw, padding)
    return kh, kw, sh, sw, top, left, out_h, out_w


def _check(x, w, b, strides, padding):
    if x.ndim != 4 or w.ndim != 4 or b.ndim != 1:
        raise ValueError(f"expected x (N, H, W, Cin), w (kh, kw, Cin, F), b (F,), got "
                         f"{x.shape}, {w.shape}, {b.shape}")
    if x.shape[3] != w.shape[2] or w.shape[3] != b.shape[0]:
        raise ValueError(f"channel counts disagree: x {x.shape}, w {w.shape}, b {b.shape}")
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    if min(strides) < 1:
        raise ValueError(f"strides must be >= 1, got {strides}")
    geometry = _geometry(x.shape, w.shape, strides, padding)
    if geometry[6] < 1 or geometry[7] < 1:
        raise ValueError(f"input {x.shape[1]}x{x.shape[2]} is smaller than the kernel "
                         f"{w.shape[0]}x{w.shape[1]}")
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return f32(x), f32(w), f32(b), geometry


def _padded(x, kh, kw, sh, sw, top, left, out_h, out_w) -> np.ndarray:
    """``x`` with the zero border 'same' padding adds (and cut to what the windows read)."""
    height, width = (out_h - 1) * sh + kh, (out_w - 1) * sw + kw
    if top == left == 0 and height <= x.shape[1] and width <= x.shape[2]:
        return x
    xp = np.zeros((x.shape[0], height, width, x.shape[3]), np.float32)
    rows, cols = min(x.shape[1], height - top), min(x.shape[2], width - left)
    xp[:, top:top + rows, left:left + cols] = x[:, :rows, :cols]
    return xp


def _flat(xp: np.ndarray) -> np.ndarray:
    """A one-channel (N, Hp, Wp, 1) batch as (N, Hp*Wp), rows end to end."""
    return np.ascontiguousarray(xp).reshape(xp.shape[0], -1)


def _direct(channels: int, strides) -> bool:
    """One input channel at stride 1: the direct kernels beat a GEMM with K = kh*kw and a few
    filters. lenet5's 5x5x1x6 first layer, forward and weight gradient at batch 128: im2col +
    GEMM took 1.4x the time of direct kernels over image rows, which took 1.7x the time of the
    direct kernels over whole flattened images used now (ratios of medians of alternating runs
    on the busy development machine)."""
    return channels == 1 and tuple(strides) == (1, 1)


def columns(x: np.ndarray, w_shape, strides=(1, 1), padding: str = "valid") -> np.ndarray:
    """The im2col matrix (N*Ho*Wo, kh*kw*Cin) float32 of a contiguous float32 ``x``."""
    kh, kw, sh, sw, top, left, out_h, out_w = _geometry(x.shape, w_shape, strides, padding)
    xp = _padded(x, kh, kw, sh, sw, top, left, out_h, out_w)
    cols = np.empty((x.shape[0] * out_h * out_w, kh * kw * x.shape[3]), np.float32)
    _gather(xp, kh, kw, sh, sw, out_h, out_w, cols)
    return cols


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, strides=(1, 1),
                 padding: str = "valid", relu: bool = False):
    """``relu?(conv(x, w) + b)``: returns (y (N, Ho, Wo, F) float32, saved for the backward).

    ``saved`` is the column matrix (or, for the direct one-channel kernels, the padded input),
    so the backward pass need not gather again.
    """
    x, w, b, (kh, kw, sh, sw, top, left, out_h, out_w) = _check(x, w, b, tuple(strides),
                                                                 padding)
    xp = _padded(x, kh, kw, sh, sw, top, left, out_h, out_w)
    if _direct(x.shape[3], (sh, sw)):
        y = np.empty((x.shape[0], out_h, out_w, w.shape[3]), np.float32)
        _direct1_forward(_flat(xp), xp.shape[2], np.ascontiguousarray(w[:, :, 0, :]), b, relu, y)
        return y, xp
    n_images, nf = x.shape[0], w.shape[3]
    rows = out_h * out_w  # per image
    cols = np.empty((n_images * rows, kh * kw * x.shape[3]), np.float32)
    y = np.empty((n_images * rows, nf), np.float32)
    w2 = w.reshape(-1, nf)
    per_block = images_per_block(n_images, rows * cols.shape[1])

    def blocks(first, stop):  # gather, multiply, add the bias while the block is in cache
        for k in range(first, stop):
            n0, n1 = k * per_block, min((k + 1) * per_block, n_images)
            _gather_images(xp, kh, kw, sh, sw, out_h, out_w, n0, n1, cols)
            out = y[n0 * rows:n1 * rows]
            np.matmul(cols[n0 * rows:n1 * rows], w2, out=out)
            _bias_relu(out, b, relu)

    for_blocks(blocks, -(-n_images // per_block))
    return y.reshape(n_images, out_h, out_w, nf), cols


BLOCK_BYTES = 640 << 10
"""Column matrix per block of images in the GEMM path: about a core's L2 cache, so a block's
columns are gathered and multiplied (forward), or multiplied and scattered (backward), while
in cache. Gathering the whole matrix, then multiplying it, wrote and re-read 10-24 MB a layer
(lenet5's second conv, bn-convnet's 64-filter convs); the backward's column gradient is no
longer written to memory at all."""


def images_per_block(n_images: int, floats_per_image: int) -> int:
    """Images in one block: BLOCK_BYTES of columns, at least 1, and at most an even share of
    the images among GRAD_CHUNKS groups (so every thread has work). Independent of the
    thread count, and so are the gradients summed over the blocks."""
    fit = max(1, BLOCK_BYTES // (4 * floats_per_image))
    return max(1, min(fit, -(-n_images // GRAD_CHUNKS)))


GRAD_CHUNKS = 8  # bias sums by fixed chunks: the result does not depend on the thread count


def conv_backward(cols: np.ndarray, x_shape, w: np.ndarray, grad_y: np.ndarray,
                  strides=(1, 1), padding: str = "valid", y: np.ndarray | None = None,
                  input_grad: bool = True):
    """Gradients of :func:`conv_forward`: (grad_x or None, grad_w, grad_b).

    ``cols`` is what the forward pass saved; ``y`` its output, given when the forward
    applied ReLU (the gradient is masked where ``y`` is 0). ``grad_y`` (N, Ho, Wo, F) may be
    overwritten.
    """
    kh, kw, sh, sw, top, left, out_h, out_w = _geometry(x_shape, w.shape, tuple(strides),
                                                        padding)
    nf = w.shape[3]
    expected = (x_shape[0], out_h, out_w, nf)
    if tuple(grad_y.shape) != expected:
        raise ValueError(f"grad_y has shape {grad_y.shape}, expected {expected}")
    grad = np.ascontiguousarray(grad_y, dtype=np.float32).reshape(-1, nf)
    relu = y is not None
    mask = (np.ascontiguousarray(y, dtype=np.float32).reshape(-1, nf) if relu
            else grad[:0])
    n_images, rows = x_shape[0], out_h * out_w
    direct = _direct(x_shape[3], (sh, sw))
    if direct:  # mask, bias and weight gradient over the whole batch; the blocks do grad_x
        chunks = max(1, min(GRAD_CHUNKS, grad.shape[0]))
        db_chunks = np.empty((chunks, nf), np.float32)
        _relu_grad_and_bias(mask, grad, relu, chunks, db_chunks)
        db = db_chunks.sum(axis=0, dtype=np.float32)
        dw_chunks = np.empty((chunks, kh, kw, nf), np.float32)
        _direct1_weight_grad(_flat(cols), cols.shape[2], grad.reshape(expected), dw_chunks)
        dw = dw_chunks.sum(axis=0, dtype=np.float32).reshape(w.shape)
        if not input_grad:
            return None, dw, db
    depth = kh * kw * x_shape[3]
    per_block = images_per_block(n_images, rows * depth)
    n_blocks = -(-n_images // per_block)
    db_blocks = np.empty((n_blocks, nf), np.float32)
    # weight gradient summed block after block within fixed groups of blocks, the groups'
    # sums added in order: the same result for any thread count
    groups = min(GRAD_CHUNKS, n_blocks)
    dw_groups = np.empty((groups, depth, nf), np.float32)
    wt = np.ascontiguousarray(w.reshape(-1, nf).T)
    grad_p = (np.empty((n_images, (out_h - 1) * sh + kh, (out_w - 1) * sw + kw, x_shape[3]),
                       np.float32) if input_grad else None)

    def run(first_group, stop_group):  # mask, sum, multiply, scatter while a block is in cache
        for group in range(first_group, stop_group):
            lo, hi = group * n_blocks // groups, (group + 1) * n_blocks // groups
            for k in range(lo, hi):
                n0, n1 = k * per_block, min((k + 1) * per_block, n_images)
                g = grad[n0 * rows:n1 * rows]
                if not direct:
                    _mask_and_sum(mask[n0 * rows:n1 * rows] if relu else mask, g, relu,
                                  db_blocks[k])
                    block = cols[n0 * rows:n1 * rows].T
                    if k == lo:
                        np.matmul(block, g, out=dw_groups[group])
                    else:
                        dw_groups[group] += block @ g
                if input_grad:
                    _scatter_images(g @ wt, kh, kw, sh, sw, out_h, out_w, n0, grad_p)

    for_blocks(run, groups)
    if not direct:
        db = db_blocks.sum(axis=0, dtype=np.float32)
        dw = dw_groups[0].copy()
        for group in range(1, groups):  # in order: deterministic
            dw += dw_groups[group]
        dw = dw.reshape(w.shape)
    if not input_grad:
        return None, dw, db
    if grad_p.shape == tuple(x_shape):  # no padding, every input read: already grad_x
        return grad_p, dw, db
    _, height, width, _ = x_shape
    grad_x = np.zeros(tuple(x_shape), np.float32)
    rows_, cols_ = min(height, grad_p.shape[1] - top), min(width, grad_p.shape[2] - left)
    grad_x[:, :rows_, :cols_] = grad_p[:, top:top + rows_, left:left + cols_]
    return grad_x, dw, db
