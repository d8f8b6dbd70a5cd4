"""The numpy forward pass (nn/light.py) against the Numba path (Sequential.predict_proba): the
same probabilities to float32 rounding and the same classes, on the bundled model and on small
models of every layer; and neither loading a model nor the numpy pass starts Numba."""

from __future__ import annotations

import numpy as np
import pytest

from cnnkit import digits
from cnnkit.imaging.io import read_image
from cnnkit.nn import arch, light
from cnnkit.nn import layers as L
from cnnkit.nn.io import BUNDLED_MODEL, load_model
from cnnkit.nn.model import PIXEL_SCALE, Sequential
from tests.conftest import SAMPLES, python_output

RTOL, ATOL = 1e-4, 1e-6


def assert_same_predictions(model: Sequential, x: np.ndarray) -> None:
    numpy_probs = light.predict_proba(model, x)
    numba_probs = model.predict_proba(x)
    assert numpy_probs.dtype == np.float32
    assert numpy_probs.shape == numba_probs.shape == (len(x), *model.output_shape)
    np.testing.assert_allclose(numpy_probs, numba_probs, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(numpy_probs.argmax(axis=1), numba_probs.argmax(axis=1))


@pytest.fixture(scope="module")
def bundled() -> Sequential:
    return load_model(BUNDLED_MODEL)[0]


@pytest.fixture(scope="module")
def sample_digits() -> np.ndarray:
    """The one-digit pictures of samples/digits prepared as predict prepares them:
    (N, 28, 28, 1) float32, pixels * PIXEL_SCALE."""
    files = sorted((SAMPLES / "digits").glob("*_[0-9].jpg"))
    prepared = [digits.prepare_digit(read_image(f, grey=True, native=True)).digit
                for f in files]
    assert len(prepared) >= 10
    return np.stack(prepared)[..., None] * np.float32(PIXEL_SCALE)


def test_bundled_model_on_real_digits(bundled, sample_digits):
    assert light.supports(bundled)
    assert_same_predictions(bundled, sample_digits)
    probs = light.predict_proba(bundled, sample_digits)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)


def test_bundled_model_on_random_inputs(bundled, rng):
    noise = rng.random((40, 28, 28, 1), dtype=np.float32)
    sparse = noise * (rng.random(noise.shape) < 0.15)  # scattered strokes on black
    assert_same_predictions(bundled, np.concatenate([noise, sparse]))


# Each line once through the passes the Numba path runs differently: the fused first
# conv+maxpool and conv+avgpool, batchnorm+relu fused, and the plain layers.
LINES = [
    ("conv 4 3 relu | maxpool 2 | flatten | dense 8 relu | dropout 0.3 | dense 10 softmax",
     (12, 12, 1)),
    ("conv 3 5 same relu | avgpool 2 | conv 4 3 | flatten | dense 5 softmax", (16, 16, 1)),
    ("conv 5 3 stride=2 same | relu | maxpool 3 2 same | flatten | dense 6 softmax",
     (15, 13, 2)),
    (("conv 4 2x4 same relu | avgpool 3 2 same | conv 3 1 stride=3 | flatten | dense 6 | "
      "dense 4 softmax"), (11, 14, 3)),
    ("conv 6 5x3 stride=2 relu | maxpool 2x3 | gap | dense 7 relu | dense 3 softmax",
     (17, 19, 1)),
    (("conv 4 3 | batchnorm | relu | conv 5 3 same | batchnorm momentum=0.9 epsilon=0.01 | "
      "avgpool 2 1 | flatten | dense 10 softmax"), (10, 9, 2)),
    (("conv 3 4 stride=3x2 same | maxpool 2 1 valid | avgpool 2 | batchnorm | gap | "
      "dense 5 softmax"), (13, 10, 1)),
    ("maxpool 3 2 same | conv 3 3 | maxpool 2 same | flatten | dense 5 softmax", (9, 8, 2)),
]


def random_model(line: str, input_shape, rng) -> Sequential:
    """The line built with its initial kernels, and random biases and batch-norm parameters
    and statistics (all of them start at 0 or 1, which would hide a mistake)."""
    model = arch.build(arch.parse(line), input_shape, seed=7)
    weights = {}
    for name, value in model.named_weights():
        if name.endswith("moving_variance"):
            value = rng.uniform(0.5, 2, value.shape)
        elif not name.endswith("kernel"):
            value = value + 0.2 * rng.standard_normal(value.shape)
        weights[name] = value.astype(np.float32)
    model.set_weights(weights)
    return model


@pytest.mark.parametrize("line, input_shape", LINES)
def test_small_models_of_every_layer(line, input_shape, rng):
    model = random_model(line, input_shape, rng)
    assert light.supports(model)
    # negative inputs too: a padded cell must never win a max
    assert_same_predictions(model, rng.standard_normal((6, *input_shape), dtype=np.float32))


def test_a_model_ending_in_logits(rng):
    model = Sequential([L.Flatten(), L.Dense(5)], (6, 6, 2), seed=2)  # a file may hold one
    x = rng.random((3, 6, 6, 2), dtype=np.float32)
    np.testing.assert_allclose(light.predict_proba(model, x), model.predict_proba(x),
                               rtol=RTOL, atol=ATOL)


def test_every_layer_kind_is_in_the_lines():
    kinds = {layer.kind for line, shape in LINES for layer in
             arch.build(arch.parse(line), shape).layers}
    assert kinds == set(L.LAYERS)


def test_a_batch_split_in_passes_gives_the_same(bundled, rng, monkeypatch):
    x = rng.random((7, 28, 28, 1), dtype=np.float32)
    whole = light.predict_proba(bundled, x)
    columns = bundled.layers[0].columns_per_image()
    passes = []
    conv = light._PASSES[L.Conv2D]
    monkeypatch.setitem(light._PASSES, L.Conv2D, lambda layer, y: passes.append(len(y))
                        or conv(layer, y))
    monkeypatch.setattr(light, "INFERENCE_COLUMNS", 3 * columns)
    # not bit for bit: BLAS blocks a product by its row count
    np.testing.assert_allclose(light.predict_proba(bundled, x), whole, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(light.predict_proba(bundled, x, batch_size=2), whole,
                               rtol=1e-5, atol=1e-7)
    assert passes == [3, 3, 1, 2, 2, 2, 1]


def test_no_inputs_give_no_rows(bundled):
    probs = light.predict_proba(bundled, np.empty((0, 28, 28, 1), np.float32))
    assert probs.shape == (0, 10) and probs.dtype == np.float32


def test_inputs_of_another_shape_are_refused(bundled):
    with pytest.raises(ValueError, match=r"expected inputs \(N, 28, 28, 1\), got shape"):
        light.predict_proba(bundled, np.zeros((2, 28, 28), np.float32))


class Doubling(L.Layer):
    """A layer the numpy path does not know."""

    kind = "Doubling"

    def forward(self, x, training=False, rng=None):
        return x * np.float32(2)


class DenseWithDoubledBias(L.Dense):
    """A subclass computes something else than its base: not run as a Dense."""

    def logits(self, x):
        return super().logits(x) + self.params["bias"]


@pytest.mark.parametrize("make_layer", [Doubling, lambda: DenseWithDoubledBias(10)])
def test_unknown_layers_are_unsupported(make_layer):
    model = Sequential([L.Flatten(), make_layer(), L.Dense(10, activation="softmax")],
                       (4, 4, 1))
    assert not light.supports(model)
    with pytest.raises(ValueError, match="the numpy path cannot run"):
        light.predict_proba(model, np.zeros((1, 4, 4, 1), np.float32))
    assert light.supports(Sequential([L.Flatten(), L.Dense(10, activation="softmax")],
                                     (4, 4, 1)))


def test_loading_and_the_numpy_pass_never_import_numba():
    out = python_output(
        "import sys\n"
        "import numpy as np\n"
        "from cnnkit.nn import light\n"
        "from cnnkit.nn.io import BUNDLED_MODEL, load_model\n"
        "model, header = load_model(BUNDLED_MODEL)\n"
        "x = np.zeros((1, 28, 28, 1), np.float32)\n"
        "x[0, 4:24, 13:15] = header['input']['pixel_scale'] * 255  # a stroke: a one\n"
        "probs = light.predict_proba(model, x)\n"
        "print(probs.shape, probs.argmax(), 'numba' in sys.modules)\n")
    assert out == "(1, 10) 1 False"


def test_models_load_and_build_without_numba_and_still_train():
    out = python_output(
        "import sys\n"
        "import numpy as np\n"
        "from cnnkit.nn import arch\n"
        "from cnnkit.nn.io import BUNDLED_MODEL, load_model\n"
        "from cnnkit.nn.model import Sequential\n"
        "model, _ = load_model(BUNDLED_MODEL)\n"
        "built = [arch.resolve(name) for name in arch.PRESETS]\n"
        "Sequential.from_config(model.config()).set_weights(dict(model.named_weights()))\n"
        "print('numba' in sys.modules)\n"
        "tiny = arch.resolve('conv 4 3 relu | maxpool 2 | flatten | dense 10 softmax')\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.random((32, 28, 28, 1), dtype=np.float32)\n"
        "labels = rng.integers(0, 10, 32)\n"
        "losses = []\n"
        "for step in range(5):\n"
        "    loss, _ = tiny.loss_and_grads(x, labels, rng)\n"
        "    losses.append(loss)\n"
        "    for (_, value), (_, grad) in zip(tiny.named_params(), tiny.named_grads()):\n"
        "        value -= np.float32(0.5) * grad\n"
        "print('numba' in sys.modules, losses[-1] < losses[0])\n")
    assert out.splitlines() == ["False", "True True"]
