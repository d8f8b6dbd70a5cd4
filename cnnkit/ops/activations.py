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
