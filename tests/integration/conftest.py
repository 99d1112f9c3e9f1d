"""What several integration test files share (pytest loads this file first):

- `fake`: the fake OpenAI-compatible upstream (fake_openai.py), one per test file;
- `providers`: the fake Anthropic and Gemini upstreams (fake_providers.py), one per test file;
- `browser` and `browser_nojs` (JavaScript off): a real headless Chromium through selenium, one
  per test file, at the window size the file names in WINDOW ("W,H", default "1280,900"), with
  the browser console kept for the test to read. A test that asks for one skips when chromium,
  chromedriver or selenium are missing (chromium.py makes the driver).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import fake_openai  # noqa: E402
import fake_providers  # noqa: E402

from chromium import CHROMEDRIVER, CHROMIUM, make_driver  # noqa: E402


@pytest.fixture(scope="module")
def fake():
    s = fake_openai.Server().start()
    yield s
    s.close()


@pytest.fixture(scope="module")
def providers():
    s = fake_providers.Server().start()
    yield s
    s.close()


def _driver(request, javascript):
    if make_driver is None:
        pytest.skip("selenium is not installed (scripts/setup --deps)")
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromium-driver are not installed (scripts/setup --deps)")
    d = make_driver(javascript, getattr(request.module, "WINDOW", "1280,900"))
    yield d
    d.quit()


@pytest.fixture(scope="module")
def browser(request):
    yield from _driver(request, True)


@pytest.fixture(scope="module")
def browser_nojs(request):
    yield from _driver(request, False)
