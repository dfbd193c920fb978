"""A real browser for tests: headless Chromium (Debian's `chromium` + `chromium-driver`) driven by
Selenium, and a live uvicorn server for it to load pages from.

Nothing downloads a browser: Selenium is pointed at the installed binaries ($TEXTREC_CHROMIUM,
$TEXTREC_CHROMEDRIVER, else PATH). Without them a test skips with the reason, except under CI=true,
where it fails (.ci/run installs them).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)


def _find(env: str, names: tuple[str, ...]) -> str | None:
    if os.environ.get(env):
        return os.environ[env] if os.access(os.environ[env], os.X_OK) else None
    return next((found for name in names if (found := shutil.which(name))), None)


def chromium_paths() -> tuple[str, str]:
    """(browser, driver) executables, or a skip (a failure under CI=true) saying what is missing."""
    browser = _find("TEXTREC_CHROMIUM", BROWSER_NAMES)
    driver = _find("TEXTREC_CHROMEDRIVER", DRIVER_NAMES)
    missing = [name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[dev]')")
    if missing:
        reason = (
            f"{' and '.join(missing)} not found: apt-get install -y chromium chromium-driver "
            "(or set TEXTREC_CHROMIUM / TEXTREC_CHROMEDRIVER)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)
    return browser, driver  # type: ignore[return-value]


@contextmanager
def headless_chromium(width: int = 1000, height: int = 1600) -> Iterator[Any]:
    """A Selenium Chrome WebDriver on headless Chromium, closed on exit."""
    browser, driver_path = chromium_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",  # tests run as root (CI); the sandbox refuses root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def live_server(app: Any, timeout_s: float = 30.0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound before the server starts: no race for the port
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port} within {timeout_s:g} s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
