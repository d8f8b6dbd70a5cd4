"""``cnnkit evaluate``: accuracy, confusion matrix, per-class metrics and worst mistakes."""

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli import common, folder_opts
from cnnkit.cli.root import app
from cnnkit.cli.data_cmd import DataDir, Split, load_data
from cnnkit.cli.model_opts import (
    DIGITS,
    ModelArg,
    NoVerify,
    Threads,
    limit_threads,
    resolve_model,
)


@app.command("evaluate", rich_help_panel=DIGITS)
def evaluate_command(
    model: ModelArg = None,
    split: Annotated[Split, typer.Option("--split", help="Which MNIST split.")] = Split.test,
    data: DataDir = None,
    no_verify: NoVerify = False,
    worst: Annotated[int, typer.Option("--worst", min=0,
                                       help="How many confident mistakes to list.")] = 12,
    plot: Annotated[Optional[Path], typer.Option(
        "--plot", help="Write the confusion matrix as an annotated heat map (PNG).",
        dir_okay=False, show_default=False)] = None,
    mistakes: Annotated[Optional[Path], typer.Option(
        "--mistakes", help="Write a contact sheet of the --worst mistakes (PNG).",
        dir_okay=False, show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing pictures and CSV.")
                     ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    csv: Annotated[Optional[Path], typer.Option(
        "--csv", help="Write per-class metrics and confusion counts to this CSV (an existing "
        "file only with --force).",
        dir_okay=False, show_default=False)] = None,
    images_dir: folder_opts.Images = None,
    prepare_kind: folder_opts.Prepare = None,
    strict: folder_opts.Strict = False,
    threads: Threads = None,
) -> None:
    """Accuracy, confusion matrix, per-class metrics and worst mistakes of a model.

    On the MNIST test set, or on a folder dataset (--images DIR: its test/ part if it has one).

    Pictures are prepared as the model's were in training (its file says how).
    [dim]Example:[/] cnnkit evaluate model.npz --split test
    """
    if images_dir is None and (prepare_kind or strict):
        raise common.fail("--prepare and --strict need --images DIR", 2)
    for picture in (plot, mistakes):
        if picture is not None:
            common.picture_target(picture, force)
    if csv is not None:
        common.picture_target(csv, force, suffix=csv.suffix)
    path = resolve_model(model)
    with common.user_errors(), limit_threads(threads):
        import numpy as np

        from cnnkit.nn.io import load_model
        from cnnkit.nn.metrics import confusion_matrix, per_class, top_mistakes
        from cnnkit.nn.model import prepare

        network, header = load_model(path)
        from cnnkit.nn.io import class_names

        names = class_names(header, int(network.output_shape[-1]))
        if images_dir is None:
            images, labels = load_data(split.value, data, verify=not no_verify)
            where, files = split.value, None
        else:
            from cnnkit.cli.train_source import evaluation_pictures

            images, labels, where, files = evaluation_pictures(
                images_dir, header, network, names, prepare_kind, strict, as_json)
        inputs = prepare(images)
        network.predict_proba(inputs[:1])  # load the compiled kernels before timing
        started = time.perf_counter()
        probs = network.predict_proba(inputs)
        seconds = time.perf_counter() - started
        picked = probs[np.arange(len(labels)), labels.astype(np.int64)]
        loss = float(-np.log(np.maximum(picked, 1e-12), dtype=np.float64).mean())
        predicted = probs.argmax(axis=1)
        confusion = confusion_matrix(labels, predicted, len(names))
        report = {"model": str(path), "split": where, "classes": names,
                  "images": int(len(labels)),
                  "loss": loss, "accuracy": float((predicted == labels).mean()),
                  "seconds": seconds, "confusion": confusion.tolist(),
                  "per_class": per_class(confusion),
                  "mistakes": top_mistakes(probs, labels, worst)}
        for row in report["per_class"]:
            row["name"] = names[row["class"]]
        for m in report["mistakes"]:
            m["true_name"], m["predicted_name"] = names[m["true"]], names[m["predicted"]]
            if files is not None:  # a folder dataset: which picture
                m["file"] = files[m["index"]]
        if csv is not None:
            _write_csv(csv, report, force)
        _write_pictures(report, images, plot, mistakes, force)
    if as_json:
        common.print_json(report)
        return
    _print_report(report)
    for picture in report["pictures"]:
        common.wrote(picture)


def _write_pictures(report: dict, images, plot: Path | None, mistakes: Path | None,
                    force: bool) -> None:
    import numpy as np

    from cnnkit.viz import figures

    written = []
    if plot is not None:
        heat_map = figures.confusion_heatmap(np.asarray(report["confusion"]),
                                             names=report["classes"])
        common.save_picture(heat_map.image, plot, force)
        written.append(plot)
    if mistakes is not None:
        worst = [{**m, "true": m["true_name"], "predicted": m["predicted_name"]}
                 for m in report["mistakes"]]
        digits = images[[m["index"] for m in worst]]
        if digits.ndim == 4:  # colour pictures: the sheet shows their grey
            digits = digits.mean(axis=3).astype(np.uint8)
        common.save_picture(figures.mistakes_sheet(digits, worst).image, mistakes, force)
        written.append(mistakes)
    report["pictures"] = [str(p) for p in written]


def _write_csv(path: Path, report: dict, force: bool) -> None:
    import csv
    import io

    from cnnkit.files import atomic_path

    names = report["classes"]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")  # a folder's name may hold a comma
    writer.writerow(["class", "precision", "recall", "f1", "support"] + [
        f"predicted_{name}" for name in names])
    for row, counts in zip(report["per_class"], report["confusion"]):
        writer.writerow([row["name"], f"{row['precision']:.6f}", f"{row['recall']:.6f}",
                         f"{row['f1']:.6f}", str(row["support"])] + [str(c) for c in counts])
    with atomic_path(path, force=force) as tmp:
        tmp.write_text(text.getvalue())


def _split_words(split: str) -> str:
    return f"the {split} split" if split in ("train", "test") else common.escape(split)


def _print_report(report: dict) -> None:
    from rich.table import Table

    out = common.out
    out.print(f"[bold]{common.escape(report['model'])}[/] on {_split_words(report['split'])} "
              f"({report['images']:,} images, {report['seconds']:.2f} s): accuracy "
              f"[bold]{report['accuracy']:.2%}[/], loss {report['loss']:.4f}")
    confusion = report["confusion"]
    names = [common.escape(n) for n in report["classes"]]
    count = len(names)
    off = sorted((confusion[t][p], t, p) for t in range(count) for p in range(count) if t != p)
    worst = {(t, p) for count, t, p in off[-5:] if count > 0}
    table = Table(title="confusion matrix (rows: true, columns: predicted; the 5 largest "
                  "confusions in red)", title_justify="left", padding=(0, 1))
    table.add_column("", style="bold")
    for k in range(count):
        table.add_column(names[k], justify="right")
    for t in range(count):
        cells = []
        for p in range(count):
            value = str(confusion[t][p])
            if t == p:
                value = f"[green]{value}[/]"
            elif (t, p) in worst:
                value = f"[bold red]{value}[/]"
            elif confusion[t][p] == 0:
                value = "[dim]0[/]"
            cells.append(value)
        table.add_row(names[t], *cells)
    out.print(table)
    classes = Table(title="per class", title_justify="left")
    for column in ("class", "precision", "recall", "F1", "support"):
        classes.add_column(column, justify="right")
    for row in report["per_class"]:
        classes.add_row(names[row["class"]], f"{row['precision']:.4f}", f"{row['recall']:.4f}",
                        f"{row['f1']:.4f}", f"{row['support']:,}")
    out.print(classes)
    if report["mistakes"]:
        mistakes = Table(title="most confident mistakes", title_justify="left")
        first = "file" if "file" in report["mistakes"][0] else "index"
        for column in (first, "true", "predicted", "confidence"):
            mistakes.add_column(column, justify="right")
        for m in report["mistakes"]:
            mistakes.add_row(common.escape(m.get("file", m["index"])), names[m["true"]],
                             names[m["predicted"]],
                             f"{m['confidence']:.2%}")
        out.print(mistakes)
