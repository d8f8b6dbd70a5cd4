"""The CNN primitives against slow references and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from cnnkit.ops import activations, augment, conv2d, conv_avgpool, pool, update
from cnnkit.ops.loss import softmax, softmax_cross_entropy
from tests.gradcheck import numeric_grad


def naive_conv(x, w, b):
    n, h, wd, _ = x.shape
    kh, kw, _, f = w.shape
    out = np.zeros((n, h - kh + 1, wd - kw + 1, f))
    for i in range(h - kh + 1):
        for j in range(wd - kw + 1):
            out[:, i, j] = np.einsum("nabc,abcf->nf", x[:, i:i + kh, j:j + kw], w) + b
    return out


def test_conv_forward_matches_reference(rng):
    x = rng.standard_normal((3, 8, 7, 2)).astype(np.float32)
    w = rng.standard_normal((3, 2, 2, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    np.testing.assert_allclose(conv2d.conv2d_forward(x, w, b), naive_conv(x, w, b), rtol=1e-5,
                               atol=1e-5)


def test_conv_backward_by_finite_differences(rng):
    x = rng.standard_normal((2, 6, 5, 2))
    w = rng.standard_normal((3, 3, 2, 3))
    b = rng.standard_normal(3)
    g = rng.standard_normal((2, 4, 3, 3))
    loss = lambda: float((naive_conv(x, w, b) * g).sum())  # noqa: E731
    gx, gw, gb = conv2d.conv2d_backward(x, w, g)
    np.testing.assert_allclose(gx, numeric_grad(loss, x), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(gw, numeric_grad(loss, w), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(gb, numeric_grad(loss, b), rtol=1e-3, atol=1e-3)
    assert conv2d.conv2d_backward(x, w, g, input_grad=False)[0] is None


@pytest.mark.parametrize("x_shape, w_shape", [
    ((5, 28, 28, 1), (3, 3, 1, 32)),  # the digit_classifier: the written-out 3x3 kernels
    ((3, 27, 30, 1), (3, 3, 1, 6)),   # odd sizes: the last row/column is dropped by the pool
    ((3, 20, 21, 2), (3, 3, 2, 5)),   # several channels: the general kernels
    ((2, 16, 16, 1), (5, 5, 1, 4)),
])
def test_fused_block_equals_conv_relu_pool(rng, x_shape, w_shape):
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (rng.standard_normal(w_shape) * 0.4).astype(np.float32)
    b = (rng.standard_normal(w_shape[3]) * 0.1).astype(np.float32)
    pooled, argmax = conv2d.conv_relu_maxpool_forward(x, w, b)
    conv = activations.relu(conv2d.conv2d_forward(x, w, b))
    reference, ref_argmax = pool.max_pool(conv, 2, return_argmax=True)
    np.testing.assert_allclose(pooled, reference, rtol=1e-5, atol=1e-6)
    g = rng.standard_normal(pooled.shape).astype(np.float32)
    gw, gb = conv2d.conv_relu_maxpool_backward(x, w.shape, argmax, g)
    grad_conv = pool.max_pool_backward(g, ref_argmax, conv.shape)
    grad_conv = activations.relu_backward(conv, grad_conv)
    _, rw, rb = conv2d.conv2d_backward(x, w, grad_conv, input_grad=False)
    np.testing.assert_allclose(gw, rw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gb, rb, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("x_shape, w_shape, padding, size", [
    ((4, 28, 28, 1), (5, 5, 1, 6), "same", 2),  # lenet5's first block
    ((3, 13, 11, 1), (3, 2, 1, 3), "valid", 2),  # odd outputs: the last row/column dropped
    ((2, 12, 12, 1), (3, 3, 1, 2), "same", 3),
])
def test_fused_conv_avgpool_equals_conv_relu_avgpool(rng, x_shape, w_shape, padding, size):
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (rng.standard_normal(w_shape) * 0.4).astype(np.float32)
    b = (rng.standard_normal(w_shape[3]) * 0.1).astype(np.float32)
    pooled, saved = conv_avgpool.forward(x, w, b, padding, size)
    pad = [(0, 0), ((w_shape[0] - 1) // 2, w_shape[0] // 2),
           ((w_shape[1] - 1) // 2, w_shape[1] // 2), (0, 0)] if padding == "same" else None
    xp = np.pad(x, pad) if pad else x
    conv = activations.relu(naive_conv(xp, w, b).astype(np.float32))
    np.testing.assert_allclose(pooled, pool.avg_pool(conv, size), rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(pooled.shape).astype(np.float32)
    gw, gb = conv_avgpool.backward(saved, w.shape, g, size)
    grad_conv = activations.relu_backward(conv, pool.avg_pool_backward(g, conv.shape, size))
    _, rw, rb = conv2d.conv2d_backward(xp, w, grad_conv, input_grad=False)
    np.testing.assert_allclose(gw, rw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gb, rb, rtol=1e-4, atol=1e-4)


def test_written_out_3x3_kernels_equal_the_general_ones_exactly(rng):
    x = rng.standard_normal((9, 28, 28, 1)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 32)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    shape = (9, 13, 13, 32)
    fast = np.empty(shape, np.float32), np.empty(shape, np.int8)
    general = np.empty(shape, np.float32), np.empty(shape, np.int8)
    conv2d._conv3x3_relu_pool_forward(x, w, b, *fast)
    conv2d._conv_relu_pool_forward(x, w, b, *general)
    np.testing.assert_array_equal(fast[0], general[0])
    np.testing.assert_array_equal(fast[1], general[1])
    g = rng.standard_normal(shape).astype(np.float32)
    grads = []
    for kernel in (conv2d._conv3x3_relu_pool_backward, conv2d._conv_relu_pool_backward):
        dw_chunks, db_chunks = conv2d._grad_buffers(9, w.shape)
        kernel(x, fast[1], g, dw_chunks, db_chunks)
        grads.append(conv2d._sum_chunks(dw_chunks, db_chunks))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(grads[0][1], grads[1][1])


def test_weight_gradients_do_not_depend_on_thread_count(rng):
    from cnnkit.ops._jit import set_threads

    x = rng.standard_normal((37, 28, 28, 1)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 32)).astype(np.float32)
    pooled, argmax = conv2d.conv_relu_maxpool_forward(x, w, np.zeros(32, np.float32))
    g = rng.standard_normal(pooled.shape).astype(np.float32)
    try:
        set_threads(1)
        one = conv2d.conv_relu_maxpool_backward(x, w.shape, argmax, g)
        set_threads(None)
        many = conv2d.conv_relu_maxpool_backward(x, w.shape, argmax, g)
    finally:
        set_threads(None)
    np.testing.assert_array_equal(one[0], many[0])
    np.testing.assert_array_equal(one[1], many[1])


def test_relu_and_its_gradient():
    x = np.array([-2.0, -0.0, 0.0, 0.5, 3.0], np.float32)
    np.testing.assert_array_equal(activations.relu(x), [0, 0, 0, 0.5, 3])
    np.testing.assert_array_equal(activations.relu_backward(x, np.ones(5, np.float32)),
                                  [0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="one shape"):
        activations.relu_backward(x, np.ones(4, np.float32))


def test_dropout_keeps_the_expectation_and_masks_the_gradient(rng):
    x = np.ones((400, 100), np.float32)
    uniform = rng.random(x.shape, dtype=np.float32)
    y, mask = activations.dropout(x, uniform, 0.25)
    assert abs(float(y.mean()) - 1.0) < 0.02
    np.testing.assert_array_equal(y == 0, uniform < 0.25)
    np.testing.assert_allclose(y[y > 0], 1 / 0.75)
    np.testing.assert_array_equal(mask, y)  # for x = 1 the mask is the output


def test_softmax_cross_entropy_and_its_gradient(rng):
    logits = rng.standard_normal((6, 10)) * 3
    labels = rng.integers(0, 10, 6)

    def loss():
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(6), labels].mean())

    value, probs, grad = softmax_cross_entropy(logits, labels)
    assert value == pytest.approx(loss(), rel=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(grad, numeric_grad(loss, logits), rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(softmax(logits), probs, rtol=1e-6)


def test_cross_entropy_is_finite_for_huge_logits():
    logits = np.array([[1000.0, -1000.0, 0.0]], np.float32)
    value, _, grad = softmax_cross_entropy(logits, np.array([1]))
    assert value == pytest.approx(2000.0, rel=1e-6) and np.all(np.isfinite(grad))


def test_adam_matches_the_formula():
    p = np.array([1.0, -2.0], np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    g = np.array([0.5, -0.25], np.float32)
    update.adam_step(p, g, m, v, lr=0.1, step=1)
    # after one step with bias correction, m_hat = g and v_hat = g^2: p -= lr * sign(g)
    np.testing.assert_allclose(p, [0.9, -1.9], rtol=1e-5)
    update.adam_step(p, g, m, v, lr=0.1, step=2)
    np.testing.assert_allclose(p, [0.8, -1.8], rtol=1e-5)


def test_small_and_large_parameters_get_the_same_adam_update(rng):
    # tensors below SERIAL_BELOW run a one-thread copy of the kernel: it must agree to the
    # last bit or so (fastmath may contract a multiply-add differently in the two loops)
    size = update.SERIAL_BELOW + 7
    p = rng.standard_normal(size).astype(np.float32)
    g = rng.standard_normal(size).astype(np.float32)
    states = [(p.copy(), np.zeros_like(p), np.zeros_like(p)) for _ in range(2)]
    for step in (1, 2, 3):
        update.adam_step(*states[0][:1], g, *states[0][1:], lr=0.01, step=step)
        for lo in range(0, size, 1000):  # the same values in small pieces: the serial kernel
            piece = [a[lo:lo + 1000] for a in states[1]]
            update.adam_step(piece[0], g[lo:lo + 1000], piece[1], piece[2], lr=0.01, step=step)
    for big, small in zip(*states):
        np.testing.assert_allclose(big, small, rtol=3e-7, atol=1e-12)


def test_sgd_momentum_matches_the_formula():
    p = np.array([1.0], np.float32)
    velocity = np.zeros_like(p)
    g = np.array([2.0], np.float32)
    update.sgd_step(p, g, velocity, lr=0.1, momentum=0.9)
    update.sgd_step(p, g, velocity, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(p, [1 - 0.2 - 0.1 * (0.9 * 2 + 2)], rtol=1e-6)


def test_shift_images_moves_and_zero_fills():
    images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4) + 1
    shifted = augment.shift_images(images, np.array([[1, 0], [0, -2]]))
    np.testing.assert_array_equal(shifted[0, 1:], images[0, :-1])
    assert not shifted[0, 0].any()
    np.testing.assert_array_equal(shifted[1, :, :2], images[1, :, 2:])
    assert not shifted[1, :, 2:].any()


@pytest.mark.parametrize("shape", [(128, 5408, 128), (5408, 128, 128), (128, 128, 10), (7, 3, 2)])
def test_split_matmul_equals_the_plain_product(rng, shape):
    from cnnkit.ops.matmul import matmul

    m, k, n = shape
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    np.testing.assert_allclose(matmul(a, b), a @ b, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(matmul(a.T.copy().T, b), a @ b, rtol=1e-5, atol=1e-4)


def test_optimiser_moments_never_go_denormal():
    """A weight with zero gradient: its moments decay to exactly 0, not into denormals."""
    p = np.ones(4, np.float32)
    m, v, velocity = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    update.adam_step(p, np.ones(4, np.float32), m, v, lr=1e-3, step=1)
    update.sgd_step(p, np.ones(4, np.float32), velocity, lr=1e-3)
    for step in range(2, 1500):
        update.adam_step(p, np.zeros(4, np.float32), m, v, lr=1e-3, step=step)
        update.sgd_step(p, np.zeros(4, np.float32), velocity, lr=1e-3)
    smallest_normal = np.finfo(np.float32).tiny
    for state in (m, v, velocity):
        assert np.all((state == 0) | (np.abs(state) >= smallest_normal))
    assert np.all(m == 0) and np.all(velocity == 0)
