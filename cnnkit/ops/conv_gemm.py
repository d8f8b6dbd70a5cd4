"""General convolution (correlation) by im2col + float32 GEMM, any kernel, stride and padding.

Shapes, channels-last: input ``x`` (N, H, W, Cin), weights ``w`` (kh, kw, Cin, F), bias ``b``
(F,), output (N, Ho, Wo, F). Per axis, for input ``n``, kernel ``k`` and stride ``s``:
``valid`` gives ``Ho = (n - k) // s + 1``; ``same`` gives ``ceil(n / s)``, the input padded
with zeros by ``max((Ho - 1)*s + k - n, 0)`` cells, half before (rounded down), as TensorFlow.

The gather (im2col) and the scatter-add back (col2im) are parallel Numba kernels; the products
run in BLAS at the batch level, split over the cores by :mod:`cnnkit.ops.matmul` (never BLAS
inside ``prange``). The column matrix has one row per output pixel and ``kh*kw*Cin`` columns
in the weights' (a, c, ch) order, so ``w.reshape(kh*kw*Cin, F)`` multiplies it directly.
"""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit_parallel, prange
from cnnkit.ops.matmul import matmul, matmul_tn

PADDINGS = ("valid", "same")


def output_size(n: int, k: int, s: int, padding: str) -> int:
    """Output length along one axis (see the module docstring); < 1 when nothing fits."""
    return (n - k) // s + 1 if padding == "valid" else -(-n // s)


def pad_before(n: int, k: int, s: int, padding: str) -> int:
    if padding == "valid":
        return 0
    return max((output_size(n, k, s, padding) - 1) * s + k - n, 0) // 2


@njit_parallel
def _gather(xp, kh, kw, sh, sw, out_h, out_w, cols):
    """cols[(n*Ho + i)*Wo + j, (a*kw + c)*C + ch] = xp[n, i*sh + a, j*sw + c, ch] of the padded
    input: each kernel row's kw*C inputs are one contiguous run of the image row."""
    n_images, _, _, channels = xp.shape
    span = kw * channels
    for row in prange(n_images * out_h):
        n, i = row // out_h, row % out_h
        for a in range(kh):
            src = xp[n, i * sh + a].reshape(-1)
            for j in range(out_w):  # slices: plain ranges vectorise (see _direct1_forward)
                dst = cols[row * out_w + j, a * span:(a + 1) * span]
                run = src[j * sw * channels:j * sw * channels + span]
                for t in range(span):
                    dst[t] = run[t]


@njit_parallel
def _scatter(cols, kh, kw, sh, sw, out_h, out_w, grad_p):
    """The adjoint of :func:`_gather`: add every column entry back onto its (padded) input
    cell. One image per thread, so no two threads write the same cell."""
    n_images, _, _, channels = grad_p.shape
    span = kw * channels
    for n in prange(n_images):
        grad_p[n] = 0
        for i in range(out_h):
            for a in range(kh):
                dst = grad_p[n, i * sh + a].reshape(-1)
                for j in range(out_w):
                    src = cols[(n * out_h + i) * out_w + j, a * span:(a + 1) * span]
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


@njit_parallel
def _bias_relu(y, b, relu):
    """y += b row by row, then max(y, 0) if ``relu``; y (M, F) in place.

    Indexed flat over slices, in blocks of rows, the ReLU as a branch-free max: per-row views
    with a branch per value were 20x slower on lenet5's layers (half the values are negative,
    at random, so the branch mispredicts).
    """
    rows, nf = y.shape
    flat = y.reshape(-1)
    zero = np.float32(0.0)
    blocks = min(rows, 64)
    for k in prange(blocks):
        lo, hi = k * rows // blocks, (k + 1) * rows // blocks
        seg = flat[lo * nf:hi * nf]  # slices: plain ranges, no negative-index checks
        for r in range(hi - lo):
            row = seg[r * nf:(r + 1) * nf]
            for f in range(nf):
                row[f] += b[f]
        if relu:
            for t in range(seg.size):
                seg[t] = max(seg[t], zero)


@njit_parallel
def _relu_grad_and_bias(y, grad, relu, chunks, db_chunks):
    """grad *= (y > 0) if ``relu`` (in place); db = column sums of grad, by fixed chunks.

    Flat indexing, no row views (see :func:`_bias_relu`); each chunk adds its rows in order,
    so the sums do not depend on the thread count.
    """
    rows, nf = grad.shape
    g = grad.reshape(-1)
    v = y.reshape(-1)
    zero = np.float32(0.0)
    for k in prange(chunks):
        db = db_chunks[k]
        db[:] = 0
        lo, hi = k * rows // chunks * nf, (k + 1) * rows // chunks * nf
        gs, vs = g[lo:hi], v[lo:hi]
        if relu:  # a product, not a branch: half the cells are masked, at random
            for t in range(hi - lo):
                gs[t] = gs[t] * np.float32(vs[t] > zero)
        for f in range(nf):  # a register sum per column: db[f] in memory chained every add
            total = zero
            for t in range(f, hi - lo, nf):
                total += gs[t]
            db[f] = total


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
    cols = np.empty((x.shape[0] * out_h * out_w, kh * kw * x.shape[3]), np.float32)
    _gather(xp, kh, kw, sh, sw, out_h, out_w, cols)
    y = matmul(cols, w.reshape(-1, w.shape[3]))
    _bias_relu(y, b, relu)
    return y.reshape(x.shape[0], out_h, out_w, w.shape[3]), cols


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
            else grad[:1])
    chunks = max(1, min(GRAD_CHUNKS, grad.shape[0]))
    db_chunks = np.empty((chunks, nf), np.float32)
    _relu_grad_and_bias(mask, grad, relu, chunks, db_chunks)
    db = db_chunks.sum(axis=0, dtype=np.float32)
    if _direct(x_shape[3], (sh, sw)):
        dw_chunks = np.empty((chunks, kh, kw, nf), np.float32)
        _direct1_weight_grad(_flat(cols), cols.shape[2], grad.reshape(expected), dw_chunks)
        dw = dw_chunks.sum(axis=0, dtype=np.float32).reshape(w.shape)
    else:
        dw = matmul_tn(cols, grad).reshape(w.shape)
    grad_x = None
    if input_grad:
        dcols = matmul(grad, np.ascontiguousarray(w.reshape(-1, nf).T))
        n, height, width, channels = x_shape
        grad_p = np.empty((n, (out_h - 1) * sh + kh, (out_w - 1) * sw + kw, channels),
                          np.float32)
        _scatter(dcols, kh, kw, sh, sw, out_h, out_w, grad_p)
        if grad_p.shape == tuple(x_shape):  # no padding, every input read: already grad_x
            return grad_p, dw, db
        grad_x = np.zeros(tuple(x_shape), np.float32)
        rows, cols_ = min(height, grad_p.shape[1] - top), min(width, grad_p.shape[2] - left)
        grad_x[:, :rows, :cols_] = grad_p[:, top:top + rows, left:left + cols_]
    return grad_x, dw, db
