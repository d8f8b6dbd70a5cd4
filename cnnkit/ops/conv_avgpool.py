"""A one-channel first conv layer with ReLU and the average pooling that tiles its output,
fused (lenet5's first block: conv 6 5 same relu | avgpool 2).

Shapes, channels-last: input ``x`` (N, H, W, 1), weights ``w`` (kh, kw, 1, F), bias (F,),
stride 1, ``valid`` or ``same`` padding as :mod:`cnnkit.ops.conv_gemm`; the conv output
``y`` (N, Ho, Wo, F; kept in the direct kernels' flat layout) is pooled by ``p`` x ``p`` windows at stride ``p`` to
(N, Ho // p, Wo // p, F) (rows and columns past the last window are dropped, as valid
pooling). The backward gives the parameter gradients only (a first layer needs no input
gradient).

Fused, because apart they cost more than the conv: the pooling re-read the conv output, the
pooling's backward wrote a full-size gradient, and the ReLU mask and bias sum read it once
more. Here the forward pools each image's conv output while it is in cache, and the backward
spreads the pooled gradient, masks it by the ReLU and sums the bias while laying it out for
the weight-gradient dot products (the layout of :func:`conv_gemm._direct1_weight_grad`).
"""

from __future__ import annotations

import numpy as np

from cnnkit.ops import conv_gemm
from cnnkit.ops._jit import njit, njit_parallel, prange


@njit
def _add_taps(src, offsets, taps, line):
    """line[p] += sum_t taps[t] * src[offsets[t] + p] for every p of ``line``, four taps a pass:
    one load and store of ``line`` per four multiply-adds (a pass per tap was bound by its
    store)."""
    span = line.size
    count = taps.size
    t = 0
    while t + 4 <= count:
        w0, w1, w2, w3 = taps[t], taps[t + 1], taps[t + 2], taps[t + 3]
        s0 = src[offsets[t]:offsets[t] + span]  # slices: plain ranges vectorise
        s1 = src[offsets[t + 1]:offsets[t + 1] + span]
        s2 = src[offsets[t + 2]:offsets[t + 2] + span]
        s3 = src[offsets[t + 3]:offsets[t + 3] + span]
        for p in range(span):
            line[p] += w0 * s0[p] + w1 * s1[p] + w2 * s2[p] + w3 * s3[p]
        t += 4
    while t < count:
        s0 = src[offsets[t]:offsets[t] + span]
        w0 = taps[t]
        for p in range(span):
            line[p] += w0 * s0[p]
        t += 1


@njit
def _dot_taps(src, offsets, line, sums):
    """sums[t] = sum_p src[offsets[t] + p] * line[p], four taps a pass (``line`` loaded once
    for four dot products)."""
    span = line.size
    count = sums.size
    zero = np.float32(0.0)
    t = 0
    while t + 4 <= count:
        s0 = src[offsets[t]:offsets[t] + span]
        s1 = src[offsets[t + 1]:offsets[t + 1] + span]
        s2 = src[offsets[t + 2]:offsets[t + 2] + span]
        s3 = src[offsets[t + 3]:offsets[t + 3] + span]
        d0 = d1 = d2 = d3 = zero
        for p in range(span):
            v = line[p]
            d0 += s0[p] * v
            d1 += s1[p] * v
            d2 += s2[p] * v
            d3 += s3[p] * v
        sums[t], sums[t + 1], sums[t + 2], sums[t + 3] = d0, d1, d2, d3
        t += 4
    while t < count:
        s0 = src[offsets[t]:offsets[t] + span]
        d0 = zero
        for p in range(span):
            d0 += s0[p] * line[p]
        sums[t] = d0
        t += 1


@njit_parallel
def _forward(xflat, width, w, b, size, y, pooled):
    """y = relu(conv(x) + b) as :func:`conv_gemm._direct1_forward`, kept in its flat layout
    (N, F, span): output (i, j) at i*Wp + j (the backward reads it there, as a mask);
    pooled = its p x p means (N, Hp, Wp, F)."""
    n_images, nf, span = y.shape
    pool_h, pool_w = pooled.shape[1], pooled.shape[2]
    kh, kw = w.shape[0], w.shape[1]
    zero = np.float32(0.0)
    scale = np.float32(1.0) / np.float32(size * size)
    offsets = np.empty(kh * kw, np.int64)  # each tap's offset in the flat image
    for t in range(kh * kw):
        offsets[t] = (t // kw) * width + t % kw
    for n in prange(n_images):
        acc = y[n]
        src = xflat[n]
        taps = np.empty(kh * kw, np.float32)
        for f in range(nf):
            line = acc[f]
            line[:] = b[f]
            for t in range(kh * kw):
                taps[t] = w[t // kw, t % kw, f]
            _add_taps(src, offsets, taps, line)
            for p in range(span):
                line[p] = max(line[p], zero)
        pool = pooled[n]
        for i in range(pool_h):
            for j in range(pool_w):
                for f in range(nf):
                    line = acc[f]
                    total = zero
                    for a in range(size):
                        base = (i * size + a) * width + j * size
                        for c in range(size):
                            total += line[base + c]
                    pool[i, j, f] = total * scale


@njit_parallel
def _backward(xflat, width, y, grad, size, dw_chunks, db_chunks):
    """dw, db by fixed chunks of images from the pooled gradient ``grad`` (N, Hp, Wp, F):
    each conv output cell's gradient is its window's share, zero where the ReLU was off."""
    n_images, nf, span = y.shape
    pool_h, pool_w = grad.shape[1], grad.shape[2]
    chunks, kh, kw = dw_chunks.shape[0], dw_chunks.shape[1], dw_chunks.shape[2]
    zero = np.float32(0.0)
    scale = np.float32(1.0) / np.float32(size * size)
    offsets = np.empty(kh * kw, np.int64)
    for t in range(kh * kw):
        offsets[t] = (t // kw) * width + t % kw
    for k in prange(chunks):
        dw, db = dw_chunks[k], db_chunks[k]
        dw[:] = 0
        db[:] = 0
        g_t = np.zeros((nf, span), np.float32)  # cells no window covers stay zero
        sums = np.empty(kh * kw, np.float32)
        for n in range(k * n_images // chunks, (k + 1) * n_images // chunks):
            g, v = grad[n], y[n]
            for i in range(pool_h * size):
                for j in range(pool_w * size):
                    share = g[i // size, j // size]
                    p = i * width + j
                    for f in range(nf):
                        t = share[f] * scale * np.float32(v[f, p] > zero)
                        g_t[f, p] = t
                        db[f] += t
            src = xflat[n]
            for f in range(nf):
                _dot_taps(src, offsets, g_t[f], sums)
                for t in range(kh * kw):
                    dw[t // kw, t % kw, f] += sums[t]


def fits(channels: int, strides, pool_size, pool_strides, pool_padding) -> bool:
    """Whether a conv + average pooling pair can run here."""
    return (channels == 1 and tuple(strides) == (1, 1) and pool_size[0] == pool_size[1]
            and tuple(pool_strides) == tuple(pool_size) and pool_padding == "valid")


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, padding: str, size: int):
    """(pooled (N, Ho//p, Wo//p, F), saved for :func:`backward`)."""
    x, w, b, (kh, kw, sh, sw, top, left, out_h, out_w) = conv_gemm._check(x, w, b, (1, 1),
                                                                          padding)
    if x.shape[3] != 1 or out_h < size or out_w < size:
        raise ValueError(f"expected one input channel and an output of at least {size}x{size}, "
                         f"got x {x.shape}, output {out_h}x{out_w}")
    xp = conv_gemm._padded(x, kh, kw, sh, sw, top, left, out_h, out_w)
    y = np.empty((x.shape[0], w.shape[3], out_h * xp.shape[2] - kw + 1), np.float32)
    pooled = np.empty((x.shape[0], out_h // size, out_w // size, w.shape[3]), np.float32)
    _forward(conv_gemm._flat(xp), xp.shape[2], np.ascontiguousarray(w[:, :, 0, :]), b, size,
             y, pooled)
    return pooled, (xp, y, pooled.shape)


def backward(saved, w_shape, grad: np.ndarray, size: int):
    """(grad_w (kh, kw, 1, F), grad_b (F,)) from the pooled output's gradient."""
    xp, y, expected = saved
    if tuple(grad.shape) != expected:
        raise ValueError(f"grad has shape {grad.shape}, expected {expected}")
    chunks = max(1, min(conv_gemm.GRAD_CHUNKS, y.shape[0]))
    dw_chunks = np.empty((chunks, w_shape[0], w_shape[1], w_shape[3]), np.float32)
    db_chunks = np.empty((chunks, w_shape[3]), np.float32)
    _backward(conv_gemm._flat(xp), xp.shape[2], y, np.ascontiguousarray(grad, np.float32),
              size, dw_chunks, db_chunks)
    return (dw_chunks.sum(axis=0, dtype=np.float32).reshape(w_shape),
            db_chunks.sum(axis=0, dtype=np.float32))
