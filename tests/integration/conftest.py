"""What several integration test files share (pytest loads this file first):

- `fake`: the fake OpenAI-compatible upstream (fake_openai.py), one per test file;
- `browser` and `browser_nojs` (JavaScript off): a real headless Chromium through selenium, one
  per test file, at the window size the file names in WINDOW ("W,H", default "1280,900"), with
  the browser console kept for the test to read. A test that asks for one skips when chromium,
  chromedriver or selenium are missing.
"""

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import fake_openai  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
except ImportError:  # pragma: no cover - the browser fixtures skip
    webdriver = None


@pytest.fixture(scope="module")
def fake():
    s = fake_openai.Server().start()
    yield s
    s.close()


def _driver(request, javascript):
    if webdriver is None:
        pytest.skip("selenium is not installed (scripts/setup --deps)")
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromium-driver are not installed (scripts/setup --deps)")
    o = Options()
    o.binary_location = CHROMIUM
    window = getattr(request.module, "WINDOW", "1280,900")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=" + window, "--no-proxy-server"):
        o.add_argument(a)
    if not javascript:
        o.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    yield d
    d.quit()


@pytest.fixture(scope="module")
def browser(request):
    yield from _driver(request, True)


@pytest.fixture(scope="module")
def browser_nojs(request):
    yield from _driver(request, False)
