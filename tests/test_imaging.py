"""Reading every kind of image, refusing broken ones, and mapping values back to pixels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnkit.imaging import io as imaging
from cnnkit.errors import ImageError, OutputExistsError


@pytest.mark.parametrize("mode, shape, has_alpha", [
    ("L", (6, 7), False), ("RGB", (6, 7, 3), False), ("RGBA", (6, 7, 3), True),
    ("LA", (6, 7), True), ("1", (6, 7), False),
])
def test_modes_read_as_float32_on_the_0_255_scale(tmp_path, rng, mode, shape, has_alpha):
    channels = {"L": 1, "RGB": 3, "RGBA": 4, "LA": 2, "1": 1}[mode]
    data = rng.integers(0, 256, (6, 7, channels), dtype=np.uint8).squeeze()
    image = Image.fromarray(data).convert(mode) if mode == "1" else Image.fromarray(data, mode)
    path = tmp_path / "x.png"
    image.save(path)
    picture = imaging.read_image(path)
    assert picture.pixels.shape == shape and picture.pixels.dtype == np.float32
    assert picture.maxval == 255.0 and (picture.alpha is not None) == has_alpha
    if mode in ("L", "RGB"):
        np.testing.assert_array_equal(picture.pixels, data)
    if has_alpha:
        np.testing.assert_array_equal(picture.alpha, data[..., -1])


def test_sixteen_bit_grey_keeps_its_precision(tmp_path):
    data = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5001)
    Image.fromarray(data).save(tmp_path / "g.png")
    picture = imaging.read_image(tmp_path / "g.png")
    assert picture.maxval == 65535.0 and picture.bits == 16
    np.testing.assert_array_equal(picture.pixels, data)


@pytest.mark.parametrize("channels", [3, 4])
def test_sixteen_bit_colour_png_round_trips_exactly(tmp_path, rng, channels):
    data = rng.integers(0, 65536, (9, 11, channels)).astype(np.float32)
    alpha = data[..., 3] if channels == 4 else None
    imaging.write_image(tmp_path / "c.png", data[..., :3], 65535.0, alpha)
    picture = imaging.read_image(tmp_path / "c.png")
    np.testing.assert_array_equal(picture.pixels, data[..., :3])
    if alpha is not None:
        np.testing.assert_array_equal(picture.alpha, alpha)


def test_sixteen_bit_colour_png_written_by_another_encoder(tmp_path, rng):
    cv2 = pytest.importorskip("cv2")
    data = rng.integers(0, 65536, (33, 17, 3)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "cv.png"), data[..., ::-1])  # OpenCV filters rows (Paeth etc.)
    np.testing.assert_array_equal(imaging.read_image(tmp_path / "cv.png").pixels, data)


def test_palette_image_with_grey_palette_reads_as_grey(tmp_path, rng):
    data = rng.integers(0, 256, (5, 5), dtype=np.uint8)
    Image.fromarray(data).convert("P").save(tmp_path / "p.png")
    assert imaging.read_image(tmp_path / "p.png").pixels.ndim == 2


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"hello, not an image", "not an image file"),
])
def test_non_images_are_refused(tmp_path, content, message):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        imaging.read_image(path)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_images_are_refused(tmp_path, rng, suffix):
    path = tmp_path / f"t{suffix}"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageError, match="truncated image"):
        imaging.read_image(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="cannot read: no such file"):
        imaging.read_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is a folder"):
        imaging.read_image(tmp_path)


def test_pixel_limit_refuses_before_decoding(tmp_path):
    Image.new("L", (300, 200)).save(tmp_path / "big.png")
    with pytest.raises(ImageError, match=r"300x200 is 60,000 pixels, above the limit of 50,000 pixels"):
        imaging.read_image(tmp_path / "big.png", max_pixels=50_000)


def test_map_range_modes():
    values = np.array([-300.0, -10.0, 0.0, 100.0, 400.0], np.float32)
    mapped, stats = imaging.map_range(values, "clip", 255.0)
    np.testing.assert_array_equal(mapped, [0, 0, 0, 100, 255])
    assert stats == {"min": -300.0, "max": 400.0, "clipped": pytest.approx(60.0)}
    np.testing.assert_array_equal(imaging.map_range(values, "abs", 255.0)[0],
                                  [255, 10, 0, 100, 255])
    np.testing.assert_array_equal(imaging.map_range(values, "offset", 255.0)[0],
                                  [0, 118, 128, 228, 255])
    np.testing.assert_allclose(imaging.map_range(values, "stretch", 255.0)[0],
                               (values + 300) / 700 * 255, rtol=1e-6)
    np.testing.assert_array_equal(imaging.map_range(values, "float", 255.0)[0], values)


def test_edges_range_saturates_only_the_top_tenth_of_a_percent(rng):
    values = rng.standard_normal(100_000).astype(np.float32)
    mapped, stats = imaging.map_range(values, "edges", 255.0)
    assert mapped.max() == 255.0
    assert stats["clipped"] == pytest.approx(imaging.EDGES_SATURATED, abs=0.01)


@settings(deadline=None, max_examples=30)
@given(st.binary(min_size=1, max_size=300))
def test_random_bytes_never_crash_the_reader(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "f.png"
    path.write_bytes(data)
    try:
        imaging.read_image(path)
    except ImageError:
        pass


def test_mutated_png_headers_give_image_errors(tmp_path, rng):
    good = tmp_path / "good.png"
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(good)
    raw = bytearray(good.read_bytes())
    for position in range(8, 40):
        mutated = bytearray(raw)
        mutated[position] ^= 0xFF
        path = tmp_path / f"m{position}.png"
        path.write_bytes(bytes(mutated))
        try:
            picture = imaging.read_image(path)
        except ImageError:
            continue
        assert picture.pixels.dtype == np.float32


def test_write_is_atomic_and_refuses_to_clobber(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"previous")
    with pytest.raises(OutputExistsError):
        imaging.write_image(target, np.zeros((4, 4), np.float32), 255.0)
    with pytest.raises(Exception):
        imaging.write_image(target, np.zeros((4, 4, 7), np.float32), 255.0, force=True)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temp file left behind


def test_write_float_tiff_and_npy(tmp_path, rng):
    values = rng.standard_normal((5, 6)).astype(np.float32) * 1000
    imaging.write_float(tmp_path / "v.tiff", values)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "v.tiff")), values)
    imaging.write_float(tmp_path / "v.npy", np.stack([values] * 3, -1))
    assert np.load(tmp_path / "v.npy").shape == (5, 6, 3)
    with pytest.raises(ImageError, match="one channel"):
        imaging.write_float(tmp_path / "c.tiff", np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ImageError, match="writes .tiff or .npy"):
        imaging.write_float(tmp_path / "c.png", values)
