"""Batch normalisation over the channels (last axis), forward and backward, optionally with
the ReLU that usually follows it fused in.

Inputs of any shape (..., C) are viewed as (M, C), M = every position of every image. Per
channel sums run in float64 over fixed chunks of rows, added in order (float32 sums of ~10^5
values drift; fixed chunks keep results independent of the thread count).
"""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit_parallel, prange

CHUNKS = 8


@njit_parallel
def _sums(a, b, use_b, out):
    """out[k, 0, c] = sum of a[:, c], out[k, 1, c] = sum of a*b (or a*a) over chunk k's rows."""
    rows, channels = a.shape
    chunks = out.shape[0]
    for k in prange(chunks):
        s1, s2 = out[k, 0], out[k, 1]
        s1[:] = 0.0
        s2[:] = 0.0
        for r in range(k * rows // chunks, (k + 1) * rows // chunks):
            for c in range(channels):
                v = a[r, c]
                w = b[r, c] if use_b else v
                s1[c] += v
                s2[c] += v * w


@njit_parallel
def _normalise(x, mean, inv_std, gamma, beta, relu, y):
    """y = (relu of) gamma * (x - mean) * inv_std + beta; the normalised values are not kept
    (the backward recomputes them from x: a write of the whole tensor saved)."""
    rows, channels = x.shape
    zero = np.float32(0.0)
    for r in prange(rows):
        for c in range(channels):
            v = (x[r, c] - mean[c]) * inv_std[c] * gamma[c] + beta[c]
            y[r, c] = max(v, zero) if relu else v


@njit_parallel
def _affine(x, scale, shift, relu, y):
    rows, channels = x.shape
    zero = np.float32(0.0)
    for r in prange(rows):
        for c in range(channels):
            v = x[r, c] * scale[c] + shift[c]
            y[r, c] = (v if v > zero else zero) if relu else v


@njit_parallel
def _grad_sums(g, y, x, mean, inv_std, relu, out):
    """Per fixed chunk k of rows: out[k, 0, c] = sum of g', out[k, 1, c] = sum of g' * xhat,
    g' = g masked where the fused ReLU's output y is 0 (if ``relu``), xhat = (x - mean) *
    inv_std; one pass, nothing written back."""
    rows, channels = g.shape
    chunks = out.shape[0]
    zero = np.float32(0.0)
    for k in prange(chunks):
        s1, s2 = out[k, 0], out[k, 1]
        s1[:] = 0.0
        s2[:] = 0.0
        for r in range(k * rows // chunks, (k + 1) * rows // chunks):
            for c in range(channels):
                v = g[r, c] * np.float32(y[r, c] > zero) if relu else g[r, c]
                s1[c] += v
                s2[c] += v * ((x[r, c] - mean[c]) * inv_std[c])


@njit_parallel
def _input_grad(g, y, x, mean, inv_std, relu, scale, mean_g, mean_gx, out):
    """out = scale * (g' - mean_g - xhat * mean_gx), g' and xhat as :func:`_grad_sums`;
    ``out`` may be ``g`` itself."""
    rows, channels = g.shape
    zero = np.float32(0.0)
    for r in prange(rows):
        for c in range(channels):
            v = g[r, c] * np.float32(y[r, c] > zero) if relu else g[r, c]
            h = (x[r, c] - mean[c]) * inv_std[c]
            out[r, c] = scale[c] * (v - mean_g[c] - h * mean_gx[c])


def _rows(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32).reshape(-1, x.shape[-1])


def _channel_sums(a: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    out = np.empty((max(1, min(CHUNKS, a.shape[0])), 2, a.shape[1]), np.float64)
    _sums(a, a if b is None else b, b is not None, out)
    total = out[0].copy()
    for k in range(1, len(out)):  # a fixed order: deterministic
        total += out[k]
    return total[0], total[1]


def train_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, epsilon: float,
                  relu: bool = False):
    """Normalise with the batch's statistics (then ReLU if ``relu``).

    Returns (y like x, saved for :func:`backward`, mean (C,), biased variance (C,)); ``saved``
    is x as (M, C) rows with the batch's mean and 1/std (the normalised values are recomputed
    from them, not stored).
    """
    rows = _rows(x)
    total, squares = _channel_sums(rows, None)
    count = rows.shape[0]
    mean = total / count
    var = np.maximum(squares / count - mean * mean, 0.0)
    inv_std = (1.0 / np.sqrt(var + epsilon)).astype(np.float32)
    mean32 = mean.astype(np.float32)
    y = np.empty_like(rows)
    _normalise(rows, mean32, inv_std, _f32(gamma), _f32(beta), relu, y)
    return y.reshape(x.shape), (rows, mean32, inv_std), mean32, var.astype(np.float32)


def _f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def inference(x, gamma, beta, mean, var, epsilon: float, relu: bool = False) -> np.ndarray:
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` with fixed statistics (then ReLU)."""
    scale = (gamma / np.sqrt(var + np.float32(epsilon))).astype(np.float32)
    rows = _rows(x)
    y = np.empty_like(rows)
    _affine(rows, scale, _f32(beta - mean * scale), relu, y)
    return y.reshape(x.shape)


def backward(grad_y: np.ndarray, saved, gamma: np.ndarray, y: np.ndarray | None = None):
    """(grad_x like grad_y, grad_gamma (C,), grad_beta (C,)) of :func:`train_forward`.

    ``grad_x = gamma * inv_std * (g - mean(g) - xhat * mean(g * xhat))``, means over M; with
    ``y`` (the fused ReLU's output) ``g`` is first masked where ``y`` is 0. Two passes: the
    sums, then grad_x, written over ``grad_y`` (which may be overwritten) when it is a
    contiguous float32 array.
    """
    x, mean, inv_std = saved
    g = _rows(grad_y)
    relu = y is not None
    mask = _rows(y) if relu else g[:1]
    count = g.shape[0]
    out = np.empty((max(1, min(CHUNKS, count)), 2, g.shape[1]), np.float64)
    _grad_sums(g, mask, x, mean, inv_std, relu, out)
    total = out[0].copy()
    for k in range(1, len(out)):  # a fixed order: deterministic
        total += out[k]
    grad_beta, grad_gamma = total[0], total[1]
    scale = (gamma * inv_std).astype(np.float32)
    _input_grad(g, mask, x, mean, inv_std, relu, scale, (grad_beta / count).astype(np.float32),
                (grad_gamma / count).astype(np.float32), g)
    return (g.reshape(grad_y.shape), grad_gamma.astype(np.float32),
            grad_beta.astype(np.float32))
