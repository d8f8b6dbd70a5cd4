"""The training loop: yields per-batch and per-epoch metrics, never prints.

All randomness (initialisation, the validation split, shuffling, dropout, augmentation) comes
from one seed, and the loop's whole state (weights, optimiser, generator, position in the
epoch) is what a checkpoint holds, so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

from cnnkit.limits import MAX_DRAWN
from cnnkit.nn.model import Sequential, prepare
from cnnkit.nn.optim import learning_rate, make_optimizer
from cnnkit.ops.augment import distort_images, draw_distortions, shift_images

MAX_SHIFT = 2  # pixels, for --augment


@dataclass
class TrainConfig:
    """The training recipe. The defaults are the recipe behind the bundled model."""

    arch: str = "digit_classifier"  # a preset name or an architecture line (nn/arch.py)
    epochs: int = 15
    batch_size: int = 128
    lr: float = 2e-3
    optimizer: str = "adam"
    schedule: str = "onecycle"
    dropout: float = 0.15
    weight_decay: float = 0.0
    augment: bool = True  # random shifts of up to MAX_SHIFT px
    rotate: float = 0.0  # degrees either way
    shear: float = 0.0  # slant: px across per px down, either way
    scale: float = 0.0  # relative size change either way
    elastic: float = 0.0  # px: standard deviation of the elastic field's control points
    thickness: float = 0.0  # largest blend towards a 3x3 dilation (half of it: erosion)
    drawn: int = 0  # digits drawn from pen-stroke templates, added to the training part
    val_split: int = 5000
    seed: int = 0
    limit: int | None = None
    stratify: bool = False  # hold out the same share of every class (folder datasets)
    freeze: list[str] = field(default_factory=list)  # layer names kept fixed (fine-tuning)

    @property
    def distorts(self) -> bool:
        return any((self.rotate, self.shear, self.scale, self.elastic, self.thickness))

    def check(self) -> None:
        """Raise ValueError naming the first field of the wrong type or out of range (a
        checkpoint's recipe is checked this way before training resumes from it)."""
        from cnnkit.nn.optim import OPTIMIZERS, SCHEDULES

        ints = {"epochs": 1, "batch_size": 1, "val_split": 0, "seed": 0, "drawn": 0}
        for name, low in ints.items():
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
        if self.drawn > MAX_DRAWN:
            raise ValueError(f"drawn must be at most {MAX_DRAWN:,}, got {self.drawn!r}")
        if self.limit is not None and (not _is_int(self.limit) or self.limit < 1):
            raise ValueError(f"limit must be a whole number >= 1, got {self.limit!r}")
        for name, low, high in (("lr", 0.0, 10.0), ("dropout", 0.0, 0.95),
                                ("weight_decay", 0.0, 1.0)):
            value = getattr(self, name)
            if not _is_number(value) or not low <= value <= high:
                raise ValueError(f"{name} must be a number from {low:g} to {high:g}, "
                                 f"got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if self.optimizer not in OPTIMIZERS or self.schedule not in SCHEDULES:
            raise ValueError(f"unknown optimizer or schedule: {self.optimizer!r}, "
                             f"{self.schedule!r}")
        if not isinstance(self.arch, str) or not self.arch:
            raise ValueError(f"arch must be a preset name or an architecture line, got "
                             f"{self.arch!r:.60}")
        for name in ("augment", "stratify"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.freeze, list) or not all(isinstance(n, str) for n in self.freeze):
            raise ValueError(f"freeze must be a list of layer names, got {self.freeze!r}")
        for name, high in (("rotate", 45.0), ("shear", 1.0), ("scale", 0.45), ("elastic", 4.0),
                           ("thickness", 1.0)):
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= value <= high:
                raise ValueError(f"{name} must be a number from 0 to {high:g}, got {value!r}")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
            and bool(np.isfinite(value)))


def default_val_split(images: int) -> int:
    """Images held out for validation unless told: one in twelve (5,000 of MNIST's 60,000),
    so ``--limit`` alone always leaves most images for training."""
    return images // 12


@dataclass
class BatchEvent:
    epoch: int  # 1-based
    batch: int  # 1-based
    batches: int
    loss: float  # running mean over the epoch so far
    accuracy: float
    images_per_second: float
    lr: float


@dataclass
class EpochEvent:
    epoch: int
    epochs: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float
    images_per_second: float
    lr: float


@dataclass
class TrainState:
    """Where the loop is; saved in checkpoints."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches completed in the current epoch
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0  # time spent in the current epoch so far
    history: list[dict] = field(default_factory=list)


def split_validation(images, labels, count: int, seed: int, stratify: bool = False):
    """Hold out ``count`` images chosen by ``seed``; returns (train_x, train_y, val_x, val_y).

    ``stratify`` takes the same share of every class (rounded, at least one picture of each
    class stays for training), which a folder of a few dozen pictures needs.
    """
    if count >= len(images):
        raise ValueError(f"val split {count} leaves no training images (of {len(images)})")
    rng = np.random.default_rng([seed, 1])
    if stratify and count:
        share, held = count / len(images), []
        for label in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == label))
            take = min(len(members) - 1, int(round(share * len(members))))
            held.append(members[:take])
        val = np.sort(np.concatenate(held))
        train = np.setdiff1d(np.arange(len(images)), val)
    else:
        order = rng.permutation(len(images))
        val, train = np.sort(order[:count]), np.sort(order[count:])
    return images[train], labels[train], images[val], labels[val]


class Trainer:
    """Trains a model on uint8 pictures (N, H, W) or (N, H, W, C) with integer labels (N,).

    ``model`` defaults to the digit_classifier; layers named in ``config.freeze`` keep their
    weights (the optimiser never sees them). ``drawn`` holds the recipe's ``config.drawn``
    drawn digits ((D, 28, 28) uint8, (D,)), added to the training part after the split.
    """

    def __init__(self, config: TrainConfig, images: np.ndarray, labels: np.ndarray,
                 model: Sequential | None = None,
                 drawn: tuple[np.ndarray, np.ndarray] | None = None):
        config.check()
        self.config = config
        if config.limit is not None:
            images, labels = images[:config.limit], labels[:config.limit]
        if config.val_split:
            images, labels, self.val_x, self.val_y = split_validation(
                images, labels, config.val_split, config.seed, config.stratify)
        else:
            self.val_x = self.val_y = None
        if config.drawn or drawn is not None:  # after the split: validation stays the data's
            images, labels = _with_drawn(images, labels, config.drawn, drawn)
        self.images, self.labels = images, labels
        if model is None:
            from cnnkit.nn.arch import resolve

            model = resolve(config.arch, seed=config.seed, dropout=config.dropout)
        classes = model.output_shape[-1]
        if len(labels) and int(labels.max()) >= classes:
            raise ValueError(f"the labels go up to {int(labels.max())} but the network's last "
                             f"step has {classes} units: use dense {int(labels.max()) + 1} "
                             f"softmax")
        self.model = model
        names = {layer.name for layer in self.model.layers}
        unknown = [n for n in config.freeze if n not in names]
        if unknown:
            raise ValueError(f"--freeze {unknown[0]}: no such layer; the layers are "
                             f"{', '.join(layer.name for layer in self.model.layers)}")
        if not any(layer.params for layer in self.model.layers
                   if layer.name not in config.freeze):
            raise ValueError("--freeze leaves no layer with weights to train")
        self.optimizer = make_optimizer(config.optimizer, self._trained(
            self.model.named_params()), config.weight_decay)
        self.rng = np.random.default_rng([config.seed, 2])
        self.state = TrainState()
        self.order = np.arange(0)

    def _trained(self, named: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
        frozen = set(self.config.freeze)
        return [(n, v) for n, v in named if n.split("/", 1)[0] not in frozen]

    @property
    def batches(self) -> int:
        return -(-len(self.images) // self.config.batch_size)

    def run(self, should_stop: Callable[[], bool] = lambda: False
            ) -> Iterator[BatchEvent | EpochEvent]:
        """Train until the last epoch, or until ``should_stop()`` after a batch.

        Stopping leaves ``state`` at a batch boundary, ready for a checkpoint.
        """
        cfg, state = self.config, self.state
        total_steps = cfg.epochs * self.batches
        while state.epoch < cfg.epochs:
            if state.batch == 0:
                self.order = self.rng.permutation(len(self.images))
                state.loss_sum, state.correct, state.seen, state.seconds = 0.0, 0, 0, 0.0
            while state.batch < self.batches:
                started = time.perf_counter()
                lr = learning_rate(cfg.schedule, cfg.lr, state.epoch * self.batches + state.batch,
                                   total_steps)
                loss, correct, count = self._step(lr)
                state.seconds += time.perf_counter() - started
                state.loss_sum += loss * count
                state.correct += correct
                state.seen += count
                state.batch += 1
                yield BatchEvent(state.epoch + 1, state.batch, self.batches,
                                 state.loss_sum / state.seen, state.correct / state.seen,
                                 state.seen / max(state.seconds, 1e-9), lr)
                if state.batch < self.batches and should_stop():
                    return
            yield self._finish_epoch(lr)
            if should_stop():
                return

    def _step(self, lr: float) -> tuple[float, int, int]:
        cfg, state = self.config, self.state
        index = self.order[state.batch * cfg.batch_size:(state.batch + 1) * cfg.batch_size]
        images = self.images[index]
        if cfg.distorts:  # the shift (if any) is part of the warp, in fractions of a pixel
            images = _per_channel(distort_images, images, *draw_distortions(
                self.rng, len(index), cfg.rotate, cfg.shear, cfg.scale,
                MAX_SHIFT if cfg.augment else 0.0, cfg.elastic, cfg.thickness))
        elif cfg.augment:
            shifts = self.rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, (len(index), 2))
            images = _per_channel(shift_images, images, shifts)
        labels = self.labels[index]
        loss, probs = self.model.loss_and_grads(prepare(images), labels, self.rng)
        self.optimizer.step(self._trained(self.model.named_grads()), lr)
        return loss, int((probs.argmax(axis=1) == labels).sum()), len(index)

    def _finish_epoch(self, lr: float) -> EpochEvent:
        state = self.state
        val_loss = val_accuracy = None
        if self.val_x is not None:
            val_loss, val_accuracy = evaluate_loss(self.model, self.val_x, self.val_y)
        record = EpochEvent(state.epoch + 1, self.config.epochs, state.loss_sum / state.seen,
                            state.correct / state.seen, val_loss, val_accuracy, state.seconds,
                            state.seen / max(state.seconds, 1e-9), lr)
        state.history.append(asdict(record))
        state.epoch += 1
        state.batch = 0
        return record


def _with_drawn(images: np.ndarray, labels: np.ndarray, count: int,
                drawn: tuple[np.ndarray, np.ndarray] | None):
    """``images`` (N, 28, 28) uint8 and their digit labels, plus the ``count`` drawn digits
    ``drawn`` ((count, 28, 28) uint8, (count,)), made by ``cnnkit.digits.drawn``."""
    if drawn is None:
        raise ValueError(f"the recipe adds {count:,} drawn digits: give them (drawn=)")
    if len(drawn[0]) != count or len(drawn[1]) != count:
        raise ValueError(f"drawn= holds {len(drawn[0]):,} digits and {len(drawn[1]):,} labels; "
                         f"the recipe adds {count:,}")
    if images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError("drawn digits go with 28x28 grey digit pictures (MNIST)")
    return (np.concatenate([images, drawn[0]]),
            np.concatenate([labels, drawn[1].astype(labels.dtype)]))


def _per_channel(transform, images: np.ndarray, *params) -> np.ndarray:
    """Apply a per-picture ``transform`` of (N, H, W) to (N, H, W, C) pictures: every channel
    of a picture gets the same random draw."""
    if images.ndim == 3:
        return transform(images, *params)
    n, height, width, channels = images.shape
    planes = np.ascontiguousarray(np.moveaxis(images, 3, 1)).reshape(n * channels, height, width)
    params = [np.repeat(p, channels, axis=0) for p in params]
    out = transform(planes, *params).reshape(n, channels, height, width)
    return np.ascontiguousarray(np.moveaxis(out, 1, 3))


def evaluate_loss(model: Sequential, images: np.ndarray, labels: np.ndarray,
                  batch_size: int = 2000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on uint8 pictures, in inference mode."""
    probs = model.predict_proba(prepare(images), batch_size)
    picked = probs[np.arange(len(labels)), labels.astype(np.int64)]
    loss = float(-np.log(np.maximum(picked, 1e-12), dtype=np.float64).mean())
    return loss, float((probs.argmax(axis=1) == labels).mean())


def save_trainer(trainer: Trainer, path, **fields) -> None:
    """Checkpoint everything the loop needs to continue exactly: weights, optimiser slots,
    the generator's state, the epoch's shuffled order and the position in it."""
    from cnnkit.nn.io import save_checkpoint

    save_checkpoint(path, trainer.model, trainer.optimizer.state_arrays(), trainer.order,
                    config=asdict(trainer.config), state=asdict(trainer.state),
                    optimizer_steps=trainer.optimizer.steps,
                    rng_state=trainer.rng.bit_generator.state, **fields)


def resume_trainer(path, images: np.ndarray, labels: np.ndarray,
                   drawn: Callable[[TrainConfig], tuple] | None = None) -> tuple[Trainer, dict]:
    """Rebuild a Trainer from a checkpoint, on the same data it was trained on; ``drawn``
    makes the recipe's drawn digits (:func:`cnnkit.digits.drawn.for_recipe`).

    Returns (trainer, header). Raises ModelError for a bad file, ValueError for a bad state.
    """
    from cnnkit.nn.io import ModelError, load_checkpoint

    model, header, optimizer_arrays, order = load_checkpoint(path)
    try:
        config = TrainConfig(**header["config"])
        config.check()  # before a hostile recipe's drawn digits are made
        trainer = Trainer(config, images, labels, model=model,
                          drawn=drawn(config) if drawn and config.drawn else None)
        trainer.optimizer.load_state_arrays(optimizer_arrays, header["optimizer_steps"])
        trainer.rng.bit_generator.state = header["rng_state"]
        trainer.state = TrainState(**header["state"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: not a usable checkpoint ({exc})") from None
    trainer.order = order
    if trainer.state.batch and len(order) != len(trainer.images):
        raise ModelError(f"{path}: was made on {len(order)} training images, got "
                         f"{len(trainer.images)} (use the same --data)")
    problem = _state_problem(trainer, order, optimizer_arrays, header.get("optimizer_steps"))
    if problem:
        raise ModelError(f"{path}: not a usable checkpoint ({problem})")
    return trainer, header


def _state_problem(trainer: Trainer, order: np.ndarray, slots: dict, steps) -> str | None:
    """What is wrong with a checkpoint's loop state, or None. A tampered field must not
    resume into an index error or NaN weights half an epoch later."""
    state, config = trainer.state, trainer.config
    for name in ("epoch", "batch", "correct", "seen"):
        value = getattr(state, name)
        if not _is_int(value) or value < 0:
            return f"state {name} must be a whole number >= 0, got {value!r}"
    for name in ("loss_sum", "seconds"):
        if not _is_number(getattr(state, name)):
            return f"state {name} must be a finite number, got {getattr(state, name)!r}"
    if state.epoch > config.epochs:
        return f"state epoch {state.epoch} is past the {config.epochs} epochs of its recipe"
    if state.batch >= trainer.batches:
        return f"state batch {state.batch} is past the {trainer.batches} batches of an epoch"
    if not isinstance(state.history, list) or len(state.history) != state.epoch:
        return "the history does not match the epochs completed"
    if not _is_int(steps) or steps < 0:
        return f"optimizer_steps must be a whole number >= 0, got {steps!r}"
    if state.batch:
        if (order.ndim != 1 or not np.issubdtype(order.dtype, np.integer)
                or not np.array_equal(np.sort(order), np.arange(len(trainer.images)))):
            return "the saved order is not a shuffle of the training images"
    for name, value in slots.items():
        if not np.all(np.isfinite(value)):
            return f"optimizer slot {name} holds NaN or infinite values"
    return None
