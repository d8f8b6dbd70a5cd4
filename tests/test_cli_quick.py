"""The quick path (cnnkit/cli/quick.py): a plainly valid ``filter`` or ``predict`` parsed
without Typer into exactly what Typer passes, and everything else left to Typer."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnkit.cli import quick
from tests.conftest import ROOT, SAMPLES

TABLES = {name: build() for name, build in quick.COMMANDS.items()}


def _work(name):
    """(module, function name) of a command's work."""
    module, function = TABLES[name].work
    return importlib.import_module(module), function


def _typer_command(name):
    from cnnkit.cli import app

    return typer.main.get_command(app).commands[name]


def _typer_values(runner, argv, monkeypatch):
    """The keyword arguments Typer passes to the command's work for ``argv``, or None when
    Typer refuses it."""
    from cnnkit.cli import app

    seen = []
    monkeypatch.setattr(*_work(argv[0]), lambda **values: seen.append(values))
    result = runner.invoke(app, argv)
    monkeypatch.undo()
    if result.exit_code != 0:
        assert not seen
        return None
    (values,) = seen
    return values


def _quick_values(argv):
    """``argv`` as quick.py reads it, every default filled in; None when it leaves it."""
    try:
        given = TABLES[argv[0]].parse(argv[1:])
    except quick.Slow:
        return None
    bound = inspect.signature(getattr(*_work(argv[0]))).bind(**given)
    bound.apply_defaults()
    return dict(bound.arguments)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_option_of_the_typer_command_is_read_under_the_same_names(name):
    params = _typer_command(name).params
    typer_names = {p.name: (tuple(sorted(p.opts + p.secondary_opts)), p.is_flag)
                   for p in params if p.param_type_name == "option"}
    quick_names = {o.dest: (tuple(sorted(o.names)), o.read is None)
                   for o in TABLES[name].options}
    assert quick_names == typer_names
    (argument,) = [p.name for p in params if p.param_type_name == "argument"]
    assert argument == TABLES[name].inputs


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_work_takes_the_typer_commands_parameters_and_defaults(name):
    declared = inspect.signature(getattr(importlib.import_module(f"cnnkit.cli.{name}_cmd"),
                                         f"{name}_command")).parameters
    plain = inspect.signature(getattr(*_work(name))).parameters
    assert list(declared) == list(plain)
    assert {n: p.default for n, p in declared.items()} == {n: p.default for n, p in plain.items()}


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """A readable picture, a folder, a text file and a name that does not exist."""
    from PIL import Image

    root = tmp_path_factory.mktemp("quick")
    Image.new("L", (8, 8), 7).save(root / "a.png")
    (root / "folder").mkdir()
    (root / "k.txt").write_text("0 1 0\n1 -4 1\n0 1 0\n")
    return {"picture": str(root / "a.png"), "folder": str(root / "folder"),
            "text": str(root / "k.txt"), "missing": str(root / "nothing.png")}


VALUES = ["laplacian", "0 1 0; 1 -4 1; 0 1 0", "3", "-2", "0", "1", "10", "11", "10000", "10001",
          "0.5", "1.0", "1.01", "1.5", "-0.25", "mnist", "none", "1e3", "1e999", "nan", "inf", "1_0", " 2", "+4", ".5", "5.", "", "-", "--", "conv",
          "corr", "CONV", "reflect", "zero", "edges", "float", "small", "n", "png", "=x"]
PLACES = ["picture", "folder", "text", "missing"]


def _reads(option, value) -> bool:
    try:
        option.read(value)
    except quick.Slow:
        return False
    return True


@st.composite
def command_argv(draw, name, places):
    """The command then a mix of its options (any of their names, with ``=`` or apart),
    inputs and, now and then, an odd word. Values are mostly ones quick.py reads (those it
    refuses are Typer's anyway), so most lists are read here and compared."""
    pool = VALUES + [places[p] for p in PLACES]
    words = []
    for option in draw(st.lists(st.sampled_from(TABLES[name].options), max_size=6,
                                unique=True)):
        flag = draw(st.sampled_from(option.names))
        if option.read is None:
            words.append(draw(st.sampled_from([flag] * 9 + [f"{flag}=1"])))
            continue
        fitting = [v for v in pool if _reads(option, v)]
        value = draw(st.sampled_from(fitting * 9 + pool))
        words += draw(st.sampled_from([[flag, value]] * 4 + [[f"{flag}={value}"], [flag]]))
    inputs = draw(st.lists(st.sampled_from(PLACES).map(places.get), min_size=1, max_size=2))
    odd = draw(st.sampled_from([[]] * 20 + [[w] for w in (
        "-", "--", "-qv", "-o=x", "--help", "-h", "--nope", "--no-force", "-x", "")]))
    mixed = words + inputs + odd
    order = draw(st.permutations(range(len(mixed))))
    return [name] + [mixed[i] for i in order]


@pytest.mark.parametrize("name", sorted(TABLES))
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_what_quick_reads_typer_reads_the_same(name, data, places, runner, monkeypatch):
    argv = data.draw(command_argv(name, places))
    mine = _quick_values(argv)
    if mine is None:
        return  # Typer's to run
    assert _typer_values(runner, argv, monkeypatch) == mine, argv


@pytest.mark.parametrize("argv", [
    ["filter", "--kernel-values", "0 1 0; 1 -4 1; 0 1 0", "{picture}", "-o", "{missing}",
     "--force", "-q"],
    ["filter", "-k", "laplacian", "{picture}"],
    ["filter", "--kernel=sobel", "{picture}", "{folder}", "--range", "edges", "--stride=2",
     "--out-dir", "{folder}", "--json"],
    ["filter", "{picture}", "--kernel-file", "{text}", "--bias", "-5", "--scale", "0.5", "-v"],
    ["filter", "-k", "box", "{picture}", "--size", "9" * 400],  # past any float
    ["predict", "{picture}"],
    ["predict", "{folder}", "--top=5", "--json", "-m", "{picture}", "--min-confidence", "0.9",
     "--csv", "{missing}", "--show-steps", "{folder}", "--preprocess", "none", "-q"],
])
def test_plainly_valid_arguments_are_read_quickly_as_typer_reads_them(argv, places, runner,
                                                                     monkeypatch):
    argv = [word.format(**places) for word in argv]
    mine = _quick_values(argv)
    assert mine is not None
    assert _typer_values(runner, argv, monkeypatch) == mine


@pytest.mark.parametrize("argv", [
    ["filter"], ["filter", "--help"], ["filter", "-k", "box", "-"], ["filter", "-qv", "x.png"],
    ["filter", "-k", "box", "x.png", "-q", "-q"], ["filter", "-k"], ["filter", "--", "x.png"],
    ["filter", "-k", "box", "x.png", "--stride", "0"], ["filter", "-k", "box", "x.png",
                                                         "--scale", "nan"],
    ["predict", "x.png", "--top", "11"], ["predict", "x.png", "--min-confidence", "1.5"],
    ["predict", "x.png", "--multi=1"], ["predict", "x.png", "--show-steps", "{picture}"],
    ["pool", "x.png"], ["--debug", "filter", "-k", "box", "x.png"], [],
])
def test_everything_else_is_left_to_typer(argv, places):
    assert quick.parse([word.format(**places) for word in argv]) is None


def test_shell_completion_is_left_to_typer():
    argv = ["filter", "-k", "box", "x.png"]
    assert quick.parse(argv, environ={}) is not None
    assert quick.parse(argv, environ={"_CNNKIT_COMPLETE": "bash_complete"}) is None


def _cnnkit(*argv, cwd=ROOT):
    """``python -m cnnkit argv``, then whether Typer was imported (printed by an atexit
    hook, so it sees the process as it ends)."""
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('typer' in sys.modules, file=sys.stderr))\n"
            "from cnnkit.__main__ import run\n"
            "sys.argv = ['cnnkit'] + sys.argv[1:]\n"
            "run()\n")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          cwd=cwd, env={k: v for k, v in os.environ.items()
                                        if not k.endswith("_COMPLETE")})
    *lines, typer_imported = done.stderr.splitlines()
    return done.returncode, lines, typer_imported == "True"


def test_a_plain_filter_runs_without_typer_and_fails_as_under_typer(tmp_path, places):
    out = tmp_path / "out.png"
    code, lines, typer_imported = _cnnkit("filter", "-k", "laplacian", places["picture"],
                                          "-o", str(out))
    assert (code, lines, typer_imported) == (0, [f"wrote {out}"], False)
    # The command's own usage error, a bad picture, and an option only Typer knows
    code, lines, typer_imported = _cnnkit("filter", "-k", "box", "--kernel-values", "1",
                                          places["picture"])
    assert (code, typer_imported) == (2, False)
    assert lines == ["error: give exactly one of --kernel, --kernel-values, --kernel-file"]
    code, lines, typer_imported = _cnnkit("filter", "-k", "box", places["text"], "-o",
                                          str(tmp_path / "bad.png"))
    assert (code, len(lines), typer_imported) == (1, 1, False)
    assert lines[0].startswith("error: ") and "k.txt" in lines[0]
    assert not (tmp_path / "bad.png").exists()
    code, lines, typer_imported = _cnnkit("filter", "-k", "box", places["picture"], "--nope")
    assert (code, typer_imported) == (2, True)
    assert any("--nope" in line for line in lines)


def test_a_plain_predict_runs_without_typer(tmp_path):
    digit = sorted((SAMPLES / "digits").glob("*_*.jpg"))[0]
    code, lines, typer_imported = _cnnkit("predict", str(digit), "--json", "--csv",
                                          str(tmp_path / "out.csv"))
    assert (code, typer_imported) == (0, False)
    assert (tmp_path / "out.csv").is_file()
    code, lines, typer_imported = _cnnkit("predict", str(tmp_path / "none.png"))
    assert (code, typer_imported) == (1, False)
    assert lines == [f"error: {tmp_path / 'none.png'}: cannot read: no such file or folder"]
