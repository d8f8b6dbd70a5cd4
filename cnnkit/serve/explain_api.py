"""The step-through on the kernels page: ``cnnkit explain``'s numbers as JSON.

Each step names the output cell, the input window it reads and its value; a convolution step
also has the elementwise products, a pooling step the winning cell. The page draws the grids
and moves through the steps itself.
"""

from __future__ import annotations

import numpy as np

from cnnkit.viz import explain
from cnnkit.errors import CnnkitError

KINDS = ("conv", "relu", "pool")


def _matrix(value, default: np.ndarray, what: str) -> np.ndarray:
    if value is None:
        return default
    try:
        matrix = np.array(value, np.float64)
    except (TypeError, ValueError):
        raise CnnkitError(f"{what}: every cell must be a number") from None
    if matrix.ndim != 2 or not np.all(np.isfinite(matrix)):
        raise CnnkitError(f"{what} must be a matrix of finite numbers")
    return matrix.astype(np.float32)


def _step(step: explain.Step) -> dict:
    item = {"out": list(step.out), "rows": list(step.rows), "cols": list(step.cols),
            "value": step.value}
    if step.products is not None:
        item["products"] = step.products.tolist()
    if step.chosen is not None:
        item["chosen"] = list(step.chosen)
    return item


def walkthrough(request: dict) -> dict:
    """request: kind (conv|relu|pool), optional image/kernel matrices, op (conv|corr).

    Returns {kind, image, kernel?, slid?, output, steps}: all lists of lists of numbers.
    """
    kind = request.get("kind", "conv")
    if kind not in KINDS:
        raise CnnkitError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "conv":
        image = _matrix(request.get("image"), explain.CLASSIC_IMAGE, "the image")
        kernel = _matrix(request.get("kernel"), explain.CLASSIC_KERNEL, "the kernel")
        op = request.get("op", "conv")
        if op not in ("conv", "corr"):
            raise CnnkitError(f"op must be conv or corr, got {op!r}")
        steps, output, slid = explain.conv_steps(image, kernel, op)
        return {"kind": kind, "op": op, "image": image.tolist(), "kernel": kernel.tolist(),
                "slid": slid.tolist(), "output": output.tolist(),
                "steps": [_step(s) for s in steps]}
    if kind == "relu":
        image = _matrix(request.get("image"), explain.RELU_EXAMPLE, "the matrix")
        steps, output = explain.relu_steps(image)
    else:
        image = _matrix(request.get("image"), explain.POOL_EXAMPLE, "the matrix")
        steps, output = explain.pool_steps(image, 2)
    return {"kind": kind, "image": image.tolist(), "output": output.tolist(),
            "steps": [_step(s) for s in steps]}
