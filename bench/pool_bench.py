"""2x2/2 max pooling: cnnkit vs PyTorch max_pool2d (channels-last) vs a NumPy reshape-max.

    pip install torch==2.13.0 && python bench/pool_bench.py

Best of 20 after a warm-up, 2 threads each, on a 4096x4096 float32 image and on a
(128, 26, 26, 32) batch (the digit_classifier's conv output). PyTorch runs in its own process
with the environment as it was before cnnkit was imported, so its OpenMP settings are its own.
"""

from __future__ import annotations

import os

PEER_ENV = dict(os.environ)

import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
from timing import best_of  # noqa: E402

THREADS = 2
CASES = {"4096x4096 float32 image": (1, 4096, 4096, 1),
         "(128, 26, 26, 32) batch": (128, 26, 26, 32)}




def arrays():
    rng = np.random.default_rng(0)
    return {name: rng.random(shape, dtype=np.float32) for name, shape in CASES.items()}


def torch_only() -> None:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(THREADS)
    result = {"version": torch.__version__}
    for name, x in arrays().items():
        t = torch.from_numpy(x).permute(0, 3, 1, 2)  # NCHW view of NHWC memory: channels-last
        assert t.is_contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            result[name] = best_of(lambda: F.max_pool2d(t, 2), repeats=20)
    print(json.dumps(result))


def main() -> None:
    if "--torch-only" in sys.argv:
        return torch_only()
    from cnnkit.ops._jit import set_threads
    from cnnkit.ops.pool import max_pool

    set_threads(THREADS)
    try:
        run = subprocess.run([sys.executable, __file__, "--torch-only"], capture_output=True,
                             text=True, env=PEER_ENV, check=True)
        peer = json.loads(run.stdout)
    except subprocess.CalledProcessError as exc:
        peer = None
        print(f"PyTorch skipped: {exc.stderr.strip().splitlines()[-1]}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
          f"torch {peer['version'] if peer else 'not installed'}, {THREADS} threads\n")
    print(f"{'2x2/2 max pooling, best of 20':30s} {'cnnkit':>9s} {'PyTorch':>9s} {'NumPy':>9s} "
          f"{'vs PyTorch':>11s} {'vs NumPy':>9s}")
    for name, x in arrays().items():
        n, h, w, c = x.shape
        ours = best_of(lambda: max_pool(x, 2), repeats=20)
        numpy_time = best_of(lambda: x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4)),
                             repeats=20)
        np.testing.assert_array_equal(max_pool(x, 2),
                                      x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4)))
        theirs = peer[name] if peer else float("nan")
        print(f"{name:30s} {ours * 1e3:7.2f}ms {theirs * 1e3:7.2f}ms {numpy_time * 1e3:7.2f}ms "
              f"{ours / theirs:10.2f}x {ours / numpy_time:8.2f}x")


if __name__ == "__main__":
    main()
