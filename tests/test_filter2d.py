"""filter2d against the slow reference, scipy.ndimage, and the invariants of filtering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cnnkit.ops.filter2d import BORDERS, filter2d, output_shape
from tests import naive

ndimage = pytest.importorskip("scipy.ndimage")
SCIPY_MODE = {"zero": "constant", "reflect": "reflect", "mirror": "mirror",
              "replicate": "nearest", "wrap": "wrap"}


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("op", ["conv", "corr"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("kshape", [(3, 3), (1, 5), (5, 3), (7, 7)])
def test_matches_naive_reference(rng, border, op, stride, kshape):
    image = rng.random((11, 13, 2), dtype=np.float32)
    kernel = rng.standard_normal(kshape).astype(np.float32)
    reference = (naive.convolve if op == "conv" else naive.correlate)(
        image, kernel, border=border, cval=0.7, stride=stride)
    got = filter2d(image, kernel, op=op, border=border, cval=0.7, stride=stride)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, reference, rtol=1e-5, atol=1e-5)


images = arrays(np.float32, st.tuples(st.integers(1, 24), st.integers(1, 24)),
                elements=st.floats(-100, 100, width=32))
kernels = st.tuples(st.integers(0, 3), st.integers(0, 3)).flatmap(
    lambda hw: arrays(np.float32, (2 * hw[0] + 1, 2 * hw[1] + 1),
                      elements=st.floats(-4, 4, width=32)))


@settings(max_examples=150, deadline=None)
@given(image=images, kernel=kernels, border=st.sampled_from(sorted(SCIPY_MODE)),
       op=st.sampled_from(["conv", "corr"]), cval=st.floats(-10, 10))
def test_matches_scipy_ndimage(image, kernel, border, op, cval):
    scipy_filter = ndimage.convolve if op == "conv" else ndimage.correlate
    expected = scipy_filter(image.astype(np.float64), kernel.astype(np.float64),
                            mode=SCIPY_MODE[border], cval=cval)
    got = filter2d(image, kernel, op=op, border=border, cval=cval)
    scale = 1 + np.abs(image).max() * np.abs(kernel).sum()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * scale)


def test_valid_matches_scipy_interior(rng):
    image = rng.random((30, 25), dtype=np.float32)
    kernel = rng.random((5, 3), dtype=np.float32)
    full = ndimage.correlate(image, kernel, mode="reflect")
    np.testing.assert_allclose(filter2d(image, kernel, op="corr", border="valid"),
                               full[2:-2, 1:-1], rtol=1e-5, atol=1e-5)


def test_colour_channels_are_filtered_independently(rng):
    image = rng.random((16, 9, 3), dtype=np.float32)
    kernel = rng.standard_normal((3, 5)).astype(np.float32)
    whole = filter2d(image, kernel, border="wrap")
    for c in range(3):
        np.testing.assert_allclose(whole[..., c], filter2d(image[..., c], kernel, border="wrap"),
                                   rtol=1e-6, atol=1e-6)


def test_conv_and_corr_agree_for_symmetric_and_differ_for_asymmetric(rng):
    image = rng.random((20, 20), dtype=np.float32)
    symmetric = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)
    emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float32)
    np.testing.assert_array_equal(filter2d(image, symmetric, op="conv"),
                                  filter2d(image, symmetric, op="corr"))
    assert not np.allclose(filter2d(image, emboss, op="conv"), filter2d(image, emboss, op="corr"))


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_output_shape_formula(border, stride):
    image = np.zeros((17, 10), np.float32)
    kernel = np.ones((5, 3), np.float32)
    expected = ((17 - 5) // stride + 1, (10 - 3) // stride + 1) if border == "valid" else (
        int(np.ceil(17 / stride)), int(np.ceil(10 / stride)))
    assert filter2d(image, kernel, border=border, stride=stride).shape == expected
    assert output_shape(17, 10, (5, 3), border, stride) == expected


def test_blur_lowers_standard_deviation(rng):
    image = rng.random((64, 64), dtype=np.float32)
    box = np.full((5, 5), 1 / 25, np.float32)
    assert filter2d(image, box).std() < image.std() / 3


def test_zero_sum_kernel_maps_constant_image_to_zero_away_from_borders():
    image = np.full((20, 20), 37.0, np.float32)
    laplacian = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)
    out = filter2d(image, laplacian, border="zero")
    np.testing.assert_array_equal(out[1:-1, 1:-1], 0)
    assert out[0, 0] != 0  # the zero border is a real edge


def test_large_kernel_31x31(rng):
    image = rng.random((40, 40), dtype=np.float32)
    kernel = rng.random((31, 31), dtype=np.float32)
    np.testing.assert_allclose(filter2d(image, kernel, op="corr", border="mirror"),
                               ndimage.correlate(image.astype(np.float64), kernel, mode="mirror"),
                               rtol=1e-4)


@pytest.mark.parametrize("kernel, message", [
    (np.ones((4, 3)), "odd height and width, got 4x3"),
    (np.ones(3), "2-D matrix"),
    (np.full((3, 3), np.nan), "finite"),
    (np.ones((257, 1)), "at most 255"),
])
def test_bad_kernels_raise_value_error(kernel, message):
    with pytest.raises(ValueError, match=message):
        filter2d(np.zeros((5, 5), np.float32), kernel)


def test_valid_border_needs_an_image_as_large_as_the_kernel():
    with pytest.raises(ValueError, match="needs an image of at least 5x5, got 3x8"):
        filter2d(np.zeros((3, 8), np.float32), np.ones((5, 5)), border="valid")


def test_bad_options_raise():
    image, kernel = np.zeros((5, 5), np.float32), np.ones((3, 3))
    with pytest.raises(ValueError, match="border must be one of"):
        filter2d(image, kernel, border="same")
    with pytest.raises(ValueError, match="stride must be at least 1"):
        filter2d(image, kernel, stride=0)
    with pytest.raises(ValueError, match="op must be one of"):
        filter2d(image, kernel, op="xcorr")
