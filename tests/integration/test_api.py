"""drux serve over loopback against the real local models: the /api/v1 API
with its live events, the OpenAI-compatible /v1 driven by the official
`openai` client, malformed requests, limits, and durability across kill -9.

The council is SmolLM2-135M and Gemma 3 270M with small max_tokens so a
question takes seconds; the suite skips when the models are not present."""

import json
import os
import re
import signal
import socket
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import models  # noqa: E402
from drux_server import DruxServer, serve_env, wait_for  # noqa: E402

MODELS = {"smol": models.path(models.SMOL), "gemma": models.path(models.GEMMA)}
SHORT = "What is the capital of France?"

pytestmark = pytest.mark.skipif(
    not all(os.path.exists(p) for p in MODELS.values()),
    reason="SmolLM2 and Gemma 3 270M are not in the model cache (make setup pulls them)")


def write_config(path, max_tokens=16):
    lines = ["[council]", "max_tokens = %d" % max_tokens, "timeout_s = 120", ""]
    for name, model in MODELS.items():
        lines += ["[member.%s]" % name, "type = local", "model = " + model, ""]
    path.write_text("\n".join(lines))
    return path


class Server(DruxServer):
    timeout = 120

    def __init__(self, tmp_path, *args, db=None, max_tokens=16):
        self.tmp = tmp_path
        self.db = db or str(tmp_path / "drux.db")
        db_args = [] if db == "default" else ["--db", self.db]
        cfg = write_config(tmp_path / "council.ini", max_tokens)
        self.launch(["--config", str(cfg)] + db_args + list(args), serve_env(tmp_path))

    def pages(self):
        return self.json("GET", "/api/v1/health")[1]["pages"]

    def stop(self, sig=signal.SIGINT):
        return super().stop(sig, 30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # many requests in a few seconds here: the rate limit has its own test
    s = Server(tmp_path_factory.mktemp("api"), "--rate-limit", "0")
    yield s
    err = s.stop()
    assert s.proc.returncode == 0, err


@pytest.fixture(scope="module")
def done_question(server):
    """One question asked through the API and followed live to its end."""
    status, q = server.json("POST", "/api/v1/questions", {"question": SHORT})
    assert status == 201, q
    events = server.events(q["id"])
    return q, events


def test_health_and_members(server):
    status, h = server.json("GET", "/api/v1/health")
    assert status == 200 and h["status"] == "ok" and h["schema"] >= 1 and h["members"] == 2
    status, m = server.json("GET", "/api/v1/members")
    assert status == 200
    assert [x["name"] for x in m["members"]] == ["smol", "gemma"]
    status, listed = server.json("GET", "/api/v1/models")
    assert status == 200 and isinstance(listed["models"], list)


def test_question_runs_live_and_is_stored(server, done_question):
    q, events = done_question
    assert q["status"] in ("queued", "running") and q["result"] is None
    assert [m["name"] for m in q["members"]] == ["smol", "gemma"]
    names = [e for e, _ in events]
    assert names[0] == "state"
    assert names[-1] == "result", names[-5:]
    # the phases from where this follower came in (the state says where that was)
    phases = [events[0][1].get("phase")] + [d["phase"] for e, d in events if e == "phase"]
    full = ["asking", "analyzing", "synthesizing", "done"]
    if phases[0] is None:
        phases = phases[1:]
    assert phases == full[len(full) - len(phases):] and len(phases) >= 3, phases
    # members' text arrives in deltas, and they add up to the stored answers
    deltas = {}
    for e, d in events:
        if e == "member" and "delta" in d:
            deltas[d["name"]] = deltas.get(d["name"], "") + d["delta"]
    final = events[-1][1]
    assert final["status"] == "done" and final["finished_at"]
    res = final["result"]
    assert res["question"] == SHORT
    assert res["analysis"]["label"] in ("consensus", "partial", "disagree", "single_voice", "no_answer")
    by_name = {m["name"]: m for m in final["members"]}
    for name, text in deltas.items():
        state_text = events[0][1]["members"][[m["name"] for m in events[0][1]["members"]].index(name)]["text"]
        assert by_name[name]["text"] == state_text + text
    # the same object comes back from GET, and from the list (without texts)
    status, got = server.json("GET", "/api/v1/questions/" + q["id"])
    assert status == 200 and got["result"] == res and got["status"] == "done"
    status, lst = server.json("GET", "/api/v1/questions?limit=5")
    item = [x for x in lst["questions"] if x["id"] == q["id"]][0]
    assert item["label"] == res["analysis"]["label"] and "text" not in item["members"][0]
    status, found = server.json("GET", "/api/v1/questions?q=capital%20of%20FRANCE")
    assert q["id"] in [x["id"] for x in found["questions"]]
    status, none = server.json("GET", "/api/v1/questions?q=zzzz-not-asked")
    assert none["questions"] == []


def test_late_follower_gets_state_then_result(server, done_question):
    q, _ = done_question
    events = server.events(q["id"], timeout=10)
    assert [e for e, _ in events] == ["state", "result"]
    assert events[1][1]["result"]["question"] == SHORT


def test_member_selection_and_delete(server):
    status, q = server.json("POST", "/api/v1/questions", {"question": "Say yes.", "members": ["smol"]})
    assert status == 201, q
    assert [m["name"] for m in q["members"]] == ["smol"]
    events = server.events(q["id"])
    final = events[-1][1]
    assert [m["name"] for m in final["result"]["members"]] == ["smol"]
    assert final["asked"] == ["smol"]
    status, _ = server.json("DELETE", "/api/v1/questions/" + q["id"])
    assert status == 204
    status, err = server.json("GET", "/api/v1/questions/" + q["id"])
    assert status == 404 and err["error"]["code"] == "not_found"
    status, err = server.json("DELETE", "/api/v1/questions/" + q["id"])
    assert status == 404


def test_unknown_member_is_a_400(server):
    status, err = server.json("POST", "/api/v1/questions", {"question": "x?", "members": ["nobody"]})
    assert status == 400 and "nobody" in err["error"]["message"]


@pytest.mark.parametrize("method,path,body,headers,want", [
    ("POST", "/api/v1/questions", b"{not json", {"Content-Type": "application/json"}, 400),
    ("POST", "/api/v1/questions", b'{"question": 5}', {"Content-Type": "application/json"}, 400),
    ("POST", "/api/v1/questions", b'{"question": "  "}', {"Content-Type": "application/json"}, 400),
    ("POST", "/api/v1/questions", b'{"question": "a", "extra": 1}', {"Content-Type": "application/json"}, 400),
    ("POST", "/api/v1/questions", b'["question"]', {"Content-Type": "application/json"}, 400),
    ("POST", "/api/v1/questions", b'{"question": "hi"}', {"Content-Type": "text/plain"}, 415),
    ("POST", "/api/v1/questions", b'{"question": "hi"}', {}, 415),
    ("POST", "/api/v1/questions", json.dumps({"question": "x" * 20000}).encode(),
     {"Content-Type": "application/json"}, 413),
    ("GET", "/api/v1/nothing-here", None, {}, 404),
    ("GET", "/api/v1/questions/../../etc/passwd", None, {}, 400),
    ("GET", "/static/../../etc/passwd", None, {}, 400),
    ("GET", "/static/%2e%2e/%2e%2e/etc/passwd", None, {}, 400),
    ("GET", "/api/v1/questions/NOT-AN-ID", None, {}, 404),
    ("GET", "/api/v1/questions?limit=0", None, {}, 400),
    ("GET", "/api/v1/questions?limit=abc", None, {}, 400),
    ("PUT", "/api/v1/questions", b"{}", {"Content-Type": "application/json"}, 405),
    ("DELETE", "/api/v1/health", None, {}, 405),
    ("POST", "/v1/chat/completions", b'{"model": "council"}', {"Content-Type": "application/json"}, 400),
    ("POST", "/v1/chat/completions", json.dumps({"model": "/etc/passwd", "messages": [
        {"role": "user", "content": "hi"}]}).encode(), {"Content-Type": "application/json"}, 404),
    ("GET", "/v1/nothing", None, {}, 404),
])
def test_malformed_requests_get_json_4xx(server, method, path, body, headers, want):
    status, hdrs, data = server.request(method, path, body, headers)
    assert status == want, data
    if path.startswith(("/api/", "/v1/")) or not server.pages():
        err = json.loads(data)["error"]
        assert err["code"] and err["message"]
        assert hdrs["content-type"] == "application/json"
    else:  # the HTML routes answer people with an error page
        assert hdrs["content-type"].startswith("text/html")
        assert b"<html" in data and str(want).encode() in data


def test_huge_body_is_refused_before_it_is_read(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"POST /api/v1/questions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1073741824\r\n\r\n" + b"{" * 4096)
    reply = s.recv(65536).decode(errors="replace")
    s.close()
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert "too_large" in reply
    # a chunked body (which could grow past the limit unseen) is refused before it is read:
    # the server wants a Content-Length
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"POST /api/v1/questions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536
    try:
        for _ in range(20):
            s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        s.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    reply = s.recv(65536).decode(errors="replace")
    s.close()
    assert reply.startswith("HTTP/1.1 411"), reply[:200]
    assert "length_required" in reply and "Content-Length" in reply


def test_security_headers(server):
    for path in ("/api/v1/health", "/no-such-page"):
        status, h, _ = server.request("GET", path)
        csp = h["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"


def form_session(server):
    """The session cookie and form token a page gives, as a browser keeps them."""
    status, h, page = server.request("GET", "/")
    assert status == 200 and "set-cookie" in h
    cookie = h["set-cookie"].split(";")[0]
    token = re.search(rb'name="token" value="([0-9a-f]+)"', page).group(1)
    return {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}, b"&token=" + token


def test_html_routes(server):
    if not server.pages():
        pytest.skip("this build has no pages (src/server/pages.c)")
    form, tok = form_session(server)
    status, h, _ = server.request("POST", "/ask", b"q=What+is+2%2B2%3F" + tok, form)
    assert status == 303 and h["location"].startswith("/q/")
    qid = h["location"][3:]
    status, h, page = server.request("GET", h["location"])
    assert status == 200 and h["content-type"].startswith("text/html")
    assert b"What is 2+2?" in page and ("/api/v1/questions/%s/events" % qid).encode() in page
    server.events(qid)  # until it is done
    status, h, frag = server.request("GET", "/q/%s?fragment=1" % qid)
    assert status == 200 and frag.lstrip().startswith(b"<main") and b"<html" not in frag
    status, h, hist = server.request("GET", "/history?q=2%2B2")
    assert status == 200 and qid.encode() in hist
    for asset, mime in (("/static/app.js", "text/javascript"), ("/static/style.css", "text/css")):
        status, h, data = server.request("GET", asset)
        assert status == 200 and h["content-type"].startswith(mime) and data
    status, h, _ = server.request("GET", "/static/nothing.js")
    assert status == 404 and h["content-type"].startswith("text/html")
    # a form that is not a form, an empty question, a bad escape: error pages
    assert server.request("POST", "/ask", b'{"q": "x"}', {"Content-Type": "application/json"})[0] == 415
    assert server.request("POST", "/ask", b"q=+++" + tok, form)[0] == 400
    assert server.request("POST", "/ask", b"q=%zz" + tok, form)[0] == 400
    status, h, _ = server.request("POST", "/q/%s/rerun" % qid, tok[1:], form)
    assert status == 303 and h["location"] != "/q/" + qid
    server.json("DELETE", "/api/v1/questions/" + h["location"][3:])  # stop the re-run
    # deleting asks first (a turn takes its later turns with it); confirmed, it goes
    status, h, page = server.request("POST", "/q/%s/delete" % qid, tok[1:], form)
    assert status == 200 and b'name="confirm" value="1"' in page
    assert server.request("GET", "/q/" + qid)[0] == 200
    status, h, _ = server.request("POST", "/q/%s/delete" % qid, tok[1:] + b"&confirm=1", form)
    assert status == 303 and h["location"] == "/history"
    assert server.request("GET", "/q/" + qid)[0] == 404


def test_openai_client(server):
    openai = pytest.importorskip("openai", reason="pip install openai (scripts/setup --deps)")
    client = openai.OpenAI(base_url=server.base + "/v1", api_key="unused", max_retries=0, timeout=180)
    ids = [m.id for m in client.models.list().data]
    assert ids[0] == "council"
    assert "SmolLM2-135M-Instruct.Q4_1" in ids and "gemma-3-270m-q4_k_m" in ids

    # a local model, whole and streamed: greedy, so both give the same text
    msgs = [{"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "What colour is the sky?"}]
    r = client.chat.completions.create(model="SmolLM2-135M-Instruct.Q4_1", messages=msgs, max_tokens=8)
    text = r.choices[0].message.content
    assert text.strip() and r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.completion_tokens <= 8 and r.usage.prompt_tokens > 5
    pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="SmolLM2-135M-Instruct.Q4_1", messages=msgs, max_tokens=8, stream=True) if c.choices]
    assert "".join(pieces) == text

    # the council: the synthesized answer of a stored question
    r = client.chat.completions.create(model="council", messages=[{"role": "user", "content": SHORT}])
    answer = r.choices[0].message.content
    assert answer.strip()
    qid = r.model_extra["drux"]["question_id"]
    status, q = server.json("GET", "/api/v1/questions/" + qid)
    assert q["result"]["answer"] == answer
    stream = client.chat.completions.create(model="council", stream=True,
                                            messages=[{"role": "user", "content": SHORT}])
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert streamed.strip()

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=msgs)


def test_store_defaults_to_drux_home(tmp_path):
    s = Server(tmp_path, db="default")
    try:
        assert s.json("GET", "/api/v1/health")[0] == 200
        # $DRUX_HOME did not exist: it is created, with the store in it
        assert (tmp_path / "home" / "drux.db").exists()
    finally:
        s.stop()


def test_rate_limit_answers_429(tmp_path):
    s = Server(tmp_path, "--rate-limit", "6")
    try:
        codes = [s.request("POST", "/api/v1/questions", b"{bad", {"Content-Type": "application/json"})[0]
                 for _ in range(8)]
        assert codes[:5] == [400] * 5 and codes[-1] == 429, codes
        status, h, data = s.request("POST", "/api/v1/questions", b"{bad", {"Content-Type": "application/json"})
        assert status == 429 and h.get("retry-after") and json.loads(data)["error"]["code"] == "rate_limited"
        # reading is not limited
        assert s.request("GET", "/api/v1/health")[0] == 200
    finally:
        s.stop()


def test_queue_then_busy(tmp_path):
    # long answers, so the first question is still running while the others are posted
    s = Server(tmp_path, "--max-running", "1", "--rate-limit", "0", max_tokens=400)
    try:
        ids, codes = [], []
        for i in range(20):
            status, q = s.json("POST", "/api/v1/questions", {"question": "Count to %d." % (i + 1)})
            codes.append(status)
            if status == 201:
                ids.append(q["id"])
            else:
                assert status == 429 and q["error"]["code"] == "busy"
        # one answering, 16 waiting, the rest refused
        assert codes.count(201) == 17 and codes[17:] == [429] * 3, codes
        # health against the questions' own statuses, read again when one finished meanwhile
        def n_done():
            return sum(s.json("GET", "/api/v1/questions/" + q)[1]["status"] == "done" for q in ids)
        for _ in range(5):
            before = n_done()
            status, h = s.json("GET", "/api/v1/health")
            done = n_done()
            if done == before:
                break
        assert h["running"] == 1 and h["queued"] + done == 16, (h, done)
        status, last = s.json("GET", "/api/v1/questions/" + ids[-1])
        assert last["status"] == "queued"
        status, lst = s.json("GET", "/api/v1/questions?limit=3")
        assert lst["questions"][0]["status"] == "queued"
        for qid in ids:
            assert s.json("DELETE", "/api/v1/questions/" + qid)[0] == 204
        # deleted questions free their places
        wait_for(lambda: s.json("GET", "/api/v1/health")[1]["queued"] == 0, timeout=60)
        status, q = s.json("POST", "/api/v1/questions", {"question": "Say yes."})
        assert status == 201
    finally:
        s.stop()


def test_stop_interrupts_and_tells_followers(tmp_path):
    import threading
    db = str(tmp_path / "stop.db")
    s = Server(tmp_path, db=db)
    got = {}
    try:
        status, q = s.json("POST", "/api/v1/questions", {"question": "Name five fruits."})
        assert status == 201
        t = threading.Thread(target=lambda: got.setdefault("events", s.events(q["id"], timeout=60)))
        t.start()
        wait_for(lambda: s.json("GET", "/api/v1/questions/" + q["id"])[1]["status"] == "running")
    finally:
        err = s.stop()  # SIGINT
    t.join(60)
    assert s.proc.returncode == 0, err
    last = got["events"][-1]
    assert last[0] == "error" and last[1]["code"] == "interrupted", got["events"][-3:]
    s2 = Server(tmp_path, db=db)
    try:
        st, q2 = s2.json("GET", "/api/v1/questions/" + q["id"])
        assert q2["status"] == "interrupted" and "stopped" in q2["error"]
    finally:
        s2.stop()


def test_kill9_keeps_finished_and_interrupts_running(tmp_path):
    db = str(tmp_path / "kill.db")
    s = Server(tmp_path, "--max-running", "1", db=db)
    try:
        status, a = s.json("POST", "/api/v1/questions", {"question": SHORT})
        assert status == 201
        done = s.events(a["id"])[-1][1]
        assert done["status"] == "done"
        # the next one: kill -9 while a member is answering
        status, b = s.json("POST", "/api/v1/questions", {"question": "Name three colours of the rainbow."})
        assert status == 201

        def answering():
            st, q = s.json("GET", "/api/v1/questions/" + b["id"])
            return q["status"] == "running" and any(m["text"] for m in q["members"])
        wait_for(answering)
    finally:
        s.proc.kill()  # SIGKILL: no chance to clean up
        s.stop()
    s2 = Server(tmp_path, db=db)
    try:
        st, a2 = s2.json("GET", "/api/v1/questions/" + a["id"])
        assert st == 200 and a2["status"] == "done" and a2["result"] == done["result"]
        assert [m["text"] for m in a2["members"]] == [m["text"] for m in done["members"]]
        st, b2 = s2.json("GET", "/api/v1/questions/" + b["id"])
        assert b2["status"] == "interrupted" and b2["result"] is None and b2["error"]
        events = s2.events(b["id"], timeout=10)
        assert [e for e, _ in events] == ["state", "error"]
        # an interrupted question can be run again
        st, c = s2.json("POST", "/api/v1/questions/%s/rerun" % b["id"])
        assert st == 201 and c["question"] == b["question"] and c["id"] != b["id"]
        assert s2.events(c["id"])[-1][1]["status"] == "done"
    finally:
        assert s2.stop() is not None


def test_history_pages_through_every_stored_question(tmp_path):
    """120 stored questions: the history page shows 50 at a time, newest first, with an
    "Older questions" link until the last one and a way back to the newest; a search pages too."""
    import html
    import re
    import sqlite3

    s = Server(tmp_path)
    s.stop()  # the store now exists with its schema
    con = sqlite3.connect(s.db)
    for i in range(120):
        topic = "rivers" if i % 3 == 0 else "mountains"
        con.execute("INSERT INTO questions(id, question, status, created_at) VALUES (?, ?, 'done', ?)",
                    ("q%03d" % i, "Question %03d about %s" % (i, topic), "2026-11-25T04:%02d:00Z" % (i % 60)))
    con.commit()
    con.close()
    s = Server(tmp_path, "--rate-limit", "0", db=s.db)
    try:
        def walk(url):
            seen, pages = [], 0
            while url:
                status, _, page = s.request("GET", url)
                assert status == 200
                page = page.decode()
                seen += re.findall(r'href="/q/(q\d{3})"', page)
                pages += 1
                if pages > 1:
                    assert "Newest questions" in page
                nxt = re.search(r'<a rel="next" href="([^"]+)">Older questions</a>', page)
                url = html.unescape(nxt.group(1)) if nxt else None
                assert pages < 10, "the older links never end"
            return seen, pages

        seen, pages = walk("/history")
        assert pages == 3
        assert seen == ["q%03d" % i for i in range(119, -1, -1)]  # each once, newest first
        seen, pages = walk("/history?q=rivers")
        assert pages == 1 and len(seen) == 40
        seen, pages = walk("/history?q=mountains")  # the search is kept in the older link
        assert pages == 2 and len(seen) == 80 and len(set(seen)) == 80
        status, _, page = s.request("GET", "/history?before=q000")
        assert status == 200 and b"No older questions" in page
        assert s.request("GET", "/history?before=..%2Fx")[0] == 400
    finally:
        s.stop()
