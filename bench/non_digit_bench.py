"""How often ``cnnkit predict`` reads a digit in a picture that holds none.

    python bench/non_digit_bench.py [--count 200] [--seed 0] [--model M.npz] [--keep DIR]

Makes --count non-digit pictures (bench/non_digits.py: noise, blank paper, crops of the
photos in samples/, empty desks), reads each the way ``cnnkit predict --json`` and ``cnnkit
predict --multi --json`` do (in process, bench/real_digits_bench.py) and prints per kind how
many came back "no digit", "unsure" (flagged) or as a digit: a false accept.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from non_digits import KINDS, make  # noqa: E402
from real_digits_bench import read  # noqa: E402

from cnnkit.nn.io import BUNDLED_MODEL, load_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL)
    parser.add_argument("--keep", type=Path, help="write the pictures here (default: a temp dir)")
    args = parser.parse_args()
    network, header = load_model(args.model)
    scale = float(header.get("input", {}).get("pixel_scale", 1 / 255))
    with tempfile.TemporaryDirectory() as tmp:
        made = make(args.keep or Path(tmp), args.count, args.seed)
        plain, multi = Counter(), Counter()
        for path, kind in made:
            one = read(network, scale, path, False)
            plain[kind, "no digit" if "error" in one else one["verdict"]] += 1
            many = read(network, scale, path, True)
            if "error" in many:
                multi[kind, "no digit"] += 1
            else:
                multi[kind, many["verdict"]] += 1
                multi[kind, "digits reported"] += len(many["digits"])
    print(f"{args.count} non-digit pictures (seed {args.seed}), model {args.model.name}")
    print(f"{'kind':<14}{'no digit':>10}{'unsure':>8}{'digit':>7}   --multi: "
          f"{'no digit':>8}{'unsure':>8}{'digits':>8}")
    for kind in [*KINDS, None]:
        def count(counter, verdict):
            return sum(v for (k, what), v in counter.items()
                       if what == verdict and (kind is None or k == kind))
        name = kind or "all"
        print(f"{name:<14}{count(plain, 'no digit'):>10}{count(plain, 'unsure'):>8}"
              f"{count(plain, 'digit'):>7}   --multi: {count(multi, 'no digit'):>8}"
              f"{count(multi, 'unsure'):>8}{count(multi, 'digit'):>8}"
              f"  ({count(multi, 'digits reported')} digits reported in all)")
    accepted = sum(v for (_, what), v in plain.items() if what == "digit")
    print(f"false accepts (read as a digit, not flagged): {accepted} of {args.count} = "
          f"{accepted / args.count:.1%}")


if __name__ == "__main__":
    main()
