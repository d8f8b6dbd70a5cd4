"""``Sequential`` and the seed model ``digit_classifier``.

As in :mod:`cnnkit.nn.layers`, the kernels are imported by the passes that run them: building
a model and setting its weights never import Numba.
"""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np

from cnnkit.nn.layers import (LAYERS, AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout,
                              Flatten, Layer, MaxPool2D, ReLU)

INPUT_SHAPE = (28, 28, 1)
PIXEL_SCALE = 1.0 / 255.0  # uint8 MNIST pixels -> [0, 1] float32
INFERENCE_COLUMNS = 16 * 2**20  # floats of im2col matrix per inference batch (64 MB)


class _FusedConvPool:
    """Conv2D(relu) + MaxPool2D(2, 2) as one step: ``ops.conv2d.conv_relu_maxpool_*``.

    Used for a first layer only: its backward gives parameter gradients and no input gradient.
    """

    def __init__(self, conv: Conv2D):
        self.conv = conv

    def forward(self, x, training=False, rng=None):
        from cnnkit.ops import conv2d

        self._x = x
        y, self._argmax = conv2d.conv_relu_maxpool_forward(x, self.conv.params["kernel"],
                                                           self.conv.params["bias"])
        return y

    def backward(self, grad):
        from cnnkit.ops import conv2d

        self.conv.grads["kernel"], self.conv.grads["bias"] = conv2d.conv_relu_maxpool_backward(
            self._x, self.conv.params["kernel"].shape, self._argmax, grad)
        return None


class _FusedConvAvgPool:
    """A first Conv2D(relu) on one channel + the AveragePooling2D tiling its output, as one
    step each way: ``ops.conv_avgpool`` (lenet5's first block). Parameter gradients only."""

    def __init__(self, conv: Conv2D, pool: AveragePooling2D):
        self.conv, self.size = conv, pool.pool_size[0]

    @staticmethod
    def fits(first: Layer, second: Layer) -> bool:
        from cnnkit.ops import conv_avgpool

        return (isinstance(first, Conv2D) and first.activation == "relu"
                and isinstance(second, AveragePooling2D) and first.input_shape[2] == 1
                and conv_avgpool.fits(1, first.strides, second.pool_size, second.strides,
                                      second.padding))

    def forward(self, x, training=False, rng=None):
        from cnnkit.ops import conv_avgpool

        y, self._saved = conv_avgpool.forward(x, self.conv.params["kernel"],
                                              self.conv.params["bias"], self.conv.padding,
                                              self.size)
        return y

    def backward(self, grad):
        from cnnkit.ops import conv_avgpool

        self.conv.grads["kernel"], self.conv.grads["bias"] = conv_avgpool.backward(
            self._saved, self.conv.params["kernel"].shape, grad, self.size)
        self._saved = None
        return None


class _FusedBatchNormReLU:
    """BatchNormalization then ReLU as one pass each way (the ReLU's mask from the output)."""

    def __init__(self, norm: BatchNormalization):
        self.norm = norm

    def forward(self, x, training=False, rng=None):
        return self.norm.forward(x, training, rng, relu=True)

    def backward(self, grad):
        return self.norm.backward(grad)


def _fusable(first: Layer, second: Layer) -> bool:
    if not isinstance(first, Conv2D):  # a first Flatten's output has no height and width
        return False
    height, width, _ = first.output_shape
    return (first.activation == "relu"
            and isinstance(second, MaxPool2D) and second.pool_size == (2, 2)
            and second.strides == (2, 2) and second.padding == "valid"
            and height % 2 == 0 and width % 2 == 0)


class Sequential:
    """A stack of layers applied in order.

    Input shape (N, *input_shape) float32; ``predict_proba`` returns (N, classes). A last
    ``Dense(activation="softmax")`` is paired with the cross-entropy loss, which is computed
    from its logits for numerical stability.
    """

    def __init__(self, layers: list[Layer], input_shape=INPUT_SHAPE, seed: int = 0,
                 fuse: bool = True, name: str = "sequential", init: str = "random"):
        if init not in ("random", "zeros"):
            raise ValueError(f"init must be 'random' or 'zeros', got {init!r}")
        self.name = name
        self.layers = list(layers)
        self.input_shape = tuple(input_shape)
        # init "zeros": the weights are about to be loaded, so no random draws (numpy.random's
        # import and the draws cost a one-picture command 0.03 s)
        rng = np.random.default_rng(seed) if init == "random" else None
        shape, counts = self.input_shape, {}
        for layer in self.layers:
            base = re.sub(r"(?<!^)(?=[A-Z])", "_", layer.kind).lower().replace("2_d", "2d")
            base = {"max_pool2d": "max_pooling2d", "re_l_u": "re_lu"}.get(base, base)
            index = counts.get(base, 0)
            counts[base] = index + 1
            layer.name = base if index == 0 else f"{base}_{index}"
            shape = layer.build(shape, rng)
        self.output_shape = shape
        self.layers[0].input_grad = False  # nothing upstream of the first layer needs it
        self._fuse = fuse

    @cached_property
    def _steps(self) -> list:
        """The layers as the passes run them, fusable pairs fused. Planned at the first pass,
        not when built: whether a pair fits a fused kernel is the kernel module's rule, and
        importing it starts Numba, which building or loading a model must not."""
        fuse, steps, i = self._fuse, [], 0
        while i < len(self.layers):
            layer = self.layers[i]
            if fuse and i == 0 and i + 1 < len(self.layers) and _fusable(layer, self.layers[i + 1]):
                steps.append(_FusedConvPool(layer))
                i += 2
            elif (fuse and i == 0 and i + 1 < len(self.layers)
                  and _FusedConvAvgPool.fits(layer, self.layers[i + 1])):
                steps.append(_FusedConvAvgPool(layer, self.layers[i + 1]))
                i += 2
            elif (fuse and isinstance(layer, BatchNormalization) and i + 1 < len(self.layers)
                  and isinstance(self.layers[i + 1], ReLU)):
                steps.append(_FusedBatchNormReLU(layer))
                i += 2
            else:
                steps.append(layer)
                i += 1
        return steps

    # parameters -----------------------------------------------------------------------------
    def named_params(self) -> list[tuple[str, np.ndarray]]:
        """Every parameter as ("layer/param", array), in layer order."""
        return [(f"{layer.name}/{key}", value) for layer in self.layers
                for key, value in layer.params.items()]

    def named_state(self) -> list[tuple[str, np.ndarray]]:
        """Non-trainable arrays (batch-norm running statistics) as ("layer/name", array)."""
        return [(f"{layer.name}/{key}", value) for layer in self.layers
                for key, value in layer.state.items()]

    def named_weights(self) -> list[tuple[str, np.ndarray]]:
        """Everything a model file stores: the parameters, then the state."""
        return self.named_params() + self.named_state()

    def count_trainable(self) -> int:
        return sum(int(value.size) for _, value in self.named_params())

    def named_grads(self) -> list[tuple[str, np.ndarray]]:
        return [(f"{layer.name}/{key}", layer.grads[key]) for layer in self.layers
                for key in layer.params]

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Copy arrays in by "layer/param" name; shapes must match exactly."""
        for name, value in self.named_weights():
            new = weights[name]
            if new.shape != value.shape:
                raise ValueError(f"{name}: expected shape {value.shape}, got {new.shape}")
            value[...] = new

    # passes ---------------------------------------------------------------------------------
    def _run(self, x, training, rng, logits):
        last = len(self._steps) - 1
        for k, step in enumerate(self._steps):
            if k == last and logits and isinstance(step, Dense) and step.activation == "softmax":
                x = step.logits(x)
            else:
                x = step.forward(x, training, rng)
        return x

    def predict_proba(self, x: np.ndarray, batch_size: int = 2000) -> np.ndarray:
        """Class probabilities (N, classes) for inputs (N, *input_shape), in inference mode."""
        widest = max([layer.columns_per_image() for layer in self.layers
                      if hasattr(layer, "columns_per_image")] + [1])
        batch_size = max(1, min(batch_size, INFERENCE_COLUMNS // widest))
        outputs = [self._run(x[i:i + batch_size], False, None, logits=False)
                   for i in range(0, len(x), batch_size)]
        for layer in self.layers:
            layer.release()
        return np.concatenate(outputs) if outputs else np.empty((0,) + self.output_shape)

    def loss_and_grads(self, x: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                       training: bool = True):
        """Forward and backward on one batch; fills every layer's ``grads``.

        Returns (mean loss, probabilities (N, classes)).
        """
        from cnnkit.ops.heap import keep_batch_buffers  # training only (ctypes, libc)
        from cnnkit.ops.loss import softmax_cross_entropy

        keep_batch_buffers()  # the same buffers every batch: keep their pages (ops/heap.py)
        logits = self._run(x, training, rng, logits=True)
        loss, probs, grad = softmax_cross_entropy(logits, labels)
        for step in reversed(self._steps):
            grad = step.backward(grad)
        return loss, probs

    # description ----------------------------------------------------------------------------
    def config(self) -> dict:
        return {"name": self.name, "input_shape": list(self.input_shape),
                "layers": [{"class": layer.kind, **layer.config()} for layer in self.layers]}

    @classmethod
    def from_config(cls, config: dict, seed: int = 0, init: str = "random") -> "Sequential":
        try:
            layers = [LAYERS[spec["class"]](**{k: v for k, v in spec.items() if k != "class"})
                      for spec in config["layers"]]
            name = config.get("name", "sequential")
            if not isinstance(name, str):
                raise ValueError(f"name must be text, got {name!r:.40}")
            return cls(layers, tuple(config["input_shape"]), seed=seed, name=name[:80],
                       init=init)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a valid architecture ({exc})") from None

    def summary_rows(self) -> list[tuple[str, str, int]]:
        """(name (type), output shape, parameter count) per layer, as Keras prints them."""
        return [(f"{layer.name} ({layer.kind})", str((None, *layer.output_shape)),
                 layer.count_params()) for layer in self.layers]


def digit_classifier(dropout: float = 0.5, seed: int = 0) -> Sequential:
    """The seed's model: 693,962 parameters.

    Conv2D(32, 3x3, relu) 28x28x1 -> 26x26x32; MaxPool2D 2x2/2 -> 13x13x32; Flatten -> 5408;
    Dense(128, relu); Dropout; Dense(10, softmax).
    """
    return Sequential([Conv2D(32, 3, activation="relu"), MaxPool2D(2), Flatten(),
                       Dense(128, activation="relu"), Dropout(dropout),
                       Dense(10, activation="softmax")], INPUT_SHAPE, seed=seed,
                      name="digit_classifier")


def prepare(images: np.ndarray, scale: float = PIXEL_SCALE) -> np.ndarray:
    """uint8 pictures (N, H, W) or (N, H, W, C) -> float32 model input (N, H, W, C),
    ``pixel * scale`` (grey pictures get their one channel axis)."""
    x = images.astype(np.float32) * np.float32(scale)
    return x[..., None] if x.ndim == 3 else x
