"""cnnkit: image filtering with named kernels and a small MNIST CNN, on Numba."""

__version__ = "0.1.0"
