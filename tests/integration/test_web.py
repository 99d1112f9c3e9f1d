"""drux serve as an attacker and a careful user see it over HTTP: cross-site
requests, DNS rebinding, form tokens, no file-system paths, caching, the
client address behind a trusted proxy, and the small truths of the API
(rerun's Location, /v1/models). The council is played by fake_openai.py
(remote members), so no model is needed and every answer is known."""

import http.client
import json
import os
import re
import sqlite3
import subprocess

import pytest

DRUX = os.environ.get("DRUX_BIN", "build/release/drux")
EVIL = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
FORM = "application/x-www-form-urlencoded"


def say(text):
    return "say-" + text.encode().hex()


class Serve:
    """drux serve on a free port with a council of fake remote members (and
    optionally a local member whose file is not a model)."""

    def __init__(self, tmp, fake, *args, members=None, local=None, env_extra=None):
        self.tmp = tmp
        members = members or {"alpha": say("Paris is the capital of France."),
                              "beta": say("The capital of France is Paris.")}
        lines = ["[council]", "max_tokens = 32", "timeout_s = 30", ""]
        for name, model in members.items():
            lines += ["[member.%s]" % name, "type = remote", "base_url = " + fake.base_url,
                      "model = " + model, "max_attempts = 1", ""]
        for name, path in (local or {}).items():
            lines += ["[member.%s]" % name, "type = local", "model = " + path, ""]
        cfg = tmp / "council.ini"
        cfg.write_text("\n".join(lines))
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env.pop("DRUX_CONFIG", None)
        env["DRUX_HOME"] = str(tmp / "home")
        env["XDG_CONFIG_HOME"] = str(tmp / "xdg")
        env.update(env_extra or {})
        self.db = str(tmp / "drux.db")
        self.proc = subprocess.Popen([DRUX, "serve", "--port", "0", "--config", str(cfg), "--db", self.db]
                                     + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        line = self.proc.stdout.readline()
        assert "http://127.0.0.1:" in line, "no address printed: %r %s" % (line, self.proc.stderr.read())
        self.port = int(line.split("http://127.0.0.1:")[1].split("/")[0])

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def json(self, method, path, body=None, headers=None):
        status, _, data = self.request(method, path, body, headers)
        return status, (json.loads(data) if data else None)

    def wait(self, qid):
        """Follows a question's events to its end; the question as stored. self.seen: the events' bytes."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("GET", "/api/v1/questions/%s/events" % qid)
        r = c.getresponse()
        self.seen, end = b"", False
        for line in r:
            self.seen += line
            if end and line.startswith(b"data:"):
                break
            end = end or line.startswith(b"event: result") or line.startswith(b"event: error")
        c.close()
        return self.json("GET", "/api/v1/questions/" + qid)[1]

    def session(self):
        """The session cookie and form token the home page gives."""
        status, h, page = self.request("GET", "/")
        assert status == 200
        cookie = h["set-cookie"].split(";")[0]
        token = re.search(rb'name="token" value="([0-9a-f]+)"', page).group(1).decode()
        return cookie, token

    def count(self):
        return len(self.json("GET", "/api/v1/questions")[1]["questions"])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, fake):
    tmp = tmp_path_factory.mktemp("web")
    broken = tmp / "models" / "broken.gguf"
    broken.parent.mkdir()
    broken.write_bytes(b"not a model at all" * 10)
    s = Serve(tmp, fake, local={"lumpy": str(broken)})
    s.broken = str(broken)
    yield s
    s.stop()


def start_question(srv, members=("alpha", "beta")):
    status, q = srv.json("POST", "/api/v1/questions", {"question": "What is the capital of France?",
                                                       "members": list(members)})
    assert status == 201, q
    return q["id"]


# ---- cross-site requests ----------------------------------------------------------------

def test_cross_site_form_post_is_refused(srv):
    cookie, token = srv.session()
    before = srv.count()
    # the attack from the issue: a plain cross-site form post
    status, h, _ = srv.request("POST", "/ask", b"q=x", dict(EVIL, **{"Content-Type": FORM}))
    assert status == 403
    # even carrying a victim's cookie and a stolen token, another origin is refused
    status, _, _ = srv.request("POST", "/ask", ("q=x&token=" + token).encode(),
                               {"Content-Type": FORM, "Cookie": cookie, "Origin": "http://evil.example"})
    assert status == 403
    status, _, _ = srv.request("POST", "/ask", ("q=x&token=" + token).encode(),
                               {"Content-Type": FORM, "Cookie": cookie, "Sec-Fetch-Site": "same-site"})
    assert status == 403
    # a sandboxed frame elsewhere posts with Origin: null, and the browser says cross-site
    status, _, _ = srv.request("POST", "/ask", ("q=x&token=" + token).encode(),
                               {"Content-Type": FORM, "Cookie": cookie, "Origin": "null",
                                "Sec-Fetch-Site": "cross-site"})
    assert status == 403
    assert srv.count() == before


def test_cross_site_delete_is_refused(srv):
    qid = start_question(srv)
    srv.wait(qid)
    cookie, token = srv.session()
    status, _, _ = srv.request("POST", "/q/%s/delete" % qid, ("token=" + token).encode(),
                               dict(EVIL, **{"Content-Type": FORM, "Cookie": cookie}))
    assert status == 403
    status, _, _ = srv.request("DELETE", "/api/v1/questions/" + qid, headers=EVIL)
    assert status == 403
    status, _, _ = srv.request("POST", "/api/v1/questions/%s/rerun" % qid, headers=EVIL)
    assert status == 403
    assert srv.json("GET", "/api/v1/questions/" + qid)[0] == 200


def test_forms_need_the_session_token(srv):
    before = srv.count()
    same = {"Content-Type": FORM, "Origin": "http://127.0.0.1:%d" % srv.port, "Sec-Fetch-Site": "same-origin"}
    assert srv.request("POST", "/ask", b"q=hi", same)[0] == 403  # no token
    cookie, token = srv.session()
    other_cookie, _ = srv.session()
    assert srv.request("POST", "/ask", ("q=hi&token=" + token).encode(), dict(same, Cookie=other_cookie))[0] == 403
    assert srv.count() == before
    status, h, _ = srv.request("POST", "/ask", ("q=hi&token=" + token).encode(), dict(same, Cookie=cookie))
    assert status == 303 and h["location"].startswith("/q/")
    qid = h["location"][3:]
    srv.wait(qid)
    # every form that posts carries the token: home, the question page, history
    for path in ("/", "/q/" + qid, "/history"):
        _, _, page = srv.request("GET", path, headers={"Cookie": cookie})
        forms = re.findall(rb'<form[^>]*method="post"[^>]*>(.*?)</form>', page, re.S)
        assert forms, path
        for f in forms:
            assert ('name="token" value="%s"' % token).encode() in f, (path, f[:200])


# ---- DNS rebinding ------------------------------------------------------------------------

def test_rebinding_host_is_refused(srv):
    for path in ("/api/v1/questions", "/", "/v1/models"):
        status, _, body = srv.request("GET", path, headers={"Host": "attacker.example"})
        assert status == 421, (path, status)
        assert b"What is the capital" not in body
        status, _, _ = srv.request("GET", path, headers={"Host": "attacker.example:%d" % srv.port})
        assert status == 421
    for host in ("localhost:%d" % srv.port, "127.0.0.1:%d" % srv.port, "[::1]:%d" % srv.port, "LOCALHOST"):
        assert srv.request("GET", "/api/v1/questions", headers={"Host": host})[0] == 200, host


def test_allowed_host_setting(tmp_path, fake):
    s = Serve(tmp_path, fake, "--allowed-host", "drux.example.org")
    try:
        assert s.request("GET", "/api/v1/health", headers={"Host": "drux.example.org"})[0] == 200
        assert s.request("GET", "/api/v1/health", headers={"Host": "evil.example.org"})[0] == 421
    finally:
        s.stop()
    s = Serve(tmp_path, fake, env_extra={"DRUX_ALLOWED_HOSTS": "a.example, b.example"})
    try:
        assert s.request("GET", "/api/v1/health", headers={"Host": "b.example:8080"})[0] == 200
        assert s.request("GET", "/api/v1/health", headers={"Host": "c.example"})[0] == 421
    finally:
        s.stop()


# ---- no file-system paths -----------------------------------------------------------------

def has_path(blob, srv):
    text = blob if isinstance(blob, str) else blob.decode(errors="replace")
    return str(srv.tmp) in text or "/models/" in text or "/tmp/" in text


def test_no_paths_in_members_questions_pages_or_v1_errors(srv):
    status, _, body = srv.request("GET", "/api/v1/members")
    assert status == 200 and not has_path(body, srv), body
    m = json.loads(body)
    assert [x["model"] for x in m["members"] if x["name"] == "lumpy"] == ["broken"]
    # a stored question asked of the broken local member
    qid = start_question(srv, ("alpha", "lumpy"))
    q = srv.wait(qid)
    assert [x["model"] for x in q["members"]][1] == "broken"
    assert b"event: result" in srv.seen and not has_path(srv.seen, srv), srv.seen[-600:]
    with sqlite3.connect(srv.db) as db:  # what is stored, not only what is shown
        stored = json.dumps(db.execute("SELECT * FROM members").fetchall() +
                            db.execute("SELECT * FROM analyses").fetchall())
    assert not has_path(stored, srv), stored
    status, _, body = srv.request("GET", "/api/v1/questions/" + qid)
    assert not has_path(body, srv), body
    status, _, page = srv.request("GET", "/q/" + qid)
    assert status == 200 and not has_path(page, srv)
    assert b"title=" not in page
    _, _, lst = srv.request("GET", "/api/v1/questions")
    assert not has_path(lst, srv)
    # /v1: the local model's failure, streamed and whole, names no path
    for stream in (False, True):
        status, _, body = srv.request("POST", "/v1/chat/completions", {
            "model": "broken", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
        assert b"error" in body, body
        assert not has_path(body, srv), body


# ---- caching --------------------------------------------------------------------------------

def test_pages_and_api_are_not_cached(srv):
    qid = start_question(srv)
    srv.wait(qid)
    for path in ("/", "/history", "/q/" + qid, "/q/%s?fragment=1" % qid, "/api/v1/questions",
                 "/api/v1/questions/" + qid, "/api/v1/health", "/v1/models", "/no-such-page"):
        status, h, _ = srv.request("GET", path)
        assert h.get("cache-control") == "no-store", (path, h.get("cache-control"))
    status, h, _ = srv.request("GET", "/static/app.js")
    assert status == 200 and "no-store" not in h.get("cache-control", "")


# ---- truths of the API ------------------------------------------------------------------

def test_rerun_answers_created_with_location(srv):
    qid = start_question(srv)
    srv.wait(qid)
    status, h, body = srv.request("POST", "/api/v1/questions/%s/rerun" % qid)
    q = json.loads(body)
    assert status == 201 and h["location"] == "/api/v1/questions/" + q["id"] and q["id"] != qid
    srv.wait(q["id"])


def test_v1_models_lists_only_what_can_chat(tmp_path, fake):
    cache = tmp_path / "home" / "models"
    cache.mkdir(parents=True)
    for name, arch in (("chatty-llama", "llama"), ("encoder-minilm", "bert")):
        (cache / (name + ".gguf")).write_bytes(b"GGUF")
        (cache / (name + ".json")).write_text(json.dumps({
            "architecture": arch, "display_name": name, "family": "", "file": name + ".gguf",
            "name": name, "sha256": "0" * 64, "size": 4, "source": "test",
            "pulled_at": "2026-12-06T00:00:00Z"}))
    s = Serve(tmp_path, fake)
    try:
        status, listed = s.json("GET", "/api/v1/models")
        names = [m["name"] for m in listed["models"]]
        assert "encoder-minilm" in names and "chatty-llama" in names, listed  # the cache has both
        status, m = s.json("GET", "/v1/models")
        ids = [x["id"] for x in m["data"]]
        assert "council" in ids and "chatty-llama" in ids and "encoder-minilm" not in ids, ids
    finally:
        s.stop()


# ---- the client's address behind a proxy -------------------------------------------------

def test_forwarded_for_counts_only_from_trusted_proxies(tmp_path, fake):
    ask = {"question": "What is the capital of France?", "members": ["alpha"]}
    # untrusted: X-Forwarded-For is ignored, so it can't dodge the limit
    s = Serve(tmp_path, fake, "--rate-limit", "1")
    try:
        codes = [s.json("POST", "/api/v1/questions", ask, {"X-Forwarded-For": "10.0.0.%d" % i})[0]
                 for i in range(8)]
        assert 429 in codes, codes
    finally:
        s.stop()
    # behind a trusted proxy each forwarded client has its own budget
    s = Serve(tmp_path, fake, "--rate-limit", "1", "--trusted-proxy", "127.0.0.1")
    try:
        codes = [s.json("POST", "/api/v1/questions", ask, {"X-Forwarded-For": "10.0.0.%d" % i})[0]
                 for i in range(8)]
        assert codes == [201] * 8, codes
        one = [s.json("POST", "/api/v1/questions", ask, {"X-Forwarded-For": "203.0.113.7, 10.0.1.1"})[0]
               for _ in range(8)]
        assert 429 in one, one  # one client stays one client
    finally:
        s.stop()
