"""What ``cnnkit predict`` does, without Typer: the command's options as plain parameters.

``cli/predict_cmd.py`` declares the command for Typer and calls :func:`predict_files`;
:mod:`cnnkit.cli.quick` calls it directly when it can parse the arguments itself.
"""

from enum import Enum
from pathlib import Path
from typing import Optional

from cnnkit.cli import common
from cnnkit.cli.model_use import resolve_model

UNCERTAIN_EXIT = 3


class Preprocess(str, Enum):
    mnist = "mnist"
    none = "none"


def predict_files(
    inputs: list[Path],
    model: Optional[Path] = None,
    top: int = 3,
    multi: bool = False,
    preprocess: Preprocess = Preprocess.mnist,
    show_steps: Optional[Path] = None,
    min_confidence: Optional[float] = None,
    as_json: bool = False,
    csv: Optional[Path] = None,
    force: bool = False,
    quiet: bool = False,
    max_pixels: int = 100_000_000,
    threads: Optional[int] = None,
) -> None:
    """``cnnkit predict``'s work, its parameters the command's options
    (``cli/predict_cmd.py`` declares them for Typer, :mod:`cnnkit.cli.quick` parses them
    without it)."""
    if multi and preprocess is Preprocess.none:
        raise common.fail("--multi needs --preprocess mnist", 2)
    if csv is not None:
        common.picture_target(csv, force, suffix=csv.suffix)
    path = resolve_model(model)
    with common.user_errors():
        import numpy as np

        from cnnkit.imaging import io as imaging
        from cnnkit.nn.io import load_model

        network, header = load_model(path)
        from cnnkit.nn.io import class_names

        names = class_names(header, int(network.output_shape[-1]))
        image = header.get("image") or {}
        general = bool(image) and not image.get("prepare")  # not a digit model: no digit steps
        if general and (multi or show_steps is not None):
            raise common.fail(f"{path}: a model of {', '.join(names[:4])}... pictures reads "
                              f"whole pictures; --multi and --show-steps are for digits", 2)
        scale = float(header.get("input", {}).get("pixel_scale", 1 / 255))
        files = common.expand_inputs(inputs, imaging.IMAGE_SUFFIXES)
        if not files:
            raise common.no_images(inputs)
        light = _light_forward(network, len(files), general)
        if light is None:
            from cnnkit.cli.model_use import limit_threads
            from cnnkit.ops._jit import set_threads

            limit_threads(threads)  # for the life of this process
            workers = set_threads(threads)
        else:  # Numba may still start (a 16-bit PNG's rows): with the count asked for
            from cnnkit.ops import pending

            pending.threads = threads
            workers = 1
    results: list[dict] = []

    def prepare(file: Path):
        if general:
            return _prepare_picture(file, image, max_pixels)
        return _prepare_file(file, multi, preprocess.value, max_pixels)

    def refused(file: Path, exc: Exception) -> None:
        from cnnkit.digits import NoDigitError

        if isinstance(exc, NoDigitError):  # a row in the table too
            results.append({"input": str(file), "prediction": "", "confidence": None,
                            "verdict": "no digit", "note": str(exc), "uncertain": False})

    def report(file: Path, prepared, probs) -> dict:
        result = _result(file, prepared, probs, top, multi, show_steps, min_confidence,
                         len(files) > 1, force, names)
        results.append(result)
        if result["verdict"] == "no digit":  # in the table, and an error line like a bad file
            from cnnkit.digits import NoDigitError

            raise NoDigitError(result["error"])
        return result

    forward = network.predict_proba if light is None else light
    work = _Batches(files, prepare, lambda x: forward(x * np.float32(scale)),
                    report, refused, workers, may_fork=show_steps is None)

    if show_steps is not None:
        with common.user_errors():
            from cnnkit.files import make_dir

            make_dir(show_steps)
    stopped = None  # the batch's own exit 1: some pictures failed or held no digit
    from cnnkit.ops import pending

    pending.light_digits = light is not None
    try:
        common.run_batch(files, work, as_json=as_json, quiet=quiet, label="predict",
                         describe=lambda r: _describe(r, top), summary=False)
    except common.Exit as exc:
        stopped = exc
    finally:
        pending.light_digits = False
        work.close()
    answered = len(results) == len(files)  # "no digit" is an answer; an unreadable file is not
    with common.user_errors():
        _finish(results, csv if answered else None, as_json, quiet, len(files), force)
        if answered:
            from cnnkit.files import commit_now

            commit_now()  # every picture has an answer: the CSV and steps are results
    if csv is not None and not answered and results:
        common.err.print(f"{common.escape(csv)} not written: not every picture was read")
    if stopped is not None:
        raise stopped
    if any(r["uncertain"] for r in results):
        raise common.Exit(UNCERTAIN_EXIT)



def _light_forward(network, pictures: int, general: bool):
    """The model's numpy forward pass when one digit picture is all there is to read and
    Numba has not started, else None (Numba's kernels). Starting Numba takes several times
    what preparing and reading one digit takes in numpy (``digits/backend.py``)."""
    import sys

    if pictures != 1 or general or "numba" in sys.modules:
        return None
    from cnnkit.nn import light

    if not light.supports(network):
        return None
    return lambda x: light.predict_proba(network, x)


class _Batches:
    """``work(file)`` for :func:`common.run_batch` that runs a chunk of files at a time.

    The chunk's pictures are read and prepared on ``workers`` forked processes where the
    system forks and nothing is written per picture (``forked``), else on threads (decoding,
    resampling and the Numba kernels release the GIL, the Python between them does not).
    Then all the chunk's digits go through the model in one batch. Results come back one
    file at a time, in order, as run_batch asks for them; a file that failed re-raises its
    own error, after ``refused(file, error)`` has seen it.
    """

    CHUNK = 64

    def __init__(self, files: list[Path], prepare, classify, report, refused, workers: int,
                 may_fork: bool = False):
        from cnnkit import files as outputs

        self._pending = list(files)
        self._ready: list = []
        self._outputs = outputs.active()  # the run's: a file's steps must not be tied to
        # the file whose turn it was when its chunk was prepared
        self._prepare, self._classify, self._report = prepare, classify, report
        self._refused = refused
        self._workers = self._threads = None  # a ForkedMap, a ThreadPoolExecutor or neither
        self._arrived = None  # the forked workers' results, in file order
        workers = workers if len(files) > 1 else 1
        if may_fork and workers > 1:
            import itertools

            from cnnkit import forked  # here: multiprocessing is a share of one picture's start

            if forked.available():
                first = self._attempt(files[0])  # loads the kernels the workers inherit
                try:
                    self._workers = forked.ForkedMap(self._attempt_slim, files[1:], workers)
                    self._arrived = itertools.chain([first], self._workers)
                except OSError:  # no process to spare (a limit, memory): threads, as elsewhere
                    pass
        if self._workers is None and workers > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._threads = ThreadPoolExecutor(workers)

    def __call__(self, file: Path) -> dict:
        if not self._ready:
            self._run_chunk()
        expected, outcome = self._ready.pop(0)
        assert expected == file, "files must be asked for in order"
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def close(self) -> None:
        if self._workers is not None:
            self._workers.close()
        if self._threads is not None:
            self._threads.shutdown(cancel_futures=True)

    def _attempt(self, file: Path):
        """The prepared picture, or the error that is this file's alone (as run_batch sees
        it: the others go on)."""
        from cnnkit.errors import CnnkitError

        try:
            return self._prepare(file)
        except (CnnkitError, OSError, MemoryError) as exc:
            return exc

    def _attempt_slim(self, file: Path):
        """In a forked worker: the prepared digits without the pictures and stages, which
        only --show-steps draws (a fraction of the bytes to send back)."""
        import dataclasses

        item = self._attempt(file)
        if isinstance(item, Exception):
            return item
        found = [dataclasses.replace(d, stages=[]) for d in item.found]
        return _Prepared(None, found, None, item.number, item.evidence)

    def _prepared(self, chunk: list[Path]) -> list:
        if self._workers is not None:
            from concurrent.futures.process import BrokenProcessPool

            ready = []
            try:
                while len(ready) < len(chunk):
                    ready.append(next(self._arrived))
            except BrokenProcessPool:  # a worker was killed: the rest is prepared here
                self._workers.close()
                self._workers = self._arrived = None
                ready += map(self._attempt, chunk[len(ready):])
            return ready
        if self._threads is not None:
            return list(self._threads.map(self._attempt, chunk))
        return [self._attempt(file) for file in chunk]

    def _run_chunk(self) -> None:
        import numpy as np

        from cnnkit.errors import CnnkitError
        from cnnkit.files import activate, transaction

        chunk, self._pending = self._pending[:self.CHUNK], self._pending[self.CHUNK:]
        prepared = self._prepared(chunk)
        good = [p for p in prepared if not isinstance(p, Exception)]
        digits = [d.digit for p in good for d in p.found]
        batch = np.stack(digits).astype(np.float32) if digits else None
        if batch is not None and batch.ndim == 3:  # grey: one channel
            batch = batch[..., None]
        probs = (self._classify(batch) if digits else np.empty((0, 10), np.float32))
        start = 0
        for file, item in zip(chunk, prepared):
            if isinstance(item, Exception):
                self._refused(file, item)
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
    """One picture ready for the model: the picture, its digits, the cleaned ink (--multi or
    a number found by plain predict), and ``number``: plain predict found several digits."""

    def __init__(self, picture, found, cleaned, number: bool = False, evidence=None):
        self.picture, self.found, self.cleaned, self.number = picture, found, cleaned, number
        # what the ink looks like (cnnkit.digits.verdict); none for --multi (judged there)
        self.evidence = found[0].evidence if evidence is None else evidence


def _prepare_file(file: Path, multi: bool, preprocess: str, max_pixels: int) -> _Prepared:
    from cnnkit import digits
    from cnnkit.digits import verdict
    from cnnkit.imaging import io as imaging
    from cnnkit.ops import pending

    # without Numba, a small PNG is decoded by Pillow (cnnkit's reader runs Numba kernels)
    picture = imaging.read_image(file, max_pixels, grey=True, native=True,
                                 light=pending.light_digits)
    try:
        if multi:
            found, cleaned = digits.find_digits(picture)
            return _Prepared(picture, found, cleaned, evidence={})
        if preprocess == "none":
            return _Prepared(picture, [digits.prepare_raw(picture)], None)
        one = digits.prepare_digit(picture)
        if verdict.looks_like_number(one.evidence):
            # separate groups of ink side by side: a number, read the way --multi reads it
            try:
                found, cleaned = digits.find_digits(picture)
            except digits.NoDigitError:
                found = []
            if len(found) > 1:
                return _Prepared(picture, found, cleaned, number=True, evidence=one.evidence)
        return _Prepared(picture, [one], None)
    except digits.NoDigitError as exc:  # name the picture: many may be read at once
        raise digits.NoDigitError(f"{file}: {exc}") from None


def _prepare_picture(file: Path, image: dict, max_pixels: int) -> _Prepared:
    """A picture for a model trained on a folder dataset: fitted as its training pictures
    were (the model file's ``image`` field)."""
    from cnnkit.cli.folder_opts import options_from_header
    from cnnkit.data.decode import decode_picture
    from cnnkit.digits import Prepared
    from cnnkit.errors import ImageError
    from cnnkit.imaging.picture_checks import check_readable

    options = options_from_header(image)
    check_readable(file)
    try:
        data = file.read_bytes()
    except OSError as exc:
        from cnnkit.errors import os_message

        raise ImageError(os_message(exc, "read", file)) from None
    decoded = decode_picture(data, options.size, options.color, options.fit, max_pixels, file)
    if isinstance(decoded, str):
        raise ImageError(f"{file}: {decoded}")
    array = decoded[0]
    return _Prepared(None, [Prepared(array, box=(0, 0, array.shape[1], array.shape[0]))], None,
                     evidence={"picture": True})


def _result(file: Path, prepared: _Prepared, probs, top: int, multi: bool, show_steps,
            min_confidence, several: bool, force: bool = False,
            names: list[str] | None = None) -> dict:
    """The report on one picture; ``verdict`` "no digit" (with ``error``) when its ink is no
    digit at all. ``names`` are the model's class names (default: the digits)."""
    import numpy as np

    from cnnkit.digits import verdict

    names = names or [str(k) for k in range(len(probs[0]) if len(probs) else 10)]
    reads = []
    for d, p in zip(prepared.found, probs):
        order = np.argsort(-p, kind="stable")[:top]
        reads.append({"digit": int(order[0]), "name": names[order[0]],
                      "confidence": float(p[order[0]]),
                      "top": [{"digit": int(k), "name": names[k], "probability": float(p[k])}
                              for k in order],
                      "box": list(d.box)})
    confidence = min(r["confidence"] for r in reads)
    if prepared.evidence.get("picture"):  # a whole picture, not ink: no digit verdict
        kind = "unsure" if confidence < verdict.UNSURE_BELOW else "sure"
        why = ""
    else:
        kind, why = verdict.judge(prepared.evidence, confidence, len(reads))
    if show_steps is not None:  # also for "no digit": the stages show what was taken for ink
        folder = show_steps / file.stem if several else show_steps
        _save_steps(folder, prepared.picture, prepared.found, reads, prepared.cleaned, force)
    if kind == verdict.NO_DIGIT:
        return {"input": str(file), "prediction": "", "confidence": confidence, "verdict": kind,
                "note": why, "uncertain": False,
                "error": f"{file}: no digit found ({why}; the model would have said "
                         f"{reads[0]['name']}, {confidence:.0%})"}
    notes = [why] if why else []
    if prepared.number:
        notes.append(f"{len(reads)} digits side by side, read as a number (--multi shows "
                     f"each digit)")
    result = {"input": str(file), "prediction": "".join(r["name"] for r in reads),
              "confidence": confidence, "verdict": kind, "note": "; ".join(notes),
              "uncertain": min_confidence is not None and confidence < min_confidence}
    if multi or prepared.number:
        result["digits"] = reads
    else:
        result["top"] = reads[0]["top"]
    if show_steps is not None:
        result["steps"] = str(folder)
    return result


def _save_steps(folder: Path, picture, found, reads, cleaned, force: bool = False) -> None:
    import numpy as np
    from PIL import Image, ImageDraw

    from cnnkit.files import atomic_path, make_dir
    from cnnkit.viz import draw as viz

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
    flags = [word for word, on in (("uncertain", result["uncertain"]),
                                   ("unsure", result["verdict"] == "unsure")) if on]
    note = "".join(f"  [bold yellow]{word}[/]" for word in flags)
    out.print(f"[bold]{common.escape(result['input'])}[/]: [bold cyan]"
              f"{common.escape(result['prediction'])}"
              f"[/] ({result['confidence']:.1%}){note}")
    if result["note"]:
        out.print(f"  [dim]{common.escape(result['note'])}[/]")
    if "digits" in result:
        for k, d in enumerate(result["digits"], 1):
            guesses = ", ".join(f"{common.escape(g['name'])} {g['probability']:.1%}"
                                for g in d["top"])
            out.print(f"  digit {k}: {common.escape(d['name'])}  [dim]({guesses})[/]")
        return
    for guess in result["top"][:top]:
        out.print(f"  {common.escape(guess['name'])}  {_bar(guess['probability']):<25} "
                  f"{guess['probability']:6.1%}")


def _share(result: dict, form: str) -> str:
    """The confidence as ``form``; nothing for "no digit" (the model's answer means nothing)."""
    return "" if result["verdict"] == "no digit" else form.format(result["confidence"])


def _finish(results: list[dict], csv: Path | None, as_json: bool, quiet: bool, total: int,
            force: bool = False):
    if csv is not None:
        from cnnkit.files import atomic_path

        lines = ["input,prediction,confidence,uncertain,verdict"]
        lines += [f"{r['input']},{r['prediction']},{_share(r, '{:.6f}')},{int(r['uncertain'])},"
                  f"{r['verdict']}" for r in results]
        with atomic_path(csv, force=force) as tmp:
            tmp.write_text("\n".join(lines) + "\n")
    if total > 1 and not as_json:
        from rich.table import Table

        read = sum(r["verdict"] != "no digit" for r in results)
        table = Table(title=f"{read} of {total} pictures read", title_justify="left")
        for column in ("picture", "prediction", "confidence", "verdict"):
            table.add_column(column, justify="right" if column == "confidence" else "left")
        colours = {"digit": "green", "sure": "green", "unsure": "yellow", "no digit": "red"}
        for r in results:
            flag = " [yellow](uncertain)[/]" if r["uncertain"] else ""
            shown = r["verdict"] + (" (number)" if "digits" in r and len(r["digits"]) > 1
                                    else "")
            table.add_row(common.escape(Path(r["input"]).name), (r["prediction"] or "-") + flag,
                          _share(r, "{:.1%}"), f"[{colours[r['verdict']]}]{shown}[/]")
        if not quiet:
            common.out.print(table)
