"""Open ``ad.html`` in a real headless Chromium (Selenium): the page test and its screenshot.

Chromium comes from the system (Debian ``chromium`` + ``chromium-driver``, installed by
``scripts/setup.sh``), started isolated: no sandbox (root in containers), no GPU, no
background networking, component updates or sync, and a fresh profile folder.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from uniad.errors import UniADError

CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--allow-file-access-from-files",
                  "--autoplay-policy=no-user-gesture-required", "--window-size=1100,900")


def browser_missing() -> str | None:
    """Why no browser session can start here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install -e '.[test]')"
    for binary in ("chromium", "chromedriver"):
        if shutil.which(binary) is None:
            return f"{binary} not installed (apt install chromium chromium-driver)"
    return None


@contextmanager
def headless_chromium() -> Iterator[Any]:
    """A Selenium WebDriver on a fresh headless Chromium, closed on exit."""
    reason = browser_missing()
    if reason:
        raise UniADError(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="uniad-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")),
                                  options=options)
        try:
            yield driver
        finally:
            driver.quit()
