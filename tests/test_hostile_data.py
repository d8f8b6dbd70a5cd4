"""Hostile data files: gzip bombs and broken gzip, IDX headers that lie, mismatched files,
against the commands that read MNIST (data info, data export, evaluate, train)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from tests.hostile_kit import assert_one_line, run, snapshot, tiny_mnist

NAME = "t10k-images-idx3-ubyte"


def _replace(folder, content: bytes, name: str = NAME, gz: bool = False):
    (folder / name).unlink(missing_ok=True)
    (folder / f"{name}.gz").unlink(missing_ok=True)
    (folder / (f"{name}.gz" if gz else name)).write_bytes(content)


BAD = {
    "broken-gzip": (b"\x1f\x8b\x08\x00" + b"\x00" * 40, True, ("broken gzip",)),
    "truncated-gzip": (gzip.compress(bytes(range(256)) * 8)[:40], True,
                       ("broken gzip",)),
    "not-idx": (b"hello world, no idx here", False, ("not an IDX file",)),
    "short-header": (b"\x00\x00\x08\x03\x00\x00", False, ("truncated header",)),
    "lying-shape": (b"\x00\x00\x08\x03" + (2**31).to_bytes(4, "big") * 3 + b"\x00" * 16,
                    False, ("truncated",)),
    "trailing": (b"\x00\x00\x08\x01\x00\x00\x00\x02" + b"\x01\x02\x03", False,
                 ("trailing bytes",)),
    "zero-dims": (b"\x00\x00\x08\x00", False, ("0 dimensions",)),
}
COMMANDS = {
    "evaluate": lambda d, o: ["evaluate", "--data", d, "--no-verify"],
    "export": lambda d, o: ["data", "export", "--data", d, "--no-verify", "--out-dir", o / "x"],
    "train": lambda d, o: ["train", "--data", d, "--no-verify", "-o", o / "m.npz"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("row", list(BAD))
def test_bad_data_file(runner, tmp_path, command, row):
    data = tiny_mnist(tmp_path / "mnist", count=16)
    content, gz, needles = BAD[row]
    _replace(data, content, gz=gz)
    before = snapshot(tmp_path)
    result = run(runner, *COMMANDS[command](data, tmp_path))
    assert_one_line(result, 1, NAME, *needles)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", list(COMMANDS))
def test_gzip_bomb_is_refused_without_unpacking_it(runner, tmp_path, monkeypatch, command):
    import cnnkit.data.idx as idx

    monkeypatch.setattr(idx, "MAX_UNPACKED_BYTES", 1 << 16)
    data = tiny_mnist(tmp_path / "mnist", count=16)
    _replace(data, gzip.compress(b"\x00" * (1 << 20)), gz=True)
    before = snapshot(tmp_path)
    result = run(runner, *COMMANDS[command](data, tmp_path))
    assert_one_line(result, 1, NAME, "unpacks to more than", "refused")
    assert snapshot(tmp_path) == before


def test_labels_that_do_not_match_the_images(runner, tmp_path):
    from cnnkit.data.idx import write_idx

    data = tiny_mnist(tmp_path / "mnist", count=16)
    (data / "t10k-labels-idx1-ubyte").unlink()
    write_idx(data / "t10k-labels-idx1-ubyte", np.full(16, 12, np.uint8))
    result = run(runner, "evaluate", "--data", data, "--no-verify")
    assert_one_line(result, 1, "labels outside 0-9")


def test_data_info_reports_unreadable_files_in_its_table(runner, tmp_path):
    data = tiny_mnist(tmp_path / "mnist", count=16)
    _replace(data, b"\x1f\x8b junk", gz=True)
    result = run(runner, "data", "info", "--data", data, "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "broken gzip" in result.stdout


def test_official_checksums_are_required_unless_told(runner, tmp_path):
    data = tiny_mnist(tmp_path / "mnist", count=16)
    result = run(runner, "evaluate", "--data", data)
    assert_one_line(result, 1, "SHA-256 mismatch")
