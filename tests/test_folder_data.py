"""Folder datasets (``--images DIR``): the layout, every bad-folder message, fitting, the
cache, ``data export --format folder``, and fine-tuning from the bundled model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import invoke
from tests.test_fetch import SHARED_MNIST, needs_shared


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def make_folder(root, counts: dict[str, int], size=(12, 12), seed=0, mode="L"):
    """root/<class>/<k>.png: class k's pictures are bright in a class-specific quarter."""
    rng = np.random.default_rng(seed)
    for index, (name, count) in enumerate(counts.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(count):
            pixels = rng.integers(0, 60, size, dtype=np.uint8)
            h, w = size
            top, left = (index % 2) * (h // 2), (index // 2 % 2) * (w // 2)
            pixels[top:top + h // 2, left:left + w // 2] += 180
            Image.fromarray(pixels).convert(mode).save(root / name / f"{k}.png")
    return root


def train(runner, *args):
    return invoke(runner, "train", "--epochs", "1", "--batch-size", "8", "--quiet", *args)


# --- the layout and its problems ---------------------------------------------------------


def test_not_a_folder(runner, tmp_path):
    picture = make_folder(tmp_path / "d", {"a": 1}) / "a" / "0.png"
    result = train(runner, "--images", tmp_path / "missing", "-o", tmp_path / "m.npz")
    assert result.exit_code == 1 and "missing: no such folder" in result.stderr
    result = train(runner, "--images", picture, "-o", tmp_path / "m.npz")
    assert result.exit_code == 2  # Typer: a file where a folder is expected
    from cnnkit.data.folder import load_folder
    from cnnkit.errors import DataError

    with pytest.raises(DataError, match="not a folder"):
        load_folder(picture)


def test_pictures_without_class_folders(runner, tmp_path):
    folder = tmp_path / "loose"
    folder.mkdir()
    for k in range(3):
        Image.new("L", (8, 8)).save(folder / f"{k}.png")
    result = train(runner, "--images", folder, "-o", tmp_path / "m.npz")
    assert result.exit_code == 1
    assert "not a folder dataset: 3 pictures but no class folders" in result.stderr
    assert not (tmp_path / "m.npz").exists()


def test_folder_without_pictures(runner, tmp_path):
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "readme.txt").write_text("hello")
    result = train(runner, "--images", tmp_path / "nothing", "-o", tmp_path / "m.npz")
    assert result.exit_code == 1
    assert "not a folder dataset: no class folders with pictures" in result.stderr


def test_empty_class_folder_is_named(runner, tmp_path):
    root = make_folder(tmp_path / "d", {"cat": 3, "dog": 3})
    (root / "emu").mkdir()
    result = train(runner, "--images", root, "-o", tmp_path / "m.npz")
    assert result.exit_code == 1
    assert "emu: empty class folder" in result.stderr


def test_a_single_class_is_refused(runner, tmp_path):
    root = make_folder(tmp_path / "d", {"cat": 4})
    result = invoke(runner, "evaluate", "--images", root)
    assert result.exit_code == 1
    assert "only one class (cat); a classifier needs at least two" in result.stderr


def test_unreadable_pictures_are_skipped_and_counted_or_strict(runner, tmp_path):
    root = make_folder(tmp_path / "d", {"a": 6, "b": 6})
    (root / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (root / "b" / "text.jpg").write_text("not a picture")
    result = train(runner, "--images", root, "-o", tmp_path / "m.npz")
    assert result.exit_code == 0, result.stderr
    assert "skipped 2 unreadable pictures" in result.stderr
    assert "--strict makes this an error" in result.stderr
    strict = train(runner, "--images", root, "--strict", "-o", tmp_path / "s.npz")
    assert strict.exit_code == 1
    assert "broken.png" in strict.stderr and "(and 1 more)" in strict.stderr
    assert not (tmp_path / "s.npz").exists()


def test_a_class_of_only_unreadable_pictures(runner, tmp_path):
    root = make_folder(tmp_path / "d", {"a": 4})
    (root / "b").mkdir()
    (root / "b" / "x.png").write_text("nope")
    result = train(runner, "--images", root, "-o", tmp_path / "m.npz")
    assert result.exit_code == 1
    assert "no readable picture in this class folder (1 skipped)" in result.stderr


def test_mixed_sizes_and_modes_are_said_once(runner, tmp_path):
    root = make_folder(tmp_path / "d", {"a": 4, "b": 4}, size=(12, 12))
    make_folder(tmp_path / "d", {"a": 2}, size=(20, 30), seed=1, mode="RGB")
    (root / "a" / "0.png").unlink()  # keep names unique: the second call rewrote 0 and 1
    result = train(runner, "--images", root, "-o", tmp_path / "m.npz")
    assert result.exit_code == 0, result.stderr
    # --quiet hides the note; without it the note appears exactly once
    loud = invoke(runner, "evaluate", tmp_path / "m.npz", "--images", root, "--worst", "0")
    assert loud.stderr.count("note: pictures have 2 sizes (12x12 to 30x20) and 2 colour "
                             "modes (L, RGB)") == 1


def test_train_and_test_folders(runner, tmp_path):
    make_folder(tmp_path / "d" / "train", {"x": 8, "y": 8})
    make_folder(tmp_path / "d" / "test", {"x": 3, "y": 3}, seed=5)
    result = train(runner, "--images", tmp_path / "d", "--epochs", "3", "-o",
                   tmp_path / "m.npz", "--json")
    assert result.exit_code == 0, result.stderr
    done = json.loads(result.stdout.splitlines()[-1])
    assert done["test_accuracy"] is not None  # measured on test/
    report = json.loads(invoke(runner, "evaluate", tmp_path / "m.npz", "--images",
                               tmp_path / "d", "--json").stdout)
    assert report["images"] == 6 and report["classes"] == ["x", "y"]
    mismatched = tmp_path / "e"
    make_folder(mismatched / "train", {"x": 3, "y": 3})
    make_folder(mismatched / "test", {"x": 3, "z": 3})
    bad = train(runner, "--images", mismatched, "-o", tmp_path / "n.npz")
    assert bad.exit_code == 1 and "test/ has the classes x, z but train/ has x, y" in bad.stderr


# --- options ----------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--image-size", "0"], "--image-size takes a side"),
    (["--image-size", "3x"], "--image-size takes a side"),
    (["--val-split", "0.5.1"], "--val-split takes a fraction"),
    (["--val-split", "-3"], "--val-split must be 0 or more"),
    (["--val-split", "2.5"], "whole count"),
])
def test_bad_options_are_usage_errors(runner, tmp_path, args, message):
    root = make_folder(tmp_path / "d", {"a": 2, "b": 2})
    result = train(runner, "--images", root, *args, "-o", tmp_path / "m.npz")
    assert result.exit_code == 2 and message in result.stderr


def test_picture_options_need_images(runner, tmp_path):
    result = train(runner, "--color", "rgb", "-o", tmp_path / "m.npz")
    assert result.exit_code == 2 and "need --images DIR" in result.stderr


def test_parse_split():
    from cnnkit.data.folder import parse_split, split_count

    assert parse_split("0.25") == 0.25 and parse_split("40") == 40 and parse_split(None) is None
    assert split_count(0.25, 40, lambda n: 0) == 10
    assert split_count(None, 24, lambda n: n // 12) == 2


def test_fitting_pad_stretch_crop():
    """A wide grey picture with a white square in the middle, on black."""
    from cnnkit.data.decode import decode_picture

    pixels = np.zeros((10, 40), np.uint8)
    pixels[3:7, 18:22] = 255
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    data = buffer.getvalue()
    pad = decode_picture(data, (20, 20), "grey", "pad", 10**8)[0]
    stretch = decode_picture(data, (20, 20), "grey", "stretch", 10**8)[0]
    crop = decode_picture(data, (20, 20), "grey", "crop", 10**8)[0]
    assert pad.shape == stretch.shape == crop.shape == (20, 20)
    assert pad[:7].max() == 0 and pad[-7:].max() == 0  # black bands (the border colour)
    assert (stretch > 128).sum() > 3 * (pad > 128).sum()  # the square grows tall
    assert (crop > 128).sum() > (pad > 128).sum()  # cropping enlarges what is kept
    rgb = decode_picture(data, (8, 6), "rgb", "pad", 10**8)
    assert rgb[0].shape == (8, 6, 3) and rgb[1] == (40, 10) and rgb[2] == "L"
    assert "above the limit" in decode_picture(data, (8, 8), "grey", "pad", 100)


# --- the cache -------------------------------------------------------------------------


def test_the_cache_is_used_and_an_edited_folder_is_read_again(tmp_path, home):
    from cnnkit.data.folder import load_folder

    root = make_folder(tmp_path / "d", {"a": 3, "b": 3})
    first = load_folder(root)
    assert not first.from_cache and first.images.shape == (6, 28, 28)
    again = load_folder(root)
    assert again.from_cache and np.array_equal(again.images, first.images)
    assert len(list((home / "folders").glob("*.npz"))) == 1
    Image.new("L", (12, 12), 255).save(root / "b" / "1.png")  # same name, new contents
    edited = load_folder(root)
    assert not edited.from_cache
    assert edited.images[edited.files.index("b/1.png")].min() == 255
    from cnnkit.data.folder import FolderOptions

    other = load_folder(root, FolderOptions(size=(14, 14)))
    assert not other.from_cache and other.images.shape == (6, 14, 14)  # options are keyed
    (home / "folders").chmod(0o500)  # an unwritable cache only costs time
    try:
        Image.new("L", (12, 12), 7).save(root / "a" / "0.png")
        assert not load_folder(root).from_cache
    finally:
        (home / "folders").chmod(0o700)


# --- export, names, fine-tuning ------------------------------------------------------------


@needs_shared
def test_export_folder_is_all_or_nothing(runner, tmp_path):
    out = tmp_path / "digits"
    result = invoke(runner, "data", "export", "--data", SHARED_MNIST, "--format", "folder",
                    "--count", "30", "--out-dir", out)
    assert result.exit_code == 0, result.stderr
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert len(files) == 30 and files[0].split("/")[0] in "0123456789"
    existing = out / files[-1]
    before = existing.read_bytes()
    again = invoke(runner, "data", "export", "--data", SHARED_MNIST, "--format", "folder",
                   "--count", "40", "--out-dir", out)
    assert again.exit_code == 1 and "exists (use --force" in again.stderr
    assert len(list(out.rglob("*.png"))) == 30 and existing.read_bytes() == before


@needs_shared
def test_fine_tuning_from_the_bundled_model(runner, tmp_path):
    """Three digit classes only: a new 3-unit output layer, the frozen conv kept exactly."""
    from cnnkit.nn.io import BUNDLED_MODEL, load_model

    out = tmp_path / "digits"
    assert invoke(runner, "data", "export", "--data", SHARED_MNIST, "--format", "folder",
                  "--count", "300", "--out-dir", out).exit_code == 0
    for digit in "3456789":
        for picture in (out / digit).iterdir():
            picture.unlink()
        (out / digit).rmdir()
    result = invoke(runner, "train", "--images", out, "--init", BUNDLED_MODEL, "--freeze",
                    "conv2d", "--epochs", "3", "--batch-size", "16", "-o", tmp_path / "t.npz")
    assert result.exit_code == 0, result.stderr
    assert "a new output layer for 3 classes; frozen: conv2d" in result.stderr
    tuned, header = load_model(tmp_path / "t.npz")
    bundled, _ = load_model(BUNDLED_MODEL)
    assert tuned.output_shape == (3,) and header["classes"] == ["0", "1", "2"]
    assert header["image"] == {"size": [28, 28], "color": "grey", "fit": "pad", "prepare": None}
    weights, original = dict(tuned.named_params()), dict(bundled.named_params())
    assert np.array_equal(weights["conv2d/kernel"], original["conv2d/kernel"])
    assert not np.array_equal(weights["dense/kernel"], original["dense/kernel"])
    report = json.loads(invoke(runner, "evaluate", tmp_path / "t.npz", "--images", out,
                               "--json").stdout)
    assert report["accuracy"] > 0.9 and report["classes"] == ["0", "1", "2"]
    info = invoke(runner, "info", tmp_path / "t.npz").stdout
    assert "classes: 0, 1, 2" in info and "pictures: 28x28 grey, fitted by pad" in info
    bad = invoke(runner, "train", "--images", out, "--init", BUNDLED_MODEL, "--freeze",
                 "conv9", "-o", tmp_path / "u.npz")
    assert bad.exit_code == 1 and "--freeze conv9: no such layer" in bad.stderr
    wrong = invoke(runner, "train", "--images", out, "--init", BUNDLED_MODEL, "--image-size",
                   "20", "-o", tmp_path / "v.npz")
    assert wrong.exit_code == 1 and "the model takes 28x28x1 inputs" in wrong.stderr


def test_predict_prints_class_names(runner, tmp_path):
    root = make_folder(tmp_path / "d", {"left": 10, "right": 10}, size=(16, 16))
    result = train(runner, "--images", root, "--color", "rgb", "--image-size", "16", "--epochs",
                   "4", "--no-augment", "-o", tmp_path / "m.npz")
    assert result.exit_code == 0, result.stderr
    shown = invoke(runner, "predict", root / "left" / "0.png", "-m", tmp_path / "m.npz",
                   "--json")
    record = json.loads(shown.stdout)
    assert record["prediction"] in ("left", "right")
    assert {g["name"] for g in record["top"]} == {"left", "right"}
    multi = invoke(runner, "predict", root / "left" / "0.png", "-m", tmp_path / "m.npz",
                   "--multi")
    assert multi.exit_code == 2 and "--multi and --show-steps are for digits" in multi.stderr


def test_any_arch_is_fitted_to_the_pictures(runner, tmp_path):
    from cnnkit.nn.io import load_model

    root = make_folder(tmp_path / "d", {"a": 4, "b": 4, "c": 4}, size=(20, 20), mode="RGB")
    result = train(runner, "--images", root, "--color", "rgb", "--image-size", "32x24",
                   "--arch", "lenet5", "-o", tmp_path / "m.npz")
    assert result.exit_code == 0, result.stderr
    model, header = load_model(tmp_path / "m.npz")
    assert model.input_shape == (24, 32, 3) and model.output_shape == (3,)
    assert header["training"]["arch"].endswith("dense 3 softmax")
    both = train(runner, "--images", root, "--arch", "lenet5", "--init", tmp_path / "m.npz",
                 "-o", tmp_path / "n.npz")
    assert both.exit_code == 2 and "give one" in both.stderr


def test_a_tampered_class_list_is_refused(tmp_path):
    from cnnkit.nn.io import ModelError, load_model, save_model
    from cnnkit.nn.model import digit_classifier

    save_model(tmp_path / "m.npz", digit_classifier(), classes=["a", "b"])
    with pytest.raises(ModelError, match="classes must be a list of 10 names"):
        load_model(tmp_path / "m.npz")


@needs_shared
def test_mix_mnist_adds_digits_of_the_folders_classes(runner, tmp_path):
    from cnnkit.nn.io import load_model

    root = make_folder(tmp_path / "d", {"1": 5, "7": 5}, size=(28, 28))
    result = invoke(runner, "train", "--images", root, "--mix-mnist", "60", "--data",
                    SHARED_MNIST, "--epochs", "1", "-q", "-o", tmp_path / "m.npz")
    assert result.exit_code == 0, result.stderr
    header = load_model(tmp_path / "m.npz")[1]
    assert header["data"]["mnist_mixed_in"] == 60 and header["classes"] == ["1", "7"]
    letters = make_folder(tmp_path / "e", {"x": 3, "y": 3})
    bad = invoke(runner, "train", "--images", letters, "--mix-mnist", "10", "--data",
                 SHARED_MNIST, "-o", tmp_path / "n.npz")
    assert bad.exit_code == 2 and "class folders named 0 to 9" in bad.stderr


def test_pictures_not_kept_in_memory_are_read_again(tmp_path, monkeypatch):
    from cnnkit.data import folder

    root = make_folder(tmp_path / "d", {"a": 3, "b": 3})
    (root / "b" / "bad.png").write_text("x")
    kept = folder.load_folder(root, cache=False)
    monkeypatch.setattr(folder, "KEEP_BYTES", 0)  # a folder of large photos: bytes dropped
    again = folder.load_folder(root, cache=False)
    assert np.array_equal(kept.images, again.images) and kept.skipped == again.skipped
    assert len(again.skipped) == 1 and again.skipped[0][0] == "b/bad.png"


@needs_shared
def test_prepare_digits_is_what_predict_sees(runner, tmp_path):
    """--prepare digits gives each picture the preparation predict gives it."""
    from cnnkit.data.folder import FolderOptions, load_folder
    from cnnkit.digits import prepare_digit
    from cnnkit.digits.from_file import digit_from_file
    from cnnkit.imaging.io import read_image

    out = tmp_path / "digits"
    assert invoke(runner, "data", "export", "--data", SHARED_MNIST, "--format", "folder",
                  "--count", "40", "--out-dir", out).exit_code == 0
    (out / "7" / "blank.png").write_bytes(b"")  # an empty file: skipped, counted
    dataset = load_folder(out, FolderOptions(prepare="digits"), preparer=digit_from_file)
    first = out / dataset.files[0]
    expected = prepare_digit(read_image(first, grey=True)).digit
    assert np.array_equal(dataset.images[0], np.clip(np.rint(expected), 0, 255))
    assert [name for name, _ in dataset.skipped] == ["7/blank.png"]
    report = invoke(runner, "evaluate", "--images", out, "--prepare", "digits", "--json")
    assert report.exit_code == 0, report.stderr
    assert json.loads(report.stdout)["accuracy"] >= 0.95
    wrong = invoke(runner, "train", "--images", out, "--prepare", "digits", "--image-size", "32",
                   "-o", tmp_path / "m.npz")
    assert wrong.exit_code == 1 and "cannot be combined with --image-size 32x32" in wrong.stderr
