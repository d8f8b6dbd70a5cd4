"""cnnkit's own PNG decoding (one inflate, checked against the header) gives Pillow's pixels."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from cnnkit.errors import ImageError
from cnnkit.imaging import io as imaging
from cnnkit.imaging import png_reading
from tests.conftest import python_output


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _filter(rows: np.ndarray, bpp: int, kinds: np.ndarray) -> bytes:
    """PNG scanlines with the given filter type per row (all five types, Paeth included)."""
    height, stride = rows.shape
    out = bytearray()
    prev = np.zeros(stride, np.int32)
    for y in range(height):
        row = rows[y].astype(np.int32)
        left = np.concatenate([np.zeros(bpp, np.int32), row[:-bpp]])
        up_left = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        kind = int(kinds[y])
        if kind == 0:
            line = row
        elif kind == 1:
            line = row - left
        elif kind == 2:
            line = row - prev
        elif kind == 3:
            line = row - (left + prev) // 2
        else:
            p = left + prev - up_left
            pa, pb, pc = abs(p - left), abs(p - prev), abs(p - up_left)
            line = row - np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, up_left))
        out.append(kind)
        out += (line & 0xFF).astype(np.uint8).tobytes()
        prev = row
    return bytes(out)


def _png(path, values: np.ndarray, depth: int, colour: int, rng, extra: bytes = b"") -> None:
    height, width = values.shape[:2]
    channels = 1 if values.ndim == 2 else values.shape[2]
    raw = values.astype(">u2").tobytes() if depth == 16 else values.astype(np.uint8).tobytes()
    rows = np.frombuffer(raw, np.uint8).reshape(height, -1)
    kinds = rng.integers(0, 5, height)
    data = _filter(rows, channels * depth // 8, kinds)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + extra
                     + _chunk(b"IDAT", zlib.compress(data, 6)) + _chunk(b"IEND", b""))


def _pillows(path, grey, native):
    """What the reader gives through Pillow alone (its path for PNGs it decodes)."""
    with Image.open(path) as img:
        img.load()
        return imaging._to_picture(img, grey, native)


def _same(a, b):
    assert a.maxval == b.maxval
    assert a.pixels.dtype == b.pixels.dtype and a.pixels.shape == b.pixels.shape
    assert np.array_equal(a.pixels, b.pixels)
    assert (a.alpha is None) == (b.alpha is None)
    if a.alpha is not None:
        assert a.alpha.dtype == b.alpha.dtype and np.array_equal(a.alpha, b.alpha)


@pytest.mark.parametrize("depth, colour, channels", [
    (8, 0, 1), (8, 2, 3), (8, 4, 2), (8, 6, 4), (16, 0, 1)])
@pytest.mark.parametrize("grey", [False, True])
@pytest.mark.parametrize("native", [False, True])
def test_own_decoding_matches_pillow_bit_for_bit(tmp_path, rng, depth, colour, channels, grey,
                                                 native):
    top = 65536 if depth == 16 else 256
    shape = (23, 37) if channels == 1 else (23, 37, channels)
    values = rng.integers(0, top, shape)
    values[5:9] = values[4]  # runs and repeats, where Up and Paeth differ from noise
    path = tmp_path / "p.png"
    _png(path, values, depth, colour, rng)
    assert png_reading.read_png(path, grey, native) is not None  # decoded by cnnkit, not Pillow
    _same(imaging.read_image(path, grey=grey, native=native), _pillows(path, grey, native))


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA"])
def test_pngs_pillow_wrote_read_the_same(tmp_path, rng, mode):
    bands = len(mode)
    values = rng.integers(0, 256, (40, 50, bands) if bands > 1 else (40, 50), dtype=np.uint8)
    values[:, 10:20] = 7
    path = tmp_path / "w.png"
    Image.fromarray(values, mode).save(path)
    for native in (False, True):
        _same(imaging.read_image(path, native=native), _pillows(path, False, native))


def test_a_png_with_exif_orientation_is_still_turned(tmp_path, rng):
    values = rng.integers(0, 256, (10, 20, 3), dtype=np.uint8)
    path = tmp_path / "turned.png"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    Image.fromarray(values, "RGB").save(path, exif=exif)
    assert imaging.read_image(path, native=True).pixels.shape == (20, 10, 3)


def test_unknown_filter_type_is_refused(tmp_path, rng):
    path = tmp_path / "bad.png"
    _png(path, rng.integers(0, 256, (6, 8, 3)), 8, 2, rng)
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 4
    end = start + struct.unpack(">I", data[start - 8:start - 4])[0]
    raw = bytearray(zlib.decompress(bytes(data[start:end])))
    raw[0] = 9
    body = zlib.compress(bytes(raw))
    path.write_bytes(bytes(data[:start - 8]) + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))
    with pytest.raises(ImageError, match="filter type"):
        imaging.read_image(path)


def test_pillow_decodes_a_small_png_only_for_a_caller_that_may_skip_numba(tmp_path):
    """cnnkit's reader unfilters rows in Numba kernels: worth it unless the command may finish
    without Numba (the light filter), where Pillow's second inflate costs less than a start."""
    path = tmp_path / "small.png"
    Image.fromarray(np.arange(64 * 48, dtype=np.uint32).reshape(48, 64).astype(np.uint8)).save(
        path)
    code = ("import sys\n"
            "from pathlib import Path\n"
            "from cnnkit.imaging import png_reading\n"
            f"own = png_reading.read_png(Path({str(path)!r}), light={{}}) is not None\n"
            "print(own, 'numba' in sys.modules)")
    assert python_output(code.format(True)).split() == ["False", "False"]
    assert python_output(code.format(False)).split() == ["True", "True"]
