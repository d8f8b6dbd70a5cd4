"""``cnnkit serve`` in a real browser: headless Debian Chromium driven by Selenium.

One server and one browser for the module. Run with CNNKIT_SCREENSHOTS=1 to refresh the
pictures in docs/images/serve/ (docs/serve.md shows them); otherwise they go to a temp dir.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.browser

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")
WAIT = 30  # s: the most any condition may take (a first start of Chromium on a busy machine)


def _missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    for module in ("selenium", "starlette", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e '.[test]')"
    return None


if _missing():
    pytest.skip(_missing(), allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def server():
    from cnnkit.nn.io import BUNDLED_MODEL
    from cnnkit.serve.app import create_app, warm_up
    from tests.serve_server import Running

    app = create_app(BUNDLED_MODEL)
    warm_up(app)
    running = Running(app)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.add_argument("--window-size=1360,1000")
    # the system chromedriver: Selenium Manager never downloads anything
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    if os.environ.get("CNNKIT_SCREENSHOTS"):
        return ROOT / "docs" / "images" / "serve"
    return tmp_path_factory.mktemp("screens")


def _wait(driver, condition, what: str):
    return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(
        lambda d: condition(d), message=f"page never showed {what}")


def _error_shown(driver) -> bool:
    message = driver.find_element(By.ID, "message")
    return "error" in message.get_attribute("class").split() and bool(message.text)


def _screenshot(driver, path: Path, height: int | None = None):
    """A screenshot of the whole page (the window is stretched to its height)."""
    height = height or driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1360, height + 140)  # the window's frame takes some of it
    driver.save_screenshot(str(path))
    driver.set_window_size(1360, 1000)


def _stroke(actions: ActionChains, pad, points):
    """Press at the first point (pad pixels from its centre), move through the rest, release."""
    x, y = points[0]
    actions.move_to_element_with_offset(pad, x, y).click_and_hold()
    for nx, ny in points[1:]:
        steps = 6
        for k in range(1, steps + 1):  # many small moves, as a hand makes
            actions.move_by_offset(round((nx - x) * k / steps) - round((nx - x) * (k - 1) / steps),
                                   round((ny - y) * k / steps) - round((ny - y) * (k - 1) / steps))
        x, y = nx, ny
    actions.release()


def test_drawing_a_seven_shows_7_with_the_maps(server, browser, shots):
    browser.get(server.url)
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"),
          "the model's description")
    browser.find_element(By.CSS_SELECTOR, "#steps-box summary").click()  # show the stages
    pad = browser.find_element(By.ID, "pad")
    actions = ActionChains(browser, duration=10)
    # a 7: the top bar left to right, then the long diagonal down to the lower left
    _stroke(actions, pad, [(-75, -85), (75, -85), (-10, 95)])
    actions.perform()
    _wait(browser, lambda d: d.find_element(By.ID, "digit").text == "7", "the digit 7")
    drawn = browser.execute_script(
        "return [...document.querySelectorAll('#layers canvas[data-name]')]"
        ".map((c) => c.dataset.name)")
    assert drawn == ["conv2d", "max_pooling2d"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#bars .bar.top")) == 1
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#stages canvas")) >= 3,
          "the preparation's stages")
    _screenshot(browser, shots / "draw.png")

    browser.find_element(By.ID, "undo").click()  # the only stroke: the pad is blank again
    _wait(browser, lambda d: d.find_element(By.ID, "digit").text == "?", "a blank answer")


def test_a_finger_can_draw_too(server, browser):
    """Touch input: the pad listens to pointer events, which fingers and pens send as well."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    browser.get(server.url)
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"),
          "the model's description")
    pad = browser.find_element(By.ID, "pad")
    finger = ActionBuilder(browser, mouse=PointerInput(interaction.POINTER_TOUCH, "finger"),
                           duration=10)
    finger.pointer_action.move_to(pad, 5, -95).pointer_down()
    for y in range(-80, 100, 15):  # a 1: one stroke straight down
        finger.pointer_action.move_to(pad, 0, y)
    finger.pointer_action.pointer_up()
    finger.perform()
    _wait(browser, lambda d: d.find_element(By.ID, "digit").text == "1", "the digit 1")


def _truncated_png() -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="PNG")
    return buffer.getvalue()[:600]  # a download cut short


def _drop(driver, target_id: str, data: bytes, name: str):
    """Drop a file on an element, as a user dragging it from the desktop would."""
    driver.execute_script("""
        const [id, bytes, name] = arguments;
        const file = new File([new Uint8Array(bytes)], name);
        const transfer = new DataTransfer();
        transfer.items.add(file);
        const target = document.getElementById(id);
        for (const kind of ["dragenter", "dragover", "drop"]) {
          target.dispatchEvent(new DragEvent(kind, {dataTransfer: transfer, bubbles: true,
                                                    cancelable: true}));
        }""", target_id, list(data), name)


def test_dropping_a_corrupt_file_shows_a_message(server, browser):
    browser.get(server.url)
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"),
          "the model's description")
    _drop(browser, "pad", b"\x89PNG\r\n\x1a\n this is not really a picture", "broken.png")
    _wait(browser, _error_shown, "an error message")
    assert "not a picture" in browser.find_element(By.ID, "message").text
    assert server.json("/api/info")[0] == 200  # and the server carries on
    # a real photo of a digit dropped next: read as cnnkit predict reads the file
    photo = (ROOT / "samples" / "digits" / "0_7.jpg").read_bytes()
    _drop(browser, "pad", photo, "0_7.jpg")
    _wait(browser, lambda d: d.find_element(By.ID, "digit").text == "7", "the digit 7")
    assert browser.find_element(By.ID, "message").text == ""

    browser.get(server.url + "kernels")
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"),
          "the kernels page")
    _wait(browser, lambda d: d.find_element(By.ID, "result").get_attribute("data-version"),
          "a first result")
    _drop(browser, "dropzone", _truncated_png(), "cut.png")
    _wait(browser, _error_shown, "an error message")
    assert "corrupt or truncated" in browser.find_element(By.ID, "message").text


def test_editing_a_kernel_cell_changes_the_result(server, browser, shots):
    browser.get(server.url + "kernels")
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"),
          "the kernels page")
    result = browser.find_element(By.ID, "result")
    _wait(browser, lambda d: result.get_attribute("data-version"), "a first result")
    version, first = result.get_attribute("data-version"), result.get_attribute("src")
    assert browser.find_element(By.ID, "sum").text.startswith("sum of the kernel: 0")

    centre = browser.find_element(By.CSS_SELECTOR, "#matrix input[data-row='1'][data-col='1']")
    centre.clear()
    centre.send_keys("-3")  # laplacian with -3 in the middle: no longer zero-sum
    _wait(browser, lambda d: "sum of the kernel: 1 " in d.find_element(By.ID, "sum").text,
          "the new sum")
    _wait(browser, lambda d: result.get_attribute("data-version") != version
          and result.get_attribute("src") != first, "a new result")
    assert browser.find_element(By.ID, "named").get_attribute("value") == ""

    # the step-through: two steps on, the window has moved one cell right
    browser.find_element(By.ID, "next").click()
    _wait(browser, lambda d: "output[0, 1]" in d.find_element(By.ID, "sumline").text,
          "the second step")
    assert browser.find_element(By.ID, "sumline").text.endswith("= 3")
    _screenshot(browser, shots / "kernels.png")
