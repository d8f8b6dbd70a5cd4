"""Would test-time augmentation make the bundled model read real handwriting better?

    python bench/tta_bench.py [--data ../shared/data/mnist] [--set ../shared/data/real_digits]
                              [--model M.npz] [--count 2000]

Test-time augmentation asks the model about a few altered copies of each prepared 28x28 digit
and averages the probabilities. This script prepares each set once, as ``cnnkit predict``
does (the real set's single digits, ``predict_bench``'s user-style photos and printed digits,
and the MNIST test digits as they are), then reads every set with each choice of copies below
and prints the right answers per kind of the real set, the other sets' accuracy, and the real
set's misses (label -> answer, averaged probability). ``predict`` itself reads one copy; a
choice of copies would cost as many forward passes.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from predict_bench import font_digits, user_digits  # noqa: E402
from real_digits_bench import read  # noqa: E402

from cnnkit.data.mnist import load_split  # noqa: E402
from cnnkit.nn.io import BUNDLED_MODEL, load_model  # noqa: E402

KINDS = ("photo", "drawn", "scan", "mnist-like")


def shifted(digits: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """(N, 28, 28) moved by (dy, dx) px, zeros coming in."""
    out = np.zeros_like(digits)
    size = digits.shape[1]
    rows_to, rows_from = slice(max(dy, 0), size + min(dy, 0)), slice(max(-dy, 0), size - max(dy, 0))
    cols_to, cols_from = slice(max(dx, 0), size + min(dx, 0)), slice(max(-dx, 0), size - max(dx, 0))
    out[:, rows_to, cols_to] = digits[:, rows_from, cols_from]
    return out


def turned(digits: np.ndarray, degrees: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """(N, 28, 28) rotated about the centre and scaled, bilinear (Pillow, float32)."""
    out = np.empty_like(digits)
    for i, digit in enumerate(digits):
        image = Image.fromarray(digit.astype(np.float32), "F")
        image = image.transform(image.size, Image.AFFINE, _affine(degrees, scale),
                                resample=Image.BILINEAR)
        out[i] = np.asarray(image)
    return out


def _affine(degrees: float, scale: float) -> tuple:
    """Pillow's inverse affine map (output -> input) for a turn and scale about (14, 14)."""
    a = np.deg2rad(degrees)
    c, s = np.cos(a) / scale, np.sin(a) / scale
    return (c, s, 14 - 14 * c - 14 * s, -s, c, 14 + 14 * s - 14 * c)


def stroked(digits: np.ndarray, amount: float) -> np.ndarray:
    """(N, 28, 28) with a 3x3 grey dilation (amount > 0) or erosion (< 0) blended in."""
    padded = np.pad(digits, ((0, 0), (1, 1), (1, 1)))
    windows = [padded[:, a:a + 28, b:b + 28] for a in range(3) for b in range(3)]
    extreme = np.max(windows, axis=0) if amount > 0 else np.min(windows, axis=0)
    return digits + abs(amount) * (extreme - digits)


SHIFTS = [lambda d, s=s: shifted(d, *s) for s in ((1, 0), (-1, 0), (0, 1), (0, -1))]
CHOICES = {
    "one copy (what predict does)": [],
    "+ 4 shifts of 1 px": SHIFTS,
    "+ 4 shifts, 4 diagonal shifts": SHIFTS + [lambda d, s=s: shifted(d, *s)
                                              for s in ((1, 1), (1, -1), (-1, 1), (-1, -1))],
    "+ turned 6 degrees each way": [lambda d: turned(d, 6), lambda d: turned(d, -6)],
    "+ turned 10 degrees each way": [lambda d: turned(d, 10), lambda d: turned(d, -10)],
    "+ scaled 0.9 and 1.1": [lambda d: turned(d, 0, 0.9), lambda d: turned(d, 0, 1.1)],
    "+ strokes thicker and thinner": [lambda d: stroked(d, 0.3), lambda d: stroked(d, -0.3)],
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
