"""Shared pieces of the hostile-input tests: bad files built at test time, the one-line
failure check, and snapshots of folders to prove nothing was left behind or changed."""

from __future__ import annotations

import errno
import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import invoke


def snapshot(*folders: Path) -> dict[str, str]:
    """{path: sha256} of every file under ``folders`` (hidden temporaries included)."""
    found = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif path.is_dir():
                found[str(path)] = "dir"
    return found


def assert_one_line(result, code: int, *needles: str) -> str:
    """The command failed with ``code``, printed exactly one ``error:`` line on stderr that
    holds every needle, and no traceback anywhere."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(result.exception))
    assert result.exit_code == code, (result.exit_code, output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, lines
    for needle in needles:
        assert needle.lower() in errors[0].lower(), (needle, errors[0])
    return errors[0]


def run(runner, *args):
    return invoke(runner, *args)


# ---- pictures ---------------------------------------------------------------------------

def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG")
    return buffer.getvalue()


def digit_array(rng=None) -> np.ndarray:
    """A 40x40 grey picture with a dark bar: something every picture command accepts."""
    array = np.full((40, 40), 235, np.uint8)
    array[8:32, 18:23] = 20
    return array


def chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def png_with_header(width: int, height: int, raw_rows: bytes) -> bytes:
    """A grey 8-bit PNG whose IHDR says ``width`` x ``height`` whatever the data holds."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw_rows)) + chunk(b"IEND", b""))


def raw_rows(width: int, height: int, value: int = 128) -> bytes:
    return b"".join(b"\x00" + bytes([value]) * width for _ in range(height))


def float_tiff(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(values.astype(np.float32), mode="F").save(buffer, format="TIFF")
    return buffer.getvalue()


def nan_tiff(fill: float) -> bytes:
    values = np.full((32, 32), 100.0, np.float32)
    values[4:20, 4:20] = fill
    return float_tiff(values)


def bad_pictures() -> dict[str, tuple[str, bytes | None, tuple[str, ...]]]:
    """name -> (file name, bytes or None for 'missing'/'folder', needles of the message)."""
    good = png_bytes(digit_array())
    jpeg = jpeg_bytes(digit_array())
    return {
        "missing": ("missing.png", None, ("missing.png", "no such file")),
        "folder": ("folder.png", b"<dir>", ("folder.png", "folder")),
        "empty": ("empty.png", b"", ("empty.png", "empty file")),
        "unknown-format": ("junk.png", b"this is not a picture at all" * 4,
                           ("junk.png", "not an image file")),
        "truncated-png": ("cut.png", good[: len(good) // 2], ("cut.png", "truncated")),
        "truncated-jpeg": ("cut.jpg", jpeg[: len(jpeg) // 2], ("cut.jpg", "truncated")),
        "header-too-small": ("lie_small.png", png_with_header(8, 8, raw_rows(40, 40)),
                             ("lie_small.png", "header says 8x8")),
        "header-too-large": ("lie_large.png", png_with_header(400, 400, raw_rows(40, 40)),
                             ("lie_large.png", "truncated")),
        "nan-tiff": ("nan.tiff", nan_tiff(np.nan), ("nan.tiff", "NaN or infinite")),
        "inf-tiff": ("inf.tiff", nan_tiff(np.inf), ("inf.tiff", "NaN or infinite")),
        "bad-crc": ("crc.png", good[:40] + bytes([good[40] ^ 0xFF]) + good[41:],
                    ("crc.png",)),
        "named-pipe": ("pipe.png", b"<fifo>", ("pipe.png", "not a regular file")),
    }


def make_picture(folder: Path, name: str, content: bytes | None) -> Path:
    path = folder / name
    if content == b"<dir>":
        path.mkdir()
    elif content == b"<fifo>":
        import os

        os.mkfifo(path)  # reading it would block for ever
    elif content is not None:
        path.write_bytes(content)
    return path


def os_error(code: int) -> OSError:
    return OSError(code, {errno.EROFS: "Read-only file system",
                          errno.ENOSPC: "No space left on device",
                          errno.EACCES: "Permission denied"}.get(code, "error"))


def tiny_mnist(folder: Path, count: int = 64, seed: int = 0) -> Path:
    """IDX files with MNIST's names but ``count`` random digits (use with --no-verify)."""
    from cnnkit.data.idx import write_idx

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte",
                  rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte",
                  (np.arange(count) % 10).astype(np.uint8))
    return folder


def history_json(path: Path) -> Path:
    import json

    rows = [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5 + e / 10,
             "val_loss": 1.1 / e, "val_accuracy": 0.45 + e / 10} for e in (1, 2, 3)]
    path.write_text(json.dumps(rows))
    return path
