"""Layers with Keras vocabulary, channels-last and batch-first.

Each layer is built for a per-sample input shape, holds its parameters and gradients (float32,
by name), and caches exactly what its backward pass needs. ``forward(x, training, rng)`` ->
``y``; ``backward(grad_y)`` -> ``grad_x`` (None for a layer built with ``input_grad=False``).

The kernels (:mod:`cnnkit.ops`) are imported inside the passes, never here: they import Numba
(about 0.6 s), and building a model, loading its weights or running it in numpy
(:mod:`cnnkit.nn.light`) needs none of it.
"""

from __future__ import annotations

import math

import numpy as np

from cnnkit.ops.windows import output_size

ACTIVATIONS = (None, "relu", "softmax")


class Layer:
    """Base class. Subclasses set ``kind`` (the Keras class name) and implement the passes."""

    kind = "Layer"

    def __init__(self):
        self.name = ""
        self.params: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}  # saved, never trained (running statistics)
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
        """Trainable and non-trainable (state) values together, as Keras's total."""
        return sum(int(p.size) for p in (*self.params.values(), *self.state.values()))

    def forward(self, x, training=False, rng=None):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    def release(self):
        """Drop what the forward pass cached for a backward pass."""


def _glorot_uniform(rng, shape, fan_in, fan_out) -> np.ndarray:
    """Keras's default kernel initialiser: U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def _he_uniform(rng, shape, fan_in) -> np.ndarray:
    """He/Kaiming uniform for ReLU layers: U(-l, l), l = sqrt(6 / fan_in)."""
    limit = math.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def _init_kernel(rng, shape, fan_in, fan_out, activation) -> np.ndarray:
    if rng is None:  # weights about to be loaded (Sequential's init "zeros")
        return np.zeros(shape, np.float32)
    if activation == "relu":
        return _he_uniform(rng, shape, fan_in)
    return _glorot_uniform(rng, shape, fan_in, fan_out)


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation


def _pair(value, what: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                 for v in pair):
        raise ValueError(f"{what} must be a whole number >= 1 or a pair of them, got {value!r}")
    return pair


def _check_padding(padding):
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return padding


class Conv2D(Layer):
    """2-D convolution (correlation) with stride and 'valid'/'same' padding, optional ReLU.

    Input shape (N, H, W, C); output (N, Ho, Wo, filters), Ho as in :mod:`cnnkit.ops.conv_gemm`.
    Parameters: ``kernel`` (kh, kw, C, filters), ``bias`` (filters,). Runs as im2col + GEMM
    with the ReLU fused into the bias pass.
    """

    kind = "Conv2D"

    def __init__(self, filters: int, kernel_size=3, activation: str | None = None,
                 strides=1, padding: str = "valid", input_grad: bool = True):
        super().__init__()
        if not isinstance(filters, int) or isinstance(filters, bool) or filters < 1:
            raise ValueError(f"filters must be a whole number >= 1, got {filters!r}")
        self.filters = filters
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = _check_padding(padding)
        self.activation = _check_activation(activation)
        if activation == "softmax":
            raise ValueError("a Conv2D activation is relu or none")
        self.input_grad = input_grad

    def config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "activation": self.activation}

    def _output_shape(self, input_shape):
        height, width, _ = input_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        return (output_size(height, kh, sh, self.padding),
                output_size(width, kw, sw, self.padding), self.filters)

    def _init_params(self, rng):
        kh, kw = self.kernel_size
        channels = self.input_shape[2]
        shape = (kh, kw, channels, self.filters)
        self.params = {"kernel": _init_kernel(rng, shape, kh * kw * channels,
                                              kh * kw * self.filters, self.activation),
                       "bias": np.zeros(self.filters, np.float32)}

    def forward(self, x, training=False, rng=None):
        from cnnkit.ops.conv_gemm import conv_forward

        y, cols = conv_forward(x, self.params["kernel"], self.params["bias"], self.strides,
                               self.padding, relu=self.activation == "relu")
        self._x_shape, self._cols = x.shape, cols
        self._y = y if self.activation == "relu" else None
        return y

    def release(self):
        self._cols = self._y = None

    def columns_per_image(self) -> int:
        """Floats of im2col matrix one image needs (bounds the inference batch)."""
        height, width, _ = self.output_shape
        return height * width * self.kernel_size[0] * self.kernel_size[1] * self.input_shape[2]

    def backward(self, grad):
        from cnnkit.ops.conv_gemm import conv_backward

        grad_x, self.grads["kernel"], self.grads["bias"] = conv_backward(
            self._cols, self._x_shape, self.params["kernel"], grad, self.strides, self.padding,
            y=self._y, input_grad=self.input_grad)
        self._cols = self._y = None
        return grad_x


class ReLU(Layer):
    """``max(x, 0)`` elementwise; any shape."""

    kind = "ReLU"

    def forward(self, x, training=False, rng=None):
        from cnnkit.ops import activations

        self._x = x
        return activations.relu(x)

    def backward(self, grad):
        from cnnkit.ops import activations

        return activations.relu_backward(self._x, grad)


class _Pool2D(Layer):
    """Shared by the pooling layers: window, stride (default: the window) and padding."""

    def __init__(self, pool_size=2, strides=None, padding: str = "valid"):
        super().__init__()
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _pair(strides, "strides")
        self.padding = _check_padding(padding)

    def config(self):
        return {"pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}

    def _output_shape(self, input_shape):
        height, width, channels = input_shape
        return (output_size(height, self.pool_size[0], self.strides[0], self.padding),
                output_size(width, self.pool_size[1], self.strides[1], self.padding), channels)


class MaxPool2D(_Pool2D):
    """Max pooling. Input (N, H, W, C); output (N, Ho, Wo, C), see :mod:`cnnkit.ops.pool`."""

    kind = "MaxPool2D"

    def forward(self, x, training=False, rng=None):
        from cnnkit.ops import pool

        self._input_shape = x.shape
        y, self._argmax = pool.max_pool(x, self.pool_size, self.strides, self.padding,
                                        return_argmax=True)
        return y

    def backward(self, grad):
        from cnnkit.ops import pool

        return pool.max_pool_backward(grad, self._argmax, self._input_shape)


class AveragePooling2D(_Pool2D):
    """Average pooling (a 'same' window divides by its real cells). Shapes as MaxPool2D."""

    kind = "AveragePooling2D"

    def forward(self, x, training=False, rng=None):
        from cnnkit.ops import pool

        self._input_shape = x.shape
        return pool.avg_pool(x, self.pool_size, self.strides, self.padding)

    def backward(self, grad):
        from cnnkit.ops import pool

        return pool.avg_pool_backward(grad, self._input_shape, self.pool_size, self.strides,
                                      self.padding)


class GlobalAveragePooling2D(Layer):
    """The mean of each channel over the whole map: (N, H, W, C) -> (N, C)."""

    kind = "GlobalAveragePooling2D"

    def _output_shape(self, input_shape):
        return (input_shape[2],)

    def forward(self, x, training=False, rng=None):
        self._input_shape = x.shape
        return x.mean(axis=(1, 2), dtype=np.float32)

    def backward(self, grad):
        _, height, width, _ = self._input_shape
        share = (grad / np.float32(height * width))[:, None, None, :]
        return np.ascontiguousarray(np.broadcast_to(share, self._input_shape))


class BatchNormalization(Layer):
    """Batch normalisation over every axis but the last (the channels), as Keras.

    Training: ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the batch's mean and
    (biased) variance, and the running statistics move towards them by ``1 - momentum``.
    Inference uses the running statistics. Parameters ``gamma``, ``beta`` (C,); state
    ``moving_mean``, ``moving_variance`` (C,), saved with the weights, never trained.
    """

    kind = "BatchNormalization"

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3):
        super().__init__()
        if not 0 <= momentum < 1 or not 0 < epsilon < 1:
            raise ValueError(f"momentum must be in [0, 1) and epsilon in (0, 1), got "
                             f"{momentum!r}, {epsilon!r}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)

    def config(self):
        return {"momentum": self.momentum, "epsilon": self.epsilon}

    def _init_params(self, rng):
        channels = self.input_shape[-1]
        self.params = {"gamma": np.ones(channels, np.float32),
                       "beta": np.zeros(channels, np.float32)}
        self.state = {"moving_mean": np.zeros(channels, np.float32),
                      "moving_variance": np.ones(channels, np.float32)}

    def forward(self, x, training=False, rng=None, relu: bool = False):
        """``relu=True`` also applies the ReLU that follows (the model fuses the pair)."""
        from cnnkit.ops import batchnorm

        gamma, beta = self.params["gamma"], self.params["beta"]
        if not training:
            return batchnorm.inference(x, gamma, beta, self.state["moving_mean"],
                                       self.state["moving_variance"], self.epsilon, relu)
        y, self._saved, mean, var = batchnorm.train_forward(x, gamma, beta, self.epsilon,
                                                            relu)
        self._y = y if relu else None
        keep = np.float32(self.momentum)
        for name, batch in (("moving_mean", mean), ("moving_variance", var)):
            self.state[name] *= keep
            self.state[name] += (np.float32(1) - keep) * batch
        return y

    def backward(self, grad):
        from cnnkit.ops import batchnorm

        grad_x, self.grads["gamma"], self.grads["beta"] = batchnorm.backward(
            grad, self._saved, self.params["gamma"], self._y)
        self._saved = self._y = None
        return grad_x


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
        from cnnkit.ops.matmul import matmul

        self._x = x
        y = matmul(x, self.params["kernel"])
        y += self.params["bias"]
        return y

    def forward(self, x, training=False, rng=None):
        from cnnkit.ops import activations

        y = self.logits(x)
        if self.activation == "relu":
            y = activations.relu(y)
            self._y = y
        elif self.activation == "softmax":
            from cnnkit.ops.loss import softmax

            y = softmax(y)
        return y

    def backward(self, grad):
        from cnnkit.ops import activations
        from cnnkit.ops.matmul import matmul

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
        from cnnkit.ops import activations

        uniform = rng.random(x.shape, dtype=np.float32)
        y, self._mask = activations.dropout(x, uniform, self.rate)
        return y

    def backward(self, grad):
        return grad if self._mask is None else grad * self._mask


LAYERS = {cls.kind: cls for cls in (Conv2D, ReLU, MaxPool2D, AveragePooling2D,
                                     GlobalAveragePooling2D, BatchNormalization, Flatten, Dense,
                                     Dropout)}
