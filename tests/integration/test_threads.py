"""Threads: a follow-up continues the conversation. The council is played by
fake_openai.py (every answer known, seconds per run), so what each member
is sent can be read back from the fake server's request log:

- a follow-up through /api/v1 reaches every member with the thread's
  earlier question and the council's answer to it as messages before the
  new question; the stored question says its thread and turn;
- the OpenAI-compatible `council` model takes the earlier turns of
  `messages` as the thread;
- a thread longer than a member's context (`context = ...`) is trimmed from
  the oldest turn, not refused, and the page says so;
- the page continues a thread (form without JavaScript), deleting a turn
  asks first and takes the later turns with it;
- the Markdown and JSON exports hold every turn;
- kill -9 while a follow-up runs loses no earlier turn."""

import json
import os
import re
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from drux_server import DruxServer, serve_env  # noqa: E402
from fake_openai import say  # noqa: E402

Q1 = "What is the capital of Japan?"
Q2 = "What is its population?"
TOKYO = "Tokyo is the capital of Japan."
TOKYO_B = "The capital of Japan is Tokyo."


class Serve(DruxServer):
    """drux serve with a council of fake remote members; extra: per-member config lines."""

    def __init__(self, tmp, fake, members, extra=None, db=None, env=None):
        lines = ["[council]", "max_tokens = 32", "timeout_s = 30", ""]
        for name, model in members.items():
            more = (extra or {}).get(name, [])
            base = [] if any(x.startswith("base_url") for x in more) else ["base_url = " + fake.base_url]
            # free: a server of one's own, asked anonymously (premium members need a sign-in)
            tier = [] if any(x.startswith("tier") for x in more) else ["tier = free"]
            lines += ["[member.%s]" % name, "type = remote", "model = " + model,
                      "max_attempts = 1"] + base + tier + more + [""]
        self.cfg = tmp / "council.ini"
        self.cfg.write_text("\n".join(lines))
        self.env = serve_env(tmp, env)
        self.db = db or str(tmp / "drux.db")
        self.start()

    def start(self):
        self.launch(["--config", str(self.cfg), "--db", self.db, "--rate-limit", "0"], self.env)

    def wait(self, qid, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            status, q = self.json("GET", "/api/v1/questions/" + qid)
            assert status == 200, q
            if q["status"] not in ("queued", "running"):
                return q
            time.sleep(0.1)
        raise AssertionError("question %s did not finish" % qid)

    def ask(self, question, members=None, timeout=60):
        body = {"question": question}
        if members:
            body["members"] = members
        status, q = self.json("POST", "/api/v1/questions", body)
        assert status == 201, q
        return self.wait(q["id"], timeout)

    def follow(self, parent, question, members=None):
        body = {"question": question}
        if members:
            body["members"] = members
        status, q = self.json("POST", "/api/v1/questions/%s/followups" % parent, body)
        assert status == 201, q
        return q

    def form(self, path, fields, cookie):
        body = "&".join("%s=%s" % (k, v.replace(" ", "+").replace("?", "%3F")) for k, v in fields.items())
        return self.request("POST", path, body.encode(),
                            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})

    def session(self, path="/"):
        status, hdrs, data = self.request("GET", path)
        cookie = hdrs.get("set-cookie", "").split(";")[0]
        token = re.search(r'name="token" value="([0-9a-f]+)"', data.decode()).group(1)
        return cookie, token


@pytest.fixture(scope="module")
def srv(tmp_path_factory, fake):
    s = Serve(tmp_path_factory.mktemp("threads"), fake,
              {"alpha": say(TOKYO) + "@alpha", "beta": say(TOKYO_B) + "@beta", "small": "ok@small"},
              extra={"small": ["context = 200", "max_tokens = 20"]})
    yield s
    s.stop()


def requests_for(fake, model, question):
    """The chat messages each request of member `model` whose last message asks `question` carried."""
    out = []
    for r in fake.requests:
        msgs = r["body"].get("messages") or []
        if r["model"] == model and msgs and msgs[-1].get("content") == question:
            out.append(msgs)
    return out


def test_followup_reaches_members_with_the_earlier_turn(srv, fake):
    q1 = srv.ask(Q1, ["alpha", "beta"])
    assert q1["status"] == "done" and q1["thread"] == q1["id"] and q1["turn"] == 1
    answer1 = q1["result"]["answer"]
    assert answer1
    q2 = srv.wait(srv.follow(q1["id"], Q2)["id"])
    assert q2["status"] == "done", q2
    assert q2["thread"] == q1["id"] and q2["turn"] == 2
    # a follow-up asks the parent's members unless told otherwise
    assert [m["name"] for m in q2["members"]] == ["alpha", "beta"]
    for m in q2["members"]:
        assert m["context_turns"] == 1 and m["context_dropped"] == 0, m
    for model in (say(TOKYO_B) + "@beta", say(TOKYO) + "@alpha"):
        sent = requests_for(fake, model, Q2)
        assert len(sent) == 1, model
        turns = [(m["role"], m["content"]) for m in sent[0] if m["role"] != "system"]
        assert turns == [("user", Q1), ("assistant", answer1), ("user", Q2)], turns
    # the analysis is about the new turn only
    assert q2["result"]["question"] == Q2
    # the thread in one read, first turn to last
    status, t = srv.json("GET", "/api/v1/threads/" + q2["id"])
    assert status == 200 and t["thread"] == q1["id"]
    assert [q["id"] for q in t["questions"]] == [q1["id"], q2["id"]]
    assert all(q["result"] for q in t["questions"])


def test_followup_rules(srv):
    q1 = srv.ask("How long is a marathon?", ["alpha", "beta"])
    q2 = srv.wait(srv.follow(q1["id"], "And a half marathon?")["id"])
    # only the last turn can be followed up: the thread stays one line
    status, e = srv.json("POST", "/api/v1/questions/%s/followups" % q1["id"], {"question": "Again?"})
    assert status == 400 and "last turn" in e["error"]["message"], e
    status, e = srv.json("POST", "/api/v1/questions/zzzzzzzzzzzz/followups", {"question": "x"})
    assert status == 404, e
    status, e = srv.json("POST", "/api/v1/questions/%s/followups" % q2["id"], {"question": " "})
    assert status == 400, e
    status, e = srv.json("GET", "/api/v1/threads/zzzzzzzzzzzz")
    assert status == 404, e
    # a turn still being answered cannot be followed up yet
    status, q3 = srv.json("POST", "/api/v1/questions/%s/followups" % q2["id"],
                          {"question": "And an ultra?", "members": ["alpha"]})
    assert status == 201
    status, e = srv.json("POST", "/api/v1/questions/%s/followups" % q3["id"], {"question": "More?"})
    if srv.json("GET", "/api/v1/questions/" + q3["id"])[1]["status"] in ("queued", "running"):
        assert status == 400 and "still being answered" in e["error"]["message"], e
    srv.wait(q3["id"])


def test_exports_hold_every_turn(srv):
    q1 = srv.ask(Q1, ["alpha", "beta"])
    q2 = srv.wait(srv.follow(q1["id"], Q2)["id"])
    status, hdrs, md = srv.request("GET", "/api/v1/threads/%s/export.md" % q2["id"])
    assert status == 200 and hdrs["content-type"].startswith("text/markdown")
    assert "attachment" in hdrs["content-disposition"] and q1["id"] in hdrs["content-disposition"]
    md = md.decode()
    assert md.index("## 1. " + Q1) < md.index("## 2. " + Q2)
    assert "### Answer" in md and q2["result"]["answer"].splitlines()[0] in md
    assert "### Agreed points" in md and "alpha and beta" in md
    assert "#### alpha" in md and TOKYO in md
    status, hdrs, js = srv.request("GET", "/api/v1/threads/%s/export.json" % q1["id"])
    assert status == 200 and hdrs["content-type"].startswith("application/json")
    t = json.loads(js)
    assert [q["turn"] for q in t["questions"]] == [1, 2]
    assert t["questions"][1]["result"]["members"][0]["text"]


def test_openai_council_takes_earlier_messages_as_the_thread(srv, fake):
    body = {"model": "council", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": Q1},
        {"role": "assistant", "content": "Tokyo."},
        {"role": "user", "content": Q2}]}
    before = len(requests_for(fake, "ok@small", Q2))
    status, _, data = srv.request("POST", "/v1/chat/completions", body)
    assert status == 200, data
    r = json.loads(data)
    assert r["choices"][0]["message"]["content"]
    sent = requests_for(fake, "ok@small", Q2)[before:]
    assert len(sent) == 1
    turns = [(m["role"], m["content"]) for m in sent[0] if m["role"] != "system"]
    assert turns == [("user", Q1), ("assistant", "Tokyo."), ("user", Q2)], turns
    q = srv.json("GET", "/api/v1/questions/" + r["drux"]["question_id"])[1]
    assert q["question"] == Q2 and q["turn"] == 1
    assert q["members"][2]["context_turns"] == 1


def test_long_thread_is_trimmed_not_refused_and_the_page_says_so(srv, fake):
    # each turn is ~400 bytes: more than `small` (context = 200 tokens) can hold after two
    long_q = "Tell me about Tokyo, point %d: " + "its districts, its history and its people. " * 8
    q = srv.ask(long_q % 1)
    for i in range(2, 5):
        q = srv.wait(srv.follow(q["id"], long_q % i)["id"])
        assert q["status"] == "done", q
    m = {x["name"]: x for x in q["members"]}
    assert m["alpha"]["context_turns"] == 3 and m["alpha"]["context_dropped"] == 0
    assert m["small"]["context_dropped"] >= 1, m["small"]
    assert m["small"]["context_turns"] + m["small"]["context_dropped"] == 3
    sent = requests_for(fake, "ok@small", long_q % 4)[-1]
    users = [x["content"] for x in sent if x["role"] == "user"]
    assert long_q % 1 not in users and users[-1] == long_q % 4
    assert len(users) == 1 + m["small"]["context_turns"]
    # the full conversation still went to the member without a limit
    sent = requests_for(fake, say(TOKYO) + "@alpha", long_q % 4)[-1]
    assert [x["content"] for x in sent if x["role"] == "user"] == [long_q % i for i in range(1, 5)]
    status, _, page = srv.request("GET", "/q/" + q["id"])
    page = page.decode()
    assert status == 200 and 'class="banner trimmed"' in page
    said = re.search(r"small read (the last (\d+) of|none of the) 3 earlier turns", page)
    assert said and int(said.group(2) or 0) == m["small"]["context_turns"], page


def test_page_continues_the_thread_and_delete_asks_first(srv):
    q1 = srv.ask(Q1, ["alpha", "beta"])
    cookie, token = srv.session("/q/" + q1["id"])
    status, hdrs, _ = srv.form("/q/%s/followup" % q1["id"], {"token": token, "q": Q2}, cookie)
    assert status == 303, status
    q2 = srv.wait(hdrs["location"].split("/")[-1])
    assert q2["thread"] == q1["id"] and q2["turn"] == 2
    # every turn's URL shows the whole thread, newest last, with one share link
    for qid in (q1["id"], q2["id"]):
        status, _, page = srv.request("GET", "/q/" + qid)
        page = page.decode()
        assert page.index(Q1) < page.index(Q2)
        assert page.count('<article class="turn') == 2
        assert 'class="permalink" href="/q/%s">Link to this thread' % q1["id"] in page
    q3 = srv.wait(srv.follow(q2["id"], "How big is it?")["id"])
    # without the confirmation: a page that asks, naming what goes
    status, _, page = srv.form("/q/%s/delete" % q2["id"], {"token": token}, cookie)
    page = page.decode()
    assert status == 200 and "deletes the 1 later question" in page and "How big is it?" in page
    assert srv.json("GET", "/api/v1/questions/" + q3["id"])[0] == 200
    status, hdrs, _ = srv.form("/q/%s/delete" % q2["id"], {"token": token, "confirm": "1"}, cookie)
    assert status == 303 and hdrs["location"] == "/q/" + q1["id"]
    assert srv.json("GET", "/api/v1/questions/" + q2["id"])[0] == 404
    assert srv.json("GET", "/api/v1/questions/" + q3["id"])[0] == 404
    status, t = srv.json("GET", "/api/v1/threads/" + q1["id"])
    assert [q["id"] for q in t["questions"]] == [q1["id"]]
    # the API deletes the later turns too
    q2 = srv.wait(srv.follow(q1["id"], Q2)["id"])
    assert q2["turn"] == 2
    assert srv.request("DELETE", "/api/v1/questions/" + q1["id"])[0] == 204
    assert srv.json("GET", "/api/v1/questions/" + q2["id"])[0] == 404


def test_anthropic_and_gemini_members_get_the_turns_in_their_formats(tmp_path, fake):
    import fake_providers
    prov = fake_providers.Server().start()
    s = Serve(tmp_path, fake, {"alpha": say(TOKYO) + "@p", "claude": "ok@threads", "gem": "ok@threads"},
              extra={"claude": ["provider = anthropic", "base_url = " + prov.anthropic_url],
                     "gem": ["provider = gemini", "base_url = " + prov.gemini_url]},
              env={"ANTHROPIC_API_KEY": fake_providers.FAKE_KEY, "GEMINI_API_KEY": "AIzaFake0042"})
    try:
        q1 = s.ask(Q1)
        q2 = s.wait(s.follow(q1["id"], Q2)["id"])
        assert [m["status"] for m in q2["members"]] == ["done"] * 3, q2["members"]
        answer1 = q1["result"]["answer"]
        claude = [r["body"] for r in prov.requests if r["api"] == "anthropic"][-1]
        assert [(m["role"], m["content"]) for m in claude["messages"]] == [
            ("user", Q1), ("assistant", answer1), ("user", Q2)]
        gem = [r["body"] for r in prov.requests if r["api"] == "gemini"][-1]
        assert [(c["role"], c["parts"][0]["text"]) for c in gem["contents"]] == [
            ("user", Q1), ("model", answer1), ("user", Q2)]
    finally:
        s.stop()
        prov.close()


def test_kill9_during_a_followup_loses_no_earlier_turn(tmp_path, fake):
    s = Serve(tmp_path, fake, {"alpha": say(TOKYO) + "@k9", "stuck": "hang@k9"})
    try:
        q1 = s.ask(Q1, ["alpha"])
        q2 = s.follow(q1["id"], Q2, ["alpha", "stuck"])
        end = time.time() + 20
        while s.json("GET", "/api/v1/questions/" + q2["id"])[1]["status"] != "running":
            assert time.time() < end
            time.sleep(0.05)
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()
        s.proc.stdout.close()
        s.proc.stderr.close()
        s.start()
        status, t = s.json("GET", "/api/v1/threads/" + q1["id"])
        assert status == 200
        first, second = t["questions"]
        assert first["id"] == q1["id"] and first["status"] == "done"
        assert first["result"]["answer"] == q1["result"]["answer"]
        assert first["members"][0]["text"] == TOKYO
        assert second["id"] == q2["id"] and second["status"] == "interrupted" and second["turn"] == 2
        # the thread goes on from the interrupted turn
        q3 = s.wait(s.follow(q2["id"], "And its area?", ["alpha"])["id"])
        assert q3["turn"] == 3 and q3["status"] == "done"
        assert q3["members"][0]["context_turns"] == 1  # the interrupted turn has no answer to give
    finally:
        s.stop()


# ---- the page in headless Chromium --------------------------------------------------

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
    from chromium import CHROMEDRIVER, CHROMIUM, make_driver
except ImportError:  # pragma: no cover - reported as a skip below
    make_driver = None

needs_browser = pytest.mark.skipif(make_driver is None or not (CHROMIUM and CHROMEDRIVER),
                                   reason="selenium, chromium or chromium-driver is not installed")


def page_done(d, turns):
    """The page shows `turns` turns, the last finished (read in one step: the live page swaps
    its <main> when a turn ends)."""
    return d.execute_script(
        "const m = document.querySelector('main');"
        "return !!m && m.dataset.status === 'done' && m.querySelectorAll('article.turn').length === %d;"
        % turns)


def ask_in(d, box_id, text):
    """Types text into the box and sends it; retried when the live page swapped the box out."""
    from selenium.common.exceptions import StaleElementReferenceException

    def attempt(d):
        try:
            box = d.find_element(By.ID, box_id)
            box.clear()
            box.send_keys(text)
            box.send_keys(Keys.ENTER)
            return True
        except StaleElementReferenceException:
            return False
    WebDriverWait(d, 20).until(attempt)


@needs_browser
def test_browser_follow_up_continues_the_thread_live(srv):
    d = make_driver(True)
    try:
        base = "http://127.0.0.1:%d" % srv.port
        d.get(base + "/")
        ask_in(d, "q", Q1)
        WebDriverWait(d, 30).until(lambda d: "/q/" in d.current_url)
        first = d.current_url.rsplit("/", 1)[1]
        WebDriverWait(d, 30).until(lambda d: page_done(d, 1))  # live, then swapped in
        ask_in(d, "fq", Q2)
        WebDriverWait(d, 30).until(lambda d: d.current_url.rsplit("/", 1)[1] != first)
        WebDriverWait(d, 30).until(lambda d: page_done(d, 2))
        time.sleep(0.5)  # a swap already under way lands before the page is read
        turns = d.find_elements(By.CSS_SELECTOR, "main article.turn")
        assert turns[0].find_element(By.CSS_SELECTOR, "h1.q").text == Q1
        assert turns[1].find_element(By.CSS_SELECTOR, "h2.q").text == Q2
        assert "current" in turns[1].get_attribute("class")
        # each turn with its own meter, points and answers
        for t in turns:
            assert t.find_elements(By.CSS_SELECTOR, ".verdict meter, .verdict .pct")
            assert t.find_elements(By.CSS_SELECTOR, ".answer")
            assert len(t.find_elements(By.CSS_SELECTOR, ".members .member")) == 3
        ids = d.execute_script("return Array.from(document.querySelectorAll('[id]')).map(e => e.id)")
        assert len(ids) == len(set(ids)), "an id repeats on the thread page"
        link = d.find_element(By.CSS_SELECTOR, "a.permalink")
        assert link.get_attribute("href").endswith("/q/" + first)
        # deleting the first turn: the dialog names the later one
        turns[0].find_element(By.CSS_SELECTOR, "form.del button").click()
        WebDriverWait(d, 5).until(lambda d: d.switch_to.alert)
        alert = d.switch_to.alert
        assert "1 later question" in alert.text
        alert.accept()
        WebDriverWait(d, 10).until(lambda d: d.current_url.endswith("/history"))
        assert srv.json("GET", "/api/v1/threads/" + first)[0] == 404
        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        d.quit()


@needs_browser
def test_browser_without_javascript_confirms_on_a_page(srv):
    q1 = srv.ask(Q1, ["alpha", "beta"])
    q2 = srv.wait(srv.follow(q1["id"], Q2)["id"])
    d = make_driver(False)
    try:
        base = "http://127.0.0.1:%d" % srv.port
        d.get(base + "/q/" + q1["id"])
        turns = d.find_elements(By.CSS_SELECTOR, "main article.turn")
        assert len(turns) == 2
        turns[0].find_element(By.CSS_SELECTOR, "form.del button").click()
        WebDriverWait(d, 10).until(lambda d: "Delete these questions?" in d.page_source)
        assert srv.json("GET", "/api/v1/questions/" + q2["id"])[0] == 200  # nothing deleted yet
        d.find_element(By.CSS_SELECTOR, "main.confirm button[type=submit]").click()
        WebDriverWait(d, 10).until(lambda d: d.current_url.endswith("/history"))
        assert srv.json("GET", "/api/v1/questions/" + q1["id"])[0] == 404
        assert srv.json("GET", "/api/v1/questions/" + q2["id"])[0] == 404
    finally:
        d.quit()
