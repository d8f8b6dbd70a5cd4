"""What every command shares: the one place errors become messages (:func:`guarded`),
consoles, input expansion, progress, the batch loop and output paths.

Nothing here imports Typer: a command that :mod:`cnnkit.cli.quick` parses runs without it.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass
class _State:
    debug: bool = False


STATE = _State()


class _Console:
    """A rich Console made when first used: a command that prints nothing (``-q``) never
    imports rich's console (0.04-0.05 s of its start-up, ``-X importtime``)."""

    def __init__(self, **options):
        self._options = options
        self._console = None

    def get(self):
        """The rich Console itself, for rich objects that take one (``Progress(console=)``)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str):
        return getattr(self.get(), name)


# Nothing from a file's name or contents may turn into markup or emoji (":m:" in a name).
out = _Console(highlight=False, soft_wrap=True, emoji=False)
err = _Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
INTERRUPTED = 130


class Exit(SystemExit):
    """A command's end with an exit code, its message (if any) already printed. It is a
    SystemExit, so it ends the process the same way whether Typer or :mod:`cnnkit.cli.quick`
    runs the command."""

    @property
    def exit_code(self) -> int:
        return self.code


def fail(message: str, code: int = 1) -> Exit:
    """Print one red line on stderr and return the Exit to raise. ``message`` is plain text."""
    text = " ".join(str(message).split())  # one line, whatever a file name held
    err.print(f"[bold red]error:[/] {escape(text)}", markup=True, highlight=False)
    return Exit(code)


def wrote(what: object) -> None:
    """``wrote <what>`` on stderr, "wrote" in green, the line ``err.print`` would print.

    It is the last line of a one-picture command, and importing rich's console and markup
    to print it took 36-47 ms (docs/benchmarks.md). So where rich's output is known
    (:func:`cnnkit.cli.overview.colour`: a pipe, a file or a plain POSIX terminal) and the
    name is plain printable text, the line is written here; otherwise rich prints it.
    """
    from cnnkit.cli.overview import colour

    text = str(what)
    terminal = colour(sys.stderr, os.environ) if err._console is None else None
    if terminal is None or not text.isprintable():
        err.print(f"[green]wrote[/] {escape(text)}")
        return
    sys.stderr.write(f"\x1b[32mwrote\x1b[0m {text}\n" if terminal else f"wrote {text}\n")
    sys.stderr.flush()


def escape(text: object) -> str:
    from rich.markup import escape as _escape

    return _escape(str(text))


def describe_error(exc: BaseException) -> tuple[str, int]:
    """The one line and exit code for any exception a command lets out.

    This is the one place errors become messages: cnnkit's own errors say what they say;
    an operating-system error names the file and the cause in words; running out of memory
    says how much was asked for; anything else is a bug in cnnkit and says so, without the
    library's own text (which may be long, or hold a file's bytes).
    """
    from cnnkit.errors import CnnkitError, os_message

    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", INTERRUPTED
    if isinstance(exc, CnnkitError):
        return str(exc), 1
    if isinstance(exc, MemoryError):
        from cnnkit.limits import size_text

        size = getattr(exc, "_total_size", None)  # numpy's _ArrayMemoryError knows it
        need = f" ({size_text(size)} asked for)" if isinstance(size, int) else ""
        return (f"not enough memory{need}; use a smaller picture or smaller sizes "
                f"(--max-pixels, --size, --stride)"), 1
    if isinstance(exc, OSError):
        return os_message(exc, "access it", exc.filename), 1
    return (f"unexpected {type(exc).__name__} (a bug in cnnkit; run again with --debug "
            f"and report the traceback)"), 1


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn any exception into one red line and its exit code (a traceback with --debug)."""
    try:
        yield
    except Exception as exc:
        if STATE.debug:
            raise
        message, code = describe_error(exc)
        raise fail(message, code) from None
    except KeyboardInterrupt:
        if STATE.debug:
            raise
        raise fail(*describe_error(KeyboardInterrupt())) from None


def guarded(command):
    """Wrap a command: its writes are one transaction, every error is one line, Python
    warnings are silenced on purpose (they would be noise such as Pillow's notes on palettes
    or numpy's on float overflow; the results are checked instead), shown with --debug."""
    import functools

    @functools.wraps(command)
    def run(*args, **kwargs):
        import warnings

        from cnnkit.files import transaction

        _check_numbers(kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("default" if STATE.debug else "ignore")
            try:
                with transaction():
                    try:
                        with user_errors():
                            return command(*args, **kwargs)
                    except Exit as exc:
                        if exc.exit_code != 0:
                            raise  # a failure: nothing new is kept
                        return None
            except KeyboardInterrupt:  # during the commit or rollback itself
                raise fail(*describe_error(KeyboardInterrupt())) from None
            except Exception as exc:  # the commit failed (e.g. a rename)
                if STATE.debug:
                    raise
                raise fail(*describe_error(exc)) from None

    return run


def _check_numbers(values: dict) -> None:
    """No option of any command takes NaN or infinity: refuse them at the edge (exit 2),
    naming the option, before they reach a kernel, a bias or a comparison."""
    import math

    for name, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise fail(f"{_option_name(name)} must be a finite number, got {value}", 2)


def _option_name(name: str) -> str:
    context = _typer_context()
    if context is not None:
        for param in context.command.params:
            if param.name == name and param.opts:
                return max(param.opts, key=len)
    return "--" + name.replace("_", "-")


def _typer_context():
    """The Click context of the command Typer is running, or None (none, or no Typer)."""
    if "typer" not in sys.modules:  # the command was parsed by cnnkit.cli.quick
        return None
    try:  # Typer 0.2x carries its own copy of Click; older versions use Click itself
        from typer._click.globals import get_current_context
    except ImportError:  # pragma: no cover - depends on the installed Typer
        from click import get_current_context
    return get_current_context(silent=True)


def print_json(obj: dict) -> None:
    """One JSON object on one line of stdout (NDJSON when called per file)."""
    sys.stdout.write(json.dumps(obj, separators=(", ", ": ")) + "\n")
    sys.stdout.flush()


def expand_inputs(inputs: list[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Files as given, folders as the image files directly inside them, quoted globs expanded.

    A name that matches nothing is kept, so it is reported as missing for that file.
    """
    found: list[Path] = []
    for item in inputs:
        text = str(item)
        if not item.exists() and any(ch in text for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text))
            found.extend(matches or [item])
        elif item.is_dir():
            found.extend(sorted(p for p in item.iterdir()
                                if p.is_file() and p.suffix.lower() in suffixes))
        else:
            found.append(item)
    return found


class _Silent:
    """What :func:`progress` gives when nothing is to be shown: the bar's calls, doing
    nothing, without importing rich's progress module (a share of a one-file command's
    start)."""

    @property
    def console(self) -> _Console:
        return err

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, *args, **kwargs) -> None:
        pass

    def advance(self, *args, **kwargs) -> None:
        pass


def progress(total: int, quiet: bool, label: str):
    """A rich progress bar on stderr for several files; silent when quiet or not a terminal."""
    if quiet or total < 2 or not err.is_terminal:
        return _Silent()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), TextColumn("{task.description}", markup=False),
                    console=err.get(),
                    transient=True)


def run_batch(files: list[Path], work, *, as_json: bool, quiet: bool, label: str,
              describe, summary: bool = True, jobs: int = 1) -> None:
    """Run ``work(path) -> dict`` on every file, keep going past bad inputs, then summarise.

    Each result (or ``{"input", "error"}``) is printed as an NDJSON line with ``--json``, or by
    ``describe(result)`` otherwise. A file's outputs are all or nothing: a bad input leaves
    none of its own and the others are kept; a failure to write (disk full, read-only) or
    Ctrl-C stops the batch and removes every new file of the run. Exits 1 if any file failed.
    ``jobs > 1`` runs that many files at once in threads (``work`` must be thread-safe);
    results still come in order.
    """
    from cnnkit.errors import CnnkitError, WriteError
    from cnnkit.files import commit_now, keep

    failures = 0
    with progress(len(files), quiet or as_json, label) as bar:
        task = bar.add_task("", total=len(files))
        for path, outcome in _outcomes(files, work, jobs):
            bar.update(task, description=path.name)  # shown as it is, not as markup
            try:
                result, written = outcome()
                keep(written)
            except WriteError:
                raise
            except (CnnkitError, OSError, MemoryError) as exc:
                if STATE.debug:
                    raise
                failures += 1
                message = describe_error(exc)[0]
                if str(path) not in message:  # in a batch, every line says which file
                    message = f"{path}: {message}"
                message = " ".join(message.split())  # one line, whatever the name holds
                if as_json:
                    print_json({"input": str(path), "ok": False, "error": message})
                else:
                    err.print(f"[bold red]error:[/] {escape(message)}")
            else:
                if as_json:
                    print_json({"ok": True, **result})
                elif not quiet:
                    describe(result)
            bar.advance(task)
    if summary and len(files) > 1 and not as_json and not quiet:
        done = len(files) - failures
        colour = "red" if failures else "green"
        err.print(f"[{colour}]{done} of {len(files)} files written, {failures} failed[/]")
    if failures:
        if failures < len(files):
            commit_now()  # the good files' outputs are results; keep them
        raise Exit(1)


def _outcomes(files: list[Path], work, jobs: int):
    """``(path, outcome)`` in order, ``outcome()`` returning ``(work(path), its writes)`` or
    raising what it raised; with ``jobs > 1`` the next files already run in threads, a few
    ahead. A file's writes are a transaction of its own, made in the thread that does them."""
    from cnnkit.files import run_apart

    if jobs <= 1 or len(files) < 2:
        for path in files:
            yield path, (lambda path=path: run_apart(work, path))
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(jobs) as pool:
        pending = deque()
        ahead = iter(files)
        try:
            for path in ahead:
                pending.append((path, pool.submit(run_apart, work, path)))
                if len(pending) > jobs:
                    done, future = pending.popleft()
                    yield done, future.result
            while pending:
                done, future = pending.popleft()
                yield done, future.result
        finally:  # stopped early: files already done by a thread leave nothing behind
            for _, future in pending:
                if not future.cancel():
                    with contextlib.suppress(BaseException):
                        future.result()[1].rollback()


def output_path(source: Path, output: Path | None, out_dir: Path | None, name: str,
                suffix: str, force: bool) -> Path:
    """Where a per-file command writes: ``-o``, else ``<stem>.<name><suffix>`` beside the input
    or in ``--out-dir``. Never the input itself; an existing file only with ``--force``."""
    from cnnkit.errors import ImageError
    from cnnkit.files import check_target

    target = output or (out_dir or source.parent) / f"{source.stem}.{name}{suffix}"
    if target.absolute() == source.absolute() or (
            target.exists() and source.exists() and target.samefile(source)):
        raise ImageError(f"{source}: output would overwrite the input; choose another name")
    check_target(target, force)
    return target


def check_outputs(files: list[Path], target_for) -> None:
    """Before any work: every output can be written, none exists without --force, and no two
    inputs would write the same file. ``target_for(path)`` is :func:`output_path` for one
    input (or None when it cannot be known before reading)."""
    from cnnkit.errors import CnnkitError

    seen: dict[Path, Path] = {}
    for path in files:
        try:
            target = target_for(path)
        except CnnkitError as exc:
            raise fail(str(exc)) from None
        if target is None:
            continue
        key = target.absolute()
        if key in seen:
            raise fail(f"{seen[key]} and {path} would both be written to {target}; "
                       f"rename one or use --out-dir")
        seen[key] = path


def stream_inputs(inputs: list[Path], output: Path | None, threads: int | None, as_json: bool,
                  out_format: str | None, raw: bool = False, out_dir: Path | None = None
                  ) -> tuple[list[Path], bool, str | None]:
    """:func:`image_inputs` for commands that also read standard input (``-``) and write
    standard output (``-o -``): returns the files, whether the output is standard output,
    and the output's format when it cannot come from a file name."""
    stdin, stdout = Path("-") in inputs, output is not None and str(output) == "-"
    if stdin and output is None:
        raise fail("reading standard input (-) needs -o: a file, or - for standard output", 2)
    if stdout and as_json:
        raise fail("--json writes to standard output; it cannot go with -o -", 2)
    fmt = None
    if stdout or out_format:
        with user_errors():
            from cnnkit.imaging import io as imaging

            fmt = imaging.output_format(output or Path("-"), out_format)
    if stdin and len(inputs) == 1:
        files = [Path("-")]
    else:
        files = image_inputs(inputs, None if stdout else output, threads, raw, out_dir)
    if stdin or stdout:
        hold_threads(threads)
    return files, stdout, fmt


def image_inputs(inputs: list[Path], output: Path | None, threads: int | None,
                 raw: bool = False, out_dir: Path | None = None) -> list[Path]:
    """The prologue of per-image commands: check ``-o``, set threads, expand the inputs,
    make ``--out-dir`` (removed again if the run fails)."""
    if output is not None and len(inputs) > 1:
        raise fail("--output takes one input; use --out-dir for several", 2)
    with user_errors():
        from cnnkit.files import make_dir
        from cnnkit.imaging import io as imaging

        hold_threads(threads)
        if output is not None:
            imaging.check_output_suffix(output, raw=raw)
        files = expand_inputs(inputs, imaging.IMAGE_SUFFIXES)
        if files and out_dir is not None:
            make_dir(out_dir)
    if not files:
        raise no_images(inputs)
    return files


def hold_threads(threads: int | None) -> None:
    """Numba's thread count for this command (None: all cores), without starting Numba when
    it has not started: a small picture may never need it (``ops/light.py``). ``ops/_jit.py``
    applies the count when Numba starts."""
    import sys

    if "cnnkit.ops._jit" in sys.modules:
        from cnnkit.ops._jit import set_threads

        set_threads(threads)
        return
    from cnnkit.ops import pending

    pending.threads = threads


def no_images(inputs: list[Path]) -> Exit:
    """The failure for inputs that hold no picture, naming them."""
    named = ", ".join(f"{p} (a folder)" if p.is_dir() else str(p) for p in inputs[:3])
    more = f" and {len(inputs) - 3} more" if len(inputs) > 3 else ""
    return fail(f"no image files found in {named}{more}")


def picture_target(path: Path, force: bool, suffix: str = ".png") -> Path:
    """Check an output path before any work: the suffix (a picture is PNG), its folder
    exists, and not clobbering a file without --force."""
    from cnnkit.errors import CnnkitError
    from cnnkit.files import check_target

    if suffix == ".png" and path.suffix.lower() != ".png":
        raise fail(f"{path}: pictures are written as PNG; name the file .png", 2)
    try:
        check_target(path, force)
    except CnnkitError as exc:
        raise fail(str(exc)) from None
    return path


def save_picture(image, path: Path, force: bool = False) -> None:
    """Write a Pillow image to ``path`` as PNG, atomically."""
    from cnnkit.files import atomic_path

    with atomic_path(path, force=force) as tmp:
        image.save(tmp, format="PNG")
