"""Applying a named or custom filter to an image: the library call behind ``cnnkit filter``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnkit.errors import KernelError
from cnnkit.kernels import Filter


@dataclass(frozen=True)
class FilterOptions:
    """How to run a filter; the defaults are the CLI's."""

    op: str = "conv"
    border: str = "reflect"
    cval: float = 0.0
    stride: int = 1
    bias: float = 0.0
    relu: bool = False


def apply_filter(image: np.ndarray, flt: Filter, options: FilterOptions = FilterOptions()):
    """Filter every channel of ``image``; a gradient pair gives ``sqrt(gx**2 + gy**2)``.

    image : ndarray, shape (H, W) or (H, W, C), float32
    Returns ndarray, shape (Ho, Wo) or (Ho, Wo, C), float32: ``result + bias``, then ReLU if
    asked (the seed applies ReLU after every convolution).
    """
    from cnnkit.ops.activations import relu
    from cnnkit.ops.filter2d import filter2d

    def run(kernel):
        try:
            return filter2d(image, kernel, op=options.op, border=options.border,
                            cval=options.cval, stride=options.stride)
        except ValueError as exc:
            raise KernelError(str(exc)) from None

    if flt.magnitude:
        gx, gy = (run(k) for k in flt.kernels)
        out = np.sqrt(gx * gx + gy * gy)
    else:
        out = run(flt.kernel)
    if options.bias:
        out += np.float32(options.bias)
    return relu(out) if options.relu else out


def display_range(flt: Filter, relu: bool = False) -> str:
    """The ``--range auto`` choice: ``edges`` for a zero-sum kernel's signed output (so both
    signs show), ``clip`` for everything that stays in the pixel range."""
    from cnnkit.kernels import describe

    signed = not relu and not flt.magnitude and describe(flt.kernel)["zero_sum"]
    return "edges" if signed else "clip"


def sample_alpha(alpha: np.ndarray, kernel_shape: tuple[int, int], border: str, stride: int,
                 out_shape: tuple[int, int]) -> np.ndarray:
    """The alpha value at the centre of each output pixel, so alpha passes through untouched.

    alpha : (H, W); returns (Ho, Wo) matching the filtered image.
    """
    top, left = (kernel_shape[0] // 2, kernel_shape[1] // 2) if border == "valid" else (0, 0)
    return np.ascontiguousarray(alpha[top::stride, left::stride][:out_shape[0], :out_shape[1]])
