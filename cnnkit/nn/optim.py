"""Optimisers (SGD with momentum, Adam) and learning-rate schedules."""

from __future__ import annotations

import math

import numpy as np

from cnnkit.ops.update import adam_step, sgd_step

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "step", "cosine", "onecycle")


class Optimizer:
    """Updates parameters in place from their gradients; its state saves to named arrays."""

    def __init__(self, params: list[tuple[str, np.ndarray]], weight_decay: float = 0.0):
        self.params = params
        self.weight_decay = weight_decay
        self.steps = 0
        self.slots: dict[str, dict[str, np.ndarray]] = {}

    def step(self, grads: list[tuple[str, np.ndarray]], lr: float) -> None:
        raise NotImplementedError

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every slot as "slot:layer/param" -> array (for checkpoints)."""
        return {f"{slot}:{name}": value for slot, arrays in self.slots.items()
                for name, value in arrays.items()}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], steps: int) -> None:
        for slot, named in self.slots.items():
            for name, value in named.items():
                value[...] = arrays[f"{slot}:{name}"]
        self.steps = steps


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction; defaults as Keras and PyTorch."""

    def __init__(self, params, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(params, weight_decay)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.slots = {"m": {n: np.zeros_like(p) for n, p in params},
                      "v": {n: np.zeros_like(p) for n, p in params}}

    def step(self, grads, lr):
        self.steps += 1
        for (name, param), (_, grad) in zip(self.params, grads):
            adam_step(param, grad, self.slots["m"][name], self.slots["v"][name], lr=lr,
                      step=self.steps, beta1=self.beta1, beta2=self.beta2, eps=self.eps,
                      weight_decay=self.weight_decay)


class SGD(Optimizer):
    """Stochastic gradient descent with heavy-ball momentum (PyTorch's formulation)."""

    def __init__(self, params, momentum=0.9, weight_decay=0.0):
        super().__init__(params, weight_decay)
        self.momentum = momentum
        self.slots = {"velocity": {n: np.zeros_like(p) for n, p in params}}

    def step(self, grads, lr):
        self.steps += 1
        for (name, param), (_, grad) in zip(self.params, grads):
            sgd_step(param, grad, self.slots["velocity"][name], lr=lr, momentum=self.momentum,
                     weight_decay=self.weight_decay)


def make_optimizer(name: str, params, weight_decay: float = 0.0) -> Optimizer:
    if name == "adam":
        return Adam(params, weight_decay=weight_decay)
    if name == "sgd":
        return SGD(params, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")


def learning_rate(schedule: str, base: float, step: int, total: int) -> float:
    """The learning rate at ``step`` (0-based) of ``total``.

    constant: ``base``; step: ``base`` divided by 10 at 50% and again at 75%; cosine: from
    ``base`` down to 0 along half a cosine; onecycle: up linearly from ``base/25`` to ``base``
    over the first 25% of steps, then down along a cosine to ``base/1e4`` (Smith's 1cycle).
    """
    t = min(max(step / max(total, 1), 0.0), 1.0)
    if schedule == "constant":
        return base
    if schedule == "step":
        return base * (0.1 if t >= 0.5 else 1.0) * (0.1 if t >= 0.75 else 1.0)
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * t))
    if schedule == "onecycle":
        warm = 0.25
        if t < warm:
            return base / 25 + (base - base / 25) * t / warm
        u = (t - warm) / (1 - warm)
        low = base / 1e4
        return low + (base - low) * 0.5 * (1 + math.cos(math.pi * u))
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
