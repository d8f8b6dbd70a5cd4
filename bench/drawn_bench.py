"""Which of the drawn-digit templates a model reads: what ``cnnkit train --drawn`` teaches.

    python bench/drawn_bench.py MODEL.npz [MODEL.npz ...] [--count 200]

Draws --count digits of every template in cnnkit/digits/drawn.py (each template from its own
seed, the same for every model) and prints, per template and model, the share read right and
the commonest wrong answer.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnnkit.digits.drawn import TEMPLATES, draw_digit  # noqa: E402
from cnnkit.nn.io import load_model  # noqa: E402
from cnnkit.nn.model import prepare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    networks = [load_model(path)[0] for path in args.models]
    print("| digit, template | " + " | ".join(p.name for p in args.models) + " |")
    print("| --- " * (len(networks) + 1) + "|")
    for label, templates in TEMPLATES.items():
        for style in range(len(templates)):
            rng = np.random.default_rng([label, style, 99])
            drawn = np.stack([np.rint(draw_digit(label, rng, style) * 255).astype(np.uint8)
                              for _ in range(args.count)])
            cells = []
            for network in networks:
                answers = network.predict_proba(prepare(drawn)).argmax(axis=1)
                right = float((answers == label).mean())
                wrong = Counter(answers[answers != label].tolist()).most_common(1)
                cells.append(f"{right:.0%}" + (f" (else {wrong[0][0]})" if wrong else ""))
            print(f"| {label}, {style} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
