"""Accounts in a real headless Chromium: sign up, ask a question that only its owner lists,
sign out, a wrong password, sign in, and a session that expires while the page is open. The
council is played by fake_openai.py. Skips when chromium/chromedriver or selenium are missing."""

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from fake_openai import say  # noqa: E402
from test_web import Serve  # noqa: E402
from chromium import CHROMEDRIVER, CHROMIUM, make_driver, webdriver  # noqa: E402

if webdriver is not None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

pytestmark = [
    pytest.mark.skipif(webdriver is None, reason="selenium is not installed (scripts/setup --deps)"),
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="chromium and chromium-driver are not installed (scripts/setup --deps)"),
]

PASSWORD = "a browser's long password"
TTL = 6


@pytest.fixture(scope="module")
def srv(tmp_path_factory, fake):
    tmp = tmp_path_factory.mktemp("accb")
    s = Serve(tmp, fake, "--session-ttl", str(TTL),
              members={"alpha": say("Paris is the capital of France."),
                       "beta": say("The capital of France is Paris.")})
    yield s
    s.stop()


@pytest.fixture()
def browser():
    d = make_driver(True)
    yield d
    d.quit()


def fill(d, **fields):
    for name, value in fields.items():
        e = d.find_element(By.NAME, name)
        e.clear()
        e.send_keys(value)


def account_name(d):
    """The signed-in name the header shows, None when it shows none; "" while the page is being
    replaced under the lookup (the element went stale), so a wait on either answer goes on."""
    try:
        found = d.find_elements(By.CSS_SELECTOR, "nav.account a.who")
        return found[0].text if found else None
    except StaleElementReferenceException:
        return ""


def submit(d, form_action):
    d.find_element(By.CSS_SELECTOR, 'form[action="%s"] button[type="submit"]' % form_action).click()


def test_sign_up_ask_sign_out_sign_in(srv, browser):
    d = browser
    d.get(srv.base + "/")
    assert account_name(d) is None
    d.find_element(By.LINK_TEXT, "Sign in").click()
    WebDriverWait(d, 10).until(lambda d: d.current_url.endswith("/signin"))
    d.find_element(By.LINK_TEXT, "Sign up free").click()
    WebDriverWait(d, 10).until(lambda d: d.current_url.endswith("/signup"))
    fill(d, name="Grace", password=PASSWORD, password2=PASSWORD)
    submit(d, "/signup")
    WebDriverWait(d, 10).until(lambda d: account_name(d) == "grace")
    c = d.get_cookie("drux_account")
    assert c and c["httpOnly"] and c.get("sameSite") == "Lax" and not c["secure"]
    assert d.execute_script("return document.cookie").find("drux_account") < 0  # HttpOnly

    # a question of hers: on her history, not on the anonymous one
    fill(d, q="What is the capital of France?")
    submit(d, "/ask")
    WebDriverWait(d, 15).until(lambda d: "/q/" in d.current_url)
    qid = d.current_url.rsplit("/q/", 1)[1]
    WebDriverWait(d, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "section.actions form.del"))
    share = d.find_element(By.CSS_SELECTOR, "a.permalink").get_attribute("href")
    assert "?s=" in share
    d.get(srv.base + "/history")
    assert d.find_element(By.TAG_NAME, "h1").text == "Your questions"
    assert qid in d.page_source

    # sign out: the header says so, the cookie is gone, her question is not listed
    submit(d, "/signout")
    WebDriverWait(d, 10).until(lambda d: account_name(d) is None)
    assert d.get_cookie("drux_account") is None
    d.get(srv.base + "/history")
    assert qid not in d.page_source
    d.get(srv.base + "/q/" + qid)
    assert "404" in d.title
    d.get(share)  # the share link still reads it
    assert "What is the capital of France?" in d.find_element(By.TAG_NAME, "h1").text
    assert not d.find_elements(By.CSS_SELECTOR, "form.del")

    # a wrong password, then the right one
    d.get(srv.base + "/signin")
    fill(d, name="grace", password="not her password at all")
    submit(d, "/signin")
    WebDriverWait(d, 10).until(lambda d: "Wrong account name or password" in d.page_source)
    assert account_name(d) is None
    fill(d, name="grace", password=PASSWORD)
    submit(d, "/signin")
    WebDriverWait(d, 10).until(lambda d: account_name(d) == "grace")


def test_session_expires(srv, browser):
    d = browser
    d.get(srv.base + "/signup")
    fill(d, name="brief-user", password=PASSWORD, password2=PASSWORD)
    submit(d, "/signup")
    WebDriverWait(d, 10).until(lambda d: account_name(d) == "brief-user")
    time.sleep(TTL + 1)
    d.get(srv.base + "/settings")
    WebDriverWait(d, 10).until(lambda d: d.current_url.endswith("/signin"))
    assert account_name(d) is None
