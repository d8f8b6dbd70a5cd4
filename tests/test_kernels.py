"""The kernel bank's matrices and the custom-kernel parser."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnkit.imaging import kernels
from cnnkit.errors import KernelError


def test_named_matrices_are_the_textbook_ones():
    np.testing.assert_array_equal(kernels.build("laplacian").kernel,
                                  [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    np.testing.assert_array_equal(kernels.build("laplacian8").kernel,
                                  [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
    np.testing.assert_array_equal(kernels.build("emboss").kernel,
                                  [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
    np.testing.assert_array_equal(kernels.build("sobel-y").kernel,
                                  [[-1, -2, -1], [0, 0, 0], [1, 2, 1]])


@pytest.mark.parametrize("name", [s.name for s in kernels.BANK])
def test_every_kernel_builds_odd_float32_matrices(name):
    flt = kernels.build(name)
    assert len(flt.kernels) == (2 if flt.magnitude else 1)
    for k in flt.kernels:
        assert k.dtype == np.float32 and k.ndim == 2
        assert k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1
        assert np.all(np.isfinite(k))


@pytest.mark.parametrize("name", ["laplacian", "laplacian8", "log", "sobel-x", "scharr-y",
                                  "prewitt-x", "outline"])
def test_edge_detectors_are_zero_sum(name):
    assert kernels.describe(kernels.build(name).kernel)["zero_sum"]


@pytest.mark.parametrize("name", ["box", "gaussian", "identity", "sharpen", "unsharp", "motion"]
                         + [f"emboss:{d}" for d in kernels.DIRECTIONS])
def test_brightness_preserving_kernels_sum_to_one(name):
    name, _, direction = name.partition(":")
    flt = kernels.build(name, direction=direction or None)
    assert flt.kernel.sum() == pytest.approx(1.0, abs=1e-5)


@given(sigma=st.floats(0.3, 5.0))
def test_gaussian_and_log_sizes_follow_sigma(sigma):
    size = 2 * int(np.ceil(3 * sigma)) + 1
    g = kernels.gaussian(sigma)
    assert g.shape == (size, size)
    assert g.sum() == pytest.approx(1.0, abs=1e-5)
    log = kernels.laplacian_of_gaussian(sigma)
    assert abs(float(log.sum(dtype=np.float64))) < 1e-5
    assert log[size // 2, size // 2] == log.min() < 0  # negative centre, like laplacian


def test_parameters_change_the_kernel():
    assert kernels.build("box", size=5).kernel.shape == (5, 5)
    assert kernels.build("gaussian", sigma=2.0, size=7).kernel.shape == (7, 7)
    east = kernels.build("emboss", direction="e").kernel
    np.testing.assert_array_equal(east, [[-1, 0, 1], [-1, 1, 1], [-1, 0, 1]])


def test_unknown_name_suggests_the_closest():
    with pytest.raises(KernelError, match="did you mean 'laplacian'"):
        kernels.build("laplacan")
    with pytest.raises(KernelError, match="choose from"):
        kernels.build("zzzzzz")


def test_parameter_the_kernel_does_not_take_is_an_error():
    with pytest.raises(KernelError, match="'laplacian' does not take --sigma"):
        kernels.build("laplacian", sigma=2.0)


@pytest.mark.parametrize("size", [0, 4, -3])
def test_sizes_must_be_odd_and_positive(size):
    with pytest.raises(KernelError, match="positive odd"):
        kernels.build("box", size=size)


def test_aliases_resolve():
    assert kernels.build("blur").name == "box"
    assert kernels.build("EDGE").name == "outline"


def test_parse_matrix_forms():
    expected = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    np.testing.assert_array_equal(kernels.parse_matrix("0 1 0; 1 -4 1; 0 1 0"), expected)
    np.testing.assert_array_equal(kernels.parse_matrix("0,1,0\n1,-4,1\n# c\n0 1 0\n"), expected)
    np.testing.assert_allclose(kernels.parse_matrix("1/9 1/9 1/9"), [[1 / 9] * 3])


@pytest.mark.parametrize("text, message", [
    ("1 2; 3", "rows have different lengths"),
    ("1 x 3", "row 1: 'x' is not a number"),
    ("", "no numbers found"),
    ("1/0", "not a number"),
    ("inf 1 1", "not a finite number"),
])
def test_parse_matrix_errors(text, message):
    with pytest.raises(KernelError, match=message):
        kernels.parse_matrix(text)


@given(st.lists(st.lists(st.integers(-99, 99), min_size=3, max_size=3), min_size=1, max_size=5))
def test_parse_matrix_round_trips_integer_rows(rows):
    text = "; ".join(" ".join(map(str, r)) for r in rows)
    np.testing.assert_array_equal(kernels.parse_matrix(text), rows)


@given(st.text(max_size=40))
def test_parse_matrix_never_fails_with_anything_but_kernel_error(text):
    try:
        result = kernels.parse_matrix(text)
    except KernelError:
        return
    assert result.ndim == 2 and np.all(np.isfinite(result))


def test_load_matrix_text_and_npy(tmp_path):
    text = tmp_path / "k.txt"
    text.write_text("# a sharpen\n0 -1 0\n-1 5 -1\n0 -1 0\n")
    np.testing.assert_array_equal(kernels.load_matrix(text), kernels.build("sharpen").kernel)
    npy = tmp_path / "k.npy"
    np.save(npy, np.eye(3))
    np.testing.assert_array_equal(kernels.load_matrix(npy), np.eye(3))
    np.save(npy, np.ones((2, 2, 2)))
    with pytest.raises(KernelError, match="expected a 2-D numeric array"):
        kernels.load_matrix(npy)
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(KernelError, match="cannot read kernel"):
        kernels.load_matrix(tmp_path / "bad.npy")


def test_adjust_normalize_and_scale():
    k = np.array([[1, 2, 1]], np.float32)
    np.testing.assert_allclose(kernels.adjust(k, normalize=True), [[0.25, 0.5, 0.25]])
    np.testing.assert_allclose(kernels.adjust(k, scale=2), [[2, 4, 2]])
    with pytest.raises(KernelError, match="sum to 0"):
        kernels.adjust(kernels.build("laplacian").kernel, normalize=True)
