"""``cnnkit`` and ``cnnkit --help`` drawn without Typer (cli/overview.py): byte for byte what
Typer's rich help prints, at every width and with or without colour, and Typer's own drawing
wherever a setting could change it."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest
from typer.main import get_command

from cnnkit.cli import app, overview
from tests.conftest import ROOT

WIDTHS = [*range(overview.MIN_WIDTH, 161, 3), 200, 317]
# Typer's help for every width, colour and program name, drawn in a fresh process: the
# commands' order is the order their modules register, as the `cnnkit` command has it, not
# the order some test happened to import them in.
DRAWN_BY_TYPER = """
import json, sys
import typer.rich_utils
from typer.testing import CliRunner
from cnnkit.cli import app
runner, drawn = CliRunner(), []
for colour in (False, True):
    typer.rich_utils.FORCE_TERMINAL = colour
    for program in ("cnnkit", "python -m cnnkit"):
        for width in json.loads(sys.argv[1]):
            typer.rich_utils.MAX_WIDTH = width
            for argv in (["--help"], []):
                done = runner.invoke(app, argv, prog_name=program, env={"TERM": "xterm"})
                drawn.append([colour, program, width, bool(argv), done.exit_code, done.stdout])
print(json.dumps(drawn))
"""


def test_the_overview_is_what_typer_prints():
    done = subprocess.run([sys.executable, "-c", DRAWN_BY_TYPER, json.dumps(WIDTHS)],
                          capture_output=True, text=True, cwd=ROOT, env=_environment(),
                          check=True)
    drawn = json.loads(done.stdout)
    assert len(drawn) == 2 * 2 * len(WIDTHS) * 2
    for colour, program, width, helped, code, text in drawn:
        assert code == (0 if helped else 2)
        assert overview.render(program, width, colour, trailing_line=helped) == text, (
            colour, program, width, helped)


def test_a_usage_line_too_long_to_fit_is_left_to_typer(monkeypatch):
    monkeypatch.setattr(overview, "_layout", lambda stream, environ: (60, False))
    monkeypatch.setattr(overview, "_program_name", lambda: "a-very-long-program-name-here")
    assert overview.show(["--help"]) is None


def test_the_table_names_every_command_in_its_panel():
    group = get_command(app)
    panels = {name: (command.rich_help_panel, command.get_short_help_str(limit=500))
              for name, command in group.commands.items()}
    copied = {name: (title, summary) for title, commands in overview.PANELS
              for name, summary in commands}
    assert copied == panels


class _Stream(io.StringIO):
    def __init__(self, encoding="utf-8", terminal=False):
        super().__init__()
        self._encoding, self._terminal = encoding, terminal

    @property
    def encoding(self):
        return self._encoding

    def isatty(self):
        return self._terminal


@pytest.mark.parametrize("setting", ["FORCE_COLOR", "NO_COLOR", "TERMINAL_WIDTH", "PY_COLORS",
                                     "TTY_COMPATIBLE", "TYPER_USE_RICH"])
def test_settings_that_change_the_drawing_leave_it_to_typer(setting):
    assert overview._layout(_Stream(), {"COLUMNS": "100"}) == (100, False)
    assert overview._layout(_Stream(), {"COLUMNS": "100", setting: "1"}) is None


def test_dumb_narrow_or_ascii_outputs_leave_it_to_typer():
    assert overview._layout(_Stream(terminal=True), {"COLUMNS": "90"}) == (90, True)
    assert overview._layout(_Stream(terminal=True), {"COLUMNS": "90", "TERM": "dumb"}) is None
    assert overview._layout(_Stream(), {"COLUMNS": str(overview.MIN_WIDTH - 1)}) is None
    assert overview._layout(_Stream(encoding="ascii"), {"COLUMNS": "90"}) is None
    assert overview._layout(None, {"COLUMNS": "90"}) is None  # `cnnkit --help >&-`


def _environment(**extra):
    env = {key: value for key, value in os.environ.items()
           if key not in overview._SETTINGS and key != "COLUMNS"}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def _in_terminal(argv, columns):
    """What ``python -m cnnkit *argv`` writes to a terminal ``columns`` wide."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    attributes = termios.tcgetattr(child)
    attributes[1] &= ~termios.ONLCR  # the bytes as written, without "\r" added
    termios.tcsetattr(child, termios.TCSANOW, attributes)
    process = subprocess.Popen([sys.executable, "-m", "cnnkit", *argv], stdin=child,
                               stdout=child, stderr=child, cwd=ROOT, close_fds=True,
                               env=_environment(TERM="xterm-256color"))
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return process.wait(timeout=120), b"".join(chunks).decode()


def test_in_a_terminal_the_overview_matches_typer_in_colour():
    code, fast = _in_terminal(["--help"], 97)
    # --debug before --help: the same help, drawn by Typer
    typer_code, drawn = _in_terminal(["--debug", "--help"], 97)
    assert code == typer_code == 0
    assert fast == drawn
    assert "\x1b[1;36mfilter" in fast
    assert max(overview._visible(line) for line in fast.splitlines()) == 97


def test_help_imports_neither_typer_nor_rich():
    code = ("import sys; sys.argv = ['cnnkit', '--help'];"
            "from cnnkit.__main__ import main\n"
            "try: main()\n"
            "except SystemExit as done: print(done.code, file=sys.stderr)\n"
            "print(sorted(m for m in ('typer', 'rich', 'numpy') if m in sys.modules),"
            " file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=_environment(COLUMNS="80"), check=False)
    assert done.stderr.split("\n")[:2] == ["0", "[]"]
    assert "Usage: cnnkit [OPTIONS] COMMAND [ARGS]..." in done.stdout


def test_a_closed_pipe_ends_quietly():
    reader, writer = os.pipe()
    os.close(reader)  # like `cnnkit --help | head -c 0`
    done = subprocess.run([sys.executable, "-m", "cnnkit", "--help"], stdout=writer,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_environment(),
                          check=False)
    os.close(writer)
    assert done.returncode == 1 and done.stderr == ""


@pytest.mark.parametrize("terminal", [False, True])
@pytest.mark.parametrize("name", ["out.png", "/a b/:m: [red]x[/] é.png", "日本/边缘.png",
                                  "bell\a.png", "two\nlines.png", "tab\t.png"])
def test_the_wrote_line_is_the_line_rich_prints(monkeypatch, terminal, name):
    """``common.wrote`` writes what ``err.print`` would, byte for byte, on a pipe and on a
    terminal, and leaves to rich the names it does not write itself (control characters)."""
    from cnnkit.cli import common

    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    direct = _Stream(terminal=terminal)
    monkeypatch.setattr(sys, "stderr", direct)
    monkeypatch.setattr(common.err, "_console", None)
    printed = []  # the names that went to rich
    monkeypatch.setattr(common.err, "get", lambda: printed.append(name) or _rich(direct))
    common.wrote(name)
    expected = _Stream(terminal=terminal)
    _rich(expected).print(f"[green]wrote[/] {common.escape(name)}")
    assert direct.getvalue() == expected.getvalue()
    assert bool(printed) == (not name.isprintable())


def _rich(stream):
    from rich.console import Console

    return Console(file=stream, highlight=False, soft_wrap=True, emoji=False)
