"""Folder datasets: a user's own pictures, one folder per class.

The layout users know from torchvision's ``ImageFolder`` and Keras's
``image_dataset_from_directory``::

    DIR/<class>/*.png|jpg|...            one set; the validation split is taken from it
    DIR/train/<class>/...  DIR/test/...  a set for training and one for evaluating

Class names are the folder names, sorted, so label k always means the same class. Every
picture is decoded on all cores (:mod:`cnnkit.data.decode`) and fitted to one size and colour;
the decoded arrays are cached under ``$CNNKIT_HOME/folders`` keyed by the files' contents and
the options, so a second run starts at once and an edited folder is read again.

:func:`load_events` yields :class:`LoadProgress` while it works and the
:class:`FolderDataset` last; :func:`load_folder` runs it to the end. Nothing here prints.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cnnkit.data.decode import FITS, decode_picture
from cnnkit.data.folder_cache import cache_key, folder_cache_dir, read_cached, write_cached
from cnnkit.errors import DataError, os_message
from cnnkit.limits import check_memory

__all__ = ["FolderDataset", "FolderOptions", "LoadProgress", "folder_cache_dir", "has_splits",
           "load_events", "load_folder", "parse_split", "scan", "split_count"]

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
            ".pgm", ".pbm", ".pnm")
COLORS = ("grey", "rgb")
PREPARES = (None, "digits")
MAX_SIDE = 512  # --image-size beyond this would need gigabytes for a modest folder
SPLIT_FOLDERS = ("train", "test")


@dataclass(frozen=True)
class FolderOptions:
    """How pictures become arrays. ``size`` is (height, width); ``prepare="digits"`` makes
    each picture MNIST-like as ``cnnkit predict`` does (and needs 28x28 grey)."""

    size: tuple[int, int] = (28, 28)
    color: str = "grey"
    fit: str = "pad"
    prepare: str | None = None
    max_pixels: int = 100_000_000

    def check(self) -> None:
        height, width = self.size
        if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
            raise DataError(f"--image-size must be 1 to {MAX_SIDE} px a side, got "
                            f"{width}x{height}")
        if self.color not in COLORS:
            raise DataError(f"--color must be one of {', '.join(COLORS)}, got {self.color!r}")
        if self.fit not in FITS:
            raise DataError(f"--fit must be one of {', '.join(FITS)}, got {self.fit!r}")
        if self.prepare not in PREPARES:
            raise DataError(f"--prepare must be digits, got {self.prepare!r}")
        if self.prepare == "digits" and (self.size != (28, 28) or self.color != "grey"):
            raise DataError(f"--prepare digits makes 28x28 grey digits; it cannot be combined "
                            f"with --image-size {width}x{height} --color {self.color}")

    @property
    def channels(self) -> int:
        return 3 if self.color == "rgb" else 1


@dataclass
class LoadProgress:
    """``done`` of ``total`` pictures; ``stage`` is "read" (hashing) or "decode"."""

    stage: str
    done: int
    total: int


@dataclass
class FolderDataset:
    """The decoded pictures of one folder (or its train/ or test/ part).

    images : ndarray, shape (N, H, W) for grey or (N, H, W, 3) for rgb, uint8
    labels : ndarray, shape (N,), int64, indices into ``classes``
    """

    root: str
    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    files: list[str]  # relative to root, in the order of ``images``
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    notes: list[str] = field(default_factory=list)  # said once: mixed sizes, modes
    from_cache: bool = False
    key: str = ""  # SHA-256 of the options and every file's name, class and contents

    def counts(self) -> list[int]:
        return [int(c) for c in np.bincount(self.labels, minlength=len(self.classes))]


# ------------------------------------------------------------------------------------------
# the layout


def dataset_root(root: Path, split: str | None) -> Path:
    """The folder whose subfolders are the classes: ``root/train`` or ``root/test`` when
    ``root`` uses that layout (and ``split`` asks for it), else ``root`` itself."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; --images takes a folder holding one folder "
                        f"per class")
    if has_splits(root) and split is not None:
        part = root / split
        if not part.is_dir():
            other = "train" if split == "test" else "test"
            raise DataError(f"{root}: has {other}/ but no {split}/ folder")
        return part
    return root


def has_splits(root: Path) -> bool:
    """True when ``root`` holds train/ (or test/) with class folders inside, and nothing
    else that looks like a class."""
    parts = [root / name for name in SPLIT_FOLDERS if (root / name).is_dir()]
    return bool(parts) and all(_subfolders(p) and not _loose_pictures(p) for p in parts)


def _loose_pictures(folder: Path) -> bool:
    """Whether pictures lie directly in ``folder`` (then it is a class, not a split)."""
    try:
        return any(p.suffix.lower() in SUFFIXES and p.is_file() for p in folder.iterdir())
    except OSError as exc:
        raise DataError(os_message(exc, "read the folder", folder)) from None


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DataError(os_message(exc, "read the folder", folder)) from None


def _pictures(folder: Path) -> list[str]:
    """Picture files in ``folder`` and below (paths as text: a folder may hold 100,000),
    sorted; hidden files and folders skipped."""
    found = []
    try:
        for base, dirs, files in os.walk(folder, onerror=_walk_error):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend(os.path.join(base, f) for f in files
                         if not f.startswith(".") and os.path.splitext(f)[1].lower() in SUFFIXES)
    except OSError as exc:
        raise DataError(os_message(exc, "read the folder", folder)) from None
    return sorted(found)


def _walk_error(exc: OSError) -> None:
    raise exc


def scan(root: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """Class names and (file, label) pairs of a class-per-folder dataset; raises DataError
    naming the problem: not a dataset, an empty class folder, a single class."""
    classes = _subfolders(root)
    if not classes:
        loose = _pictures(root)
        if loose:
            raise DataError(f"{root}: not a folder dataset: {len(loose):,} pictures but no "
                            f"class folders; put each class's pictures in its own folder "
                            f"({root}/<class>/*.png)")
        raise DataError(f"{root}: not a folder dataset: no class folders with pictures "
                        f"(expected {root}/<class>/*.png, *.jpg, ...)")
    items: list[tuple[str, int]] = []
    for label, folder in enumerate(classes):
        pictures = _pictures(folder)
        if not pictures:
            raise DataError(f"{folder}: empty class folder (no {', '.join(SUFFIXES[:3])} or "
                            f"other pictures); add pictures or remove the folder")
        items.extend((p, label) for p in pictures)
    if len(classes) == 1:
        raise DataError(f"{root}: only one class ({classes[0].name}); a classifier needs at "
                        f"least two class folders")
    return [c.name for c in classes], items


# ------------------------------------------------------------------------------------------
# loading


def load_folder(root: Path, options: FolderOptions = FolderOptions(), *, split: str | None
                = "train", strict: bool = False, workers: int | None = None,
                cache: bool = True, preparer=None) -> FolderDataset:
    """Run :func:`load_events` to the end and return its dataset."""
    for event in load_events(root, options, split=split, strict=strict, workers=workers,
                             cache=cache, preparer=preparer):
        if isinstance(event, FolderDataset):
            return event
    raise AssertionError("load_events ended without a dataset")  # pragma: no cover


def load_events(root: Path, options: FolderOptions = FolderOptions(), *, split: str | None
                = "train", strict: bool = False, workers: int | None = None,
                cache: bool = True, preparer=None) -> Iterator[LoadProgress | FolderDataset]:
    """Load a folder dataset, yielding progress, then the :class:`FolderDataset`.

    ``split`` picks ``train/`` or ``test/`` in a folder that has them (None: the folder as
    it is). An unreadable picture is skipped and listed in ``skipped`` unless ``strict``,
    which raises DataError naming it. Raises DataError for every problem of the layout.
    ``preparer(path, max_pixels)`` does ``options.prepare`` (data does not import digits:
    the caller passes :func:`cnnkit.digits.from_file.digit_from_file` for "digits").
    """
    options.check()
    if options.prepare is not None and preparer is None:
        raise DataError(f"--prepare {options.prepare}: no preparation given to the loader")
    base = dataset_root(root, split)
    classes, items = scan(base)
    workers = workers or os.cpu_count() or 1
    total = len(items)
    contents: list[bytes | None] = [None] * total
    digests: list[str] = [""] * total
    with ThreadPoolExecutor(workers) as pool:
        # read and hash every file first: the cache key is the files' contents
        kept = 0
        for start, stop, results in _chunks(pool, _read_all, [p for p, _ in items]):
            for k, (data, digest) in enumerate(results, start):
                if data is not None and kept + len(data) <= KEEP_BYTES:
                    contents[k] = data  # decoded from memory, not read twice
                    kept += len(data)
                digests[k] = digest
            yield LoadProgress("read", stop, total)
        cut = len(str(base)) + 1
        relative = [path[cut:] for path, _ in items]
        key = cache_key(asdict(options), classes, relative, [label for _, label in items],
                        digests)
        cached = read_cached(key) if cache else None
        if cached is not None:
            images, labels, meta = cached
            skipped = [tuple(s) for s in meta["skipped"]]
            files, notes, from_cache = meta["files"], meta["notes"], True
        else:
            height, width = options.size
            check_memory(2 * total * height * width * options.channels,
                         f"{base}: {total:,} pictures at {width}x{height} {options.color}",
                         "use a smaller --image-size, or fewer pictures")
            decoded: list = [None] * total
            jobs = [(contents[k] if contents[k] is not None else
                     digests[k] if digests[k].startswith(_UNREADABLE) else None,
                     items[k][0], options, preparer) for k in range(total)]
            del contents
            for start, stop, results in _chunks(pool, _decode_all, jobs):
                decoded[start:stop] = results
                jobs[start:stop] = [None] * (stop - start)  # the bytes are no longer needed
                yield LoadProgress("decode", stop, total)
            images, labels, files, skipped, notes = _assemble(decoded, items, relative, options)
            from_cache = False
            if cache:
                write_cached(key, images, labels, {"files": files, "skipped": skipped,
                                                   "notes": notes})
    if skipped and strict:
        name, why = skipped[0]
        more = f" (and {len(skipped) - 1:,} more)" if len(skipped) > 1 else ""
        raise DataError(f"{base / name}: {why}{more}; without --strict such pictures are "
                        f"skipped")
    counts = np.bincount(labels, minlength=len(classes)) if len(labels) else np.zeros(
        len(classes), int)
    for name, count in zip(classes, counts):
        if count == 0:
            raise DataError(f"{base / name}: no readable picture in this class folder "
                            f"({sum(1 for f, _ in skipped if Path(f).parts[0] == name):,} "
                            f"skipped)")
    yield FolderDataset(str(base), images, labels, classes, files, list(skipped), notes,
                        from_cache, key)


_CHUNK = 256  # pictures per progress step
KEEP_BYTES = 256 * 2**20  # files' bytes held between hashing and decoding; the rest is re-read
_UNREADABLE = "cannot read it: "
_STEP = 32  # pictures per task: a task per file costs more than reading a small one


def _chunks(pool, work, jobs: list):
    """(start, stop, results) per chunk of ``jobs``, ``work`` mapping a list of jobs to a
    list of results on the pool's threads."""
    for start in range(0, len(jobs), _CHUNK):
        stop = min(start + _CHUNK, len(jobs))
        parts = pool.map(work, [jobs[a:min(a + _STEP, stop)] for a in range(start, stop, _STEP)])
        yield start, stop, [result for part in parts for result in part]


def _read_all(paths: list[str]) -> list[tuple[bytes | None, str]]:
    """(contents, digest) per file; (None, why) for a file that cannot be read."""
    from cnnkit.errors import os_reason

    out = []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            out.append((None, f"{_UNREADABLE}{os_reason(exc)}"))
            continue
        out.append((data, hashlib.blake2b(data, digest_size=16).hexdigest()))
    return out


def _decode_all(jobs: list) -> list:
    out = []
    for data, path, options, preparer in jobs:
        if data is None:  # not kept in memory: read again
            data = _read_all([path])[0][0] or f"{_UNREADABLE}it went away"
        if isinstance(data, str):  # why the file could not be read
            out.append(data)
            continue
        out.append(decode_picture(data, options.size, options.color, options.fit,
                                  options.max_pixels, Path(path), preparer))
    return out


def _assemble(decoded: list, items, relative: list[str], options: FolderOptions):
    """Stack the decoded pictures; collect the skipped ones and what was said once."""
    good = [k for k, d in enumerate(decoded) if not isinstance(d, str)]
    skipped = [(relative[k], decoded[k]) for k, d in enumerate(decoded) if isinstance(d, str)]
    height, width = options.size
    shape = (len(good), height, width) + ((3,) if options.color == "rgb" else ())
    images = np.empty(shape, np.uint8)
    sizes, modes = set(), set()
    for row, k in enumerate(good):
        array, size, mode = decoded[k]
        images[row] = array
        sizes.add(size)
        modes.add(mode)
    labels = np.array([items[k][1] for k in good], np.int64)
    notes = []
    if options.prepare is None and (len(sizes) > 1 or len(modes) > 1 or
                                    (sizes and sizes != {(width, height)})):
        what = []
        if len(sizes) > 1:
            smallest = min(sizes, key=lambda s: s[0] * s[1])
            largest = max(sizes, key=lambda s: s[0] * s[1])
            what.append(f"{len(sizes)} sizes ({smallest[0]}x{smallest[1]} to "
                        f"{largest[0]}x{largest[1]})")
        elif sizes:
            (w, h), = sizes
            what.append(f"size {w}x{h}")
        if len(modes) > 1:
            what.append(f"{len(modes)} colour modes ({', '.join(sorted(modes))})")
        notes.append(f"pictures have {' and '.join(what)}: all are fitted to {width}x{height} "
                     f"{options.color} by {_FIT_WORDS[options.fit]}")
    return images, labels, [relative[k] for k in good], skipped, notes


_FIT_WORDS = {"pad": "scaling to fit and padding with the border colour",
              "stretch": "stretching", "crop": "scaling to cover and cropping the middle"}


# ------------------------------------------------------------------------------------------
# splitting


def parse_split(text: str | None) -> float | int | None:
    """``--val-split``: "0.2" is a fraction of the pictures, "200" a count. Raises ValueError."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--val-split takes a fraction below 1 (0.2) or a count (500), "
                         f"got {text!r}") from None
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"--val-split must be 0 or more, got {text!r}")
    if value < 1 and "." in text or "e" in text.lower() and value < 1:
        return value
    if value != int(value):
        raise ValueError(f"--val-split takes a fraction below 1 (0.2) or a whole count, "
                         f"got {text!r}")
    return int(value)


def split_count(split: float | int | None, available: int, default: Callable[[int], int]
                ) -> int:
    """Pictures held out for validation from ``available``."""
    if split is None:
        return default(available)
    if isinstance(split, float):
        return int(round(split * available))
    return split
