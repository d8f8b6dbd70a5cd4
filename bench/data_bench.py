"""MNIST loading speed: cnnkit's IDX reader vs a plain numpy read of the same bytes.

    python bench/data_bench.py [DATA_DIR]     (default: the cache; run 'cnnkit data fetch')

Prints best-of-5 times to load the 60,000-image training split (verified by SHA-256 and
checked structurally) from raw and from gzip files, next to numpy.fromfile of the raw file.
"""

from __future__ import annotations

import gzip
import sys
import tempfile
from pathlib import Path

import numpy as np
from timing import best_of

from cnnkit.data.idx import read_idx
from cnnkit.data.mnist import MNIST_FILES, load_split, locate, mnist_dir


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else mnist_dir()
    with tempfile.TemporaryDirectory() as tmp:
        raw_dir, gz_dir = Path(tmp) / "raw", Path(tmp) / "gz"
        raw_dir.mkdir(), gz_dir.mkdir()
        for spec in MNIST_FILES:
            data = read_idx(locate(source, spec))
            raw = (locate(source, spec).read_bytes() if locate(source, spec).suffix != ".gz"
                   else gzip.decompress(locate(source, spec).read_bytes()))
            (raw_dir / spec.name).write_bytes(raw)
            (gz_dir / f"{spec.name}.gz").write_bytes(gzip.compress(raw, 6))
            assert data.shape[0] == spec.count
        raw_images = raw_dir / MNIST_FILES[0].name
        plain = best_of(lambda: np.fromfile(raw_images, np.uint8, offset=16), repeats=5)
        ours_raw = best_of(lambda: load_split("train", raw_dir), repeats=5)
        ours_gz = best_of(lambda: load_split("train", gz_dir), repeats=5)
    print("train split (47 MB images + labels), best of 5")
    print(f"numpy.fromfile of the raw image file          {plain * 1e3:7.1f} ms")
    print(f"cnnkit load_split, raw, SHA-256 verified      {ours_raw * 1e3:7.1f} ms "
          f"({ours_raw / plain:.1f}x numpy)")
    print(f"cnnkit load_split, gzip, SHA-256 verified     {ours_gz * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
