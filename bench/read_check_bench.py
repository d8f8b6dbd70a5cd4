"""What the PNG size check costs: ``imaging.read_image`` with and without it.

Every PNG's pixel data is inflated by cnnkit to see that it matches the header's size (Pillow
ignores data beyond it, so a header that lies would pass); plain 8/16-bit PNGs are then decoded
from that one inflate (``png_reading.read_png``), others by Pillow after the check. "Without
check" is Pillow decoding alone. This prints the median of alternating runs of both, and the
ratio.

    PYTHONPATH=. python bench/read_check_bench.py            # 12 MP RGB and 1 MP grey
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnnkit.imaging import io as imaging
from cnnkit.imaging import picture_checks


def _picture(path: Path, height: int, width: int, channels: int) -> None:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, width, dtype=np.float32)[None, :, None]
    values = rng.normal(0, 12, (height, width, channels)).astype(np.float32) + ramp
    array = np.clip(values, 0, 255).astype(np.uint8)
    Image.fromarray(array.squeeze(-1) if channels == 1 else array).save(path)


def main() -> None:
    real = picture_checks.png_pixel_data
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, shape in (("12 MP RGB", (3000, 4000, 3)), ("1 MP grey", (1000, 1000, 1))):
            path = Path(tmp) / "p.png"
            _picture(path, *shape)
            times = {"checked": [], "unchecked": []}
            for _ in range(7):
                for mode in ("checked", "unchecked"):
                    picture_checks.png_pixel_data = real if mode == "checked" else (
                        lambda *a, **k: None)
                    started = time.perf_counter()
                    imaging.read_image(path)
                    times[mode].append(time.perf_counter() - started)
            picture_checks.png_pixel_data = real
            checked, unchecked = (statistics.median(times[m]) for m in ("checked", "unchecked"))
            rows.append((label, path.stat().st_size / 1e6, unchecked, checked))
    print("| picture | PNG size | read without check | read with check | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, size, unchecked, checked in rows:
        print(f"| {label} | {size:.1f} MB | {unchecked * 1e3:.0f} ms | {checked * 1e3:.0f} ms | "
              f"{checked / unchecked:.2f}x |")


if __name__ == "__main__":
    main()
