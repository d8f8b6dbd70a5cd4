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
from cnnkit.ops._jit import njit_parallel, prange


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
    for n in prange(n_images):
        acc = y[n]
        src = xflat[n]
        for f in range(nf):
            line = acc[f]
            line[:] = b[f]
            for a in range(kh):
                for c in range(kw):
                    tap = w[a, c, f]
                    seg = src[a * width + c:a * width + c + span]
                    for p in range(span):
                        line[p] += tap * seg[p]
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
    for k in prange(chunks):
        dw, db = dw_chunks[k], db_chunks[k]
        dw[:] = 0
        db[:] = 0
        g_t = np.zeros((nf, span), np.float32)  # cells no window covers stay zero
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
            for a in range(kh):
                for c in range(kw):
                    seg = src[a * width + c:a * width + c + span]
                    for f in range(nf):
                        line = g_t[f]
                        total = zero
                        for p in range(span):
                            total += seg[p] * line[p]
                        dw[a, c, f] += total


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
