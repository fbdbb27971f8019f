"""Headless Chromium through Selenium, for the viewer page tests and bench/viz.py.

`chrome()` starts the system Chromium (Debian `chromium` + `chromium-driver`) with a fresh
profile and no network services; `missing()` says in one line what is not installed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,900"]


def browser_binary() -> str | None:
    return next((p for p in CHROMIUM if os.path.exists(p)), None)


def missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[test]'"
    if browser_binary() is None:
        return "no Chromium: apt-get install chromium chromium-driver (.ci/run does)"
    if not (os.path.exists(DRIVER) or shutil.which("chromedriver")):
        return "no chromedriver: apt-get install chromium-driver"
    return None


@contextmanager
def chrome(width: int = 1400, height: int = 900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="graphc-chrome-")
    opts = webdriver.ChromeOptions()
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--window-size={width},{height}")
    opts.add_argument(f"--user-data-dir={profile}")
    opts.binary_location = browser_binary()
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = DRIVER if os.path.exists(DRIVER) else shutil.which("chromedriver")
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, script: str, timeout: float = 60.0, step: float = 0.05):
    """Poll `return <script>` until it is truthy; returns its value (AssertionError on timeout)."""
    end = time.monotonic() + timeout
    while True:
        value = driver.execute_script("return " + script)
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {script}")
        time.sleep(step)


def open_page(driver, path: str, timeout: float = 90.0) -> float:
    """Load a page from file:// and wait for its first drawing; returns the seconds it took."""
    start = time.monotonic()
    driver.get("file://" + os.path.abspath(path))
    wait_for(driver, "document.body.dataset.state === 'ready' || document.body.dataset.state === 'error'", timeout)
    return time.monotonic() - start


def renders(driver) -> int:
    return int(driver.execute_script("return +(document.body.dataset.renders || 0)"))


def click_and_wait(driver, element, timeout: float = 60.0) -> float:
    """Click and wait for the page to draw again; returns the seconds it took."""
    before = renders(driver)
    start = time.monotonic()
    element.click()
    wait_for(driver, f"+(document.body.dataset.renders || 0) > {before} && document.body.dataset.state === 'ready'",
             timeout)
    return time.monotonic() - start


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
