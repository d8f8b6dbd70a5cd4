"""Softmax cross-entropy over a batch of logits, forward and gradient in one pass."""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit_parallel, prange


@njit_parallel
def _softmax(logits, probs):
    n, k = logits.shape
    for i in prange(n):
        top = logits[i, 0]
        for j in range(1, k):
            top = max(top, logits[i, j])
        total = np.float32(0.0)
        for j in range(k):
            e = np.exp(logits[i, j] - top)
            probs[i, j] = e
            total += e
        for j in range(k):
            probs[i, j] /= total


@njit_parallel
def _cross_entropy(logits, labels, probs, grad, losses):
    """Per-sample loss -log softmax(logits)[label] and grad = (softmax - onehot) / N."""
    n, k = logits.shape
    scale = np.float32(1.0) / np.float32(n)
    for i in prange(n):
        top = logits[i, 0]
        for j in range(1, k):
            top = max(top, logits[i, j])
        total = np.float32(0.0)
        for j in range(k):
            e = np.exp(logits[i, j] - top)
            probs[i, j] = e
            total += e
        # log-sum-exp form: exact even when the true class's probability underflows
        losses[i] = np.log(total) - (logits[i, labels[i]] - top)
        for j in range(k):
            probs[i, j] /= total
            grad[i, j] = probs[i, j] * scale
        grad[i, labels[i]] -= scale


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits, float32."""
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    probs = np.empty_like(logits)
    _softmax(logits, probs)
    return probs


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray):
    """Mean cross-entropy of softmax(logits) against integer labels.

    logits : (N, K) float32; labels : (N,) integers in [0, K)
    Returns (loss: float, probs: (N, K), grad: (N, K) = d loss / d logits).
    """
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"expected logits (N, K) and labels (N,), got {logits.shape} and "
                         f"{labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"labels must lie in [0, {logits.shape[1]}), got {labels.min()}.."
                         f"{labels.max()}")
    probs = np.empty_like(logits)
    grad = np.empty_like(logits)
    losses = np.empty(logits.shape[0], np.float32)
    _cross_entropy(logits, labels, probs, grad, losses)
    return float(losses.mean(dtype=np.float64)), probs, grad
