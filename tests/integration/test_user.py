"""drux user: the operator's account commands against a store on disk, including a store
written before accounts existed (schema 1), which is upgraded without losing a question."""

import json
import os
import sqlite3
import subprocess

DRUX = os.environ.get("DRUX_BIN", "build/release/drux")


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


def test_old_store_is_upgraded(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as c:
        c.executescript("""
            CREATE TABLE questions(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
              question TEXT NOT NULL, members_sel TEXT, status TEXT NOT NULL, error TEXT,
              created_at TEXT NOT NULL, finished_at TEXT);
            CREATE TABLE members(question_id TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL,
              model TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
              latency_ms INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
              ttft_ms INTEGER NOT NULL DEFAULT 0, text TEXT NOT NULL DEFAULT '',
              PRIMARY KEY(question_id, idx));
            CREATE TABLE analyses(question_id TEXT PRIMARY KEY, label TEXT, consensus INTEGER,
              result TEXT NOT NULL);
            CREATE TABLE timings(question_id TEXT PRIMARY KEY, queued_ms INTEGER, asking_ms INTEGER,
              analyzing_ms INTEGER, synthesizing_ms INTEGER, total_ms INTEGER);
            INSERT INTO questions(id, question, status, created_at) VALUES
              ('q1', 'Why is the sky blue?', 'done', '2025-12-01T10:00:00Z');
            PRAGMA user_version = 1;
        """)
    assert user(db, "add", "ada", password="a long enough password\n").returncode == 0
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 2
        assert c.execute("SELECT question, owner FROM questions").fetchall() == [
            ("Why is the sky blue?", None)]
