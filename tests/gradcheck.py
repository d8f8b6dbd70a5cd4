"""Centred finite differences in float64, for checking analytic gradients."""

from __future__ import annotations

import numpy as np


def numeric_grad(f, x: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """d f / d x for a scalar function f of the array x (perturbed in place, restored)."""
    grad = np.zeros(x.shape, np.float64)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        plus = f()
        flat[i] = saved - eps
        minus = f()
        flat[i] = saved
        out[i] = (plus - minus) / (2 * eps)
    return grad
