"""``cnnkit`` and ``cnnkit --help`` in a few milliseconds, without importing Typer or rich.

Typer and rich take 0.2-0.4 s to import and lay out the tool's help, longer than printing it
should. The overview is a fixed table (the commands, their panels and one-line summaries), so
it is drawn here the way Typer's rich help draws it: the same characters, the same colours
and the same line breaks at any terminal width from ``MIN_WIDTH`` up. Whenever something could
make rich draw it differently (a setting such as ``FORCE_COLOR`` or ``NO_COLOR``, a dumb or
narrow terminal, an output that cannot show box characters), Typer draws it instead.
tests/test_overview.py holds the two to the same bytes, so a new command or a changed
summary that is not copied here fails there.
"""

from __future__ import annotations

import os
import re
import sys

DESCRIPTION = "See what a convolution does to a picture, and train and use a digit CNN."
IMAGES = "Images: filters, pooling, stacks"
CNNS = "CNNs: train, evaluate, predict"
PICTURES = "Pictures: what the CNN sees and learned"
DATA = "Data: MNIST"

# (long name, short name, help) of the tool's own options, in Typer's order
OPTIONS = (("--version", "", "Print the version and exit."),
           ("--debug", "", "Show tracebacks for errors."),
           ("--help", "-h", "Show this message and exit."))
# (panel, ((command, summary), ...)) in the order the commands register
PANELS = (
    (IMAGES, (
        ("filter", "Apply a named or custom kernel to images."),
        ("pool", "Max- or average-pool images, every channel on its own."),
        ("stack", "Run a CNN-style stack of filter / ReLU / pooling steps on an image."),
        ("explain", "Walk through convolution, ReLU or pooling step by step."),
        ("kernels", "List the named kernels, or show one."))),
    (CNNS, (
        ("train", "Train a CNN on MNIST or on your own pictures, from scratch or fine-tuning."),
        ("evaluate", ("Accuracy, confusion matrix, per-class metrics and worst mistakes of a "
                      "model.")),
        ("summary", "Print the Keras-style layer table: output shapes and parameter counts."),
        ("info", ("Show a model file's header (version, training arguments, data, metrics) "
                  "and summary.")),
        ("predict", ("Predict the digit in each picture: photos, scans, drawings, any size or "
                     "colour.")),
        ("serve", ("Open a local page: draw a digit and watch the CNN, edit a kernel and watch "
                   "the picture.")))),
    (PICTURES, (
        ("featuremaps", ("The feature maps a conv or pooling layer makes of a digit, as "
                         "labelled grids.")),
        ("filters", ("The learned kernels of a conv layer (the first by default), enlarged "
                     "with their values.")),
        ("plot", ("Learning curves: loss and accuracy per epoch, train against validation "
                  "(matplotlib).")))),
    (DATA, (
        ("data", "Fetch, inspect, export and clear the MNIST data."),)),
)
MIN_WIDTH = 60  # below this rich starts to narrow columns other than the summaries
# settings that change how rich or Typer draw (colour, terminal, width): Typer draws then
_SETTINGS = ("FORCE_COLOR", "NO_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "TTY_COMPATIBLE",
             "TERMINAL_WIDTH", "_TYPER_FORCE_DISABLE_TERMINAL", "TYPER_USE_RICH",
             "TYPER_RICH_MARKUP_MODE")
_HELP = (["--help"], ["-h"])
# the ANSI styles rich writes for Typer's help (SGR parameters)
_BOLD, _USAGE, _SWITCH, _NAME, _BORDER, _TYPE, _TYPE_SIGN = (
    "1", "1;33", "1;32", "1;36", "2", "1;33", "1;2;33")
_GAP = 2  # spaces between the columns of Typer's option table


def show(argv: list[str]) -> int | None:
    """Print the overview when ``argv`` asks for it and it can be drawn here; return the exit
    code (0 for help, 2 for no command, as Typer), or None to leave it to Typer."""
    if argv not in _HELP and argv:
        return None
    layout = _layout(sys.stdout, os.environ)
    if layout is None:
        return None
    width, colour = layout
    program = _program_name()
    if len(f"Usage: {program} [OPTIONS] COMMAND [ARGS]...") > width - 2:
        return None  # rich would wrap the usage line
    text = render(program, width, colour, trailing_line=bool(argv))
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `cnnkit --help | head`: stop quietly, as Typer does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0 if argv else 2


def _layout(stream, environ) -> tuple[int, bool] | None:
    """(width, colour) as rich would choose them for ``stream``, or None where this module
    does not draw: see :func:`colour`, or a narrow terminal."""
    terminal = colour(stream, environ)
    if terminal is None:
        return None
    columns = environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() else _terminal_width()
    return (width, terminal) if width >= MIN_WIDTH else None


def colour(stream, environ) -> bool | None:
    """Whether rich would colour what it prints on ``stream`` (True on a terminal), or None
    where something could make it print otherwise: a setting from ``_SETTINGS``, a dumb
    terminal, an encoding other than UTF-8 or a platform other than POSIX."""
    if os.name != "posix" or stream is None or any(name in environ for name in _SETTINGS):
        return None
    if not (getattr(stream, "encoding", None) or "").lower().startswith("utf"):
        return None
    try:
        terminal = stream.isatty()
    except ValueError:  # closed
        return None
    if terminal and environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return None
    return terminal


def _terminal_width() -> int:
    """The width of the first standard stream that is a terminal, as rich measures it."""
    for descriptor in (0, 1, 2):
        try:
            return os.get_terminal_size(descriptor).columns or 80
        except (AttributeError, ValueError, OSError):
            continue
    return 80


def _program_name() -> str:
    """How the user ran the tool, as Click names it: ``cnnkit`` or ``python -m cnnkit``."""
    main = sys.modules.get("__main__")
    if getattr(main, "__package__", None) in (None, ""):
        return os.path.basename(sys.argv[0])
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    module = main.__package__ if name == "__main__" else f"{main.__package__}.{name}"
    return f"python -m {module.lstrip('.')}"


def render(program: str, width: int, colour: bool, trailing_line: bool = True) -> str:
    """The overview as Typer's rich help prints it ``width`` columns wide, with rich's ANSI
    styles when ``colour``; ``trailing_line`` adds the empty line ``--help`` ends with."""
    paint = _painter(colour)
    lines = [paint(_BOLD, " " * width), _usage_line(program, width, paint),
             paint(_BOLD, " " * width)]
    lines += [f" {line.ljust(width - 2)} " for line in _wrap(DESCRIPTION, width - 2)]
    lines.append(" " * width)
    lines += _options_panel(width, paint)
    name_width = max(len(name) for _, commands in PANELS for name, _ in commands)
    for title, commands in PANELS:
        lines += _commands_panel(title, commands, name_width, width, paint)
    return "\n".join(lines) + "\n" + ("\n" if trailing_line else "")


def _painter(colour: bool):
    if colour:
        return lambda style, text: f"\x1b[{style}m{text}\x1b[0m"
    return lambda style, text: text


def _usage_line(program: str, width: int, paint) -> str:
    text = f"{program} [OPTIONS] COMMAND [ARGS]..."
    # Typer's highlighter marks what looks like an option ("-m" in "python -m cnnkit")
    pieces = [paint(_SWITCH if piece.startswith("-") else _BOLD, piece)
              for piece in re.split(r"((?<!\w)-\w+(?![a-zA-Z0-9]))", text) if piece]
    pad = width - 2 - len("Usage: ") - len(text)
    return (paint(_BOLD, " ") + paint(_USAGE, "Usage: ") + "".join(pieces)
            + paint(_BOLD, " " * pad) + paint(_BOLD, " "))


def _top(title: str, width: int, paint) -> str:
    rule = width - 4 - len(title) - 2
    return (paint(_BORDER, "╭─") + paint(_BORDER, f" {title} ") + paint(_BORDER, "─" * rule)
            + paint(_BORDER, "─╮"))


def _bottom(width: int, paint) -> str:
    return paint(_BORDER, "╰" + "─" * (width - 2) + "╯")


def _row(cells: str, text: str, text_width: int, paint) -> str:
    return f"{paint(_BORDER, '│')} {cells}{text.ljust(text_width)} {paint(_BORDER, '│')}"


def _options_panel(width: int, paint) -> list[str]:
    long_width = max(len(long) for long, _, _ in OPTIONS)
    short_width = max(len(short) for _, short, _ in OPTIONS)
    # long | short | <bool> | help; Typer's table has an empty column before <bool>, hence
    # a double gap there
    text_width = width - 4 - long_width - short_width - len("<bool>") - 5 * _GAP
    lines = [_top("Options", width, paint)]
    for long, short, help_text in OPTIONS:
        cells = (paint(_NAME, long[0]) + paint(_NAME, long[1:])
                 + " " * (long_width - len(long) + _GAP)
                 + (paint(_SWITCH, short) if short else "")
                 + " " * (short_width - len(short) + 3 * _GAP)
                 + paint(_TYPE_SIGN, "<") + paint(_TYPE, "bool") + paint(_TYPE_SIGN, ">")
                 + " " * _GAP)
        for index, line in enumerate(_wrap(help_text, text_width)):
            lines.append(_row(cells if index == 0 else " " * _visible(cells), line,
                              text_width, paint))
    return lines + [_bottom(width, paint)]


def _commands_panel(title: str, commands, name_width: int, width: int, paint) -> list[str]:
    text_width = width - 4 - name_width - 2
    lines = [_top(title, width, paint)]
    for name, summary in commands:
        for index, line in enumerate(_wrap(summary, text_width)):
            cells = (paint(_NAME, name.ljust(name_width)) + paint(_NAME, " ") if index == 0
                     else paint(_NAME, " " * (name_width + 1)))
            lines.append(_row(cells + " ", line, text_width, paint))
    return lines + [_bottom(width, paint)]


def _visible(cells: str) -> int:
    return len(re.sub(r"\x1b\[[0-9;]*m", "", cells))


def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap, as rich wraps a table cell (no word here is longer than a line)."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return lines + [line]
