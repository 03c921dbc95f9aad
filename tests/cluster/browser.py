"""Headless Chromium through selenium (Debian's ``chromium`` and ``chromium-driver``; scripts/test.sh installs them)."""

from __future__ import annotations

import shutil
from typing import Any

import pytest


def chromium() -> Any:
    """A headless Chromium session (the test is skipped with the reason when the browser is not installed)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("chromium and chromedriver are not installed (scripts/test.sh installs them with apt-get)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--window-size=1400,1200"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)
