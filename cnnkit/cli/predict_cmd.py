"""``cnnkit predict``: read digits (or numbers) from real pictures with the CNN."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli import common
from cnnkit.cli.app import app
from cnnkit.cli.model_cmd import DIGITS, ModelOption, Threads, resolve_model

UNCERTAIN_EXIT = 3


class Preprocess(str, Enum):
    mnist = "mnist"
    none = "none"


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

    Exit codes: 0 all read, 1 a picture could not be read (or held no digit), 3 a prediction
    was below --min-confidence. [dim]Example:[/] cnnkit predict samples/digits/*.png --top 3
    """
    if multi and preprocess is Preprocess.none:
        raise common.fail("--multi needs --preprocess mnist", 2)
    if csv is not None:
        common.picture_target(csv, force, suffix=csv.suffix)
    path = resolve_model(model)
    with common.user_errors():
        import numpy as np

        from cnnkit import imaging
        from cnnkit.cli.model_cmd import _limit_threads
        from cnnkit.nn.io import load_model
        from cnnkit.ops._jit import set_threads

        _limit_threads(threads)  # for the life of this process
        workers = set_threads(threads)
        network, header = load_model(path)
        scale = float(header.get("input", {}).get("pixel_scale", 1 / 255))
        files = common.expand_inputs(inputs, imaging.IMAGE_SUFFIXES)
        if not files:
            raise common.no_images(inputs)
    results: list[dict] = []

    def prepare(file: Path):
        return _prepare_file(file, multi, preprocess.value, max_pixels)

    def report(file: Path, prepared, probs) -> dict:
        result = _result(file, prepared, probs, top, multi, show_steps, min_confidence,
                         len(files) > 1, force)
        results.append(result)
        return result

    work = _Batches(files, prepare, lambda x: network.predict_proba(x * np.float32(scale)),
                    report, workers)

    if show_steps is not None:
        with common.user_errors():
            from cnnkit.files import make_dir

            make_dir(show_steps)
    failed = True
    try:
        common.run_batch(files, work, as_json=as_json, quiet=quiet, label="predict",
                         describe=lambda r: _describe(r, top), summary=False)
        failed = False
    finally:  # the summary also when some pictures failed; the CSV only when none did
        work.close()
        with common.user_errors():
            _finish(results, None if failed else csv, as_json, quiet, len(files), force)
        if failed and csv is not None and results:
            common.err.print(f"{common.escape(csv)} not written: not every picture was read")
    if any(r["uncertain"] for r in results):
        from cnnkit.files import commit_now

        with common.user_errors():
            commit_now()  # uncertain is an answer: the CSV and steps are kept
        raise typer.Exit(UNCERTAIN_EXIT)


class _Batches:
    """``work(file)`` for :func:`common.run_batch` that runs a chunk of files at a time.

    The chunk's pictures are read and prepared on ``workers`` threads (decoding, resampling
    and the Numba labelling release the GIL), then all their digits go through the model in
    one batch. Results come back one file at a time, in order, as run_batch asks for them;
    a file that failed re-raises its own error.
    """

    CHUNK = 64

    def __init__(self, files: list[Path], prepare, classify, report, workers: int):
        from cnnkit import files as outputs

        self._pending = list(files)
        self._ready: list = []
        self._outputs = outputs.active()  # the run's: a file's steps must not be tied to
        # the file whose turn it was when its chunk was prepared
        self._prepare, self._classify, self._report = prepare, classify, report
        self._pool = None
        if workers > 1 and len(files) > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(workers)

    def __call__(self, file: Path) -> dict:
        if not self._ready:
            self._run_chunk()
        expected, outcome = self._ready.pop(0)
        assert expected == file, "files must be asked for in order"
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def _attempt(self, file: Path):
        from cnnkit.errors import CnnkitError

        try:
            return self._prepare(file)
        except CnnkitError as exc:
            return exc

    def _run_chunk(self) -> None:
        import numpy as np

        from cnnkit.errors import CnnkitError
        from cnnkit.files import activate, transaction

        chunk, self._pending = self._pending[:self.CHUNK], self._pending[self.CHUNK:]
        mapper = self._pool.map if self._pool is not None else map
        prepared = list(mapper(self._attempt, chunk))
        good = [p for p in prepared if not isinstance(p, Exception)]
        digits = [d.digit for p in good for d in p.found]
        probs = (self._classify(np.stack(digits)[..., None].astype(np.float32)) if digits
                 else np.empty((0, 10), np.float32))
        start = 0
        for file, item in zip(chunk, prepared):
            if isinstance(item, Exception):
                self._ready.append((file, item))
                continue
            count = len(item.found)
            try:
                with activate(self._outputs), transaction():
                    outcome = self._report(file, item, probs[start:start + count])
                self._ready.append((file, outcome))
            except CnnkitError as exc:  # e.g. a failed --show-steps write: this file's error
                self._ready.append((file, exc))
            start += count


class _Prepared:
    """One picture ready for the model: the picture, its digits, the cleaned ink (--multi)."""

    def __init__(self, picture, found, cleaned):
        self.picture, self.found, self.cleaned = picture, found, cleaned


def _prepare_file(file: Path, multi: bool, preprocess: str, max_pixels: int) -> _Prepared:
    from cnnkit import digits, imaging

    picture = imaging.read_image(file, max_pixels, grey=True)
    if multi:
        found, cleaned = digits.find_digits(picture)
        return _Prepared(picture, found, cleaned)
    found = [digits.prepare_raw(picture) if preprocess == "none"
             else digits.prepare_digit(picture)]
    return _Prepared(picture, found, None)


def _result(file: Path, prepared: _Prepared, probs, top: int, multi: bool, show_steps,
            min_confidence, several: bool, force: bool = False) -> dict:
    import numpy as np

    reads = []
    for d, p in zip(prepared.found, probs):
        order = np.argsort(-p, kind="stable")[:top]
        reads.append({"digit": int(order[0]), "confidence": float(p[order[0]]),
                      "top": [{"digit": int(k), "probability": float(p[k])} for k in order],
                      "box": list(d.box)})
    confidence = min(r["confidence"] for r in reads)
    result = {"input": str(file), "prediction": "".join(str(r["digit"]) for r in reads),
              "confidence": confidence,
              "uncertain": min_confidence is not None and confidence < min_confidence}
    if multi:
        result["digits"] = reads
    else:
        result["top"] = reads[0]["top"]
    if show_steps is not None:
        folder = show_steps / file.stem if several else show_steps
        result["steps"] = str(folder)
        _save_steps(folder, prepared.picture, prepared.found, reads, prepared.cleaned, force)
    return result


def _save_steps(folder: Path, picture, found, reads, cleaned, force: bool = False) -> None:
    import numpy as np
    from PIL import Image, ImageDraw

    from cnnkit import viz
    from cnnkit.files import atomic_path, make_dir

    make_dir(folder)

    def save(name: str, array: np.ndarray, enlarge: bool = False) -> None:
        image = Image.fromarray(np.clip(np.rint(array * 255), 0, 255).astype(np.uint8))
        if enlarge:  # small stages shown 8x, pixel for pixel
            image = image.resize((image.width * 8, image.height * 8), Image.NEAREST)
        with atomic_path(folder / f"{name}.png", force=force) as tmp:
            image.save(tmp, format="PNG")

    if cleaned is None:
        for name, array in found[0].stages:
            save(name, array, enlarge=max(array.shape) <= 28)
        return
    from cnnkit.digits import to_grey

    save("1-ink-cleaned", cleaned)
    boxes = Image.fromarray(np.rint(to_grey(picture) * 255).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(boxes)
    for d, r in zip(found, reads):
        x0, y0, x1, y1 = d.box
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=(220, 30, 30), width=3)
        draw.text((x0 + 3, max(0, y0 - viz.LABEL_SIZE - 4)),
                  f"{r['digit']} {r['confidence']:.0%}", fill=(220, 30, 30), font=viz.font())
    with atomic_path(folder / "2-boxes.png", force=force) as tmp:
        boxes.save(tmp, format="PNG")
    for k, d in enumerate(found, 1):
        save(f"3-digit-{k}", d.stages[0][1], enlarge=True)


def _bar(probability: float, width: int = 24) -> str:
    filled = probability * width
    return "█" * int(filled) + ("▌" if filled - int(filled) >= 0.5 else "")


def _describe(result: dict, top: int) -> None:
    out = common.out
    note = "  [bold yellow]uncertain[/]" if result["uncertain"] else ""
    out.print(f"[bold]{common.escape(result['input'])}[/]: [bold cyan]{result['prediction']}"
              f"[/] ({result['confidence']:.1%}){note}")
    if "digits" in result:
        for k, d in enumerate(result["digits"], 1):
            guesses = ", ".join(f"{g['digit']} {g['probability']:.1%}" for g in d["top"])
            out.print(f"  digit {k}: {d['digit']}  [dim]({guesses})[/]")
        return
    for guess in result["top"][:top]:
        out.print(f"  {guess['digit']}  {_bar(guess['probability']):<25} "
                  f"{guess['probability']:6.1%}")


def _finish(results: list[dict], csv: Path | None, as_json: bool, quiet: bool, total: int,
            force: bool = False):
    if csv is not None:
        from cnnkit.files import atomic_path

        lines = ["input,prediction,confidence,uncertain"]
        lines += [f"{r['input']},{r['prediction']},{r['confidence']:.6f},{int(r['uncertain'])}"
                  for r in results]
        with atomic_path(csv, force=force) as tmp:
            tmp.write_text("\n".join(lines) + "\n")
    if total > 1 and not as_json:
        from rich.table import Table

        table = Table(title=f"{len(results)} of {total} pictures read", title_justify="left")
        for column in ("picture", "prediction", "confidence"):
            table.add_column(column, justify="left" if column == "picture" else "right")
        for r in results:
            flag = " [yellow](uncertain)[/]" if r["uncertain"] else ""
            table.add_row(common.escape(Path(r["input"]).name), r["prediction"] + flag,
                          f"{r['confidence']:.1%}")
        if not quiet:
            common.out.print(table)
