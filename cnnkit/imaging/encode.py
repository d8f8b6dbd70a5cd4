"""Writing 8- and 16-bit pixels: cnnkit's own PNG encoder, and Pillow for other formats.

The PNG encoder works on blocks of rows, so it never holds a second full-size copy of the
picture: each block gets its alpha interleaved, turns big-endian (16-bit), is PNG-filtered
(None, Sub or Up per row) and is deflated. The picture is cut into one part per core; each
part is a separate deflate stream ended on a byte boundary (a sync flush), so the parts
concatenate into one valid zlib stream (as pigz does) and compress in parallel threads
(zlib and the filter kernel release the GIL). Parts are written as they finish, in order,
a few in flight, so the compressed file is not held in memory either.

Compression: ``fast`` is zlib level 1 with run-length matching (OpenCV also writes level 1):
on 12-megapixel photos and filter outputs its files were 19% smaller to 5% larger than
Pillow's default (level 6), in a tenth of the time or less; ``small`` is level 9, for the
smallest file.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

COMPRESSIONS = ("fast", "small")
# zlib level and strategies; "small" deflates each part both ways and keeps the shorter
# (plain level 9 loses to run-length matching on edge maps, which are mostly runs).
_LEVELS = {"fast": (1, (zlib.Z_RLE,)), "small": (9, (zlib.Z_DEFAULT_STRATEGY, zlib.Z_RLE))}
_BLOCK_BYTES = 1 << 20  # raw bytes per filtered block: stays in the L2 cache
# raw bytes per deflate stream, about. Each stream starts with an empty 32 KB window, so
# parts of 1 MB cost a few bytes each (a 1 MP filter output: 863,121 bytes in one stream,
# 863,148 in three), and a 1 MP picture (3 MB) compresses on every core (60.6 -> 45.4 ms in
# three parts; 48.4 -> 38 ms in two, one per core, instead of three, docs/benchmarks.md).
_PART_BYTES = 1 << 20
_ADLER_BASE = 65521


def png_bytes(pixels: np.ndarray, alpha: np.ndarray | None = None, compression: str = "fast",
              threads: int | None = None):
    """Encode pixels as PNG; yields the file's bytes in pieces, in order.

    pixels : ndarray, shape (H, W) grey or (H, W, 3) colour, uint8 or uint16 (16-bit PNG)
    alpha : ndarray, shape (H, W), same dtype, or None
    """
    if compression not in _LEVELS:
        raise ValueError(f"compression must be one of {', '.join(COMPRESSIONS)}, "
                         f"got {compression!r}")
    height, width = pixels.shape[:2]
    colour = pixels.ndim == 3
    channels = (3 if colour else 1) + (alpha is not None)
    depth = 16 if pixels.dtype == np.uint16 else 8
    kind = {(False, False): 0, (True, False): 2, (False, True): 4, (True, True): 6}[
        (colour, alpha is not None)]
    header = struct.pack(">IIBBBBB", width, height, depth, kind, 0, 0, 0)
    yield b"\x89PNG\r\n\x1a\n"
    yield from _chunk(b"IHDR", header)

    stride = width * channels * depth // 8
    workers = max(1, threads or os.cpu_count() or 1)
    step = max(1, _BLOCK_BYTES // max(1, stride))  # rows per filtered block
    part_rows = -(-height // _part_count(height * stride, workers))
    parts = [(a, min(height, a + part_rows)) for a in range(0, height, part_rows)]
    level, strategies = _LEVELS[compression]
    from cnnkit.ops import light

    if light.numpy_pays(pixels.size):  # the picture's values, as the filter counts them
        filter_rows = light.png_filter_rows
    else:
        from cnnkit.ops.png import filter_rows

    def deflate(index):
        start, stop = parts[index]
        packers = [zlib.compressobj(level, zlib.DEFLATED, -15, 9, s) for s in strategies]
        outputs = [[] for _ in packers]
        adler, length = 1, 0
        for a in range(start, stop, step):
            b = min(stop, a + step)
            raw = _raw_rows(pixels, alpha, max(a - 1, 0), b)
            above = raw[0] if a > 0 else np.zeros(stride, np.uint8)
            lines = filter_rows(raw[1:] if a > 0 else raw, above, channels * depth // 8)
            adler = zlib.adler32(lines.data, adler)
            length += lines.size
            for packer, pieces in zip(packers, outputs):
                pieces.append(packer.compress(lines.data))
        last = index == len(parts) - 1
        for packer, pieces in zip(packers, outputs):
            pieces.append(packer.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH))
        # The pieces as they came (joining them would hold each part twice).
        return min(outputs, key=lambda pieces: sum(map(len, pieces))), adler, length

    # The zlib stream may be cut into any number of IDAT chunks: one per part, written in
    # order as soon as it is ready, with at most ``workers`` parts in flight (bounded memory).
    yield from _chunk(b"IDAT", bytes([0x78, 0x01 if level == 1 else 0xDA]))
    checksum = 1  # the Adler-32 of nothing
    with ThreadPoolExecutor(workers) if workers > 1 else _Serial() as pool:
        pending = deque()
        for index in range(len(parts)):
            while len(pending) < workers and index + len(pending) < len(parts):
                pending.append(pool.submit(deflate, index + len(pending)))
            pieces, adler, length = pending.popleft().result()
            checksum = _adler32_combine(checksum, adler, length)
            yield from _chunk(b"IDAT", *pieces)
            del pieces
    yield from _chunk(b"IDAT", struct.pack(">I", checksum))
    yield from _chunk(b"IEND", b"")


def _part_count(raw_bytes: int, workers: int) -> int:
    """Deflate streams for ``raw_bytes`` of filtered rows: one below ``_PART_BYTES``; else
    one per worker per round (so the last round keeps every core busy), in as many rounds
    as parts of ``_PART_BYTES`` fill, at least one and at most four."""
    if raw_bytes < _PART_BYTES:
        return 1
    rounds = max(1, min(4, raw_bytes // (_PART_BYTES * workers)))
    return rounds * workers


def _raw_rows(pixels, alpha, start, stop) -> np.ndarray:
    """Rows ``[start, stop)`` as PNG wants the bytes: channels interleaved, big-endian."""
    block = pixels[start:stop]
    if block.ndim == 2:
        block = block[..., None]
    if alpha is not None:
        block = np.concatenate([block, alpha[start:stop, :, None]], axis=2)
    if block.dtype == np.uint16:
        block = block.astype(">u2")
    block = np.ascontiguousarray(block)
    return block.reshape(stop - start, -1).view(np.uint8)


def _chunk(kind: bytes, *body: bytes):
    """A PNG chunk in pieces, its body given in one or more pieces (none copied)."""
    yield struct.pack(">I", sum(map(len, body))) + kind
    crc = zlib.crc32(kind)
    for piece in body:
        crc = zlib.crc32(piece, crc)
    yield from body
    yield struct.pack(">I", crc & 0xFFFFFFFF)


def _adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two pieces joined, from each piece's checksum (zlib's adler32_combine):
    the running sum of the second piece shifts by ``second_length`` times the first's."""
    rem = second_length % _ADLER_BASE
    a1, b1 = first & 0xFFFF, first >> 16
    a2, b2 = second & 0xFFFF, second >> 16
    a = (a1 + a2 - 1) % _ADLER_BASE
    b = (b1 + b2 + rem * a1 - rem) % _ADLER_BASE
    return (b << 16) | a


class _Serial:
    """A stand-in for a one-thread pool: runs each job when it is submitted."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def submit(fn, *args):
        future = Future()
        future.set_result(fn(*args))
        return future
