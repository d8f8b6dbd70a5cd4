"""Ctrl-C at any moment, warnings, and crashes, in real processes where it matters: never a
traceback, exit 130 for an interrupt, and nothing half-written."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from tests.conftest import ROOT
from tests.hostile_kit import assert_one_line, digit_array, png_bytes, run, snapshot

# Runs cnnkit's real entry point, raising SIGINT at the moment the named module is imported.
INTERRUPT_AT_IMPORT = textwrap.dedent("""
    import builtins, os, signal, sys
    target, argv = sys.argv[1], sys.argv[2:]
    sys.argv = ["cnnkit"] + argv
    real = builtins.__import__
    def importing(name, *args, **kwargs):
        if name == target:
            builtins.__import__ = real
            os.kill(os.getpid(), signal.SIGINT)
        return real(name, *args, **kwargs)
    builtins.__import__ = importing
    from cnnkit.__main__ import main
    main()
""")


def _python(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


@pytest.mark.parametrize("module, argv", [
    ("typer", ["kernels"]),
    ("rich.console", ["kernels"]),
    ("cnnkit.cli.overview", ["--help"]),
    ("cnnkit.cli.root", ["filter", "--help"]),
    ("numpy", ["kernels", "show", "laplacian"]),
    ("PIL", ["filter", "-k", "box", "IMAGE", "-o", "OUT"]),
])
def test_ctrl_c_during_start_up_or_imports_is_one_line(tmp_path, module, argv):
    picture = tmp_path / "a.png"
    picture.write_bytes(png_bytes(digit_array()))
    argv = [str(picture) if a == "IMAGE" else str(tmp_path / "o.png") if a == "OUT" else a
            for a in argv]
    done = _python("-c", INTERRUPT_AT_IMPORT, module, *argv)
    assert "Traceback" not in done.stderr + done.stdout
    assert done.returncode == 130, done.stderr
    assert "interrupted" in done.stderr
    assert not (tmp_path / "o.png").exists()


def test_ctrl_c_during_the_work_leaves_nothing(runner, tmp_path, monkeypatch):
    picture = tmp_path / "a.png"
    picture.write_bytes(png_bytes(digit_array()))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("cnnkit.imaging.filtering.apply_filter", interrupted)  # float pictures
    monkeypatch.setattr("cnnkit.imaging.filtering.filter_to_pixels", interrupted)  # 8/16-bit ones
    before = snapshot(tmp_path)
    result = run(runner, "filter", "-k", "box", picture, picture.with_name("b.png"),
                 "--out-dir", tmp_path / "out")
    assert_one_line(result, 130, "interrupted")
    assert snapshot(tmp_path) == before


def test_warnings_are_silenced_on_purpose(runner, tmp_path, monkeypatch):
    from cnnkit.imaging import kernels

    real = kernels.build

    def noisy(*args, **kwargs):
        warnings.warn("overflow encountered in multiply", RuntimeWarning)
        warnings.warn("Palette images with Transparency expressed in bytes", UserWarning)
        return real(*args, **kwargs)

    monkeypatch.setattr(kernels, "build", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # even where warnings are errors, the command runs
        result = run(runner, "kernels", "show", "laplacian")
    assert result.exit_code == 0
    assert "Warning" not in result.output and "overflow" not in result.output


def test_an_unexpected_error_is_one_line_that_asks_for_a_report(runner, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise IndexError("index 7 is out of bounds for axis 0 with size 3")

    monkeypatch.setattr("cnnkit.imaging.kernels.build", broken)
    result = run(runner, "kernels", "show", "laplacian")
    line = assert_one_line(result, 1, "unexpected IndexError", "--debug")
    assert "out of bounds" not in line
    debug = run(runner, "--debug", "kernels", "show", "laplacian")
    assert isinstance(debug.exception, IndexError)  # --debug shows the real thing


def test_real_process_writing_under_proc(tmp_path):
    picture = tmp_path / "a.png"
    picture.write_bytes(png_bytes(digit_array()))
    done = _python("-m", "cnnkit", "filter", "-k", "box", str(picture), "-o",
                   "/proc/self/cnnkit.png")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: /proc/self/cnnkit.png")


def test_real_process_with_a_random_model(tmp_path):
    model = tmp_path / "m.npz"
    model.write_bytes(os.urandom(2048))
    done = _python("-m", "cnnkit", "info", str(model))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "pickle" not in done.stderr and "m.npz" in done.stderr


def test_running_out_of_memory_says_how_much(runner, monkeypatch):
    import numpy as np

    def huge(*args, **kwargs):
        return np.empty((2**40, 2**20), np.float32)  # numpy refuses: _ArrayMemoryError

    monkeypatch.setattr("cnnkit.imaging.kernels.build", huge)
    result = run(runner, "kernels", "show", "laplacian")
    assert_one_line(result, 1, "not enough memory", "asked for")
