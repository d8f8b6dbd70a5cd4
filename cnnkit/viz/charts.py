"""Charts drawn with matplotlib, the optional ``plot`` extra: learning curves.

matplotlib is imported only when a chart is drawn; without it :func:`require_matplotlib`
raises a :class:`PlotError` saying how to install it, and every other command keeps working.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from cnnkit.errors import CnnkitError
from cnnkit.files import atomic_path

INSTALL_HINT = "charts need matplotlib: pip install 'cnnkit[plot]' (or pip install matplotlib)"
HISTORY_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")


class PlotError(CnnkitError):
    """A chart cannot be drawn: matplotlib is missing or the history is unusable."""


def require_matplotlib():
    """Import matplotlib with the file-only Agg backend, or explain how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise PlotError(INSTALL_HINT) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_history(path: Path) -> list[dict]:
    """Per-epoch metrics from a ``.history.json``/``.history.csv`` written by ``cnnkit train``,
    or from a model file's header."""
    from cnnkit.files import check_source

    path = Path(path)
    check_source(path, "training history", PlotError)
    try:
        if path.suffix == ".npz":
            from cnnkit.nn.io import load_model

            history = load_model(path)[1].get("training", {}).get("history")
            if not history:
                raise PlotError(f"{path}: the model file holds no training history")
        elif path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                history = [{k: _number(v) for k, v in row.items()}
                           for row in csv.DictReader(handle)]
        else:
            history = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        from cnnkit.errors import os_reason

        raise PlotError(f"{path}: cannot read a training history ({os_reason(exc)})") from None
    except UnicodeDecodeError:
        raise PlotError(f"{path}: cannot read a training history (not a text file)") from None
    except RecursionError:
        raise PlotError(f"{path}: cannot read a training history (nested too deeply)"
                        ) from None
    except (json.JSONDecodeError, csv.Error, ValueError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:100]
        raise PlotError(f"{path}: cannot read a training history ({reason})") from None
    _check(path, history)
    return history


def _number(text: str | None):
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _check(path: Path, history) -> None:
    if not isinstance(history, list) or not history or not all(
            isinstance(row, dict) for row in history):
        raise PlotError(f"{path}: expected a list of per-epoch records")
    missing = [c for c in HISTORY_COLUMNS[:3] if c not in history[0]]
    if missing:
        raise PlotError(f"{path}: not a cnnkit training history (no {', '.join(missing)})")
    for row in history:
        for column in HISTORY_COLUMNS:
            value = row.get(column)
            if value is not None and not isinstance(value, (int, float)):
                raise PlotError(f"{path}: {column} must be a number, got {value!r}")


def learning_curves(history: list[dict], target: Path, *, title: str = "",
                    force: bool = True) -> None:
    """Loss and accuracy per epoch, train against validation, side by side, as a PNG."""
    plt = require_matplotlib()
    epochs = [int(row["epoch"]) for row in history]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4), dpi=100,
                                                      layout="constrained")
    for axes, metric, name in ((loss_axes, "loss", "loss (cross-entropy)"),
                               (accuracy_axes, "accuracy", "accuracy")):
        axes.plot(epochs, [row[f"train_{metric}"] for row in history], "o-", color="#3b528b",
                  label="train")
        validation = [(e, row.get(f"val_{metric}")) for e, row in zip(epochs, history)
                      if row.get(f"val_{metric}") is not None]
        if validation:
            axes.plot(*zip(*validation), "s-", color="#d1495b", label="validation")
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
        axes.legend()
    if len(epochs) <= 20:
        for axes in (loss_axes, accuracy_axes):
            axes.set_xticks(epochs)
    if title:
        figure.suptitle(title)
    try:
        with atomic_path(target, force=force) as tmp:
            figure.savefig(tmp, format="png")
    finally:
        plt.close(figure)
