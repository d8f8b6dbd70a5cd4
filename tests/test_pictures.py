"""Pictures: colour maps, feature maps, learned filters, curves, confusion, mistakes, kernels.

Each picture is checked for its size, mode and what its tiles hold, not only for existing.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnnkit.imaging import io as imaging
from cnnkit.imaging import kernels
from cnnkit.viz import colormaps
from cnnkit.viz import figures
from cnnkit.digits import prepare_digit
from cnnkit.nn.io import BUNDLED_MODEL, load_model
from cnnkit.nn.probe import feature_maps
from tests.conftest import SAMPLES, invoke
from tests.test_fetch import SHARED_MNIST, needs_shared

DIGIT = SAMPLES / "digits" / "0_7.jpg"


@pytest.fixture(scope="module")
def model():
    return load_model(BUNDLED_MODEL)[0]


@pytest.fixture
def raw_digit(tmp_path):
    """A 28x28 white-on-black stroke, MNIST style, for --preprocess none."""
    image = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(image).line([(9, 5), (18, 5), (12, 23)], fill=255, width=3)
    path = tmp_path / "raw.png"
    image.save(path)
    return path


def _cell_colour(image: Image.Image, box, inset: int = 3) -> tuple:
    """The colour just inside a box's top-left corner (clear of any text in the middle)."""
    return image.convert("RGB").getpixel((box[0] + inset, box[1] + inset))


# colour maps -----------------------------------------------------------------------------------
def test_sequential_map_gets_steadily_lighter_and_diverging_is_pale_in_the_middle():
    lightness = colormaps.rgb_to_lab(colormaps.SEQUENTIAL / 255.0)[:, 0]
    assert np.all(np.diff(lightness) > -0.5)  # uint8 rounding only
    assert lightness[-1] - lightness[0] > 70
    diverging = colormaps.rgb_to_lab(colormaps.DIVERGING / 255.0)[:, 0]
    assert diverging.argmax() in (127, 128)
    assert abs(diverging[0] - diverging[-1]) < 15  # the two signs equally strong
    assert colormaps.DIVERGING[0, 2] > colormaps.DIVERGING[0, 0]  # negative is blue
    assert colormaps.DIVERGING[-1, 0] > colormaps.DIVERGING[-1, 2]  # positive is red


def test_colour_conversions_round_trip_and_colorize_hits_both_ends():
    rgb = np.random.default_rng(0).random((50, 3))
    assert np.allclose(colormaps.lab_to_rgb(colormaps.rgb_to_lab(rgb)), rgb, atol=1e-6)
    out = colormaps.colorize(np.array([-2.0, 0.0, 2.0, 9.0]), colormaps.DIVERGING, -2, 2)
    assert (out[0] == colormaps.DIVERGING[0]).all() and (out[-1] == colormaps.DIVERGING[-1]).all()
    assert (out[2] == out[3]).all()  # clipped above hi
    assert colormaps.text_colour(colormaps.SEQUENTIAL[-1]) == (0, 0, 0)
    assert colormaps.text_colour(colormaps.SEQUENTIAL[0]) == (255, 255, 255)


# feature maps --------------------------------------------------------------------------------
def test_feature_maps_match_the_models_own_forward_pass(model):
    digit = prepare_digit(imaging.read_image(DIGIT)).digit / np.float32(255)
    maps = feature_maps(model, digit[..., None])
    assert maps["conv"].shape == (26, 26, 32) and maps["pool"].shape == (13, 13, 32)
    assert np.array_equal(maps["relu"], np.maximum(maps["conv"], 0))
    # the fused training kernel gives the same pooled maps
    from cnnkit.ops.conv2d import conv_relu_maxpool_forward

    fused, _ = conv_relu_maxpool_forward(digit[None, ..., None], model.layers[0].params["kernel"],
                                         model.layers[0].params["bias"])
    assert np.allclose(fused[0], maps["pool"], atol=1e-5)


def test_feature_map_grid_has_32_tiles_coloured_by_the_maps(model):
    digit = prepare_digit(imaging.read_image(DIGIT)).digit / np.float32(255)
    maps = feature_maps(model, digit[..., None])
    stages = [figures.MapStage("conv", "conv", maps["conv"], True),
              figures.MapStage("pool", "pool", maps["pool"], False)]
    figure = figures.feature_maps(digit, stages)
    assert figure.image.mode == "RGB"
    for key, size, factor in (("conv", 26, 4), ("pool", 13, 8)):
        boxes = figure.boxes[key]
        assert len(boxes) == 32
        assert {(b[2] - b[0], b[3] - b[1]) for b in boxes} == {(size * factor,) * 2}
        stage = next(s for s in stages if s.key == key)
        lo, hi = figures._limits(stage.maps, stage.signed)
        table = colormaps.DIVERGING if stage.signed else colormaps.SEQUENTIAL
        for channel in (0, 7, 31):
            expected = colormaps.colorize(stage.maps[..., channel], table, lo, hi)
            left, top = boxes[channel][:2]
            for i, j in ((0, 0), (size // 2, size // 3), (size - 1, size - 1)):
                pixel = figure.image.getpixel((left + j * factor + 1, top + i * factor + 1))
                assert pixel == tuple(expected[i, j])
    left, top, right, bottom = figure.boxes["input"][0]
    shown = np.asarray(figure.image.convert("L").crop((left, top, right, bottom)))
    assert shown.mean() == pytest.approx(digit.mean() * 255, abs=3)


def test_featuremaps_command_writes_the_sheet_and_protects_files(runner, tmp_path):
    out = tmp_path / "maps.png"
    result = invoke(runner, "featuremaps", DIGIT, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["prediction"] == 7 and set(record["stages"]) == {"relu", "pool"}
    image = Image.open(out)
    assert image.mode == "RGB" and image.width > 8 * 104 and image.height > 2 * 4 * 104
    again = invoke(runner, "featuremaps", DIGIT, "-o", out, "--layer", "conv")
    assert again.exit_code == 1 and "exists" in again.output
    assert Image.open(out).size == image.size  # untouched
    only = invoke(runner, "featuremaps", DIGIT, "-o", out, "--layer", "conv", "--force", "--json")
    assert set(json.loads(only.stdout)["stages"]) == {"conv"}
    assert Image.open(out).height < image.height  # one grid instead of two
    assert invoke(runner, "featuremaps", DIGIT, "-o", tmp_path / "m.jpg").exit_code == 2


def test_featuremaps_defaults_to_a_file_beside_the_image(runner, tmp_path, raw_digit):
    result = invoke(runner, "featuremaps", raw_digit, "--preprocess", "none")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "raw_featuremaps.png").is_file()
    big = tmp_path / "big.png"
    Image.new("L", (40, 40)).save(big)
    bad = invoke(runner, "featuremaps", big, "--preprocess", "none")
    assert bad.exit_code == 1 and "28x28" in bad.output and "Traceback" not in bad.output


# learned filters -----------------------------------------------------------------------------
def test_filter_bank_tiles_show_each_kernel_in_its_colours(model):
    weights = model.layers[0].params["kernel"][:, :, 0, :]
    bias = model.layers[0].params["bias"]
    figure = figures.filter_bank(weights, bias)
    boxes = figure.boxes["filters"]
    assert len(boxes) == 32 and {(b[2] - b[0], b[3] - b[1]) for b in boxes} == {(144, 144)}
    lo, hi = colormaps.signed_limits(weights)
    for f in (0, 13, 31):
        expected = colormaps.colorize(weights[..., f], colormaps.DIVERGING, lo, hi)
        for r in range(3):
            for c in range(3):
                cell = (boxes[f][0] + c * 48, boxes[f][1] + r * 48)
                assert _cell_colour(figure.image, cell + cell) == tuple(expected[r, c])


def test_filters_command_exports_kernels_that_filter_reads_back(runner, tmp_path, model):
    result = invoke(runner, "filters", "-o", tmp_path / "f.png", "--as-kernels", tmp_path / "k")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "f.png").mode == "RGB"
    weights = model.layers[0].params["kernel"]
    files = sorted((tmp_path / "k").glob("conv_*.txt"))
    assert len(files) == 32
    assert np.array_equal(kernels.load_matrix(files[7]), weights[:, :, 0, 7])
    again = invoke(runner, "filters", "--as-kernels", tmp_path / "k")
    assert again.exit_code == 1 and "exists" in again.output


def test_model_kernel_in_filter_reproduces_the_conv_layer(runner, tmp_path, raw_digit, model):
    """`cnnkit filter --kernel model:conv/7` and the CNN share one kernel: the filter's output
    / 255 + bias is the layer's feature map 7."""
    out = tmp_path / "f7.tiff"
    result = invoke(runner, "filter", raw_digit, "--kernel", "model:conv/7", "--border", "valid",
                    "--range", "float", "-o", out)
    assert result.exit_code == 0, result.output
    filtered = np.asarray(Image.open(out), np.float32)
    pixels = np.asarray(Image.open(raw_digit), np.float32) / 255
    maps = feature_maps(model, pixels[..., None])
    bias = model.layers[0].params["bias"][7]
    assert np.allclose(filtered / 255 + bias, maps["conv"][..., 7], atol=1e-5)
    shown = json.loads(invoke(runner, "kernels", "show", "model:conv/7", "--json").stdout)
    assert shown["op"] == "corr"
    assert np.allclose(shown["kernels"][0]["values"], model.layers[0].params["kernel"][:, :, 0, 7])


@pytest.mark.parametrize("name, message", [
    ("model:conv/32", "has 32 kernels (0-31)"),
    ("model:conv/x", "expected model:LAYER/INDEX"),
    ("model:dense/1", "unknown conv layer 'dense'"),
    ("model:missing.npz:conv/1", "missing.npz: no such file"),
])
def test_bad_model_kernel_names(runner, raw_digit, name, message):
    result = invoke(runner, "filter", raw_digit, "--kernel", name)
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output


# confusion and mistakes ----------------------------------------------------------------------
def test_confusion_heat_map_is_brightest_on_the_diagonal_of_a_good_model():
    rng = np.random.default_rng(3)
    confusion = rng.integers(0, 8, (10, 10))
    np.fill_diagonal(confusion, rng.integers(900, 1100, 10))
    figure = figures.confusion_heatmap(confusion)
    cells = figure.boxes["cells"]
    assert len(cells) == 100 and figure.image.mode == "RGB"
    light = np.array([colormaps.luminance(_cell_colour(figure.image, box)) for box in cells])
    light = light.reshape(10, 10)
    assert light.diagonal().min() > light[~np.eye(10, dtype=bool)].max()


@needs_shared
def test_evaluate_draws_the_confusion_and_the_worst_mistakes(runner, tmp_path):
    result = invoke(runner, "evaluate", "--data", SHARED_MNIST, "--plot", tmp_path / "c.png",
                    "--mistakes", tmp_path / "m.png", "--worst", "5", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["pictures"] == [str(tmp_path / "c.png"), str(tmp_path / "m.png")]
    heat = Image.open(tmp_path / "c.png")
    assert heat.mode == "RGB" and heat.width >= 10 * 48
    sheet = Image.open(tmp_path / "m.png")
    assert sheet.mode == "L"
    # five 112-px digits in a row: the sheet is at least that wide, and at most one row tall
    assert 5 * 112 < sheet.width < 5 * 112 + 200 and sheet.height < 112 + 120


def test_mistakes_sheet_tiles_are_the_digits_dark_on_light():
    rng = np.random.default_rng(5)
    digits = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    mistakes = [{"index": i, "true": 1, "predicted": 7, "confidence": 0.9} for i in range(3)]
    figure = figures.mistakes_sheet(digits, mistakes)
    for digit, (left, top, right, bottom) in zip(digits, figure.boxes["digits"]):
        tile = np.asarray(figure.image.crop((left, top, right, bottom)))
        assert tile.shape == (112, 112)
        assert np.array_equal(tile[::4, ::4], 255 - digit)
    assert figures.mistakes_sheet(digits[:0], []).boxes["digits"] == []


# kernels show --plot -------------------------------------------------------------------------
def test_kernel_plot_shows_the_matrix_and_the_filtered_sample(runner, tmp_path, grey_png):
    out = tmp_path / "k.png"
    result = invoke(runner, "kernels", "show", "sharpen", "--plot", out, "--image", grey_png)
    assert result.exit_code == 0, result.output
    image = Image.open(out)
    assert image.mode == "RGB"
    flt = kernels.build("sharpen")
    from cnnkit.imaging.filtering import apply_filter

    sample = np.asarray(Image.open(grey_png), np.float32)
    expected = np.rint(np.clip(apply_filter(sample, flt), 0, 255))
    figure = figures.kernel_effect([("sharpen", flt.kernel)], sample.astype(np.uint8),
                                   expected.astype(np.uint8), "t")
    left, top, right, bottom = figure.boxes["result"][0]
    assert (right - left, bottom - top) == (50, 40)
    drawn = np.asarray(figure.image.convert("L").crop((left, top, right, bottom)))
    assert np.array_equal(drawn, expected.astype(np.uint8))
    top_left = figure.boxes["kernels"][0]
    assert _cell_colour(figure.image, top_left) == tuple(colormaps.DIVERGING[128])  # 0 is pale


def test_kernel_plot_uses_the_built_in_sample(runner, tmp_path):
    result = invoke(runner, "kernels", "show", "sobel", "--plot", tmp_path / "s.png")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "s.png").width > 2 * 384  # sample and result side by side


# learning curves (matplotlib) ----------------------------------------------------------------
HISTORY = [{"epoch": e, "train_loss": 1 / e, "train_accuracy": 1 - 0.1 / e,
            "val_loss": 1.2 / e, "val_accuracy": 1 - 0.12 / e} for e in range(1, 6)]


def test_plot_draws_train_and_validation_curves(runner, tmp_path):
    pytest.importorskip("matplotlib")
    history = tmp_path / "h.json"
    history.write_text(json.dumps(HISTORY))
    result = invoke(runner, "plot", history, "-o", tmp_path / "c.png")
    assert result.exit_code == 0, result.output
    image = Image.open(tmp_path / "c.png").convert("RGB")
    assert image.size == (1000, 400)
    colours = {c for _, c in image.getcolors(1 << 20)}
    assert (0x3B, 0x52, 0x8B) in colours and (0xD1, 0x49, 0x5B) in colours  # both lines


def test_plot_reads_csv_and_rejects_what_is_not_a_history(runner, tmp_path):
    pytest.importorskip("matplotlib")
    csv = tmp_path / "h.csv"
    csv.write_text("epoch,train_loss,train_accuracy,val_loss,val_accuracy\n1,0.5,0.8,,\n"
                   "2,0.3,0.9,,\n")
    assert invoke(runner, "plot", csv, "-o", tmp_path / "c.png").exit_code == 0
    junk = tmp_path / "junk.json"
    junk.write_text('{"a": 1}')
    result = invoke(runner, "plot", junk, "-o", tmp_path / "d.png")
    assert result.exit_code == 1 and "per-epoch records" in result.output
    assert not (tmp_path / "d.png").exists()


def test_charts_without_matplotlib_say_how_to_install_it(runner, tmp_path, monkeypatch):
    history = tmp_path / "h.json"
    history.write_text(json.dumps(HISTORY))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now fails
    result = invoke(runner, "plot", history, "-o", tmp_path / "c.png")
    assert result.exit_code == 1
    assert "pip install 'cnnkit[plot]'" in result.output and "Traceback" not in result.output
    trained = invoke(runner, "train", "--limit", "10", "--plot", tmp_path / "c.png")
    assert trained.exit_code == 1 and "cnnkit[plot]" in trained.output  # before any training
    # pictures that need only Pillow keep working
    assert invoke(runner, "filters", "-o", tmp_path / "f.png").exit_code == 0
