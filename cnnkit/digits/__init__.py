"""Real pictures of digits -> MNIST-style inputs; numbers cut into digits.

``prepare`` makes one digit MNIST-like (the way MNIST was made), ``stroke`` brings its pen
width to MNIST's, ``numbers`` cuts a number into digits.
"""

from cnnkit.digits.numbers import find_digits
from cnnkit.digits.prepare import (BOX, SIDE, Levels, NoDigitError, Prepared, clean_ink,
                                   fit_mnist, ink_box, ink_image, otsu, paper_level,
                                   prepare_digit, prepare_raw, remove_background, sample, shrink,
                                   to_grey)

__all__ = ["BOX", "SIDE", "Levels", "NoDigitError", "Prepared", "clean_ink", "find_digits",
           "fit_mnist", "ink_box", "ink_image", "otsu", "paper_level", "prepare_digit",
           "prepare_raw", "remove_background", "sample", "shrink", "to_grey"]
