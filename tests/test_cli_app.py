"""The application as a whole: version, help, docs coverage, start-up cost, the Numba cache."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.main import get_command

from cnnkit import __version__
from tests.conftest import ROOT, invoke, python_output


def _commands(group, prefix=()):
    """Every (path, command) below a group; groups are the commands with sub-commands."""
    for name, command in group.commands.items():
        path = (*prefix, name)
        yield path, command
        if getattr(command, "commands", None):
            yield from _commands(command, path)


def test_version(runner):
    result = invoke(runner, "--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"cnnkit {__version__}"


def test_every_command_has_help_and_a_docs_entry(runner):
    from cnnkit.cli import app

    usage = (ROOT / "docs" / "usage.md").read_text()
    for path, command in _commands(get_command(app)):
        assert command.help, f"{' '.join(path)} has no help text"
        assert f"cnnkit {' '.join(path)}" in usage, f"docs/usage.md lacks 'cnnkit {' '.join(path)}'"
        result = invoke(runner, *path, "--help")
        assert result.exit_code == 0 and "Usage" in result.stdout


def test_every_command_is_found_by_its_module():
    """``cnnkit X`` registers only X's module (cli/__init__.py's MODULES): each command must
    be there, under the module that registers it."""
    from cnnkit import cli
    from cnnkit.cli.root import app

    cli.register()
    registered = {c.name for c in app.registered_commands} | {
        g.name for g in app.registered_groups}
    assert registered == set(cli.MODULES)
    for name, module in cli.MODULES.items():
        source = (ROOT / "cnnkit" / "cli" / f"{module}.py").read_text()
        assert f'command("{name}"' in source or f'name="{name}"' in source, (name, module)


def test_command_annotations_are_evaluated_as_their_module_is_imported():
    """Typer evaluates string annotations two or three times over while it builds a command
    (13 ms of ``filter``'s start, cli/__init__.py), so no command module postpones them."""
    from cnnkit import cli
    from cnnkit.cli.root import app

    cli.register()
    callbacks = [app.registered_callback.callback] + [c.callback for c in app.registered_commands]
    for group in app.registered_groups:
        instance = group.typer_instance
        callbacks += [c.callback for c in instance.registered_commands]
        if instance.registered_callback is not None:
            callbacks.append(instance.registered_callback.callback)
    assert len(callbacks) > len(cli.MODULES)
    for callback in callbacks:
        postponed = [name for name, hint in callback.__annotations__.items()
                     if isinstance(hint, str)]
        assert not postponed, (callback.__module__, callback.__qualname__, postponed)


@pytest.mark.parametrize(("argv", "command"), [
    (["filter", "x.png"], "filter"), (["--debug", "predict", "-q", "x"], "predict"),
    (["--help"], None), (["-h", "filter"], None), ([], None), (["--version"], None)])
def test_the_command_is_the_first_word_that_is_no_option(argv, command):
    from cnnkit.cli import command_in

    assert command_in(argv) == command


def test_a_command_registers_only_its_own_module():
    code = ("import sys; from cnnkit.cli import app_for; from typer.main import get_command;"
            "group = get_command(app_for(['predict', 'x.png']));"
            "print(sorted(group.commands), sorted(m.rsplit('.', 1)[1] for m in sys.modules"
            " if m.startswith('cnnkit.cli.') and m.endswith('_cmd')))")
    assert python_output(code).split() == ["['predict']", "['predict_cmd']"]


def _run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "cnnkit", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=ROOT, timeout=300)


def test_help_does_not_import_numba_or_numpy():
    code = ("import sys; from cnnkit.cli import app; from typer.main import get_command;"
            "get_command(app); print('numba' in sys.modules, 'numpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "False"]
    assert _run("--help").returncode == 0


def test_later_runs_load_kernels_from_the_on_disk_cache(tmp_path):
    """The first run may compile; the second must only load (NUMBA_DEBUG_CACHE says which).
    A Gaussian's sums are not exact in float32, so even a small picture takes Numba's path."""
    from PIL import Image

    Image.new("L", (32, 32), 90).save(tmp_path / "x.png")
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache"), "NUMBA_DEBUG_CACHE": "1"}
    args = ("filter", "-k", "gaussian", str(tmp_path / "x.png"), "--force", "-q")
    first = _run(*args, env=env)
    assert first.returncode == 0, first.stderr
    second = _run(*args, env=env)
    assert second.returncode == 0, second.stderr
    assert "data loaded" in second.stdout + second.stderr
    assert "data saved" not in second.stdout + second.stderr


def test_a_small_picture_with_an_exact_kernel_never_starts_numba(tmp_path):
    """The light path (ops/light.py): read, filter, map and encode in numpy; the pixels are
    the Numba path's (tests/test_light.py)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3)).astype(np.uint8)).save(tmp_path / "x.png")
    code = ("import sys\n{}\nfrom cnnkit.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('numba' in sys.modules, file=sys.stderr)")
    for args in (["-k", "laplacian"], ["-k", "sobel"], ["--kernel-values", "1 2 1; 2 4 2; 1 2 1",
                                                        "--normalize", "--threads", "1"]):
        files = {}
        for first in ("", "import numba"):  # numba imported first: the Numba path
            out = tmp_path / f"y{bool(first)}.png"
            result = subprocess.run([sys.executable, "-c", code.format(first), "filter", *args,
                                     str(tmp_path / "x.png"), "-o", str(out), "--force", "-q"],
                                    capture_output=True, text=True, cwd=ROOT, timeout=300)
            assert result.stderr.strip() == str(bool(first)), result.stderr
            files[first] = out.read_bytes()
        assert files[""] == files["import numba"]


def test_python_dash_m_and_a_user_error_exit_code():
    result = _run("filter", "-k", "nosuchkernel", "README.md")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error:") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("module", ["cnnkit.ops", "cnnkit.imaging.kernels",
                                    "cnnkit.imaging.filtering", "cnnkit.nn",
                                    "cnnkit.imaging.pipeline", "cnnkit.viz.explain",
                                    "cnnkit.files", "cnnkit.errors", "cnnkit.limits",
                                    "cnnkit.steps", "cnnkit.imaging.kernel_text"])
def test_library_layers_never_import_the_front_end(module):
    """ops, kernels (and nn) never import PIL, typer or rich: a scan of their imports."""
    import ast

    base = ROOT / module.replace(".", "/")
    files = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
    for file in files:
        tree = ast.parse(file.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top not in {"PIL", "typer", "rich", "click"}, f"{file} imports {name}"
                assert not name.startswith("cnnkit.cli"), f"{file} imports {name}"
