"""Headless Chromium through selenium, for the browser tests (conftest.py's `browser` and
`browser_nojs` fixtures use it; a test file that needs its own driver imports make_driver).
CHROMIUM, CHROMEDRIVER: the programs, or None; make_driver is None when selenium is missing."""

import shutil

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
except ImportError:  # pragma: no cover - the browser tests skip
    webdriver = None


def _make_driver(javascript=True, window="1280,900"):
    """Headless Chromium at window ("W,H"), with the browser console kept for the test to read."""
    o = Options()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=" + window, "--no-proxy-server"):
        o.add_argument(a)
    if not javascript:
        o.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)


make_driver = _make_driver if webdriver is not None else None
