"""``cnnkit predict`` and the MNIST-style preprocessing behind it, with the bundled model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnkit import digits
from cnnkit.imaging import io as imaging
from tests.conftest import ROOT, invoke
from tests.test_fetch import SHARED_MNIST, needs_shared

sys.path.insert(0, str(ROOT / "bench"))
from user_digits import user_number, user_style  # noqa: E402


@pytest.fixture(scope="module")
def test_digits():
    if not SHARED_MNIST.is_dir():
        pytest.skip("no ../shared/data/mnist")
    from cnnkit.data.mnist import load_split

    return load_split("test", SHARED_MNIST)


def _picture(array, maxval=255.0):
    return imaging.Picture(np.asarray(array, np.float32), None, maxval)


def test_preprocessing_makes_a_centred_20px_white_on_black_digit():
    paper = np.full((300, 200), 230.0)
    paper[40:200, 60:75] = 20  # a dark vertical bar ("1") off-centre on light paper
    prepared = digits.prepare_digit(_picture(paper))
    digit = prepared.digit
    assert digit.shape == (28, 28) and digit.max() == pytest.approx(255, abs=1)
    rows = np.flatnonzero(digit.max(axis=1) > 0)
    assert rows[-1] - rows[0] + 1 == 20  # the longer side is 20 px
    ys, xs = np.mgrid[0:28, 0:28]
    assert abs((digit * ys).sum() / digit.sum() - 14) <= 0.5  # centre of mass at the centre
    assert abs((digit * xs).sum() / digit.sum() - 14) <= 0.5
    # the picture (300 px) is analysed at 192 px: the box covers the ink to within a pixel of
    # the working copy (300 / 192 = 1.6 px here)
    x0, y0, x1, y1 = prepared.box
    assert 58 <= x0 <= 60 and 38 <= y0 <= 40 and 75 <= x1 <= 77 and y1 == 200
    assert [name for name, _ in prepared.stages][1] == "2-ink-inverted"


def test_light_on_dark_is_not_inverted():
    dark = np.full((100, 100), 10.0)
    dark[20:80, 45:55] = 240
    assert digits.prepare_digit(_picture(dark)).stages[1][0] == "2-ink"


@pytest.mark.parametrize("noise", [0.0, 3.0])
def test_blank_pictures_have_no_digit(rng, noise):
    blank = 200 + rng.normal(0, noise, (120, 160))
    with pytest.raises(digits.NoDigitError, match="no digit found"):
        digits.prepare_digit(_picture(blank))


def test_uneven_lighting_is_removed():
    y, x = np.mgrid[0:200, 0:200]
    paper = 250 - 0.6 * x  # strong shading across the page
    paper[50:150, 95:105] -= 120
    prepared = digits.prepare_digit(_picture(paper))
    x0, y0, x1, y1 = prepared.box
    assert 94 <= x0 <= 95 and 105 <= x1 <= 106 and 49 <= y0 <= 50 and 150 <= y1 <= 151


def test_thick_strokes_stay_solid():
    """The paper is estimated around the ink, so the inside of a bold stroke stays ink (an
    opening-based estimate hollowed such strokes out, and the model misread them)."""
    paper = np.full((400, 400), 225.0) - np.linspace(0, 60, 400)[None, :]  # and shading
    paper[60:340, 150:250] = 30  # a "1" drawn with a 100 px marker
    digit = digits.prepare_digit(_picture(paper)).digit
    column = digit[:, 14]
    inside = column[column > 0]
    assert inside.size >= 18 and inside[2:-2].min() > 200  # solid from top to bottom


def test_a_small_digit_in_a_large_picture_is_looked_at_closely():
    page = np.full((1500, 2000), 235.0)
    page[500:700, 1300:1316] = 25  # a 200 px "1": 19 px tall on the 192 px working copy
    prepared = digits.prepare_digit(_picture(page))
    # looked at again from the full-resolution pixels around it: the box is as good as the
    # second working copy (3 px per pixel here), not the first (10 px)
    assert np.allclose(prepared.box, (1300, 500, 1316, 700), atol=3)
    assert np.flatnonzero(prepared.digit.max(axis=1) > 0).size == 20
    close = prepared.stages[0][1].shape
    assert close[0] == 192 and close[1] < 150  # a tall close-up, not the whole page (144x192)


def test_many_pictures_are_read_in_order_past_bad_ones(runner, tmp_path):
    """Pictures go through the model a chunk at a time; each result still belongs to its
    own file, and a bad file in the middle fails alone."""
    for k in range(70):
        bar = np.full((60, 60), 230, np.uint8)
        bar[10:50, 27:27 + 2 + k % 5] = 30  # ones of different thickness
        Image.fromarray(bar).save(tmp_path / f"p{k:02d}.png")
    (tmp_path / "p33.png").write_bytes(b"broken")
    result = invoke(runner, "predict", tmp_path, "--json")
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["input"]).name for r in records] == [f"p{k:02d}.png" for k in range(70)]
    assert [r["ok"] for r in records].count(False) == 1 and not records[33]["ok"]
    one = json.loads(invoke(runner, "predict", tmp_path / "p64.png", "--json").stdout)
    assert records[64]["confidence"] == pytest.approx(one["confidence"], abs=1e-6)
    assert records[64]["prediction"] == one["prediction"]


@needs_shared
def test_user_style_digits_are_read(test_digits):
    from cnnkit.nn.io import load_model

    images, labels = test_digits
    model, _ = load_model(ROOT / "cnnkit" / "models" / "digit_classifier.npz")
    rng = np.random.default_rng(11)
    prepared = [digits.prepare_digit(imaging.Picture(
        np.asarray(user_style(images[i], rng), np.float32), None, 255.0)).digit
        for i in range(40)]
    predicted = model.predict_proba(np.stack(prepared)[..., None] / 255).argmax(axis=1)
    assert (predicted == labels[:40]).mean() >= 0.95  # naive resizing gets about 0.1


@needs_shared
def test_predict_command_on_user_pictures(runner, test_digits, tmp_path):
    images, labels = test_digits
    rng = np.random.default_rng(3)
    for i in range(3):
        user_style(images[i], rng).save(tmp_path / f"d{i}_{labels[i]}.jpg", quality=90)
    result = invoke(runner, "predict", tmp_path, "--json", "--csv", tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["prediction"] for r in records] == [str(labels[i]) for i in range(3)]
    assert all(len(r["top"]) == 3 and r["top"][0]["probability"] >= r["top"][1]["probability"]
               for r in records)
    assert (tmp_path / "out.csv").read_text().startswith("input,prediction,confidence")
    table = invoke(runner, "predict", tmp_path / f"d0_{labels[0]}.jpg", "--top", "2")
    assert f": {labels[0]} (" in table.stdout and "%" in table.stdout


@needs_shared
def test_show_steps_saves_every_stage(runner, test_digits, tmp_path):
    images, _ = test_digits
    user_style(images[0], np.random.default_rng(1)).save(tmp_path / "d.jpg")
    result = invoke(runner, "predict", tmp_path / "d.jpg", "--show-steps", tmp_path / "steps")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "steps").iterdir())
    assert names[0] == "1-grey.png" and names[-1] == "8-centred-28x28.png" and len(names) == 8
    assert Image.open(tmp_path / "steps" / names[-1]).size == (224, 224)  # 28x28 shown 8x


@needs_shared
def test_multi_reads_a_number_left_to_right(runner, test_digits, tmp_path):
    images, labels = test_digits
    picks = [3, 5, 7, 11]  # test digits with clear shapes
    user_number([images[i] for i in picks], np.random.default_rng(5)).save(tmp_path / "n.jpg")
    result = invoke(runner, "predict", "--multi", tmp_path / "n.jpg", "--json", "--show-steps",
                    tmp_path / "steps")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["prediction"] == "".join(str(labels[i]) for i in picks)
    boxes = [d["box"] for d in record["digits"]]
    assert [b[0] for b in boxes] == sorted(b[0] for b in boxes)
    assert (tmp_path / "steps" / "2-boxes.png").exists()


def test_blank_picture_exits_1_with_one_line(runner, tmp_path):
    Image.new("L", (80, 80), 240).save(tmp_path / "blank.png")
    result = invoke(runner, "predict", tmp_path / "blank.png")
    assert result.exit_code == 1 and "no digit found" in result.stderr
    assert "Traceback" not in result.output


def test_min_confidence_exits_3_for_an_uncertain_read(runner, tmp_path):
    hook = np.full((60, 60), 230, np.uint8)
    hook[15:45, 28:31] = 40  # strokes, but no digit in particular
    hook[42:45, 18:31] = 40
    Image.fromarray(hook).save(tmp_path / "hook.png")
    result = invoke(runner, "predict", tmp_path / "hook.png", "--min-confidence", "0.999999")
    assert result.exit_code == 3 and "uncertain" in result.stdout
    solid = np.full((60, 60), 230, np.uint8)
    solid[20:40, 20:40] = 40  # a solid square is no digit at all
    Image.fromarray(solid).save(tmp_path / "square.png")
    result = invoke(runner, "predict", tmp_path / "square.png")
    assert result.exit_code == 1 and "no digit found (a solid blob" in result.stderr


def test_preprocess_none_needs_28x28(runner, grey_png, tmp_path):
    result = invoke(runner, "predict", grey_png, "--preprocess", "none")
    assert result.exit_code == 1 and "needs a 28x28 image, got 50x40" in result.stderr
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 13:16] = 255
    Image.fromarray(digit).save(tmp_path / "one.png")
    ok = invoke(runner, "predict", tmp_path / "one.png", "--preprocess", "none", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["prediction"] == "1"


@pytest.mark.parametrize("content, message", [(b"", "empty file"), (b"junk", "not an image")])
def test_bad_pictures_and_models(runner, tmp_path, content, message):
    (tmp_path / "bad.png").write_bytes(content)
    result = invoke(runner, "predict", tmp_path / "bad.png")
    assert result.exit_code == 1 and message in result.stderr
    (tmp_path / "model.npz").write_text("not a model")
    bad_model = invoke(runner, "predict", tmp_path / "bad.png", "--model", tmp_path / "model.npz")
    assert bad_model.exit_code == 1 and "not a cnnkit model file" in bad_model.stderr
