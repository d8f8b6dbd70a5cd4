"""The numpy twins (ops/ink_light.py) against the Numba kernels (ops/ink.py, ops/label.py):
bit for bit where a kernel is compiled without fastmath, the same masks, labels, boxes and
counts, and the same numbers to float rounding where fastmath lets LLVM reorder and fuse a
kernel's arithmetic. On the sample pictures, preparing a digit on the twins gives the digit
the kernels give."""

from __future__ import annotations

import inspect
import types

import numpy as np
import pytest
from numpy.testing import assert_allclose

from cnnkit.digits.numbers import find_digits
from cnnkit.digits.prepare import NoDigitError, prepare_digit, to_grey
from cnnkit.imaging.io import read_image
from cnnkit.ops import ink, ink_light, label
from tests.conftest import SAMPLES, python_output

PICTURES = sorted((SAMPLES / "digits").glob("*.jpg"))
KINDS = (ink.BOX, ink.BILINEAR, ink.LANCZOS)


def _kernel(name: str):
    return getattr(ink, name) if hasattr(ink, name) else getattr(label, name)


def _public(module: types.ModuleType) -> dict:
    """The functions a module defines and its upper-case int constants, by name."""
    return {name: value for name, value in vars(module).items() if not name.startswith("_")
            and ((inspect.isfunction(value) and value.__module__ == module.__name__)
                 or (name.isupper() and isinstance(value, int)))}


TWINS = sorted({**_public(ink), **_public(label)})


@pytest.fixture(scope="module")
def works() -> dict[str, np.ndarray]:
    """Each sample picture in grey, shrunk as prepare_digit shrinks it: (H, W) float32."""
    out = {}
    for path in PICTURES:
        grey = to_grey(read_image(path))
        factor = 192 / max(grey.shape)
        size = round(grey.shape[1] * factor), round(grey.shape[0] * factor)
        out[path.name] = ink.resample(grey, size, ink.BOX)
    return out


def test_importing_the_twins_starts_no_numba():
    code = ("import sys, cnnkit.ops.ink_light; print(sorted(m for m in sys.modules if "
            "m.split('.')[0] in ('numba', 'llvmlite') or m == 'cnnkit.ops._jit'))")
    assert python_output(code) == "[]"


def test_a_digit_is_prepared_on_the_twins_without_numba():
    """The twins standing in for the kernels' modules, as a one-picture command would use them:
    preparing a digit and cutting a number never import Numba."""
    code = f"""
import sys, types
import cnnkit.ops, cnnkit.ops.ink_light as twin
for name in ("ink", "label"):
    module = types.ModuleType("cnnkit.ops." + name)
    module.__dict__.update({{k: v for k, v in vars(twin).items() if not k.startswith("__")}})
    sys.modules[module.__name__] = module
    setattr(cnnkit.ops, name, module)
from cnnkit.digits.numbers import find_digits
from cnnkit.digits.prepare import prepare_digit
from cnnkit.imaging.io import read_image
digit = prepare_digit(read_image({str(SAMPLES / 'digits' / '0_7.jpg')!r})).digit
digits, _ = find_digits(read_image({str(SAMPLES / 'digits' / 'number_6770.jpg')!r}))
print(digit.shape, len(digits), "numba" in sys.modules)
"""
    assert python_output(code) == "(28, 28) 4 False"


def test_every_kernel_has_a_twin_with_its_signature():
    assert {"resample", "hysteresis", "label_components", "component_boxes", "BOX"} <= set(TWINS)
    for name in TWINS:
        kernel, twin = _kernel(name), getattr(ink_light, name)
        if isinstance(kernel, int):
            assert twin == kernel, name
        else:
            assert inspect.signature(twin) == inspect.signature(kernel), name


BAD_CALLS = {
    "resample 3-D": lambda m: m.resample(np.zeros((2, 2, 3), np.float32), (1, 1), m.BOX),
    "resample size": lambda m: m.resample(np.zeros((2, 2)), (0, 3), m.BOX),
    "resample kind": lambda m: m.resample(np.zeros((2, 2)), (1, 1), 7),
    "distribution bins": lambda m: m.level_distribution(np.zeros((3, 3)), 1000),
    "otsu 2-D": lambda m: m.otsu_level(np.zeros((2, 256), np.int64)),
    "otsu bins": lambda m: m.otsu_level(np.zeros(300, np.int64)),
    "paper_fit shapes": lambda m: m.paper_fit(np.zeros((4, 5)), np.zeros((5, 4), bool), 0.0),
    "paper_fit 1-D": lambda m: m.paper_fit(np.zeros(5), np.zeros(5, bool), 0.0),
    "hysteresis": lambda m: m.hysteresis(np.zeros((3, 4)), np.zeros((4, 3), bool), 0.5),
    "edge_gradients": lambda m: m.edge_gradients(np.zeros((3, 4)), np.zeros((3, 5), bool)),
    "keep_near": lambda m: m.keep_near(np.zeros(4), np.zeros(4, bool), 0, 1, 1),
    "kept_ink": lambda m: m.kept_ink(np.zeros((3, 4)), np.zeros((3,), bool), 0, 1, 1),
    "erosion_steps": lambda m: m.erosion_steps(np.zeros(4, bool)),
    "centre_of_mass": lambda m: m.centre_of_mass(np.zeros((2, 2, 2))),
    "stroke_width": lambda m: m.stroke_width(np.zeros(3)),
    "label_components": lambda m: m.label_components(np.zeros((2, 2, 2), bool)),
    "component_boxes": lambda m: m.component_boxes(np.zeros(5, np.int64), 0),
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_the_twins_refuse_what_the_kernels_refuse_in_the_same_words(call):
    with pytest.raises(ValueError) as kernel_error:
        call(ink)  # which holds label's functions too (digits/backend.py picks one module)
    with pytest.raises(ValueError) as twin_error:
        call(ink_light)
    assert str(twin_error.value) == str(kernel_error.value)


def _source(rng, shape, dtype) -> np.ndarray:
    if np.dtype(dtype).kind in "ui":
        return rng.integers(0, min(np.iinfo(dtype).max, 70_000), shape).astype(dtype)
    return (rng.random(shape) * 1.6 - 0.3).astype(dtype)  # beyond 0..1 too


def _same_resample(src, size, kind, scale=1.0):
    expected = ink.resample(src, size, kind, scale)
    got = ink_light.resample(src, size, kind, scale)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.array_equal(got, expected, equal_nan=True), (src.shape, size, kind, scale)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64])
def test_resample_is_the_kernels_bit_for_bit(rng, kind, dtype):
    for shape, size in [((300, 280), (192, 179)), ((50, 40), (120, 96)), ((64, 64), (13, 20)),
                        ((37, 91), (20, 37)), ((91, 37), (37, 150)), ((88, 67), (15, 20)),
                        ((1, 40), (7, 3)), ((40, 1), (1, 9)), ((1, 1), (5, 4)), ((9, 8), (8, 9))]:
        src = _source(rng, shape, dtype)
        for scale in (1.0, 1 / 255, 0.7):
            _same_resample(src, size, kind, scale)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_resample_to_the_same_size_only_scales_and_copies(rng, dtype):
    src = _source(rng, (23, 31), dtype)
    for scale in (1.0, 1 / 3):
        _same_resample(src, (31, 23), ink.BILINEAR, scale)
    assert not np.shares_memory(ink_light.resample(src, (31, 23), ink.BOX), src)


def test_resample_of_a_photo_block_by_block_is_the_kernels(rng, monkeypatch):
    """A large photo is converted and summed a block of rows at a time: blocks of a few rows
    (the block size made small) give the same pixels as the kernel's one pass."""
    monkeypatch.setattr(ink_light, "_BLOCK_VALUES", 3000)
    photo = rng.integers(0, 256, (613, 407), dtype=np.uint8)
    for kind in KINDS:
        _same_resample(photo, (120, 181), kind, 1 / 255)
        _same_resample(photo, (407, 100), kind, 1 / 255)  # the vertical pass alone
        _same_resample(photo[:40], (1000, 97), kind)


def test_resample_carries_infinities_as_the_kernel(rng):
    src = rng.random((30, 25), np.float32)
    src[7, 3] = np.inf
    src[20, 24] = -np.inf
    for kind in KINDS:
        _same_resample(src, (11, 13), kind)
        _same_resample(src, (60, 70), kind)


def test_resample_of_the_sample_pictures_is_the_kernels():
    for path in PICTURES:
        picture = read_image(path)
        grey = to_grey(picture)
        _same_resample(grey, (192, 150), ink.BOX)
        _same_resample(picture.pixels[..., 1], (150, 192), ink.BOX, 1 / picture.maxval)
        _same_resample(grey[50:140, 60:130], (15, 20), ink.LANCZOS)
        _same_resample(grey[:64, :60], (190, 192), ink.BILINEAR)


def _same_distribution(values, bins, step=1, levels=256):
    expected = ink.level_distribution(values, bins, step, levels)
    got = ink_light.level_distribution(values, bins, step, levels)
    assert got[0].dtype == np.int64 and np.array_equal(got[0], expected[0])
    assert got[1].dtype == np.float64 and np.array_equal(got[1], expected[1])
    assert type(got[2]) is float and got[2] == expected[2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.uint8])
def test_level_distribution_is_the_kernels_bit_for_bit(rng, dtype, works):
    for shape in [(61, 47), (500,), (4, 5, 6), (1, 80), (80, 1)]:
        values = (rng.random(shape) ** 3 * 1.3 - 0.1).astype(dtype)
        for bins, step, levels in [(4096, 1, 256), (4096, 3, 256), (256, 2, 256), (3000, 1, 100)]:
            _same_distribution(values, bins, step, levels)
    for work in works.values():
        _same_distribution(work.astype(dtype), 4096)
        _same_distribution(work.astype(dtype), 4096, 5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bins, levels", [(4096, 256), (3000, 100), (1200, 60)])
def test_level_distribution_counts_values_at_the_bins_edges_as_the_kernel(dtype, bins, levels):
    """Values at and next to every bin's edge, where a product rounded in another float type
    would fall in the bin next door (times 2999: times 4095 = 2**12 - 1, a float32 product
    never rounds across an integer)."""
    edges = (np.arange(bins) / (bins - 1)).astype(dtype)
    values = np.stack([np.nextafter(edges, dtype(-1)), edges, np.nextafter(edges, dtype(2))])
    _same_distribution(values, bins, 1, levels)


def test_otsu_level_is_the_kernels(rng):
    for counts in (rng.integers(0, 1000, 4096), np.zeros(256, np.int64),
                   rng.integers(0, 50, 1024).astype(np.int32), rng.random(512) * 100):
        for levels in (256, 64, 4):
            if counts.shape[0] % levels == 0:
                assert ink_light.otsu_level(counts, levels) == ink.otsu_level(counts, levels)


def _picture_paper(work: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The small copy of a picture's ink and the first guess at its paper, as paper_level."""
    scale = 64 / max(work.shape)
    size = max(4, round(work.shape[1] * scale)), max(4, round(work.shape[0] * scale))
    small = ink.resample(1 - work, size, ink.BOX).astype(np.float64)
    return small, small <= ink.level_distribution(small, 4096)[2], float(np.median(small))


def test_paper_fit_is_the_kernels_to_float_rounding(rng, works):
    y, x = np.mgrid[0:40, 0:50] / 50.0
    tilted = 0.2 + 0.1 * x - 0.05 * y + 0.04 * x * x + rng.normal(0, 0.002, x.shape)
    tilted[10:30, 20:24] += 0.6
    cases = [(tilted, tilted < 0.5, float(np.median(tilted)), 3),
             (rng.random((64, 48)), rng.random((64, 48)) < 0.7, 0.3, 5),
             (rng.random((1, 30)), np.ones((1, 30), bool), 0.1, 3),
             (rng.random((30, 1)).astype(np.float32), np.ones((30, 1), bool), 0.1, 3)]
    cases += [(*_picture_paper(work), 3) for work in works.values()]
    for small, paper, start, rounds in cases:
        before = paper.copy()
        expected = ink.paper_fit(small, paper, start, rounds)
        got = ink_light.paper_fit(small, paper, start, rounds)
        assert got.dtype == np.float64 and got.shape == expected.shape
        # fastmath: the kernel's sums run in another order (up to 5e-15 apart measured); a
        # pixel counted as paper by one and not the other would move the fit by ~1e-5
        assert_allclose(got, expected, rtol=0, atol=1e-7)
        assert np.array_equal(paper, before)  # the caller's mask is left alone
    few = np.zeros(tilted.shape, bool)
    few[:3, :3] = True  # fewer than 12 paper pixels: the start level
    assert np.array_equal(ink_light.paper_fit(tilted, few, 0.25), ink.paper_fit(tilted, few, 0.25))


def _masks(rng, shape):
    values = rng.random(shape)
    checker = np.indices(shape).sum(axis=0) % 2 == 0  # joined only diagonally
    return [values > 0.6, values > 0.3, values > 0.97, np.zeros(shape, bool),
            np.ones(shape, bool), checker]


def _snake(side: int) -> np.ndarray:
    """A path winding down and up every fourth column: one component whose runs join far
    from where it is first met."""
    mask = np.zeros((side, side), bool)
    mask[:, ::4] = True
    mask[0, 2::8] = mask[0, 1::8] = mask[0, 3::8] = True
    mask[-1, 5::8] = mask[-1, 6::8] = mask[-1, 7::8] = True
    return mask


def _same_labels(mask, extra=0):
    expected, count = label.label_components(mask)
    got, got_count = ink_light.label_components(mask)
    assert type(got_count) is int and got_count == count
    assert got.dtype == np.int64 and np.array_equal(got, expected)
    boxes = ink_light.component_boxes(got, count + extra)
    for got_part, part in zip(boxes, label.component_boxes(expected, count + extra)):
        assert got_part.dtype == np.int64 and np.array_equal(got_part, part)


def test_labels_and_boxes_are_the_kernels(rng, works):
    for shape in [(192, 192), (50, 40), (1, 60), (60, 1), (1, 1), (0, 5), (5, 0), (97, 300)]:
        for mask in _masks(rng, shape):
            _same_labels(mask)
    _same_labels(rng.random((40, 30)) > 0.5, extra=3)  # labels with no pixel: empty boxes
    _same_labels(_snake(101))
    _same_labels((rng.random((30, 20)) > 0.5).astype(np.uint8)[::-1])  # any mask-like array
    for work in works.values():
        big = ink.resample(work, (768, 700), ink.BILINEAR)
        for image in (work, big):
            _same_labels(image < np.median(image) - 0.1)  # the ink
            _same_labels(image < np.median(image))  # half the paper's texture too


def test_hysteresis_is_the_kernels(rng, works):
    for shape in [(60, 70), (1, 50), (50, 1), (192, 192)]:
        values = rng.random(shape, np.float32)
        for strong in _masks(rng, shape)[2:] + [values > 0.95]:
            for low in (0.3, 0.55, 0.9):
                expected = ink.hysteresis(values, strong, low)
                assert np.array_equal(ink_light.hysteresis(values, strong, low), expected)
    snake = _snake(64)
    seed = np.zeros(snake.shape, bool)
    seed[-1, -1] = True
    assert np.array_equal(ink_light.hysteresis(snake.astype(np.float64), seed, 0.5),
                          ink.hysteresis(snake.astype(np.float64), seed, 0.5))
    for work in works.values():
        faint = 1 - work
        strong = faint > np.quantile(faint, 0.99)
        for low in np.quantile(faint, [0.5, 0.8, 0.95]):
            expected = ink.hysteresis(faint, strong, low)
            assert np.array_equal(ink_light.hysteresis(faint, strong, low), expected)


def _same_kept_ink(values, mask, base, span, reach):
    expected, expected_edges = ink.kept_ink(values, mask, base, span, reach)
    got, edges = ink_light.kept_ink(values, mask, base, span, reach)
    assert got.dtype == edges.dtype == np.float32 and got.shape == expected.shape
    assert np.array_equal(got > 0, expected > 0)  # the same pixels kept
    assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert edges.shape == expected_edges.shape  # the same outline
    assert_allclose(edges, expected_edges, rtol=1e-6, atol=1e-7)
    assert_allclose(ink_light.keep_near(values, mask, base, span, reach), got, rtol=0, atol=0)
    assert_allclose(ink_light.edge_gradients(values, mask), ink.edge_gradients(values, mask),
                    rtol=1e-6, atol=1e-7)


def test_kept_ink_and_its_halves_are_the_kernels_to_float_rounding(rng, works):
    for shape in [(40, 45), (1, 30), (30, 1), (2, 2), (192, 192)]:
        for dtype in (np.float32, np.float64, np.uint8):
            values = _source(rng, shape, dtype)
            for mask in _masks(rng, shape):
                for base, span, reach in [(0.3, 0.5, 2), (0.0312, 0.8123, 0), (0.1, 0.7, 3)]:
                    _same_kept_ink(values, mask, base, span, reach)
    for work in works.values():
        faint = 1 - work
        floor = float(np.median(faint))
        mask = faint > floor + 0.2
        _same_kept_ink(faint, mask, floor + 0.03, 0.6, 2)


def test_erosion_steps_are_the_kernels(rng, works):
    disc = np.hypot(*np.mgrid[-10:11, -10:11]) <= 7.5
    edge = np.zeros((9, 9), bool)
    edge[:, :4] = True
    masks = [disc, edge, np.ones((3, 5), bool), np.zeros((4, 4), bool), np.ones((1, 7), bool)]
    for shape in [(28, 28), (1, 20), (20, 1), (60, 45)]:
        masks += _masks(rng, shape)
    masks += [ink.resample(work, (28, 28), ink.LANCZOS) < 0.5 for work in works.values()]
    for mask in masks:
        assert ink_light.erosion_steps(mask) == ink.erosion_steps(mask)
    assert type(ink_light.erosion_steps(disc)) is int


def test_centre_of_mass_and_stroke_width_are_the_kernels_to_float_rounding(rng, works):
    arrays = [_source(rng, shape, dtype) for shape in [(17, 23), (1, 30), (30, 1), (28, 28)]
              for dtype in (np.float32, np.float64, np.uint8)]
    arrays += [np.zeros((4, 6), np.float32), -np.ones((3, 3), np.float32)]
    arrays += [np.clip(1 - work, 0, 1) for work in works.values()]
    for values in arrays:
        expected, got = ink.centre_of_mass(values), ink_light.centre_of_mass(values)
        assert all(type(v) is float for v in got)
        assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
        width = ink_light.stroke_width(values)
        assert type(width) is float
        assert_allclose(width, ink.stroke_width(values), rtol=1e-6, atol=1e-12)


@pytest.fixture
def on_twins(monkeypatch):
    """Swap the twins into the kernels' modules (where cnnkit.digits finds them); the names
    of the twins called are collected in the set returned."""
    called: set[str] = set()

    def recorded(name, twin):
        def call(*args, **kwargs):
            called.add(name)
            return twin(*args, **kwargs)
        return call

    def swap():
        for name in TWINS:
            twin = getattr(ink_light, name)
            module = ink if hasattr(ink, name) else label
            monkeypatch.setattr(module, name, twin if isinstance(twin, int)
                                else recorded(name, twin))
        return called

    return swap


def test_digits_prepared_on_the_twins_are_the_kernels(on_twins):
    expected = {path.name: prepare_digit(read_image(path)) for path in PICTURES}
    called = on_twins()
    for path in PICTURES:
        got, wanted = prepare_digit(read_image(path)), expected[path.name]
        assert got.box == wanted.box
        assert_allclose(got.digit, wanted.digit, rtol=0, atol=1e-3)  # on 0..255
        assert [name for name, _ in got.stages] == [name for name, _ in wanted.stages]
        for (_, stage), (_, wanted_stage) in zip(got.stages, wanted.stages):
            assert_allclose(stage, wanted_stage, rtol=0, atol=1e-4)
        assert got.evidence.keys() == wanted.evidence.keys()
        for key, value in wanted.evidence.items():
            assert type(got.evidence[key]) is type(value), key
            assert_allclose(got.evidence[key], value, rtol=1e-6, atol=1e-9, err_msg=key)
    assert called >= {"resample", "level_distribution", "paper_fit", "hysteresis", "kept_ink",
                      "label_components", "component_boxes", "erosion_steps",
                      "centre_of_mass", "stroke_width"}


def test_numbers_cut_on_the_twins_are_the_kernels(on_twins):
    def cut(path):
        try:
            digits, cleaned = find_digits(read_image(path))
        except NoDigitError as error:
            return str(error)
        return [(d.box, d.digit) for d in digits], cleaned

    expected = {path.name: cut(path) for path in PICTURES}
    assert not isinstance(expected["number_6770.jpg"], str)
    called = on_twins()
    for path in PICTURES:
        got, wanted = cut(path), expected[path.name]
        if isinstance(wanted, str):
            assert got == wanted
            continue
        assert [box for box, _ in got[0]] == [box for box, _ in wanted[0]]
        for (_, digit), (_, wanted_digit) in zip(got[0], wanted[0]):
            assert_allclose(digit, wanted_digit, rtol=0, atol=1e-3)
        assert_allclose(got[1], wanted[1], rtol=0, atol=1e-4)
    assert {"resample", "label_components", "component_boxes"} <= called
