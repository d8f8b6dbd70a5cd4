"""The IDX reader and writer, on valid, random and mutated files."""

from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cnnkit.data.idx import encode_idx, parse_idx, read_idx, write_idx
from cnnkit.errors import DataError


@given(arrays(st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32]),
              st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple)))
def test_round_trip(array):
    back = parse_idx(encode_idx(array))
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_mnist_magic_numbers():
    assert encode_idx(np.zeros((2, 28, 28), np.uint8))[:4] == b"\x00\x00\x08\x03"
    assert encode_idx(np.zeros(2, np.uint8))[:4] == b"\x00\x00\x08\x01"


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_files_raw_and_gzip(tmp_path, rng, suffix):
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    path = tmp_path / f"x-idx3-ubyte{suffix}"
    write_idx(path, images)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    np.testing.assert_array_equal(read_idx(path), images)


def _header(code=0x08, dims=(3,)):
    return struct.pack(f">HBB{len(dims)}I", 0, code, len(dims), *dims)


@pytest.mark.parametrize("data, message", [
    (b"\x00\x00", "too short"),
    (b"\x01\x00\x08\x01" + b"\x00" * 8, "not an IDX file"),
    (b"\x00\x00\x07\x01" + b"\x00" * 8, "not an IDX file"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated header"),
    (_header(dims=(3,)) + b"\x01\x02", "truncated: header declares shape (3,)"),
    (_header(dims=(3,)) + b"\x01\x02\x03\x04", "1 trailing bytes"),
])
def test_malformed_data_names_the_problem(data, message):
    with pytest.raises(DataError, match=re.escape(message)):
        parse_idx(data, "f.idx")


def test_broken_gzip_names_the_file(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(encode_idx(np.zeros(100, np.uint8)))[:30])
    with pytest.raises(DataError, match=r"broken.gz: broken gzip data"):
        read_idx(path)


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_random_bytes_parse_or_raise_data_error(data):
    try:
        array = parse_idx(data)
    except DataError:
        return
    assert array.ndim >= 1


@given(st.integers(0, 15), st.integers(0, 255))
def test_mutated_headers_parse_or_raise_data_error(position, value):
    data = bytearray(encode_idx(np.arange(24, dtype=np.uint8).reshape(2, 3, 4)))
    data[position] = value
    try:
        parse_idx(bytes(data))
    except DataError:
        pass
