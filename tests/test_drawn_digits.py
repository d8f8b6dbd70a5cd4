"""Digits drawn from pen-stroke templates (cnnkit.digits.drawn, cnnkit.ops.pen) and
``cnnkit train --drawn``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnkit.digits import drawn as strokes
from cnnkit.digits.stroke import stroke_width
from cnnkit.nn.train import TrainConfig, Trainer
from cnnkit.ops.pen import draw_segments
from tests.test_fetch import SHARED_MNIST


@pytest.mark.parametrize("width", [1.0, 2.5, 6.0])
def test_the_pen_draws_a_bar_as_wide_as_the_pen(width):
    canvas = np.zeros((40, 60), np.float32)
    draw_segments(canvas, np.array([[10, 20, 50, 20]]), width)
    column = canvas[:, 30]
    assert column.sum() == pytest.approx(width, abs=0.05)  # the coverage across the bar
    # the bar's middle is the line y = 20, between rows 19 and 20: a 1 px pen half covers both
    assert column[19] == column[20] == min(width / 2, 1)
    if width >= 2:  # (a thinner line is two half-covered rows, which measure 2 px)
        assert stroke_width(canvas) == pytest.approx(width, rel=0.15)
    # ink only within the pen's radius and a soft edge of the segment; round ends beyond it
    ys, xs = np.nonzero(canvas)
    beyond = np.maximum(np.maximum(10 - (xs + 0.5), xs + 0.5 - 50), 0)
    assert (np.hypot(beyond, ys + 0.5 - 20) < width / 2 + 0.5).all()
    assert xs.min() < 10 and xs.max() >= 50


def test_crossing_strokes_do_not_add_up():
    canvas = np.zeros((30, 30), np.float32)
    draw_segments(canvas, np.array([[5, 15, 25, 15], [15, 5, 15, 25]]), 3)
    assert canvas.max() == 1 and canvas[15, 15] == 1
    with pytest.raises(ValueError, match="float32"):
        draw_segments(np.zeros((5, 5)), np.zeros((1, 4)), 1)


@pytest.mark.parametrize("label", range(10))
def test_every_template_draws_an_mnist_style_digit(label):
    from cnnkit.ops.ink import centre_of_mass

    rng = np.random.default_rng(label)
    for style in range(len(strokes.TEMPLATES[label])):
        for _ in range(5):
            digit = strokes.draw_digit(label, rng, style)
            assert digit.shape == (28, 28) and digit.dtype == np.float32
            assert 0 <= digit.min() and digit.max() <= 1 and digit.max() > 0.9
            rows = np.flatnonzero(digit.max(axis=1) > 0.05)
            cols = np.flatnonzero(digit.max(axis=0) > 0.05)
            # MNIST's box: the longer side of the ink 20 px (a faint fringe may reach 22)
            assert 19 <= max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 22
            _, cy, cx = centre_of_mass(digit)
            assert abs(cy - 14) <= 0.6 and abs(cx - 14) <= 0.6
            # the pen is within MNIST's range of widths (a little more where strokes meet)
            assert 1.5 <= stroke_width(digit) <= 4.0


def test_a_closed_top_four_has_a_hole_and_an_open_one_has_none():
    from cnnkit.ops.label import label_components

    rng = np.random.default_rng(0)
    for style, holes in ((0, 0), (1, 1), (2, 1)):
        for _ in range(5):
            paper = strokes.draw_digit(4, rng, style) < 0.5
            _, count = label_components(paper)
            assert count - 1 == holes  # the paper around the digit, plus the holes in it


def test_drawn_digits_are_reproducible_from_the_seed():
    images, labels = strokes.drawn_digits(30, seed=5)
    again, _ = strokes.drawn_digits(30, seed=5)
    other, _ = strokes.drawn_digits(30, seed=6)
    assert images.shape == (30, 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == [k % 10 for k in range(30)]
    assert np.array_equal(images, again) and not np.array_equal(images, other)


def test_the_trainer_adds_drawn_digits_to_the_training_part_only():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (60, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 60).astype(np.uint8)
    config = TrainConfig(epochs=1, val_split=10, drawn=25)
    drawn, drawn_labels = strokes.for_recipe(config)
    trainer = Trainer(config, images, labels, drawn=(drawn, drawn_labels))
    assert len(trainer.images) == 50 + 25 and len(trainer.val_x) == 10
    assert np.array_equal(trainer.images[50:], drawn)
    assert np.array_equal(trainer.labels[50:], drawn_labels)
    assert np.array_equal(drawn, strokes.drawn_digits(25, seed=0)[0])
    with pytest.raises(ValueError, match="adds 25 drawn digits"):
        Trainer(config, images, labels)  # the recipe says 25, none given
    with pytest.raises(ValueError, match="holds 5 digits and 5 labels; the recipe adds 25"):
        Trainer(config, images, labels, drawn=(drawn[:5], drawn_labels[:5]))
    with pytest.raises(ValueError, match="28x28 grey"):
        Trainer(config, np.zeros((60, 32, 32, 3), np.uint8), labels, drawn=(drawn, drawn_labels))
    with pytest.raises(ValueError, match="drawn must be a whole number"):
        Trainer(TrainConfig(drawn=-1), images, labels)
    with pytest.raises(ValueError, match="drawn must be at most 100,000"):
        Trainer(TrainConfig(drawn=10**9), images, labels)  # a hostile checkpoint's recipe


def test_training_with_drawn_digits_resumes_exactly(tmp_path):
    """A checkpoint's recipe makes the same drawn digits again: stopped and resumed, training
    ends with the weights of a run that was never stopped."""
    from cnnkit.nn.train import resume_trainer, save_trainer
    from cnnkit.ops._jit import set_threads

    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (120, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 120).astype(np.uint8)
    config = dict(epochs=2, batch_size=32, val_split=20, drawn=40, seed=3)
    try:
        set_threads(1)
        whole = Trainer(TrainConfig(**config), images, labels,
                        drawn=strokes.for_recipe(TrainConfig(**config)))
        list(whole.run())
        first = Trainer(TrainConfig(**config), images, labels,
                        drawn=strokes.for_recipe(TrainConfig(**config)))
        batches = iter(first.run(should_stop=lambda: first.state.batch >= 2))
        list(batches)
        save_trainer(first, tmp_path / "m.ckpt.npz")
        again, _ = resume_trainer(tmp_path / "m.ckpt.npz", images, labels,
                                  drawn=strokes.for_recipe)
        assert len(again.images) == 100 + 40
        list(again.run())
    finally:
        set_threads(None)
    for (name, a), (_, b) in zip(whole.model.named_params(), again.model.named_params()):
        assert np.array_equal(a, b), name


def test_train_command_takes_drawn_and_records_it(tmp_path):
    if not SHARED_MNIST.is_dir():
        pytest.skip("no ../shared/data/mnist")
    from typer.testing import CliRunner

    from tests.conftest import invoke

    out = tmp_path / "m.npz"
    args = ["train", "--data", SHARED_MNIST, "--limit", "300", "--epochs", "1", "--val-split",
            "50", "--drawn", "40", "-o", out, "--quiet"]
    said = invoke(CliRunner(), *args[:-3], "-o", tmp_path / "said.npz")
    assert said.exit_code == 0 and "drew 40 digits" in said.output
    result = invoke(CliRunner(), *args)
    assert result.exit_code == 0, result.output
    info = json.loads(invoke(CliRunner(), "info", out, "--json").stdout)
    assert info["training"]["drawn"] == 40
    folder = tmp_path / "pictures"
    (folder / "a").mkdir(parents=True)
    bad = invoke(CliRunner(), "train", "--images", folder, "--drawn", "10", "-o",
                 tmp_path / "x.npz")
    assert bad.exit_code == 2 and "--drawn" in bad.output
    huge = invoke(CliRunner(), *args[:-3], "--drawn", "100001", "-o", tmp_path / "x.npz")
    assert huge.exit_code == 2 and "100000" in huge.output
    assert not (tmp_path / "x.npz").exists()


def test_the_bundled_model_reads_the_drawn_digits():
    """The templates look like the digits they are labelled: the bundled model reads nearly
    all of them (a template drawn wrong, or a label mixed up, fails here)."""
    from cnnkit.nn.io import BUNDLED_MODEL, load_model
    from cnnkit.nn.model import prepare

    model = load_model(BUNDLED_MODEL)[0]
    images, labels = strokes.drawn_digits(500, seed=11)
    answers = model.predict_proba(prepare(images)).argmax(axis=1)
    for label in range(10):
        right = (answers[labels == label] == label).mean()
        assert right >= 0.9, f"{label}: {right:.0%}"
