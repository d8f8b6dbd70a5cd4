"""What a filter's options mean and the shape they make: border names, output shapes, checks.

numpy only, so the Numba kernels (``filter2d``) and the numpy path for small pictures
(``light``) share them without the latter starting Numba.
"""

from __future__ import annotations

import numpy as np

# Border modes: the public names, in the order of the integer codes the kernel takes.
BORDERS = ("zero", "reflect", "mirror", "replicate", "wrap", "valid")
OPS = ("conv", "corr")
MAX_KERNEL_SIDE = 255


def output_shape(height: int, width: int, kernel_shape: tuple[int, int], border: str, stride: int):
    """Output (H, W) of a filter.

    ``valid``: ``floor((n - k) / s) + 1`` (the image shrinks by ``k - 1`` at stride 1);
    any padded border: ``ceil(n / s)`` (same size at stride 1).
    """
    kh, kw = kernel_shape
    if border == "valid":
        return (height - kh) // stride + 1, (width - kw) // stride + 1
    return -(-height // stride), -(-width // stride)


def check(image: np.ndarray, kernel: np.ndarray, op: str, border: str, stride: int) -> None:
    """Raise ValueError, saying what was received, unless the filter can run."""
    if image.ndim not in (2, 3) or image.size == 0:
        raise ValueError(f"image must be (H, W) or (H, W, C) and non-empty, got shape "
                         f"{image.shape}")
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be a 2-D matrix, got {kernel.ndim} dimension(s)")
    kh, kw = kernel.shape
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"kernel must have odd height and width, got {kh}x{kw}")
    if max(kh, kw) > MAX_KERNEL_SIDE:
        raise ValueError(f"kernel sides must be at most {MAX_KERNEL_SIDE}, got {kh}x{kw}")
    if not np.all(np.isfinite(kernel)):
        raise ValueError("kernel values must be finite numbers")
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}, got {op!r}")
    if border not in BORDERS:
        raise ValueError(f"border must be one of {', '.join(BORDERS)}, got {border!r}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")


def fits(height: int, width: int, kernel_shape: tuple[int, int], border: str,
         stride: int) -> tuple[int, int]:
    """``output_shape``, raising ValueError when a ``valid`` filter leaves nothing."""
    out_h, out_w = output_shape(height, width, kernel_shape, border, stride)
    if out_h < 1 or out_w < 1:
        kh, kw = kernel_shape
        raise ValueError(f"a {kh}x{kw} kernel with border 'valid' needs an image of at "
                         f"least {kh}x{kw}, got {height}x{width}")
    return out_h, out_w
