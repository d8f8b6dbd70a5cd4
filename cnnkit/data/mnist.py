"""The MNIST files, their checksums, the cache directory, and loading a verified split."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnkit.data.idx import parse_idx, read_bytes
from cnnkit.errors import DataError

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DataFile:
    """One of the four MNIST files; ``sha256`` is of the uncompressed IDX bytes."""

    name: str
    split: str
    kind: str  # "images" or "labels"
    count: int
    sha256: str


MNIST_FILES: tuple[DataFile, ...] = (
    DataFile("train-images-idx3-ubyte", "train", "images", 60_000,
             "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    DataFile("train-labels-idx1-ubyte", "train", "labels", 60_000,
             "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    DataFile("t10k-images-idx3-ubyte", "test", "images", 10_000,
             "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    DataFile("t10k-labels-idx1-ubyte", "test", "labels", 10_000,
             "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
)


def cache_dir() -> Path:
    """``$CNNKIT_HOME`` if set, else the user cache directory (``~/.cache/cnnkit`` on Linux)."""
    home = os.environ.get("CNNKIT_HOME")
    if home:
        return Path(home).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnnkit"


def mnist_dir() -> Path:
    """Where ``cnnkit data fetch`` keeps the four verified, uncompressed IDX files."""
    return cache_dir() / "mnist"


def locate(directory: Path, spec: DataFile) -> Path | None:
    """The file for ``spec`` in ``directory``: raw or ``.gz``, spelt ``-idx`` or ``.idx``."""
    directory = Path(directory)
    for stem in (spec.name, spec.name.replace("-idx", ".idx")):
        for suffix in ("", ".gz"):
            candidate = directory / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_file(data: bytes, spec: DataFile, source: str) -> np.ndarray:
    """Verify uncompressed bytes against ``spec`` (checksum, then structure); return the array.

    Raises DataError naming ``source`` and the problem.
    """
    digest = sha256(data)
    if digest != spec.sha256:
        raise DataError(f"{source}: SHA-256 mismatch for {spec.name} (got {digest[:16]}..., "
                        f"expected {spec.sha256[:16]}...)")
    array = parse_idx(data, source)
    expected = (spec.count, 28, 28) if spec.kind == "images" else (spec.count,)
    if array.shape != expected or array.dtype != np.uint8:
        raise DataError(f"{source}: expected uint8 {spec.kind} of shape {expected}, got "
                        f"{array.dtype} {array.shape}")
    return array


def load_split(split: str, directory: Path | None = None, *, verify: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
    """Load one split, verified by SHA-256 of the uncompressed bytes.

    Parameters
    ----------
    split : "train" or "test"
    directory : folder of the IDX files (raw or gzip); default the cache, :func:`mnist_dir`.
    verify : check the official checksums; without, any IDX pair of the same names and shapes
        (a subset written by ``write_idx``, Fashion-MNIST) is accepted after structural checks.

    Returns
    -------
    images : ndarray, shape (N, 28, 28), uint8, 0 = background, 255 = ink
    labels : ndarray, shape (N,), uint8 in 0..9
    """
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    directory = Path(directory) if directory is not None else mnist_dir()
    arrays = {}
    for spec in MNIST_FILES:
        if spec.split != split:
            continue
        path = locate(directory, spec)
        if path is None:
            raise DataError(f"{directory}: no {spec.name} (raw or .gz); run 'cnnkit data fetch' "
                            f"or pass --data DIR")
        data = read_bytes(path)
        arrays[spec.kind] = (check_file(data, spec, str(path)) if verify
                             else parse_idx(data, str(path)))
    images, labels = arrays["images"], arrays["labels"]
    check_pair(images, labels, str(directory))
    return images, labels


def missing_files(directory: Path | None = None) -> list[DataFile]:
    """The MNIST files not present in ``directory`` (default: the cache)."""
    directory = Path(directory) if directory is not None else mnist_dir()
    return [spec for spec in MNIST_FILES if locate(directory, spec) is None]


def check_pair(images: np.ndarray, labels: np.ndarray, name: str) -> None:
    """Raise DataError unless images (N, H, W) uint8 and labels (N,) in 0..9 belong together."""
    if images.ndim != 3 or labels.ndim != 1 or images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise DataError(f"{name}: expected uint8 images (N, H, W) and labels (N,), got "
                        f"{images.dtype} {images.shape} and {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{name}: {len(images)} images but {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise DataError(f"{name}: labels outside 0-9 (found {int(labels.max())})")
