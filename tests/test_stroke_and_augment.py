"""Stroke width normalisation (cnnkit.digits.stroke) and the training distortions
(cnnkit.ops.augment, the Trainer's augmentation options)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnnkit.digits import stroke
from cnnkit.nn.train import TrainConfig, Trainer
from cnnkit.ops.augment import distort_images, draw_distortions, shift_images
from tests.test_fetch import SHARED_MNIST


def _bar(height: int, width: int, thickness: int) -> np.ndarray:
    ink = np.zeros((height, width), np.float32)
    left = (width - thickness) // 2
    ink[5:height - 5, left:left + thickness] = 1
    return ink


@pytest.mark.parametrize("thickness", [1, 3, 6, 12])
def test_stroke_width_of_a_bar_is_its_thickness(thickness):
    length = 200
    measured = stroke.stroke_width(_bar(length + 10, 40, thickness))
    # the ends add 2 * thickness to the outline: w * L / (L + w)
    assert measured == pytest.approx(thickness * length / (length + thickness), rel=0.02)


def test_stroke_width_ignores_how_dark_the_ink_is_and_its_soft_edges():
    bar = _bar(210, 40, 6)
    soft = np.asarray(Image.fromarray(bar * 255).resize((80, 420), Image.BILINEAR),
                      np.float32) / 255  # twice the size, edges now grey
    assert stroke.stroke_width(0.4 * bar) == pytest.approx(stroke.stroke_width(bar), rel=1e-5)
    assert stroke.stroke_width(soft) == pytest.approx(2 * stroke.stroke_width(bar), rel=0.08)


def test_grey_dilation_and_erosion_move_both_edges_by_the_radius():
    bar = _bar(300, 60, 10)  # 290 x 10

    def expected(change):  # every edge moves by the radius: width and length change by 2r
        width, length = 10 + change, 290 + change
        return width * length / (width + length)

    for radius in (1.0, 2.5, 4.0):
        grown = stroke.stroke_width(stroke.morph(bar, radius, grow=True))
        shrunk = stroke.stroke_width(stroke.morph(bar, radius, grow=False))
        assert grown == pytest.approx(expected(2 * radius), abs=0.2)
        assert shrunk == pytest.approx(expected(-2 * radius), abs=0.2)
    assert np.array_equal(stroke.morph(bar, 0.0, grow=True), bar)


def _hairline_seven(size: int, width: int) -> np.ndarray:
    image = Image.new("F", (size, size), 0.0)
    ImageDraw.Draw(image).line([(size * 0.2, size * 0.1), (size * 0.8, size * 0.1),
                                (size * 0.4, size * 0.9)], fill=1.0, width=width)
    ink = np.asarray(image, np.float32)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


@pytest.mark.parametrize("size, width", [(400, 1), (300, 2), (60, 1), (300, 45)])
def test_strokes_end_in_mnist_range_at_28x28(size, width):
    crop = _hairline_seven(size, width)
    out, before, after = stroke.normalise_stroke(crop)
    assert stroke.THINNEST - 0.4 <= after <= stroke.THICKEST + 0.3, (before, after)
    if width == 45:
        assert before > stroke.THICKEST and after < before  # a marker blob thinned
    else:
        assert before < stroke.THINNEST and after > before  # a hairline thickened
    assert out.max() > 0.9 and out.min() == 0


def test_growing_strokes_keeps_small_loops_open():
    image = Image.new("F", (300, 300), 0.0)
    draw = ImageDraw.Draw(image)
    draw.line([(150, 20), (150, 280)], fill=1.0, width=2)  # a 4 with a small closed top
    draw.line([(150, 20), (120, 70), (150, 70)], fill=1.0, width=2)
    ink = np.asarray(image, np.float32)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    out, _, _ = stroke.normalise_stroke(crop)
    from cnnkit.ops.label import label_components

    _, parts = label_components(out < 0.5)
    assert parts >= 2  # the paper outside, and the loop's inside still open


def test_a_rectangular_loop_is_reopened_too():
    crop = np.zeros((200, 16), np.float32)  # a narrow 0 drawn as a box, 1 px lines
    crop[[0, -1], :] = 1
    crop[:, [0, -1]] = 1
    out, _, _ = stroke.normalise_stroke(crop)  # the hole is its own bounding box
    from cnnkit.ops.label import label_components

    assert label_components(out < 0.5)[1] >= 2


def test_faint_strokes_are_raised_to_mnist_level_and_strong_ones_left_alone():
    seven = _hairline_seven(300, 12)
    faint = 0.5 * seven
    faint[:40] *= 0.6  # the top bar fainter still: a pen pressed less there
    raised = stroke.level_ink(faint)
    ink = raised[raised > 0.1]
    assert np.median(ink) == pytest.approx(stroke.INK_LEVEL, abs=0.02)
    # one gain for the whole crop: the paper stays paper and the bar stays fainter
    assert np.array_equal(raised == 0, faint == 0)
    assert raised[:40].max() < raised[40:].max()
    assert np.array_equal(stroke.level_ink(seven), seven)  # already at MNIST's level
    out, _, _ = stroke.normalise_stroke(faint)
    assert np.median(out[out > 0.1]) >= stroke.INK_LEVEL - 0.05


def test_mnist_ink_level_is_the_documented_figure():
    if not SHARED_MNIST.is_dir():
        pytest.skip("no ../shared/data/mnist")
    from cnnkit.data.mnist import load_split

    images, _ = load_split("train", SHARED_MNIST)
    levels = [np.median(d[d > 25]) / 255 for d in images[:2000]]
    assert np.median(levels) == pytest.approx(0.89, abs=0.02)
    assert stroke.INK_LEVEL == pytest.approx(np.median(levels), abs=0.02)


def test_mnist_stroke_width_is_the_documented_figure():
    if not SHARED_MNIST.is_dir():
        pytest.skip("no ../shared/data/mnist")
    from cnnkit.data.mnist import load_split

    images, _ = load_split("train", SHARED_MNIST)
    widths = [stroke.stroke_width(d.astype(np.float32) / 255) for d in images[:2000]]
    assert np.median(widths) == pytest.approx(stroke.MNIST_WIDTH, abs=0.1)
    assert stroke.THINNEST < stroke.MNIST_WIDTH < stroke.THICKEST


def _digits(rng, n=16):
    images = np.zeros((n, 28, 28), np.uint8)
    for k in range(n):
        images[k, 6:22, 12 + k % 3:15 + k % 3] = 255
        images[k, 6:9, 8:20] = 200
    return images


def test_distortion_with_identity_parameters_changes_nothing(rng):
    images = _digits(rng)
    affine, field, thickness = draw_distortions(rng, len(images))
    assert np.array_equal(distort_images(images, affine, field, thickness), images)


def test_a_whole_pixel_translation_is_a_shift(rng):
    images = _digits(rng)
    affine, field, thickness = draw_distortions(rng, len(images))
    affine[:, 4], affine[:, 5] = -1, 2  # sample one up and two right: move down 1, left 2
    shifted = shift_images(images, np.tile([[1, -2]], (len(images), 1)))
    assert np.array_equal(distort_images(images, affine, field, thickness), shifted)


def test_thickness_and_rotation_do_what_they_say(rng):
    images = _digits(rng)
    affine, field, _ = draw_distortions(rng, len(images))
    ink = images.astype(np.int64).sum()
    thicker = distort_images(images, affine, field, np.full(len(images), 1.0, np.float32))
    thinner = distort_images(images, affine, field, np.full(len(images), -1.0, np.float32))
    assert thinner.astype(np.int64).sum() < ink < thicker.astype(np.int64).sum()
    quarter = np.tile(np.float32([0, -1, 1, 0, 0, 0]), (len(images), 1))  # 90 degrees
    turned = distort_images(images, quarter, field, np.zeros(len(images), np.float32))
    # about (14, 14), the MNIST centre: a quarter turn of the whole 28x28 then one px along
    assert np.array_equal(turned[0, :, 1:], np.rot90(images[0], -1)[:, :-1])


def test_distortions_stay_mild_and_keep_the_ink(rng):
    images = _digits(rng, 64)
    params = draw_distortions(rng, 64, rotate=6, shear=0.2, scale=0.1, shift=2, elastic=0.5,
                              thickness=0.5)
    out = distort_images(images, *params)
    ratio = out.astype(np.int64).sum(axis=(1, 2)) / images.astype(np.int64).sum(axis=(1, 2))
    assert 0.6 < ratio.min() and ratio.max() < 1.8
    assert not np.array_equal(out, images)


def test_distort_images_validates_its_inputs(rng):
    images = _digits(rng, 4)
    affine, field, thickness = draw_distortions(rng, 4)
    with pytest.raises(ValueError, match="uint8"):
        distort_images(images.astype(np.float32), affine, field, thickness)
    with pytest.raises(ValueError, match="affine must be"):
        distort_images(images, affine[:3], field, thickness)
    with pytest.raises(ValueError, match="field must be"):
        distort_images(images, affine, field[:, :1], thickness)


def test_training_with_distortions_is_reproducible_from_the_seed():
    from cnnkit.ops._jit import set_threads

    data_rng = np.random.default_rng(3)
    images = _digits(data_rng, 200)
    labels = data_rng.integers(0, 10, 200).astype(np.uint8)
    recipe = dict(epochs=1, val_split=20, rotate=6, shear=0.2, scale=0.1, elastic=0.5,
                  thickness=0.5)
    runs = []
    try:
        set_threads(1)
        for seed in (7, 7, 8):
            trainer = Trainer(TrainConfig(seed=seed, **recipe), images, labels)
            list(trainer.run())
            runs.append(trainer.model.named_params()[-1][1].copy())
    finally:
        set_threads(None)
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])
    with pytest.raises(ValueError, match="must be a number from 0"):
        Trainer(TrainConfig(rotate=-1), images, labels)


def test_train_command_takes_the_augmentation_options(tmp_path):
    if not SHARED_MNIST.is_dir():
        pytest.skip("no ../shared/data/mnist")
    import json

    from typer.testing import CliRunner

    from tests.conftest import invoke

    out = tmp_path / "m.npz"
    args = ["train", "--data", SHARED_MNIST, "--limit", "300", "--epochs", "1", "--val-split",
            "50", "--rotate", "6", "--shear", "0.2", "--scale", "0.1", "--elastic", "0.5",
            "--thickness", "0.5", "-o", out, "--quiet"]
    result = invoke(CliRunner(), *args)
    assert result.exit_code == 0, result.output
    info = invoke(CliRunner(), "info", out, "--json")
    training = json.loads(info.stdout)["training"]
    assert (training["rotate"], training["shear"], training["scale"], training["elastic"],
            training["thickness"]) == (6.0, 0.2, 0.1, 0.5, 0.5)
    bad = invoke(CliRunner(), *args[:-3], "--rotate", "-1", "-o", tmp_path / "x.npz")
    assert bad.exit_code == 2
