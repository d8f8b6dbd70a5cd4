"""How wide MNIST's strokes are, the figure cnnkit.digits.stroke brings pictures to.

    python bench/stroke_width.py [--data ../shared/data/mnist] [--count 60000]

Measures :func:`cnnkit.digits.stroke.stroke_width` (2 x ink / outline, on the grey levels) on
the training digits as they are (28x28, the ink's longer side 20 px) and prints the median
and the 10th/90th percentiles per digit and overall.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnnkit.data.mnist import load_split  # noqa: E402
from cnnkit.digits.stroke import stroke_width  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("--count", type=int, default=60000)
    args = parser.parse_args()
    images, labels = load_split("train", args.data)
    images, labels = images[:args.count], labels[:args.count]
    widths = np.array([stroke_width(d.astype(np.float32) / 255) for d in images])
    print(f"stroke width of {len(images)} MNIST training digits, px at 28x28")
    print(f"{'digit':<7}{'p10':>6}{'median':>8}{'p90':>6}")
    for digit in [*range(10), None]:
        chosen = widths if digit is None else widths[labels == digit]
        p10, p50, p90 = np.percentile(chosen, [10, 50, 90])
        print(f"{'all' if digit is None else digit:<7}{p10:>6.2f}{p50:>8.2f}{p90:>6.2f}")


if __name__ == "__main__":
    main()
