"""``cnnkit pool``, ``cnnkit stack`` and ``cnnkit explain`` as a user runs them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cnnkit.imaging import pipeline
from cnnkit.viz import explain
from cnnkit.errors import CnnkitError
from cnnkit.ops.filter2d import filter2d
from cnnkit.ops.pool import avg_pool, max_pool
from tests.conftest import invoke


def test_pool_writes_the_pooled_image(runner, grey_png, tmp_path):
    out = tmp_path / "p.png"
    result = invoke(runner, "pool", grey_png, "--size", "3x2", "--stride", "2", "-o", out, "-v")
    assert result.exit_code == 0, result.output
    source = np.asarray(Image.open(grey_png), np.float32)
    np.testing.assert_array_equal(np.asarray(Image.open(out)), max_pool(source, (3, 2), 2))
    assert "40x50 -> 19x25 (floor((n - k) / s) + 1" in result.stderr


def test_average_pool_same_padding_rgb_json(runner, rgb_png, tmp_path):
    result = invoke(runner, "pool", rgb_png, "--mode", "avg", "--padding", "same", "--size",
                    "3", "--out-dir", tmp_path / "o", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["output_shape"] == [10, 7, 3]  # ceil(30/3), ceil(20/3)
    written = np.asarray(Image.open(tmp_path / "o" / "rgb.avgpool3.png"))
    source = np.asarray(Image.open(rgb_png), np.float32)
    np.testing.assert_array_equal(written, np.rint(avg_pool(source, 3, padding="same")))


def test_pool_upscale_and_compare(runner, grey_png, tmp_path):
    out = tmp_path / "c.png"
    result = invoke(runner, "pool", grey_png, "--size", "4", "--upscale", "--compare", "-o", out)
    assert result.exit_code == 0, result.output
    picture = np.asarray(Image.open(out))
    assert picture.shape == (40, 50 + 8 + 48)
    right = picture[:, 58:]
    np.testing.assert_array_equal(right[:4, :4], np.full((4, 4), right[0, 0]))


@pytest.mark.parametrize("args, message, code", [
    (["--size", "0"], "--size takes N or HxW", 2),
    (["--size", "99"], "needs at least 99x99 pixels", 1),
    (["--mode", "median"], "median", 2),
])
def test_pool_bad_arguments(runner, grey_png, args, message, code):
    result = invoke(runner, "pool", grey_png, *args)
    assert result.exit_code == code and message in result.stderr


def test_stack_runs_every_step_and_writes_sheet_stages_and_output(runner, grey_png, tmp_path):
    text = "laplacian,sobel-x | relu | maxpool 2 | gaussian sigma=1 | avgpool 2"
    result = invoke(runner, "stack", grey_png, text, "-o", tmp_path / "final.png", "--stages",
                    tmp_path / "stages", "--sheet", tmp_path / "sheet.png", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert [s["maps"] for s in record["stages"]] == [1, 2, 2, 2, 2, 2]
    assert [s["shape"] for s in record["stages"]][-1] == [10, 12]
    assert record["stages"][2]["min"] == 0  # after relu
    assert len(list((tmp_path / "stages").iterdir())) == 6
    sheet = Image.open(tmp_path / "sheet.png")
    assert sheet.mode == "L" and sheet.height > 6 * 40


def test_stack_matches_the_ops_it_names(rng):
    image = rng.random((20, 24)).astype(np.float32) * 255
    stages = pipeline.run(image, pipeline.parse("laplacian | relu | maxpool 2"))
    lap = filter2d(image, [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    np.testing.assert_allclose(stages[-1].maps[0], max_pool(np.maximum(lap, 0), 2), rtol=1e-6)


@pytest.mark.parametrize("text, message", [
    ("laplacan | relu", "character 1: expected a kernel name, relu, maxpool or avgpool, found "
                        "'laplacan'; did you mean 'laplacian'?"),
    ("relu ||", "character 7: expected a step"),
    ("laplacian | maxpool 0", "character 21: expected a pool size such as 2 or 2x3"),
    ("gaussian sgma=2", "character 10: expected a parameter such as sigma=2"),
    ("relu, sobel", "character 5: expected a kernel name before ','"),
    ("", "character 1: expected a step"),
])
def test_stack_syntax_errors_name_the_position(text, message):
    with pytest.raises(pipeline.StackSyntaxError) as info:
        pipeline.parse(text)
    assert message in str(info.value)


def test_stack_cli_errors(runner, grey_png, tmp_path):
    result = invoke(runner, "stack", grey_png, "relu | maxpol 2", "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and "character 8" in result.stderr
    assert "did you mean 'maxpool'" in result.stderr
    nowhere = invoke(runner, "stack", grey_png, "relu")
    assert nowhere.exit_code == 2 and "say where to write" in nowhere.stderr


def test_explain_conv_shows_every_step_and_the_ops_result(runner):
    result = invoke(runner, "explain", "conv", "--no-animate")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("step ") == 9 and "step 9/9" in result.stdout
    steps, output, _ = explain.conv_steps(explain.CLASSIC_IMAGE, explain.CLASSIC_KERNEL)
    np.testing.assert_array_equal(output, [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    np.testing.assert_array_equal(output, filter2d(explain.CLASSIC_IMAGE, explain.CLASSIC_KERNEL,
                                                   border="valid"))
    for s in steps:  # the products shown add up to the op's value
        assert s.products.sum() == s.value
    assert "1 + 0 + 1 + 0 + 1 + 0 + 0 + 0 + 1 = 4" in result.stdout  # the first window


def test_explain_conv_flips_an_asymmetric_kernel(runner):
    conv = invoke(runner, "explain", "conv", "--kernel-values", "1 2 0; 0 0 0; 0 0 0",
                  "--no-animate")
    corr = invoke(runner, "explain", "conv", "--kernel-values", "1 2 0; 0 0 0; 0 0 0",
                  "--op", "corr", "--no-animate")
    assert "flipped in both axes" in conv.stdout and "as written" in corr.stdout
    _, out_conv, slid = explain.conv_steps(explain.CLASSIC_IMAGE,
                                           np.array([[1, 2, 0], [0, 0, 0], [0, 0, 0]]), "conv")
    np.testing.assert_array_equal(slid[2], [0, 2, 1])


def test_explain_relu_and_pool(runner):
    relu = invoke(runner, "explain", "relu", "--no-animate")
    assert relu.exit_code == 0 and "max(-1, 0) = 0 (negative, so 0)" in relu.stdout
    _, out = explain.relu_steps(explain.RELU_EXAMPLE)
    np.testing.assert_array_equal(out, np.maximum(explain.RELU_EXAMPLE, 0))
    pool = invoke(runner, "explain", "pool", "--no-animate")
    assert pool.exit_code == 0 and pool.stdout.count("step ") == 4
    steps, out = explain.pool_steps(explain.POOL_EXAMPLE)
    np.testing.assert_array_equal(out, [[6, 8], [3, 4]])
    assert [s.chosen for s in steps] == [(1, 1), (1, 3), (2, 0), (3, 3)]


def test_explain_takes_a_crop_of_an_image_and_refuses_big_matrices(runner, grey_png):
    result = invoke(runner, "explain", "relu", "--image", grey_png, "--crop", "2,3,4",
                    "--no-animate")
    assert result.exit_code == 0 and "step 16/16" in result.stdout
    with pytest.raises(CnnkitError, match="at most 12x12"):
        explain.relu_steps(np.zeros((13, 2)))
    bad = invoke(runner, "explain", "conv", "--image", "1 2; 3", "--no-animate")
    assert bad.exit_code == 1 and "rows have different lengths" in bad.stderr
