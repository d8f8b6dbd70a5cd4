"""Start-up: the compile notice (only on a terminal), and what a command imports."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from rich.console import Console

from cnnkit.cli.notice import MESSAGE, CompileNotice
from cnnkit.ops import compiling
from tests.conftest import ROOT, python_output


def test_notice_shows_a_spinner_on_a_terminal_only():
    shown = io.StringIO()
    notice = CompileNotice(Console(file=shown, force_terminal=True))
    notice.start()
    assert notice.status is not None
    notice.stop()
    assert MESSAGE in shown.getvalue()
    piped = io.StringIO()
    notice = CompileNotice(Console(file=piped, force_terminal=False))
    notice.start()
    notice.stop()
    assert piped.getvalue() == ""


def test_compiling_hooks_run_when_numba_compiles_not_when_it_loads():
    import numba

    import cnnkit.ops._jit  # noqa: F401  (installs the listener)

    calls = []
    hook = (lambda: calls.append("start"), lambda: calls.append("stop"))
    compiling.hooks.append(hook)
    try:
        fresh = numba.njit(lambda x: x * 2 + 1)  # never compiled before: compiles now
        assert fresh(3) == 7
        assert calls == ["start", "stop"]
        fresh(4)  # already compiled: nothing
        assert calls == ["start", "stop"]
    finally:
        compiling.hooks.remove(hook)


def test_filter_does_not_import_scipy_for_numba():
    code = ("import sys, numpy as np\n"
            "from cnnkit.ops.filter2d import filter2d\n"
            "filter2d(np.ones((8, 8), np.float32), np.ones((3, 3)))\n"
            "print('scipy.linalg' in sys.modules)")
    assert python_output(code) == "False"


def test_kernels_load_from_the_cache_without_numbas_registries(tmp_path):
    """ops/_jit.py loads cached machine code without installing Numba's ~250 typing and
    lowering registries (most of the first kernel's load time); the results stay right."""
    code = ("import sys, numpy as np\n"
            "from cnnkit.ops.label import label_components\n"
            "mask = np.zeros((9, 9), bool); mask[1:3, 1:3] = True; mask[5:8, 6] = True\n"
            "labels, count = label_components(mask)\n"
            "print(count, labels.max(), 'numba.np.polynomial' in sys.modules)")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [python_output(code, env).split() for _ in range(2)]
    assert runs[0] == ["2", "2", "True"]  # compiled: the compiler installs the registries
    assert runs[1] == ["2", "2", "False"]  # loaded from the cache: not needed


def test_loaded_kernels_find_their_symbols_without_a_list_of_every_symbol(tmp_path):
    """ops/_jit.py has Numba's JIT engine look a symbol up by name instead of listing every
    symbol of every module it loads; kernels compile, load and run as before."""
    code = ("import numpy as np\n"
            "from cnnkit.ops.label import _label, label_components\n"
            "mask = np.zeros((9, 9), bool); mask[1:3, 1:3] = True; mask[5:8, 6] = True\n"
            "count = label_components(mask)[1]\n"
            "result = _label.overloads[_label.signatures[0]]\n"
            "engine = result.library.codegen._engine\n"
            "listed = len(engine._defined_symbols)\n"
            "print(count, listed < 10, engine.is_symbol_defined(result.fndesc.llvm_func_name),"
            " engine.is_symbol_defined('no_such_symbol'))")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    compiled, loaded = (python_output(code, env).split() for _ in range(2))
    assert compiled == loaded == ["2", "True", "True", "False"]


def test_a_thread_count_chosen_before_numba_starts_holds_for_that_command_only():
    code = ("import sys\n"
            "from cnnkit.cli.common import hold_threads\n"
            "hold_threads(1)\n"
            "assert 'numba' not in sys.modules\n"
            "from cnnkit.ops import _jit\n"
            "import numba\n"
            "first = numba.get_num_threads()\n"
            "hold_threads(None)\n"
            "print(first, numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS,\n"
            "      'NUMBA_NUM_THREADS' in __import__('os').environ)")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, env=env, check=True)
    assert result.stdout.split() == ["1", "True", "False"]


def test_kernels_with_array_methods_load_from_the_cache_without_scipy(tmp_path):
    """A cached kernel calling ``mask.any()`` rebuilds its environment through
    numba.np.arraymath, whose BLAS probe would import scipy.linalg (0.1-0.3 s)."""
    code = ("import sys, numpy as np\n"
            "from cnnkit.ops.ink import erosion_steps\n"
            "assert erosion_steps(np.pad(np.ones((5, 5), bool), 1)) > 0\n"
            "print('scipy.linalg' in sys.modules)")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    for _ in range(2):  # the first run compiles, the second loads from the cache
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                cwd=ROOT, env=env, check=True)
        assert result.stdout.strip() == "False"


def test_progress_bar_only_where_one_is_shown(monkeypatch):
    """A bar on a terminal for several files; otherwise the same calls do nothing, and rich's
    progress module (a share of a one-file command's start) is not imported."""
    from cnnkit.cli import common

    code = ("import sys\n"
            "from cnnkit.cli import common\n"
            "with common.progress(5, False, 'x') as bar:\n"
            "    bar.advance(bar.add_task('', total=5))\n"
            "print('rich.progress' in sys.modules)")
    assert python_output(code) == "False"
    shown = io.StringIO()
    monkeypatch.setattr(common.err, "_console", Console(file=shown, force_terminal=True))
    with common.progress(5, False, "frames") as bar:
        bar.advance(bar.add_task("", total=5))
    assert "frames" in shown.getvalue()
    assert type(common.progress(1, False, "frames")) is common._Silent  # one file
    assert type(common.progress(5, True, "frames")) is common._Silent  # quiet


def test_a_one_picture_command_prints_without_rich(tmp_path):
    """rich's console and markup are a share of a one-picture command's start: quiet, the
    command prints nothing; not quiet, its one "wrote" line is written without them, unless a
    setting such as FORCE_COLOR asks for rich's own drawing. (A Laplacian on a small picture
    never starts Numba, so no compile notice asks rich about the terminal, whatever the
    state of the kernel cache.)"""
    from PIL import Image

    Image.new("L", (16, 16), 90).save(tmp_path / "x.png")
    code = ("import sys\n"
            "from cnnkit.__main__ import main\n"
            "given = sys.argv[1:]\n"
            "sys.argv = ['cnnkit', 'filter', '-k', 'laplacian', given[0], '--force'] + given[1:]\n"
            "try: main()\n"
            "except SystemExit as done: assert not done.code, done.code\n"
            "print('rich.console' in sys.modules, 'rich.markup' in sys.modules,\n"
            "      'numba' in sys.modules, file=sys.stderr)")
    out = tmp_path / "x.laplacian.png"
    for extra, setting, expected in (([], {}, [f"wrote {out}", "False False False"]),
                                     (["-q"], {}, ["False False False"]),
                                     ([], {"FORCE_COLOR": "1"},
                                      [f"\x1b[32mwrote\x1b[0m {out}", "True True False"])):
        env = {name: value for name, value in os.environ.items()
               if name not in ("FORCE_COLOR", "NO_COLOR")} | setting
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.png"), *extra],
                              capture_output=True, text=True, cwd=ROOT, env=env, check=True)
        assert done.stderr.splitlines()[-len(expected):] == expected


def test_the_process_entry_freezes_the_heap_and_keeps_the_rest_of_the_exit(tmp_path):
    """``run`` (the ``cnnkit`` script and ``python -m cnnkit``) exits with the command's code,
    its output flushed and atexit handlers run as ever; only the collector's passes are spared
    (the heap is frozen by then). ``main`` alone, which tests and callers use, freezes nothing."""
    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: print('at exit, frozen:', gc.get_freeze_count() > 0))\n"
            "from cnnkit.__main__ import main, run\n"
            "entry, sys.argv = sys.argv[1], ['cnnkit'] + sys.argv[2:]\n"
            "if entry == 'main':\n"
            "    try: main()\n"
            "    except SystemExit: pass\n"
            "else: run()\n")
    runs = {name: subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                                 text=True, cwd=ROOT)
            for name, argv in (("main", ["main", "kernels"]), ("run", ["run", "kernels"]),
                               ("failing", ["run", "filter", "-k", "box",
                                            str(tmp_path / "none.png")]))}
    assert runs["main"].stdout.strip().splitlines()[-1] == "at exit, frozen: False"
    assert "laplacian" in runs["run"].stdout
    assert runs["run"].returncode == 0
    assert runs["run"].stdout.strip().splitlines()[-1] == "at exit, frozen: True"
    assert runs["failing"].returncode != 0
    assert "none.png" in runs["failing"].stderr
    assert runs["failing"].stdout.strip().splitlines()[-1] == "at exit, frozen: True"
