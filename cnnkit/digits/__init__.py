"""Real pictures of digits -> MNIST-style inputs; numbers cut into digits.

``prepare`` makes one digit MNIST-like (the way MNIST was made), ``stroke`` brings its pen
width to MNIST's, ``verdict`` says whether it is a digit at all, ``numbers`` cuts a number
into digits, ``levels`` reads grey-level statistics.
"""

from cnnkit.digits.levels import Levels, otsu, sample
from cnnkit.digits.numbers import find_digits
from cnnkit.digits.prepare import (BOX, SIDE, NoDigitError, Prepared, clean_ink, fit_mnist,
                                   ink_box, ink_image, paper_level, prepare_digit, prepare_raw,
                                   remove_background, shrink, to_grey)

__all__ = ["BOX", "SIDE", "Levels", "NoDigitError", "Prepared", "clean_ink", "find_digits",
           "fit_mnist", "ink_box", "ink_image", "otsu", "paper_level", "prepare_digit",
           "prepare_raw", "remove_background", "sample", "shrink", "to_grey"]
