"""drux user: the operator's account commands against a store on disk, including a store
written before accounts existed (schema 1), which is upgraded without losing a question."""

import json
import os
import sqlite3
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import fake_openai  # noqa: E402
import test_web  # noqa: E402

DRUX = os.environ.get("DRUX_BIN", "build/release/drux")
DATA = os.path.join(os.path.dirname(__file__), "..", "data", "store")


def user(db, *args, password=None):
    return subprocess.run([DRUX, "user", *args, "--db", str(db)], input=password, capture_output=True,
                          text=True, timeout=60)


def test_add_disable_list(tmp_path):
    db = tmp_path / "drux.db"
    p = user(db, "add", "Ada@Example.org", password="a long enough password\n")
    assert p.returncode == 0 and p.stdout == "added ada@example.org\n", p.stderr
    assert user(db, "add", "ada@example.org", password="another long password\n").returncode == 1
    p = user(db, "add", "bob", password="short\n")
    assert p.returncode == 1 and "shorter than 10" in p.stderr
    assert user(db, "add", "bob", password="bob's long password\n").returncode == 0
    assert user(db, "quota", "bob", "7").returncode == 0
    assert user(db, "disable", "bob").returncode == 0
    p = user(db, "list", "--json")
    users = {u["name"]: u for u in json.loads(p.stdout)}
    assert users["bob"]["disabled"] is True and users["bob"]["daily_premium"] == 7
    assert users["ada@example.org"]["disabled"] is False
    p = user(db, "disable", "nobody")
    assert p.returncode == 1 and "no such account" in p.stderr
    # the password is stored as an argon2id hash, never as given
    with sqlite3.connect(db) as c:
        hashes = [h for (h,) in c.execute("SELECT pw_hash FROM users")]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert not any("long enough" in h for h in hashes)


def contains(new, old, where="question"):
    """Every field the previous release served is served again, the same."""
    if isinstance(old, dict):
        assert isinstance(new, dict), where
        for k, v in old.items():
            assert k in new, "%s: %s is gone" % (where, k)
            contains(new[k], v, where + "." + k)
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), where
        for i, (a, b) in enumerate(zip(new, old)):
            contains(a, b, "%s[%d]" % (where, i))
    else:
        assert new == old, "%s: %r became %r" % (where, old, new)


def test_old_store_is_upgraded(tmp_path):
    """tests/data/store/schema1.db was written by the previous release's `drux serve` (schema 1,
    three questions); schema1.json is what that release served for them over /api/v1."""
    db = tmp_path / "drux.db"
    shutil.copy(os.path.join(DATA, "schema1.db"), db)
    with open(os.path.join(DATA, "schema1.json")) as f:
        before = json.load(f)
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 1
    assert user(db, "add", "ada", password="a long enough password\n").returncode == 0
    with sqlite3.connect(db) as c:
        # every migration ran: 2 (accounts), 3 (threads), 4 (instances)
        assert c.execute("PRAGMA user_version").fetchone()[0] >= 4
        assert c.execute("SELECT count(*) FROM users").fetchone()[0] == 1
        assert c.execute("SELECT count(*) FROM questions WHERE owner IS NULL").fetchone()[0] == 3
    fake = fake_openai.Server().start()
    srv = test_web.Serve(tmp_path, fake)
    try:
        status, listed = srv.json("GET", "/api/v1/questions")
        assert status == 200
        contains(listed["questions"], before["list"], "list")
        for old in before["questions"]:
            status, q = srv.json("GET", "/api/v1/questions/" + old["id"])
            assert status == 200
            contains(q, old, old["id"])
            assert q["thread"] == old["id"] and q["turn"] == 1  # each a thread of one
            status, _, page = srv.request("GET", "/q/" + old["id"])
            assert status == 200 and old["question"].encode() in page
    finally:
        srv.stop()
        fake.close()
