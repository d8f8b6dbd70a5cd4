"""The 8/16-bit filter path: row blocks, exact range statistics, cnnkit's PNG encoder, pipes."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from cnnkit.imaging import io as imaging
from cnnkit.imaging import kernels
from cnnkit.imaging.encode import _adler32_combine, png_bytes
from cnnkit.imaging.filtering import FilterOptions, apply_filter, filter_to_pixels
from cnnkit.ops.filter2d import BORDERS, FilterRows, filter2d
from cnnkit.ops.png import filter_rows, unfilter_rows
from cnnkit.ops.quantize import RangeStats
from tests import naive
from tests.conftest import ROOT, invoke


def float_path(image, flt, options, mode, maxval, out_dtype):
    """What cnnkit did before the 8-bit path: float32 image, filter, map_range, round."""
    mapped, stats = imaging.map_range(apply_filter(image.astype(np.float32), flt, options),
                                      mode, maxval)
    if out_dtype == np.uint16:
        return np.rint(mapped).astype(np.uint16), stats
    return np.clip(np.rint(mapped * np.float32(255.0 / maxval)), 0, 255).astype(np.uint8), stats


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_row_blocks_equal_the_whole_image_filter(rng, border, stride):
    # 129 rows at stride 3: the last row is read by no output but the first's wrapped one
    for size, shape in ((3, (130, 9, 3)), (5, (120, 13)), (7, (150, 8)), (3, (129, 5))):
        image = rng.integers(0, 256, shape).astype(np.uint8)
        kernel = rng.standard_normal((size, size)).astype(np.float32)
        expected = filter2d(image, kernel, border=border, cval=2.5, stride=stride)
        rows = FilterRows(image, kernel, border=border, cval=2.5, stride=stride)
        out = np.full((rows.out_h, rows.row_size), np.nan, np.float32)
        blocks = rows.blocks(budget=1)
        assert len(blocks) > 1 or border == "wrap"
        for start, stop in blocks:
            rows.compute(start, stop, out[start:])
        np.testing.assert_array_equal(out.reshape(rows.out_shape), expected)


def test_exact_percentile_from_two_histograms(rng):
    for n in (1, 2, 999, 1000, 1001, 54321):
        for values in (rng.standard_normal(n) * 300, np.round(rng.standard_normal(n) * 9),
                       np.full(n, 3.0)):
            values = values.astype(np.float32).reshape(1, -1)
            stats = RangeStats(99.9)
            stats.add(values)
            stats.refine(values)
            assert stats.percentile() == float(np.percentile(np.abs(values), 99.9))
            assert (stats.min, stats.max) == (float(values.min()), float(values.max()))


@pytest.mark.parametrize("name", ["laplacian", "sobel", "gaussian", "sharpen", "emboss", "log",
                                  "box", "random"])
def test_pixels_are_bit_identical_to_the_float_path(rng, name):
    flt = (kernels.Filter("random", (rng.standard_normal((3, 3)).astype(np.float32),))
           if name == "random" else kernels.build(name))
    cases = [(np.uint8, np.uint8, 255.0), (np.uint16, np.uint16, 65535.0),
             (np.uint16, np.uint8, 65535.0)]
    for index, mode in enumerate(["clip", "abs", "offset", "stretch", "edges"]):
        dtype, out_dtype, maxval = cases[index % 3]
        shape = (70, 23, 3) if index % 2 else (81, 17)
        if index == 4:
            shape = (5, 9)
        image = rng.integers(0, int(maxval) + 1, shape).astype(dtype)
        options = FilterOptions(border=["reflect", "zero", "valid", "mirror", "wrap"][index],
                                cval=7.5, stride=1 + index % 2, bias=-3.25 * (index % 2),
                                relu=index == 3)
        expected, expected_stats = float_path(image, flt, options, mode, maxval, out_dtype)
        pixels, stats = filter_to_pixels(image, flt, options, mode, maxval, out_dtype,
                                         budget=200)
        assert pixels.dtype == out_dtype
        np.testing.assert_array_equal(pixels, expected)
        assert stats == expected_stats
        copy = image.copy()
        pixels, stats = filter_to_pixels(copy, flt, options, mode, maxval, out_dtype,
                                         budget=200, overwrite=True)
        np.testing.assert_array_equal(pixels, expected)
        assert stats == expected_stats


@pytest.mark.parametrize("border", ["zero", "reflect", "mirror", "replicate"])
def test_one_pass_3x3_pixels_are_bit_identical_to_the_float_path(rng, border):
    for trial, mode in enumerate(["clip", "abs", "offset", "stretch", "edges"] * 2):
        height = [4, 5, 6, 7, 50, 51][trial % 6]
        dtype, maxval = (np.uint8, 255.0) if trial % 2 else (np.uint16, 65535.0)
        image = rng.integers(0, int(maxval) + 1, (height, 13, 3)[:2 + trial % 2]).astype(dtype)
        kernel = rng.standard_normal((3, 3)).astype(np.float32) / 3
        flt = kernels.Filter("random", (kernel,))
        options = FilterOptions(border=border, cval=11.5, bias=0.75 * (trial % 3),
                                relu=trial == 7)
        assert FilterRows(image, kernel, border=border).fused()
        expected, expected_stats = float_path(image, flt, options, mode, maxval, dtype)
        pixels, stats = filter_to_pixels(image, flt, options, mode, maxval)
        np.testing.assert_array_equal(pixels, expected)
        assert stats == expected_stats
        copy = image.copy()  # the one-pass kernel writing over its own source rows
        pixels, stats = filter_to_pixels(copy, flt, options, mode, maxval, budget=64,
                                         overwrite=True)
        np.testing.assert_array_equal(pixels, expected)
        assert stats == expected_stats
        assert height < 32 or np.shares_memory(pixels, copy)


def _photo_like(rng, shape):
    """Smooth shading, a few hard edges and grain: a spread of filter values with a tail."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    base = 120 + 60 * np.sin(rows / 17.0) * np.cos(cols / 23.0) + 50 * ((rows // 40 + cols // 30) % 2)
    base = base[..., None] if len(shape) == 3 else base
    return np.clip(base + rng.normal(0, 6, shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("guess", ["sampled", "wrong"])
def test_edges_percentile_from_values_kept_in_the_first_scan(rng, monkeypatch, guess):
    """The one-pass 3x3 scan keeps the values of the bins a sample points at, and needs no
    second scan when they hold the percentile; a wrong guess falls back to the second scan.
    Either way the pixels and statistics are the float path's, bit for bit."""
    from cnnkit.ops import quantize

    taken = []
    take = quantize.RangeStats.take_kept
    monkeypatch.setattr(quantize.RangeStats, "take_kept",
                        lambda self, *a: taken.append(take(self, *a)) or taken[-1])
    if guess == "wrong":  # bins far below any value of this picture's tail
        monkeypatch.setattr(quantize.RangeStats, "candidates",
                            lambda self, sample: np.array([0, 3], np.uint32))
    image = _photo_like(rng, (300, 140, 3))
    for name in ("laplacian", "sobel", "sharpen"):
        flt = kernels.build(name)
        if flt.magnitude:
            continue
        options = FilterOptions(border="reflect")
        expected, expected_stats = float_path(image, flt, options, "edges", 255.0, np.uint8)
        pixels, stats = filter_to_pixels(image, flt, options, "edges", 255.0)
        np.testing.assert_array_equal(pixels, expected)
        assert stats == expected_stats
        copy = image.copy()
        pixels, stats = filter_to_pixels(copy, flt, options, "edges", 255.0, budget=4000,
                                         overwrite=True)
        assert np.shares_memory(pixels, copy)
        np.testing.assert_array_equal(pixels, expected)
        assert stats == expected_stats
    assert taken and all(taken) == (guess == "sampled")


def test_kept_values_are_refused_when_some_were_dropped():
    stats = RangeStats(99.9)
    values = np.linspace(0, 100, 5000, dtype=np.float32).reshape(1, -1)
    stats.add(values)
    bins = stats.wanted().copy()
    bits = values.view(np.uint32).ravel() & 0x7FFFFFFF
    inside = bits[(bits >> 16 >= bins[0]) & (bits >> 16 <= bins[1])]
    kept = np.zeros((2, inside.size), np.uint32)
    kept[0] = inside
    assert not stats.take_kept(bins, kept[:, :-1], np.array([inside.size, 0]))  # one dropped
    assert stats.take_kept(bins, kept, np.array([inside.size, 0]))
    assert stats.percentile() == float(np.percentile(values, 99.9))


def test_filtering_a_picture_allocates_little_beyond_the_result(rng):
    image = rng.integers(0, 256, (1500, 1000, 3)).astype(np.uint8)  # 4.5 MB
    flt = kernels.build("laplacian")
    filter_to_pixels(image[:40], flt, FilterOptions(), "edges", 255.0, budget=1 << 15)  # warm
    tracemalloc.start()
    filter_to_pixels(image, flt, FilterOptions(), "edges", 255.0, budget=1 << 15)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # the uint8 result (4.5 MB), 3 MB of histograms (whatever the size) and a few blocks of
    # rows; the float path took 36 MB more (float32 copies of the picture and the result)
    assert peak < image.nbytes + (4 << 20), peak


def test_adler32_of_joined_pieces(rng):
    for _ in range(50):
        a, b = rng.bytes(int(rng.integers(0, 300))), rng.bytes(int(rng.integers(0, 300)))
        assert _adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


@pytest.mark.parametrize("bpp", [1, 2, 3, 4, 6, 8])
def test_png_row_filters_pick_the_lowest_score_and_invert(rng, bpp):
    for width in (1, 2, 5, 33):
        rows = rng.integers(0, 256, (6, width * bpp)).astype(np.uint8)
        rows[1] = rows[0]  # Up wins
        rows[2, bpp:] = rows[2, :-bpp] if width > 1 else rows[2, bpp:]
        rows[3] //= 60  # runs: None or Sub
        above = rng.integers(0, 256, width * bpp).astype(np.uint8)
        lines = filter_rows(rows, above, bpp)
        assert list(lines[:, 0]) == naive.png_filter_choice(rows, above, bpp)
        with_above = np.vstack([np.concatenate([[0], above]), lines])
        with_above[1:, 0] = lines[:, 0]
        np.testing.assert_array_equal(unfilter_rows(with_above, bpp)[1:], rows)


@pytest.mark.parametrize("compression", ["fast", "small"])
@pytest.mark.parametrize("shape,alpha", [((150, 40), False), ((150, 41, 3), False),
                                         ((150, 40), True), ((70, 41, 3), True)])
def test_png_encoder_round_trips_8_bit(rng, shape, alpha, compression):
    pixels = rng.integers(0, 256, shape).astype(np.uint8)
    pixels[::2] //= 9  # some runs and repeats, so every filter type gets chosen
    opacity = rng.integers(0, 256, shape[:2]).astype(np.uint8) if alpha else None
    data = b"".join(png_bytes(pixels, opacity, compression, threads=3))
    decoded = np.asarray(Image.open(io.BytesIO(data)))
    expected = pixels if opacity is None else np.dstack([pixels, opacity]).squeeze()
    np.testing.assert_array_equal(decoded, expected)


def _idat_count(data: bytes) -> int:
    count, pos = 0, 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        count += kind == b"IDAT"
        pos += 12 + length
    return count


@pytest.mark.parametrize("height,threads,parts", [(200, 2, 1), (800, 2, 2), (800, 3, 3),
                                                  (3000, 2, 8), (800, 1, 2)])
def test_png_encoder_cuts_the_rows_into_a_round_of_parts_per_core(rng, height, threads, parts):
    """Pictures of 1 MB of rows or more are deflated in one part per thread per round (so
    no core idles in the last round), up to four rounds; the parts make one valid stream."""
    pixels = rng.integers(0, 256, (height, 1000, 3)).astype(np.uint8)
    pixels[::3] //= 7
    data = b"".join(png_bytes(pixels, threads=threads))
    assert _idat_count(data) == parts + 2  # the zlib header, the parts, the checksum
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)


def test_png_encoder_round_trips_16_bit(rng, tmp_path):
    colour = rng.integers(0, 65536, (90, 31, 3)).astype(np.uint16)
    grey = rng.integers(0, 65536, (90, 31)).astype(np.uint16)
    imaging.write_pixels(tmp_path / "c.png", colour)
    imaging.write_pixels(tmp_path / "g.png", grey)
    np.testing.assert_array_equal(imaging.read_image(tmp_path / "c.png", native=True).pixels,
                                  colour)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "g.png")), grey)


def test_small_compression_is_smaller_and_the_same_picture(runner, tmp_path):
    source = ROOT / "samples" / "scene.png"
    fast, small = tmp_path / "fast.png", tmp_path / "small.png"
    for out, level in ((fast, "fast"), (small, "small")):
        result = invoke(runner, "filter", "-k", "gaussian", source, "-o", out,
                        "--compression", level)
        assert result.exit_code == 0, result.output
    assert small.stat().st_size < fast.stat().st_size
    np.testing.assert_array_equal(np.asarray(Image.open(fast)), np.asarray(Image.open(small)))


def test_format_option_names_the_output(runner, rgb_png):
    result = invoke(runner, "filter", "-k", "box", rgb_png, "--format", "jpg")
    assert result.exit_code == 0, result.output
    assert Image.open(rgb_png.with_name("rgb.box.jpg")).format == "JPEG"
    result = invoke(runner, "filter", "-k", "box", rgb_png, "--format", "xyz", "--force")
    assert result.exit_code == 1
    assert "cannot write 'xyz'" in result.output


def test_standard_output_needs_a_format(runner, rgb_png):
    result = invoke(runner, "filter", "-k", "box", rgb_png, "-o", "-")
    assert result.exit_code == 1
    assert "needs --format" in result.output


def test_pipe_from_stdin_to_stdout(rgb_png, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "cnnkit", "filter", "-k", "sobel"]
    piped = subprocess.run([*command, "-", "-o", "-", "--format", "png"], env=env,
                           input=rgb_png.read_bytes(), capture_output=True, check=True)
    subprocess.run([*command, str(rgb_png), "-o", str(tmp_path / "file.png")], env=env,
                   check=True, capture_output=True)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(piped.stdout))),
                                  np.asarray(Image.open(tmp_path / "file.png")))
    assert piped.stderr == b""
    bad = subprocess.run([*command, "-", "-o", "-", "--format", "png"], env=env,
                         input=b"not a picture", capture_output=True)
    assert bad.returncode == 1 and bad.stdout == b""
    assert b"standard input" in bad.stderr and b"Traceback" not in bad.stderr


def test_pool_pipes_too(rgb_png, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "cnnkit", "pool", "--mode", "avg"]
    piped = subprocess.run([*command, "-", "-o", "-", "--format", "png"], env=env,
                           input=rgb_png.read_bytes(), capture_output=True, check=True)
    subprocess.run([*command, str(rgb_png), "-o", str(tmp_path / "file.png")], env=env,
                   check=True, capture_output=True)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(piped.stdout))),
                                  np.asarray(Image.open(tmp_path / "file.png")))


def test_stdin_needs_an_output(runner):
    result = invoke(runner, "filter", "-k", "box", "-")
    assert result.exit_code == 2
    assert "needs -o" in result.output


def test_a_folder_runs_files_in_parallel_with_the_same_results(runner, tmp_path, rng):
    folder, one_by_one, together = tmp_path / "in", tmp_path / "a", tmp_path / "b"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (60 + i, 40, 3), dtype=np.uint8)).save(
            folder / f"p{i}.png")
    (folder / "p2.png").write_bytes(b"broken")
    for path in sorted(folder.iterdir()):
        invoke(runner, "filter", "-k", "laplacian", path, "--out-dir", one_by_one)
    result = invoke(runner, "filter", "-k", "laplacian", folder, "--out-dir", together)
    assert result.exit_code == 1
    assert "p2.png" in result.output and "4 of 5 files written" in result.output
    names = sorted(p.name for p in together.iterdir())
    assert names == sorted(p.name for p in one_by_one.iterdir()) and len(names) == 4
    for name in names:
        np.testing.assert_array_equal(np.asarray(Image.open(together / name)),
                                      np.asarray(Image.open(one_by_one / name)))


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_in_row_blocks_equals_pooling_a_float_copy(rng, mode):
    from cnnkit.imaging.filtering import pool_picture
    from cnnkit.ops.pool import avg_pool, max_pool

    pool = max_pool if mode == "max" else avg_pool
    for shape, size, stride in (((97, 31, 3), (2, 2), (2, 2)), ((64, 20), (3, 2), (2, 3)),
                                ((50, 9, 3), (5, 5), (1, 1))):
        image = rng.integers(0, 65536, shape).astype(np.uint16)
        expected = pool(image.astype(np.float32), size, stride, "valid")
        got = pool_picture(image, mode, size, stride, "valid", budget=100)
        np.testing.assert_array_equal(got, expected)
