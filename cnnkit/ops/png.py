"""Undoing PNG row filters, for the 16-bit colour PNGs Pillow would cut to 8 bits."""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit


@njit
def _unfilter(rows, bpp, out):
    height, stride = out.shape
    for y in range(height):
        kind = rows[y, 0]
        if kind > 4:
            return y
        for x in range(stride):
            value = np.int32(rows[y, x + 1])
            left = np.int32(out[y, x - bpp]) if x >= bpp else np.int32(0)
            up = np.int32(out[y - 1, x]) if y > 0 else np.int32(0)
            up_left = np.int32(out[y - 1, x - bpp]) if x >= bpp and y > 0 else np.int32(0)
            if kind == 1:
                value += left
            elif kind == 2:
                value += up
            elif kind == 3:
                value += (left + up) >> 1
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                value += left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
            out[y, x] = value & 0xFF
    return -1


def unfilter_rows(rows: np.ndarray, bytes_per_pixel: int) -> np.ndarray:
    """Reconstruct PNG scanlines.

    rows : ndarray, shape (H, 1 + stride), uint8, each row's filter type byte first
    Returns (H, stride) uint8. Raises ValueError for an unknown filter type.
    """
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    out = np.empty((rows.shape[0], rows.shape[1] - 1), dtype=np.uint8)
    bad_row = _unfilter(rows, bytes_per_pixel, out)
    if bad_row >= 0:
        raise ValueError(f"row {bad_row} has unknown filter type {rows[bad_row, 0]}")
    return out
