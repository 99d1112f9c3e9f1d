"""The web app in a real headless Chromium, against `drux serve` with the real
local models (SmolLM2-135M and Gemma 3 270M, small max_tokens).

It asks a question from the home page, watches the result page update live
and checks what a person sees there (member cards, label and percentage or
the single-voice banner, agreed points, the answer, follow-ups) against the
stored analysis object from the API; reloads and checks the stored page is
the same; with JavaScript off, asks again through the plain form and waits
for the page to finish by itself; uses the history (search, reopen, delete).
Screenshots, light and dark, go to build/test-artifacts/browser/.

Skips when the models, chromium/chromedriver or selenium are missing.
"""

import json
import os
import re
import sys
import time
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import models  # noqa: E402
from drux_server import DruxServer, serve_env  # noqa: E402

MODELS = {"smol": models.path(models.SMOL), "gemma": models.path(models.GEMMA)}
WINDOW = "1100,1300"  # the browser fixtures' window (conftest.py)
ARTIFACTS = os.path.join("build", "test-artifacts", "browser")
QUESTION = "What is the capital of France?"

try:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - the browser fixtures skip
    pass

pytestmark = [
    pytest.mark.skipif(not all(os.path.exists(p) for p in MODELS.values()),
                       reason="SmolLM2 and Gemma 3 270M are not in the model cache (make setup pulls them)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    cfg = tmp / "council.ini"
    lines = ["[council]", "max_tokens = 40", "timeout_s = 120", ""]
    for name, model in MODELS.items():
        lines += ["[member.%s]" % name, "type = local", "model = " + model, ""]
    cfg.write_text("\n".join(lines))
    s = DruxServer()
    s.launch(["--db", str(tmp / "drux.db"), "--config", str(cfg)], serve_env(tmp))
    yield s.base
    s.stop()


def shot(d, name):
    """Full-page screenshots in light and dark."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    height = d.execute_script("return document.documentElement.scrollHeight")
    d.set_window_size(1100, min(max(height + 120, 700), 5000))
    for scheme in ("light", "dark"):
        d.execute_cdp_cmd("Emulation.setEmulatedMedia",
                          {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
        d.save_screenshot(os.path.join(ARTIFACTS, "%s-%s.png" % (name, scheme)))
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    d.set_window_size(1100, 1300)


def api(base, path):
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return json.loads(r.read())


def qid_of(d):
    m = re.search(r"/q/([A-Za-z0-9_-]+)$", d.current_url)
    assert m, "not on a question page: " + d.current_url
    return m.group(1)


def text(d, css):
    return " ".join(e.text for e in d.find_elements(By.CSS_SELECTOR, css))


def wait_done(d, timeout=240):
    WebDriverWait(d, timeout, poll_frequency=0.5).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "main.qpage[data-status=done]"))


LABELS = {"consensus": "Consensus", "partial": "Partial agreement", "disagree": "Disagreement",
          "single_voice": "Single voice", "no_answer": "No answer",
          "no_common_ground": "No common ground"}


def check_result_page(d, q):
    """What a person sees on a finished question, against the stored object."""
    r = q["result"]
    an = r["analysis"]
    members = r["members"]
    # the question, its category, progress counted from the members
    assert d.find_element(By.CSS_SELECTOR, "main h1").text == r["question"]
    tags = d.find_elements(By.CSS_SELECTOR, ".qhead .tag")
    if r["category"]:
        assert tags and tags[0].text.upper().endswith(r["category"].upper())
    else:
        assert not tags
    summary = d.find_element(By.ID, "progress").text
    n_done = sum(1 for m in members if m["status"] == "done")
    assert summary.startswith("%d models · complete" % len(members)), summary
    assert ("%d done" % n_done) in summary if n_done else "done" not in summary
    # member cards: name, status, latency and tokens
    cards = d.find_elements(By.CSS_SELECTOR, "details.member")
    assert len(cards) == len(members)
    for card, m in zip(cards, members):
        head = card.find_element(By.TAG_NAME, "summary").text
        assert m["name"] in head
        assert ("done" if m["status"] == "done" else "") in head
        if m["tokens"]:
            assert "%d token" % m["tokens"] in head, head
    # the label and the number, or the banner and no number
    verdict = d.find_element(By.CSS_SELECTOR, "section.verdict")
    assert verdict.find_element(By.CSS_SELECTOR, ".label").text == LABELS[an["label"]]
    if an["consensus"] is None:
        assert "%" not in verdict.text
        assert "not measurable" in verdict.text
        assert not d.find_elements(By.TAG_NAME, "meter")
        if an["label"] == "single_voice":
            assert "Only one model gave a usable answer" in verdict.text
    else:
        assert verdict.find_element(By.CSS_SELECTOR, ".pct").text == "%d%%" % an["consensus"]
        meter = d.find_element(By.TAG_NAME, "meter")
        assert int(float(meter.get_attribute("value"))) == an["consensus"]
        assert "banner single" not in d.page_source
    # agreed points with their supporters
    agreed = d.find_elements(By.CSS_SELECTOR, "section.agreed > ul > li")
    assert len(agreed) == len(an["agreed"])
    for li, p in zip(agreed, an["agreed"]):
        assert all(name in li.text for name in p["members"])
    assert len(d.find_elements(By.CSS_SELECTOR, "section.disputed > ul > li")) == len(an["disputed"])
    # the rendered answer
    if r["answer"]:
        shown = d.find_element(By.CSS_SELECTOR, "section.answer .md").text.strip()
        assert shown
        first_words = re.sub(r"[*_`#>|\[\]]", "", r["answer"]).split()[:2]
        assert all(w in shown for w in first_words), (first_words, shown[:200])
    # follow-ups, each a button that asks it
    fu = d.find_elements(By.CSS_SELECTOR, "section.followups button.followup")
    assert [b.text for b in fu] == r["followups"]
    assert d.find_element(By.CSS_SELECTOR, "a.permalink").get_attribute("href").endswith("/q/" + q["id"])
    assert d.find_element(By.LINK_TEXT, "New search").get_attribute("href").endswith("/")


def test_ask_watch_live_then_reload(server, browser):
    d = browser
    d.get(server + "/")
    assert d.title == "drux"
    assert d.find_element(By.CSS_SELECTOR, "label[for=q]").text == "Ask the council"
    assert d.find_elements(By.CSS_SELECTOR, "ul.chips button.chip"), "no example questions"
    shot(d, "home")
    box = d.find_element(By.ID, "q")
    box.send_keys(QUESTION)
    box.send_keys(Keys.ENTER)  # Enter asks (app.js)
    WebDriverWait(d, 30).until(lambda d: "/q/" in d.current_url)
    qid = qid_of(d)
    # live: cards and progress while the members answer, without reloading
    # count changes to the member cards' status badges made by app.js from the events
    d.execute_script("""
        window.__same_page = 1; window.__badge_changes = 0;
        new MutationObserver((ms) => { window.__badge_changes += ms.length; })
            .observe(document.querySelector('main'), {subtree: true, childList: true, characterData: true});""")
    assert d.find_element(By.ID, "progress").get_attribute("aria-live") == "polite"
    seen_running = d.find_elements(By.CSS_SELECTOR, "main[data-status=running]")
    if seen_running:
        assert len(d.find_elements(By.CSS_SELECTOR, "details.member")) == 2
        shot(d, "running")
    wait_done(d)
    assert d.execute_script("return window.__same_page") == 1, "the page reloaded instead of updating live"
    if seen_running:
        assert d.execute_script("return window.__badge_changes") > 0, "nothing changed while the models answered"
    q = api(server, "/api/v1/questions/" + qid)
    assert q["status"] == "done" and q["result"]
    check_result_page(d, q)
    assert d.find_element(By.CSS_SELECTOR, "button.copy").is_displayed()  # shown by app.js
    live_main = d.find_element(By.TAG_NAME, "main").text
    # each member's own answer is open, beside the others; its card still folds
    card = d.find_elements(By.CSS_SELECTOR, "details.member")[0]
    assert card.get_attribute("open") is not None
    shot(d, "result")
    card.find_element(By.TAG_NAME, "summary").click()
    assert card.get_attribute("open") is None
    card.find_element(By.TAG_NAME, "summary").click()
    # the stored page after a reload shows the same
    d.refresh()
    check_result_page(d, q)
    assert d.find_element(By.TAG_NAME, "main").text == live_main
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_without_javascript_ask_and_finished_page(server, browser_nojs):
    d = browser_nojs
    d.get(server + "/")
    box = d.find_element(By.ID, "q")
    box.send_keys("How many legs does a spider have?")
    d.find_element(By.CSS_SELECTOR, "form.ask button[type=submit]").click()
    WebDriverWait(d, 30).until(lambda d: "/q/" in d.current_url)
    qid = qid_of(d)
    # no script runs: the page reloads itself (noscript refresh) until it is done
    wait_done(d, timeout=300)
    q = api(server, "/api/v1/questions/" + qid)
    check_result_page(d, q)
    # app.js never ran: it is what shows the copy button
    assert not d.find_element(By.CSS_SELECTOR, "button.copy").is_displayed()
    shot(d, "nojs-result")
    # a follow-up is a plain form: it continues the thread, newest last
    fu = d.find_elements(By.CSS_SELECTOR, "section.followups button.followup")
    if fu:
        asked = fu[0].text
        fu[0].click()
        WebDriverWait(d, 30).until(lambda d: "/q/" in d.current_url and qid_of(d) != qid)
        assert d.find_element(By.CSS_SELECTOR, "main .turn.current .q").text == asked
        assert d.find_element(By.CSS_SELECTOR, "main h1").text == q["question"]


def test_history_search_reopen_delete(server, browser):
    d = browser
    questions = api(server, "/api/v1/questions")["questions"]
    assert questions, "the earlier tests stored no question"
    d.get(server + "/history")
    rows = d.find_elements(By.CSS_SELECTOR, "ul.qlist > li")
    assert len(rows) == len(questions)
    shot(d, "history")
    box = d.find_element(By.ID, "hq")
    box.send_keys("France")
    box.send_keys(Keys.ENTER)
    WebDriverWait(d, 10).until(lambda d: "q=France" in d.current_url)
    rows = d.find_elements(By.CSS_SELECTOR, "ul.qlist > li")
    assert len(rows) >= 1 and all("France" in r.text for r in rows)
    # reopen
    rows[0].find_element(By.CSS_SELECTOR, "a.qlink").click()
    WebDriverWait(d, 10).until(lambda d: "/q/" in d.current_url)
    qid = qid_of(d)
    assert "France" in d.find_element(By.CSS_SELECTOR, "main h1").text
    # delete, confirming the dialog
    d.get(server + "/history")
    form = d.find_element(By.CSS_SELECTOR, "form.del[action='/q/%s/delete']" % qid)
    form.find_element(By.TAG_NAME, "button").click()
    WebDriverWait(d, 5).until(lambda d: d.switch_to.alert)
    d.switch_to.alert.accept()
    WebDriverWait(d, 10).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, "form.del[action='/q/%s/delete']" % qid))
    assert qid not in [x["id"] for x in api(server, "/api/v1/questions")["questions"]]
    d.get(server + "/q/" + qid)
    assert "404" in d.title or "Not found" in d.page_source


A11Y_AUDIT = """
const out = [];
const lum = (c) => {
  const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
  const v = m[1].split(',').map(Number);
  if (v.length > 3 && v[3] === 0) return null;
  const ch = v.slice(0, 3).map((x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
  return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
};
const bgOf = (e) => {
  for (; e; e = e.parentElement) { const l = lum(getComputedStyle(e).backgroundColor); if (l !== null) return l; }
  return lum(getComputedStyle(document.documentElement).backgroundColor) ?? 1;
};
for (const e of document.querySelectorAll('body *')) {
  if (!e.offsetParent && getComputedStyle(e).position !== 'fixed') continue;
  const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own) continue;
  const s = getComputedStyle(e);
  const fg = lum(s.color); if (fg === null) continue;
  const bg = bgOf(e);
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  const large = parseFloat(s.fontSize) >= 24 || (parseFloat(s.fontSize) >= 18.66 && Number(s.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) out.push('contrast ' + ratio.toFixed(2) + ': ' + e.tagName + '.' + e.className + ' "' + e.textContent.trim().slice(0, 40) + '"');
}
for (const e of document.querySelectorAll('input:not([type=hidden]), textarea, select')) {
  if (!(e.labels && e.labels.length) && !e.getAttribute('aria-label')) out.push('no label: ' + e.outerHTML.slice(0, 80));
}
for (const e of document.querySelectorAll('button, a[href]')) {
  if (!e.textContent.trim() && !e.getAttribute('aria-label')) out.push('no name: ' + e.outerHTML.slice(0, 80));
}
for (const sel of ['header', 'nav', 'main', 'footer', 'h1']) if (!document.querySelector(sel)) out.push('missing ' + sel);
if (!document.documentElement.lang) out.push('no lang');
return out;
"""


def test_accessibility_basics_light_and_dark(server, browser):
    """Labels, names, landmarks and text contrast (WCAG AA) on every page kind, in both schemes."""
    d = browser
    questions = api(server, "/api/v1/questions")["questions"]
    pages = ["/", "/history", "/history?q=zzzz-nothing", "/q/not-a-question"]
    pages += ["/q/" + q["id"] for q in questions[:2]]
    problems = []
    for scheme in ("light", "dark"):
        d.execute_cdp_cmd("Emulation.setEmulatedMedia",
                          {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
        for p in pages:
            d.get(server + p)
            for details in d.find_elements(By.TAG_NAME, "details"):
                d.execute_script("arguments[0].open = true", details)
            problems += ["%s %s: %s" % (scheme, p, x) for x in d.execute_script(A11Y_AUDIT)]
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert not problems, "\n".join(problems)
    # the audit does see a problem when there is one
    d.execute_script("const p = document.createElement('p'); p.textContent = 'faint';"
                     "p.style.color = '#aaaaaa'; document.querySelector('main').append(p);")
    assert any("faint" in x for x in d.execute_script(A11Y_AUDIT))
    # keyboard: the first Tab reaches the skip link, which is then on screen, and leads to <main>
    d.get(server + "/history")
    d.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    active = d.switch_to.active_element
    assert active.get_attribute("class") == "skip"
    assert active.location["x"] >= 0
    active.send_keys(Keys.ENTER)
    assert d.current_url.endswith("#main")
