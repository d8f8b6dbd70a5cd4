"""Outputs under hostile conditions, for every command that writes: a read-only or full file
system, an existing file, a missing folder, Ctrl-C while writing, a place like /proc. Each
fails with one line naming the file and the cause, and the folder is exactly as before:
no new file (complete or partial) and no existing file changed."""

from __future__ import annotations

import errno
import tempfile

import pytest

from tests.hostile_kit import (
    assert_one_line,
    digit_array,
    history_json,
    os_error,
    png_bytes,
    run,
    snapshot,
    tiny_mnist,
)


@pytest.fixture
def work(tmp_path):
    """Inputs in tmp_path/in, outputs go to tmp_path/out (which exists)."""
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.png").write_bytes(png_bytes(digit_array()))
    (source / "b.png").write_bytes(png_bytes(255 - digit_array()))
    history_json(source / "h.history.json")
    tiny_mnist(source / "mnist")
    out = tmp_path / "out"
    out.mkdir()
    return source, out


# name -> (argv builder, the output checked for "exists", outputs it writes, more than one)
COMMANDS = {
    "filter": lambda s, o: ["filter", "-k", "sobel", s / "a.png", "-o", o / "a.f.png"],
    "filter-batch": lambda s, o: ["filter", "-k", "box", s / "a.png", s / "b.png", "--out-dir",
                                  o / "batch"],
    "pool": lambda s, o: ["pool", s / "a.png", "-o", o / "a.p.png"],
    "pool-batch": lambda s, o: ["pool", s / "a.png", s / "b.png", "--out-dir", o],
    "stack": lambda s, o: ["stack", s / "a.png", "laplacian,box | relu | maxpool 2", "-o",
                           o / "last.png", "--stages", o / "stages", "--sheet", o / "sheet.png"],
    "featuremaps": lambda s, o: ["featuremaps", s / "a.png", "-o", o / "maps.png"],
    "filters": lambda s, o: ["filters", "-o", o / "bank.png", "--as-kernels", o / "kernels"],
    "kernels-plot": lambda s, o: ["kernels", "show", "sobel", "--plot", o / "k.png"],
    "predict-csv": lambda s, o: ["predict", s / "a.png", s / "b.png", "--csv", o / "r.csv",
                                 "--show-steps", o / "steps"],
    "evaluate": lambda s, o: ["evaluate", "--data", s / "mnist", "--no-verify", "--csv",
                              o / "e.csv", "--plot", o / "c.png", "--mistakes", o / "m.png"],
    "plot": lambda s, o: ["plot", s / "h.history.json", "-o", o / "curves.png"],
    "data-export": lambda s, o: ["data", "export", "--data", s / "mnist", "--no-verify",
                                 "--count", "6", "--out-dir", o / "digits"],
    "train": lambda s, o: ["train", "--data", s / "mnist", "--no-verify", "--epochs", "1",
                           "--batch-size", "32", "-o", o / "m.npz"],
}
# One output per command that a test makes exist beforehand: the last one written where there
# are several, so a check made only when writing it would come too late.
EXISTING = {
    "filter": "a.f.png", "filter-batch": "batch/b.box.png", "pool": "a.p.png",
    "pool-batch": "b.maxpool2.png", "stack": "sheet.png", "featuremaps": "maps.png",
    "filters": "kernels/conv_31.txt", "kernels-plot": "k.png", "predict-csv": "r.csv",
    "evaluate": "m.png", "plot": "curves.png", "data-export": "digits/5_5.png",
    "train": "m.history.csv",
}
MANY = {"filter-batch", "pool-batch", "stack", "filters", "predict-csv", "evaluate",
        "data-export", "train"}


def _fail_writes(monkeypatch, code: int, after: int = 0):
    """Every temporary output file after the first ``after`` fails with OSError(code)."""
    real = tempfile.mkstemp
    calls = {"n": 0}

    def mkstemp(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            raise os_error(code)
        return real(*args, **kwargs)

    monkeypatch.setattr("tempfile.mkstemp", mkstemp)  # cnnkit.files imports it when writing
    return calls


def _left(tmp_path, before):
    """New or changed paths; a training checkpoint is meant to survive a failed write."""
    now = snapshot(tmp_path)
    return {p for p in set(now) | set(before)
            if now.get(p) != before.get(p) and not p.endswith(".ckpt.npz")}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("code, words", [(errno.EROFS, "read-only file system"),
                                         (errno.ENOSPC, "no space left")])
def test_unwritable_output_fails_cleanly(runner, tmp_path, work, monkeypatch, command, code,
                                         words):
    source, out = work
    before = snapshot(tmp_path)
    _fail_writes(monkeypatch, code, after=1 if command in MANY else 0)
    result = run(runner, *COMMANDS[command](source, out))
    line = assert_one_line(result, 1, "cannot write", words)
    assert str(out) in line or str(tmp_path) in line  # names the file
    assert _left(tmp_path, before) == set()


@pytest.mark.parametrize("command", list(COMMANDS))
def test_existing_output_is_refused_before_any_work(runner, tmp_path, work, command):
    source, out = work
    target = out / EXISTING[command]
    target.parent.mkdir(exist_ok=True)
    target.write_text("precious")
    before = snapshot(tmp_path)
    result = run(runner, *COMMANDS[command](source, out))
    assert_one_line(result, 1, EXISTING[command].split("/")[-1], "exists", "--force")
    assert _left(tmp_path, before) == set()
    assert target.read_text() == "precious"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_interrupt_while_writing_leaves_nothing(runner, tmp_path, work, monkeypatch, command):
    source, out = work
    before = snapshot(tmp_path)
    real = tempfile.mkstemp
    calls = {"n": 0}

    def mkstemp(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > (1 if command in MANY else 0):
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr("tempfile.mkstemp", mkstemp)  # cnnkit.files imports it when writing
    result = run(runner, *COMMANDS[command](source, out))
    assert_one_line(result, 130, "interrupted")
    assert _left(tmp_path, before) == set()


@pytest.mark.parametrize("command", ["filter", "pool", "stack", "featuremaps", "filters",
                                     "kernels-plot", "plot", "evaluate", "predict-csv",
                                     "train"])
def test_output_in_a_missing_folder_is_refused_and_no_folder_made(runner, tmp_path, work,
                                                                   command):
    source, out = work
    missing = tmp_path / "no" / "such"
    before = snapshot(tmp_path)
    result = run(runner, *COMMANDS[command](source, missing))
    assert_one_line(result, 1, "does not exist")
    assert not (tmp_path / "no").exists()
    assert _left(tmp_path, before) == set()


@pytest.mark.parametrize("command", ["filter", "pool", "featuremaps", "kernels-plot", "plot"])
def test_output_under_proc_is_refused(runner, tmp_path, work, command):
    source, _ = work
    from pathlib import Path

    result = run(runner, *COMMANDS[command](source, Path("/proc/self")))
    assert_one_line(result, 1, "/proc/self")


def test_a_failed_rename_at_the_end_undoes_the_new_files(runner, tmp_path, work, monkeypatch):
    source, out = work
    import os

    real = os.replace
    calls = {"n": 0}

    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 3:
            raise os_error(errno.EIO)
        return real(src, dst)

    monkeypatch.setattr("cnnkit.files.os.replace", replace)
    before = snapshot(tmp_path)
    result = run(runner, *COMMANDS["stack"](source, out))
    assert_one_line(result, 1, "input/output error")
    assert _left(tmp_path, before) == set()


def test_predict_csv_needs_force_and_a_failed_run_keeps_the_old_one(runner, tmp_path, work):
    source, out = work
    csv = out / "r.csv"
    csv.write_text("old results\n")
    (source / "bad.png").write_bytes(b"junk")
    refused = run(runner, "predict", source / "a.png", "--csv", csv)
    assert_one_line(refused, 1, "r.csv", "exists")
    failed = run(runner, "predict", source / "bad.png", source / "a.png", "--csv", csv, "--force")
    assert failed.exit_code == 1 and "Traceback" not in failed.stderr
    assert csv.read_text() == "old results\n"
    done = run(runner, "predict", source / "a.png", "--csv", csv, "--force")
    assert done.exit_code in (0, 3) and csv.read_text().startswith("input,prediction")


def test_two_inputs_with_one_output_name_are_refused_before_work(runner, tmp_path, work):
    source, out = work
    (source / "a.jpg").write_bytes((source / "a.png").read_bytes())
    before = snapshot(tmp_path)
    result = run(runner, "filter", "-k", "box", source / "a.png", source / "a.jpg",
                 "--out-dir", out)
    assert_one_line(result, 1, "would both be written", "a.box.png")
    assert _left(tmp_path, before) == set()


@pytest.mark.parametrize("command", ["filter", "pool", "featuremaps", "plot", "kernels-plot"])
def test_a_pipe_or_device_is_never_replaced_even_with_force(runner, tmp_path, work, command):
    import os
    import stat

    source, out = work
    argv = COMMANDS[command](source, out)
    target = out / "pipe.png"
    os.mkfifo(target)
    slot = argv.index("-o") + 1 if "-o" in argv else argv.index("--plot") + 1
    argv[slot] = target
    result = run(runner, *argv, "--force")
    assert_one_line(result, 1, "pipe.png", "not a regular file")
    assert stat.S_ISFIFO(target.stat().st_mode)
    null = run(runner, *argv[:slot], "/dev/null", *argv[slot + 1:], "--force")
    assert null.exit_code in (1, 2) and "Traceback" not in null.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("command", ["train", "evaluate", "stack", "filter"])
def test_a_read_only_folder_is_refused_before_the_work(runner, tmp_path, work, monkeypatch,
                                                       command):
    import os
    import types

    source, out = work
    real = os.statvfs

    def statvfs(path):
        flags = os.ST_RDONLY if str(out) in str(path) else real(path).f_flag
        return types.SimpleNamespace(f_flag=flags)

    def never(*args, **kwargs):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr("cnnkit.files.os.statvfs", statvfs)
    monkeypatch.setattr("cnnkit.nn.train.Trainer.run", never)
    monkeypatch.setattr("cnnkit.nn.model.Sequential.predict_proba", never)
    monkeypatch.setattr("cnnkit.imaging.pipeline.run", never)
    monkeypatch.setattr("cnnkit.imaging.filtering.apply_filter", never)
    before = snapshot(tmp_path)
    result = run(runner, *COMMANDS[command](source, out))
    assert_one_line(result, 1, "read-only file system")
    assert _left(tmp_path, before) == set()
