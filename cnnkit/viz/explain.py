"""Step-by-step walkthroughs of convolution, ReLU and max pooling on small matrices.

Every result matrix comes from the same ops the real commands use (``filter2d``, ``relu``,
``max_pool``); the steps add what a person needs to follow along: the window, the products
and their sum, the chosen maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnkit.errors import CnnkitError

# The classic 5x5 binary image and 3x3 kernel of CNN course slides; the valid result is
# 4 3 4 / 2 4 3 / 2 3 4.
CLASSIC_IMAGE = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0],
                          [0, 1, 1, 0, 0]], np.float32)
CLASSIC_KERNEL = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], np.float32)
RELU_EXAMPLE = np.array([[3, -1, 0, -4], [-2, 5, -3, 1], [0, -6, 2, -1], [4, 1, -2, -5]],
                        np.float32)
POOL_EXAMPLE = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], np.float32)
MAX_SIDE = 12


@dataclass
class Step:
    """One step: the output cell, the input window it reads, and how its value came about."""

    out: tuple[int, int]
    rows: tuple[int, int]  # input rows [start, stop)
    cols: tuple[int, int]
    value: float
    products: np.ndarray | None = None  # conv: kernel * window, elementwise
    chosen: tuple[int, int] | None = None  # pool: the input cell of the maximum


def _check(matrix: np.ndarray, what: str) -> np.ndarray:
    matrix = np.asarray(matrix, np.float32)
    if matrix.ndim != 2 or min(matrix.shape) < 1 or max(matrix.shape) > MAX_SIDE:
        raise CnnkitError(f"{what} must be a matrix of at most {MAX_SIDE}x{MAX_SIDE} to be "
                          f"shown, got shape {matrix.shape}")
    return matrix


def conv_steps(image: np.ndarray, kernel: np.ndarray, op: str = "conv"):
    """Valid convolution/correlation, one step per output cell.

    Returns (steps, output (Ho, Wo), the kernel as slid over the image: flipped for conv).
    """
    from cnnkit.ops.filter2d import filter2d

    image, kernel = _check(image, "the image"), _check(kernel, "the kernel")
    try:
        output = filter2d(image, kernel, op=op, border="valid")
    except ValueError as exc:
        raise CnnkitError(str(exc)) from None
    slid = kernel[::-1, ::-1] if op == "conv" else kernel
    kh, kw = kernel.shape
    steps = []
    for i in range(output.shape[0]):
        for j in range(output.shape[1]):
            window = image[i:i + kh, j:j + kw]
            steps.append(Step((i, j), (i, i + kh), (j, j + kw), float(output[i, j]),
                              products=window * slid))
    return steps, output, slid


def relu_steps(matrix: np.ndarray):
    """One step per cell: ``max(x, 0)``. Returns (steps, output)."""
    from cnnkit.ops.activations import relu

    matrix = _check(matrix, "the matrix")
    output = relu(matrix)
    steps = [Step((i, j), (i, i + 1), (j, j + 1), float(output[i, j]))
             for i in range(matrix.shape[0]) for j in range(matrix.shape[1])]
    return steps, output


def pool_steps(matrix: np.ndarray, size: int = 2, stride: int | None = None):
    """Max pooling ('valid'), one step per output cell with the winning input cell.

    Returns (steps, output).
    """
    from cnnkit.ops.pool import max_pool

    matrix = _check(matrix, "the matrix")
    stride = stride or size
    try:
        output, argmax = max_pool(matrix, size, stride, return_argmax=True)
    except ValueError as exc:
        raise CnnkitError(str(exc)) from None
    width = matrix.shape[1]
    steps = []
    for i in range(output.shape[0]):
        for j in range(output.shape[1]):
            index = int(argmax[0, i, j, 0])
            steps.append(Step((i, j), (i * stride, i * stride + size),
                              (j * stride, j * stride + size), float(output[i, j]),
                              chosen=(index // width, index % width)))
    return steps, output
