"""Accounts over HTTP, as a careful user and an attacker see them: sign-up, sign-in, sign-out,
change of password, session expiry, login throttling, the cookie's attributes, forged and
replayed cookies, form tokens and cross-site posts, and one user's private questions against
every route another user or an anonymous visitor could try (pages, /api/v1, /v1). The council is
played by fake_openai.py, so no model is needed."""

import http.client
import json
import os
import re
import sys
import time
import urllib.parse

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_web import EVIL, FORM, Serve  # noqa: E402

PASSWORD = "correct horse battery"


class Client:
    """One browser: its cookies, the form token its pages carry, and the server's origin. Behind a
    server started with --trusted-proxy 127.0.0.1 each client has an address of its own (as the
    proxy's X-Forwarded-For names it), so the per-address limits count each one apart."""

    count = 0

    def __init__(self, srv):
        Client.count += 1
        self.srv = srv
        self.addr = "10.%d.%d.%d" % (Client.count >> 16 & 255, Client.count >> 8 & 255, Client.count & 255)
        self.cookies = {}
        self.token = None
        self.set_cookies = []  # every Set-Cookie of the last response

    def request(self, method, path, body=None, headers=None, cookies=True):
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=60)
        headers = dict(headers or {})
        headers.setdefault("X-Forwarded-For", self.addr)
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body).encode()
            headers.setdefault("Content-Type", FORM)
        if method != "GET":
            headers.setdefault("Origin", "http://127.0.0.1:%d" % self.srv.port)
            headers.setdefault("Sec-Fetch-Site", "same-origin")
        if cookies and self.cookies:
            headers["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        self.set_cookies = [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
        for sc in self.set_cookies:
            name, _, rest = sc.partition("=")
            value = rest.split(";")[0]
            if "Max-Age=0" in sc or not value:
                self.cookies.pop(name, None)
            elif cookies:
                self.cookies[name] = value
        c.close()
        m = re.search(rb'name="token" value="([0-9a-f]+)"', data)
        if m:
            self.token = m.group(1).decode()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def page(self, path):
        return self.request("GET", path)

    def post(self, path, fields=None, token=True, headers=None):
        if self.token is None:
            self.page("/")
        fields = dict(fields or {})
        if token:
            fields.setdefault("token", self.token)
        return self.request("POST", path, fields, headers)

    def signup(self, name, password=PASSWORD):
        self.page("/signup")
        return self.post("/signup", {"name": name, "password": password, "password2": password})

    def signin(self, name, password=PASSWORD):
        self.page("/signin")
        return self.post("/signin", {"name": name, "password": password})

    def ask(self, text="What is the capital of France?"):
        status, h, _ = self.post("/ask", {"q": text})
        assert status == 303 and h["location"].startswith("/q/"), status
        return h["location"][3:]

    def json(self, method, path, body=None):
        headers = {}
        if body is not None:
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if method != "GET" and self.token:
            headers["X-Drux-Token"] = self.token
        status, _, data = self.request(method, path, body, headers)
        return status, (json.loads(data) if data else None)

    def wait(self, qid):
        """Follows a question's events, with this browser's cookies, to its end."""
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=60)
        c.request("GET", "/api/v1/questions/%s/events" % qid,
                  headers={"Cookie": "; ".join("%s=%s" % kv for kv in self.cookies.items()),
                           "X-Forwarded-For": self.addr})
        r = c.getresponse()
        assert r.status == 200, r.status
        end = False
        for line in r:
            if end and line.startswith(b"data:"):
                break
            end = end or line.startswith(b"event: result") or line.startswith(b"event: error")
        c.close()

    def signed_in_as(self):
        _, _, page = self.page("/")
        m = re.search(rb'<a href="/settings" class="who"[^>]*>([^<]*)</a>', page)
        return m.group(1).decode() if m else None


@pytest.fixture(scope="module")
def srv(tmp_path_factory, fake):
    s = Serve(tmp_path_factory.mktemp("accounts"), fake, "--trusted-proxy", "127.0.0.1")
    yield s
    s.stop()


def account_cookie(client):
    return [c for c in client.set_cookies if c.startswith("drux_account=")]


def test_sign_up_sign_in_sign_out(srv):
    ada = Client(srv)
    assert ada.signed_in_as() is None
    _, _, home = ada.page("/")
    assert b'href="/signin"' in home
    status, h, _ = ada.signup("Ada.Lovelace@example.org")
    assert status == 303 and h["location"] == "/"
    [cookie] = account_cookie(ada)
    attrs = [a.strip() for a in cookie.split(";")]
    assert "HttpOnly" in attrs and "SameSite=Lax" in attrs and "Path=/" in attrs
    assert "Secure" not in attrs  # plain http on loopback
    assert any(a.startswith("Max-Age=") and int(a[8:]) > 0 for a in attrs)
    assert len(ada.cookies["drux_account"]) == 43
    assert ada.signed_in_as() == "ada.lovelace@example.org"
    assert ada.page("/settings")[0] == 200
    # the name is taken, in any case
    other = Client(srv)
    status, _, page = other.signup("ADA.lovelace@example.org")
    assert status == 400 and b"taken" in page and not account_cookie(other)
    # sign out: the cookie goes, and the old value no longer signs anyone in
    old = ada.cookies["drux_account"]
    status, h, _ = ada.post("/signout")
    assert status == 303 and "drux_account" not in ada.cookies
    assert ada.signed_in_as() is None
    replay = Client(srv)
    replay.cookies["drux_account"] = old
    assert replay.signed_in_as() is None
    status, h, _ = replay.page("/settings")
    assert status == 303 and h["location"] == "/signin"
    # and signing in again works
    status, _, _ = ada.signin("ada.lovelace@example.org")
    assert status == 303 and ada.signed_in_as() == "ada.lovelace@example.org"


def test_wrong_password_and_unknown_name(srv):
    Client(srv).signup("wrongpw")
    c = Client(srv)
    status, _, page = c.signin("wrongpw", "not the password at all")
    assert status == 401 and b"Wrong account name or password" in page
    assert "drux_account" not in c.cookies
    status, _, page2 = c.signin("nobody-here", "not the password at all")
    assert status == 401 and b"Wrong account name or password" in page2  # same answer
    assert c.signin("wrongpw")[0] == 303


def test_sign_up_checks(srv):
    c = Client(srv)
    c.page("/signup")
    assert c.post("/signup", {"name": "shorty", "password": "short", "password2": "short"})[0] == 400
    assert c.post("/signup", {"name": "mismatch", "password": PASSWORD,
                              "password2": PASSWORD + "x"})[0] == 400
    assert c.post("/signup", {"name": "a", "password": PASSWORD, "password2": PASSWORD})[0] == 400
    assert c.post("/signup", {"name": "<script>", "password": PASSWORD, "password2": PASSWORD})[0] == 400
    assert "drux_account" not in c.cookies
    # at most 10 new accounts from one address in 15 minutes
    for i in range(10):
        assert Client.signup(c, "many%02d" % i)[0] == 303
        c.post("/signout")
    status, _, page = c.signup("many10")
    assert status == 429 and b"Too many attempts" in page


def test_throttling_per_account(srv):
    Client(srv).signup("target")
    attacker = Client(srv)
    for _ in range(5):
        assert attacker.signin("target", "guess guess guess")[0] == 401
    # now even the right password is refused for a while, from any address
    status, _, page = Client(srv).signin("target")
    assert status == 429 and b"Too many attempts" in page


def test_throttling_per_address(tmp_path, fake):
    srv = Serve(tmp_path, fake)
    try:
        Client(srv).signup("victim")
        c = Client(srv)
        for i in range(20):  # one wrong guess each for many names: the address is what repeats
            assert c.signin("name%02d" % i, "guess guess guess")[0] == 401
        status, _, _ = c.signin("victim")
        assert status == 429
        # another client address (a trusted proxy's X-Forwarded-For) is not held back
    finally:
        srv.stop()


def test_forged_and_malformed_cookies(srv):
    for value in ("A" * 43, "x", "../../etc/passwd", "A" * 44, ""):
        c = Client(srv)
        c.cookies["drux_account"] = value
        status, h, _ = c.page("/settings")
        assert status == 303 and h["location"] == "/signin", value
        if value:
            assert any("Max-Age=0" in sc for sc in account_cookie(c)), value  # told to forget it


def test_sign_out_everywhere_and_password_change(srv):
    one, two = Client(srv), Client(srv)
    one.signup("roamer")
    two.signin("roamer")
    assert two.signed_in_as() == "roamer"
    one.page("/settings")
    status, h, _ = one.post("/signout-everywhere")
    assert status == 303
    assert one.signed_in_as() is None and two.signed_in_as() is None
    # a new password ends every other session; this browser stays in
    one.signin("roamer")
    two.signin("roamer")
    one.page("/settings")
    status, _, page = one.post("/settings/password", {"old": "wrong wrong wrong", "password": "a new password 1",
                                                      "password2": "a new password 1"})
    assert status == 401 and b"current password is wrong" in page
    status, h, _ = one.post("/settings/password", {"old": PASSWORD, "password": "a new password 1",
                                                   "password2": "a new password 1"})
    assert status == 303 and h["location"].startswith("/settings")
    assert one.signed_in_as() == "roamer"
    assert two.signed_in_as() is None
    assert Client(srv).signin("roamer")[0] == 401
    assert Client(srv).signin("roamer", "a new password 1")[0] == 303


def test_session_expires(tmp_path, fake):
    srv = Serve(tmp_path, fake, "--session-ttl", "2")
    try:
        c = Client(srv)
        c.signup("brief")
        assert "Max-Age=2" in account_cookie(c)[0]
        assert c.signed_in_as() == "brief"
        time.sleep(3)
        assert c.signed_in_as() is None
        assert c.page("/settings")[0] == 303
    finally:
        srv.stop()


def test_secure_cookie_behind_tls(tmp_path, fake):
    srv = Serve(tmp_path, fake, "--trusted-proxy", "127.0.0.1")
    try:
        c = Client(srv)
        c.page("/signup")
        c.post("/signup", {"name": "tls-user", "password": PASSWORD, "password2": PASSWORD},
               headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in [a.strip() for a in account_cookie(c)[0].split(";")]
        # without the proxy's word, plain http
        c.post("/signout")
        c.signin("tls-user")
        assert "Secure" not in [a.strip() for a in account_cookie(c)[0].split(";")]
    finally:
        srv.stop()
    srv = Serve(tmp_path, fake, "--https")
    try:
        c = Client(srv)
        c.signup("tls-user2")
        assert "Secure" in [a.strip() for a in account_cookie(c)[0].split(";")]
    finally:
        srv.stop()
    # a client that is not a trusted proxy can't claim https
    srv = Serve(tmp_path, fake)
    try:
        c = Client(srv)
        c.page("/signup")
        c.post("/signup", {"name": "tls-user3", "password": PASSWORD, "password2": PASSWORD},
               headers={"X-Forwarded-Proto": "https"})
        assert "Secure" not in [a.strip() for a in account_cookie(c)[0].split(";")]
    finally:
        srv.stop()


def test_no_signup(tmp_path, fake):
    srv = Serve(tmp_path, fake, "--no-signup")
    try:
        c = Client(srv)
        assert c.page("/signup")[0] == 403
        c.page("/signin")
        status, _, _ = c.post("/signup", {"name": "sneaky", "password": PASSWORD, "password2": PASSWORD})
        assert status == 403 and "drux_account" not in c.cookies
    finally:
        srv.stop()


def test_forms_need_token_and_same_origin(srv):
    c = Client(srv)
    c.signup("careful")
    qid = c.ask()
    c.wait(qid)
    for path, fields in (("/signout", {}), ("/signout-everywhere", {}), ("/ask", {"q": "hi"}),
                         ("/settings/password", {"old": PASSWORD, "password": "x" * 12, "password2": "x" * 12}),
                         ("/q/%s/delete" % qid, {}), ("/q/%s/rerun" % qid, {})):
        assert c.post(path, fields, token=False)[0] == 403, path
        assert c.post(path, dict(fields, token="0" * 32))[0] == 403, path
        assert c.post(path, dict(fields), headers=EVIL)[0] == 403, path
    # sign-in and sign-up forms too (login CSRF)
    x = Client(srv)
    assert x.post("/signin", {"name": "careful", "password": PASSWORD}, token=False)[0] == 403
    assert x.post("/signup", {"name": "csrf-new", "password": PASSWORD, "password2": PASSWORD},
                  headers=EVIL)[0] == 403
    assert c.signed_in_as() == "careful"
    assert srv.json("GET", "/api/v1/questions/" + qid)[0] == 404  # still there, still private
    assert c.json("GET", "/api/v1/questions/" + qid)[0] == 200
    # the API: a signed-in write needs the page's token in X-Drux-Token
    status, _, _ = c.request("DELETE", "/api/v1/questions/" + qid)
    assert status == 403
    status, _, _ = c.request("POST", "/api/v1/questions", json.dumps({"question": "hi"}).encode(),
                             {"Content-Type": "application/json", "X-Drux-Token": "0" * 32})
    assert status == 403
    assert c.json("GET", "/api/v1/questions/" + qid)[0] == 200


def test_private_questions_on_every_route(srv, fake):
    ada, bob, anon = Client(srv), Client(srv), Client(srv)
    ada.signup("ada-private")
    bob.signup("bob-private")
    anon.page("/")
    public = anon.ask("An anonymous question about Paris?")
    qid = ada.ask("Ada's private question about Paris?")
    ada.wait(qid)
    srv.wait(public)
    status, q = ada.json("GET", "/api/v1/questions/" + qid)
    assert status == 200 and q["question"] == "Ada's private question about Paris?"
    _, _, page = ada.page("/q/" + qid)
    share = re.search(rb'href="/q/%s\?s=([A-Za-z0-9_-]+)"' % qid.encode(), page).group(1).decode()

    for who in (bob, anon):
        # pages
        assert who.page("/q/" + qid)[0] == 404
        assert who.page("/q/%s?fragment=1" % qid)[0] == 404
        assert who.page("/q/%s?s=%s" % (qid, "A" * len(share)))[0] == 404
        _, _, hist = who.page("/history")
        assert qid.encode() not in hist and b"private question" not in hist
        _, _, hist = who.page("/history?q=private")
        assert qid.encode() not in hist
        _, _, home = who.page("/")
        assert qid.encode() not in home
        assert who.post("/q/%s/delete" % qid)[0] == 404
        assert who.post("/q/%s/rerun" % qid)[0] == 404
        # /api/v1
        assert who.json("GET", "/api/v1/questions/" + qid)[0] == 404
        assert who.json("GET", "/api/v1/questions/%s/events" % qid)[0] == 404
        status, lst = who.json("GET", "/api/v1/questions?q=private")
        assert status == 200 and not lst["questions"]
        assert who.json("DELETE", "/api/v1/questions/" + qid)[0] == 404
        assert who.json("POST", "/api/v1/questions/%s/rerun" % qid)[0] == 404
        # /v1 has no route that reads a stored question; its models list names none
        status, _, body = who.request("GET", "/v1/models")
        assert status == 200 and qid.encode() not in body
        assert who.request("GET", "/v1/chat/completions/" + qid)[0] in (404, 405)
        # the share link reads it, and changes nothing
        status, _, page = who.page("/q/%s?s=%s" % (qid, share))
        assert status == 200 and b"Ada&#39;s private question" in page or b"Ada's private question" in page
        assert b'action="/q/%s/delete"' % qid.encode() not in page
        assert who.json("GET", "/api/v1/questions/%s?s=%s" % (qid, share))[0] == 200
        assert who.post("/q/%s/delete?s=%s" % (qid, share))[0] == 404
    # bob's list is bob's; the anonymous list keeps the anonymous question
    assert [q["id"] for q in bob.json("GET", "/api/v1/questions")[1]["questions"]] == []
    anon_ids = [q["id"] for q in anon.json("GET", "/api/v1/questions")[1]["questions"]]
    assert public in anon_ids and qid not in anon_ids
    assert public not in [q["id"] for q in ada.json("GET", "/api/v1/questions")[1]["questions"]]
    # an anonymous question stays anonymous: anyone may still read it
    assert bob.json("GET", "/api/v1/questions/" + public)[0] == 200
    # ada's own routes work: her history, a re-run (hers too), and delete
    _, _, hist = ada.page("/history")
    assert qid.encode() in hist and b"Your questions" in hist
    status, h, _ = ada.post("/q/%s/rerun" % qid)
    assert status == 303
    nid = h["location"][3:]
    ada.wait(nid)
    assert bob.json("GET", "/api/v1/questions/" + nid)[0] == 404
    assert ada.json("GET", "/api/v1/questions/" + nid)[0] == 200
    status, _ = ada.json("DELETE", "/api/v1/questions/" + nid)
    assert status == 204
    assert ada.post("/q/%s/delete" % qid, {"confirm": "1"})[0] == 303  # confirmed (threads)
    assert ada.json("GET", "/api/v1/questions/" + qid)[0] == 404
    assert anon.page("/q/%s?s=%s" % (qid, share))[0] == 404


def test_api_question_of_a_signed_in_user(srv):
    cat = Client(srv)
    cat.signup("cat-api")
    status, q = cat.json("POST", "/api/v1/questions", {"question": "Is Paris in France?"})
    assert status == 201
    cat.wait(q["id"])
    assert srv.json("GET", "/api/v1/questions/" + q["id"])[0] == 404
    assert cat.json("GET", "/api/v1/questions/" + q["id"])[0] == 200


# ---- premium members ------------------------------------------------------------------------

import subprocess  # noqa: E402

import fake_providers  # noqa: E402
from drux_server import DRUX, serve_env  # noqa: E402
from fake_openai import say  # noqa: E402

SERVER_KEY = "sk-ant-server-wrong-1234"  # the server's own key: the fake refuses it for "auth"


class PremiumServe(Serve):
    """drux serve with free members (fake_openai, tier = free) and premium members (Anthropic and
    Gemini loopback providers, and an OpenAI-compatible one)."""

    def __init__(self, tmp, fake, providers, *args):
        self.tmp = tmp
        t = "@" + tmp.name[-12:]
        lines = ["[council]", "max_tokens = 32", "timeout_s = 30", "",
                 "[member.alpha]", "base_url = " + fake.base_url, "tier = free",
                 "model = " + say("Paris is the capital of France."), "max_attempts = 1", "",
                 "[member.beta]", "base_url = " + fake.base_url, "tier = free",
                 "model = " + say("The capital of France is Paris."), "max_attempts = 1", "",
                 "[member.claude]", "provider = anthropic", "base_url = " + providers.anthropic_url,
                 "model = say-" + "Paris, the capital of France.".encode().hex() + t, "max_attempts = 1", "",
                 "[member.keyed]", "provider = anthropic", "base_url = " + providers.anthropic_url,
                 "model = auth" + t, "max_attempts = 1", "",
                 "[member.gem]", "provider = gemini", "base_url = " + providers.gemini_url,
                 "model = say-" + "France's capital is Paris.".encode().hex() + t, "max_attempts = 1",
                 "input_price = 1", "output_price = 2", ""]
        cfg = tmp / "council.ini"
        cfg.write_text("\n".join(lines))
        self.db = str(tmp / "drux.db")
        self.launch(["--config", str(cfg), "--db", self.db] + list(args),
                    serve_env(tmp, {"ANTHROPIC_API_KEY": SERVER_KEY, "GEMINI_API_KEY": fake_providers.FAKE_KEY}))


@pytest.fixture(scope="module")
def psrv(tmp_path_factory, fake, providers):
    s = PremiumServe(tmp_path_factory.mktemp("premium"), fake, providers, "--trusted-proxy", "127.0.0.1")
    yield s
    s.stop()


def members_of(q):
    return {m["name"]: m for m in q["members"]}


def test_anonymous_asks_free_members_and_is_invited(psrv):
    anon = Client(psrv)
    _, _, home = anon.page("/")
    assert b"Sign in</a> free to run any question against frontier models" in home
    assert b'name="pm' not in home  # no premium choices without an account
    qid = anon.ask("What is the capital of France?")
    psrv.wait(qid)
    q = psrv.json("GET", "/api/v1/questions/" + qid)[1]
    assert set(members_of(q)) == {"alpha", "beta"}
    assert q["result"] and {m["tier"] for m in q["result"]["members"]} == {"free"}
    _, _, page = anon.page("/q/" + qid)
    assert page.count(b'class="m-tier badge free"') == 2 and b">premium<" not in page
    assert b"Free models only" in page
    # naming a premium member without an account is refused, on every route
    status, body = psrv.json("POST", "/api/v1/questions", {"question": "Hi?", "members": ["alpha", "claude"]})
    assert status == 403 and body["error"]["code"] == "sign_in_for_premium"
    # /v1's council is asked anonymously: free members only
    status, _, data = psrv.request("POST", "/v1/chat/completions",
                                   {"model": "council", "messages": [{"role": "user", "content": "Capital?"}]})
    assert status == 200, data
    lst = psrv.json("GET", "/api/v1/questions")[1]["questions"]
    assert all(set(m["name"] for m in x["members"]) <= {"alpha", "beta"} for x in lst)


def test_signed_in_user_chooses_premium_members(psrv):
    ada = Client(psrv)
    ada.signup("ada-premium")
    _, _, home = ada.page("/")
    assert b"frontier models" not in home  # no invitation once signed in
    idx = {n.decode(): i.decode() for i, n in re.findall(rb'name="pm(\d+)" value="1"> ([a-z]+)', home)}
    assert set(idx) == {"claude", "keyed", "gem"}
    status, h, _ = ada.post("/ask", {"q": "What is the capital of France?", "pmsel": "1",
                                     "pm" + idx["claude"]: "1", "pm" + idx["gem"]: "1"})
    assert status == 303
    qid = h["location"][3:]
    ada.wait(qid)
    q = ada.json("GET", "/api/v1/questions/" + qid)[1]
    ms = members_of(q)
    assert set(ms) == {"alpha", "beta", "claude", "gem"}
    assert all(m["status"] == "done" for m in ms.values()), ms
    tiers = {m["name"]: m["tier"] for m in q["result"]["members"]}
    assert tiers == {"alpha": "free", "beta": "free", "claude": "premium", "gem": "premium"}
    costs = {m["name"]: m["cost_usd"] for m in q["result"]["members"]}
    assert costs["gem"] > 0  # priced in the config
    _, _, page = ada.page("/q/" + qid)
    assert page.count(b'class="m-tier badge">premium<') == 2
    assert page.count(b'class="m-tier badge free">free<') == 2
    # defaults: saved on the settings page, used when a question names no members
    ada.page("/settings")
    assert ada.post("/settings/members", {"pmsel": "1", "pm" + idx["gem"]: "1"})[0] == 303
    _, _, settings = ada.page("/settings")
    assert re.search(rb'name="pm%s" value="1" checked> gem' % idx["gem"].encode(), settings)
    status, q = ada.json("POST", "/api/v1/questions", {"question": "Capital of France?"})
    assert status == 201
    ada.wait(q["id"])
    assert set(members_of(ada.json("GET", "/api/v1/questions/" + q["id"])[1])) == {"alpha", "beta", "gem"}


def test_daily_quota_of_premium_calls(psrv):
    bob = Client(psrv)
    bob.signup("bob-quota")
    p = subprocess.run([DRUX, "user", "quota", "bob-quota", "3", "--db", psrv.db], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    status, q = bob.json("POST", "/api/v1/questions", {"question": "Q1?", "members": ["alpha", "claude", "gem"]})
    assert status == 201
    bob.wait(q["id"])
    # two more premium calls would make 4 of 3: refused, nothing asked
    status, body = bob.json("POST", "/api/v1/questions", {"question": "Q2?", "members": ["claude", "gem"]})
    assert status == 429 and body["error"]["code"] == "premium_quota"
    assert len(bob.json("GET", "/api/v1/questions")[1]["questions"]) == 1
    # free members are never counted; one premium call still fits
    assert bob.json("POST", "/api/v1/questions", {"question": "Q3?", "members": ["alpha"]})[0] == 201
    assert bob.json("POST", "/api/v1/questions", {"question": "Q4?", "members": ["gem"]})[0] == 201
    assert bob.json("POST", "/api/v1/questions", {"question": "Q5?", "members": ["gem"]})[0] == 429
    _, _, settings = bob.page("/settings")
    assert b"Premium calls today: 3 of 3." in settings


def test_own_provider_key_is_sealed_used_and_never_shown(tmp_path, fake, providers):
    psrv = PremiumServe(tmp_path, fake, providers, "--trusted-proxy", "127.0.0.1")
    try:
        own_key(psrv)
    finally:
        err = psrv.stop()
    assert fake_providers.FAKE_KEY not in psrv.out + err


def own_key(psrv):
    import sqlite3
    cy = Client(psrv)
    cy.signup("cy-keys")
    # the server's key is refused by the "keyed" member's provider
    status, q = cy.json("POST", "/api/v1/questions", {"question": "Capital?", "members": ["keyed"]})
    cy.wait(q["id"])
    m = members_of(cy.json("GET", "/api/v1/questions/" + q["id"])[1])["keyed"]
    assert m["status"] == "failed" and SERVER_KEY not in json.dumps(m)
    _, _, settings = cy.page("/settings")
    assert b'name="key_anthropic"' in settings and b'name="key_gemini"' in settings
    status, h, _ = cy.post("/settings/keys", {"key_anthropic": fake_providers.FAKE_KEY, "key_gemini": ""})
    assert status == 303
    _, _, settings = cy.page("/settings")
    assert b"anthropic (a key is saved)" in settings and b"gemini (none saved)" in settings
    assert fake_providers.FAKE_KEY.encode() not in settings
    with sqlite3.connect(psrv.db) as c:
        rows = c.execute("SELECT provider, sealed FROM user_keys").fetchall()
    assert [p for p, _ in rows] == ["anthropic"] and fake_providers.FAKE_KEY not in rows[0][1]
    status, q = cy.json("POST", "/api/v1/questions", {"question": "Capital?", "members": ["keyed"]})
    cy.wait(q["id"])
    assert members_of(cy.json("GET", "/api/v1/questions/" + q["id"])[1])["keyed"]["status"] == "done"
    # another user's questions still go with the server's key
    dee = Client(psrv)
    dee.signup("dee-keys")
    status, q = dee.json("POST", "/api/v1/questions", {"question": "Capital?", "members": ["keyed"]})
    dee.wait(q["id"])
    assert members_of(dee.json("GET", "/api/v1/questions/" + q["id"])[1])["keyed"]["status"] == "failed"
    # forget it
    cy.post("/settings/keys", {"forget_anthropic": "1"})
    _, _, settings = cy.page("/settings")
    assert b"anthropic (none saved)" in settings

def test_server_key_file_is_private(psrv):
    mode = os.stat(psrv.db + ".key").st_mode & 0o777
    assert mode == 0o600


def test_a_thread_is_its_owners_with_one_share_link(srv, fake):
    """threads (issue 18) with accounts: a follow-up belongs to the thread's owner and carries its
    share token, so one share link reads the whole thread; nobody else may continue or read it."""
    ada, bob, anon = Client(srv), Client(srv), Client(srv)
    ada.signup("ada-thread")
    bob.signup("bob-thread")
    anon.page("/")
    first = ada.ask("Ada's thread: what is the capital of Japan?")
    ada.wait(first)
    _, _, page = ada.page("/q/" + first)
    share = re.search(rb'href="/q/%s\?s=([A-Za-z0-9_-]+)"' % first.encode(), page).group(1).decode()
    status, h, _ = ada.post("/q/%s/followup" % first, {"q": "And its population?"})
    assert status == 303, status
    second = h["location"][3:]
    ada.wait(second)
    status, t = ada.json("GET", "/api/v1/threads/" + second)
    assert status == 200 and [q["id"] for q in t["questions"]] == [first, second]
    # the page of either turn hands out the one link: the first question's, with its token
    _, _, page = ada.page("/q/" + second)
    assert b'class="permalink" href="/q/%s?s=%s"' % (first.encode(), share.encode()) in page
    for who in (bob, anon):
        assert who.json("GET", "/api/v1/threads/" + first)[0] == 404
        assert who.page("/api/v1/threads/%s/export.md" % first)[0] == 404
        assert who.page("/q/" + second)[0] == 404
        assert who.json("POST", "/api/v1/questions/%s/followups" % second, {"question": "x"})[0] == 404
        assert who.post("/q/%s/followup" % second, {"q": "x"})[0] == 404
        # the share link reads the whole thread, and may not continue it
        status, t = who.json("GET", "/api/v1/threads/%s?s=%s" % (first, share))
        assert status == 200 and len(t["questions"]) == 2
        status, _, page = who.page("/q/%s?s=%s" % (second, share))
        assert status == 200 and b"And its population?" in page and b"/followup" not in page
        assert who.post("/q/%s/followup?s=%s" % (second, share), {"q": "x"})[0] == 404
    assert ada.post("/q/%s/delete" % first, {"confirm": "1"})[0] == 303
    assert ada.json("GET", "/api/v1/questions/" + second)[0] == 404
