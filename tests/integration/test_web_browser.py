"""The web app's states in a real headless Chromium, with a council played by
fake_openai.py (no model needed, every answer known): a queued question
reads the same with and without JavaScript, a question deleted while its
page is open says only that and stops asking the server, the length limit
counts characters as the server does (multi-byte text) and says so before
sending, and the members' answers sit side by side at 1280 px and stack at
390 px, each with its stats, with a point's evidence marked in them.

Skips when chromium/chromedriver or selenium are missing."""

import json
import os
import re
import sqlite3
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_web import Serve, say  # noqa: E402

try:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - the browser fixtures (conftest.py) skip
    pass

ALPHA = "Paris is the capital of France. It sits on the Seine."
BETA = "The capital of France is Paris, a city of about two million people."
MARKED = "**Paris** is the capital of France. It sits on the `Seine`."


@pytest.fixture(scope="module")
def srv(tmp_path_factory, fake):
    tmp = tmp_path_factory.mktemp("webb")
    s = Serve(tmp, fake, "--max-running", "1",
              members={"alpha": say(ALPHA), "beta": say(BETA), "stuck": "hang", "marked": say(MARKED)})
    s.base = "http://127.0.0.1:%d" % s.port
    yield s
    s.stop()


def ask(srv, members):
    status, q = srv.json("POST", "/api/v1/questions", {"question": "What is the capital of France?",
                                                       "members": members})
    assert status == 201, q
    return q["id"]


def progress_and_phase(d):
    return (d.find_element(By.ID, "progress").text, d.find_element(By.ID, "phase").text)


def test_queued_page_reads_the_same_with_and_without_js_and_deleted_stops(srv, browser, browser_nojs):
    holder = ask(srv, ["stuck"])  # holds the only slot
    try:
        WebDriverWait(browser, 20, 0.2).until(
            lambda _: srv.json("GET", "/api/v1/questions/" + holder)[1]["status"] == "running")
        qid = ask(srv, ["alpha", "beta"])
        assert srv.json("GET", "/api/v1/questions/" + qid)[1]["status"] == "queued"
        browser_nojs.get(srv.base + "/q/" + qid)
        plain = progress_and_phase(browser_nojs)
        assert "waiting for a free slot" in plain[0] and "answering" not in plain[0], plain
        assert "answering" not in plain[1], plain
        browser.get(srv.base + "/q/" + qid)
        # the live page has its state from the event stream by now
        time.sleep(1.5)
        live = progress_and_phase(browser)
        assert live == plain, (live, plain)

        # deleted while open: the page says only that, and stops asking the server
        assert srv.request("DELETE", "/api/v1/questions/" + qid)[0] == 204
        # (the page replaces <main>: an element found just before may be gone when read)
        WebDriverWait(browser, 15, 0.2, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: "This question was deleted." in d.find_element(By.TAG_NAME, "main").text)
        main = browser.find_element(By.TAG_NAME, "main").text
        assert "cancelled" not in main and "analysing" not in main and "answering" not in main, main
        count = "return performance.getEntriesByType('resource').filter(e => /fragment=1|events/.test(e.name)).length"
        n = browser.execute_script(count)
        time.sleep(7)
        assert browser.execute_script(count) == n, "the page kept asking for a deleted question"
        # and the health counts dropped it at once
        assert srv.json("GET", "/api/v1/health")[1]["queued"] == 0
    finally:
        srv.request("DELETE", "/api/v1/questions/" + holder)


def test_length_limit_counts_characters_and_says_it_before_sending(srv, browser):
    browser.get(srv.base + "/")
    note = browser.find_element(By.CSS_SELECTOR, "form.ask .limit")
    assert "16384 characters" in note.text  # said before anything is typed
    box = browser.find_element(By.CSS_SELECTOR, "form.ask textarea")
    fill = ("arguments[0].value = arguments[1];"
            "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));")
    browser.execute_script(fill, box, "\u20ac" * 16385)
    assert "Too long" in note.text and "16385" in note.text, note.text
    assert browser.execute_script("return arguments[0].form.checkValidity()", box) is False
    browser.find_element(By.CSS_SELECTOR, "form.ask button[type=submit]").click()
    time.sleep(1)
    assert browser.current_url.rstrip("/") == srv.base  # not sent
    # 6000 euro signs are 18000 bytes: within the limit on both sides
    browser.execute_script(fill, box, "\u20ac" * 6000)
    assert note.text == "6000 of 16384 characters.", note.text
    browser.find_element(By.CSS_SELECTOR, "form.ask button[type=submit]").click()
    WebDriverWait(browser, 15, 0.2).until(lambda d: re.search(r"/q/[a-z0-9]+$", d.current_url))
    qid = browser.current_url.rsplit("/", 1)[1]
    assert srv.json("GET", "/api/v1/questions/" + qid)[1]["question"] == "\u20ac" * 6000
    srv.request("DELETE", "/api/v1/questions/" + qid)


def card_rects(d):
    return d.execute_script(
        "return Array.from(document.querySelectorAll('.members .cards > li')).map(li => {"
        "const r = li.getBoundingClientRect(); return [r.left, r.top, r.width, r.bottom]; })")


def evidence_marks(browser):
    """The marked evidence on the page: [member, text] per mark, and each member's marks joined."""
    marks = browser.execute_script(
        "return Array.from(document.querySelectorAll('mark.evidence')).map(m => "
        "[m.closest('.member').dataset.name, m.textContent])")
    by = {}
    for name, text in marks:
        by[name] = by.get(name, "") + text
    return marks, by


def test_answers_side_by_side_with_stats_and_evidence(srv, browser):
    qid = ask(srv, ["alpha", "beta"])
    q = srv.wait(qid)
    assert q["status"] == "done"
    # the analysis carries evidence spans per point (when the engine gives them): add some
    with sqlite3.connect(srv.db) as db:
        (res,) = db.execute("SELECT result FROM analyses WHERE question_id = ?", (qid,)).fetchone()
        r = json.loads(res)
        an = r["analysis"]
        point = {"text": "Paris is the capital of France.", "members": ["alpha", "beta"],
                 "evidence": [{"member": "alpha", "text": "Paris is the capital of France."},
                              {"member": "beta", "text": "The capital of France is Paris"}]}
        an["agreed"] = [point] + [p for p in an.get("agreed", []) if p.get("text") != point["text"]]
        db.execute("UPDATE analyses SET result = ? WHERE question_id = ?", (json.dumps(r), qid))
    browser.set_window_size(1280, 900)
    browser.get(srv.base + "/q/" + qid)
    rects = card_rects(browser)
    assert len(rects) == 2
    (l1, t1, w1, b1), (l2, t2, w2, b2) = rects
    assert abs(t1 - t2) < 2 and l2 > l1 + w1 - 2, rects  # side by side
    for card in browser.find_elements(By.CSS_SELECTOR, ".members .member"):
        assert card.get_attribute("open") is not None  # not collapsed
        stats = card.find_element(By.CSS_SELECTOR, "summary").text
        assert "done" in stats and re.search(r"\d+(\.\d)? m?s", stats) and "token" in stats \
            and "tok/s" in stats, stats
    # selecting the point marks its evidence in each answer
    b = browser.find_element(By.CSS_SELECTOR, "button.pt.evid")
    b.click()
    assert b.get_attribute("aria-pressed") == "true"
    marks, by = evidence_marks(browser)
    assert by.get("alpha") == "Paris is the capital of France." and by.get("beta") == "The capital of France is Paris", marks
    b.click()
    assert not browser.find_elements(By.CSS_SELECTOR, "mark.evidence")
    # on a phone the answers stack
    browser.set_window_size(390, 844)
    browser.get(srv.base + "/q/" + qid)
    (l1, t1, w1, b1), (l2, t2, w2, b2) = card_rects(browser)
    assert t2 >= b1 - 1 and abs(l1 - l2) < 2, card_rects(browser)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 392
    browser.set_window_size(1280, 900)


def test_evidence_from_the_real_analysis_marks_markdown_answers(srv, browser):
    # no evidence injected: the analysis's own spans come from the answers' Markdown source
    # ("**Paris** is ..."), the page shows them rendered (<strong>Paris</strong> is ...)
    qid = ask(srv, ["marked", "beta"])
    q = srv.wait(qid)
    assert q["status"] == "done"
    spans = [e["text"] for p in q["result"]["analysis"]["agreed"] for e in p.get("evidence", [])]
    assert any("**" in t for t in spans), spans  # the case this test is about
    browser.set_window_size(1280, 900)
    browser.get(srv.base + "/q/" + qid)
    b = browser.find_element(By.CSS_SELECTOR, "button.pt.evid")
    b.click()
    marks, by = evidence_marks(browser)
    assert by.get("marked") == "Paris is the capital of France.", marks
    assert by.get("beta", "").startswith("The capital of France is Paris"), marks
    assert "Marked in 2 answers." in browser.page_source
    srv.request("DELETE", "/api/v1/questions/" + qid)


def test_screen_readers_hear_the_percentage_once(srv, browser):
    qid = ask(srv, ["alpha", "beta"])
    q = srv.wait(qid)
    pct = q["result"]["analysis"]["consensus"]
    assert isinstance(pct, int)
    browser.get(srv.base + "/q/" + qid)
    # what Chromium gives assistive technology, not what the HTML says: the heading says the
    # number; a meter beside it would be read as a second "100%"
    tree = [n for n in browser.execute_cdp_cmd("Accessibility.getFullAXTree", {})["nodes"]
            if not n.get("ignored")]
    role = lambda n: n.get("role", {}).get("value")  # noqa: E731
    name = lambda n: n.get("name", {}).get("value") or ""  # noqa: E731
    headings = [name(n) for n in tree if role(n) == "heading" and "%d%%" % pct in name(n)]
    assert len(headings) == 1, headings
    meters = [(role(n), n.get("value")) for n in tree if role(n) in ("meter", "progressbar")]
    assert meters == [], meters
    srv.request("DELETE", "/api/v1/questions/" + qid)
