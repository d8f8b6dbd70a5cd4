"""PNG row filters: undoing them (16-bit colour PNGs Pillow would cut to 8 bits) and
choosing them per row when cnnkit writes a PNG."""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit, njit_parallel, prange


@njit
def _unfilter(rows, bpp, out):
    # One branch per row, then a plain loop per filter type: Up and None vectorise, and
    # the 8-bit photos that fill most PNGs decode about twice as fast as with a branch
    # per byte.
    height, stride = out.shape
    first = min(bpp, stride)
    for y in range(height):
        kind = rows[y, 0]
        src = rows[y, 1:]
        dst = out[y]
        if kind > 4:
            return y
        if y == 0 and kind == 2:
            kind = 0  # Up from the zero row above
        elif y == 0 and kind == 4:
            kind = 1  # Paeth with zeros above picks the left byte
        if kind == 0:
            dst[:] = src
        elif kind == 1:
            dst[:first] = src[:first]
            for x in range(bpp, stride):
                dst[x] = src[x] + dst[x - bpp]
        elif kind == 2:
            up = out[y - 1]
            for x in range(stride):
                dst[x] = src[x] + up[x]
        elif kind == 3:
            for x in range(first):
                up = np.int32(out[y - 1, x]) if y > 0 else np.int32(0)
                dst[x] = (np.int32(src[x]) + (up >> 1)) & 0xFF
            for x in range(bpp, stride):
                up = np.int32(out[y - 1, x]) if y > 0 else np.int32(0)
                dst[x] = (np.int32(src[x]) + ((np.int32(dst[x - bpp]) + up) >> 1)) & 0xFF
        else:
            above = out[y - 1]
            for x in range(first):
                dst[x] = src[x] + above[x]  # left and up-left are 0: Paeth picks up
            for x in range(bpp, stride):
                left = np.int32(dst[x - bpp])
                up = np.int32(above[x])
                up_left = np.int32(above[x - bpp])
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pick = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                dst[x] = (np.int32(src[x]) + pick) & 0xFF
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


@njit
def _cost(value, last):
    """A filtered byte's part of a row's score (see ``_filter_rows``); both on 0-255."""
    return min(value, 256 - value) + (np.int32(value != last) << 8)


@njit
def _scores(row, prev, bpp):
    """The None, Sub and Up scores of one row (``_filter_rows``).

    The first ``bpp + 1`` bytes are scored one by one (a Sub byte there has no left
    neighbour, and the first byte no byte before it); the rest with every operand in a
    slice of its own, indexed by ``x`` alone, so the loop carries no state and has no index
    that might be negative, and vectorises (a running "last byte" per filter kept it scalar).
    """
    stride = row.shape[0]
    head = min(stride, bpp + 1)
    none_score, sub_score, up_score = 0, 0, 0
    last_v, last_s, last_u = np.int32(-1), np.int32(-1), np.int32(-1)
    for x in range(head):
        v = np.int32(row[x])
        s = (v - (np.int32(row[x - bpp]) if x >= bpp else 0)) & 0xFF
        u = (v - np.int32(prev[x])) & 0xFF
        none_score += _cost(v, last_v)
        sub_score += _cost(s, last_s)
        up_score += _cost(u, last_u)
        last_v, last_s, last_u = v, s, u
    if stride <= head:
        return none_score, sub_score, up_score
    # the bytes at x, x - 1, x - bpp and x - 1 - bpp, for x from bpp + 1 on
    here, left, back, back_left = row[head:], row[bpp:], row[1:], row[:]
    up_here, up_left = prev[head:], prev[bpp:]
    for x in range(stride - head):
        v, lv = np.int32(here[x]), np.int32(left[x])
        s = (v - np.int32(back[x])) & 0xFF
        ls = (lv - np.int32(back_left[x])) & 0xFF
        u = (v - np.int32(up_here[x])) & 0xFF
        lu = (lv - np.int32(up_left[x])) & 0xFF
        none_score += _cost(v, lv)
        sub_score += _cost(s, ls)
        up_score += _cost(u, lu)
    return none_score, sub_score, up_score


@njit_parallel
def _filter_rows(rows, above, bpp, out):
    """PNG-filter each row with whichever of None, Sub and Up scores lowest.

    The score is 256 x the number of places where a byte differs from the one before it
    (deflate with run-length matching, cnnkit's fast setting, codes each unbroken run as one
    match) plus the sum of |byte as signed| (libpng's heuristic: small values code short).
    On 12-megapixel edge maps that made files 19% smaller than the sum alone, and other
    pictures at most 2% larger.

    rows : (n, stride) uint8; above : (stride,) uint8, the raw row before ``rows[0]`` (zeros
    for the first row of the image); out : (n, 1 + stride) uint8, filter type byte first.
    """
    n, stride = rows.shape
    for y in prange(n):
        prev = above if y == 0 else rows[y - 1]
        row = rows[y]
        none_score, sub_score, up_score = _scores(row, prev, bpp)
        dst = out[y]
        if up_score <= sub_score and up_score <= none_score:
            dst[0] = 2
            for x in range(stride):
                dst[x + 1] = row[x] - prev[x]
        elif sub_score <= none_score:
            dst[0] = 1
            for x in range(bpp):
                dst[x + 1] = row[x]
            tail, here, back = dst[1 + bpp:], row[bpp:], row[:]  # zero-based: vectorises
            for x in range(stride - bpp):
                tail[x] = here[x] - back[x]
        else:
            dst[0] = 0
            dst[1:] = row


def filter_rows(rows: np.ndarray, above: np.ndarray, bytes_per_pixel: int) -> np.ndarray:
    """PNG scanlines for ``rows`` (n, stride) uint8, each with its filter type byte first.

    above : (stride,) uint8, the raw row before the first (zeros at the top of the image).
    Returns (n, 1 + stride) uint8; ``unfilter_rows`` inverts it.
    """
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    out = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
    _filter_rows(rows, np.ascontiguousarray(above, dtype=np.uint8), bytes_per_pixel, out)
    return out
