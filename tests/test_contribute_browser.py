"""`/contribute` in a real browser (headless Chromium): write the prompt on the canvas with the
pointer, choose a licence, consent, send; the sample (image and strokes) is in the store and in
`label-export --source contributions`. Sending without consent or ink stores nothing."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import headless_chromium, live_server
from cli_helpers import run_cli
from fastapi import FastAPI
from PIL import Image

from textrec_cli.monitoring.store import PredictionStore
from textrec_cli.serving.contribute import PromptSource, contribute_router, is_blank

WAIT_S = 30


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, PredictionStore, Path]]:
    path = tmp_path / "store.sqlite"
    with PredictionStore(path) as store:
        app = FastAPI()
        prompts = PromptSource(use_corpus=False, seed=3)
        app.include_router(contribute_router(store=store, prompts=prompts))
        with live_server(app) as url:
            yield url, store, path


def _status(driver: Any, cls: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.ID, "status").get_attribute("class") == cls
    )
    return driver.find_element(By.ID, "status").text


def _write(driver: Any) -> None:
    """Three pointer strokes across the canvas (offsets from its centre)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    pad = driver.find_element(By.ID, "pad")
    actions = ActionChains(driver, duration=10)
    for stroke in (
        [(-300, -40), (-300, 40)],
        [(-200, 0), (-170, -25), (-140, 0), (-170, 25), (-200, 0)],
        [(-60, -40), (-60, 40), (-20, 40)],
    ):
        actions.move_to_element_with_offset(pad, *stroke[0]).click_and_hold()
        for x, y in stroke[1:]:
            actions.move_to_element_with_offset(pad, x, y)
        actions.release()
    actions.perform()


def test_writing_on_the_canvas_is_stored_and_exported(
    served: tuple[str, PredictionStore, Path], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, store, path = served
    with headless_chromium(width=1000, height=1400) as driver:
        driver.get(url + "/contribute")
        prompt = driver.find_element(By.ID, "prompt")
        WebDriverWait(driver, WAIT_S).until(lambda _: prompt.text not in ("", "…"))
        shown = prompt.text

        driver.find_element(By.ID, "send").click()  # no licence, no ink: refused in the page
        assert "licence" in _status(driver, "error").lower()
        driver.find_element(By.CSS_SELECTOR, "input[name=licence][value='CC-BY-4.0']").click()
        driver.find_element(By.ID, "send").click()
        assert "consent" in _status(driver, "error").lower()
        driver.find_element(By.ID, "consent").click()
        driver.find_element(By.ID, "send").click()
        assert "canvas" in _status(driver, "error").lower()
        assert store.contribution_count() == 0

        _write(driver)
        driver.find_element(By.ID, "writer").send_keys("browser-owl")
        driver.find_element(By.ID, "send").click()
        assert "stored" in _status(driver, "ok")

    [sample] = store.contributions(with_images=True, with_strokes=True)
    assert (sample.prompt, sample.kind, sample.licence, sample.writer_id) == (
        shown, "canvas", "CC-BY-4.0", "browser-owl"
    )  # fmt: skip
    assert [len(s["points"]) >= 2 for s in sample.strokes] == [True, True, True]
    assert {s["type"] for s in sample.strokes} == {"mouse"}
    image = Image.open(io.BytesIO(sample.png))
    assert image.size == (1200, 200) and not is_blank(image)

    out = tmp_path / "review"
    result = run_cli("label-export", out, "--store", path, "--source", "contributions", "--json")
    assert result.exit_code == 0, result.stderr
    [task] = json.loads((out / "tasks.json").read_text())
    assert task["predictions"][0]["result"][0]["value"]["text"] == [shown]
    assert task["data"]["writer_id"] == "browser-owl"
    assert (out / "images" / f"{sample.image_hash}.png").read_bytes() == sample.png
