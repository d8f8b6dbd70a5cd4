"""The light path for inference: a model's forward pass in numpy alone, so classifying a few
pictures never starts Numba.

Starting Numba costs a command about 0.6-0.9 s; the bundled digit_classifier's forward pass
for one 28x28 digit costs well under a millisecond in numpy. The Numba path (threads, fused
kernels) wins on large batches; which path runs is the caller's choice, and :func:`supports`
says whether this one can run a model at all.

The arithmetic follows the kernels': float32 throughout, channels-last (N, H, W, C), the same
window and padding rules (:mod:`cnnkit.ops.windows`), one matrix product per convolution over
the im2col matrix in the weights' (row, column, channel) order, a max-subtracted softmax. The
probabilities agree with ``Sequential.predict_proba`` to float32 rounding, not bit for bit:
BLAS and the fastmath kernels add their terms in their own orders.

Imports numpy and the layer classes only (see the note in :mod:`cnnkit.nn.layers`).
"""

from __future__ import annotations

import numpy as np

from cnnkit.nn import layers as L
from cnnkit.nn.model import INFERENCE_COLUMNS, Sequential
from cnnkit.ops.windows import pad_before

_ZERO = np.float32(0.0)


def _padded(x: np.ndarray, size, strides, padding: str, out_hw, fill) -> np.ndarray:
    """x (N, H, W, C) with the border ``same`` padding adds, filled with ``fill``, and cut to
    the cells the windows read: (N, (Ho - 1)*sh + kh, (Wo - 1)*sw + kw, C)."""
    (kh, kw), (sh, sw), (out_h, out_w) = size, strides, out_hw
    n, height, width, channels = x.shape
    rows, cols = (out_h - 1) * sh + kh, (out_w - 1) * sw + kw
    top, left = pad_before(height, kh, sh, padding), pad_before(width, kw, sw, padding)
    if top == left == 0 and rows <= height and cols <= width:
        return x[:, :rows, :cols]
    xp = np.full((n, rows, cols, channels), fill, np.float32)
    real_rows, real_cols = min(height, rows - top), min(width, cols - left)
    xp[:, top:top + real_rows, left:left + real_cols] = x[:, :real_rows, :real_cols]
    return xp


def _taps(xp: np.ndarray, size, strides, out_hw):
    """For each window cell (a, c), row by row: the view (N, Ho, Wo, C) of the padded input
    ``xp`` that cell sees in every window. A layer is then k*k whole-array operations (a
    sliding-window view reduced over its two small axes took 2x longer for the bundled
    model's conv, 5x for its pooling)."""
    (kh, kw), (sh, sw), (out_h, out_w) = size, strides, out_hw
    for a in range(kh):
        for c in range(kw):
            yield xp[:, a:a + (out_h - 1) * sh + 1:sh, c:c + (out_w - 1) * sw + 1:sw]


def _real_cells(n: int, k: int, s: int, padding: str, out: int) -> np.ndarray:
    """How many real (not padding) cells each of the ``out`` windows along one axis covers."""
    starts = np.arange(out) * s - pad_before(n, k, s, padding)
    return np.minimum(starts + k, n) - np.maximum(starts, 0)


def _conv(layer: L.Conv2D, x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, Ho, Wo, F): im2col, one product, bias, then the ReLU if any."""
    kernel, bias = layer.params["kernel"], layer.params["bias"]
    kh, kw, channels, filters = kernel.shape
    out_h, out_w, _ = layer.output_shape
    xp = _padded(x, layer.kernel_size, layer.strides, layer.padding, (out_h, out_w), _ZERO)
    # the column matrix's rows in the kernel's (a, c, ch) order, as ops.conv_gemm lays them
    cols = np.empty((len(x), out_h, out_w, kh * kw, channels), np.float32)
    for t, tap in enumerate(_taps(xp, layer.kernel_size, layer.strides, (out_h, out_w))):
        cols[:, :, :, t] = tap
    y = cols.reshape(-1, kh * kw * channels) @ kernel.reshape(-1, filters)
    y += bias
    if layer.activation == "relu":
        np.maximum(y, _ZERO, out=y)
    return y.reshape(len(x), out_h, out_w, filters)


def _max_pool(layer: L.MaxPool2D, x: np.ndarray) -> np.ndarray:
    out_hw = layer.output_shape[:2]
    # padded cells hold -inf, so they never win (ops.pool skips them)
    xp = _padded(x, layer.pool_size, layer.strides, layer.padding, out_hw, -np.inf)
    taps = _taps(xp, layer.pool_size, layer.strides, out_hw)
    y = next(taps).copy()
    for tap in taps:
        np.maximum(y, tap, out=y)
    return y


def _avg_pool(layer: L.AveragePooling2D, x: np.ndarray) -> np.ndarray:
    """The sum of each window's real cells, row by row as ops.pool adds them, times 1 / their
    count."""
    out_h, out_w, _ = layer.output_shape
    xp = _padded(x, layer.pool_size, layer.strides, layer.padding, (out_h, out_w), _ZERO)
    taps = _taps(xp, layer.pool_size, layer.strides, (out_h, out_w))
    sums = next(taps).copy()
    for tap in taps:
        sums += tap
    (kh, kw), (sh, sw) = layer.pool_size, layer.strides
    counts = np.outer(_real_cells(x.shape[1], kh, sh, layer.padding, out_h),
                      _real_cells(x.shape[2], kw, sw, layer.padding, out_w))
    return sums * (np.float32(1.0) / counts.astype(np.float32))[:, :, None]


def _global_avg_pool(layer: L.GlobalAveragePooling2D, x: np.ndarray) -> np.ndarray:
    return x.mean(axis=(1, 2), dtype=np.float32)


def _batch_norm(layer: L.BatchNormalization, x: np.ndarray) -> np.ndarray:
    """Inference: the running statistics folded into one scale and shift per channel, as
    ``ops.batchnorm.inference``."""
    gamma, beta = layer.params["gamma"], layer.params["beta"]
    mean, var = layer.state["moving_mean"], layer.state["moving_variance"]
    scale = (gamma / np.sqrt(var + np.float32(layer.epsilon))).astype(np.float32)
    shift = (beta - mean * scale).astype(np.float32)
    return x * scale + shift


def _relu(layer: L.ReLU, x: np.ndarray) -> np.ndarray:
    return np.maximum(x, _ZERO)


def _flatten(layer: L.Flatten, x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)  # row-major over (H, W, C), as the layer


def _dense(layer: L.Dense, x: np.ndarray) -> np.ndarray:
    y = x @ layer.params["kernel"]
    y += layer.params["bias"]
    if layer.activation == "relu":
        np.maximum(y, _ZERO, out=y)
    elif layer.activation == "softmax":
        y = softmax(y)
    return y


def _identity(layer: L.Dropout, x: np.ndarray) -> np.ndarray:
    return x  # dropout drops nothing at inference


# Exact types: a subclass may compute something else, so it takes the Numba path.
_PASSES = {L.Conv2D: _conv, L.ReLU: _relu, L.MaxPool2D: _max_pool,
           L.AveragePooling2D: _avg_pool, L.GlobalAveragePooling2D: _global_avg_pool,
           L.BatchNormalization: _batch_norm, L.Flatten: _flatten, L.Dense: _dense,
           L.Dropout: _identity}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) float32 logits, the row's maximum subtracted first (so
    ``exp`` never overflows), as ``ops.loss.softmax``."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def supports(model: Sequential) -> bool:
    """Whether every layer of ``model`` has a numpy pass here; if not, use the Numba path."""
    return all(type(layer) in _PASSES for layer in model.layers)


def predict_proba(model: Sequential, x: np.ndarray, batch_size: int = 2000) -> np.ndarray:
    """What ``model.predict_proba(x)`` gives, computed in numpy.

    Parameters
    ----------
    model : a Sequential for which :func:`supports` holds
    x : ndarray, shape (N, *model.input_shape), the model's input (pixels already scaled,
        as for ``predict_proba``); converted to float32
    batch_size : images per pass at most; fewer when a convolution's column matrix would
        pass ``INFERENCE_COLUMNS`` floats (the bound ``predict_proba`` keeps)

    Returns
    -------
    ndarray, shape (N, *model.output_shape), float32: the class probabilities for a model
    ending in softmax.
    """
    if not supports(model):
        kinds = sorted({layer.kind for layer in model.layers if type(layer) not in _PASSES})
        raise ValueError(f"the numpy path cannot run {', '.join(kinds)} layers")
    x = np.asarray(x, dtype=np.float32)
    if x.shape[1:] != model.input_shape:
        raise ValueError(f"expected inputs (N, {', '.join(map(str, model.input_shape))}), "
                         f"got shape {x.shape}")
    widest = max([layer.columns_per_image() for layer in model.layers
                  if isinstance(layer, L.Conv2D)] + [1])
    batch_size = max(1, min(batch_size, INFERENCE_COLUMNS // widest))
    outputs = []
    for start in range(0, len(x), batch_size):
        y = x[start:start + batch_size]
        for layer in model.layers:
            y = _PASSES[type(layer)](layer, y)
        outputs.append(y)
    if not outputs:
        return np.empty((0, *model.output_shape), np.float32)
    return np.concatenate(outputs) if len(outputs) > 1 else outputs[0]
