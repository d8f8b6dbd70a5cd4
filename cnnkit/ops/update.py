"""Optimiser updates, one fused pass over each parameter tensor (in place)."""

from __future__ import annotations

import numpy as np

from cnnkit.ops._jit import njit, njit_parallel, prange

# Moments of a weight whose gradient stays 0 (a feature a dead ReLU never fires) decay
# geometrically into float32's denormal range, where x86 arithmetic is ~100x slower: a
# training step measured 13 ms instead of 8 ms by the second epoch. They are flushed to 0.
TINY = np.float32(1e-30)


# Below this many values a parameter (a bias, a small kernel) is updated on one thread: a
# parallel launch costs more than the update. lenet5's ten tensors: Adam 0.6 -> 0.2 ms a step.
SERIAL_BELOW = 1 << 14


@njit
def _adam_at(i, param, grad, m, v, lr, beta1, beta2, eps, correction1, correction2,
             weight_decay):
    """One value's Adam step (bias-corrected); moments under TINY are flushed to zero, since
    float32 denormals made the update five times slower."""
    g = grad[i] + weight_decay * param[i]
    mi = beta1 * m[i] + (np.float32(1.0) - beta1) * g
    vi = beta2 * v[i] + (np.float32(1.0) - beta2) * g * g
    m[i] = mi if abs(mi) > TINY else np.float32(0.0)
    v[i] = vi if vi > TINY else np.float32(0.0)
    m_hat = m[i] / correction1
    v_hat = v[i] / correction2
    param[i] -= lr * m_hat / (np.sqrt(v_hat) + eps)


@njit_parallel
def _adam(param, grad, m, v, lr, beta1, beta2, eps, correction1, correction2, weight_decay):
    for i in prange(param.size):
        _adam_at(i, param, grad, m, v, lr, beta1, beta2, eps, correction1, correction2,
                 weight_decay)


@njit
def _adam_serial(param, grad, m, v, lr, beta1, beta2, eps, correction1, correction2,
                 weight_decay):
    """:func:`_adam` on one thread (a separate function, not a second dispatcher of the
    same one: Numba's on-disk cache would not tell the two apart)."""
    for i in range(param.size):
        _adam_at(i, param, grad, m, v, lr, beta1, beta2, eps, correction1, correction2,
                 weight_decay)


@njit_parallel
def _sgd(param, grad, velocity, lr, momentum, weight_decay):
    for i in prange(param.size):
        g = grad[i] + weight_decay * param[i]
        vi = momentum * velocity[i] + g
        velocity[i] = vi if abs(vi) > TINY else np.float32(0.0)
        param[i] -= lr * velocity[i]


def _flat(a: np.ndarray) -> np.ndarray:
    if a.dtype != np.float32 or not a.flags.c_contiguous:
        raise ValueError("optimiser state must be C-contiguous float32")
    return a.reshape(-1)


def adam_step(param, grad, m, v, *, lr, step, beta1=0.9, beta2=0.999, eps=1e-8,
              weight_decay=0.0) -> None:
    """Adam with bias correction (Kingma & Ba): ``p -= lr * m_hat / (sqrt(v_hat) + eps)``,
    ``m_hat = m / (1 - beta1**step)``, ``v_hat = v / (1 - beta2**step)``; ``step`` counts from 1.
    ``weight_decay`` adds an L2 term to the gradient (PyTorch's ``Adam(weight_decay=)``)."""
    f = np.float32
    kernel = _adam if param.size >= SERIAL_BELOW else _adam_serial
    kernel(_flat(param), _flat(np.ascontiguousarray(grad, dtype=np.float32)), _flat(m), _flat(v),
          f(lr), f(beta1), f(beta2), f(eps), f(1 - beta1 ** step), f(1 - beta2 ** step),
          f(weight_decay))


def sgd_step(param, grad, velocity, *, lr, momentum=0.9, weight_decay=0.0) -> None:
    """SGD with (heavy-ball) momentum, as PyTorch: ``v = momentum*v + g; p -= lr*v``."""
    f = np.float32
    _sgd(_flat(param), _flat(np.ascontiguousarray(grad, dtype=np.float32)), _flat(velocity),
         f(lr), f(momentum), f(weight_decay))
