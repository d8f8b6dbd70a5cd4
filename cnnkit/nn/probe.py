"""Looking inside a trained model: the first block's feature maps and learned kernels."""

from __future__ import annotations

import numpy as np

from cnnkit.errors import CnnkitError
from cnnkit.nn.layers import Conv2D, MaxPool2D
from cnnkit.nn.model import Sequential
from cnnkit.ops import activations, conv2d

STAGES = ("conv", "relu", "pool")


def first_block(model: Sequential) -> tuple[Conv2D, MaxPool2D]:
    """The model's leading Conv2D and MaxPool2D layers (the digit_classifier's first block)."""
    layers = model.layers
    if len(layers) < 2 or not isinstance(layers[0], Conv2D) or not isinstance(
            layers[1], MaxPool2D):
        raise CnnkitError("this model does not start with Conv2D then MaxPool2D")
    return layers[0], layers[1]


def feature_maps(model: Sequential, x: np.ndarray) -> dict[str, np.ndarray]:
    """The first block's maps for one input x (H, W, C) float32, as the model computes them.

    Returns {"conv": (Ho, Wo, F) before the activation, "relu": after it, "pool": (Hp, Wp, F)
    after max pooling}.
    """
    conv, pool = first_block(model)
    batch = np.ascontiguousarray(x[None], dtype=np.float32)
    before = conv2d.conv2d_forward(batch, conv.params["kernel"], conv.params["bias"])
    after = activations.relu(before) if conv.activation == "relu" else before
    pooled = pool.forward(after)
    return {"conv": before[0], "relu": after[0], "pool": pooled[0]}
