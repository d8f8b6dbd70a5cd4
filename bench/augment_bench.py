"""Which training augmentations make the bundled model read real handwriting.

    python bench/augment_bench.py [--data ../shared/data/mnist] [--out /tmp/augment]
                                  [--only NAME ...]

Trains the seed's architecture with each recipe below through the real ``cnnkit train``
command (same seed, 15 epochs), then reads the real-digit set (bench/real_digits_bench.py) with
each model and prints: recipe -> accuracy per kind, and the MNIST test accuracy the model
file records. The models go to --out (outside the repository); a model already there is
reused, so an interrupted run continues.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from real_digits_bench import measure  # noqa: E402

from cnnkit.nn.io import load_model  # noqa: E402

SHAPE = ["--rotate", "10", "--shear", "0.3", "--scale", "0.12"]
RECIPES = {
    "shifts (the seed's recipe)": [],
    "+ thickness": ["--thickness", "0.8"],
    "+ rotate, slant, scale": SHAPE,
    "+ elastic": ["--elastic", "1.0"],
    "+ thickness, rotate, slant, scale": ["--thickness", "0.8", *SHAPE],
    "+ all": ["--thickness", "0.8", *SHAPE, "--elastic", "1.0"],
    "mild: thickness, rotate, slant": ["--thickness", "0.5", "--rotate", "6", "--shear", "0.2"],
    "shifts, another seed": ["--seed", "1"],
    "mild + elastic": ["--thickness", "0.5", "--rotate", "6", "--shear", "0.2", "--elastic",
                       "0.5"],
    "mild + elastic, 25 epochs": ["--thickness", "0.5", "--rotate", "6", "--shear", "0.2",
                                  "--elastic", "0.5", "--epochs", "25"],
    "shifts, 25 epochs": ["--epochs", "25"],
    "mild + elastic, 25 epochs, another seed": ["--thickness", "0.5", "--rotate", "6",
                                                "--shear", "0.2", "--elastic", "0.5",
                                                "--epochs", "25", "--seed", "1"],
    "thickness + elastic, 25 epochs": ["--thickness", "0.5", "--elastic", "0.5", "--epochs",
                                       "25"],
    "+ drawn digits (the bundled model)": ["--drawn", "6000"],
    "+ drawn digits, another seed": ["--drawn", "6000", "--seed", "1"],
    "+ drawn digits, a third seed": ["--drawn", "6000", "--seed", "2"],
    "shifts, a third seed": ["--seed", "2"],
    "+ twice the drawn digits": ["--drawn", "12000"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("--set", type=Path, default=ROOT.parent / "shared" / "data" / "real_digits")
    parser.add_argument("--out", type=Path, default=Path("/tmp/augment"))
    parser.add_argument("--only", nargs="*", help="recipe numbers (0-based) to run")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    kinds = ["photo", "drawn", "scan", "mnist-like", "all", "numbers"]
    print("| recipe (flags) | " + " | ".join(kinds) + " | MNIST test |")
    print("| --- " * (len(kinds) + 2) + "|")
    for k, (name, flags) in enumerate(RECIPES.items()):
        if args.only and str(k) not in args.only:
            continue
        model = args.out / f"recipe{k}.npz"
        if not model.exists():
            subprocess.run([sys.executable, "-m", "cnnkit", "train", "--data", str(args.data),
                            "--quiet", "-o", str(model), *flags], check=True, cwd=ROOT)
        counts = measure(model, args.set)
        test = load_model(model)[1]["metrics"]["test_accuracy"]
        cells = [f"{counts[kind][0] / counts[kind][1]:.1%}" if kind != "numbers"
                 else f"{counts[kind][0]}/{counts[kind][1]}" for kind in kinds]
        print(f"| {name} `{' '.join(flags)}` | " + " | ".join(cells) + f" | {test:.2%} |",
              flush=True)


if __name__ == "__main__":
    main()
