"""How well ``cnnkit predict`` reads digits that real people wrote, photographed or drew.

    python bench/real_digits_bench.py [--set ../shared/data/real_digits] [--model M.npz]
                                      [--worst 15] [--dump /tmp/failures] [--authors]

Runs the same code as ``cnnkit predict --json`` (each picture prepared by the predict command's
own ``_prepare_file`` and read by ``_result``, in process) over the set's ``labels.csv``:
single digits as plain ``predict``, ``multi/`` numbers as plain ``predict`` too (which reads
a number it detects) and with ``--multi``. Prints the accuracy per kind, the confusion matrix
and the worst cases (file, label, answer, confidence). ``--authors`` adds a line per author
(the ``repo`` column): right answers, the mean -log of the probability the model gave the
right digit and how many got less than 90%, so a change can be checked on authors whose
pictures were not looked at while making it. ``--dump`` writes each failure's
prepared 28x28 (8x enlarged) and stages to a folder, to look at; keep it outside the
repository, the set's pictures must not be copied into the project.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnnkit.cli import predict_run  # noqa: E402
from cnnkit.errors import CnnkitError  # noqa: E402
from cnnkit.nn.io import BUNDLED_MODEL, load_model  # noqa: E402


def read(network, scale: float, path: Path, multi: bool) -> dict:
    """What ``cnnkit predict [--multi] --json PATH`` reports, or {"error": ...}."""
    try:
        prepared = predict_run._prepare_file(path, multi, "mnist", 100_000_000)
    except CnnkitError as exc:
        return {"prediction": "", "confidence": 0.0, "error": str(exc), "prepared": None}
    batch = np.stack([d.digit for d in prepared.found])[..., None].astype(np.float32)
    probs = network.predict_proba(batch * np.float32(scale))
    result = predict_run._result(path, prepared, probs, 3, multi, None, None, False)
    result["prepared"] = prepared
    result["probs"] = probs
    return result


def measure(model: Path, folder: Path) -> dict:
    """Accuracy per kind of single digits (and "numbers": multi/ read exactly by plain predict
    and by --multi) with ``model``, as {kind: (right, total)}."""
    network, header = load_model(model)
    scale = float(header.get("input", {}).get("pixel_scale", 1 / 255))
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in csv.DictReader((folder / "labels.csv").open()):
        multi = row["file"].startswith("multi/")
        answers = [read(network, scale, folder / row["file"], m)
                   for m in ((False, True) if multi else (False,))]
        right = all(a["prediction"] == row["label"] and a.get("verdict", "digit") != "no digit"
                    for a in answers)
        for kind in (("numbers",) if multi else (row["kind"], "all")):
            counts[kind][0] += right
            counts[kind][1] += 1
    return {kind: tuple(v) for kind, v in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, default=ROOT.parent / "shared" / "data" / "real_digits")
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL)
    parser.add_argument("--worst", type=int, default=15)
    parser.add_argument("--dump", type=Path, help="write the failures' prepared digits here")
    parser.add_argument("--authors", action="store_true", help="a line per author (repo)")
    args = parser.parse_args()
    if not (args.set / "labels.csv").is_file():
        sys.exit(f"{args.set}: no labels.csv (the real-digit set is not on this machine)")
    network, header = load_model(args.model)
    scale = float(header.get("input", {}).get("pixel_scale", 1 / 255))
    rows = list(csv.DictReader((args.set / "labels.csv").open()))

    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    confusion = np.zeros((10, 11), np.int64)  # last column: no digit / not one digit
    failures, numbers = [], []
    authors: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0])
    for row in rows:
        path = args.set / row["file"]
        if row["file"].startswith("multi/"):
            plain, multi = read(network, scale, path, False), read(network, scale, path, True)
            numbers.append((row["file"], row["label"], plain["prediction"], multi["prediction"]))
            continue
        result = read(network, scale, path, False)
        answer, label = result["prediction"], int(row["label"])
        right = answer == row["label"] and result.get("verdict", "digit") != "no digit"
        for kind in (row["kind"], "all"):
            per_kind[kind][0] += right
            per_kind[kind][1] += 1
        given = float(result["probs"][0][label]) if result.get("probs") is not None else 0.0
        author = authors[row["repo"]]
        author[0] += right
        author[1] += 1
        author[2] += -np.log(max(given, 1e-4))  # the right digit's probability, floored
        author[3] += given < 0.9
        confusion[label, int(answer) if len(answer) == 1 and answer.isdigit() else 10] += 1
        if not right:
            failures.append((result["confidence"], row["file"], row["kind"], label, answer,
                             result.get("verdict", result.get("error", "")), result["prepared"]))

    print(f"model {args.model.name}, set {args.set}")
    print(f"{'kind':<12}{'right':>7}{'of':>6}{'accuracy':>10}")
    for kind in sorted(per_kind, key=lambda k: (k == "all", k)):
        right, total = per_kind[kind]
        print(f"{kind:<12}{right:>7}{total:>6}{right / total:>10.1%}")
    if args.authors:
        print(f"\n{'author (repo)':<58}{'right':>6}{'of':>5}{'-log p':>8}{'p<0.9':>7}")
        for repo in sorted(authors, key=str.lower):
            right, total, loss, under = authors[repo]
            print(f"{repo:<58}{right:>6}{total:>5}{loss / total:>8.3f}{under:>7}")
    print("\nconfusion (rows: label, columns: answer, '-': no single digit)")
    print("     " + "".join(f"{c:>4}" for c in "0123456789-"))
    for label in range(10):
        print(f"{label:>4} " + "".join(f"{v:>4}" if v else "   ." for v in confusion[label]))
    print("\nnumbers (multi/): label, plain predict, --multi")
    exact = 0
    for file, label, plain, multi in numbers:
        exact += plain == label and multi == label
        print(f"  {file:<40} {label:>8} {plain:>8} {multi:>8}")
    print(f"  read exactly by both: {exact} of {len(numbers)}")
    failures.sort(key=lambda f: -f[0])
    print(f"\nworst cases ({len(failures)} wrong, most confident first)")
    for confidence, file, kind, label, answer, note, _ in failures[:args.worst]:
        print(f"  {file:<44} {kind:<10} label {label}  answer {answer or '-':<4} "
              f"{confidence:6.1%}  {note[:40]}")
    if args.dump:
        args.dump.mkdir(parents=True, exist_ok=True)
        for _, file, _, label, answer, _, prepared in failures:
            if prepared is None:
                continue
            stem = Path(file).stem
            for name, stage in prepared.found[0].stages:
                image = Image.fromarray(np.clip(np.rint(stage * 255), 0, 255).astype(np.uint8))
                if max(stage.shape) <= 28:
                    image = image.resize((image.width * 8, image.height * 8), Image.NEAREST)
                image.save(args.dump / f"{stem}_L{label}_A{answer or 'none'}_{name}.png")


if __name__ == "__main__":
    main()
