"""The web page at `/` in a real browser (headless Chromium): upload a line, draw on the canvas,
upload a page; what the page shows must be what the API answers for the same image bytes.

The screenshot of the page result goes to a temp file, or to $TEXTREC_SCREENSHOT
(benchmarks/results/web_page.png when refreshing the committed one; look at it).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import headless_chromium, live_server
from serving_helpers import EXAMPLES, bundled_exports, detector_export

from textrec_cli.fileio import atomic_path
from textrec_cli.serving.app import create_app
from textrec_cli.serving.payload import Limits
from textrec_cli.serving.runtime import ServingRecognizer

# the committed screenshot is refreshed only on request: a test run must not rewrite tracked files
SCREENSHOT = Path(
    os.environ.get("TEXTREC_SCREENSHOT")
    or Path(tempfile.gettempdir()) / f"textrec-web_page-{os.getpid()}.png"
)  # TEXTREC_SCREENSHOT=benchmarks/results/web_page.png pytest tests/test_web_browser.py
WAIT_S = 90  # a page read on a busy 2-core machine takes a few seconds; the first one compiles


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    recognizer = ServingRecognizer.from_paths([*bundled_exports(), detector_export()])
    with live_server(create_app(recognizer, Limits())) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with headless_chromium() as driver:
        yield driver


@pytest.fixture
def page(browser: Any, base_url: str) -> Any:
    browser.get(base_url + "/")
    assert browser.title == "textrec"
    return browser


def api_predict(base_url: str, data: bytes, name: str, mode: str = "auto") -> dict[str, Any]:
    """POST /v1/predict as the page does (multipart `file`), for the expected answer."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{base_url}/v1/predict?mode={mode}",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=WAIT_S) as response:
        return json.load(response)


def wait_for_result(driver: Any) -> tuple[str, str]:
    """(#result text, #details text) once the request has been answered."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S).until(
        lambda d: (
            d.find_element(By.ID, "details").text
            or d.find_element(By.ID, "result").get_attribute("class") == "error"
        )
    )
    result = driver.find_element(By.ID, "result")
    assert result.get_attribute("class") != "error", result.text
    return result.text, driver.find_element(By.ID, "details").text


def upload(driver: Any, path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "file").send_keys(str(path))
    driver.find_element(By.ID, "send-file").click()


def test_upload_a_line_shows_its_text(page: Any, base_url: str) -> None:
    line = EXAMPLES / "line_ms.png"
    upload(page, line)
    text, details = wait_for_result(page)
    expected = api_predict(base_url, line.read_bytes(), line.name)
    assert expected["mode"] == "line" and expected["text"]
    assert text == expected["text"]
    assert details.startswith("mode line · confidence ")


def test_drawing_on_the_canvas_gets_a_reading(page: Any, base_url: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    pad = page.find_element(By.ID, "pad")
    width, height = pad.size["width"], pad.size["height"]
    actions = ActionChains(page, duration=10)
    # three pen strokes (element-relative offsets from its centre): "l", "o"-ish, "l"
    for stroke in (
        [(-250, -40), (-250, 40)],
        [(-150, 0), (-120, -25), (-90, 0), (-120, 25), (-150, 0)],
        [(-40, -40), (-40, 40)],
    ):
        actions.move_to_element_with_offset(pad, *stroke[0]).click_and_hold()
        for x, y in stroke[1:]:
            actions.move_to_element_with_offset(pad, x, y)
        actions.release()
    actions.perform()
    assert abs(width) > 300 and height > 60  # the offsets above lie inside the 720x120 canvas
    ink = page.execute_script(
        "const c = document.getElementById('pad'), d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0;"
        "for (let i = 0; i < d.length; i += 4) if (d[i] < 128) n++; return n;"
    )
    assert ink > 200, f"the strokes drew {ink} dark pixels"
    png_url = page.execute_script("return document.getElementById('pad').toDataURL('image/png')")
    drawn = base64.b64decode(png_url.split(",", 1)[1])
    page.find_element(By.ID, "send-pad").click()
    text, details = wait_for_result(page)
    expected = api_predict(base_url, drawn, "drawing.png")
    assert expected["mode"] == "line"
    assert text == (expected["text"] or "(nothing read)")
    assert details.startswith("mode line · confidence ")


def test_upload_a_page_draws_its_line_boxes(page: Any, base_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    scan = EXAMPLES / "page_copiste.jpg"
    upload(page, scan)
    _, details = wait_for_result(page)
    expected = api_predict(base_url, scan.read_bytes(), scan.name)
    assert expected["mode"] == "page" and len(expected["lines"]) >= 10  # 14 lines written
    assert details.startswith("mode page") and f"· {len(expected['lines'])} lines" in details
    items = page.find_elements(By.CSS_SELECTOR, "#page-lines li")
    shown = [item.get_attribute("textContent") for item in items]  # `.text` folds spaces
    assert [text.rsplit("  (", 1)[0] for text in shown] == [
        line["text"] for line in expected["lines"]
    ]
    view = page.find_element(By.ID, "page-view")
    WebDriverWait(page, WAIT_S).until(lambda _: view.is_displayed())
    # the outlines are drawn in #d0021b: count those pixels on the page view
    red = page.execute_script(
        "const c = document.getElementById('page-view'), d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0;"
        "for (let i = 0; i < d.length; i += 4)"
        " if (d[i] > 150 && d[i + 1] < 80 && d[i + 2] < 80) n++; return n;"
    )
    assert red > 100 * len(expected["lines"]), f"{red} red pixels for the line outlines"
    # the whole page in one screenshot: the window as tall as the document
    height = page.execute_script("return document.documentElement.scrollHeight")
    page.set_window_size(1000, height + 120)
    with atomic_path(SCREENSHOT) as tmp:
        tmp.write_bytes(page.get_screenshot_as_png())
