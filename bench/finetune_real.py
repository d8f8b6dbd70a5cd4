"""Fine-tuning the bundled digit model on real handwriting, measured on authors it never saw.

    python bench/finetune_real.py [--real ../shared/data/real_digits] [--data MNIST_DIR]
                                  [-- extra cnnkit train options]

The real digits (single/ pictures of ``labels.csv``) are split by author (the ``repo``
column) into two halves of about the same size: authors are taken largest first, each into
the half with fewer pictures so far. For each direction (fine-tune on A, test on B; then on B,
test on A) a temporary folder dataset of symbolic links is made outside the project (the
pictures are never copied), and the script runs the commands a user would:

    cnnkit evaluate --images HALF --prepare digits --json          (before, the bundled model)
    cnnkit train --images HALF --prepare digits --init BUNDLED ...  (the recipe below)
    cnnkit evaluate FINE_TUNED --images OTHER_HALF --json           (after)
    cnnkit evaluate MODEL --data MNIST --json                       (MNIST test, before/after)

and prints one table. Then, for each author with 20 or more pictures, the same is done
within that author ("teach the model your handwriting"): tuned on every other picture of
each digit, tested on the rest. Accuracy does not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real_digits"
MNIST = ROOT.parent / "shared" / "data" / "mnist"
BUNDLED = ROOT / "cnnkit" / "models" / "digit_classifier.npz"
# The recipe of docs/own-pictures.md: train only the last two Dense layers, gently, with
# MNIST pictures mixed in so the model keeps what it knew.
RECIPE = ["--freeze", "conv2d", "--epochs", "3", "--lr", "1e-4", "--batch-size", "32",
          "--val-split", "0", "--mix-mnist", "2000", "--seed", "0"]
SAME_AUTHOR_MIN = 20  # authors with this many pictures are also split within themselves


def halves(real: Path) -> tuple[list[dict], list[dict], list[str], list[str]]:
    with open(real / "labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["file"].startswith("single/")]
    counts = Counter(r["repo"] for r in rows)
    sides: tuple[list[str], list[str]] = ([], [])
    sizes = [0, 0]
    for repo, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        side = 0 if sizes[0] <= sizes[1] else 1
        sides[side].append(repo)
        sizes[side] += count
    a = [r for r in rows if r["repo"] in sides[0]]
    b = [r for r in rows if r["repo"] in sides[1]]
    return a, b, sides[0], sides[1]


def within_author(rows: list[dict]) -> list[tuple[str, list[dict], list[dict]]]:
    """(repo, half 1, half 2) for each author with SAME_AUTHOR_MIN pictures or more: every
    other picture of each digit, in file order."""
    found = []
    for repo, count in sorted(Counter(r["repo"] for r in rows).items()):
        if count < SAME_AUTHOR_MIN:
            continue
        mine = sorted((r for r in rows if r["repo"] == repo), key=lambda r: (r["label"],
                                                                             r["file"]))
        first, second, seen = [], [], Counter()
        for r in mine:
            (first if seen[r["label"]] % 2 == 0 else second).append(r)
            seen[r["label"]] += 1
        found.append((repo, first, second))
    return found


def make_dataset(rows: list[dict], real: Path, folder: Path) -> None:
    for row in rows:
        target = folder / row["label"]
        target.mkdir(parents=True, exist_ok=True)
        os.symlink((real / row["file"]).resolve(), target / Path(row["file"]).name)


def cnnkit(*args: str, env: dict) -> dict:
    """Run a cnnkit command; the last JSON line of its stdout."""
    done = subprocess.run([sys.executable, "-m", "cnnkit", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"cnnkit {' '.join(args)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", type=Path, default=REAL)
    parser.add_argument("--data", type=Path, default=MNIST)
    parser.add_argument("extra", nargs="*", help="more cnnkit train options (after --)")
    args = parser.parse_args()
    if not (args.real / "labels.csv").is_file():
        raise SystemExit(f"{args.real}: no labels.csv (the real digits are not here)")
    a, b, repos_a, repos_b = halves(args.real)
    authors = within_author(a + b)
    recipe = RECIPE + args.extra
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "CNNKIT_HOME": str(tmp / "home"),
               "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        make_dataset(a, args.real, tmp / "A")
        make_dataset(b, args.real, tmp / "B")
        mnist = ["--data", str(args.data)] if args.data.is_dir() else []
        before_mnist = cnnkit("evaluate", str(BUNDLED), *mnist, "--worst", "0", "--json",
                              env=env)["accuracy"]
        rows = []
        for train, test in (("A", "B"), ("B", "A")):
            before = cnnkit("evaluate", str(BUNDLED), "--images", str(tmp / test), "--prepare",
                            "digits", "--worst", "0", "--json", env=env)
            model = tmp / f"tuned_{train}.npz"
            cnnkit("train", "--images", str(tmp / train), "--prepare", "digits", "--init",
                   str(BUNDLED), *mnist, *recipe, "-o", str(model), "--json", env=env)
            after = cnnkit("evaluate", str(model), "--images", str(tmp / test), "--worst", "0",
                           "--json", env=env)
            after_mnist = cnnkit("evaluate", str(model), *mnist, "--worst", "0", "--json",
                                 env=env)["accuracy"]
            rows.append((train, test, before["images"], before["accuracy"], after["accuracy"],
                         after_mnist))
        own = []  # "teach the model your handwriting": the same author on both sides
        for k, (repo, first, second) in enumerate(authors):
            make_dataset(first, args.real, tmp / f"own{k}" / "train")
            make_dataset(second, args.real, tmp / f"own{k}" / "test")
            test = str(tmp / f"own{k}" / "test")
            before = cnnkit("evaluate", str(BUNDLED), "--images", test, "--prepare", "digits",
                            "--worst", "0", "--json", env=env)
            model = tmp / f"own{k}.npz"
            cnnkit("train", "--images", str(tmp / f"own{k}" / "train"), "--prepare", "digits",
                   "--init", str(BUNDLED), *mnist, *recipe, "-o", str(model), "--json", env=env)
            after = cnnkit("evaluate", str(model), "--images", test, "--worst", "0", "--json",
                           env=env)
            own.append((repo, len(first), before["images"], before["accuracy"],
                        after["accuracy"]))
    print(f"real digits split by author: A = {len(a)} pictures from {len(repos_a)} repos, "
          f"B = {len(b)} from {len(repos_b)}")
    print(f"recipe: cnnkit train --images HALF --prepare digits --init BUNDLED "
          f"{' '.join(recipe)}")
    print(f"{'tuned on':<9}{'tested on':<10}{'read':>6}{'before':>9}{'after':>9}"
          f"{'MNIST before':>14}{'MNIST after':>13}")
    for train, test, count, acc_before, acc_after, mnist_after in rows:
        print(f"{train:<9}{test:<10}{count:>6}{acc_before:>9.2%}{acc_after:>9.2%}"
              f"{before_mnist:>14.2%}{mnist_after:>13.2%}")
    print(f"one author's own handwriting (authors with {SAME_AUTHOR_MIN}+ pictures: tuned on "
          f"every other picture of each digit, tested on the rest)")
    print(f"{'author (repo)':<42}{'tuned':>6}{'tested':>7}{'before':>9}{'after':>9}")
    for repo, tuned, tested, acc_before, acc_after in own:
        print(f"{repo[:41]:<42}{tuned:>6}{tested:>7}{acc_before:>9.2%}{acc_after:>9.2%}")


if __name__ == "__main__":
    main()
