"""A picture file -> one MNIST-style digit, for folder datasets (``--prepare digits``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def digit_from_file(path: Path, max_pixels: int):
    """Exactly what ``cnnkit predict`` does to a picture (read as grey, then made
    MNIST-like), so training and prediction see the same input.

    Returns ``(digit, (width, height), "grey")`` with ``digit`` uint8 (28, 28), or a reason
    string for a picture that cannot be read or holds no digit.
    """
    from cnnkit.digits.prepare import NoDigitError, prepare_digit
    from cnnkit.errors import ImageError
    from cnnkit.imaging.io import read_image

    try:
        picture = read_image(path, max_pixels, grey=True, native=True)
        digit = prepare_digit(picture).digit
    except ImageError as exc:
        return str(exc).removeprefix(f"{path}: ")
    except NoDigitError as exc:
        return f"no digit found ({exc})"
    return (np.clip(np.rint(digit), 0, 255).astype(np.uint8),
            (picture.shape[1], picture.shape[0]), "grey")
