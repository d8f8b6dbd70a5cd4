"""Would test-time augmentation make the bundled model read real handwriting better?

    python bench/tta_bench.py [--data ../shared/data/mnist] [--set ../shared/data/real_digits]
                              [--model M.npz] [--count 2000]

Test-time augmentation asks the model about a few altered copies of each prepared 28x28 digit
and averages the probabilities. This script prepares each set once, as ``cnnkit predict``
does (the real set's single digits, ``predict_bench``'s user-style photos and printed digits,
and the MNIST test digits as they are), then reads every set with each choice of copies below
and prints the right answers per kind of the real set, the other sets' accuracy, and the real
set's misses (label -> answer, averaged probability). The copies are made by training's own
shift and warp (``ops/augment.py``). ``predict`` itself reads one copy; a choice of copies
would cost as many forward passes.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from predict_bench import font_digits, user_digits  # noqa: E402
from real_digits_bench import read  # noqa: E402

from cnnkit.data.mnist import load_split  # noqa: E402
from cnnkit.nn.io import BUNDLED_MODEL, load_model  # noqa: E402
from cnnkit.ops.augment import GRID, distort_images, shift_images  # noqa: E402

KINDS = ("photo", "drawn", "scan", "mnist-like")


def shifted(digits: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """(N, 28, 28) moved by (dy, dx) px, zeros coming in (training's own shift)."""
    return shift_images(digits, np.tile([dy, dx], (len(digits), 1)))


def distorted(digits: np.ndarray, degrees: float = 0.0, scale: float = 1.0,
              thickness: float = 0.0) -> np.ndarray:
    """(N, 28, 28) turned about the centre, scaled and re-stroked (``thickness`` > 0 thicker,
    < 0 thinner) by training's own warp (``ops/augment.py``), as uint8 0..255."""
    n = len(digits)
    angle = np.radians(degrees)
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale  # the inverse map, as training's
    affine = np.tile(np.float32([cos, -sin, sin, cos, 0, 0]), (n, 1))
    field = np.zeros((n, GRID, GRID, 2), np.float32)
    pixels = np.clip(np.rint(digits), 0, 255).astype(np.uint8)
    return distort_images(pixels, affine, field, np.full(n, thickness, np.float32))


SHIFTS = [lambda d, s=s: shifted(d, *s) for s in ((1, 0), (-1, 0), (0, 1), (0, -1))]
CHOICES = {
    "one copy (what predict does)": [],
    "+ 4 shifts of 1 px": SHIFTS,
    "+ 4 shifts, 4 diagonal shifts": SHIFTS + [lambda d, s=s: shifted(d, *s)
                                              for s in ((1, 1), (1, -1), (-1, 1), (-1, -1))],
    "+ turned 6 degrees each way": [lambda d: distorted(d, 6), lambda d: distorted(d, -6)],
    "+ turned 10 degrees each way": [lambda d: distorted(d, 10), lambda d: distorted(d, -10)],
    "+ scaled 0.9 and 1.1": [lambda d: distorted(d, scale=0.9),
                             lambda d: distorted(d, scale=1.1)],
    "+ strokes thicker and thinner": [lambda d: distorted(d, thickness=0.3),
                                      lambda d: distorted(d, thickness=-0.3)],
}


def real_digits(folder: Path, network, scale: float):
    """The real set's single digits as ``predict`` prepares them: (digits, labels, kinds)."""
    batch, labels, kinds = [], [], []
    for row in csv.DictReader((folder / "labels.csv").open()):
        if row["file"].startswith("multi/"):
            continue
        prepared = read(network, scale, folder / row["file"], False)["prepared"]
        if prepared is None or len(prepared.found) != 1:
            continue  # no digit found, or read as a number: wrong with any copies
        batch.append(prepared.found[0].digit)
        labels.append(int(row["label"]))
        kinds.append(row["kind"])
    return np.stack(batch), np.array(labels), np.array(kinds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="MNIST folder")
    parser.add_argument("--set", type=Path, default=ROOT.parent / "shared" / "data" / "real_digits")
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL)
    parser.add_argument("--count", type=int, default=2000, help="user-style photos")
    args = parser.parse_args()
    if not (args.set / "labels.csv").is_file():
        sys.exit(f"{args.set}: no labels.csv (the real-digit set is not on this machine)")
    network, header = load_model(args.model)
    scale = np.float32(header.get("input", {}).get("pixel_scale", 1 / 255))
    images, labels = load_split("test", args.data)
    rng = np.random.default_rng(0)  # predict_bench's user-style photos, seed 0
    chosen = np.sort(rng.choice(len(images), args.count, replace=False))
    real, real_labels, kinds = real_digits(args.set, network, float(scale))
    with tempfile.TemporaryDirectory() as tmp:
        user = np.stack(user_digits(images[chosen], Path(tmp), rng)[0])
    fonts, font_labels, _ = font_digits()
    sets = {"user-style": (user, labels[chosen]), "fonts": (np.stack(fonts), font_labels),
            "MNIST test": (images.astype(np.float32), labels)}

    def probabilities(digits, copies):
        views = [digits] + [copy(digits) for copy in copies]
        return np.mean([network.predict_proba((v * scale)[..., None].astype(np.float32))
                        for v in views], axis=0)

    print(f"model {args.model.name}: real set {len(real)} single digits, "
          + ", ".join(f"{name} {len(x)}" for name, (x, _) in sets.items()))
    for name, copies in CHOICES.items():
        p = probabilities(real, copies)
        answer = p.argmax(axis=1)
        right = answer == real_labels
        cells = [f"{kind} {int(right[kinds == kind].sum())}/{int((kinds == kind).sum())}"
                 for kind in KINDS] + [f"all {int(right.sum())}/{len(right)}"]
        for set_name, (x, y) in sets.items():
            cells.append(f"{set_name} {(probabilities(x, copies).argmax(axis=1) == y).mean():.2%}")
        misses = " ".join(f"{real_labels[i]}->{answer[i]} ({p[i].max():.2f})"
                          for i in np.nonzero(~right)[0])
        print(f"{name}: " + ", ".join(cells) + f"; misses: {misses}", flush=True)


if __name__ == "__main__":
    main()
