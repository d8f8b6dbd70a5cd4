"""``cnnkit predict``: read digits (or numbers) from real pictures with the CNN."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli import predict_run
from cnnkit.cli.model_opts import DIGITS, ModelOption, Threads
from cnnkit.cli.predict_run import UNCERTAIN_EXIT, Preprocess
from cnnkit.cli.root import app


@app.command("predict", rich_help_panel=DIGITS)
def predict_command(
    inputs: Annotated[list[Path], typer.Argument(
        help="Pictures of digits: files, folders or quoted globs.", show_default=False)],
    model: ModelOption = None,
    top: Annotated[int, typer.Option("--top", min=1, max=10, help="How many guesses to show.")
                   ] = 3,
    multi: Annotated[bool, typer.Option(
        "--multi", help="The picture holds a number: find each digit, left to right.")] = False,
    preprocess: Annotated[Preprocess, typer.Option(
        "--preprocess", help="mnist: make any picture MNIST-like; none: already a 28x28 "
        "white-on-black digit.")] = Preprocess.mnist,
    show_steps: Annotated[Optional[Path], typer.Option(
        "--show-steps", help="Save each preprocessing stage (and the digit boxes) as PNGs here.",
        file_okay=False, show_default=False)] = None,
    min_confidence: Annotated[Optional[float], typer.Option(
        "--min-confidence", min=0.0, max=1.0,
        help=f"Below this probability say 'uncertain' and exit {UNCERTAIN_EXIT}.",
        show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per picture (NDJSON).")
                       ] = False,
    csv: Annotated[Optional[Path], typer.Option(
        "--csv", help="Also write the results to this CSV file (only when every picture was "
        "read; an existing file only with --force).", dir_okay=False,
        show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing --csv file and --show-steps pictures.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors.")
                     ] = False,
    max_pixels: Annotated[int, typer.Option("--max-pixels", min=1,
                                            help="Refuse larger pictures.")] = 100_000_000,
    threads: Threads = None,
) -> None:
    """Predict the digit in each picture: photos, scans, drawings, any size or colour.

    Each picture gets a verdict: digit, unsure (the model is less than 60% sure) or no digit
    (noise, blank paper, a photo of something else). Several digits side by side are read as
    a number. Exit codes: 0 all read, 1 a picture could not be read or held no digit, 3 a
    prediction was below --min-confidence.
    [dim]Example:[/] cnnkit predict samples/digits/*.png --top 3
    """
    predict_run.predict_files(**locals())  # every parameter, by name
