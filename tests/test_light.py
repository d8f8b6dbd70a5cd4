"""The light path (ops/light.py) against the Numba path: the same pixels, figures and files,
bit for bit, so that which one runs never shows."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.errors import KernelError
from cnnkit.imaging import kernels
from cnnkit.imaging.encode import png_bytes
from cnnkit.imaging.filtering import FilterOptions, filter_to_pixels
from cnnkit.ops import light, pending
from cnnkit.ops.filter2d import BORDERS, filter2d
from cnnkit.ops.png import filter_rows

MODES = ("clip", "abs", "offset", "stretch", "edges")


def both_paths(monkeypatch, image, flt, options, mode, maxval, out_dtype=None, bands=None):
    """filter_to_pixels by Numba, then with the light path chosen (cut into up to ``bands``
    bands of rows on threads, however small, when given)."""
    numba_out = filter_to_pixels(image, flt, options, mode, maxval, out_dtype)
    with monkeypatch.context() as patch:
        patch.setattr(light, "numpy_pays", lambda values, taps=9: True)
        if bands is not None:
            patch.setattr(light, "BAND_VALUES", 1)
            patch.setattr(pending, "threads", bands)
        calls = []
        real = light.correlate_exact
        patch.setattr(light, "correlate_exact", lambda *a, **kw: calls.append(1) or real(*a, **kw))
        light_out = filter_to_pixels(image, flt, options, mode, maxval, out_dtype)
    return numba_out, light_out, bool(calls)


def assert_same(numba_out, light_out):
    (expected, expected_stats), (got, got_stats) = numba_out, light_out
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    assert got_stats == expected_stats


@pytest.mark.parametrize("name", ["laplacian", "sobel", "sharpen", "emboss", "prewitt"])
@pytest.mark.parametrize("mode", MODES)
def test_named_exact_kernels_give_the_numba_pixels(monkeypatch, rng, name, mode):
    flt = kernels.build(name)
    for shape, dtype in (((37, 23, 3), np.uint8), ((16, 41), np.uint16), ((5, 4, 3), np.uint8)):
        image = rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
        maxval = float(np.iinfo(dtype).max)
        for bands in (None, 3):
            numba_out, light_out, used = both_paths(monkeypatch, image, flt, FilterOptions(),
                                                    mode, maxval, bands=bands)
            assert used, f"{name} should be exact"
            assert_same(numba_out, light_out)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_exact_filter_gives_the_numba_pixels(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    dtype = data.draw(st.sampled_from([np.uint8, np.uint16]))
    height, width = data.draw(st.integers(1, 14)), data.draw(st.integers(1, 14))
    channels = data.draw(st.sampled_from([None, 1, 3, 4]))
    shape = (height, width) if channels is None else (height, width, channels)
    image = rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    kh, kw = data.draw(st.sampled_from([1, 3, 5])), data.draw(st.sampled_from([1, 3, 5, 7]))
    kernel = rng.integers(-4, 5, (kh, kw)).astype(np.float32)
    kernel *= np.float32(2.0 ** data.draw(st.integers(-6, 3)))
    border = data.draw(st.sampled_from(BORDERS))
    options = FilterOptions(
        op=data.draw(st.sampled_from(["conv", "corr"])), border=border,
        cval=float(data.draw(st.integers(-300, 300))), stride=data.draw(st.integers(1, 3)),
        bias=data.draw(st.sampled_from([0.0, 1.5, -20.25, 0.1])),
        relu=data.draw(st.booleans()))
    mode = data.draw(st.sampled_from(MODES))
    out_dtype = data.draw(st.sampled_from([None, np.uint8]))
    bands = data.draw(st.sampled_from([None, 2, 3, 5]))
    flt = kernels.Filter("custom", (kernel,))
    maxval = float(np.iinfo(dtype).max)
    with pytest.MonkeyPatch.context() as patch:
        try:
            numba_out = filter_to_pixels(image, flt, options, mode, maxval, out_dtype)
        except KernelError as exc:
            patch.setattr(light, "numpy_pays", lambda values, taps=9: True)
            with pytest.raises(KernelError, match=re.escape(str(exc))):
                filter_to_pixels(image, flt, options, mode, maxval, out_dtype)
            return
        numba_out, light_out, used = both_paths(patch, image, flt, options, mode, maxval,
                                                out_dtype, bands)
    assert used  # small integer multiples of a power of two: always exact
    assert_same(numba_out, light_out)


def test_sums_that_may_round_go_the_numba_way(monkeypatch, rng):
    image = rng.integers(0, 256, (12, 10)).astype(np.uint8)
    wide = rng.integers(0, 65536, (12, 10)).astype(np.uint16)
    for kernel, picture in ((np.full((3, 3), 1 / 9), image),  # not a power-of-two unit
                            (kernels.build("gaussian").kernel, image),
                            (np.full((17, 17), 1.0), wide),  # 289 x 65535 >= 2**24
                            (np.array([[1.0, 2.0 ** -20, 1.0]]), image)):  # too fine a unit
        numba_out, light_out, used = both_paths(
            monkeypatch, picture, kernels.Filter("custom", (kernel.astype(np.float32),)),
            FilterOptions(), "clip", float(np.iinfo(picture.dtype).max))
        assert not used
        assert_same(numba_out, light_out)
    assert light.exact_units(np.ones((3, 3), np.float32), 255, cval=0.5) is None
    integers, unit = light.exact_units(np.array([[0.25, -0.5, 0.75]], np.float32), 255)
    assert unit == 0.25 and integers.tolist() == [[1, -2, 3]]


def test_edge_cases_of_the_exact_sums_match_numba(monkeypatch):
    black = np.zeros((9, 8, 3), np.uint8)
    large_odd = kernels.Filter("custom", (np.array([[0.5000152587890625]], np.float32),))
    numba_out, light_out, used = both_paths(monkeypatch, black, large_odd, FilterOptions(),
                                            "clip", 255.0)
    assert used  # 32769 / 65536: a weight past int16, on a picture whose sums are all 0
    assert_same(numba_out, light_out)
    # cval is read by the zero border only; the others must not trip over a non-finite one
    picture = np.arange(80, dtype=np.uint8).reshape(10, 8)
    for cval in (float("nan"), float("inf")):
        numba_out, light_out, _ = both_paths(monkeypatch, picture, kernels.build("laplacian"),
                                             FilterOptions(border="reflect", cval=cval),
                                             "clip", 255.0)
        assert_same(numba_out, light_out)
    assert light.exact_units(np.array([[1.0, np.inf]], np.float32), 255) is None


def test_border_index_is_the_kernels(rng):
    from cnnkit.ops.filter2d import _border_index

    positions = np.arange(-40, 45)
    for n in (1, 2, 3, 7):
        for code, border in enumerate(BORDERS):
            expected = [_border_index(int(p), n, code) for p in positions]
            assert light.border_index(positions, n, border).tolist() == expected


def test_the_correlation_equals_filter2d_for_exact_kernels(rng):
    image = rng.integers(0, 256, (19, 17, 3)).astype(np.uint8)
    kernel = rng.integers(-3, 4, (5, 3)).astype(np.float32)
    units = light.exact_units(kernel, 255, cval=7)
    for border in BORDERS:
        for stride in (1, 2):
            expected = filter2d(image, kernel, border=border, cval=7, stride=stride)
            got = light.correlate_exact(image, kernel, units=units, border=border, cval=7,
                                        stride=stride)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("q", [99.9, 50.0, 0.0, 100.0])
def test_abs_percentile_is_numpys(rng, q):
    for n in (1, 2, 1000, 17_000, 300_001):
        for values in (rng.standard_normal(n) * 300, np.round(rng.standard_normal(n) * 9),
                       np.full(n, -3.0)):
            values = values.astype(np.float32)
            expected = float(np.percentile(np.abs(values), q))
            assert light.abs_percentile(values, q) == expected
            assert light.abs_percentile(np.array_split(values, 3), q) == expected  # bands


def test_png_row_filters_are_the_kernels(rng):
    for stride, bpp in ((31 * 3, 3), (40, 1), (32, 8), (24, 6), (9, 3)):
        for rows in (rng.integers(0, 256, (50, stride)),
                     rng.integers(0, 3, (50, stride)) * 100,
                     np.cumsum(rng.integers(0, 3, (50, stride)), axis=1)):
            rows = rows.astype(np.uint8)
            above = rng.integers(0, 256, stride).astype(np.uint8)
            np.testing.assert_array_equal(light.png_filter_rows(rows, above, bpp),
                                          filter_rows(rows, above, bpp))


def test_png_files_are_the_same_bytes(monkeypatch, rng):
    grey = rng.integers(0, 4, (70, 33)).astype(np.uint8) * 60
    colour = rng.integers(0, 65536, (20, 9, 3)).astype(np.uint16)
    for pixels, alpha in ((grey, None), (colour, None), (grey, 255 - grey)):
        expected = b"".join(png_bytes(pixels, alpha))
        with monkeypatch.context() as patch:
            patch.setattr(light, "numpy_pays", lambda values, taps=9: True)
            patch.setattr("cnnkit.ops.png.filter_rows", None)  # must not be called
            assert b"".join(png_bytes(pixels, alpha)) == expected


def test_png_pictures_read_alike_both_ways(monkeypatch, rng, tmp_path):
    from PIL import Image

    from cnnkit.imaging import io as imaging

    for mode, shape in (("RGB", (13, 9, 3)), ("L", (7, 30)), ("RGBA", (5, 6, 4))):
        path = tmp_path / f"{mode}.png"
        Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8), mode).save(path)
        own = imaging.read_image(path, native=True)
        with monkeypatch.context() as patch:
            patch.setattr(light, "numpy_pays", lambda values, taps=9: True)
            pillow = imaging.read_image(path, native=True)
        np.testing.assert_array_equal(pillow.pixels, own.pixels)
        assert pillow.pixels.dtype == own.pixels.dtype
        assert (pillow.alpha is None) == (own.alpha is None)
        if own.alpha is not None:
            np.testing.assert_array_equal(pillow.alpha, own.alpha)


def test_the_choice_is_numpy_only_before_numba_starts_and_for_small_work():
    import numba  # noqa: F401  (this test process has started Numba)

    assert not light.numpy_pays(10)
