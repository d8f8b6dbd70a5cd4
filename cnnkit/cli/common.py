"""What every command shares: error reporting, consoles, input expansion, progress."""

from __future__ import annotations

import contextlib
import glob
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console


@dataclass
class _State:
    debug: bool = False


STATE = _State()
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one red line on stderr and return the Exit to raise."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def escape(text: object) -> str:
    from rich.markup import escape as _escape

    return _escape(str(text))


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a CnnkitError into one red line and exit code 1 (a traceback with --debug)."""
    from cnnkit.errors import CnnkitError

    try:
        yield
    except CnnkitError as exc:
        if STATE.debug:
            raise
        raise fail(escape(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None


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


def progress(total: int, quiet: bool, label: str):
    """A rich progress bar on stderr for several files; silent when quiet or not a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    disable = quiet or total < 2 or not err.is_terminal
    bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), TextColumn("{task.description}"), console=err,
                   disable=disable, transient=True)
    return bar


def run_batch(files: list[Path], work, *, as_json: bool, quiet: bool, label: str,
              describe, summary: bool = True, jobs: int = 1) -> None:
    """Run ``work(path) -> dict`` on every file, keep going past failures, then summarise.

    Each result (or ``{"input", "error"}``) is printed as an NDJSON line with ``--json``, or by
    ``describe(result)`` otherwise. Exits 1 if any file failed. ``jobs > 1`` runs that many
    files at once in threads (``work`` must be thread-safe); results still come in order.
    """
    from cnnkit.errors import CnnkitError

    failures = 0
    with progress(len(files), quiet or as_json, label) as bar:
        task = bar.add_task("", total=len(files))
        for path, outcome in _outcomes(files, work, jobs):
            bar.update(task, description=escape(path.name))
            try:
                result = outcome()
            except CnnkitError as exc:
                if STATE.debug:
                    raise
                failures += 1
                if as_json:
                    print_json({"input": str(path), "ok": False, "error": str(exc)})
                else:
                    err.print(f"[bold red]error:[/] {escape(exc)}")
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
        raise typer.Exit(1)


def _outcomes(files: list[Path], work, jobs: int):
    """``(path, outcome)`` in order, ``outcome()`` returning ``work(path)`` or raising what it
    raised; with ``jobs > 1`` the next files already run in threads, a few ahead."""
    if jobs <= 1 or len(files) < 2:
        for path in files:
            yield path, (lambda path=path: work(path))
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(jobs) as pool:
        pending = deque()
        ahead = iter(files)
        try:
            for path in ahead:
                pending.append((path, pool.submit(work, path)))
                if len(pending) > jobs:
                    done, future = pending.popleft()
                    yield done, future.result
            while pending:
                done, future = pending.popleft()
                yield done, future.result
        finally:
            for _, future in pending:
                future.cancel()


def output_path(source: Path, output: Path | None, out_dir: Path | None, name: str,
                suffix: str, force: bool) -> Path:
    """Where a per-file command writes: ``-o``, else ``<stem>.<name><suffix>`` beside the input
    or in ``--out-dir``. Never the input itself; an existing file only with ``--force``."""
    from cnnkit.errors import ImageError

    target = output or (out_dir or source.parent) / f"{source.stem}.{name}{suffix}"
    if target.resolve() == source.resolve():
        raise ImageError(f"{source}: output would overwrite the input; choose another name")
    if target.exists() and not force:
        raise ImageError(f"{target}: exists (use --force to overwrite)")
    return target


def image_inputs(inputs: list[Path], output: Path | None, threads: int | None,
                 raw: bool = False) -> list[Path]:
    """The prologue of per-image commands: check ``-o``, set threads, expand the inputs."""
    if output is not None and len(inputs) > 1:
        raise fail("--output takes one input; use --out-dir for several", 2)
    with user_errors():
        from cnnkit import imaging
        from cnnkit.ops._jit import set_threads

        set_threads(threads)
        if output is not None:
            imaging.check_output_suffix(output, raw=raw)
        files = expand_inputs(inputs, imaging.IMAGE_SUFFIXES)
    if not files:
        raise fail("no image files found in the given inputs")
    return files


def picture_target(path: Path, force: bool) -> Path:
    """Check a picture's output path before any work: PNG, and not clobbering a file."""
    if path.suffix.lower() != ".png":
        raise fail(f"{path}: pictures are written as PNG; name the file .png", 2)
    if path.exists() and not force:
        raise fail(f"{path}: exists (use --force to overwrite)")
    return path


def save_picture(image, path: Path, force: bool = False) -> None:
    """Write a Pillow image to ``path`` as PNG, atomically."""
    from cnnkit.files import atomic_path

    with atomic_path(path, force=force) as tmp:
        image.save(tmp, format="PNG")
