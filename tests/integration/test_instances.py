"""Two `drux serve` instances on one PostgreSQL store share the work: a question asked
through A is watched live, re-run and deleted through B; the per-client rate limit
counts requests to both; and when A is killed (-9) mid-answer, B marks its question
interrupted and B's followers hear it.

PostgreSQL is a throwaway server (tests/pg-server: initdb in a temporary folder, a
unix socket); the members are scripted OpenAI-compatible ones on loopback
(fake_openai "slowsay-HEX": a word every 0.2 s), so an answer takes seconds. Skipped
with one line when PostgreSQL is not installed."""

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from drux_server import DruxServer, serve_env, wait_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LEASE_MS = 1500
A_SAYS = "The capital of France is Paris, a city on the Seine."
B_SAYS = "Paris is the capital of France."


def slowsay(text):
    return "slowsay-" + text.encode("utf-8").hex()


@pytest.fixture(scope="module")
def pg():
    d = tempfile.mkdtemp(prefix="drux-pgi-")
    os.chmod(d, 0o755)  # the server may run as the postgres user
    r = subprocess.run([os.path.join(ROOT, "tests/pg-server"), "start", d + "/pg"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(d, ignore_errors=True)
        pytest.skip("PostgreSQL: " + (r.stderr.strip().splitlines() or ["tests/pg-server failed"])[-1])
    url = r.stdout.strip()
    n = [0]

    def fresh():
        """A new empty database in the server; its URL."""
        n[0] += 1
        name = "inst%d" % n[0]
        subprocess.run(["psql", "-q", url, "-c", "CREATE DATABASE " + name], check=True,
                       capture_output=True)
        return url.replace("/postgres?", "/%s?" % name)
    yield fresh
    subprocess.run([os.path.join(ROOT, "tests/pg-server"), "stop", d + "/pg"], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


class Instance(DruxServer):
    def __init__(self, tmp, fake, db, *args, a_says=A_SAYS):
        cfg = tmp / "council.ini"
        lines = ["[council]", "timeout_s = 60", "synthesizer = writer"]
        for name, model in (("a", slowsay(a_says)), ("b", slowsay(B_SAYS)),
                            ("writer", slowsay("Paris."))):
            lines += ["[member.%s]" % name, "type = remote", "tier = free",
                      "base_url = " + fake.base_url, "model = " + model]
        cfg.write_text("\n".join(lines) + "\n")
        # one server key for every instance, as a deployment shares it (docs/operations.md)
        env = serve_env(tmp, {"DRUX_LEASE_MS": str(LEASE_MS),
                              "DRUX_SERVER_KEY": str(tmp.parent / "server.key")})
        self.launch(["--db", db, "--config", cfg] + list(args), env)
        assert "password" not in self.banner

    def stop(self, sig=signal.SIGTERM):
        return super().stop(sig, 30)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, fake, pg):
    db = pg()
    a = Instance(tmp_path_factory.mktemp("a"), fake, db, "--rate-limit", "0")
    b = Instance(tmp_path_factory.mktemp("b"), fake, db, "--rate-limit", "0")
    yield a, b
    for s in (a, b):
        s.stop()


def texts(events):
    """Each member's text as the events build it: the state's, then every delta."""
    state = events[0][1]
    got = {i: m.get("text", "") for i, m in enumerate(state["members"])}
    for name, ev in events[1:]:
        if name == "member" and "delta" in ev:
            got[ev["index"]] = got.get(ev["index"], "") + ev["delta"]
    return got


def test_ask_on_a_watch_on_b(pair):
    a, b = pair
    st, q = a.json("POST", "/api/v1/questions", {"question": "What is the capital of France?"})
    assert st == 201, q
    # B joins while A's members are still answering
    wait_for(lambda: b.json("GET", "/api/v1/questions/" + q["id"])[1]["status"] == "running")
    events = b.events(q["id"])
    names = [e for e, _ in events]
    assert names[0] == "state" and names[-1] == "result", names
    assert "member" in names and "phase" in names
    # every piece once: B's view spells each answer exactly
    got = texts(events)
    assert got[0] == A_SAYS and got[1] == B_SAYS, got
    assert events[-1][1]["status"] == "done"
    st, stored = b.json("GET", "/api/v1/questions/" + q["id"])
    assert stored["status"] == "done" and stored["result"] is not None
    assert [m["text"] for m in stored["members"]][:2] == [A_SAYS, B_SAYS]
    # B lists it, and re-runs it on B
    st, lst = b.json("GET", "/api/v1/questions")
    assert q["id"] in [x["id"] for x in lst["questions"]]
    st, c = b.json("POST", "/api/v1/questions/%s/rerun" % q["id"])
    assert st == 201 and c["question"] == q["question"]
    assert b.events(c["id"])[-1][1]["status"] == "done"


def test_delete_on_b_stops_a(pair):
    a, b = pair
    st, q = a.json("POST", "/api/v1/questions", {"question": "Which river runs through Paris?"})
    assert st == 201
    wait_for(lambda: a.json("GET", "/api/v1/questions/" + q["id"])[1]["status"] == "running")
    got = {}
    watchers = [threading.Thread(target=lambda s=s, k=k: got.setdefault(k, s.events(q["id"])))
                for s, k in ((a, "a"), (b, "b"))]
    for t in watchers:
        t.start()
    time.sleep(0.5)
    st, _ = b.json("DELETE", "/api/v1/questions/" + q["id"])
    assert st in (200, 204)
    for t in watchers:
        t.join(30)
    # both followers hear of it, on A (which ran it) and on B
    for k in ("a", "b"):
        last = got[k][-1]
        assert last[0] == "error" and last[1]["code"] == "deleted", (k, got[k][-3:])
    assert a.json("GET", "/api/v1/questions/" + q["id"])[0] == 404
    # A stopped working on it: its slot is free again
    wait_for(lambda: a.json("GET", "/api/v1/health")[1]["running"] == 0)


def test_rate_limit_counts_both_instances(tmp_path_factory, fake, pg):
    db = pg()
    a = Instance(tmp_path_factory.mktemp("ra"), fake, db, "--rate-limit", "6")
    b = Instance(tmp_path_factory.mktemp("rb"), fake, db, "--rate-limit", "6")
    try:
        codes = []
        for i in range(7):
            s = a if i % 2 == 0 else b
            codes.append(s.json("POST", "/api/v1/questions", {"question": "Q%d?" % i})[0])
        # 5 saved up for one client, wherever the requests land; then 429 on either
        assert codes[:5] == [201] * 5, codes
        assert codes[5:] == [429, 429], codes
    finally:
        a.stop()
        b.stop()


def test_kill9_on_a_is_interrupted_by_b(tmp_path_factory, fake, pg):
    db = pg()
    a = Instance(tmp_path_factory.mktemp("ka"), fake, db, "--rate-limit", "0")
    b = Instance(tmp_path_factory.mktemp("kb"), fake, db, "--rate-limit", "0")
    try:
        st, q = a.json("POST", "/api/v1/questions", {"question": "Name a river in France."})
        assert st == 201

        def answering():
            st, x = b.json("GET", "/api/v1/questions/" + q["id"])
            return x["status"] == "running" and any(m.get("text") for m in x["members"])
        wait_for(answering)
        got = {}
        t = threading.Thread(target=lambda: got.setdefault("b", b.events(q["id"], timeout=60)))
        t.start()
        time.sleep(0.3)
        a.proc.kill()  # SIGKILL: A writes nothing more
        a.proc.wait()
        t0 = time.monotonic()
        wait_for(lambda: b.json("GET", "/api/v1/questions/" + q["id"])[1]["status"] == "interrupted",
                 timeout=20)
        # within the lease and a heartbeat or two, not forever
        assert time.monotonic() - t0 < 10 * LEASE_MS / 1000
        t.join(20)
        last = got["b"][-1]
        assert last[0] == "error" and last[1]["code"] == "interrupted", got["b"][-3:]
        st, x = b.json("GET", "/api/v1/questions/" + q["id"])
        assert x["error"] and x["result"] is None
        # and B can run it again
        st, c = b.json("POST", "/api/v1/questions/%s/rerun" % q["id"])
        assert st == 201
        assert b.events(c["id"])[-1][1]["status"] == "done"
    finally:
        a.stop()
        b.stop()


def psql(url, query):
    r = subprocess.run(["psql", "-qAt", url, "-c", query], check=True, capture_output=True,
                       text=True)
    return r.stdout.strip()


def status(s, qid):
    return s.json("GET", "/api/v1/questions/" + qid)[1]["status"]


def running(s):
    return s.json("GET", "/api/v1/health")[1]["running"]


# member a's answer in busy_pair: 35 one-letter words, about 7 s, so that a question stays
# busy while the test asks the next ones on a loaded machine (council.ini lines are short)
LONG_SAYS = " ".join("parisisthecapitaloffranceontheseine")


@pytest.fixture
def busy_pair(tmp_path_factory, fake, pg):
    """A and B with one slot each, on a fresh database."""
    db = pg()
    args = ("--rate-limit", "0", "--max-running", "1")
    a = Instance(tmp_path_factory.mktemp("qa"), fake, db, *args, a_says=LONG_SAYS)
    b = Instance(tmp_path_factory.mktemp("qb"), fake, db, *args, a_says=LONG_SAYS)
    yield a, b, db
    for s in (a, b):
        s.stop()


def test_a_busy_question_is_answered_by_b(busy_pair):
    a, b, db = busy_pair
    st, q1 = a.json("POST", "/api/v1/questions", {"question": "What is the capital of France?"})
    assert st == 201
    wait_for(lambda: status(a, q1["id"]) == "running")
    # A's one slot is taken: the next question asked through A runs on B meanwhile
    st, q2 = a.json("POST", "/api/v1/questions", {"question": "Which river runs through Paris?"})
    assert st == 201
    wait_for(lambda: status(a, q2["id"]) == "running", timeout=10)
    assert status(a, q1["id"]) == "running", "q2 waited for A's slot"
    assert running(a) == 1 and running(b) == 1
    owners = dict(line.split("|") for line in psql(
        db, "SELECT id, instance FROM questions WHERE id IN ('%s', '%s')" % (q1["id"], q2["id"])
    ).splitlines())
    assert owners[q1["id"]] and owners[q2["id"]] and owners[q1["id"]] != owners[q2["id"]], owners
    # with both slots taken a third waits in the shared queue, then runs where one frees first
    st, q3 = b.json("POST", "/api/v1/questions", {"question": "Name a bridge in Paris."})
    assert st == 201 and status(b, q3["id"]) == "queued"
    # A, which admitted q2, follows it live from B's events and sees it done
    events = a.events(q2["id"])
    assert events[-1][0] == "result" and events[-1][1]["status"] == "done", events[-3:]
    assert texts(events)[0] == LONG_SAYS
    assert a.events(q3["id"])[-1][1]["status"] == "done"
    for q in (q1, q2):
        assert status(b, q["id"]) == "done"


def test_claimer_killed_is_interrupted_and_the_queue_goes_on(busy_pair):
    a, b, db = busy_pair
    st, q1 = a.json("POST", "/api/v1/questions", {"question": "Name a river in France."})
    assert st == 201
    wait_for(lambda: status(a, q1["id"]) == "running")
    st, q2 = a.json("POST", "/api/v1/questions", {"question": "Name a mountain in France."})
    assert st == 201
    wait_for(lambda: running(b) == 1, timeout=10)  # B claimed it
    st, q3 = a.json("POST", "/api/v1/questions", {"question": "Name a lake in France."})
    assert st == 201 and status(a, q3["id"]) == "queued"
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("a", a.events(q2["id"], timeout=60)))
    t.start()
    time.sleep(0.3)
    b.proc.kill()  # the claimer dies mid-answer
    b.proc.wait()
    wait_for(lambda: status(a, q2["id"]) == "interrupted", timeout=10 * LEASE_MS / 1000)
    t.join(20)
    last = got["a"][-1]
    assert last[0] == "error" and last[1]["code"] == "interrupted", got["a"][-3:]
    # the released question did not die with B: A takes it once its slot is free
    assert a.events(q3["id"])[-1][1]["status"] == "done"
    assert status(a, q1["id"]) == "done"


def council_stream(s, messages):
    """POST /v1/chat/completions (model council, streamed) to s: the content it streams."""
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    body = {"model": "council", "stream": True, "messages": messages}
    c.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 200, r.read()
    out = []
    for raw in r:
        line = raw.decode().strip()
        if line.startswith("data: ") and line != "data: [DONE]":
            obj = json.loads(line[6:])
            delta = obj["choices"][0]["delta"] if obj.get("choices") else {}
            out.append(delta.get("content") or "")
    c.close()
    return "".join(out)


def test_openai_council_runs_where_a_slot_is_free(busy_pair, fake):
    a, b, db = busy_pair
    st, q1 = a.json("POST", "/api/v1/questions", {"question": "What is the capital of France?"})
    assert st == 201
    wait_for(lambda: status(a, q1["id"]) == "running")
    # a /v1 council request to the busy A is answered by B (the store says who claimed it),
    # streamed through A
    content = council_stream(a, [{"role": "user", "content": "Capital of Italy?"}])
    assert "Paris." in content, content

    def instance_of(question):
        return psql(db, "SELECT instance FROM questions WHERE question = '%s'" % question)
    assert instance_of("Capital of Italy?") != instance_of("What is the capital of France?")
    # so does a conversation: the earlier turns the client sent go with it through the store
    st, q2 = a.json("POST", "/api/v1/questions", {"question": "Name a river in France."})
    assert st == 201
    wait_for(lambda: status(a, q2["id"]) == "running")  # A is busy again
    content = council_stream(a, [{"role": "user", "content": "Capital of Spain?"},
                                 {"role": "assistant", "content": "Madrid."},
                                 {"role": "user", "content": "And of Portugal?"}])
    assert "Paris." in content, content
    assert instance_of("And of Portugal?") not in ("", instance_of("Name a river in France."))
    # the members on B were asked with those turns before the question (the writer's
    # synthesis prompt sees the question alone)
    asked = [r["body"]["messages"] for r in fake.requests
             if (r["body"].get("messages") or [{}])[-1].get("content") == "And of Portugal?"]
    assert len(asked) >= 2, len(asked)
    for m in asked:
        assert [x["content"] for x in m[-3:]] == ["Capital of Spain?", "Madrid.", "And of Portugal?"]
