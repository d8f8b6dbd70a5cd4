"""Batch normalisation over the channels (last axis), forward and backward.

Inputs of any shape (..., C) are viewed as (M, C), M = every position of every image. The
statistics are summed in float64 per channel (float32 sums of ~10^5 values drift).
"""

from __future__ import annotations

import numpy as np


def _rows(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32).reshape(-1, x.shape[-1])


def train_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, epsilon: float):
    """Normalise with the batch's statistics.

    Returns (y like x, xhat (M, C) the normalised values, inv_std (C,), mean (C,), biased
    variance (C,)); the backward pass needs xhat and inv_std.
    """
    rows = _rows(x)
    mean = rows.mean(axis=0, dtype=np.float64)
    var = np.maximum((rows * rows).mean(axis=0, dtype=np.float64) - mean * mean, 0.0)
    inv_std = (1.0 / np.sqrt(var + epsilon)).astype(np.float32)
    xhat = (rows - mean.astype(np.float32)) * inv_std
    y = xhat * gamma + beta
    return (y.reshape(x.shape), xhat, inv_std, mean.astype(np.float32),
            var.astype(np.float32))


def inference(x, gamma, beta, mean, var, epsilon: float) -> np.ndarray:
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` with fixed statistics."""
    scale = (gamma / np.sqrt(var + np.float32(epsilon))).astype(np.float32)
    return (_rows(x) * scale + (beta - mean * scale)).reshape(x.shape)


def backward(grad_y: np.ndarray, xhat: np.ndarray, inv_std: np.ndarray, gamma: np.ndarray):
    """(grad_x like grad_y, grad_gamma (C,), grad_beta (C,)) of :func:`train_forward`.

    ``grad_x = gamma * inv_std * (g - mean(g) - xhat * mean(g * xhat))``, means over M.
    """
    g = _rows(grad_y)
    count = g.shape[0]
    grad_beta = g.sum(axis=0, dtype=np.float64)
    grad_gamma = (g * xhat).sum(axis=0, dtype=np.float64)
    scale = (gamma * inv_std).astype(np.float32)
    grad_x = (g - (grad_beta / count).astype(np.float32)
              - xhat * (grad_gamma / count).astype(np.float32)) * scale
    return (grad_x.reshape(grad_y.shape), grad_gamma.astype(np.float32),
            grad_beta.astype(np.float32))
