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
def _normalise(x, mean, inv_std, gamma, beta, relu, xhat, y):
    rows, channels = x.shape
    zero = np.float32(0.0)
    for r in prange(rows):
        for c in range(channels):
            h = (x[r, c] - mean[c]) * inv_std[c]
            xhat[r, c] = h
            v = h * gamma[c] + beta[c]
            y[r, c] = (v if v > zero else zero) if relu else v


@njit_parallel
def _affine(x, scale, shift, relu, y):
    rows, channels = x.shape
    zero = np.float32(0.0)
    for r in prange(rows):
        for c in range(channels):
            v = x[r, c] * scale[c] + shift[c]
            y[r, c] = (v if v > zero else zero) if relu else v


@njit_parallel
def _mask(g, y):
    """g *= (y > 0), in place: the fused ReLU's backward."""
    rows, channels = g.shape
    zero = np.float32(0.0)
    for r in prange(rows):
        for c in range(channels):
            g[r, c] = g[r, c] if y[r, c] > zero else zero


@njit_parallel
def _input_grad(g, xhat, scale, mean_g, mean_gx, out):
    rows, channels = g.shape
    for r in prange(rows):
        for c in range(channels):
            out[r, c] = scale[c] * (g[r, c] - mean_g[c] - xhat[r, c] * mean_gx[c])


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

    Returns (y like x, xhat (M, C) the normalised values, inv_std (C,), mean (C,), biased
    variance (C,)); the backward pass needs xhat, inv_std (and y when ``relu``).
    """
    rows = _rows(x)
    total, squares = _channel_sums(rows, None)
    count = rows.shape[0]
    mean = total / count
    var = np.maximum(squares / count - mean * mean, 0.0)
    inv_std = (1.0 / np.sqrt(var + epsilon)).astype(np.float32)
    xhat = np.empty_like(rows)
    y = np.empty_like(rows)
    _normalise(rows, mean.astype(np.float32), inv_std, _f32(gamma), _f32(beta), relu, xhat, y)
    return (y.reshape(x.shape), xhat, inv_std, mean.astype(np.float32),
            var.astype(np.float32))


def _f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def inference(x, gamma, beta, mean, var, epsilon: float, relu: bool = False) -> np.ndarray:
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` with fixed statistics (then ReLU)."""
    scale = (gamma / np.sqrt(var + np.float32(epsilon))).astype(np.float32)
    rows = _rows(x)
    y = np.empty_like(rows)
    _affine(rows, scale, _f32(beta - mean * scale), relu, y)
    return y.reshape(x.shape)


def backward(grad_y: np.ndarray, xhat: np.ndarray, inv_std: np.ndarray, gamma: np.ndarray,
             y: np.ndarray | None = None):
    """(grad_x like grad_y, grad_gamma (C,), grad_beta (C,)) of :func:`train_forward`.

    ``grad_x = gamma * inv_std * (g - mean(g) - xhat * mean(g * xhat))``, means over M; with
    ``y`` (the fused ReLU's output) ``g`` is first masked where ``y`` is 0. ``grad_y`` may be
    overwritten.
    """
    g = _rows(grad_y)
    if y is not None:
        _mask(g, _rows(y))
    count = g.shape[0]
    grad_beta, grad_gamma = _channel_sums(g, xhat)
    scale = (gamma * inv_std).astype(np.float32)
    grad_x = np.empty_like(g)
    _input_grad(g, xhat, scale, (grad_beta / count).astype(np.float32),
                (grad_gamma / count).astype(np.float32), grad_x)
    return (grad_x.reshape(grad_y.shape), grad_gamma.astype(np.float32),
            grad_beta.astype(np.float32))
