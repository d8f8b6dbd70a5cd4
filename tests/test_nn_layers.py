"""Every layer, alone: gradients by centred finite differences (float64 reference of the
loss through float32 layers, so tolerances are loose but a wrong formula still fails by far),
and forward + backward against PyTorch where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

from cnnkit.nn import layers as L
from cnnkit.ops import conv_gemm
from tests.gradcheck import numeric_grad

CASES = [
    ("conv valid", lambda: L.Conv2D(4, 3), (7, 6, 2)),
    ("conv same stride 2", lambda: L.Conv2D(3, (3, 2), strides=2, padding="same"), (7, 6, 2)),
    ("conv 5x5 relu", lambda: L.Conv2D(3, 5, activation="relu", padding="same"), (6, 6, 1)),
    ("maxpool 3 stride 2 same", lambda: L.MaxPool2D(3, 2, "same"), (7, 6, 2)),
    ("avgpool 2", lambda: L.AveragePooling2D(2), (6, 6, 2)),
    ("avgpool 3 same", lambda: L.AveragePooling2D(3, 2, "same"), (7, 6, 2)),
    ("gap", lambda: L.GlobalAveragePooling2D(), (5, 4, 3)),
    ("batchnorm", lambda: L.BatchNormalization(), (4, 4, 3)),
    ("relu", lambda: L.ReLU(), (5, 5, 2)),
    ("flatten", lambda: L.Flatten(), (3, 3, 2)),
    ("dense relu", lambda: L.Dense(5, activation="relu"), (7,)),
]


def _built(make, shape, rng):
    layer = make()
    layer.build(shape, rng)
    for value in layer.params.values():  # away from the ReLU kinks and symmetric starts
        value += rng.standard_normal(value.shape).astype(np.float32) * 0.3
    return layer


@pytest.mark.parametrize("label,make,shape", CASES, ids=[c[0] for c in CASES])
def test_layer_gradients_by_finite_differences(label, make, shape, rng):
    layer = _built(make, shape, rng)
    x = rng.standard_normal((3, *shape)).astype(np.float32)
    weights = rng.standard_normal((3, *layer.output_shape)).astype(np.float64)

    def loss():  # a fixed random projection of the output: every output cell matters
        return float((layer.forward(x.copy(), training=True).astype(np.float64) * weights).sum())

    loss()
    grad_x = layer.backward(weights.astype(np.float32))
    np.testing.assert_allclose(grad_x, numeric_grad(loss, x, 1e-3), rtol=2e-2, atol=2e-2)
    for name, value in layer.params.items():
        loss()
        layer.backward(weights.astype(np.float32))
        analytic = layer.grads[name].copy()
        np.testing.assert_allclose(analytic, numeric_grad(loss, value, 3e-4), rtol=2e-2,
                                   atol=2e-2, err_msg=f"{label}: {name}")


@pytest.mark.parametrize("shape,kernel,strides,padding", [
    ((2, 9, 8, 3), (3, 3, 3, 5), (1, 1), "valid"), ((2, 9, 8, 3), (5, 3, 3, 4), (2, 1), "same"),
    ((1, 4, 4, 2), (2, 2, 2, 3), (2, 2), "valid"), ((2, 5, 5, 1), (5, 5, 1, 2), (1, 1), "same")])
def test_conv_engine_matches_a_plain_loop(shape, kernel, strides, padding, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(kernel).astype(np.float32)
    b = rng.standard_normal(kernel[3]).astype(np.float32)
    y, _ = conv_gemm.conv_forward(x, w, b, strides, padding)
    kh, kw = kernel[:2]
    top = conv_gemm.pad_before(shape[1], kh, strides[0], padding)
    left = conv_gemm.pad_before(shape[2], kw, strides[1], padding)
    padded = np.zeros((shape[0], shape[1] + kh + 8, shape[2] + kw + 8, shape[3]))
    padded[:, top:top + shape[1], left:left + shape[2]] = x
    expected = np.empty(y.shape)
    for i in range(y.shape[1]):
        for j in range(y.shape[2]):
            top_i, left_j = i * strides[0], j * strides[1]
            patch = padded[:, top_i:top_i + kh, left_j:left_j + kw]
            expected[:, i, j] = np.tensordot(patch, w, axes=3) + b
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def _conv_reference(x, w, b, strides, padding, relu, g):
    """float64 plain loops: y, then (grad_x, grad_w, grad_b) of sum(y * g)."""
    kh, kw = w.shape[:2]
    n, height, width, _ = x.shape
    out_h = conv_gemm.output_size(height, kh, strides[0], padding)
    out_w = conv_gemm.output_size(width, kw, strides[1], padding)
    top = conv_gemm.pad_before(height, kh, strides[0], padding)
    left = conv_gemm.pad_before(width, kw, strides[1], padding)
    padded = np.zeros((n, height + kh + 8, width + kw + 8, x.shape[3]))
    padded[:, top:top + height, left:left + width] = x
    y = np.empty((n, out_h, out_w, w.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            patch = padded[:, i * strides[0]:i * strides[0] + kh, j * strides[1]:j * strides[1] + kw]
            y[:, i, j] = np.tensordot(patch, w, axes=3) + b
    if relu:
        y = np.maximum(y, 0)
    g = g * (y > 0) if relu else g.astype(np.float64)
    grad_p, grad_w = np.zeros_like(padded), np.zeros(w.shape)
    for i in range(out_h):
        for j in range(out_w):
            rows, cols = slice(i * strides[0], i * strides[0] + kh), slice(j * strides[1],
                                                                           j * strides[1] + kw)
            grad_w += np.tensordot(padded[:, rows, cols], g[:, i, j], axes=(0, 0))
            grad_p[:, rows, cols] += np.tensordot(g[:, i, j], w, axes=(1, 3))
    return y, grad_p[:, top:top + height, left:left + width], grad_w, g.sum(axis=(0, 1, 2))


@pytest.mark.parametrize("block_bytes", [1, 1 << 30])  # one image a block; one block
@pytest.mark.parametrize("shape,kernel,strides,padding,relu", [
    ((7, 9, 8, 3), (3, 3, 3, 5), (1, 1), "valid", True),
    ((5, 9, 8, 3), (5, 3, 3, 4), (2, 1), "same", False),
    ((5, 6, 6, 1), (3, 3, 1, 4), (1, 1), "same", True)])  # one channel: the direct kernels
def test_conv_engine_blocks_match_plain_loops(shape, kernel, strides, padding, relu,
                                              block_bytes, rng, monkeypatch):
    """The engine works in blocks of images on the matmul threads (forward: gather, multiply,
    bias; backward: mask, sums, multiply, scatter): any block size gives the same gradients."""
    monkeypatch.setattr(conv_gemm, "BLOCK_BYTES", block_bytes)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(kernel).astype(np.float32)
    b = rng.standard_normal(kernel[3]).astype(np.float32)
    y, saved = conv_gemm.conv_forward(x, w, b, strides, padding, relu=relu)
    g = rng.standard_normal(y.shape).astype(np.float32)
    want_y, want_gx, want_gw, want_gb = _conv_reference(x, w, b, strides, padding, relu, g)
    np.testing.assert_allclose(y, want_y, rtol=1e-4, atol=1e-4)
    gx, gw, gb = conv_gemm.conv_backward(saved, x.shape, w, g.copy(), strides, padding,
                                         y=y if relu else None)
    np.testing.assert_allclose(gx, want_gx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw, want_gw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gb, want_gb, rtol=1e-4, atol=1e-4)
    none, gw2, gb2 = conv_gemm.conv_backward(saved, x.shape, w, g.copy(), strides, padding,
                                             y=y if relu else None, input_grad=False)
    assert none is None
    np.testing.assert_allclose(gw2, want_gw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gb2, want_gb, rtol=1e-4, atol=1e-4)


def test_conv_engine_gradients_do_not_depend_on_the_thread_count(rng, monkeypatch):
    from cnnkit.ops._jit import numba, set_threads

    monkeypatch.setattr(conv_gemm, "BLOCK_BYTES", 1)  # one image a block: several a group
    x = rng.standard_normal((21, 7, 6, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    g = rng.standard_normal((21, 5, 4, 4)).astype(np.float32)
    results = []
    before = numba.get_num_threads()
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one core: nothing to compare")
    try:
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            set_threads(threads)
            y, cols = conv_gemm.conv_forward(x, w, b, relu=True)
            results.append((y, *conv_gemm.conv_backward(cols, x.shape, w, g.copy(), y=y)))
    finally:
        set_threads(before)
    for one, many in zip(*results):
        np.testing.assert_array_equal(one, many)


def test_conv_refuses_a_kernel_larger_than_its_input():
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv_gemm.conv_forward(np.zeros((1, 2, 2, 1), np.float32),
                               np.zeros((3, 3, 1, 1), np.float32), np.zeros(1, np.float32))


def test_batchnorm_running_statistics_and_inference(rng):
    layer = _built(lambda: L.BatchNormalization(momentum=0.5), (3, 3, 2), rng)
    x = (rng.standard_normal((8, 3, 3, 2)) * 3 + 5).astype(np.float32)
    layer.forward(x, training=True)
    mean = x.reshape(-1, 2).mean(axis=0)
    np.testing.assert_allclose(layer.state["moving_mean"], 0.5 * mean, rtol=1e-5)
    np.testing.assert_allclose(layer.state["moving_variance"],
                               0.5 + 0.5 * x.reshape(-1, 2).var(axis=0), rtol=1e-4)
    y = layer.forward(x, training=False)  # inference: the running statistics, not the batch's
    scale = layer.params["gamma"] / np.sqrt(layer.state["moving_variance"] + 1e-3)
    np.testing.assert_allclose(y, (x - layer.state["moving_mean"]) * scale
                               + layer.params["beta"], rtol=1e-4, atol=1e-4)


def test_batchnorm_with_its_relu_fused_by_finite_differences(rng):
    """The fused BatchNormalization + ReLU pass (the backward recomputes the normalised values
    and the ReLU's mask from what the forward kept)."""
    layer = _built(L.BatchNormalization, (4, 4, 3), rng)
    layer.params["beta"][:] = [0.3, -0.2, 0.1]
    x = rng.standard_normal((3, 4, 4, 3)).astype(np.float32)
    weights = rng.standard_normal((3, 4, 4, 3))

    def loss():
        return float((layer.forward(x.copy(), training=True, relu=True).astype(np.float64)
                      * weights).sum())

    y = layer.forward(x.copy(), training=True, relu=True)
    assert (y == 0).any() and (y > 0).any()
    grad_x = layer.backward(weights.astype(np.float32))
    np.testing.assert_allclose(grad_x, numeric_grad(loss, x, 1e-3), rtol=2e-2, atol=2e-2)
    for name, value in layer.params.items():
        loss()
        layer.backward(weights.astype(np.float32))
        np.testing.assert_allclose(layer.grads[name].copy(), numeric_grad(loss, value, 3e-4),
                                   rtol=2e-2, atol=2e-2, err_msg=name)


def _torch_layer(torch, layer, channels):
    nn = torch.nn
    if isinstance(layer, L.Conv2D):
        (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
        if layer.padding == "same" and (sh, sw) != (1, 1):
            return None  # PyTorch has no asymmetric 'same' with strides
        module = nn.Conv2d(channels, layer.filters, (kh, kw), (sh, sw),
                           padding="same" if layer.padding == "same" else 0)
        module.weight.data = torch.tensor(layer.params["kernel"]).permute(3, 2, 0, 1).contiguous()
        module.bias.data = torch.tensor(layer.params["bias"])
        return nn.Sequential(module, nn.ReLU()) if layer.activation == "relu" else module
    if isinstance(layer, L.AveragePooling2D) and layer.padding == "valid":
        return nn.AvgPool2d(layer.pool_size, layer.strides)
    if isinstance(layer, L.MaxPool2D) and layer.padding == "valid":
        return nn.MaxPool2d(layer.pool_size, layer.strides)
    if isinstance(layer, L.BatchNormalization):
        module = nn.BatchNorm2d(channels, eps=layer.epsilon, momentum=1 - layer.momentum)
        module.weight.data = torch.tensor(layer.params["gamma"])
        module.bias.data = torch.tensor(layer.params["beta"])
        return module
    if isinstance(layer, L.GlobalAveragePooling2D):
        return nn.AdaptiveAvgPool2d(1)
    return None


@pytest.mark.parametrize("label,make,shape", [c for c in CASES if len(c[2]) == 3],
                         ids=[c[0] for c in CASES if len(c[2]) == 3])
def test_layers_match_pytorch(label, make, shape, rng):
    torch = pytest.importorskip("torch")
    layer = _built(make, shape, rng)
    module = _torch_layer(torch, layer, shape[2])
    if module is None:
        pytest.skip("no PyTorch twin for this setting")
    x = rng.standard_normal((4, *shape)).astype(np.float32)
    g = rng.standard_normal((4, *layer.output_shape)).astype(np.float32)
    ours = layer.forward(x.copy(), training=True)
    ours_grad = layer.backward(g.copy())
    tx = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
    ty = module.train()(tx)
    ty = ty.reshape(4, -1) if ty.shape[2:] == (1, 1) and len(layer.output_shape) == 1 else ty
    tg = torch.tensor(g) if ty.ndim == 2 else torch.tensor(g).permute(0, 3, 1, 2)
    ty.backward(tg)
    theirs = ty.detach().numpy()
    theirs = theirs if theirs.ndim == 2 else theirs.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours_grad, tx.grad.permute(0, 2, 3, 1).numpy(), rtol=1e-3,
                               atol=1e-4)
    if isinstance(layer, L.BatchNormalization):  # PyTorch keeps the unbiased variance
        count = x.size // shape[2]
        np.testing.assert_allclose(layer.state["moving_mean"], module.running_mean.numpy(),
                                   rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose((layer.state["moving_variance"] - 0.99) * count / (count - 1)
                                   + 0.99, module.running_var.numpy(), rtol=1e-4, atol=1e-6)
