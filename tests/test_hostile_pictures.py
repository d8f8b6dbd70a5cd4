"""Hostile pictures against every command that reads one: each gets one line naming the file
and the cause, exit 1, no traceback, and nothing written."""

from __future__ import annotations

import errno

import pytest

from tests.hostile_kit import (
    assert_one_line,
    bad_pictures,
    make_picture,
    os_error,
    png_bytes,
    digit_array,
    run,
    snapshot,
)

BAD = bad_pictures()

# command name -> argv builder (picture path, output folder); folder-checking Typer arguments
# (exists=True) report a missing file themselves, as a usage error.
COMMANDS = {
    "filter": lambda p, out: ["filter", "-k", "laplacian", p, "--out-dir", out],
    "pool": lambda p, out: ["pool", p, "--out-dir", out],
    "stack": lambda p, out: ["stack", p, "laplacian | relu", "-o", out / "s.png"],
    "predict": lambda p, out: ["predict", p],
    "featuremaps": lambda p, out: ["featuremaps", p, "-o", out / "f.png"],
    "explain": lambda p, out: ["explain", "conv", "--image", p, "--no-animate"],
    "kernels-plot": lambda p, out: ["kernels", "show", "laplacian", "--plot", out / "k.png",
                                    "--image", p],
}
TYPER_CHECKED = {"featuremaps", "kernels-plot"}
CASES = [(command, row) for command in COMMANDS for row in BAD
         if not (command in TYPER_CHECKED and row in ("missing", "folder"))]


@pytest.mark.parametrize("command, row", CASES, ids=[f"{c}-{r}" for c, r in CASES])
def test_bad_picture_gets_its_own_message(runner, tmp_path, command, row):
    name, content, needles = BAD[row]
    source = tmp_path / "in"
    source.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    picture = make_picture(source, name, content)
    before = snapshot(tmp_path)
    result = run(runner, *COMMANDS[command](picture, out))
    assert_one_line(result, 1, *needles)
    assert snapshot(tmp_path) == before  # nothing written, nothing changed


@pytest.mark.parametrize("command", ["filter", "pool", "stack", "predict", "featuremaps",
                                     "explain"])
def test_permission_problem_is_not_called_corrupt(runner, tmp_path, monkeypatch, command):
    """Running as root, chmod does not stop reads: the open itself is made to fail."""
    from cnnkit.imaging import picture_checks

    picture = tmp_path / "locked.png"
    picture.write_bytes(png_bytes(digit_array()))
    out = tmp_path / "out"
    out.mkdir()

    def denied(*args, **kwargs):
        raise os_error(errno.EACCES)

    monkeypatch.setattr(picture_checks, "open", denied, raising=False)
    before = snapshot(tmp_path)
    result = run(runner, *COMMANDS[command](picture, out))
    line = assert_one_line(result, 1, "locked.png", "permission denied")
    assert "corrupt" not in line and "truncated" not in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["filter", "pool", "predict"])
def test_pixel_limit_is_stated_in_pixels(runner, tmp_path, command):
    picture = tmp_path / "p.png"
    picture.write_bytes(png_bytes(digit_array()))
    out = tmp_path / "out"
    out.mkdir()
    result = run(runner, *COMMANDS[command](picture, out), "--max-pixels", "10")
    assert_one_line(result, 1, "p.png", "40x40 is 1,600 pixels", "limit of 10 pixels",
                    "--max-pixels")


@pytest.mark.parametrize("name", ["[bold]x.png", "a:m:b.png", "[red]odd].png", "smile:smile:.png"])
def test_markup_in_file_names_is_printed_as_is(runner, tmp_path, name):
    result = run(runner, "filter", "-k", "laplacian", tmp_path / name)
    line = assert_one_line(result, 1, "no such file")
    assert name in line


def test_one_bad_picture_in_a_batch_keeps_the_good_ones(runner, tmp_path):
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes(digit_array()))
    bad = make_picture(tmp_path, *BAD["truncated-png"][:2])
    out = tmp_path / "out"
    result = run(runner, "filter", "-k", "laplacian", good, bad, "--out-dir", out)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["good.laplacian.png"]
    assert "cut.png" in result.stderr and "truncated" in result.stderr


def test_a_batch_of_only_bad_pictures_leaves_no_output_folder(runner, tmp_path):
    bad = make_picture(tmp_path, *BAD["empty"][:2])
    out = tmp_path / "out"
    result = run(runner, "pool", bad, "--out-dir", out)
    assert result.exit_code == 1
    assert not out.exists()


@pytest.mark.parametrize("args", [
    ["filter", "-k", "box", "--size", "31", "--border", "valid"],
    ["pool", "--size", "64"],
])
def test_a_failure_in_a_batch_names_its_file(runner, tmp_path, args):
    small = tmp_path / "small.png"
    small.write_bytes(png_bytes(digit_array()[:20, :20]))
    result = run(runner, *args[:1], small, *args[1:], "--out-dir", tmp_path / "out")
    assert_one_line(result, 1, "small.png")


def test_a_newline_in_a_file_name_stays_on_one_line(runner, tmp_path):
    result = run(runner, "filter", "-k", "box", tmp_path / "two\nlines.png", "--out-dir",
                 tmp_path / "out")
    assert_one_line(result, 1, "two lines.png", "no such file")
