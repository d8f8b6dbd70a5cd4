"""``cnnkit train``: a CNN on MNIST or a folder of pictures, from scratch or fine-tuning."""

import json
import signal
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli import common, folder_opts
from cnnkit.cli.root import app
from cnnkit.cli.data_cmd import DataDir
from cnnkit.cli.model_opts import DIGITS, RECIPE, NoVerify, Threads, limit_threads
from cnnkit.limits import MAX_DRAWN


class OptimizerName(str, Enum):
    adam = "adam"
    sgd = "sgd"


class Schedule(str, Enum):
    constant = "constant"
    step = "step"
    cosine = "cosine"
    onecycle = "onecycle"

@app.command("train", rich_help_panel=DIGITS)
def train_command(
    arch: Annotated[str, typer.Option(
        "--arch", help="The network: a preset (digit_classifier, lenet5, keras-mnist-convnet, "
        "bn-convnet), a line of steps such as 'conv 32 3 relu | maxpool 2 | flatten | dense 10 "
        "softmax', or a file of steps or Keras JSON. See docs/model.md.",
        rich_help_panel=RECIPE)] = "digit_classifier",
    epochs: Annotated[int, typer.Option("--epochs", min=1, rich_help_panel=RECIPE)] = 15,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, rich_help_panel=RECIPE)
                          ] = 128,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Peak learning rate.",
                                      rich_help_panel=RECIPE)] = 2e-3,
    optimizer: Annotated[OptimizerName, typer.Option("--optimizer", rich_help_panel=RECIPE)
                         ] = OptimizerName.adam,
    schedule: Annotated[Schedule, typer.Option(
        "--schedule", help="Learning-rate schedule over all steps.", rich_help_panel=RECIPE)
    ] = Schedule.onecycle,
    dropout: Annotated[float, typer.Option("--dropout", min=0.0, max=0.95,
                                           rich_help_panel=RECIPE)] = 0.15,
    weight_decay: Annotated[float, typer.Option("--weight-decay", min=0.0,
                                                rich_help_panel=RECIPE)] = 0.0,
    augment: Annotated[bool, typer.Option(
        "--augment/--no-augment", help="Random shifts of up to 2 px.", rich_help_panel=RECIPE)
    ] = True,
    rotate: Annotated[float, typer.Option(
        "--rotate", min=0.0, max=45.0, help="Random rotations up to this many degrees either "
        "way.", rich_help_panel=RECIPE)] = 0.0,
    shear: Annotated[float, typer.Option(
        "--shear", min=0.0, max=1.0, help="Random slant up to this many px across per px "
        "down, either way.", rich_help_panel=RECIPE)] = 0.0,
    scale: Annotated[float, typer.Option(
        "--scale", min=0.0, max=0.45, help="Random size change up to this share either way "
        "(0.1: 90-110%).", rich_help_panel=RECIPE)] = 0.0,
    elastic: Annotated[float, typer.Option(
        "--elastic", min=0.0, max=4.0, help="Smooth random warp: px of displacement (standard "
        "deviation) at a 4x4 grid of points.", rich_help_panel=RECIPE)] = 0.0,
    thickness: Annotated[float, typer.Option(
        "--thickness", min=0.0, max=1.0, help="Random stroke width: up to this blend towards "
        "one px thicker (half of it thinner).", rich_help_panel=RECIPE)] = 0.0,
    drawn: Annotated[int, typer.Option(
        "--drawn", min=0, max=MAX_DRAWN, help="Add this many digits drawn from pen-stroke "
        "templates to MNIST's training part: ways of writing rare in MNIST, such as a 1 with a "
        "flag, a closed-top 4 or a crossed 7 (the bundled model: 6000).",
        rich_help_panel=RECIPE)] = 0,
    val_split: Annotated[Optional[str], typer.Option(
        "--val-split", help="Training images held out for validation: a count (500) or a "
        "fraction (0.2) (default: one in twelve, 5,000 of 60,000; of every class alike for "
        "--images).", rich_help_panel=RECIPE, show_default=False)] = None,
    seed: Annotated[int, typer.Option(
        "--seed", min=0, help="Seeds init, split, shuffling, dropout, augmentation.",
        rich_help_panel=RECIPE)] = 0,
    limit: Annotated[Optional[int], typer.Option(
        "--limit", min=1, help="Train on the first N images only (quick tries).",
        show_default=False)] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write (.npz).",
                                         dir_okay=False)] = Path("digit_classifier.npz"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing model.")] = False,
    resume: Annotated[Optional[Path], typer.Option(
        "--resume", help="Continue from a checkpoint (its recipe is used).", exists=True,
        dir_okay=False, show_default=False)] = None,
    data: DataDir = None,
    no_verify: NoVerify = False,
    images_dir: folder_opts.Images = None,
    image_size: folder_opts.ImageSize = None,
    color: folder_opts.ColorOption = None,
    fit: folder_opts.FitOption = folder_opts.Fit.pad,
    prepare_kind: folder_opts.Prepare = None,
    strict: folder_opts.Strict = False,
    init: Annotated[Optional[Path], typer.Option(
        "--init", help="Fine-tune: start from this trained model (a new output layer when the "
        "class count differs).", exists=True, dir_okay=False, show_default=False,
        rich_help_panel=folder_opts.PICTURES)] = None,
    mix_mnist: Annotated[int, typer.Option(
        "--mix-mnist", min=0, help="Add this many MNIST training digits to a digit folder "
        "dataset, so fine-tuning keeps what the model knew (classes named 0-9).",
        rich_help_panel=folder_opts.PICTURES)] = 0,
    freeze: Annotated[Optional[list[str]], typer.Option(
        "--freeze", help="Keep this layer's weights fixed (repeat or comma-separate; names as "
        "'cnnkit summary' shows them).", show_default=False,
        rich_help_panel=folder_opts.PICTURES)] = None,
    threads: Threads = None,
    as_json: Annotated[bool, typer.Option("--json", help="NDJSON per epoch on stdout, no bar.")
                       ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the final line.")] = False,
    plot: Annotated[Optional[Path], typer.Option(
        "--plot", help="Also draw the learning curves to this PNG (needs cnnkit[plot]).",
        dir_okay=False, show_default=False)] = None,
) -> None:
    """Train a CNN on MNIST or on your own pictures, from scratch or fine-tuning.

    Data: MNIST (fetched and verified on first use), or --images DIR, a folder of pictures.
    Network: the digit_classifier, or any --arch; --init starts from a trained model.

    A checkpoint is written after every epoch to OUTPUT with .ckpt.npz; Ctrl-C stops after the
    current batch and saves one. [dim]Example:[/] cnnkit train --epochs 15 -o model.npz
    """
    if output.suffix != ".npz":
        raise common.fail(f"{output}: the model file name must end in .npz", 2)
    size = folder_opts.parse_size(image_size)
    if images_dir is None and (size or color or prepare_kind or strict
                               or fit is not folder_opts.Fit.pad):
        raise common.fail("--image-size, --color, --fit, --prepare and --strict need "
                          "--images DIR", 2)
    if images_dir is not None and data is not None and not mix_mnist:
        raise common.fail("--images and --data are two sources; give one (--data goes with "
                          "--images only as the source of --mix-mnist)", 2)
    if drawn and images_dir is not None:
        raise common.fail("--drawn adds digits to MNIST; it does not go with --images", 2)
    if mix_mnist and images_dir is None:
        raise common.fail("--mix-mnist needs --images DIR", 2)
    if init is not None and resume is not None:
        raise common.fail("--init starts a new training and --resume continues one; give one",
                          2)
    if init is not None and arch != "digit_classifier":
        raise common.fail("--arch builds a new network and --init starts from a trained one; "
                          "give one", 2)
    frozen = [n.strip() for item in freeze or [] for n in item.split(",") if n.strip()]
    try:
        from cnnkit.data.folder import parse_split

        split = parse_split(val_split)
    except ValueError as exc:
        raise common.fail(str(exc), 2) from None
    for path in (output, output.with_suffix(".history.json"),
                 output.with_suffix(".history.csv")):
        common.picture_target(path, force, suffix=path.suffix)
    checkpoint = output.with_suffix(".ckpt.npz")
    if plot is not None:  # fail before training, not after
        common.picture_target(plot, force)
        with common.user_errors():
            from cnnkit.viz.charts import require_matplotlib

            require_matplotlib()
    with common.user_errors(), limit_threads(threads):
        from cnnkit.cli.train_source import fit_network, start_model, training_data
        from cnnkit.nn.arch import PRESETS, resolve, to_text
        from cnnkit.nn.train import (
            TrainConfig,
            Trainer,
            default_val_split,
            resume_trainer,
        )

        network = None
        if resume is None and init is None:  # a wrong architecture fails before data is read
            network = resolve(arch, seed=seed, dropout=dropout)
        source = training_data(images_dir, data, no_verify, size, color, fit, prepare_kind,
                               strict, init, resume, quiet or as_json, mix_mnist, seed)
        images, labels, test = source["images"], source["labels"], source["test"]
        if resume is not None:
            from cnnkit.digits.drawn import for_recipe

            trainer, _ = resume_trainer(resume, images, labels, drawn=for_recipe)
            common.err.print(f"resuming {common.escape(resume)} at epoch "
                             f"{trainer.state.epoch + 1}, batch {trainer.state.batch + 1}")
        else:
            from cnnkit.data.folder import split_count

            available = len(images) if limit is None else min(limit, len(images))
            held = split_count(split, available, default_val_split)
            if held >= available:
                raise common.fail(f"--val-split {val_split} leaves no training images: there "
                                  f"are {available:,} (--limit and the data); give a smaller "
                                  f"--val-split", 2)
            try:
                if network is not None and source["fields"]:  # the pictures' shape, classes
                    network = fit_network(network, source["shape"], source["classes"], seed)
                network = start_model(source, network, init, seed, frozen, as_json or quiet)
            except ValueError as exc:
                raise common.fail(str(exc)) from None
            if arch not in PRESETS or source["fields"] or init is not None:
                arch = to_text(network)
            config = TrainConfig(arch=arch, epochs=epochs, batch_size=batch_size, lr=lr,
                                 optimizer=optimizer.value, schedule=schedule.value,
                                 dropout=dropout, weight_decay=weight_decay, augment=augment,
                                 rotate=rotate, shear=shear, scale=scale, elastic=elastic,
                                 thickness=thickness, drawn=drawn, val_split=held, seed=seed,
                                 limit=limit, stratify=images_dir is not None, freeze=frozen)
            try:
                trainer = Trainer(config, images, labels, model=network,
                                  drawn=_drawn(config, quiet or as_json))
            except ValueError as exc:
                raise common.fail(str(exc)) from None
        data_info = source["data"]
        fields = {"data": data_info, **source["fields"]}
        stopped = _run(trainer, checkpoint, fields, as_json, quiet)
        if stopped:
            again = f"cnnkit train --resume {checkpoint} -o {output}"
            if data is not None:
                again += f" --data {data}"
            if images_dir is not None:
                again += f" --images {images_dir}"
            state = trainer.state
            where = (f"after epoch {state.epoch}" if state.batch == 0 else
                     f"at epoch {state.epoch + 1}, batch {state.batch}")
            raise common.fail(f"stopped {where}; checkpoint saved. Resume with: {again}", 130)
        _finish(trainer, output, checkpoint, test, fields, force, as_json, quiet)
        if plot is not None:
            from cnnkit.viz.charts import learning_curves

            learning_curves(trainer.state.history, plot, title=output.name, force=force)
            if not as_json:
                common.wrote(plot)


def _drawn(config, quiet: bool):
    """``--drawn``'s digits, or None; a line says so, as drawing 6,000 takes a few seconds."""
    if not config.drawn:
        return None
    from cnnkit.digits.drawn import for_recipe

    drawn = for_recipe(config)
    if not quiet:
        common.err.print(f"drew {config.drawn:,} digits from pen-stroke templates")
    return drawn


def _data_info(data: Path | None) -> dict:
    from cnnkit.data.idx import read_bytes
    from cnnkit.data.mnist import MNIST_FILES, locate, mnist_dir, sha256

    directory = data or mnist_dir()
    info = {"source": str(directory)}
    for spec in MNIST_FILES:
        path = locate(directory, spec)
        info[spec.name] = sha256(read_bytes(path)) if path else None
    return info


def _run(trainer, checkpoint: Path, fields: dict, as_json: bool, quiet: bool) -> bool:
    """Drive the loop with a progress bar; return True if Ctrl-C stopped it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from cnnkit.nn.train import EpochEvent, save_trainer

    interrupted = []

    def on_sigint(signum, frame):
        if interrupted:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        interrupted.append(True)
        common.err.print("[yellow]stopping after this batch (Ctrl-C again to abort)[/]")

    previous = signal.signal(signal.SIGINT, on_sigint)
    bar = Progress(TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(),
                   MofNCompleteColumn(), TextColumn("{task.fields[speed]:>6.0f} img/s"),
                   TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.4f}"),
                   console=common.err.get(), transient=True,
                   disable=as_json or quiet or not common.err.is_terminal)
    try:
        with bar:
            task = None
            for event in trainer.run(should_stop=lambda: bool(interrupted)):
                if isinstance(event, EpochEvent):
                    save_trainer(trainer, checkpoint, **fields)
                    _report_epoch(event, as_json, quiet)
                    if task is not None:
                        bar.remove_task(task)
                        task = None
                    continue
                if task is None:
                    task = bar.add_task("", total=event.batches, epoch=event.epoch, speed=0.0,
                                        loss=0.0, acc=0.0)
                bar.update(task, completed=event.batch, speed=event.images_per_second,
                           loss=event.loss, acc=event.accuracy)
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted and trainer.state.epoch < trainer.config.epochs:
        save_trainer(trainer, checkpoint, **fields)
        return True
    return False


def _report_epoch(event, as_json: bool, quiet: bool) -> None:
    if as_json:
        common.print_json({"event": "epoch", **event.__dict__})
        return
    if quiet:
        return
    val = ""
    if event.val_loss is not None:
        val = f"  val loss {event.val_loss:.4f} acc {event.val_accuracy:.4f}"
    common.err.print(f"epoch {event.epoch:>2}/{event.epochs}  train loss {event.train_loss:.4f} "
                     f"acc {event.train_accuracy:.4f}{val}  {event.seconds:.1f} s "
                     f"({event.images_per_second:,.0f} img/s)")


def _finish(trainer, output: Path, checkpoint: Path, test, fields, force, as_json,
            quiet) -> None:
    from dataclasses import asdict

    from cnnkit.files import atomic_path, commit_now
    from cnnkit.nn.io import save_model
    from cnnkit.nn.train import evaluate_loss

    test_loss = test_accuracy = None
    if test is not None:  # a folder dataset without test/ is measured on its validation part
        test_images, test_labels = test
        test_loss, test_accuracy = evaluate_loss(trainer.model, test_images, test_labels)
    history = trainer.state.history
    metrics = {"test_loss": test_loss, "test_accuracy": test_accuracy,
               "train_loss": history[-1]["train_loss"],
               "train_accuracy": history[-1]["train_accuracy"],
               "val_loss": history[-1]["val_loss"], "val_accuracy": history[-1]["val_accuracy"],
               "train_seconds": sum(h["seconds"] for h in history)}
    save_model(output, trainer.model, force=force,
               training={**asdict(trainer.config), "history": history}, metrics=metrics,
               **fields)
    with atomic_path(output.with_suffix(".history.json"), force=force) as tmp:
        tmp.write_text(json.dumps(history, indent=1))
    with atomic_path(output.with_suffix(".history.csv"), force=force) as tmp:
        columns = list(history[0])
        tmp.write_text("\n".join([",".join(columns)] + [
            ",".join("" if h[c] is None else str(h[c]) for c in columns) for h in history]) + "\n")
    commit_now()  # the model is on disk before its checkpoint goes
    checkpoint.unlink(missing_ok=True)  # the model now holds everything worth keeping
    if as_json:
        common.print_json({"event": "done", "output": str(output), **metrics})
    elif test_accuracy is not None:
        common.err.print(f"[green]wrote[/] {common.escape(output)}: test accuracy "
                         f"{test_accuracy:.2%}, loss {test_loss:.4f} "
                         f"(history in {common.escape(output.with_suffix('.history.csv'))})")
    else:
        val = history[-1]["val_accuracy"]
        said = f"validation accuracy {val:.2%}" if val is not None else "no test/ folder"
        common.err.print(f"[green]wrote[/] {common.escape(output)}: {said} "
                         f"(history in {common.escape(output.with_suffix('.history.csv'))})")
