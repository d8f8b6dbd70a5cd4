"""Training-set augmentation: shifting each image by a few pixels, zero-filled."""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit_parallel, prange


@njit_parallel
def _shift(images, shifts, out):
    n, height, width = images.shape[0], images.shape[1], images.shape[2]
    for k in prange(n):
        dy, dx = shifts[k, 0], shifts[k, 1]
        for y in range(height):
            sy = y - dy
            for x in range(width):
                sx = x - dx
                if 0 <= sy < height and 0 <= sx < width:
                    out[k, y, x] = images[k, sy, sx]
                else:
                    out[k, y, x] = 0


def shift_images(images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Move image k down by ``shifts[k, 0]`` and right by ``shifts[k, 1]`` pixels.

    images : (N, H, W, ...) any dtype; shifts : (N, 2) integers. Uncovered pixels become 0
    (background in MNIST). Returns a new array of the same shape and dtype.
    """
    images = np.ascontiguousarray(images)
    shifts = np.ascontiguousarray(shifts, dtype=np.int64)
    if shifts.shape != (images.shape[0], 2):
        raise ValueError(f"shifts must be (N, 2) for {images.shape[0]} images, got {shifts.shape}")
    out = np.empty_like(images)
    _shift(images, shifts, out)
    return out
