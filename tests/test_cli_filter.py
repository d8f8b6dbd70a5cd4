"""``cnnkit filter`` and ``cnnkit kernels`` run as a user runs them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cnnkit.imaging import kernels
from cnnkit.ops.filter2d import filter2d
from tests.conftest import invoke


def test_filter_writes_the_filtered_image_beside_the_input(runner, grey_png):
    result = invoke(runner, "filter", "--kernel", "sharpen", grey_png)
    assert result.exit_code == 0, result.output
    out = grey_png.with_name("grey.sharpen.png")
    source = np.asarray(Image.open(grey_png), np.float32)
    expected = np.clip(np.rint(filter2d(source, kernels.build("sharpen").kernel)), 0, 255)
    np.testing.assert_array_equal(np.asarray(Image.open(out)), expected)


def test_relu_and_bias_and_corr(runner, grey_png, tmp_path):
    out = tmp_path / "o.tiff"
    result = invoke(runner, "filter", "-k", "emboss", "--op", "corr", "--bias", "-20", "--relu",
                    "--range", "float", grey_png, "-o", out)
    assert result.exit_code == 0, result.output
    source = np.asarray(Image.open(grey_png), np.float32)
    expected = np.maximum(filter2d(source, kernels.build("emboss").kernel, op="corr") - 20, 0)
    np.testing.assert_allclose(np.asarray(Image.open(out)), expected, rtol=1e-6)


def test_custom_kernel_values_with_normalize_and_stride(runner, grey_png, tmp_path):
    out = tmp_path / "o.npy"
    result = invoke(runner, "filter", "--kernel-values", "1 2 1; 2 4 2; 1 2 1", "--normalize",
                    "--stride", "2", "--border", "valid", "--range", "float", grey_png, "-o", out)
    assert result.exit_code == 0, result.output
    values = np.load(out)
    assert values.shape == ((40 - 3) // 2 + 1, (50 - 3) // 2 + 1)
    source = np.asarray(Image.open(grey_png), np.float32)
    np.testing.assert_allclose(values[0, 0], (source[:3, :3] * [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
                                              ).sum() / 16, rtol=1e-5)


def test_json_reports_each_file(runner, grey_png, rgb_png, tmp_path):
    result = invoke(runner, "filter", "-k", "laplacian", grey_png, rgb_png, "--out-dir",
                    tmp_path / "outs", "--json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["input"] for r in records] == [str(grey_png), str(rgb_png)]
    assert records[1]["shape"] == [30, 20, 3] and records[1]["range"] == "edges"
    for r in records:
        assert r["ok"] and r["min"] < 0 < r["max"] and 0 <= r["clipped"] <= 100
        assert (tmp_path / "outs").joinpath(f"{r['input'].split('/')[-1][:-4]}.laplacian.png"
                                            ).exists()


def test_a_bad_file_does_not_stop_the_others(runner, grey_png, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    result = invoke(runner, "filter", "-k", "box", bad, grey_png)
    assert result.exit_code == 1
    assert "bad.png: not an image file" in result.stderr
    assert "1 of 2 files written, 1 failed" in result.stderr
    assert grey_png.with_name("grey.box.png").exists()
    assert not tmp_path.joinpath("bad.box.png").exists()


def test_folder_input_and_verbose(runner, grey_png, rgb_png):
    result = invoke(runner, "filter", "-k", "gaussian", "--sigma", "1", "-v", grey_png.parent)
    assert result.exit_code == 0, result.output
    assert "40x50 -> 40x50 (same size)" in result.stderr
    assert "% clipped" in result.stderr


def test_existing_output_needs_force_and_input_is_never_overwritten(runner, grey_png):
    assert invoke(runner, "filter", "-k", "box", grey_png).exit_code == 0
    again = invoke(runner, "filter", "-k", "box", grey_png)
    assert again.exit_code == 1 and "exists (use --force to overwrite)" in again.stderr
    assert invoke(runner, "filter", "-k", "box", grey_png, "--force").exit_code == 0
    before = grey_png.read_bytes()
    clobber = invoke(runner, "filter", "-k", "box", grey_png, "-o", grey_png, "--force")
    assert clobber.exit_code == 1 and "would overwrite the input" in clobber.stderr
    assert grey_png.read_bytes() == before


def test_compare_puts_input_and_output_side_by_side(runner, rgb_png, tmp_path):
    out = tmp_path / "cmp.png"
    result = invoke(runner, "filter", "-k", "sobel", "--compare", rgb_png, "-o", out)
    assert result.exit_code == 0, result.output
    picture = np.asarray(Image.open(out))
    assert picture.shape == (30, 20 + 8 + 20, 3)
    np.testing.assert_array_equal(picture[:, :20], np.asarray(Image.open(rgb_png)))


def test_alpha_passes_through_untouched(runner, tmp_path, rng):
    data = rng.integers(0, 256, (12, 10, 4), dtype=np.uint8)
    path = tmp_path / "a.png"
    Image.fromarray(data, "RGBA").save(path)
    out = tmp_path / "b.png"
    assert invoke(runner, "filter", "-k", "box", path, "-o", out).exit_code == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out))[..., 3], data[..., 3])
    strided = tmp_path / "c.png"
    assert invoke(runner, "filter", "-k", "box", "--stride", "2", path, "-o", strided
                  ).exit_code == 0
    np.testing.assert_array_equal(np.asarray(Image.open(strided))[..., 3], data[::2, ::2, 3])


def test_sixteen_bit_in_sixteen_bit_out(runner, tmp_path):
    path = tmp_path / "g16.png"
    data = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    Image.fromarray(data).save(path)
    out = tmp_path / "o.png"
    assert invoke(runner, "filter", "-k", "identity", path, "-o", out).exit_code == 0
    written = np.asarray(Image.open(out))
    assert written.dtype == np.uint16
    np.testing.assert_array_equal(written, data)


@pytest.mark.parametrize("args, message, code", [
    (["-k", "laplacan"], "did you mean 'laplacian'", 1),
    (["--kernel-values", "1 1; 1 1"], "odd height and width, got 2x2", 1),
    (["--kernel-values", "1 a"], "'a' is not a number", 1),
    (["-k", "laplacian", "--sigma", "2"], "does not take --sigma", 1),
    ([], "give exactly one of --kernel", 2),
    (["-k", "box", "--kernel-values", "1"], "give exactly one of --kernel", 2),
    (["-k", "box", "--range", "float", "--compare"], "cannot be combined", 2),
    (["-k", "box", "-o", "x.xyz"], "cannot write '.xyz' files", 1),
])
def test_bad_arguments_give_one_line_and_an_exit_code(runner, grey_png, args, message, code):
    result = invoke(runner, "filter", grey_png, *args)
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_output_with_several_inputs_is_a_usage_error(runner, grey_png, rgb_png, tmp_path):
    result = invoke(runner, "filter", "-k", "box", grey_png, rgb_png, "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "use --out-dir" in result.stderr


def test_missing_file_and_decompression_bomb(runner, tmp_path):
    result = invoke(runner, "filter", "-k", "box", tmp_path / "none.png")
    assert result.exit_code == 1 and "cannot read: no such file" in result.stderr
    Image.new("L", (400, 400)).save(tmp_path / "big.png")
    result = invoke(runner, "filter", "-k", "box", tmp_path / "big.png", "--max-pixels", "1000")
    assert result.exit_code == 1 and "above the limit" in result.stderr
    assert not (tmp_path / "big.box.png").exists()


def test_kernels_list_and_show(runner):
    listed = invoke(runner, "kernels")
    assert listed.exit_code == 0
    for spec in kernels.BANK:
        assert spec.name in listed.stdout
    shown = invoke(runner, "kernels", "show", "laplacian")
    assert shown.exit_code == 0
    assert "-4" in shown.stdout and "zero-sum: yes" in shown.stdout
    assert "conv vs corr: same result" in shown.stdout
    emboss = invoke(runner, "kernels", "show", "emboss", "--json")
    record = json.loads(emboss.stdout)
    assert record["kernels"][0]["values"][0] == [-2, -1, 0]
    assert record["kernels"][0]["conv_equals_corr"] is False
    log = invoke(runner, "kernels", "show", "log", "--sigma", "1.0")
    assert log.exit_code == 0 and "7x7" in log.stdout
    bad = invoke(runner, "kernels", "show", "sobl")
    assert bad.exit_code == 1 and "did you mean 'sobel'" in bad.stderr
