"""Softmax cross-entropy over a batch of logits, forward and gradient in one pass."""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit, njit_parallel, prange


@njit
def _softmax_row(logits, probs):
    """probs = softmax(logits) for one row; returns (max logit, sum of exp(logit - max))."""
    top = logits[0]
    for j in range(1, logits.shape[0]):
        top = max(top, logits[j])
    total = np.float32(0.0)
    for j in range(logits.shape[0]):
        e = np.exp(logits[j] - top)
        probs[j] = e
        total += e
    for j in range(logits.shape[0]):
        probs[j] /= total
    return top, total


@njit_parallel
def _softmax(logits, probs):
    for i in prange(logits.shape[0]):
        _softmax_row(logits[i], probs[i])


@njit_parallel
def _cross_entropy(logits, labels, probs, grad, losses):
    """Per-sample loss -log softmax(logits)[label] and grad = (softmax - onehot) / N."""
    n, k = logits.shape
    scale = np.float32(1.0) / np.float32(n)
    for i in prange(n):
        top, total = _softmax_row(logits[i], probs[i])
        # log-sum-exp form: exact even when the true class's probability underflows
        losses[i] = np.log(total) - (logits[i, labels[i]] - top)
        for j in range(k):
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
