"""The architecture language, files and Keras configs, presets, and any network end to end:
trained a little, saved, loaded, summarised, drawn."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnkit.data.mnist import load_split
from cnnkit.nn import arch
from cnnkit.nn.io import BUNDLED_MODEL, load_model, save_model
from cnnkit.nn.model import prepare
from cnnkit.nn.train import TrainConfig, Trainer
from tests.conftest import ROOT, invoke
from tests.test_fetch import SHARED_MNIST, needs_shared


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "home"))


@pytest.mark.parametrize("name,params", [("digit_classifier", 693_962), ("lenet5", 61_706),
                                         ("keras-mnist-convnet", 34_826)])
def test_presets_have_their_parameter_counts(name, params):
    assert arch.resolve(name).count_params() == params


def test_a_line_round_trips_through_its_text():
    line = ("conv 8 5x3 stride=2 same relu | avgpool 3 2 same | batchnorm momentum=0.9 | relu "
            "| maxpool 2 | gap | dense 12 relu | dropout 0.25 | dense 10 softmax")
    model = arch.resolve(line)
    assert arch.to_text(model) == line
    assert arch.resolve(arch.to_text(model)).config()["layers"] == model.config()["layers"]
    assert [layer.output_shape for layer in model.layers][:2] == [(14, 14, 8), (7, 7, 8)]


@pytest.mark.parametrize("line,message", [
    ("conv 32 7 stride=4 | maxpool 3 | conv 64 5 | flatten | dense 10 softmax",
     "step 3 conv 64 5: input 2x2x32 is smaller than the kernel 5x5"),
    ("conv 8 3 | dense 10 softmax", "step 2 dense 10 softmax: input 26x26x8 is not flat"),
    ("conv 8 3 | flatten | maxpool 2 | dense 10 softmax",
     "step 3 maxpool 2: needs an HxWxC input, got flat 5408"),
    ("conv 8 3 | flatten | dense 10", "the last step must be 'dense N softmax'"),
    ("conv 8 | flatten | dense 10 softmax", "at character 7: expected a kernel size after conv"),
    ("conv 8 3 rleu | flatten | dense 10 softmax", "at character 10: expected one of relu"),
    ("conv 8 3 || dense 10 softmax", "at character 11: expected a layer"),
    ("pool 2 | dense 10 softmax", "at character 1: expected a layer (conv, maxpool"),
    ("dropout 1.5 | dense 10 softmax", "expected a rate from 0 to 0.95, found '1.5'"),
    ("lenet", "not a preset (digit_classifier, lenet5, keras-mnist-convnet, bn-convnet), a "
              "file or a line of steps; did you mean 'lenet5'?"),
    ("nothere.txt", "nothere.txt: no such architecture file"),
])
def test_errors_name_the_step_and_the_shapes(line, message):
    with pytest.raises(arch.ArchError) as caught:
        arch.resolve(line)
    assert message in str(caught.value)


def test_files_of_steps_and_keras_configs(tmp_path):
    steps = tmp_path / "net.txt"
    steps.write_text("# the Keras example\nconv 32 3 relu | maxpool 2\nconv 64 3 relu\n"
                     "maxpool 2 | flatten\ndropout 0.5\ndense 10 softmax\n")
    keras = {"class_name": "Sequential", "config": {"name": "mnist", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 28, 28, 1]}},
        {"class_name": "Conv2D", "config": {"filters": 32, "kernel_size": [3, 3],
                                            "activation": "relu", "padding": "valid",
                                            "strides": [1, 1], "dilation_rate": [1, 1]}},
        {"class_name": "MaxPooling2D", "config": {"pool_size": [2, 2]}},
        {"class_name": "Conv2D", "config": {"filters": 64, "kernel_size": [3, 3],
                                            "activation": "relu"}},
        {"class_name": "MaxPooling2D", "config": {"pool_size": [2, 2]}},
        {"class_name": "Flatten", "config": {}},
        {"class_name": "Dropout", "config": {"rate": 0.5}},
        {"class_name": "Dense", "config": {"units": 10, "activation": "softmax"}}]}}
    config = tmp_path / "net.json"
    config.write_text(json.dumps(keras))
    expected = arch.to_text(arch.resolve("keras-mnist-convnet"))
    for path in (steps, config):
        model = arch.resolve(str(path))
        assert arch.to_text(model) == expected and model.count_params() == 34_826
    keras["config"]["layers"][1]["config"]["dilation_rate"] = [2, 2]
    config.write_text(json.dumps(keras))
    with pytest.raises(arch.ArchError, match="dilation_rate"):
        arch.resolve(str(config))


def test_bundled_model_still_loads_with_its_outputs():
    """The seed's file (no stride, padding or name in its header) loads; the fused first
    block and the general engine agree on it."""
    model, header = load_model(BUNDLED_MODEL)
    images, labels = load_split("test", SHARED_MNIST) if SHARED_MNIST.is_dir() else (None, None)
    x = prepare(images[:200]) if images is not None else np.random.default_rng(0).random(
        (50, 28, 28, 1), dtype=np.float32)
    fused = model.predict_proba(x)
    from cnnkit.nn.model import Sequential

    general = Sequential.from_config(header["architecture"])
    general._steps = general.layers  # no fused block: every layer on its own
    general.set_weights(dict(model.named_weights()))
    np.testing.assert_allclose(general.predict_proba(x), fused, atol=1e-5)
    if labels is not None:
        assert (fused.argmax(axis=1) == labels[:200]).mean() > 0.97


@needs_shared
@pytest.mark.parametrize("name", ["lenet5", "bn-convnet"])
def test_any_preset_learns_and_round_trips_its_file(name, tmp_path):
    images, labels = load_split("train", SHARED_MNIST)
    config = TrainConfig(arch=name, epochs=2, val_split=100, limit=600, lr=3e-3)
    trainer = Trainer(config, images, labels)
    history = [e for e in trainer.run() if hasattr(e, "val_accuracy")]
    assert history[-1].val_accuracy > 0.5  # from 10% by chance
    path = tmp_path / "net.npz"
    save_model(path, trainer.model)
    loaded, _ = load_model(path)
    x = prepare(images[:64])
    np.testing.assert_array_equal(loaded.predict_proba(x), trainer.model.predict_proba(x))
    for (name_a, a), (name_b, b) in zip(loaded.named_state(), trainer.model.named_state()):
        assert name_a == name_b and np.array_equal(a, b) and not np.all(b == a[:1] * 0)


@needs_shared
def test_cli_trains_summarises_and_draws_any_architecture(runner, tmp_path):
    out = tmp_path / "net.npz"
    line = "conv 8 3 same relu | maxpool 2 | conv 16 3 | batchnorm | relu | gap | dense 10 softmax"
    result = invoke(runner, "train", "--arch", line, "--epochs", "1", "--limit", "300",
                    "--data", str(SHARED_MNIST), "-o", str(out), "-q")
    assert result.exit_code == 0, result.output
    record = json.loads(invoke(runner, "info", str(out), "--json").stdout)
    assert record["training"]["arch"] == line
    summary = invoke(runner, "summary", str(out))
    assert "batch_normalization (BatchNormalization)" in summary.stdout
    assert "Non-trainable params: 32" in summary.stdout
    picture = ROOT / "samples" / "digits" / "0_7.jpg"
    maps = invoke(runner, "featuremaps", str(picture), "-m", str(out), "--layer", "conv2d_1",
                  "--layer", "max_pooling2d", "-o", str(tmp_path / "maps.png"), "--json")
    assert maps.exit_code == 0, maps.output
    shapes = json.loads(maps.stdout)["stages"]
    assert shapes["conv2d_1"]["shape"] == [12, 12, 16]
    assert shapes["max_pooling2d"]["shape"] == [14, 14, 8]
    wrong = invoke(runner, "featuremaps", str(picture), "-m", str(out), "--layer", "dense",
                   "-o", str(tmp_path / "m2.png"))
    assert wrong.exit_code == 1 and "it has: conv2d, max_pooling2d, conv2d_1" in wrong.output
    drawn = invoke(runner, "filters", "-m", str(out), "--layer", "conv2d_1", "--channel", "7",
                   "-o", str(tmp_path / "f.png"))
    assert drawn.exit_code == 0 and (tmp_path / "f.png").stat().st_size > 1000
    bad = invoke(runner, "filters", "-m", str(out), "--layer", "conv2d_1", "--channel", "8",
                 "-o", str(tmp_path / "f2.png"))
    assert bad.exit_code == 1 and "reads 8 channels (0 to 7), not channel 8" in bad.output


def test_cli_refuses_a_bad_architecture_in_one_line(runner, tmp_path):
    result = invoke(runner, "train", "--arch", "conv 8 3 | dense 10 softmax", "-o",
                    str(tmp_path / "x.npz"))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: step 2 dense 10 softmax: input 26x26x8 is not flat: put flatten (or gap) "
        "before dense"]
    assert not (tmp_path / "x.npz").exists()
