"""Looking inside a trained model: the first block's feature maps and learned kernels."""

from __future__ import annotations

import numpy as np

from cnnkit.errors import CnnkitError
from cnnkit.nn import layers as L
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


SPATIAL = (L.Conv2D, L.MaxPool2D, L.AveragePooling2D, L.BatchNormalization, L.ReLU)


def find_layer(model: Sequential, name: str | None, kinds=(L.Conv2D,)) -> L.Layer:
    """The layer called ``name`` (default: the first of ``kinds``); one that is not of
    ``kinds`` is refused with the names that are."""
    allowed = [layer for layer in model.layers if isinstance(layer, kinds)
               and len(layer.output_shape) == 3]
    what = " or ".join(sorted({k.kind for k in kinds}))
    if not allowed:
        raise CnnkitError(f"this model has no {what} layer")
    if name is None:
        return allowed[0]
    for layer in allowed:
        if layer.name == name:
            return layer
    names = ", ".join(layer.name for layer in allowed)
    raise CnnkitError(f"no {what} layer named '{name[:40]}' in this model (it has: {names})")


def layer_outputs(model: Sequential, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Each named layer's output (H, W, F) for one input x (H, W, C), in inference mode,
    after the layer's own activation."""
    wanted = set(names)
    out, batch = {}, np.ascontiguousarray(x[None], dtype=np.float32)
    for layer in model.layers:
        if not wanted - set(out):
            break
        batch = layer.forward(batch, False, None)
        if layer.name in wanted:
            out[layer.name] = batch[0]
    for layer in model.layers:
        layer.release()
    return out


def conv_kernels(conv: L.Conv2D, channel: int | None = None) -> tuple[np.ndarray, str]:
    """A conv layer's kernels as one 2-D kernel per filter, (kh, kw, F), and what they show.

    A one-channel layer's kernels are themselves. A multi-channel kernel (kh, kw, C) is shown
    summed over its input channels (its response to an input equal in every channel), or,
    with ``channel``, as the slice that reads that input channel.
    """
    weights = conv.params["kernel"]
    channels = weights.shape[2]
    if channel is not None:
        if not 0 <= channel < channels:
            raise CnnkitError(f"{conv.name} reads {channels} channels (0 to {channels - 1}), "
                              f"not channel {channel}")
        return weights[:, :, channel, :], f"input channel {channel}"
    if channels == 1:
        return weights[:, :, 0, :], ""
    return weights.sum(axis=2), f"summed over {channels} input channels"
