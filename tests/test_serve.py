"""``cnnkit serve`` without a browser: the API over a real loopback server, the digit and
kernel computations against the CLI's own library calls, limits, bad input, the command."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.conftest import invoke

pytest.importorskip("starlette", reason="the serve extra is not installed")
pytest.importorskip("uvicorn", reason="the serve extra is not installed")

LIMIT_BYTES = 2 * 1024 * 1024
LIMIT_PIXELS = 4_000_000


@pytest.fixture(scope="module")
def server():
    from cnnkit.nn.io import BUNDLED_MODEL
    from cnnkit.serve.app import create_app
    from tests.serve_server import Running

    running = Running(create_app(BUNDLED_MODEL, max_bytes=LIMIT_BYTES, max_pixels=LIMIT_PIXELS))
    yield running
    running.stop()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def drawn_seven() -> Image.Image:
    """Black strokes on a white 280x280 pad, as the draw page sends them."""
    image = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(image).line([(65, 55), (215, 55), (130, 235)], fill=0, width=18, joint="curve")
    return image


def test_pages_and_static_files_are_served_with_a_strict_policy(server):
    for path, kind in (("/", "text/html"), ("/kernels", "text/html"),
                       ("/static/draw.js", "text/javascript"), ("/static/style.css", "text/css")):
        status, headers, body = server.request(path)
        assert status == 200 and headers["content-type"].startswith(kind) and body
        assert "default-src 'self'" in headers["content-security-policy"]
    html = server.request("/")[2].decode()
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere


@pytest.mark.parametrize("path", [
    "/static/..%2fapp.py", "/static/%2e%2e/app.py", "/static/../app.py", "/static/app.py",
    "/api/pictures/..%2f..%2fmodels%2fdigit_classifier.npz.png", "/api/pictures/testcard.npz",
    "/static/..%2f..%2fmodels%2fdigit_classifier.npz", "/etc/passwd",
])
def test_no_request_reads_a_file_the_page_does_not_offer(server, path):
    status, _, body = server.request(path)
    assert status == 404
    assert b"import" not in body and b"PK" not in body[:4]


def test_a_drawn_seven_is_read_as_predict_reads_it(server):
    from cnnkit import digits
    from cnnkit.imaging.io import Picture
    from cnnkit.nn.io import BUNDLED_MODEL, load_model

    image = drawn_seven()
    status, result = server.json("/api/look", png(image))
    assert status == 200 and result["digit"] == 7 and result["confidence"] > 0.9
    # the CLI's path: the same preparation, the whole model at once
    prepared = digits.prepare_digit(Picture(np.asarray(image, np.float32), None, 255.0))
    model, _ = load_model(BUNDLED_MODEL)
    expected = model.predict_proba(prepared.digit[None, :, :, None] / np.float32(255))[0]
    np.testing.assert_allclose(result["probs"], expected, atol=1e-5)
    seen = np.frombuffer(base64.b64decode(result["prepared"]), np.uint8).reshape(28, 28)
    np.testing.assert_array_equal(seen, np.rint(prepared.digit).astype(np.uint8))
    assert [(m["name"], m["shape"]) for m in result["layers"]] == [
        ("conv2d", [26, 26, 32]), ("max_pooling2d", [13, 13, 32])]


def test_the_preparation_stages_come_on_request(server):
    body = png(drawn_seven())
    assert server.json("/api/look", body)[1]["stages"] == []
    result = server.json("/api/look?stages=1", body)[1]
    last = result["stages"][-1]
    assert len(result["stages"]) >= 3 and (last["width"], last["height"]) == (28, 28)
    final = np.frombuffer(base64.b64decode(last["data"]), np.uint8)
    prepared = np.frombuffer(base64.b64decode(result["prepared"]), np.uint8)
    assert np.abs(final.astype(int) - prepared).max() <= 1  # the last stage is the input


def test_feature_maps_are_the_layers_outputs_on_one_scale(server):
    from cnnkit import digits
    from cnnkit.imaging.io import Picture
    from cnnkit.nn.io import BUNDLED_MODEL, load_model
    from cnnkit.nn.probe import feature_maps

    image = drawn_seven()
    result = server.json("/api/look", png(image))[1]
    model, _ = load_model(BUNDLED_MODEL)
    prepared = digits.prepare_digit(Picture(np.asarray(image, np.float32), None, 255.0))
    maps = feature_maps(model, prepared.digit[:, :, None] / np.float32(255))
    for layer, key in zip(result["layers"], ("relu", "pool")):
        h, w, c = layer["shape"]
        got = np.frombuffer(base64.b64decode(layer["data"]), np.uint8).reshape(c, h, w)
        want = maps[key].transpose(2, 0, 1)
        assert not layer["signed"] and layer["hi"] == pytest.approx(float(want.max()), rel=1e-5)
        np.testing.assert_allclose(got, want * (255 / want.max()), atol=1.01)


def test_any_model_file_shows_every_conv_and_pooling_layer(tmp_path):
    from cnnkit.imaging.io import Picture
    from cnnkit.nn.io import save_model
    from cnnkit.nn.layers import Conv2D, Dense, Flatten, MaxPool2D
    from cnnkit.nn.model import Sequential
    from cnnkit.serve.look import DigitLab

    model = Sequential([Conv2D(4, 3, activation="relu"), MaxPool2D(2), Conv2D(6, 3),
                        MaxPool2D(2), Flatten(), Dense(10, activation="softmax")], seed=3)
    save_model(tmp_path / "two.npz", model)
    result = DigitLab(tmp_path / "two.npz").look(
        Picture(np.asarray(drawn_seven(), np.float32), None, 255.0))
    assert [(m["kind"], m["shape"]) for m in result["layers"]] == [
        ("Conv2D", [26, 26, 4]), ("MaxPool2D", [13, 13, 4]), ("Conv2D", [11, 11, 6]),
        ("MaxPool2D", [5, 5, 6])]
    assert result["layers"][2]["signed"]  # no ReLU: negative values, a diverging scale
    assert sum(result["probs"]) == pytest.approx(1, abs=1e-5)


def _truncated() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    return png(Image.fromarray(noise))[:600]


@pytest.mark.parametrize("body, status, words", [
    (b"", 400, "empty"),
    (b"GIF87a? not really", 415, "not a picture"),
    (b"%PDF-1.4 a document", 415, "not a picture"),
    (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", 415, "not a picture"),  # no gs
    ("truncated", 422, "corrupt or truncated"),
    ("bomb", 413, "megapixels"),
    ("blank", 422, "no digit found"),
])
def test_bad_uploads_get_a_clear_message_and_the_server_carries_on(server, body, status, words):
    if body == "truncated":
        body = _truncated()
    elif body == "bomb":  # 25 MP of one colour: a few kB of PNG
        body = png(Image.new("L", (5000, 5000), 255))
    elif body == "blank":
        body = png(Image.new("L", (280, 280), 255))
    for path in ("/api/look", "/api/pictures"):
        if body == png(Image.new("L", (280, 280), 255)) and path == "/api/pictures":
            continue  # a blank picture is a fine picture to filter
        got, answer = server.json(path, body)
        assert got == status and words in answer["error"], (path, answer)
    assert server.json("/api/info")[0] == 200


def _raw_post(server, path: str, head: dict, body: bytes):
    """POST with hand-made headers over one connection; (status, error message)."""
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.putrequest("POST", path)
    for name, value in head.items():
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(body)
    response = connection.getresponse()
    answer = json.loads(response.read())["error"]
    connection.close()
    return response.status, answer


def test_an_upload_over_the_size_limit_is_refused_before_it_is_read(server):
    # the declared length alone is enough to refuse: the body is never sent
    status, answer = _raw_post(server, "/api/look", {"Content-Length": str(50 * 2**20)}, b"")
    assert status == 413 and "too large" in answer and "limit is 2 MB" in answer
    # a client that declares no length is counted as the body streams in
    chunk = b"%x\r\n%s\r\n" % (65536, bytes(65536))
    body = chunk * (LIMIT_BYTES // 65536 + 1) + b"0\r\n\r\n"
    status, answer = _raw_post(server, "/api/pictures", {"Transfer-Encoding": "chunked"}, body)
    assert status == 413 and "too large" in answer
    assert server.json("/api/info")[0] == 200


def test_an_unexpected_failure_is_a_500_and_the_server_carries_on(server, monkeypatch):
    def broken(*args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(server.app.state.lab, "look", broken)
    status, answer = server.json("/api/look", png(drawn_seven()))
    assert status == 500 and "internal error (RuntimeError)" in answer["error"]
    monkeypatch.undo()
    assert server.json("/api/look", png(drawn_seven()))[1]["digit"] == 7


def _result_pixels(result: dict) -> np.ndarray:
    data = base64.b64decode(result["image"].split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)))


def test_the_kernel_page_filters_as_cnnkit_filter_does(server):
    from cnnkit.imaging import io as imaging
    from cnnkit.imaging import kernels
    from cnnkit.imaging.filtering import FilterOptions, apply_filter
    from cnnkit.ops.pool import max_pool

    card = imaging.read_image(
        __import__("importlib.resources").resources.files("cnnkit") / "assets" / "testcard.png")
    status, result = server.json("/api/filter", {
        "picture": "testcard", "kernel": {"name": "laplacian"}, "op": "conv",
        "border": "reflect", "relu": True, "pool": True, "range": "auto"})
    assert status == 200 and result["range"] == "clip"  # after ReLU nothing is signed
    expected = max_pool(apply_filter(card.pixels, kernels.build("laplacian"),
                                     FilterOptions(relu=True)), 2)
    want = np.rint(imaging.map_range(expected, "clip", 255)[0])
    np.testing.assert_array_equal(_result_pixels(result), want.astype(np.uint8))
    assert result["kernel"]["sum"] == 0 and result["kernel"]["zero_sum"]


def test_the_models_learned_kernels_are_offered_and_applied_by_correlation(server):
    from cnnkit.imaging import io as imaging
    from cnnkit.imaging import kernels
    from cnnkit.imaging.filtering import FilterOptions, apply_filter

    status, info = server.json("/api/info")
    assert info["learned"] == [f"model:conv2d/{k}" for k in range(32)]
    status, spec = server.json("/api/kernels/model%3Aconv2d%2F7")
    assert status == 200 and spec["op"] == "corr"
    bundled = kernels.learned("model:conv/7")
    np.testing.assert_array_equal(spec["matrices"][0], bundled.kernel)
    status, result = server.json("/api/filter", {"picture": "testcard", "op": "corr",
                                                 "kernel": {"name": "model:conv2d/7"}})
    card = imaging.read_image(
        __import__("importlib.resources").resources.files("cnnkit") / "assets" / "testcard.png")
    out = apply_filter(card.pixels, bundled, FilterOptions(op="corr"))
    mode = result["range"]
    want = np.rint(imaging.map_range(out, mode, 255)[0]).astype(np.uint8)
    assert np.abs(_result_pixels(result).astype(int) - want).max() <= 1
    for name in ("model:conv2d/99", "model:/etc/passwd:conv/1"):
        status, answer = server.json("/api/filter", {"picture": "testcard",
                                                     "kernel": {"name": name}})
        assert status == 422 and "has no kernel" in answer["error"]


def test_editing_one_cell_changes_the_result_and_the_sum(server):
    base = {"picture": "squares", "op": "corr", "border": "zero", "range": "offset"}
    matrix = [[0, 0, 0], [0, 1, 0], [0, 0, 0]]
    first = server.json("/api/filter", {**base, "kernel": {"matrix": matrix}})[1]
    matrix[0][2] = -1
    second = server.json("/api/filter", {**base, "kernel": {"matrix": matrix}})[1]
    assert first["kernel"]["sum"] == 1 and second["kernel"]["sum"] == 0
    assert not np.array_equal(_result_pixels(first), _result_pixels(second))


@pytest.mark.parametrize("request_, status, words", [
    ({"kernel": {"matrix": [[1, 2], [3, 4]]}}, 422, "odd sides"),
    ({"kernel": {"matrix": [[1, "x", 1]]}}, 422, "number"),
    ({"kernel": {"matrix": [[1, 2, 3], [1, 2]]}}, 422, "same length"),
    ({"kernel": {"matrix": [[0] * 17] * 17}}, 422, "at most 15x15"),
    ({"kernel": {"matrix": [[1e300]]}}, 422, "finite"),
    ({"kernel": {"name": "sobl"}}, 422, "did you mean 'sobel'"),
    ({"kernel": {"name": "box"}, "border": "nowhere"}, 422, "border must be one of"),
    ({"kernel": {"name": "box"}, "picture": "../../etc/passwd"}, 404, "no longer here"),
])
def test_bad_kernel_requests_are_explained(server, request_, status, words):
    got, answer = server.json("/api/filter", {"picture": "testcard", **request_})
    assert got == status and words in answer["error"]


def test_a_dropped_picture_is_kept_under_a_token_and_shrunk_for_live_editing(server):
    y, x = np.mgrid[0:1200, 0:1600]
    big = Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8))
    status, held = server.json("/api/pictures", png(big), {"X-Filename": "photo.png"})
    assert status == 200 and held["name"].startswith("u") and held["colour"]
    assert held["width"] * held["height"] <= 1 << 20 and "shrunk from 1600x1200" in held["note"]
    status, headers, body = server.request(f"/api/pictures/{held['name']}.png")
    assert status == 200 and Image.open(io.BytesIO(body)).size == (held["width"], held["height"])
    status, result = server.json("/api/filter", {"picture": held["name"],
                                                 "kernel": {"name": "box"}})
    assert status == 200 and _result_pixels(result).shape == (held["height"], held["width"], 3)


def test_requests_for_another_host_name_are_refused(server):
    """A page elsewhere that rebinds its DNS name to 127.0.0.1 cannot use the API."""
    status, _, _ = server.request("/api/info", headers={"Host": "attacker.example"})
    assert status == 400


def test_bad_json_is_explained(server):
    status, _, body = server.request("/api/filter", b"{not json",
                                     {"Content-Type": "application/json"})
    assert status == 400 and "not valid JSON" in json.loads(body)["error"]
    status, _, body = server.request("/api/filter", b"", {"Content-Type": "application/json"})
    assert status == 400 and "no JSON body" in json.loads(body)["error"]


def test_the_step_through_uses_explain_numbers(server):
    status, conv = server.json("/api/explain?kind=conv")
    assert status == 200 and conv["output"] == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    first = conv["steps"][0]
    assert first["rows"] == [0, 3] and sum(map(sum, first["products"])) == first["value"] == 4
    status, pool = server.json("/api/explain", {"kind": "pool"})
    assert pool["output"] == [[6, 8], [3, 4]] and pool["steps"][0]["chosen"] == [1, 1]
    status, relu = server.json("/api/explain", {"kind": "relu", "image": [[-2, 3]]})
    assert relu["output"] == [[0, 3]]
    status, answer = server.json("/api/explain", {"kind": "softmax"})
    assert status == 422 and "kind must be one of" in answer["error"]


# the command -------------------------------------------------------------------------------

def test_serve_without_the_extra_gives_the_install_hint(runner, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now raises ImportError
    result = invoke(runner, "serve")
    assert result.exit_code == 1
    assert "pip install 'cnnkit[serve]'" in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_a_model_it_cannot_load(runner, tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    result = invoke(runner, "serve", "--model", tmp_path / "bad.npz")
    assert result.exit_code == 1 and "not a cnnkit model file" in result.stderr


def test_serve_binds_loopback_by_default_and_warns_for_other_hosts(runner, monkeypatch):
    import uvicorn

    bound = []
    monkeypatch.setattr(uvicorn.Server, "run",
                        lambda self, sockets: bound.append(sockets[0].getsockname()))
    result = invoke(runner, "serve")
    assert result.exit_code == 0 and bound[0][0] == "127.0.0.1" and bound[0][1] > 0
    assert f"http://127.0.0.1:{bound[0][1]}/" in result.stdout and "warning" not in result.stderr
    result = invoke(runner, "serve", "--host", "0.0.0.0")
    assert result.exit_code == 0 and "warning:" in result.stderr and "no login" in result.stderr


def test_serve_refuses_a_model_that_does_not_read_28x28_digits(runner, tmp_path):
    from cnnkit.nn.io import save_model
    from cnnkit.nn.layers import Conv2D, Dense, Flatten
    from cnnkit.nn.model import Sequential

    model = Sequential([Conv2D(2, 3), Flatten(), Dense(10, activation="softmax")], (32, 32, 1))
    save_model(tmp_path / "big.npz", model)
    result = invoke(runner, "serve", "--model", tmp_path / "big.npz")
    assert result.exit_code == 1 and "needs a model of 28x28x1 digits" in result.stderr


def test_serve_says_when_the_port_is_taken(runner):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = invoke(runner, "serve", "--port", port)
    assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_is_loopback():
    from cnnkit.cli.serve_cmd import is_loopback

    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.5", "localhost", "::1", "[::1]"]))
    assert not any(map(is_loopback, ["0.0.0.0", "192.168.1.4", "::", "example.org"]))


def test_the_real_command_prints_its_url_serves_and_stops_on_ctrl_c():
    import signal
    import subprocess
    import sys
    import urllib.request

    from tests.conftest import ROOT

    process = subprocess.Popen([sys.executable, "-m", "cnnkit", "serve"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("cnnkit serve: http://127.0.0.1:"), line + process.stderr.read()
        url = line.split()[2]
        with urllib.request.urlopen(url + "api/info", timeout=30) as response:
            assert json.loads(response.read())["model"] == "digit_classifier.npz"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0 and "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
