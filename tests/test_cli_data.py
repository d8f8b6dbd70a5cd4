"""``cnnkit data`` commands, against a private cache folder ($CNNKIT_HOME)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import invoke
from tests.test_fetch import SHARED_MNIST, needs_shared


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CNNKIT_MNIST_MIRROR", raising=False)
    return tmp_path / "home"


def test_path_follows_cnnkit_home(runner, home):
    result = invoke(runner, "data", "path")
    assert result.exit_code == 0 and result.stdout.strip() == str(home / "mnist")


def test_info_on_an_empty_cache_says_missing_and_fails(runner):
    result = invoke(runner, "data", "info", "--json")
    assert result.exit_code == 1
    record = json.loads(result.stdout)
    assert [f["checksum"] for f in record["files"]] == ["missing"] * 4


def test_fetch_that_finds_nothing_fails_with_one_line(runner, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke(runner, "data", "fetch", "--source", "dir", "--from", empty)
    assert result.exit_code == 1
    assert "could not obtain" in result.stderr and "none of the MNIST files" in result.stderr
    assert "Traceback" not in result.output


@needs_shared
def test_fetch_info_export_clear(runner, home, tmp_path):
    fetched = invoke(runner, "data", "fetch", "--from", SHARED_MNIST)
    assert fetched.exit_code == 0, fetched.output
    assert "verified t10k-images-idx3-ubyte" in fetched.stderr
    info = invoke(runner, "data", "info", "--json")
    assert info.exit_code == 0
    files = json.loads(info.stdout)["files"]
    assert [f["checksum"] for f in files] == ["ok"] * 4
    assert files[3]["histogram"][0] == 980 and sum(files[1]["histogram"]) == 60_000
    table = invoke(runner, "data", "info")
    assert "60,000" in table.stdout and "images per class" in table.stdout

    export = invoke(runner, "data", "export", "--count", "3", "--start", "2", "--out-dir",
                    tmp_path / "digits")
    assert export.exit_code == 0, export.output
    from cnnkit.data.mnist import load_split

    images, labels = load_split("test")
    names = sorted(p.name for p in (tmp_path / "digits").iterdir())
    assert names == sorted(f"{i}_{labels[i]}.png" for i in (2, 3, 4))
    written = tmp_path / "digits" / f"2_{labels[2]}.png"
    np.testing.assert_array_equal(np.asarray(Image.open(written)), images[2])

    (home / "folders").mkdir()  # a decoded folder dataset is cleared with MNIST
    (home / "folders" / "0123.npz").write_bytes(b"cached")
    refused = invoke(runner, "data", "clear")  # no input: not confirmed
    assert refused.exit_code == 1 and (home / "mnist").exists() and (home / "folders").exists()
    cleared = invoke(runner, "data", "clear", "--yes")
    assert cleared.exit_code == 0, cleared.output
    assert not (home / "mnist").exists() and not (home / "folders").exists()
    again = invoke(runner, "data", "clear", "--yes")
    assert again.exit_code == 0 and "nothing to clear" in again.stderr


@needs_shared
def test_fetch_over_http_with_mirrors_from_the_environment(runner, monkeypatch, serve):
    monkeypatch.setenv("CNNKIT_MNIST_MIRRORS", serve(SHARED_MNIST))
    result = invoke(runner, "data", "fetch", "--source", "https")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("SHA-256 matches") == 4


@needs_shared
def test_info_on_a_data_folder(runner):
    result = invoke(runner, "data", "info", "--data", SHARED_MNIST, "--json")
    assert result.exit_code == 0
    assert all(f["path"].endswith(".gz") for f in json.loads(result.stdout)["files"])
