"""Which kernels prepare digits: Numba's, or their numpy twins for one picture.

Preparing a digit calls a dozen kernels (``ops/ink.py``, ``ops/label.py``). For a batch they
are Numba's, compiled once and run on every core. For a command that reads one picture,
starting Numba costs several times the whole preparation, so such a command sets
``pending.light_digits`` before Numba has started and the same steps run on their numpy
twins (``ops/ink_light.py``): the same answers, to float32 rounding where the kernel lets
LLVM reorder its sums (tests/test_ink_light.py).
"""

from __future__ import annotations


def kernels():
    """The module with the digit kernels (resample, hysteresis, label_components, ...)."""
    from cnnkit.ops import pending

    if pending.light_digits:
        from cnnkit.ops import ink_light

        return ink_light
    from cnnkit.ops import ink

    return ink
