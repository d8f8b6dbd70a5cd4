"""Pooling primitives: references, shapes, gradients, and PyTorch where installed."""

from __future__ import annotations

import numpy as np
import pytest

from cnnkit.ops import pool
from tests.gradcheck import numeric_grad


def naive_pool(x, size, stride, padding, mode):
    """(H, W, C) reference with explicit windows; padded cells are ignored."""
    kh, kw = size
    sh, sw = stride
    h, w, c = x.shape
    oh = pool.pool_output_size(h, kh, sh, padding)
    ow = pool.pool_output_size(w, kw, sw, padding)
    top = max((oh - 1) * sh + kh - h, 0) // 2 if padding == "same" else 0
    left = max((ow - 1) * sw + kw - w, 0) // 2 if padding == "same" else 0
    out = np.zeros((oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            ys = slice(max(i * sh - top, 0), min(i * sh - top + kh, h))
            xs = slice(max(j * sw - left, 0), min(j * sw - left + kw, w))
            window = x[ys, xs].reshape(-1, c)
            out[i, j] = window.max(axis=0) if mode == "max" else window.mean(axis=0)
    return out


CASES = [((2, 2), None, "valid"), ((3, 3), (2, 2), "valid"), ((2, 3), (1, 2), "valid"),
         ((3, 3), (2, 2), "same"), ((2, 2), None, "same"), ((1, 1), None, "valid"),
         ((4, 2), (3, 1), "same")]


@pytest.mark.parametrize("size, stride, padding", CASES)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_matches_reference(rng, size, stride, padding, mode):
    x = rng.standard_normal((9, 11, 3)).astype(np.float32)
    fn = pool.max_pool if mode == "max" else pool.avg_pool
    expected = naive_pool(x, size, stride or size, padding, mode)
    np.testing.assert_allclose(fn(x, size, stride, padding), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("padding, spatial", [("valid", (3, 4)), ("same", (4, 4))])
@pytest.mark.parametrize("shape", [(10, 12), (10, 12, 3), (4, 10, 12, 3)])
def test_layouts_and_output_shape_formula(shape, padding, spatial):
    """valid: floor((n - k) / s) + 1 = (3, 4); same: ceil(n / s) = (4, 4), for 10x12, k=s=3."""
    y = pool.max_pool(np.zeros(shape, np.float32), 3, 3, padding)
    if len(shape) == 2:
        assert y.shape == spatial
    else:
        assert y.shape == shape[:-3] + spatial + shape[-1:]


def test_same_average_divides_by_real_cells_only():
    x = np.ones((3, 3), np.float32)
    np.testing.assert_array_equal(pool.avg_pool(x, 2, 2, "same"), np.ones((2, 2)))


@pytest.mark.parametrize("size, stride, padding", CASES)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_backward_by_finite_differences(rng, size, stride, padding, mode):
    # distinct values, far apart, so a small perturbation never changes which cell wins
    x = rng.permutation(2 * 7 * 6 * 2).reshape(2, 7, 6, 2).astype(np.float64)
    y = (pool.max_pool if mode == "max" else pool.avg_pool)(x, size, stride, padding)
    g = rng.standard_normal(y.shape)

    def loss():
        return float((naive_batch(x) * g).sum())

    def naive_batch(values):
        return np.stack([naive_pool(v, size, stride or size, padding, mode) for v in values])

    if mode == "max":
        _, argmax = pool.max_pool(x, size, stride, padding, return_argmax=True)
        grad = pool.max_pool_backward(g, argmax, x.shape)
    else:
        grad = pool.avg_pool_backward(g, x.shape, size, stride, padding)
    np.testing.assert_allclose(grad, numeric_grad(loss, x, eps=1e-2), rtol=1e-4, atol=1e-4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 3x3 pixels, got 2x5"):
        pool.max_pool(np.zeros((2, 5), np.float32), 3)
    with pytest.raises(ValueError, match="padding must be one of"):
        pool.avg_pool(np.zeros((4, 4), np.float32), 2, padding="full")
    with pytest.raises(ValueError, match=">= 1"):
        pool.max_pool(np.zeros((4, 4), np.float32), 0)


def test_against_pytorch(rng):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    x = rng.standard_normal((3, 12, 10, 4)).astype(np.float32)
    for size, stride in ((2, 2), (3, 2), (3, 1)):
        t = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
        out = functional.max_pool2d(t, size, stride)
        y, argmax = pool.max_pool(x, size, stride, return_argmax=True)
        np.testing.assert_allclose(y, out.permute(0, 2, 3, 1).detach().numpy())
        g = rng.standard_normal(y.shape).astype(np.float32)
        out.backward(torch.tensor(g).permute(0, 3, 1, 2))
        np.testing.assert_allclose(pool.max_pool_backward(g, argmax, x.shape),
                                   t.grad.permute(0, 2, 3, 1).numpy(), rtol=1e-6)
        t2 = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
        avg = functional.avg_pool2d(t2, size, stride)
        np.testing.assert_allclose(pool.avg_pool(x, size, stride),
                                   avg.permute(0, 2, 3, 1).detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
        avg.backward(torch.tensor(g).permute(0, 3, 1, 2))
        np.testing.assert_allclose(pool.avg_pool_backward(g, x.shape, size, stride),
                                   t2.grad.permute(0, 2, 3, 1).numpy(), rtol=1e-5, atol=1e-6)
