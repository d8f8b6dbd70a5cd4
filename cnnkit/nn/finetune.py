"""Fine-tuning: a trained model adapted to a dataset's classes."""

from __future__ import annotations

import numpy as np

from cnnkit.nn.layers import Dense
from cnnkit.nn.model import Sequential


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
