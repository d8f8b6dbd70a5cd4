"""Numeric options on every command: NaN and infinity refused at the edge, sizes bounded with
the bound in the message; property tests for the parsers of kernel text, stack text, pool
sizes, picture headers and IDX files."""

from __future__ import annotations

import typing

import numpy as np
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile_kit import (
    assert_one_line,
    chunk,
    digit_array,
    png_bytes,
    run,
    snapshot,
    tiny_mnist,
)


def _leaf_commands():
    from cnnkit.cli import app

    def walk(command, path):
        if getattr(command, "commands", None):
            for name, sub in command.commands.items():
                yield from walk(sub, path + [name])
        else:
            yield path, command

    yield from walk(typer.main.get_command(app), [])


def _is_float_option(param) -> bool:
    """Typer 0.2x describes a parameter's type by its annotation; older Typer by Click types."""
    if not any(opt.startswith("--") for opt in param.opts):
        return False
    described = getattr(param, "type_descriptor", None)
    if described is not None:
        annotation = described.annotation
        return annotation is float or float in typing.get_args(annotation)
    return type(param.type).__name__ in ("FloatParamType", "FloatRange")


FLOAT_OPTIONS = [(tuple(path), max(p.opts, key=len))
                 for path, command in _leaf_commands() for p in command.params
                 if _is_float_option(p)]


def _base(path, folder):
    """The least each command needs besides the option under test."""
    picture = folder / "d.png"
    return {
        ("filter",): ["filter", "-k", "gaussian", picture, "-o", folder / "o.png"],
        ("kernels", "show"): ["kernels", "show", "unsharp"],
        ("train",): ["train", "--data", folder / "mnist", "--no-verify", "-o", folder / "m.npz"],
        ("predict",): ["predict", picture],
        ("explain", "conv"): ["explain", "conv", "--no-animate"],
        ("explain", "relu"): ["explain", "relu", "--no-animate"],
        ("explain", "pool"): ["explain", "pool", "--no-animate"],
    }[path]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("opts")
    (folder / "d.png").write_bytes(png_bytes(digit_array()))
    tiny_mnist(folder / "mnist", count=24)
    return folder


def test_every_float_option_is_covered():
    names = {name for _, name in FLOAT_OPTIONS}
    assert {"--bias", "--cval", "--scale", "--sigma", "--amount", "--lr", "--dropout",
            "--min-confidence", "--delay"} <= names


@pytest.mark.parametrize("path, option", FLOAT_OPTIONS,
                         ids=[f"{' '.join(p)} {o}" for p, o in FLOAT_OPTIONS])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_nan_and_infinity_are_refused(runner, folder, path, option, value):
    before = snapshot(folder)
    result = run(runner, *_base(path, folder), option, value)
    if result.exit_code == 2 and "error:" not in result.stderr:  # a range Typer checks itself
        assert "Traceback" not in result.output and option in result.output
        return
    assert_one_line(result, 2, option, "finite")
    assert snapshot(folder) == before


@pytest.mark.parametrize("args, needles", [
    (["kernels", "show", "box", "--size", "100001"], ("100001", "255")),
    (["kernels", "show", "gaussian", "--sigma", "300"], ("1801x1801", "--sigma 42.3")),
    (["kernels", "show", "log", "--sigma", "1e6"], ("--sigma", "255x255")),
    (["kernels", "show", "gaussian", "--sigma", "1", "--size", "4"], ("odd",)),
    (["kernels", "show", "unsharp", "--amount", "1e9"], ("--amount", "1000")),
    (["kernels", "show", "gaussian", "--sigma", "-1"], ("positive",)),
    (["kernels", "show", "motion", "--size", "0"], ("odd",)),
])
def test_kernel_parameters_are_bounded(runner, args, needles):
    assert_one_line(run(runner, *args), 1, *needles)


@pytest.mark.parametrize("extra, needles", [
    (["-k", "gaussian", "--sigma", "1e6"], ("--sigma",)),
    (["-k", "box", "--size", "100001"], ("--size 100001",)),
    (["--kernel-values", "1 " * 300], ("300", "255")),
    (["--kernel-values", "1e39 0 0"], ("float32",)),
    (["--kernel-values", "1 2; 3"], ("different lengths",)),
    (["-k", "laplacian", "--scale", "1e38"], ("float32",)),
    (["-k", "identity", "--bias", "3e38", "--scale", "1e37"], ("overflow",)),
])
def test_filter_options_are_bounded(runner, folder, extra, needles):
    before = snapshot(folder)
    result = run(runner, "filter", folder / "d.png", "-o", folder / "o.png", *extra)
    assert_one_line(result, 1, *needles)
    assert snapshot(folder) == before


@pytest.mark.parametrize("args", [
    ["--size", "0"], ["--size", "3x"], ["--size", "x3"], ["--size", "-2"],
    ["--size", "9" * 5000], ["--stride", "30000"], ["--size", "2x0"], ["--stride", "nan"],
])
def test_pool_sizes_are_checked(runner, folder, args):
    result = run(runner, "pool", folder / "d.png", "-o", folder / "p.png", *args)
    assert_one_line(result, 2, args[0])


def test_pool_upscale_is_bounded_by_max_pixels(runner, folder):
    result = run(runner, "pool", folder / "d.png", "-o", folder / "p.png", "--size", "4",
                 "--upscale", "--max-pixels", "1000")
    # the picture itself is 1,600 pixels: refused on reading, with the limit in the message
    assert_one_line(result, 1, "1,000 pixels", "--max-pixels")


def test_stack_that_would_make_too_many_maps_is_refused(runner, folder):
    five = "laplacian,sobel-x,box,sharpen,emboss"
    result = run(runner, "stack", folder / "d.png", f"{five} | {five} | {five} | {five}",
                 "-o", folder / "s.png")
    assert_one_line(result, 1, "625 feature maps", "256")


@pytest.mark.parametrize("args, code, needles", [
    (["--limit", "20", "--val-split", "20"], 2, ("--val-split 20", "no training images")),
    (["--val-split", "5000"], 2, ("--val-split 5000", "24")),
    (["--seed", "-1"], 2, ("--seed",)),
])
def test_train_refuses_only_the_impossible(runner, folder, tmp_path, args, code, needles):
    result = run(runner, "train", "--data", folder / "mnist", "--no-verify", "-o",
                 tmp_path / "m.npz", *args)
    if code == 2 and "error:" not in result.stderr:
        assert result.exit_code == 2 and "Traceback" not in result.output
        return
    assert_one_line(result, code, *needles)


def test_a_small_limit_just_works(runner, folder, tmp_path):
    """The documented quick try: --limit alone leaves a validation split that fits."""
    result = run(runner, "train", "--data", folder / "mnist", "--no-verify", "--limit", "24",
                 "--epochs", "1", "--batch-size", "8", "--quiet", "-o", tmp_path / "m.npz")
    assert result.exit_code == 0, result.output
    from cnnkit.nn.io import load_model

    assert load_model(tmp_path / "m.npz")[1]["training"]["val_split"] == 2


# ---- property tests of the parsers -------------------------------------------------------

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(st.text(alphabet="0123456789.-+eE/ ;,\n#xnaif" , max_size=80))
def test_kernel_text_parses_or_says_why(text):
    from cnnkit.errors import KernelError
    from cnnkit.imaging.kernels import MAX_SIZE, parse_matrix

    try:
        matrix = parse_matrix(text)
    except KernelError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert matrix.dtype == np.float32 and matrix.ndim == 2
    assert np.isfinite(matrix).all() and max(matrix.shape) <= MAX_SIZE


@FAST
@given(st.text(max_size=60))
def test_stack_text_parses_or_says_where(text):
    from cnnkit.imaging import pipeline
    from cnnkit.errors import CnnkitError

    try:
        steps = pipeline.parse(text)
    except CnnkitError as exc:
        assert str(exc)
        return
    assert steps


@FAST
@given(st.text(max_size=30))
def test_pool_size_text_is_a_bounded_pair_or_a_usage_error(text):
    from cnnkit.cli import common
    from cnnkit.cli.pool_cmd import MAX_WINDOW, _pair

    try:
        pair = _pair(text, "--size")
    except common.Exit as exc:
        assert exc.exit_code == 2
        return
    assert all(1 <= v <= MAX_WINDOW for v in pair)


_GOOD_PNG = png_bytes(digit_array())


@FAST
@given(st.lists(st.tuples(st.integers(0, len(_GOOD_PNG) - 1), st.integers(0, 255)),
                min_size=1, max_size=6),
       st.integers(8, len(_GOOD_PNG)))
def test_damaged_png_reads_or_says_why(tmp_path_factory, edits, keep):
    from cnnkit.imaging import io as imaging
    from cnnkit.errors import CnnkitError

    data = bytearray(_GOOD_PNG[:keep])
    for position, value in edits:
        if position < len(data):
            data[position] = value
    path = tmp_path_factory.mktemp("png") / "x.png"
    path.write_bytes(bytes(data))
    try:
        picture = imaging.read_image(path, max_pixels=1_000_000)
    except CnnkitError as exc:
        assert str(path) in str(exc)
        return
    assert np.isfinite(picture.pixels).all()


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.sampled_from([1, 2, 4, 8, 16]),
       st.sampled_from([0, 2, 3, 4, 6, 7]), st.binary(max_size=64))
def test_png_header_of_any_size_reads_or_says_why(tmp_path_factory, width, height, depth,
                                                  colour, body):
    import struct
    import zlib

    from cnnkit.imaging import io as imaging
    from cnnkit.errors import CnnkitError

    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b""))
    path = tmp_path_factory.mktemp("hdr") / "h.png"
    path.write_bytes(data)
    try:
        picture = imaging.read_image(path, max_pixels=1_000_000)
    except CnnkitError as exc:
        assert str(path) in str(exc)
        return
    assert picture.pixels.shape[:2] == (height, width)


@FAST
@given(st.binary(max_size=64))
def test_idx_bytes_parse_or_say_why(data):
    from cnnkit.data.idx import parse_idx
    from cnnkit.errors import DataError

    try:
        array = parse_idx(data, "x")
    except DataError:
        return
    assert array.size >= 0


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                 st.text(alphabet="0123456789.-+eEnaif", min_size=1, max_size=12)))
def test_bias_text_never_crashes(runner, folder, text):
    result = run(runner, "filter", "-k", "box", folder / "d.png", "-o", folder / "b.png",
                 "--force", "--bias", text)
    assert "Traceback" not in result.output and result.exit_code in (0, 1, 2)
    if result.exit_code == 0:
        assert np.isfinite(float(text))
