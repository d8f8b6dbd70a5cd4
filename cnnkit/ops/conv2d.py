"""Batched CNN convolution (correlation, 'valid', stride 1), channels-last, forward and backward.

Shapes: input ``x`` (N, H, W, Cin), weights ``w`` (kh, kw, Cin, F), bias ``b`` (F,), output
(N, H - kh + 1, W - kw + 1, F). The innermost loops run over the F filters, which are
contiguous in both ``w`` and the output, so they vectorise.

Also the fused first block of ``digit_classifier``, conv + bias + ReLU + 2x2/2 max pooling, in
one pass per image: the 26x26x32 activation never leaves the cache, and its backward pass
needs only the argmax of each pooling window.
"""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit, njit_parallel, prange

# Weight gradients are summed per fixed chunk of the batch and the chunks added in order,
# so the result does not depend on how many threads ran (bit-identical for a given batch).
GRAD_CHUNKS = 8


@njit
def _conv_pixel(x, n, i, j, w, b, acc):
    """acc[f] = b[f] + sum_{a, c, ch} x[n, i+a, j+c, ch] * w[a, c, ch, f]."""
    kh, kw, cin, nf = w.shape
    for f in range(nf):
        acc[f] = b[f]
    for a in range(kh):
        for c in range(kw):
            for ch in range(cin):
                v = x[n, i + a, j + c, ch]
                tap = w[a, c, ch]
                for f in range(nf):
                    acc[f] += v * tap[f]


@njit_parallel
def _conv_forward(x, w, b, out):
    n_images, out_h, out_w, nf = out.shape
    for row in prange(n_images * out_h):
        n, i = row // out_h, row % out_h
        for j in range(out_w):
            _conv_pixel(x, n, i, j, w, b, out[n, i, j])


@njit_parallel
def _conv_backward_params(x, grad_out, dw_chunks, db_chunks):
    """dw[a, c, ch, f] = sum_{n,i,j} x[n, i+a, j+c, ch] * g[n, i, j, f]; db[f] = sum g."""
    n_images, out_h, out_w, nf = grad_out.shape
    kh, kw, cin = dw_chunks.shape[1], dw_chunks.shape[2], dw_chunks.shape[3]
    chunks = dw_chunks.shape[0]
    for k in prange(chunks):
        dw, db = dw_chunks[k], db_chunks[k]
        dw[:] = 0
        db[:] = 0
        for n in range(k * n_images // chunks, (k + 1) * n_images // chunks):
            for i in range(out_h):
                for j in range(out_w):
                    g = grad_out[n, i, j]
                    for f in range(nf):
                        db[f] += g[f]
                    for a in range(kh):
                        for c in range(kw):
                            for ch in range(cin):
                                v = x[n, i + a, j + c, ch]
                                tap = dw[a, c, ch]
                                for f in range(nf):
                                    tap[f] += v * g[f]


@njit_parallel
def _conv_backward_input(grad_out, w, grad_in):
    """grad_in[n, y, x, ch] = sum over the outputs whose window covers (y, x)."""
    n_images, out_h, out_w, nf = grad_out.shape
    kh, kw, cin = w.shape[0], w.shape[1], w.shape[2]
    for n in prange(n_images):
        grad_in[n] = 0
        for i in range(out_h):
            for j in range(out_w):
                g = grad_out[n, i, j]
                for a in range(kh):
                    for c in range(kw):
                        for ch in range(cin):
                            tap = w[a, c, ch]
                            total = np.float32(0.0)
                            for f in range(nf):
                                total += tap[f] * g[f]
                            grad_in[n, i + a, j + c, ch] += total


@njit
def _gather_window(x, n, p, q, kh, kw, cin, patch):
    """patch[d, t]: the kh*kw*cin inputs under conv position d (= dy*2 + dx) of pool cell (p, q)."""
    for d in range(4):
        i, j = 2 * p + d // 2, 2 * q + d % 2
        t = 0
        for a in range(kh):
            for c in range(kw):
                for ch in range(cin):
                    patch[d, t] = x[n, i + a, j + c, ch]
                    t += 1


@njit_parallel
def _conv_relu_pool_forward(x, w, b, pooled, argmax):
    """pooled[n, p, q, f] = max(0, max over the 2x2 window of conv); argmax in 0..3 (dy*2+dx).

    A window whose maximum is <= 0 gets argmax -1: ReLU blocks its gradient. The four conv
    positions of a window are computed together so each weight row is loaded once.
    """
    n_images, pool_h, pool_w, nf = pooled.shape
    kh, kw, cin = w.shape[0], w.shape[1], w.shape[2]
    taps = kh * kw * cin
    w2 = w.reshape(taps, nf)
    for row in prange(n_images * pool_h):
        n, p = row // pool_h, row % pool_h
        conv = np.empty((4, nf), np.float32)
        patch = np.empty((4, taps), np.float32)
        c0, c1, c2, c3 = conv[0], conv[1], conv[2], conv[3]
        for q in range(pool_w):
            _gather_window(x, n, p, q, kh, kw, cin, patch)
            for f in range(nf):
                c0[f] = b[f]
                c1[f] = b[f]
                c2[f] = b[f]
                c3[f] = b[f]
            for t in range(taps):
                v0, v1, v2, v3 = patch[0, t], patch[1, t], patch[2, t], patch[3, t]
                wt = w2[t]
                for f in range(nf):
                    wf = wt[f]
                    c0[f] += v0 * wf
                    c1[f] += v1 * wf
                    c2[f] += v2 * wf
                    c3[f] += v3 * wf
            best, where = pooled[n, p, q], argmax[n, p, q]
            for f in range(nf):  # branch-free max and argmax, so the loop vectorises
                m = np.float32(0.0)
                k = -1
                for d in range(4):
                    v = conv[d, f]
                    k = d if v > m else k
                    m = v if v > m else m
                best[f] = m
                where[f] = k


@njit_parallel
def _conv_relu_pool_backward(x, argmax, grad_pooled, dw_chunks, db_chunks):
    """Weight and bias gradients of the fused block; the input needs none (first layer).

    Each pooled gradient belongs to one cell of its window (the argmax); the four cells'
    gradient vectors are built with zeros elsewhere, so every weight row is loaded and stored
    once per window for all four.
    """
    n_images, pool_h, pool_w, nf = grad_pooled.shape
    kh, kw, cin = dw_chunks.shape[1], dw_chunks.shape[2], dw_chunks.shape[3]
    taps = kh * kw * cin
    chunks = dw_chunks.shape[0]
    for k in prange(chunks):
        dw, db = dw_chunks[k].reshape(taps, nf), db_chunks[k]
        dw[:] = 0
        db[:] = 0
        window = np.zeros((4, nf), np.float32)
        patch = np.empty((4, taps), np.float32)
        g0, g1, g2, g3 = window[0], window[1], window[2], window[3]
        for n in range(k * n_images // chunks, (k + 1) * n_images // chunks):
            for p in range(pool_h):
                for q in range(pool_w):
                    g, where = grad_pooled[n, p, q], argmax[n, p, q]
                    for f in range(nf):
                        gf = g[f]
                        wf = np.int32(where[f])
                        g0[f] = gf if wf == 0 else np.float32(0.0)
                        g1[f] = gf if wf == 1 else np.float32(0.0)
                        g2[f] = gf if wf == 2 else np.float32(0.0)
                        g3[f] = gf if wf == 3 else np.float32(0.0)
                        db[f] += gf if wf >= 0 else np.float32(0.0)
                    _gather_window(x, n, p, q, kh, kw, cin, patch)
                    for t in range(taps):
                        v0, v1, v2, v3 = patch[0, t], patch[1, t], patch[2, t], patch[3, t]
                        row = dw[t]
                        for f in range(nf):
                            row[f] += v0 * g0[f] + v1 * g1[f] + v2 * g2[f] + v3 * g3[f]


@njit
def _block4x4(x, n, i, j):
    """The 16 inputs under one pooling window of a 3x3 single-channel conv, row by row."""
    return (x[n, i, j, 0], x[n, i, j + 1, 0], x[n, i, j + 2, 0], x[n, i, j + 3, 0],
            x[n, i + 1, j, 0], x[n, i + 1, j + 1, 0], x[n, i + 1, j + 2, 0], x[n, i + 1, j + 3, 0],
            x[n, i + 2, j, 0], x[n, i + 2, j + 1, 0], x[n, i + 2, j + 2, 0], x[n, i + 2, j + 3, 0],
            x[n, i + 3, j, 0], x[n, i + 3, j + 1, 0], x[n, i + 3, j + 2, 0], x[n, i + 3, j + 3, 0])


@njit_parallel
def _conv3x3_relu_pool_forward(x, w, b, pooled, argmax):
    """:func:`_conv_relu_pool_forward` for the digit_classifier's case, 3x3 on one channel.

    The 16 inputs of a window stay in registers and the nine taps are written out, so the loop
    over filters is innermost, free of array temporaries, and vectorises: about 5x faster
    than the general kernel, with the same sums in the same order (identical results).
    """
    n_images, pool_h, pool_w, nf = pooled.shape
    for row in prange(n_images * pool_h):
        n, p = row // pool_h, row % pool_h
        for q in range(pool_w):
            (x00, x01, x02, x03, x10, x11, x12, x13,
             x20, x21, x22, x23, x30, x31, x32, x33) = _block4x4(x, n, 2 * p, 2 * q)
            best, where = pooled[n, p, q], argmax[n, p, q]
            for f in range(nf):
                w0, w1, w2 = w[0, 0, 0, f], w[0, 1, 0, f], w[0, 2, 0, f]
                w3, w4, w5 = w[1, 0, 0, f], w[1, 1, 0, f], w[1, 2, 0, f]
                w6, w7, w8 = w[2, 0, 0, f], w[2, 1, 0, f], w[2, 2, 0, f]
                c0 = (b[f] + x00 * w0 + x01 * w1 + x02 * w2 + x10 * w3 + x11 * w4 + x12 * w5
                      + x20 * w6 + x21 * w7 + x22 * w8)
                c1 = (b[f] + x01 * w0 + x02 * w1 + x03 * w2 + x11 * w3 + x12 * w4 + x13 * w5
                      + x21 * w6 + x22 * w7 + x23 * w8)
                c2 = (b[f] + x10 * w0 + x11 * w1 + x12 * w2 + x20 * w3 + x21 * w4 + x22 * w5
                      + x30 * w6 + x31 * w7 + x32 * w8)
                c3 = (b[f] + x11 * w0 + x12 * w1 + x13 * w2 + x21 * w3 + x22 * w4 + x23 * w5
                      + x31 * w6 + x32 * w7 + x33 * w8)
                m = np.float32(0.0)  # branch-free max and argmax, ReLU included
                k = -1
                k = 0 if c0 > m else k
                m = c0 if c0 > m else m
                k = 1 if c1 > m else k
                m = c1 if c1 > m else m
                k = 2 if c2 > m else k
                m = c2 if c2 > m else m
                k = 3 if c3 > m else k
                m = c3 if c3 > m else m
                best[f] = m
                where[f] = k


@njit_parallel
def _conv3x3_relu_pool_backward(x, argmax, grad_pooled, dw_chunks, db_chunks):
    """:func:`_conv_relu_pool_backward` for 3x3 on one channel, the taps written out.

    Weight tap (a, c) of window cell d = (dy, dx) reads input (dy + a, dx + c) of the window's
    4x4 block; the nine gradient rows are updated for all filters at once (about 7x faster
    than the general kernel, identical results).
    """
    n_images, pool_h, pool_w, nf = grad_pooled.shape
    chunks = dw_chunks.shape[0]
    zero = np.float32(0.0)
    for k in prange(chunks):
        dw, db = dw_chunks[k].reshape(9, nf), db_chunks[k]
        dw[:] = 0
        db[:] = 0
        d0, d1, d2, d3, d4, d5, d6, d7, d8 = (dw[0], dw[1], dw[2], dw[3], dw[4], dw[5], dw[6],
                                              dw[7], dw[8])
        for n in range(k * n_images // chunks, (k + 1) * n_images // chunks):
            for p in range(pool_h):
                for q in range(pool_w):
                    (x00, x01, x02, x03, x10, x11, x12, x13,
                     x20, x21, x22, x23, x30, x31, x32, x33) = _block4x4(x, n, 2 * p, 2 * q)
                    g, where = grad_pooled[n, p, q], argmax[n, p, q]
                    for f in range(nf):
                        gf = g[f]
                        cell = np.int32(where[f])
                        g0 = gf if cell == 0 else zero
                        g1 = gf if cell == 1 else zero
                        g2 = gf if cell == 2 else zero
                        g3 = gf if cell == 3 else zero
                        db[f] += gf if cell >= 0 else zero
                        d0[f] += x00 * g0 + x01 * g1 + x10 * g2 + x11 * g3
                        d1[f] += x01 * g0 + x02 * g1 + x11 * g2 + x12 * g3
                        d2[f] += x02 * g0 + x03 * g1 + x12 * g2 + x13 * g3
                        d3[f] += x10 * g0 + x11 * g1 + x20 * g2 + x21 * g3
                        d4[f] += x11 * g0 + x12 * g1 + x21 * g2 + x22 * g3
                        d5[f] += x12 * g0 + x13 * g1 + x22 * g2 + x23 * g3
                        d6[f] += x20 * g0 + x21 * g1 + x30 * g2 + x31 * g3
                        d7[f] += x21 * g0 + x22 * g1 + x31 * g2 + x32 * g3
                        d8[f] += x22 * g0 + x23 * g1 + x32 * g2 + x33 * g3


def _is_3x3_single_channel(w_shape) -> bool:
    return tuple(w_shape[:3]) == (3, 3, 1)


def _check(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    if x.ndim != 4 or w.ndim != 4 or b.ndim != 1:
        raise ValueError(f"expected x (N, H, W, Cin), w (kh, kw, Cin, F), b (F,), got "
                         f"{x.shape}, {w.shape}, {b.shape}")
    if x.shape[3] != w.shape[2] or w.shape[3] != b.shape[0]:
        raise ValueError(f"channel counts disagree: x {x.shape}, w {w.shape}, b {b.shape}")
    if x.shape[1] < w.shape[0] or x.shape[2] < w.shape[1]:
        raise ValueError(f"input {x.shape[1]}x{x.shape[2]} is smaller than the kernel "
                         f"{w.shape[0]}x{w.shape[1]}")
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return f32(x), f32(w), f32(b)


def _sum_chunks(dw_chunks: np.ndarray, db_chunks: np.ndarray):
    dw, db = dw_chunks[0].copy(), db_chunks[0].copy()
    for k in range(1, len(dw_chunks)):  # a fixed order: deterministic
        dw += dw_chunks[k]
        db += db_chunks[k]
    return dw, db


def _grad_buffers(n_images: int, w_shape):
    chunks = max(1, min(GRAD_CHUNKS, n_images))
    return np.empty((chunks, *w_shape), np.float32), np.empty((chunks, w_shape[3]), np.float32)


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Valid correlation at stride 1: (N, H, W, Cin) -> (N, H-kh+1, W-kw+1, F), float32."""
    x, w, b = _check(x, w, b)
    out = np.empty((x.shape[0], x.shape[1] - w.shape[0] + 1, x.shape[2] - w.shape[1] + 1,
                    w.shape[3]), np.float32)
    _conv_forward(x, w, b, out)
    return out


def conv2d_backward(x: np.ndarray, w: np.ndarray, grad_out: np.ndarray,
                    input_grad: bool = True):
    """Gradients of :func:`conv2d_forward`: (grad_x or None, grad_w, grad_b).

    grad_out : (N, Ho, Wo, F). ``input_grad=False`` skips grad_x (a first layer needs none).
    """
    x, w, _ = _check(x, w, np.zeros(np.shape(w)[3], np.float32))
    grad_out = np.ascontiguousarray(grad_out, dtype=np.float32)
    expected = (x.shape[0], x.shape[1] - w.shape[0] + 1, x.shape[2] - w.shape[1] + 1, w.shape[3])
    if grad_out.shape != expected:
        raise ValueError(f"grad_out has shape {grad_out.shape}, expected {expected}")
    dw_chunks, db_chunks = _grad_buffers(x.shape[0], w.shape)
    _conv_backward_params(x, grad_out, dw_chunks, db_chunks)
    dw, db = _sum_chunks(dw_chunks, db_chunks)
    grad_x = None
    if input_grad:
        grad_x = np.empty_like(x)
        _conv_backward_input(grad_out, w, grad_x)
    return grad_x, dw, db


def conv_relu_maxpool_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    """Fused ``maxpool2x2(relu(conv2d(x, w) + b))``.

    Returns pooled (N, Ho//2, Wo//2, F) float32 and argmax (same shape, int8: the winning
    cell of each window as dy*2 + dx, or -1 where ReLU made the window 0).
    """
    x, w, b = _check(x, w, b)
    out_h, out_w = x.shape[1] - w.shape[0] + 1, x.shape[2] - w.shape[1] + 1
    shape = (x.shape[0], out_h // 2, out_w // 2, w.shape[3])
    pooled = np.empty(shape, np.float32)
    argmax = np.empty(shape, np.int8)
    kernel = (_conv3x3_relu_pool_forward if _is_3x3_single_channel(w.shape)
              else _conv_relu_pool_forward)
    kernel(x, w, b, pooled, argmax)
    return pooled, argmax


def conv_relu_maxpool_backward(x: np.ndarray, w_shape, argmax: np.ndarray,
                               grad_pooled: np.ndarray):
    """(grad_w, grad_b) of the fused block, from the forward pass's argmax."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    grad_pooled = np.ascontiguousarray(grad_pooled, dtype=np.float32)
    if grad_pooled.shape != argmax.shape:
        raise ValueError(f"grad {grad_pooled.shape} and argmax {argmax.shape} must match")
    dw_chunks, db_chunks = _grad_buffers(x.shape[0], tuple(w_shape))
    kernel = (_conv3x3_relu_pool_backward if _is_3x3_single_channel(w_shape)
              else _conv_relu_pool_backward)
    kernel(x, np.ascontiguousarray(argmax), grad_pooled, dw_chunks, db_chunks)
    return _sum_chunks(dw_chunks, db_chunks)
