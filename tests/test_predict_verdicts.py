"""``cnnkit predict`` on what real users give it: hairline drawings, numbers given to plain
predict, and pictures with no digit at all; and the real handwriting in ../shared."""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnnkit import digits
from cnnkit.imaging import io as imaging
from cnnkit.digits import verdict
from tests.conftest import ROOT, SAMPLES, invoke

sys.path.insert(0, str(ROOT / "bench"))
from non_digits import KINDS  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real_digits"
SEVEN = [(0.2, 0.12), (0.8, 0.12), (0.42, 0.9)]
ZERO = [(0.3, 0.1, 0.7, 0.9)]


def _drawing(size: int, width: int, ink: int = 0, paper: int = 255, seven: bool = True):
    """A digit drawn in Paint: a ``width`` px line on a ``size`` px canvas."""
    image = Image.new("L", (size, size), paper)
    draw = ImageDraw.Draw(image)
    if seven:
        draw.line([(x * size, y * size) for x, y in SEVEN], fill=ink, width=width)
    else:
        draw.ellipse([v * size for v in ZERO[0]], outline=ink, width=width)
    return image


@pytest.mark.parametrize("size, width, ink, paper", [(400, 1, 0, 255), (280, 1, 255, 0),
                                                     (600, 2, 40, 200), (200, 24, 0, 255)])
def test_hairlines_and_marker_strokes_are_read(runner, tmp_path, size, width, ink, paper):
    for digit, seven in (("7", True), ("0", False)):
        path = tmp_path / f"{digit}.png"
        _drawing(size, width, ink, paper, seven).save(path)
        result = invoke(runner, "predict", path, "--json")
        assert result.exit_code == 0, result.output
        record = json.loads(result.stdout)
        assert record["prediction"] == digit and record["verdict"] == "digit", record


def test_show_steps_includes_the_stroke_width_stage(runner, tmp_path):
    _drawing(400, 1).save(tmp_path / "seven.png")
    result = invoke(runner, "predict", tmp_path / "seven.png", "--show-steps", tmp_path / "s")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s" / "6-stroke-width.png").is_file()
    cropped = np.asarray(Image.open(tmp_path / "s" / "5-cropped.png"), np.float32) / 255
    stroked = np.asarray(Image.open(tmp_path / "s" / "6-stroke-width.png"), np.float32) / 255
    assert stroked.mean() > 2 * cropped.mean()  # the hairline was thickened


@pytest.mark.parametrize("kind", list(KINDS))
def test_pictures_without_a_digit_get_the_verdict_no_digit(runner, tmp_path, kind):
    from non_digits import make

    made = [p for p, k in make(tmp_path / "pictures", 8, seed=3) if k == kind]
    result = invoke(runner, "predict", *made, "--json")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    refused = [r for r in records if not r["ok"] and "no digit found" in r["error"]]
    flagged = [r for r in records if r["ok"] and r["verdict"] == "unsure"]
    assert len(refused) + len(flagged) == len(made), records  # nothing confidently a digit
    assert result.exit_code == (1 if refused else 0)


def test_noise_is_no_digit_in_the_table_and_with_multi(runner, tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (300, 300), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    _drawing(300, 3).save(tmp_path / "seven.png")
    table = invoke(runner, "predict", tmp_path / "noise.png", tmp_path / "seven.png")
    assert table.exit_code == 1
    assert "noise.png: no digit found" in table.stderr and "Traceback" not in table.output
    assert "1 of 2 pictures read" in table.stdout and "no digit" in table.stdout
    multi = invoke(runner, "predict", "--multi", tmp_path / "noise.png", "--json")
    assert multi.exit_code == 1 and "no digit found" in json.loads(multi.stdout)["error"]


def test_plain_predict_reads_a_number_and_says_so(runner):
    result = invoke(runner, "predict", SAMPLES / "digits" / "number_6770.jpg", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["prediction"] == "6770" and len(record["digits"]) == 4
    assert "--multi" in record["note"]


def test_readme_first_command_reads_every_sample(runner):
    result = invoke(runner, "predict", SAMPLES / "digits", "--json")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    expected = {p.name: p.stem.split("_")[-1] for p in (SAMPLES / "digits").glob("*_*.jpg")}
    right = [r for r in records if r["prediction"] == expected[r["input"].split("/")[-1]]]
    # 18_3.jpg is an odd 3, flagged unsure (read 8 by the model bundled before --drawn, 3 now)
    flagged = [r for r in records if r["verdict"] != "digit"]
    assert len(right) >= len(records) - 1 and len(flagged) <= 1
    assert all(r in right or r["verdict"] == "unsure" for r in records)  # no sure wrong answer


def test_verdict_limits_are_outside_what_digits_show():
    good = {"parts": 2, "kept": 1.0, "ink": 0.1, "edges": 0, "contrast": 0.8, "depth": 2,
            "sharpness": 0.6, "aspect": 0.7}
    assert verdict.judge(good, 0.99) == (verdict.DIGIT, "")
    assert verdict.judge(good, 0.3)[0] == verdict.UNSURE
    assert verdict.judge({**good, "contrast": 0.2}, 0.99)[0] == verdict.DIGIT  # faint pencil
    for change in ({"parts": 40}, {"kept": 0.6}, {"ink": 0.6}, {"edges": 3}, {"depth": 7},
                   {"contrast": 0.2, "sharpness": 0.1}, {"aspect": 4.0}):
        assert verdict.judge({**good, **change}, 0.99)[0] == verdict.NO_DIGIT, change
    assert verdict.judge({**good, "aspect": 4.0}, 0.99, digits=3)[0] == verdict.DIGIT
    assert verdict.judge({}, 0.99)[0] == verdict.DIGIT  # --preprocess none: the model decides


def test_erosion_depth_is_the_half_width_of_the_ink():
    bar = np.zeros((28, 28), np.float32)
    bar[4:24, 13:15] = 1
    block = np.zeros((28, 28), np.float32)
    block[4:24, 4:24] = 1
    assert verdict.erosion_depth(bar) == 1 and verdict.erosion_depth(block) == 10


@pytest.fixture(scope="module")
def real_set():
    if not (REAL / "labels.csv").is_file():
        pytest.skip("no ../shared/data/real_digits")
    with (REAL / "labels.csv").open() as f:
        return list(csv.DictReader(f))


def test_real_handwriting_is_read(real_set):
    """The real-digit set (never copied into the project): 99.0%, every kind at least 97%
    (photos 97.6%) when this was written; 85.2% before the stroke width was normalised, 97.9%
    before the ink level, 98.6% (photos 96.3%) before the model learnt drawn digits."""
    from real_digits_bench import measure

    counts = measure(ROOT / "cnnkit" / "models" / "digit_classifier.npz", REAL)
    right, total = counts["all"]
    assert right / total >= 0.98
    assert counts["numbers"] == (2, 2)
    assert all(r / t >= 0.97 for kind, (r, t) in counts.items())


def test_no_real_digit_is_refused(real_set):
    refused = []
    for row in real_set[::3]:
        picture = imaging.read_image(REAL / row["file"], grey=True)
        if row["file"].startswith("single/"):
            prepared = digits.prepare_digit(picture)
            if verdict.not_a_digit(prepared.evidence):
                refused.append(row["file"])
    assert not refused
