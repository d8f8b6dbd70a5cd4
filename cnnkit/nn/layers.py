"""Layers with Keras vocabulary, channels-last and batch-first.

Each layer is built for a per-sample input shape, holds its parameters and gradients (float32,
by name), and caches exactly what its backward pass needs. ``forward(x, training, rng)`` ->
``y``; ``backward(grad_y)`` -> ``grad_x`` (None for a layer built with ``input_grad=False``).
"""

from __future__ import annotations

import math

import numpy as np

from cnnkit.ops import activations, conv2d, pool
from cnnkit.ops.matmul import matmul

ACTIVATIONS = (None, "relu", "softmax")


class Layer:
    """Base class. Subclasses set ``kind`` (the Keras class name) and implement the passes."""

    kind = "Layer"

    def __init__(self):
        self.name = ""
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.input_shape: tuple[int, ...] = ()
        self.output_shape: tuple[int, ...] = ()

    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> tuple[int, ...]:
        """Create parameters for a per-sample ``input_shape``; return the output shape."""
        self.input_shape = tuple(input_shape)
        self.output_shape = self._output_shape(self.input_shape)
        self._init_params(rng)
        return self.output_shape

    def _output_shape(self, input_shape):
        return input_shape

    def _init_params(self, rng):
        pass

    def config(self) -> dict:
        """The constructor arguments, for saving the architecture."""
        return {}

    def count_params(self) -> int:
        return sum(int(p.size) for p in self.params.values())

    def forward(self, x, training=False, rng=None):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError


def _glorot_uniform(rng, shape, fan_in, fan_out) -> np.ndarray:
    """Keras's default kernel initialiser: U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def _he_uniform(rng, shape, fan_in) -> np.ndarray:
    """He/Kaiming uniform for ReLU layers: U(-l, l), l = sqrt(6 / fan_in)."""
    limit = math.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def _init_kernel(rng, shape, fan_in, fan_out, activation) -> np.ndarray:
    if activation == "relu":
        return _he_uniform(rng, shape, fan_in)
    return _glorot_uniform(rng, shape, fan_in, fan_out)


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation


class Conv2D(Layer):
    """2-D convolution (correlation), 'valid', stride 1, with an optional ReLU.

    Input shape (N, H, W, C); output shape (N, H - kh + 1, W - kw + 1, filters).
    Parameters: ``kernel`` (kh, kw, C, filters), ``bias`` (filters,).
    """

    kind = "Conv2D"

    def __init__(self, filters: int, kernel_size=3, activation: str | None = None,
                 input_grad: bool = True):
        super().__init__()
        self.filters = int(filters)
        self.kernel_size = ((kernel_size, kernel_size) if isinstance(kernel_size, int)
                            else tuple(kernel_size))
        self.activation = _check_activation(activation)
        self.input_grad = input_grad

    def config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size),
                "activation": self.activation}

    def _output_shape(self, input_shape):
        height, width, _ = input_shape
        kh, kw = self.kernel_size
        return (height - kh + 1, width - kw + 1, self.filters)

    def _init_params(self, rng):
        kh, kw = self.kernel_size
        channels = self.input_shape[2]
        shape = (kh, kw, channels, self.filters)
        self.params = {"kernel": _init_kernel(rng, shape, kh * kw * channels,
                                              kh * kw * self.filters, self.activation),
                       "bias": np.zeros(self.filters, np.float32)}

    def forward(self, x, training=False, rng=None):
        self._x = x
        y = conv2d.conv2d_forward(x, self.params["kernel"], self.params["bias"])
        if self.activation == "relu":
            y = activations.relu(y)
            self._y = y
        return y

    def backward(self, grad):
        if self.activation == "relu":
            grad = activations.relu_backward(self._y, grad)
        grad_x, self.grads["kernel"], self.grads["bias"] = conv2d.conv2d_backward(
            self._x, self.params["kernel"], grad, input_grad=self.input_grad)
        return grad_x


class ReLU(Layer):
    """``max(x, 0)`` elementwise; any shape."""

    kind = "ReLU"

    def forward(self, x, training=False, rng=None):
        self._x = x
        return activations.relu(x)

    def backward(self, grad):
        return activations.relu_backward(self._x, grad)


class MaxPool2D(Layer):
    """Max pooling. Input (N, H, W, C); output (N, Ho, Wo, C), see :mod:`cnnkit.ops.pool`."""

    kind = "MaxPool2D"

    def __init__(self, pool_size=2, strides=None, padding: str = "valid"):
        super().__init__()
        self.pool_size = ((pool_size, pool_size) if isinstance(pool_size, int)
                          else tuple(pool_size))
        strides = self.pool_size if strides is None else strides
        self.strides = (strides, strides) if isinstance(strides, int) else tuple(strides)
        self.padding = padding

    def config(self):
        return {"pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}

    def _output_shape(self, input_shape):
        height, width, channels = input_shape
        return (pool.pool_output_size(height, self.pool_size[0], self.strides[0], self.padding),
                pool.pool_output_size(width, self.pool_size[1], self.strides[1], self.padding),
                channels)

    def forward(self, x, training=False, rng=None):
        self._input_shape = x.shape
        y, self._argmax = pool.max_pool(x, self.pool_size, self.strides, self.padding,
                                        return_argmax=True)
        return y

    def backward(self, grad):
        return pool.max_pool_backward(grad, self._argmax, self._input_shape)


class Flatten(Layer):
    """(N, ...) -> (N, prod(...))."""

    kind = "Flatten"

    def _output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x, training=False, rng=None):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad):
        return grad.reshape(self._shape)


class Dense(Layer):
    """Fully connected: ``y = x @ kernel + bias``, then the activation.

    Input (N, in); output (N, units). Parameters ``kernel`` (in, units), ``bias`` (units,).
    The matmuls run in float32 BLAS at the batch level. With ``activation="softmax"`` the
    model pairs the softmax with the loss (see ``Sequential``); ``backward`` then takes the
    gradient with respect to the logits.
    """

    kind = "Dense"

    def __init__(self, units: int, activation: str | None = None):
        super().__init__()
        self.units = int(units)
        self.activation = _check_activation(activation)

    def config(self):
        return {"units": self.units, "activation": self.activation}

    def _output_shape(self, input_shape):
        return (self.units,)

    def _init_params(self, rng):
        fan_in = self.input_shape[0]
        self.params = {"kernel": _init_kernel(rng, (fan_in, self.units), fan_in, self.units,
                                              self.activation),
                       "bias": np.zeros(self.units, np.float32)}

    def logits(self, x):
        self._x = x
        y = matmul(x, self.params["kernel"])
        y += self.params["bias"]
        return y

    def forward(self, x, training=False, rng=None):
        y = self.logits(x)
        if self.activation == "relu":
            y = activations.relu(y)
            self._y = y
        elif self.activation == "softmax":
            from cnnkit.ops.loss import softmax

            y = softmax(y)
        return y

    def backward(self, grad):
        if self.activation == "relu":
            grad = activations.relu_backward(self._y, grad)
        self.grads["kernel"] = matmul(self._x.T, grad)
        self.grads["bias"] = grad.sum(axis=0, dtype=np.float32)
        return matmul(grad, self.params["kernel"].T)


class Dropout(Layer):
    """Inverted dropout while training (``rate`` of the values zeroed); identity otherwise."""

    kind = "Dropout"

    def __init__(self, rate: float = 0.5):
        super().__init__()
        if not 0 <= rate < 1:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)

    def config(self):
        return {"rate": self.rate}

    def forward(self, x, training=False, rng=None):
        if not training or self.rate == 0:
            self._mask = None
            return x
        uniform = rng.random(x.shape, dtype=np.float32)
        y, self._mask = activations.dropout(x, uniform, self.rate)
        return y

    def backward(self, grad):
        return grad if self._mask is None else grad * self._mask


LAYERS = {cls.kind: cls for cls in (Conv2D, ReLU, MaxPool2D, Flatten, Dense, Dropout)}
