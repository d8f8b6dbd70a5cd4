"""A one-picture command's arguments parsed without Typer, when they are plainly valid.

Importing Typer and building a command from its annotations cost a one-picture ``cnnkit
filter`` 0.06-0.07 s (docs/benchmarks.md: a 16x16 Laplacian 0.359 -> 0.297 s, the 1 MP PNG
0.534 -> 0.460 s, medians of fresh processes with and without this path) and ``cnnkit predict
one.jpg -q`` 0.03-0.05 s (0.379 -> 0.347 s and 0.400 -> 0.348 s). For the commands in
``COMMANDS``, an argument list that is plainly valid is parsed here into the keyword
arguments Typer would pass, and the command's work is called directly, guarded as Typer's
commands are (:func:`cnnkit.cli.common.guarded`).

Plainly valid: known options, each given once, as ``--name value``, ``--name=value`` or
``-o value``; values well formed (integers and finite decimals in range, a choice's exact
name, paths that Typer's checks pass); at least one input; no ``-`` input and no ``--``.
Anything else, including help, every mistake and every rarity (short options run together,
a path that exists but cannot be read, shell completion), goes to Typer, so messages and
edge cases stay Typer's. tests/test_cli_quick.py holds each table to Typer's command and the
parsed values to what Typer passes.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from cnnkit.cli.coerce import DECIMAL, INTEGER


class Slow(Exception):
    """Typer must parse these arguments."""


@dataclass(frozen=True)
class Option:
    """One option: its parameter, its names, and how its value is read (None: a flag)."""

    dest: str
    names: tuple[str, ...]
    read: Callable[[str], Any] | None = None


@dataclass(frozen=True)
class Command:
    """A command's inputs (a list of paths), its options and where its work is."""

    inputs: str
    read_input: Callable[[str], Any]
    options: tuple[Option, ...]
    work: tuple[str, str]  # (module, function), imported only when the command runs

    def parse(self, words: list[str]) -> dict[str, Any]:
        """The keyword arguments for ``words`` (the arguments after the command's name),
        only those given; raises Slow when Typer must parse them."""
        named = {name: option for option in self.options for name in option.names}
        values: dict[str, Any] = {}
        inputs = []
        words = iter(words)
        for word in words:
            if word == "-" or word == "--" or not word:
                raise Slow
            if not word.startswith("-"):
                inputs.append(self.read_input(word))
                continue
            name, equals, text = word.partition("=")
            if name.startswith("--"):
                option = named.get(name)
            else:  # "-o=x" and "-qv" mean other things to Typer
                option = named.get(word)
                equals = ""
            if option is None or option.dest in values:
                raise Slow
            if option.read is None:
                if equals:
                    raise Slow
                values[option.dest] = True
                continue
            if not equals:
                text = next(words, None)
                if text is None:
                    raise Slow
            values[option.dest] = option.read(text)
        if not inputs:
            raise Slow
        values[self.inputs] = inputs
        return values


def text(value: str) -> str:
    return value


def integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    return _number(INTEGER, int, low, high)


def decimal(low: float | None = None, high: float | None = None) -> Callable[[str], float]:
    return _number(DECIMAL, float, low, high)


def _number(pattern, convert, low, high):
    """A reader of numbers that ``pattern`` matches, in [low, high] (None: no bound)."""

    def read(value: str):
        if not pattern.match(value):
            raise Slow
        number = convert(value)
        if (abs(number) == math.inf  # 1e999 is Typer's to refuse
                or (low is not None and number < low) or (high is not None and number > high)):
            raise Slow
        return number

    return read


def choice(kind: type[Enum]) -> Callable[[str], Enum]:
    members = {str(member.value): member for member in kind}

    def read(value: str) -> Enum:
        if value not in members:
            raise Slow
        return members[value]

    return read


def path(*, exists: bool = False, file_okay: bool = True,
         dir_okay: bool = True) -> Callable[[str], Path]:
    """A path Typer's checks pass (an existing one must be readable and of an allowed kind);
    anything they would refuse is Typer's to say."""

    def read(value: str) -> Path:
        if not value:
            raise Slow
        try:
            status = os.stat(value)
        except ValueError:  # a NUL in the name
            raise Slow from None
        except OSError:
            if exists:
                raise Slow from None
            return Path(value)
        if ((not file_okay and stat.S_ISREG(status.st_mode))
                or (not dir_okay and stat.S_ISDIR(status.st_mode))
                or not os.access(value, os.R_OK)):
            raise Slow
        return Path(value)

    return read


def _opt(dest: str, *names: str, read: Callable[[str], Any] | None = None) -> Option:
    return Option(dest, names, read)


def _filter() -> Command:
    from cnnkit.cli.filter_run import MAX_STRIDE, Border, Compression, Direction, Op, Range

    return Command("inputs", path(), (
        _opt("kernel", "--kernel", "-k", read=text),
        _opt("kernel_values", "--kernel-values", read=text),
        _opt("kernel_file", "--kernel-file", read=path(exists=True, dir_okay=False)),
        _opt("size", "--size", read=integer()),
        _opt("sigma", "--sigma", read=decimal()),
        _opt("direction", "--direction", read=choice(Direction)),
        _opt("amount", "--amount", read=decimal()),
        _opt("normalize", "--normalize"),
        _opt("scale", "--scale", read=decimal()),
        _opt("bias", "--bias", read=decimal()),
        _opt("op", "--op", read=choice(Op)),
        _opt("border", "--border", read=choice(Border)),
        _opt("cval", "--cval", read=decimal()),
        _opt("stride", "--stride", read=integer(1, MAX_STRIDE)),
        _opt("relu", "--relu"),
        _opt("value_range", "--range", read=choice(Range)),
        _opt("filter_alpha", "--filter-alpha"),
        _opt("output", "--output", "-o", read=path(dir_okay=False)),
        _opt("out_dir", "--out-dir", read=path(file_okay=False)),
        _opt("force", "--force"),
        _opt("compare", "--compare"),
        _opt("compression", "--compression", read=choice(Compression)),
        _opt("out_format", "--format", read=text),
        _opt("as_json", "--json"),
        _opt("verbose", "--verbose", "-v"),
        _opt("quiet", "--quiet", "-q"),
        _opt("max_pixels", "--max-pixels", read=integer(1)),
        _opt("threads", "--threads", read=integer(1)),
    ), ("cnnkit.cli.filter_run", "filter_files"))


def _predict() -> Command:
    from cnnkit.cli.predict_run import Preprocess

    return Command("inputs", path(), (
        _opt("model", "--model", "-m", read=path()),
        _opt("top", "--top", read=integer(1, 10)),
        _opt("multi", "--multi"),
        _opt("preprocess", "--preprocess", read=choice(Preprocess)),
        _opt("show_steps", "--show-steps", read=path(file_okay=False)),
        _opt("min_confidence", "--min-confidence", read=decimal(0.0, 1.0)),
        _opt("as_json", "--json"),
        _opt("csv", "--csv", read=path(dir_okay=False)),
        _opt("force", "--force"),
        _opt("quiet", "--quiet", "-q"),
        _opt("max_pixels", "--max-pixels", read=integer(1)),
        _opt("threads", "--threads", read=integer(1)),
    ), ("cnnkit.cli.predict_run", "predict_files"))


COMMANDS: dict[str, Callable[[], Command]] = {"filter": _filter, "predict": _predict}


def parse(argv: list[str], environ=os.environ) -> Callable[[], int] | None:
    """The command ``argv`` (the arguments after ``cnnkit``) runs, ready to call for its exit
    code, or None when Typer must run it."""
    if not argv or argv[0] not in COMMANDS:
        return None
    if any(name.startswith("_") and name.endswith("_COMPLETE") for name in environ):
        return None  # shell completion asks Typer, not the command
    command = COMMANDS[argv[0]]()
    try:
        values = command.parse(argv[1:])
    except Slow:
        return None

    def run() -> int:
        import importlib

        from cnnkit.cli import common
        from cnnkit.cli.notice import install_once

        work = getattr(importlib.import_module(command.work[0]), command.work[1])
        install_once(common.err)  # as the tool's own callback does under Typer
        try:
            common.guarded(work)(**values)
        except common.Exit as exc:
            return exc.exit_code
        return 0

    return run
