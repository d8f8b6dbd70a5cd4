"""The cache of decoded folder datasets: ``$CNNKIT_HOME/folders/<key>.npz``.

The key covers the loading options and every file's name, class and contents (BLAKE2b
digests), so an edited, added or removed picture makes a new key and the folder is decoded
again. A cache file that is missing, damaged or unwritable only costs time.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

CACHE_VERSION = 1


def folder_cache_dir() -> Path:
    from cnnkit.data.mnist import cache_dir

    return cache_dir() / "folders"


def cache_key(options: dict, classes, relative, labels, digests) -> str:
    """SHA-256 of the options, the classes, and every file's name, class and contents."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"version": CACHE_VERSION, "options": options,
                              "classes": classes}, sort_keys=True).encode())
    for name, label, content in zip(relative, labels, digests):
        digest.update(f"\0{name}\0{label}\0{content}".encode())
    return digest.hexdigest()


def read_cached(key: str):
    """(images, labels, meta) from the cache, or None when absent or unusable (then the
    folder is decoded again: a damaged cache file only costs time)."""
    path = folder_cache_dir() / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes().decode())
            images, labels = archive["images"], archive["labels"]
        if meta.get("key") != key or len(images) != len(labels):
            return None
        return images, labels, meta
    except Exception:  # noqa: BLE001 - any failure means "not cached"
        return None


def write_cached(key: str, images, labels, meta: dict) -> None:
    """Write the decoded arrays; a cache that cannot be written (read-only home, disk full)
    is not an error: the next run decodes again."""
    from cnnkit.files import atomic_path

    folder = folder_cache_dir()
    meta = {**meta, "key": key}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / f"{key}.npz", force=True, now=True) as tmp:
            np.savez(tmp, images=images, labels=labels,
                     meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    except Exception:  # noqa: BLE001 - see the docstring
        pass
