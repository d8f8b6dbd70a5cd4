"""Folder datasets: loading speed (cold and from the cache) and training throughput.

    python bench/folder_bench.py [--count 10000] [--threads 2] [--skip-train]

Makes ``--count`` small PNGs (28x28 to 64x64, digits from MNIST drawn at random sizes, 10
classes) in a temporary folder, then measures, as medians of 3 runs:

* cold: ``load_folder`` with an empty cache (read, hash, decode on all cores, fit to 28x28,
  write the cache);
* cached: the same call again (read and hash the files, load the arrays);
* training throughput (img/s) of one epoch on those images loaded from the folder vs the same
  number of MNIST images from the IDX files, alternating, same recipe.

Targets (issue #15): cold <= 3 s and cached <= 0.3 s for 10,000 pictures on 2 cores; folder
throughput within 5% of IDX.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"


def make_folder(folder: Path, images: np.ndarray, labels: np.ndarray, seed: int = 0) -> None:
    """PNG files folder/<label>/<k>.png of random sizes 28..64 px a side."""
    rng = np.random.default_rng(seed)
    for digit in range(10):
        (folder / str(digit)).mkdir(parents=True)
    for k, (image, label) in enumerate(zip(images, labels)):
        side = int(rng.integers(28, 65))
        picture = Image.fromarray(image).resize((side, side), Image.BILINEAR)
        picture.save(folder / str(int(label)) / f"{k:05d}.png")


def median_time(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args()

    from cnnkit.data.mnist import load_split

    data = SHARED_MNIST if SHARED_MNIST.is_dir() else None
    images, labels = load_split("train", data)
    images, labels = images[:args.count], labels[:args.count]
    with tempfile.TemporaryDirectory() as tmp:
        folder, home = Path(tmp) / "pictures", Path(tmp) / "home"
        os.environ["CNNKIT_HOME"] = str(home)  # a private, empty cache
        make_folder(folder, images, labels)
        from cnnkit.data.folder import folder_cache_dir, load_folder

        def cold():
            for cached in folder_cache_dir().glob("*.npz"):
                cached.unlink()
            return load_folder(folder, workers=args.threads)

        def warm():
            dataset = load_folder(folder, workers=args.threads)
            assert dataset.from_cache
            return dataset

        cold_s = median_time(cold)
        warm_s = median_time(warm)
        dataset = warm()
        print(f"{args.count:,} PNGs (28x28 to 64x64) -> 28x28 grey, {args.threads} threads, "
              f"median of 3")
        print(f"{'load':<28}{'seconds':>9}{'target':>9}{'ratio':>8}")
        print(f"{'cold (decode, fit, cache)':<28}{cold_s:>9.3f}{3.0:>9.1f}"
              f"{cold_s / 3.0:>8.2f}")
        print(f"{'from the cache':<28}{warm_s:>9.3f}{0.3:>9.1f}{warm_s / 0.3:>8.2f}")
        if not args.skip_train:
            train_throughput(dataset, images, labels, args.threads)


def train_throughput(dataset, images, labels, threads: int) -> None:
    """One epoch each, alternating folder and IDX three times after a warm-up epoch; medians
    of img/s."""
    from threadpoolctl import threadpool_limits

    from cnnkit.nn.train import TrainConfig, Trainer
    from cnnkit.ops._jit import set_threads

    set_threads(threads)
    config = dict(epochs=1, val_split=0, augment=True, seed=0)
    speeds = {"folder": [], "idx": []}
    with threadpool_limits(1, user_api="blas"):
        list(Trainer(TrainConfig(**config), images, labels).run())  # warm-up: load the kernels
        for _ in range(3):
            for name, (x, y) in (("folder", (dataset.images, dataset.labels)),
                                 ("idx", (images, labels))):
                trainer = Trainer(TrainConfig(**config), x, y)
                events = list(trainer.run())
                speeds[name].append(events[-1].images_per_second)
    folder, idx = statistics.median(speeds["folder"]), statistics.median(speeds["idx"])
    print(f"{'training (1 epoch)':<28}{'img/s':>9}{'vs IDX':>9}")
    print(f"{'IDX files':<28}{idx:>9,.0f}{1.0:>9.3f}")
    print(f"{'folder dataset':<28}{folder:>9,.0f}{folder / idx:>9.3f}  (target >= 0.95)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
