"""drux serve as an attacker and a careful user see it over HTTP: cross-site
requests, DNS rebinding, form tokens, no file-system paths, caching, the
client address behind a trusted proxy, and the small truths of the API
(rerun's Location, /v1/models). The council is played by fake_openai.py
(remote members), so no model is needed and every answer is known."""

import http.client
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from drux_server import DRUX, DruxServer, serve_env  # noqa: E402
from fake_openai import say  # noqa: E402

EVIL = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
FORM = "application/x-www-form-urlencoded"


class Serve(DruxServer):
    """drux serve on a free port with a council of fake remote members (and
    optionally a local member whose file is not a model)."""

    def __init__(self, tmp, fake, *args, members=None, local=None, env_extra=None, ini_extra=""):
        self.tmp = tmp
        members = members or {"alpha": say("Paris is the capital of France."),
                              "beta": say("The capital of France is Paris.")}
        lines = ["[council]", "max_tokens = 32", "timeout_s = 30", ""]
        for name, model in members.items():
            # the fake plays a server of one's own: free members, which anonymous visitors ask
            lines += ["[member.%s]" % name, "type = remote", "base_url = " + fake.base_url,
                      "model = " + model, "max_attempts = 1", "tier = free", ""]
        for name, path in (local or {}).items():
            lines += ["[member.%s]" % name, "type = local", "model = " + path, ""]
        cfg = tmp / "council.ini"
        cfg.write_text(ini_extra + "\n".join(lines))
        self.db = str(tmp / "drux.db")
        self.launch(["--config", str(cfg), "--db", self.db] + list(args), serve_env(tmp, env_extra))

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
    # the config file's [server] section: used when no flag or variable says otherwise
    ini = "[server]\nallowed_hosts = conf.example, d.example\n\n"
    s = Serve(tmp_path, fake, ini_extra=ini)
    try:
        assert s.request("GET", "/api/v1/health", headers={"Host": "d.example"})[0] == 200
        assert s.request("GET", "/api/v1/health", headers={"Host": "conf.example:443"})[0] == 200
        assert s.request("GET", "/api/v1/health", headers={"Host": "c.example"})[0] == 421
    finally:
        s.stop()
    s = Serve(tmp_path, fake, "--allowed-host", "flag.example", ini_extra=ini)
    try:  # a flag wins over the file
        assert s.request("GET", "/api/v1/health", headers={"Host": "flag.example"})[0] == 200
        assert s.request("GET", "/api/v1/health", headers={"Host": "d.example"})[0] == 421
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
    # the same trust from the config file's [server] section
    s = Serve(tmp_path, fake, "--rate-limit", "1", ini_extra="[server]\ntrusted_proxies = 127.0.0.1\n\n")
    try:
        codes = [s.json("POST", "/api/v1/questions", ask, {"X-Forwarded-For": "10.0.2.%d" % i})[0]
                 for i in range(8)]
        assert codes == [201] * 8, codes
    finally:
        s.stop()


# ---- malformed framing: drux answers, once, with its headers --------------------------------

SECURITY = ("content-security-policy", "x-content-type-options", "referrer-policy",
            "x-frame-options", "cache-control")


def raw(port, data, wait=10, source=None):
    """Sends bytes as they are; returns everything the server sends until it closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait,
                                 source_address=(source, 0) if source else None)
    try:
        s.sendall(data)
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d
    finally:
        s.close()


def status_lines(reply):
    return len(re.findall(rb"(?:^|\n)HTTP/1\.[01] [0-9]{3} ", reply))


def parse_reply(reply):
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/1.1 ") else None
    h = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        h[k.strip().lower()] = v.strip()
    return status, h, body


def check_drux_reply(reply, want, api):
    status, h, body = parse_reply(reply)
    assert status == want, reply[:300]
    assert status_lines(reply) == 1, reply[:600]  # one status line, one header block
    for k in SECURITY:
        assert k in h, (k, reply[:600])
    assert h["cache-control"] == "no-store" and h["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert int(h["content-length"]) == len(body)
    if api:
        assert h["content-type"] == "application/json"
        assert json.loads(body)["error"]["code"]
    else:
        assert h["content-type"].startswith("text/html") and b"<html" in body
        assert str(want).encode() in body


H = b"Host: 127.0.0.1\r\n"
FRAMING = [
    # the case: Content-Length -1 once gave the status line and headers twice
    ("negative length", b"POST /api/v1/questions HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400, True),
    ("length not a number", b"POST /ask HTTP/1.1\r\n" + H + b"Content-Length: 1e3\r\n\r\n", 400, False),
    ("two lengths", b"POST /api/v1/questions HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 5\r\n\r\nabc", 400, True),
    ("garbage", b"\x00\x01\x02\xff\xfe garbage\r\n\r\n", 400, False),
    ("tls hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, False),
    ("no version", b"GET /api/v1/health\r\n\r\n", 400, True),
    ("http/2 text", b"GET /api/v1/health HTTP/2.0\r\n" + H + b"\r\n", 505, True),
    ("http/0.9 page", b"GET / HTTP/0.9\r\n" + H + b"\r\n", 505, False),
    ("long address", b"GET /api/v1/" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414, True),
    ("long headers", b"GET /v1/models HTTP/1.1\r\n" + H + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n", 431, True),
    ("many headers", b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"\r\n", 431, False),
    ("1.1 without host", b"GET /api/v1/questions HTTP/1.1\r\n\r\n", 400, True),
    ("two hosts", b"GET /api/v1/questions HTTP/1.1\r\n" + H + b"Host: evil.example\r\n\r\n", 400, True),
    ("folded header", b"GET /api/v1/health HTTP/1.1\r\n" + H + b"X-A: b\r\n c\r\n\r\n", 400, True),
    ("control byte", b"GET /api/v1/health HTTP/1.1\r\n" + H + b"X-A: b\x01c\r\n\r\n", 400, True),
    ("bare newlines", b"GET /api/v1/health HTTP/1.1\n" + H + b"\n", 400, True),
    ("chunked body", b"POST /api/v1/questions HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 411, True),
    ("length and chunked", b"POST /api/v1/questions HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411, True),
    ("huge length", b"POST /v1/chat/completions HTTP/1.1\r\n" + H + b"Content-Length: 99999999999\r\n\r\n", 413, True),
]


@pytest.mark.parametrize("name,data,want,api", FRAMING, ids=[f[0] for f in FRAMING])
def test_malformed_framing_gets_one_reply_with_security_headers(srv, name, data, want, api):
    check_drux_reply(raw(srv.port, data), want, api)


def test_a_request_cut_short_is_answered(srv):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line
    s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    check_drux_reply(out, 400, True)


def test_good_requests_pass_the_gate_one_per_connection(srv):
    # a well-formed head reaches the routes untouched, body included
    body = json.dumps({"question": "x" * 10, "members": ["nobody"]}).encode()
    reply = raw(srv.port, b"POST /api/v1/questions HTTP/1.1\r\n" + H + b"Content-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body)
    status, h, data = parse_reply(reply)
    assert status == 400 and "nobody" in json.loads(data)["error"]["message"], reply[:400]
    # HTTP/1.0 without Host is still a request; header names in any case
    status, h, data = parse_reply(raw(srv.port, b"GET /api/v1/health HTTP/1.0\r\ncontent-LENGTH: 0\r\n\r\n"))
    assert status == 200 and json.loads(data)["status"] == "ok"
    # each connection carries one request: a second one pipelined behind is not answered unchecked
    reply = raw(srv.port, b"GET /api/v1/health HTTP/1.1\r\n" + H + b"\r\n"
                b"GET /api/v1/health HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n")
    assert status_lines(reply) == 1 and parse_reply(reply)[1]["connection"] == "close", reply[:400]


# ---- connections per address ----------------------------------------------------------------

def hold(port, n, source=None, head=None):
    """n open connections, each with a request not finished (or nothing sent)."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10,
                                     source_address=(source, 0) if source else None)
        if head:
            s.sendall(head)
        socks.append(s)
    return socks


def health(port, source=None, headers=b""):
    return parse_reply(raw(port, b"GET /api/v1/health HTTP/1.1\r\n" + H + headers + b"\r\n",
                           source=source))


def test_65th_connection_from_one_address_is_refused(tmp_path, fake):
    s = Serve(tmp_path, fake)
    socks = []
    try:
        # 64 open: half still sending their head, half with a request in flight (its body awaited)
        socks = hold(s.port, 32) + hold(s.port, 32, head=b"POST /api/v1/questions HTTP/1.1\r\n" + H +
                                        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        time.sleep(0.5)
        status, h, body = health(s.port)
        assert status == 429 and json.loads(body)["error"]["code"] == "too_many_connections", body
        assert h["cache-control"] == "no-store" and "content-security-policy" in h
        # X-Forwarded-For from an untrusted peer changes nothing
        assert health(s.port, headers=b"X-Forwarded-For: 10.9.9.9\r\n")[0] == 429
        # another address is served meanwhile
        assert health(s.port, source="127.0.0.2")[0] == 200
        # a place freed is a place again
        socks.pop().close()
        deadline = time.time() + 10
        while health(s.port)[0] != 200:
            assert time.time() < deadline, "the closed connection's place never came back"
            time.sleep(0.2)
    finally:
        for x in socks:
            x.close()
        s.stop()


def test_forwarded_clients_behind_a_trusted_proxy_are_capped_apart(tmp_path, fake):
    s = Serve(tmp_path, fake, "--trusted-proxy", "127.0.0.1")
    socks = []
    post = (b"POST /api/v1/questions HTTP/1.1\r\n" + H + b"Content-Type: application/json\r\n"
            b"Content-Length: 100\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n{")
    try:
        # one client behind the proxy with 64 requests in flight
        socks = hold(s.port, 64, head=post)
        time.sleep(0.5)
        status, _, body = health(s.port, headers=b"X-Forwarded-For: 10.0.0.1\r\n")
        assert status == 429 and json.loads(body)["error"]["code"] == "too_many_connections", body
        # the proxy itself is not capped at 64: its other clients are served
        for i in range(2, 6):
            assert health(s.port, headers=b"X-Forwarded-For: 10.0.0.%d\r\n" % i)[0] == 200
        # an entry the client wrote left of the proxy's does not make it someone else
        status = health(s.port, headers=b"X-Forwarded-For: 10.7.7.7, 10.0.0.1\r\n")[0]
        assert status == 429
    finally:
        for x in socks:
            x.close()
        s.stop()


# ---- the form token outlives a restart ----------------------------------------------------

def test_open_form_still_posts_after_a_restart(tmp_path, fake):
    same = {"Content-Type": FORM, "Sec-Fetch-Site": "same-origin"}
    s = Serve(tmp_path, fake)
    try:
        cookie, token = s.session()  # a page opened before the restart
    finally:
        s.stop()
    key = tmp_path / "drux.db.key"  # the server key beside the store, for its owner only
    assert key.stat().st_mode & 0o777 == 0o600 and key.stat().st_size == 32
    s = Serve(tmp_path, fake)
    try:
        status, h, _ = s.request("POST", "/ask", ("q=still+there%3F&token=" + token).encode(),
                                 dict(same, Cookie=cookie))
        assert status == 303 and h["location"].startswith("/q/"), status
        s.wait(h["location"][3:])
        # a token is still bound to its own session
        other, _ = s.session()
        assert s.request("POST", "/ask", ("q=x&token=" + token).encode(), dict(same, Cookie=other))[0] == 403
    finally:
        s.stop()
    # a key others can read is refused, with a message saying what to do
    key.chmod(0o644)
    cfg = tmp_path / "council.ini"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["DRUX_HOME"] = str(tmp_path / "home")
    p = subprocess.run([DRUX, "serve", "--port", "0", "--config", str(cfg), "--db", str(tmp_path / "drux.db")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode != 0 and "readable by others" in p.stderr and "chmod 600" in p.stderr, p.stderr
