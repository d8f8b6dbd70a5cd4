"""Layers and models: gradients by finite differences, PyTorch equivalence, files, training."""

from __future__ import annotations

import numpy as np
import pytest

from cnnkit.nn import layers as L
from cnnkit.nn.io import ModelError, load_checkpoint, load_model, save_model
from cnnkit.nn.model import Sequential, digit_classifier
from cnnkit.nn.train import TrainConfig, Trainer, resume_trainer, save_trainer
from tests.gradcheck import numeric_grad
from tests.test_nn_ops import naive_conv
from tests.test_pool import naive_pool


def reference_logits(model: Sequential, x: np.ndarray, params: dict) -> np.ndarray:
    """The model's forward pass in float64 with plain numpy (dropout off)."""
    for layer in model.layers:
        p = {k: params[f"{layer.name}/{k}"] for k in layer.params}
        if isinstance(layer, L.Conv2D):
            x = naive_conv(x, p["kernel"], p["bias"])
        elif isinstance(layer, L.MaxPool2D):
            x = np.stack([naive_pool(v, layer.pool_size, layer.strides, layer.padding, "max")
                          for v in x])
        elif isinstance(layer, L.Flatten):
            x = x.reshape(len(x), -1)
        elif isinstance(layer, L.Dense):
            x = x @ p["kernel"] + p["bias"]
        elif isinstance(layer, L.ReLU):
            x = np.maximum(x, 0)
        if getattr(layer, "activation", None) == "relu":
            x = np.maximum(x, 0)
    return x


def cross_entropy(logits, labels):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


def small_model(fuse=True, seed=3, **extra) -> Sequential:
    return Sequential([L.Conv2D(3, 3, activation="relu"), L.MaxPool2D(2), L.Flatten(),
                       L.Dense(6, activation="relu"), L.Dropout(0.3),
                       L.Dense(4, activation="softmax")], (8, 8, 1), seed=seed, fuse=fuse)


@pytest.mark.parametrize("fuse", [True, False])
def test_full_model_gradient_by_finite_differences(rng, fuse):
    model = small_model(fuse)
    for _, value in model.named_params():  # non-zero biases exercise every path
        value += rng.standard_normal(value.shape).astype(np.float32) * 0.1
    x = rng.random((3, 8, 8, 1)).astype(np.float32)
    labels = np.array([0, 3, 1])
    model.loss_and_grads(x, labels, rng, training=False)
    params = {n: v.astype(np.float64) for n, v in model.named_params()}
    x64 = x.astype(np.float64)
    for name, grad in model.named_grads():
        loss = lambda: cross_entropy(reference_logits(model, x64, params), labels)  # noqa: E731
        np.testing.assert_allclose(grad, numeric_grad(loss, params[name], eps=1e-4),
                                   rtol=1e-3, atol=2e-5, err_msg=name)


@pytest.mark.parametrize("layer, shape", [
    (L.Conv2D(2, (3, 2)), (5, 6, 2)), (L.Conv2D(2, 3, activation="relu"), (5, 5, 1)),
    (L.ReLU(), (4, 3)), (L.MaxPool2D(2), (4, 6, 2)), (L.MaxPool2D(3, 2, "same"), (5, 5, 1)),
    (L.Flatten(), (2, 3, 2)), (L.Dense(4), (5,)), (L.Dense(3, activation="relu"), (6,)),
])
def test_each_layer_input_and_parameter_gradients(rng, layer, shape):
    layer.build(shape, rng)
    for value in layer.params.values():
        value += rng.standard_normal(value.shape).astype(np.float32) * 0.1
    x = rng.permutation(np.prod((2,) + shape)).reshape((2,) + shape) / 10 - 0.65  # never 0
    y = layer.forward(x.astype(np.float32))
    g = rng.standard_normal(y.shape)
    grad_x = layer.backward(g.astype(np.float32))
    model = Sequential.__new__(Sequential)  # reuse reference_logits on a one-layer "model"
    model.layers = [layer]
    layer.name = "layer"
    params = {f"layer/{k}": v.astype(np.float64) for k, v in layer.params.items()}
    loss = lambda: float((reference_logits(model, x, params) * g).sum())  # noqa: E731
    np.testing.assert_allclose(grad_x, numeric_grad(loss, x, eps=1e-4), rtol=1e-3, atol=1e-4)
    for key, grad in layer.grads.items():
        np.testing.assert_allclose(grad, numeric_grad(loss, params[f"layer/{key}"], eps=1e-4),
                                   rtol=1e-3, atol=1e-4)


def test_dropout_layer_is_identity_at_inference_and_masks_in_training(rng):
    layer = L.Dropout(0.5)
    layer.build((100,), rng)
    x = np.ones((50, 100), np.float32)
    assert layer.forward(x, training=False) is x
    y = layer.forward(x, training=True, rng=rng)
    assert 0.4 < float((y == 0).mean()) < 0.6
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), y)


def test_a_model_that_starts_flat_builds_and_trains(rng):
    model = Sequential([L.Flatten(), L.Dense(6, activation="relu"),
                        L.Dense(3, activation="softmax")], (4, 4, 1))  # no conv to fuse
    x = rng.random((5, 4, 4, 1), dtype=np.float32)
    loss, probs = model.loss_and_grads(x, np.array([0, 1, 2, 0, 1]), rng)
    assert np.isfinite(loss) and probs.shape == (5, 3)
    assert model.predict_proba(x).shape == (5, 3)


def test_digit_classifier_matches_the_seed():
    model = digit_classifier()
    assert model.count_params() == 693_962
    assert [p for _, _, p in model.summary_rows()] == [320, 0, 0, 692_352, 0, 1_290]
    assert [s for _, s, _ in model.summary_rows()] == [
        "(None, 26, 26, 32)", "(None, 13, 13, 32)", "(None, 5408)", "(None, 128)",
        "(None, 128)", "(None, 10)"]
    assert [n for n, _, _ in model.summary_rows()][0] == "conv2d (Conv2D)"


def test_he_and_glorot_initialisation_bounds():
    model = digit_classifier(seed=5)
    params = dict(model.named_params())
    assert np.abs(params["conv2d/kernel"]).max() <= np.sqrt(6 / 9)
    assert np.abs(params["dense/kernel"]).max() <= np.sqrt(6 / 5408)
    assert np.abs(params["dense_1/kernel"]).max() <= np.sqrt(6 / (128 + 10))
    assert params["dense/kernel"].std() > 0.5 * np.sqrt(6 / 5408) / np.sqrt(3)
    assert not params["dense/bias"].any()


def test_forward_and_gradients_match_pytorch(rng):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = digit_classifier(dropout=0.25, seed=1)
    params = dict(model.named_params())
    for value in params.values():
        value += rng.standard_normal(value.shape).astype(np.float32) * 0.01
    conv, dense, head = nn.Conv2d(1, 32, 3), nn.Linear(5408, 128), nn.Linear(128, 10)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(params["conv2d/kernel"]).permute(3, 2, 0, 1))
        conv.bias.copy_(torch.tensor(params["conv2d/bias"]))
        dense.weight.copy_(torch.tensor(params["dense/kernel"].T))
        dense.bias.copy_(torch.tensor(params["dense/bias"]))
        head.weight.copy_(torch.tensor(params["dense_1/kernel"].T))
        head.bias.copy_(torch.tensor(params["dense_1/bias"]))
    x = rng.random((16, 28, 28, 1)).astype(np.float32)
    labels = rng.integers(0, 10, 16)
    tx = torch.tensor(x).permute(0, 3, 1, 2)
    pooled = nn.functional.max_pool2d(torch.relu(conv(tx)), 2)
    flat = pooled.permute(0, 2, 3, 1).reshape(16, -1)  # channels-last flatten, as cnnkit
    logits = head(torch.relu(dense(flat)))
    loss = nn.functional.cross_entropy(logits, torch.tensor(labels))
    loss.backward()
    ours_loss, ours_probs = model.loss_and_grads(x, labels, rng, training=False)
    assert ours_loss == pytest.approx(loss.item(), rel=1e-5)
    np.testing.assert_allclose(ours_probs, torch.softmax(logits, 1).detach().numpy(),
                               rtol=1e-4, atol=1e-6)
    grads = dict(model.named_grads())
    pairs = {"conv2d/kernel": conv.weight.grad.permute(2, 3, 1, 0), "conv2d/bias": conv.bias.grad,
             "dense/kernel": dense.weight.grad.T, "dense/bias": dense.bias.grad,
             "dense_1/kernel": head.weight.grad.T, "dense_1/bias": head.bias.grad}
    for name, reference in pairs.items():
        np.testing.assert_allclose(grads[name], reference.numpy(), rtol=1e-3, atol=1e-6,
                                   err_msg=name)


def test_model_file_round_trips_bit_exactly(tmp_path):
    model = digit_classifier(seed=7)
    save_model(tmp_path / "m.npz", model, metrics={"test_accuracy": 0.5})
    loaded, header = load_model(tmp_path / "m.npz")
    for (name, a), (_, b) in zip(model.named_params(), loaded.named_params()):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert header["param_count"] == 693_962 and header["metrics"]["test_accuracy"] == 0.5
    assert header["input"]["pixel_scale"] == pytest.approx(1 / 255)


def _saved(tmp_path, model):
    path = tmp_path / "fresh.npz"
    save_model(path, model, force=True)
    return path


def _rewrite(path, target, header_edit=None, weight_edit=None):
    """Copy a model file, editing its header dict and/or its weights dict."""
    import json

    with np.load(path) as archive:
        arrays = {n: archive[n] for n in archive.files}
    header = json.loads(arrays.pop("__header__").tobytes())
    if header_edit:
        header_edit(header)
    if weight_edit:
        weight_edit(arrays)
    np.savez(target, __header__=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
    return target


def test_model_files_refuse_to_clobber_and_detect_damage(tmp_path):
    model = digit_classifier(seed=7)
    path = _saved(tmp_path, model)
    before = path.read_bytes()
    with pytest.raises(Exception, match="exists"):
        save_model(path, digit_classifier(seed=8))
    assert path.read_bytes() == before

    def nudge(arrays):
        arrays["dense/bias"][0] += 1

    with pytest.raises(ModelError, match="do not match their recorded SHA-256"):
        load_model(_rewrite(path, tmp_path / "edited.npz", weight_edit=nudge))
    path.write_bytes(before[: len(before) // 2])
    with pytest.raises(ModelError, match="damaged or truncated"):
        load_model(path)


def test_wrong_architecture_and_wrong_kind_of_file(tmp_path):
    path = _saved(tmp_path, digit_classifier())

    def narrow(header):
        header["architecture"]["layers"][3]["units"] = 64

    with pytest.raises(ModelError, match=r"dense/kernel is float32 \(5408, 128\), the "
                                         r"architecture needs float32 \(5408, 64\)"):
        load_model(_rewrite(path, tmp_path / "arch.npz", header_edit=narrow))

    def unknown(header):
        header["architecture"]["layers"][0]["class"] = "Conv3D"

    with pytest.raises(ModelError, match="not a valid architecture"):
        load_model(_rewrite(path, tmp_path / "unknown.npz", header_edit=unknown))
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ModelError, match="no header"):
        load_model(tmp_path / "plain.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelError, match="not a cnnkit model file"):
        load_model(tmp_path / "text.npz")
    with pytest.raises(ModelError, match="expected a cnnkit-checkpoint"):
        load_checkpoint(path)


def _tiny_data(rng, n=600):
    """Separable 'digits': class k has a bright 6x6 square at a class-specific place."""
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
    for i, k in enumerate(labels):
        y, x = 2 + (k // 5) * 12, 2 + (k % 5) * 5
        images[i, y:y + 6, x:x + 6] = 250
    return images, labels


def test_training_lowers_the_loss_and_beats_chance(rng):
    images, labels = _tiny_data(rng)
    trainer = Trainer(TrainConfig(epochs=3, val_split=100, seed=0), images, labels)
    epochs = [e for e in trainer.run() if hasattr(e, "train_loss")]
    assert epochs[-1].train_loss < epochs[0].train_loss / 2
    assert epochs[-1].val_accuracy > 0.8  # chance is 0.1


def _weights(trainer):
    return {n: v.copy() for n, v in trainer.model.named_params()}


def test_same_seed_gives_bit_identical_weights(rng):
    from cnnkit.ops._jit import set_threads

    images, labels = _tiny_data(rng, 300)
    runs = []
    try:
        set_threads(1)
        for _ in range(2):
            trainer = Trainer(TrainConfig(epochs=2, val_split=50, seed=4), images, labels)
            list(trainer.run())
            runs.append(_weights(trainer))
    finally:
        set_threads(None)
    for name in runs[0]:
        np.testing.assert_array_equal(runs[0][name], runs[1][name], err_msg=name)
    other = Trainer(TrainConfig(epochs=2, val_split=50, seed=5), images, labels)
    list(other.run())
    assert not np.array_equal(_weights(other)["dense/kernel"], runs[0]["dense/kernel"])


@pytest.mark.parametrize("stop_after", [3, 5])  # mid-epoch, and at an epoch boundary
def test_resume_continues_to_the_uninterrupted_result(rng, tmp_path, stop_after):
    images, labels = _tiny_data(rng, 520)
    config = dict(epochs=2, batch_size=100, val_split=20, seed=9)
    whole = Trainer(TrainConfig(**config), images, labels)
    list(whole.run())
    first = Trainer(TrainConfig(**config), images, labels)
    seen = []
    for event in first.run(should_stop=lambda: len(seen) >= stop_after):
        if hasattr(event, "batch"):
            seen.append(event)
    assert first.state.epoch * first.batches + first.state.batch == stop_after
    save_trainer(first, tmp_path / "c.ckpt.npz")
    second, _ = resume_trainer(tmp_path / "c.ckpt.npz", images, labels)
    list(second.run())
    for name, value in _weights(whole).items():
        np.testing.assert_array_equal(value, _weights(second)[name], err_msg=name)
    assert [h["train_loss"] for h in second.state.history] == [
        h["train_loss"] for h in whole.state.history]
