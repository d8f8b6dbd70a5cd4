"""Training-set augmentation: shifts, and the ways real handwriting differs from MNIST.

:func:`shift_images` moves digits by whole pixels. :func:`distort_images` warps each digit by
its own random affine map (rotation, slant, scale, shift) plus a smooth elastic displacement,
resampled bilinearly, then makes its strokes thicker or thinner (a fractional 3x3 grey
dilation or erosion), in one parallel pass over the batch. The random numbers are drawn by
the caller (:func:`draw_distortions`), so a seeded generator makes training reproducible.
"""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit_parallel, prange

GRID = 4  # the elastic field's control points per side (a smooth field over 28x28)


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


@njit_parallel
def _distort(images, affine, field, thickness, out):
    n, height, width = images.shape[0], images.shape[1], images.shape[2]
    grid = field.shape[1]
    cy, cx = np.float32(height / 2), np.float32(width / 2)
    to_grid_y = np.float32((grid - 1) / (height - 1))
    to_grid_x = np.float32((grid - 1) / (width - 1))
    for k in prange(n):
        warped = np.empty((height, width), np.float32)
        a, b, c, d, ty, tx = (affine[k, 0], affine[k, 1], affine[k, 2], affine[k, 3],
                              affine[k, 4], affine[k, 5])
        for y in range(height):
            gy = y * to_grid_y
            g0 = min(int(gy), grid - 2)
            fy = gy - g0
            for x in range(width):
                gx = x * to_grid_x
                h0 = min(int(gx), grid - 2)
                fx = gx - h0
                # the elastic displacement: bilinear between the 4 nearest control points
                ey = ((1 - fy) * ((1 - fx) * field[k, g0, h0, 0] + fx * field[k, g0, h0 + 1, 0])
                      + fy * ((1 - fx) * field[k, g0 + 1, h0, 0]
                              + fx * field[k, g0 + 1, h0 + 1, 0]))
                ex = ((1 - fy) * ((1 - fx) * field[k, g0, h0, 1] + fx * field[k, g0, h0 + 1, 1])
                      + fy * ((1 - fx) * field[k, g0 + 1, h0, 1]
                              + fx * field[k, g0 + 1, h0 + 1, 1]))
                oy, ox = y - cy, x - cx
                sy = a * oy + b * ox + cy + ty + ey
                sx = c * oy + d * ox + cx + tx + ex
                y0, x0 = int(np.floor(sy)), int(np.floor(sx))
                wy, wx = sy - y0, sx - x0
                value = np.float32(0)
                for j in range(2):
                    yy = y0 + j
                    if yy < 0 or yy >= height:
                        continue
                    for i in range(2):
                        xx = x0 + i
                        if xx < 0 or xx >= width:
                            continue
                        weight = (wy if j else 1 - wy) * (wx if i else 1 - wx)
                        value += weight * np.float32(images[k, yy, xx])
                warped[y, x] = value
        t = thickness[k]
        for y in range(height):
            for x in range(width):
                extreme = warped[y, x]
                for yy in range(max(0, y - 1), min(height, y + 2)):
                    for xx in range(max(0, x - 1), min(width, x + 2)):
                        v = warped[yy, xx]
                        if (t > 0 and v > extreme) or (t < 0 and v < extreme):
                            extreme = v
                value = warped[y, x] + abs(t) * (extreme - warped[y, x])
                out[k, y, x] = np.uint8(min(max(value + np.float32(0.5), 0), 255))


def distort_images(images: np.ndarray, affine: np.ndarray, field: np.ndarray,
                   thickness: np.ndarray) -> np.ndarray:
    """Warp and re-stroke uint8 digits (N, H, W), each by its own parameters.

    affine : (N, 6) float32 ``a, b, c, d, ty, tx``: output pixel (y, x) samples the input at
    ``[[a, b], [c, d]] @ (y - H/2, x - W/2) + (H/2 + ty, W/2 + tx)`` plus the elastic
    displacement. field : (N, G, G, 2) float32, the (dy, dx) displacement in px at a GxG grid
    of control points spread over the image, interpolated bilinearly between them.
    thickness : (N,) float32 in -1..1: > 0 blends towards a 3x3 grey dilation (thicker
    strokes), < 0 towards an erosion. Outside the input counts as 0. Returns (N, H, W) uint8.
    """
    images = np.ascontiguousarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W), got {images.dtype} {images.shape}")
    n = images.shape[0]
    affine = np.ascontiguousarray(affine, dtype=np.float32)
    field = np.ascontiguousarray(field, dtype=np.float32)
    thickness = np.ascontiguousarray(thickness, dtype=np.float32)
    if affine.shape != (n, 6) or thickness.shape != (n,):
        raise ValueError(f"affine must be ({n}, 6) and thickness ({n},), got {affine.shape} "
                         f"and {thickness.shape}")
    if field.ndim != 4 or field.shape[0] != n or field.shape[1] != field.shape[2] \
            or field.shape[1] < 2 or field.shape[3] != 2:
        raise ValueError(f"field must be ({n}, G, G, 2) with G >= 2, got {field.shape}")
    out = np.empty_like(images)
    _distort(images, affine, field, thickness, out)
    return out


def draw_distortions(rng: np.random.Generator, n: int, rotate: float = 0.0,
                     shear: float = 0.0, scale: float = 0.0, shift: float = 0.0,
                     elastic: float = 0.0, thickness: float = 0.0):
    """Random parameters for :func:`distort_images`, uniform within the given limits.

    rotate : degrees either way; shear : the slant, horizontal px per px of height either way;
    scale : relative change of size either way (0.1: 90% to 110%), independent per axis within
    a quarter of it; shift : px either way; elastic : px of displacement of each control
    point (standard deviation); thickness : the largest blend towards a dilation (thicker) or,
    at half of it, an erosion (thinner: MNIST's thin strokes would vanish). Returns
    (affine (n, 6), field (n, GRID, GRID, 2), thickness (n,)), all float32.
    """
    angle = np.radians(rng.uniform(-rotate, rotate, n))
    slant = rng.uniform(-shear, shear, n)
    size = 1 + rng.uniform(-scale, scale, n)
    aspect = 1 + rng.uniform(-scale / 4, scale / 4, n)
    moves = rng.uniform(-shift, shift, (n, 2))
    # the inverse map (output -> input): rotate by -angle, unslant, divide by the size
    cos, sin = np.cos(angle), np.sin(angle)
    sy, sx = 1 / (size * aspect), aspect / size
    affine = np.empty((n, 6), np.float32)
    affine[:, 0] = cos * sy
    affine[:, 1] = -sin * sy
    affine[:, 2] = (sin + slant * cos) * sx
    affine[:, 3] = (cos - slant * sin) * sx
    affine[:, 4:] = moves
    field = (rng.standard_normal((n, GRID, GRID, 2)) * elastic).astype(np.float32)
    strokes = rng.uniform(-thickness / 2, thickness, n).astype(np.float32)
    return affine, field, strokes
