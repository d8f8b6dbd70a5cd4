"""Filter speed: cnnkit vs OpenCV cv2.filter2D vs scipy.ndimage.correlate, in one run.

    pip install -e '.[bench]' && python bench/filter_bench.py

Prints wall times and the ratios cnnkit/peer (cnnkit and OpenCV take turns: the median of three
rounds of best-of-N each; scipy best of 3), plus a plain memory copy of the image
(the physical floor: every output value has to be written once) and the whole-process
latency of ``cnnkit --help`` and ``cnnkit filter`` with a warm Numba cache.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from timing import alternating, best_of, compile_package

from cnnkit.ops._jit import set_threads
from cnnkit.ops.filter2d import filter2d


def cnnkit_u8(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """What ``cnnkit filter --range clip`` does to an 8-bit image: uint8 in, float32 sums a
    block of rows at a time, rounded and clipped to uint8 out (``filtering.filter_to_pixels``)."""
    from cnnkit.imaging.filtering import FilterOptions, filter_to_pixels
    from cnnkit.imaging.kernels import Filter

    options = FilterOptions(op="corr", border="mirror")
    return filter_to_pixels(image, Filter("custom", (kernel,)), options, "clip", 255.0)[0]


def in_process() -> list[tuple[str, float, float | None, float | None]]:
    import cv2
    from scipy import ndimage

    rng = np.random.default_rng(0)
    rows = []
    square = rng.random((4096, 4096), dtype=np.float32)
    copy_target = np.empty_like(square)
    floor = best_of(lambda: np.copyto(copy_target, square))
    rows.append(("memory copy 4096x4096 float32 (floor)", floor, None, None))
    for size in (3, 5):
        kernel = rng.standard_normal((size, size)).astype(np.float32)
        times = alternating({
            "cnnkit": lambda: filter2d(square, kernel, op="corr", border="mirror"),
            "OpenCV": lambda: cv2.filter2D(square, -1, kernel,
                                           borderType=cv2.BORDER_REFLECT_101)}, repeats=15)
        ours, cv = times["cnnkit"], times["OpenCV"]
        sp = best_of(lambda: ndimage.correlate(square, kernel, mode="mirror"), repeats=3)
        np.testing.assert_allclose(filter2d(square[:64, :64], kernel, op="corr", border="mirror"),
                                   cv2.filter2D(square[:64, :64], -1, kernel,
                                                borderType=cv2.BORDER_REFLECT_101), atol=1e-4)
        rows.append((f"4096x4096 float32, {size}x{size}", ours, cv, sp))
    photo = rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8)  # 12 megapixels
    kernel = rng.standard_normal((3, 3)).astype(np.float32)
    # the same pixels as OpenCV's, give or take one level where a float sum rounds differently
    np.testing.assert_allclose(cnnkit_u8(photo[:64], kernel),
                               cv2.filter2D(photo[:64], -1, kernel,
                                            borderType=cv2.BORDER_REFLECT_101), atol=1)
    times = alternating({
        "cnnkit": lambda: cnnkit_u8(photo, kernel),
        "OpenCV": lambda: cv2.filter2D(photo, -1, kernel, borderType=cv2.BORDER_REFLECT_101)})
    ours, cv = times["cnnkit"], times["OpenCV"]
    sp = best_of(lambda: np.clip(np.rint(ndimage.correlate(photo.astype(np.float32),
                                                           kernel[:, :, None], mode="mirror")),
                                 0, 255).astype(np.uint8), repeats=3)
    rows.append(("4000x3000 RGB uint8, 3x3", ours, cv, sp))
    return rows


def whole_process() -> list[tuple[str, float]]:
    from PIL import Image

    cnnkit = [sys.executable, "-m", "cnnkit"]
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.png"
        rng = np.random.default_rng(1)
        Image.fromarray(rng.integers(0, 256, (1024, 1024), dtype=np.uint8)).save(path)
        commands = {
            "cnnkit --help": [*cnnkit, "--help"],
            "cnnkit filter --kernel laplacian 1024x1024.png": [
                *cnnkit, "filter", "--kernel", "laplacian", str(path), "--force", "-q"],
        }
        rows = []
        for label, command in commands.items():
            run = lambda: subprocess.run(command, check=True, capture_output=True)  # noqa: E731
            rows.append((label, best_of(run, repeats=5)))
    return rows


def main() -> None:
    import cv2

    threads = set_threads(None)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, numpy {np.__version__}, OpenCV {cv2.__version__}, "
          f"numba threads {threads}, OpenCV threads {cv2.getNumThreads()}")
    print(f"\n{'in-process (3 rounds, alternating)':42s} {'cnnkit':>9s} {'OpenCV':>9s} "
          f"{'scipy':>9s} {'vs OpenCV':>10s} {'vs scipy':>9s}")
    for label, ours, cv, sp in in_process():
        if cv is None:
            print(f"{label:42s} {ours * 1e3:7.1f}ms")
            continue
        print(f"{label:42s} {ours * 1e3:7.1f}ms {cv * 1e3:7.1f}ms {sp * 1e3:7.1f}ms "
              f"{ours / cv:9.2f}x {ours / sp:8.3f}x")
    print("\nwhole process, warm Numba cache (best of 5)")
    for label, seconds in whole_process():
        print(f"{label:50s} {seconds:6.3f} s")


if __name__ == "__main__":
    main()
