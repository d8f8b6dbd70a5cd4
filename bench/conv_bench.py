"""The fused conv+ReLU+maxpool block of digit_classifier, general kernels against the
written-out 3x3 ones: ``python bench/conv_bench.py [--batch 128] [--threads 2]``.

Times one forward and one backward pass of a batch (best of 50) through the private kernels
of ``cnnkit.ops.conv2d``, and checks that both give the same results.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_of

from cnnkit.ops import conv2d
from cnnkit.ops._jit import set_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    threads = set_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 28, 28, 1), dtype=np.float32)
    w = (rng.standard_normal((3, 3, 1, 32)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(32) * 0.1).astype(np.float32)
    shape = (args.batch, 13, 13, 32)
    grad = rng.standard_normal(shape).astype(np.float32)
    dw_chunks, db_chunks = conv2d._grad_buffers(args.batch, w.shape)
    print(f"batch {args.batch}, {threads} threads, best of 50:")
    results = {}
    for name, forward, backward in (
            ("general", conv2d._conv_relu_pool_forward, conv2d._conv_relu_pool_backward),
            ("written-out 3x3", conv2d._conv3x3_relu_pool_forward,
             conv2d._conv3x3_relu_pool_backward)):
        pooled, argmax = np.empty(shape, np.float32), np.empty(shape, np.int8)
        ahead = best_of(lambda: forward(x, w, b, pooled, argmax), repeats=50)
        back = best_of(lambda: backward(x, argmax, grad, dw_chunks, db_chunks), repeats=50)
        results[name] = pooled.copy(), conv2d._sum_chunks(dw_chunks, db_chunks)[0]
        print(f"  {name:16s} forward {ahead * 1e3:6.3f} ms   backward {back * 1e3:6.3f} ms")
    (p0, g0), (p1, g1) = results.values()
    print(f"  same pooled output: {np.array_equal(p0, p1)}; weight gradients agree to "
          f"{np.abs(g0 - g1).max() / np.abs(g0).max():.1e} (relative)")


if __name__ == "__main__":
    main()
