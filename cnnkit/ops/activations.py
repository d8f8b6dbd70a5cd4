"""ReLU forward and backward, elementwise over any float32 array."""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit_parallel, prange


@njit_parallel
def _relu_forward(x, out):
    for i in prange(x.size):
        v = x[i]
        out[i] = v if v > 0 else np.float32(0.0)


@njit_parallel
def _relu_backward(x, grad_out, grad_in):
    for i in prange(x.size):
        grad_in[i] = grad_out[i] if x[i] > 0 else np.float32(0.0)


def relu(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)``, same shape as ``x``, float32."""
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    out = np.empty_like(flat)
    _relu_forward(flat, out)
    return out.reshape(np.shape(x))


def relu_backward(x: np.ndarray, grad_out: np.ndarray) -> np.ndarray:
    """Gradient of ``relu`` at ``x``: ``grad_out`` where ``x > 0``, else 0 (0 at exactly 0).

    x, grad_out : same shape; returns that shape, float32.
    """
    if np.shape(x) != np.shape(grad_out):
        raise ValueError(f"x and grad_out must have one shape, got {np.shape(x)} and "
                         f"{np.shape(grad_out)}")
    flat_x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    flat_g = np.ascontiguousarray(grad_out, dtype=np.float32).reshape(-1)
    grad_in = np.empty_like(flat_x)
    _relu_backward(flat_x, flat_g, grad_in)
    return grad_in.reshape(np.shape(x))


@njit_parallel
def _scale_by_mask(x, uniform, rate, out, mask):
    keep = np.float32(1.0) / (np.float32(1.0) - rate)
    for i in prange(x.size):
        m = keep if uniform[i] >= rate else np.float32(0.0)
        mask[i] = m
        out[i] = x[i] * m


def dropout(x: np.ndarray, uniform: np.ndarray, rate: float):
    """Inverted dropout: zero each value where ``uniform < rate``, scale the rest by 1/(1-rate).

    x, uniform : one shape; uniform holds U[0, 1) draws from the caller's seeded generator, so
    the mask is reproducible. Returns (y, mask); the backward pass is ``grad * mask``.
    """
    if not 0 <= rate < 1:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    if np.shape(x) != np.shape(uniform):
        raise ValueError(f"x {np.shape(x)} and uniform {np.shape(uniform)} must match")
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    draws = np.ascontiguousarray(uniform, dtype=np.float32).reshape(-1)
    out, mask = np.empty_like(flat), np.empty_like(flat)
    _scale_by_mask(flat, draws, np.float32(rate), out, mask)
    return out.reshape(np.shape(x)), mask.reshape(np.shape(x))
