"""The council's answer streams as it is written: in the /api/v1 events ("answer" deltas before
the result), in the OpenAI-compatible stream of the `council` model (content chunks while the
synthesizer writes, not after), and on the live page in headless Chromium.

The council is scripted: two remote members on the fake OpenAI server, and a synthesizer that
writes its answer a word every 0.2 s (fake_openai "slowsay-HEX"), so a question takes seconds
and "as it is written" is measurable."""

import http.client
import json
import time

import pytest
from drux_server import DruxServer, serve_env
from fake_openai import say

QUESTION = "What is the capital of France?"
ANSWER = "Paris is the capital of France, as both say."
SCRIPT = ANSWER + "\n\nFollow-up questions:\nWhy Paris?"  # a config line holds 197 bytes


@pytest.fixture(scope="module")
def serve(tmp_path_factory, fake):
    tmp = tmp_path_factory.mktemp("stream")
    cfg = tmp / "council.ini"
    lines = ["[council]", "timeout_s = 30", "synthesizer = writer"]
    for name, model in (("a", say("The capital of France is Paris.")),
                        ("b", say("Paris is the capital of France.")),
                        ("writer", "slowsay-" + SCRIPT.encode().hex())):
        lines += ["[member.%s]" % name, "type = remote", "base_url = " + fake.base_url, "model = " + model,
                  "tier = free"]  # a server of one's own: asked for anonymous visitors
    cfg.write_text("\n".join(lines) + "\n")
    s = DruxServer()
    s.launch(["--db", str(tmp / "drux.db"), "--config", str(cfg), "--rate-limit", "0"], serve_env(tmp))
    yield s.port
    s.stop()


def post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data)


def test_api_events_carry_the_answer_as_it_is_written(serve):
    status, q = post(serve, "/api/v1/questions", {"question": QUESTION})
    assert status in (200, 201, 202), q
    c = http.client.HTTPConnection("127.0.0.1", serve, timeout=120)
    c.request("GET", "/api/v1/questions/%s/events" % q["id"])
    r = c.getresponse()
    assert r.status == 200
    events, name = [], None
    for raw in r:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((time.monotonic(), name, json.loads(line[6:])))
    c.close()
    names = [n for _, n, _ in events]
    assert "answer" in names and names[-1] == "result", names
    deltas = [(t, d["delta"]) for t, n, d in events if n == "answer"]
    # several pieces, spread over the time the synthesizer wrote, all before the result
    assert len(deltas) >= 5, deltas
    assert deltas[-1][0] - deltas[0][0] >= 0.6
    assert names.index("answer") > names.index("phase")
    phases = [d["phase"] for _, n, d in events if n == "phase"]
    assert phases.index("synthesizing") < len(phases)
    result = events[-1][2]["result"]
    streamed = "".join(d for _, d in deltas)
    assert streamed == ANSWER
    assert result["answer"].startswith(streamed)
    assert result["answer_kind"] == "synthesized" and result["answer_check"] is None
    assert "Why Paris?" in result["followups"]


def test_openai_council_stream_sends_the_answer_while_it_is_written(serve):
    c = http.client.HTTPConnection("127.0.0.1", serve, timeout=120)
    body = {"model": "council", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    c.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 200
    chunks = []
    for raw in r:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        obj = json.loads(line[6:])
        delta = obj["choices"][0]["delta"] if obj.get("choices") else {}
        if delta.get("content"):
            chunks.append((time.monotonic(), delta["content"]))
    c.close()
    content = "".join(t for _, t in chunks)
    assert content.startswith(ANSWER), content
    # the answer's words came one by one as the synthesizer wrote them, not in a burst at the end
    words = [t for t, piece in chunks if piece.strip()]
    assert len(words) >= 5
    assert words[len(words) // 2] - words[0] >= 0.4, chunks


try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - the browser fixture (conftest.py) skips
    pass

WINDOW = "1100,1300"  # the browser fixture's window (conftest.py)


def test_page_shows_the_answer_while_it_is_written(serve, browser):
    d = browser
    status, q = post(serve, "/api/v1/questions", {"question": QUESTION})
    assert status in (200, 201, 202), q
    d.get("http://127.0.0.1:%d/q/%s" % (serve, q["id"]))
    # while the page is still live, the answer grows in the draft box
    seen = []

    def drafting(drv):
        live = drv.execute_script("var m = document.querySelector('main');"
                                  "return !!(m && m.dataset.events);")
        boxes = drv.find_elements(By.CSS_SELECTOR, ".answer.draft .draft-text")
        text = boxes[0].text if boxes else ""
        if live and text:
            seen.append(text)
        return live and len(seen) >= 2 and seen[-1] != seen[0]
    WebDriverWait(d, 60, poll_frequency=0.05).until(drafting)
    assert ANSWER.startswith(seen[0]) and len(seen[0]) < len(ANSWER)
    # then the finished page: the rendered answer says what it is
    WebDriverWait(d, 60).until(lambda drv: drv.find_elements(By.CSS_SELECTOR, "p.source[data-kind]"))
    src = d.find_element(By.CSS_SELECTOR, "p.source[data-kind]")
    assert src.get_attribute("data-kind") == "synthesized"
    assert ANSWER in d.find_element(By.CSS_SELECTOR, "section.answer").text
    assert not d.find_elements(By.CSS_SELECTOR, ".answer.draft")
