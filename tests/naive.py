"""Slow, obviously-correct references in float64 plain loops: the jitted ops must match."""

from __future__ import annotations

import numpy as np


def border_index(p: int, n: int, border: str) -> int | None:
    """Where index p of a padded axis reads from, or None for the constant (zero border)."""
    if 0 <= p < n:
        return p
    if border == "zero":
        return None
    if border == "replicate":
        return min(max(p, 0), n - 1)
    if border == "wrap":
        return p % n
    # reflect repeats the edge pixel, mirror does not; both bounce until inside.
    while not 0 <= p < n:
        if border == "reflect":
            p = -p - 1 if p < 0 else 2 * n - p - 1
        else:
            if n == 1:
                return 0
            p = -p if p < 0 else 2 * n - p - 2
    return p


def correlate(image, kernel, border="reflect", cval=0.0, stride=1):
    """out[i, j] = sum_a sum_b k[a, b] * img[i*s + a - pt, j*s + b - pl], per channel."""
    image = np.asarray(image, dtype=np.float64)
    grey = image.ndim == 2
    if grey:
        image = image[:, :, None]
    kernel = np.asarray(kernel, dtype=np.float64)
    kh, kw = kernel.shape
    h, w, c = image.shape
    if border == "valid":
        pt = pl = 0
        oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    else:
        pt, pl = kh // 2, kw // 2
        oh, ow = -(-h // stride), -(-w // stride)
    out = np.zeros((oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                r = border_index(i * stride + a - pt, h, border)
                for b in range(kw):
                    q = border_index(j * stride + b - pl, w, border)
                    value = cval if r is None or q is None else image[r, q]
                    out[i, j] += kernel[a, b] * value
    return out[:, :, 0] if grey else out


def convolve(image, kernel, **kw):
    """The seed's (f*g)(x,y) = sum_m sum_n f(m,n) g(x-m, y-n): correlation with the flip."""
    return correlate(image, np.asarray(kernel)[::-1, ::-1], **kw)


def relu(x):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, 0.0)


def png_filter_choice(rows, above, bpp):
    """The PNG filter type (0 None, 1 Sub, 2 Up) ``ops.png.filter_rows`` picks for each row:
    the lowest score, Up then Sub on ties, where a row's score under a filter is
    sum over bytes of min(b, 256 - b) + 256 for each byte unlike the one before (the first
    byte always counts as unlike)."""
    choices = []
    for y, row in enumerate(rows.astype(int)):
        prev = (above if y == 0 else rows[y - 1]).astype(int)
        left = np.concatenate([np.zeros(bpp, int), row[:-bpp] if bpp < len(row) else []])
        scores = []
        for values in (row, (row - left[:len(row)]) % 256, (row - prev) % 256):
            score, last = 0, None
            for b in values:
                score += min(b, 256 - b) + (256 if b != last else 0)
                last = b
            scores.append(score)
        none, sub, up = scores
        choices.append(2 if up <= sub and up <= none else (1 if sub <= none else 0))
    return choices
