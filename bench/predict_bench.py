"""How well ``cnnkit predict`` reads the digits people have, and how fast.

    python bench/predict_bench.py [--data DIR] [--count 2000] [--numbers 300] [--seed 0]
                                  [--model M.npz] [--no-latency]

1. "User digits": MNIST test digits redrawn as photos of ink on paper (bench/user_digits.py,
   reproducible from --seed), saved as JPEG and read back through cnnkit's preprocessing. The
   same pictures with naive preprocessing (a plain resize to 28x28, and a resize plus
   inversion), and the original 28x28 digits, for comparison.
2. Printed digits: 0-9 rendered in every TrueType font on the machine, dark on light.
3. Numbers of 3 to 5 test digits written side by side, read with --multi: exact-number accuracy.
4. Whole-process latency of ``cnnkit predict`` with the bundled model and a warm Numba cache:
   one picture, and 1,000 pictures in one call.
"""

from __future__ import annotations

import argparse
import glob
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import compile_package  # noqa: E402
from user_digits import user_number, user_style  # noqa: E402

from cnnkit import digits
from cnnkit.imaging import io as imaging
from cnnkit.data.mnist import load_split  # noqa: E402
from cnnkit.nn.io import load_model  # noqa: E402

MODEL = Path(__file__).resolve().parent.parent / "cnnkit" / "models" / "digit_classifier.npz"


def classify(model, batch: list[np.ndarray]) -> np.ndarray:
    """Predicted classes for 28x28 arrays on the 0..255 scale."""
    x = np.stack(batch).astype(np.float32)[..., None] / np.float32(255)
    return model.predict_proba(x).argmax(axis=1)


def user_digits(images, folder: Path, rng) -> tuple[list, list, list]:
    """The MNIST ``images`` redrawn as JPEG photos in ``folder`` and read back: (prepared by
    cnnkit, a plain resize to 28x28, the resize inverted), each a list of 28x28 0..255."""
    prepared, plain, inverted = [], [], []
    for k, digit in enumerate(images):
        path = folder / f"{k}.jpg"
        user_style(digit, rng).save(path, quality=95)
        picture = imaging.read_image(path, grey=True)
        prepared.append(digits.prepare_digit(picture).digit)
        grey = np.asarray(Image.open(path).convert("L").resize((28, 28), Image.LANCZOS),
                          np.float32)
        plain.append(grey)
        inverted.append(255 - grey)
    return prepared, plain, inverted


def user_digit_accuracy(model, images, labels, folder: Path, rng) -> dict:
    prepared, plain, inverted = user_digits(images, folder, rng)
    return {"original": float((classify(model, list(images)) == labels).mean()),
            "cnnkit": float((classify(model, prepared) == labels).mean()),
            "naive resize": float((classify(model, plain) == labels).mean()),
            "naive resize + invert": float((classify(model, inverted) == labels).mean())}


def font_digits() -> tuple[list, np.ndarray, int]:
    """0-9 in every TrueType font on the machine, dark on light, prepared by cnnkit:
    (28x28 digits, their labels, how many fonts)."""
    fonts = sorted(glob.glob("/usr/share/fonts/**/*.ttf", recursive=True))
    batch, truth = [], []
    for path in fonts:
        font = ImageFont.truetype(path, 150)
        for digit in range(10):
            image = Image.new("L", (240, 240), 235)
            ImageDraw.Draw(image).text((60, 20), str(digit), fill=25, font=font)
            picture = imaging.Picture(np.asarray(image, np.float32), None, 255.0)
            batch.append(digits.prepare_digit(picture).digit)
            truth.append(digit)
    return batch, np.array(truth), len(fonts)


def font_accuracy(model) -> tuple[float, int]:
    batch, truth, fonts = font_digits()
    return float((classify(model, batch) == truth).mean()), fonts


def number_accuracy(model, images, labels, count: int, folder: Path, rng) -> float:
    right = 0
    for k in range(count):
        length = int(rng.integers(3, 6))
        pick = rng.choice(len(images), length, replace=False)
        path = folder / f"n{k}.jpg"
        user_number([images[i] for i in pick], rng).save(path, quality=95)
        found, _ = digits.find_digits(imaging.read_image(path, grey=True))
        read = "".join(str(d) for d in classify(model, [f.digit for f in found]))
        right += read == "".join(str(labels[i]) for i in pick)
    return right / count


def latency(folder: Path) -> tuple[float, float, Counter]:
    """Best of 5 for one picture, the time for 1,000 in one call, and that call's verdicts
    (the bundled model)."""
    cnnkit = [sys.executable, "-m", "cnnkit", "predict", "-q"]
    one = str(folder / "0.jpg")
    compile_package()
    subprocess.run(cnnkit + [one], check=True, capture_output=True)  # warm the cache
    times = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(cnnkit + [one], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    many = sorted(folder.glob("[0-9]*.jpg"), key=lambda p: int(p.stem))[:1000]
    start = time.perf_counter()
    run = subprocess.run(cnnkit + ["--json"] + [str(p) for p in many], capture_output=True)
    if run.returncode not in (0, 1):  # 1: some picture judged "no digit", still timed
        raise RuntimeError(run.stderr.decode())
    seconds = time.perf_counter() - start
    verdicts = Counter(json.loads(line).get("verdict", "no digit")
                       for line in run.stdout.decode().splitlines())
    return min(times), seconds, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--numbers", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--no-latency", action="store_true", help="accuracy only")
    args = parser.parse_args()
    images, labels = load_split("test", args.data)
    rng = np.random.default_rng(args.seed)
    chosen = np.sort(rng.choice(len(images), args.count, replace=False))
    model, _ = load_model(args.model)
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1, user_api="blas"):
        folder = Path(tmp)
        scores = user_digit_accuracy(model, images[chosen], labels[chosen], folder, rng)
        print(f"user-style digits ({args.count} MNIST test digits as JPEG photos, seed "
              f"{args.seed}):")
        for name, value in scores.items():
            print(f"  {name:28s} {value:7.2%}")
        fonts, count = font_accuracy(model)
        print(f"printed digits, 0-9 in {count} fonts on this machine: {fonts:.2%}")
        numbers = number_accuracy(model, images, labels, args.numbers, folder, rng)
        print(f"numbers of 3-5 digits, exact ({args.numbers} numbers, --multi): {numbers:.2%}")
        if args.no_latency:
            return
        one, many, verdicts = latency(folder)
        print(f"latency, whole process, warm cache: one picture {one:.3f} s (best of 5), "
              f"{min(1000, args.count)} pictures in one call {many:.2f} s")
        print("their verdicts: " + ", ".join(f"{n} {v}" for v, n in verdicts.most_common()))


if __name__ == "__main__":
    main()
