"""Max and average pooling, forward and backward, channels-last.

Arrays are (H, W), (H, W, C) or batched (N, H, W, C) float32. Output size per axis, for input
``n``, window ``k`` and stride ``s``:

* ``valid``: ``floor((n - k) / s) + 1`` (windows that fit entirely);
* ``same``: ``ceil(n / s)``; the input is padded by ``max((out - 1)*s + k - n, 0)`` cells, half
  before (rounded down) and the rest after, as TensorFlow does. Padded cells never win a max,
  and an average divides by the number of real cells in the window.
"""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit, njit_parallel, prange
from cnnkit.ops.windows import output_size as pool_output_size
from cnnkit.ops.windows import pad_before as _pad_before

PADDINGS = ("valid", "same")


@njit
def _span(index, stride, pad, size, limit):
    """The real cells [lo, hi) of window ``index`` along one axis (padding cut off)."""
    start = index * stride - pad
    return max(start, 0), min(start + size, limit)


@njit_parallel
def _max_forward(x, kh, kw, sh, sw, top, left, out, argmax, keep_argmax):
    """x (N, H, W, C) -> out (N, Ho, Wo, C); argmax holds the winning input index y*W + x."""
    n_images, height, width, channels = x.shape
    out_h, out_w = out.shape[1], out.shape[2]
    for row in prange(n_images * out_h):
        n, i = row // out_h, row % out_h
        ya, yb = _span(i, sh, top, kh, height)
        for j in range(out_w):
            xa, xb = _span(j, sw, left, kw, width)
            best = out[n, i, j]
            best[:] = -np.inf
            for y in range(ya, yb):
                for xx in range(xa, xb):
                    cell = x[n, y, xx]
                    for c in range(channels):
                        if cell[c] > best[c]:
                            best[c] = cell[c]
                            if keep_argmax:
                                argmax[n, i, j, c] = y * width + xx


@njit_parallel
def _max_backward(grad_out, argmax, grad_in):
    """Route each output gradient to the input cell that won the max (accumulating overlaps)."""
    n_images, out_h, out_w, channels = grad_out.shape
    width = grad_in.shape[2]
    for n in prange(n_images):
        grad_in[n] = 0
        for i in range(out_h):
            for j in range(out_w):
                for c in range(channels):
                    idx = argmax[n, i, j, c]
                    grad_in[n, idx // width, idx % width, c] += grad_out[n, i, j, c]


@njit_parallel
def _avg_forward(x, kh, kw, sh, sw, top, left, out):
    n_images, height, width, channels = x.shape
    out_h, out_w = out.shape[1], out.shape[2]
    for row in prange(n_images * out_h):
        n, i = row // out_h, row % out_h
        ya, yb = _span(i, sh, top, kh, height)
        for j in range(out_w):
            xa, xb = _span(j, sw, left, kw, width)
            acc = out[n, i, j]
            acc[:] = 0
            for y in range(ya, yb):
                for xx in range(xa, xb):
                    cell = x[n, y, xx]
                    for c in range(channels):
                        acc[c] += cell[c]
            scale = np.float32(1.0) / np.float32((yb - ya) * (xb - xa))
            for c in range(channels):
                acc[c] *= scale


@njit_parallel
def _avg_backward(grad_out, kh, kw, sh, sw, top, left, grad_in):
    n_images, out_h, out_w, channels = grad_out.shape
    height, width = grad_in.shape[1], grad_in.shape[2]
    for n in prange(n_images):
        grad_in[n] = 0
        for i in range(out_h):
            ya, yb = _span(i, sh, top, kh, height)
            for j in range(out_w):
                xa, xb = _span(j, sw, left, kw, width)
                scale = np.float32(1.0) / np.float32((yb - ya) * (xb - xa))
                for y in range(ya, yb):
                    for xx in range(xa, xb):
                        for c in range(channels):
                            grad_in[n, y, xx, c] += grad_out[n, i, j, c] * scale


def _as_batch(x: np.ndarray) -> np.ndarray:
    """View (H, W), (H, W, C) or (N, H, W, C) as contiguous float32 (N, H, W, C)."""
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[None, :, :, None]
    elif x.ndim == 3:
        x = x[None]
    elif x.ndim != 4:
        raise ValueError(f"pooling takes (H, W), (H, W, C) or (N, H, W, C), got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


def _window(size, stride, padding, height, width):
    kh, kw = (size, size) if np.isscalar(size) else tuple(size)
    stride = (kh, kw) if stride is None else stride
    sh, sw = (stride, stride) if np.isscalar(stride) else tuple(stride)
    kh, kw, sh, sw = int(kh), int(kw), int(sh), int(sw)
    if min(kh, kw) < 1 or min(sh, sw) < 1:
        raise ValueError(f"pool size and stride must be >= 1, got size {kh}x{kw}, "
                         f"stride {sh}x{sw}")
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
    out_h = pool_output_size(height, kh, sh, padding)
    out_w = pool_output_size(width, kw, sw, padding)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"a {kh}x{kw} window with padding 'valid' needs at least {kh}x{kw} "
                         f"pixels, got {height}x{width}")
    top, left = _pad_before(height, kh, sh, padding), _pad_before(width, kw, sw, padding)
    return kh, kw, sh, sw, top, left, out_h, out_w


def _restore(y: np.ndarray, ndim: int) -> np.ndarray:
    if ndim == 2:
        return y[0, :, :, 0]
    return y[0] if ndim == 3 else y


def max_pool(x: np.ndarray, size=2, stride=None, padding: str = "valid",
             return_argmax: bool = False):
    """Max pooling.

    Parameters
    ----------
    x : ndarray, shape (H, W), (H, W, C) or (N, H, W, C)
    size, stride : int or (h, w); stride defaults to size
    padding : "valid" or "same"
    return_argmax : also return, per output cell, the flat index ``y*W + x`` of the winning
        input cell (what :func:`max_pool_backward` needs)

    Returns
    -------
    y : ndarray, x's layout with (Ho, Wo) in place of (H, W), float32
    argmax : ndarray, shape (N, Ho, Wo, C), int32 (only with ``return_argmax``)
    """
    ndim = np.ndim(x)
    batch = _as_batch(x)
    kh, kw, sh, sw, top, left, out_h, out_w = _window(size, stride, padding, *batch.shape[1:3])
    out = np.empty((batch.shape[0], out_h, out_w, batch.shape[3]), np.float32)
    argmax = np.empty(out.shape if return_argmax else (1, 1, 1, 1), np.int32)
    _max_forward(batch, kh, kw, sh, sw, top, left, out, argmax, return_argmax)
    y = _restore(out, ndim)
    return (y, argmax) if return_argmax else y


def max_pool_backward(grad_y: np.ndarray, argmax: np.ndarray, input_shape) -> np.ndarray:
    """Gradient of :func:`max_pool` with respect to its input, shape ``input_shape``.

    grad_y : the forward output's shape; argmax : (N, Ho, Wo, C) int32 from the forward pass.
    """
    ndim = len(input_shape)
    batch_shape = _as_batch(np.empty(input_shape, np.float32)).shape if ndim != 4 else tuple(
        input_shape)
    grad = _as_batch(grad_y)
    if grad.shape != argmax.shape:
        raise ValueError(f"grad_y {grad.shape} and argmax {argmax.shape} must match")
    grad_in = np.empty(batch_shape, np.float32)
    _max_backward(grad, np.ascontiguousarray(argmax, dtype=np.int32), grad_in)
    return _restore(grad_in, ndim)


def avg_pool(x: np.ndarray, size=2, stride=None, padding: str = "valid") -> np.ndarray:
    """Average pooling; with ``same`` padding a window divides by its real cells only.

    Shapes as :func:`max_pool`.
    """
    ndim = np.ndim(x)
    batch = _as_batch(x)
    kh, kw, sh, sw, top, left, out_h, out_w = _window(size, stride, padding, *batch.shape[1:3])
    out = np.empty((batch.shape[0], out_h, out_w, batch.shape[3]), np.float32)
    _avg_forward(batch, kh, kw, sh, sw, top, left, out)
    return _restore(out, ndim)


def avg_pool_backward(grad_y: np.ndarray, input_shape, size=2, stride=None,
                      padding: str = "valid") -> np.ndarray:
    """Gradient of :func:`avg_pool` with respect to its input, shape ``input_shape``."""
    ndim = len(input_shape)
    batch_shape = tuple(input_shape) if ndim == 4 else _as_batch(
        np.empty(input_shape, np.float32)).shape
    kh, kw, sh, sw, top, left, out_h, out_w = _window(size, stride, padding, *batch_shape[1:3])
    grad = _as_batch(grad_y)
    if grad.shape != (batch_shape[0], out_h, out_w, batch_shape[3]):
        raise ValueError(f"grad_y has shape {grad.shape}, expected "
                         f"{(batch_shape[0], out_h, out_w, batch_shape[3])}")
    grad_in = np.empty(batch_shape, np.float32)
    _avg_backward(grad, kh, kw, sh, sw, top, left, grad_in)
    return _restore(grad_in, ndim)
