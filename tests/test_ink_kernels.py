"""The digit-preparation kernels (cnnkit.ops.ink, component_boxes) against numpy and Pillow."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from PIL import Image

from cnnkit.ops import ink
from cnnkit.ops.label import component_boxes, label_components

PILLOW = {ink.BOX: Image.BOX, ink.BILINEAR: Image.BILINEAR, ink.LANCZOS: Image.LANCZOS}


def _pillow(values: np.ndarray, size, kind) -> np.ndarray:
    return np.asarray(Image.fromarray(values, mode="F").resize(size, PILLOW[kind]), np.float32)


@pytest.mark.parametrize("kind", [ink.BOX, ink.BILINEAR, ink.LANCZOS])
@pytest.mark.parametrize("shape, size", [((37, 91), (20, 37)), ((37, 91), (200, 37)),
                                         ((91, 37), (37, 20)), ((91, 37), (37, 150))])
def test_resample_along_one_axis_is_pillows_exactly(kind, shape, size):
    pixels = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    grey = np.multiply(pixels, np.float32(1 / 255), dtype=np.float32)
    assert np.array_equal(ink.resample(pixels, size, kind, 1 / 255), _pillow(grey, size, kind))
    assert np.array_equal(ink.resample(grey, size, kind), _pillow(grey, size, kind))


@pytest.mark.parametrize("kind", [ink.BOX, ink.BILINEAR, ink.LANCZOS])
def test_resample_both_axes_matches_pillow_to_the_last_bit(kind):
    rng = np.random.default_rng(1)
    for shape, size in (((300, 280), (192, 179)), ((50, 40), (120, 96)), ((64, 64), (13, 20))):
        grey = rng.random(shape, np.float32)
        assert_allclose(ink.resample(grey, size, kind), _pillow(grey, size, kind),
                        rtol=0, atol=2e-7)


def test_resample_refuses_bad_arguments():
    with pytest.raises(ValueError, match="2-D"):
        ink.resample(np.zeros((2, 2, 3), np.float32), (1, 1), ink.BOX)
    with pytest.raises(ValueError, match="at least 1x1"):
        ink.resample(np.zeros((2, 2), np.float32), (0, 1), ink.BOX)


def _otsu_reference(values: np.ndarray) -> float:
    index = (np.clip(values, 0.0, 1.0) * 4095).astype(np.intp)
    hist = np.bincount(index.ravel(), minlength=4096).reshape(256, -1).sum(axis=1)
    hist = hist.astype(np.float64)
    centres = (np.arange(256) + 0.5) / 256
    weight = np.cumsum(hist)
    mean = np.cumsum(hist * centres)
    between = (mean[-1] * weight - mean * weight[-1]) ** 2 / np.maximum(
        weight * (weight[-1] - weight), 1e-12)
    return float(centres[int(np.argmax(between))])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_level_counts_cdf_and_otsu_match_numpy(dtype):
    rng = np.random.default_rng(2)
    values = (rng.random((61, 47)) ** 3 * 1.3 - 0.1).astype(dtype)
    expected = np.bincount((np.clip(values, 0.0, 1.0) * 4095).astype(np.intp).ravel(),
                           minlength=4096)
    counts, cdf, threshold = ink.level_distribution(values, 4096)
    assert np.array_equal(counts, expected)
    assert np.array_equal(cdf, np.cumsum(expected) / expected.sum())
    assert threshold == _otsu_reference(values)
    assert np.array_equal(ink.level_distribution(values, 4096, 3)[0], np.bincount(
        (np.clip(values[::3, ::3], 0.0, 1.0) * 4095).astype(np.intp).ravel(), minlength=4096))
    assert ink.otsu_level(counts) == threshold


def test_paper_fit_finds_a_tilted_paper_under_ink():
    y, x = np.mgrid[0:40, 0:50] / 50.0
    paper = 0.2 + 0.1 * x - 0.05 * y + 0.04 * x * x
    small = paper + np.random.default_rng(3).normal(0, 0.002, paper.shape)
    small[10:30, 20:24] += 0.6  # a stroke
    fit = ink.paper_fit(small, small < 0.5, float(np.median(small)))
    assert_allclose(fit, paper, atol=0.003)
    untouched = ink.paper_fit(small, np.zeros(small.shape, bool), 0.25)
    assert np.all(untouched == 0.25)  # too few paper pixels: the start level


def test_hysteresis_keeps_the_faint_parts_touching_strong_ink():
    rng = np.random.default_rng(4)
    values = rng.random((60, 70), np.float32)
    strong = values > 0.9
    low = 0.55
    labels, count = label_components(values > low)
    touching = np.zeros(count + 1, bool)
    touching[labels[strong]] = True
    touching[0] = False
    assert np.array_equal(ink.hysteresis(values, strong, low), touching[labels] | strong)


def test_edge_gradients_are_numpys_gradient_on_the_outline():
    rng = np.random.default_rng(5)
    values = rng.random((30, 33), np.float32)
    mask = values > 0.4
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    dy, dx = np.gradient(values)
    assert_allclose(ink.edge_gradients(values, mask), np.hypot(dx, dy)[mask & ~inner],
                    rtol=1e-6)


def test_keep_near_keeps_levels_within_a_diamond_of_the_mask():
    rng = np.random.default_rng(6)
    values = rng.random((40, 45), np.float32)
    mask = values > 0.97
    grown = mask.copy()
    for _ in range(2):
        step = grown.copy()
        step[1:] |= grown[:-1]
        step[:-1] |= grown[1:]
        step[:, 1:] |= grown[:, :-1]
        step[:, :-1] |= grown[:, 1:]
        grown = step
    base, span = np.float32(0.3), np.float32(0.5)
    expected = np.where(grown & (values > base), np.clip((values - base) / span, 0, 1), 0)
    assert_allclose(ink.keep_near(values, mask, base, span, 2), expected, rtol=1e-6)


def test_erosion_steps_count_crosses_and_squares():
    disc = np.hypot(*np.mgrid[-10:11, -10:11]) <= 7.5
    mask, depth = disc.copy(), 0
    while mask.any():
        inner = mask.copy()
        inner[1:] &= mask[:-1]
        inner[:-1] &= mask[1:]
        rows = inner if depth % 2 else mask
        inner[:, 1:] &= rows[:, :-1].copy()
        inner[:, :-1] &= rows[:, 1:].copy()
        mask, depth = inner, depth + 1
    assert ink.erosion_steps(disc) == depth > 5
    assert ink.erosion_steps(np.zeros((4, 4), bool)) == 0
    edge = np.zeros((9, 9), bool)
    edge[:, :4] = True  # the border counts as ink: a band along it erodes from one side
    assert ink.erosion_steps(edge) == 4
    assert ink.erosion_steps(np.ones((3, 5), bool)) == 5  # never vanishes: the larger side


def test_component_boxes_and_areas():
    mask = np.random.default_rng(7).random((50, 40)) > 0.7
    labels, count = label_components(mask)
    areas, boxes = component_boxes(labels, count)
    for k in range(count):
        ys, xs = np.nonzero(labels == k + 1)
        assert areas[k] == ys.size
        assert list(boxes[k]) == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_centre_of_mass_and_stroke_width():
    values = np.random.default_rng(8).random((17, 23), np.float32)
    total, cy, cx = ink.centre_of_mass(values)
    ys, xs = np.mgrid[0:17, 0:23]
    assert_allclose([total, cy, cx], [values.sum(), (values * ys).sum() / values.sum(),
                                      (values * xs).sum() / values.sum()], rtol=1e-5)
    assert ink.centre_of_mass(np.zeros((4, 6), np.float32))[1:] == (2.0, 3.0)
    dx = np.diff(values, axis=1, append=np.float32(0))
    dy = np.diff(values, axis=0, append=np.float32(0))
    assert_allclose(ink.stroke_width(values), 2 * values.sum() / np.hypot(dx, dy).sum(),
                    rtol=1e-5)
    bar = np.zeros((40, 40), np.float32)
    bar[5:35, 18:22] = 1  # 4 px wide: ends and corners make it a slight underestimate
    assert 3.4 < ink.stroke_width(bar) < 4
