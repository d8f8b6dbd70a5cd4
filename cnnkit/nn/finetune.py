"""Models for a folder dataset: a fresh classifier of any input shape and class count, or a
trained model adapted to new classes (fine-tuning)."""

from __future__ import annotations

import numpy as np

from cnnkit.nn.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D
from cnnkit.nn.model import Sequential


def small_classifier(input_shape: tuple[int, int, int], classes: int, dropout: float = 0.15,
                     seed: int = 0) -> Sequential:
    """The digit_classifier's architecture for any (H, W, C) input and class count:
    Conv2D(32, 3x3, relu) -> MaxPool 2x2 -> Flatten -> Dense(128, relu) -> Dropout ->
    Dense(classes, softmax). (Other architectures come from ``--arch``.)"""
    height, width, _ = input_shape
    if height < 4 or width < 4:
        raise ValueError(f"pictures of {width}x{height} are too small for a 3x3 convolution "
                         f"and 2x2 pooling; use --image-size 4 or more")
    return Sequential([Conv2D(32, 3, activation="relu"), MaxPool2D(2), Flatten(),
                       Dense(128, activation="relu"), Dropout(dropout),
                       Dense(classes, activation="softmax")], input_shape, seed=seed)


def output_units(model: Sequential) -> int:
    return int(model.output_shape[-1])


def adapt(model: Sequential, input_shape: tuple[int, ...], classes: int, seed: int = 0
          ) -> tuple[Sequential, bool]:
    """``model`` ready to train on ``classes`` classes of ``input_shape`` pictures.

    Every layer keeps its trained weights; when the class count differs, the last Dense layer
    is replaced by a new one of ``classes`` units (initialised from ``seed``). Returns
    (model, replaced). Raises ValueError when the input shapes differ (weights cannot move
    to another input size) or the model does not end in a Dense layer.
    """
    if tuple(model.input_shape) != tuple(input_shape):
        have = "x".join(str(v) for v in model.input_shape)
        want = "x".join(str(v) for v in input_shape)
        raise ValueError(f"the model takes {have} inputs (height x width x channels), the "
                         f"pictures are {want}; choose --image-size and --color to match")
    if classes == output_units(model):
        return model, False
    last = model.layers[-1]
    if not isinstance(last, Dense):
        raise ValueError(f"the model ends in a {last.kind} layer, not Dense; cannot give it "
                         f"a new output layer for {classes} classes")
    config = model.config()
    config["layers"][-1]["units"] = classes
    fresh = Sequential.from_config(config, seed=seed)
    kept = {name: value for name, value in model.named_weights()  # batch-norm state too
            if not name.startswith(last.name + "/")}
    weights = {name: kept.get(name, value) for name, value in fresh.named_weights()}
    fresh.set_weights({name: np.asarray(v, np.float32) for name, v in weights.items()})
    return fresh, True
