"""The council fan-out against a real HTTP server on loopback with faults
injected (see fake_openai.py), driven through `drux members --ask --json`."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import fake_openai  # noqa: E402
from drux_server import DRUX, serve_env  # noqa: E402

QUESTION = "why is the sky blue"


@pytest.fixture(scope="module")
def server(fake):
    """conftest's fake OpenAI-compatible server, under the name this file's tests use."""
    return fake


def env_for(tmp_path, **extra):
    return serve_env(tmp_path, extra)


def write_config(tmp_path, server, members, **council):
    lines = ["[council]"] + ["%s = %s" % kv for kv in council.items()]
    for name, settings in members:
        lines.append("[member.%s]" % name)
        settings = dict(settings)
        if settings.pop("local", False) is False:
            lines.append("base_url = " + settings.pop("base_url", server.base_url))
        for k, v in settings.items():
            for item in v if isinstance(v, list) else [v]:
                lines.append("%s = %s" % (k, item))
    path = tmp_path / "drux.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def ask(tmp_path, config, question=QUESTION, timeout=30, **env):
    t0 = time.monotonic()
    p = subprocess.run([DRUX, "members", "--config", str(config), "--ask", question, "--json"],
                       capture_output=True, text=True, timeout=timeout, env=env_for(tmp_path, **env))
    wall = time.monotonic() - t0
    assert p.stdout, "no JSON on stdout; stderr:\n" + p.stderr
    out = json.loads(p.stdout)
    return p, {m["name"]: m for m in out["members"]}, wall


def tag():
    return "@" + uuid.uuid4().hex[:8]


def test_faults_are_contained(tmp_path, server):
    t = tag()
    members = [
        ("good", {"model": "ok"}),
        ("boom", {"model": "fail500" + t, "max_attempts": 2}),
        ("limited", {"model": "r429" + t}),
        ("hangs", {"model": "hang" + t, "timeout_s": 1.5}),
        ("cut", {"model": "cut" + t}),
        ("garbled", {"model": "badjson" + t}),
        ("huge", {"model": "huge" + t}),
        ("missing", {"model": "errbody" + t}),
        ("overloaded", {"model": "streamerr" + t}),
        ("flaky", {"model": "flaky503" + t}),
        ("stalls", {"model": "hangmid" + t, "timeout_s": 1.5}),
    ]
    cfg = write_config(tmp_path, server, members, timeout_s=5)
    p, r, wall = ask(tmp_path, cfg)
    assert p.returncode == 1  # not every member answered

    good = r["good"]
    assert good["status"] == "done" and good["error"] == ""
    assert good["text"] == "You asked: " + QUESTION
    assert good["completion_tokens"] == 7 and not good["tokens_estimated"]
    assert good["prompt_tokens"] == 11
    assert good["finish_reason"] == "stop"
    assert 0 <= good["ttft_ms"] <= good["latency_ms"] < 1000
    assert good["attempts"] == 1 and good["http_status"] == 200

    assert r["boom"]["status"] == "failed"
    assert r["boom"]["error"] == "HTTP 500: internal boom (gave up after 2 attempts)"
    assert r["boom"]["attempts"] == 2

    lim = r["limited"]
    assert lim["status"] == "done" and lim["attempts"] == 2
    assert lim["text"] == "You asked: " + QUESTION
    assert lim["latency_ms"] >= 1000  # Retry-After: 1 was honoured
    times = [q["time"] for q in server.requests if q["model"] == "r429" + t]
    assert len(times) == 2 and times[1] - times[0] >= 0.95

    hang = r["hangs"]
    assert hang["status"] == "timeout"
    assert "timeout_s = 1.5" in hang["error"]
    assert 1500 <= hang["latency_ms"] < 1500 + 400

    assert r["cut"]["status"] == "failed"
    assert r["cut"]["error"].startswith("stream cut off after 14 bytes of answer")
    assert r["cut"]["text"] == "partial answer"  # what arrived is kept

    assert r["garbled"]["status"] == "failed"
    assert r["garbled"]["error"].startswith("malformed JSON from upstream")
    assert r["garbled"]["text"] == "fine so far"

    assert r["huge"]["status"] == "failed"
    assert r["huge"]["error"] == "event stream: line longer than 1048576 bytes"

    miss = r["missing"]
    assert miss["status"] == "failed" and miss["attempts"] == 1 and miss["http_status"] == 404
    assert "model 'errbody%s' does not exist" % t in miss["error"]
    assert "check base_url and model" in miss["error"]

    assert r["overloaded"]["status"] == "failed"
    assert "the model is overloaded" in r["overloaded"]["error"]

    # 503 without Retry-After: our own backoff (125-250 ms before the 2nd try)
    fl = r["flaky"]
    assert fl["status"] == "done" and fl["attempts"] == 2
    assert 100 <= fl["latency_ms"] < 800

    # stalled mid-answer: timed out, keeping what it said
    st = r["stalls"]
    assert st["status"] == "timeout" and st["text"] == "partial answer"
    assert 1500 <= st["latency_ms"] < 1500 + 400

    # all at once: the council took as long as its slowest member, not the sum
    assert wall < 1.5 + 1.5


def test_key_and_headers_are_sent(tmp_path, server):
    members = [
        ("keyed", {"model": "auth", "api_key_env": "DRUX_TEST_KEY", "header": ["X-Drux-Test: yes"]}),
        ("wrongkey", {"model": "auth", "api_key_env": "DRUX_TEST_BADKEY",
                      "header": ["X-Drux-Test: yes"]}),
        ("noheader", {"model": "auth", "api_key_env": "DRUX_TEST_KEY"}),
    ]
    cfg = write_config(tmp_path, server, members, timeout_s=5)
    p, r, _ = ask(tmp_path, cfg, DRUX_TEST_KEY=fake_openai.FAKE_KEY, DRUX_TEST_BADKEY="sk-wrong")
    assert r["keyed"]["status"] == "done", r["keyed"]["error"]
    assert r["wrongkey"]["status"] == "failed" and r["wrongkey"]["http_status"] == 401
    assert r["wrongkey"]["error"] == "HTTP 401: invalid api key (check the key in $DRUX_TEST_BADKEY)"
    assert r["noheader"]["error"] == "HTTP 400: missing X-Drux-Test header"
    # what went over the wire: the request an OpenAI server expects
    req = next(q for q in server.requests if q["headers"].get("Authorization") == "Bearer " + fake_openai.FAKE_KEY)
    body = req["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"][-1] == {"role": "user", "content": QUESTION}
    assert body["max_tokens"] == 512


def test_unset_key_fails_that_member_only(tmp_path, server):
    members = [("nokey", {"model": "ok", "api_key_env": "DRUX_TEST_NOT_SET"}), ("fine", {"model": "ok"})]
    cfg = write_config(tmp_path, server, members, timeout_s=5)
    p, r, _ = ask(tmp_path, cfg)
    assert r["nokey"]["status"] == "failed"
    assert r["nokey"]["error"] == "environment variable DRUX_TEST_NOT_SET (api_key_env) is not set"
    assert r["nokey"]["attempts"] == 0
    assert r["fine"]["status"] == "done"


def test_sampling_voices(tmp_path, server):
    """The same model twice with different sampling settings is two members."""
    members = [
        ("cool", {"model": "echo", "temperature": 0.2, "seed": 1}),
        ("warm", {"model": "echo", "temperature": 0.9, "seed": 2, "top_p": 0.5, "max_tokens": 64,
                  "system_prompt": "Be brief."}),
    ]
    cfg = write_config(tmp_path, server, members, timeout_s=5, system_prompt="Default voice.")
    p, r, _ = ask(tmp_path, cfg)
    assert p.returncode == 0
    cool, warm = json.loads(r["cool"]["text"]), json.loads(r["warm"]["text"])
    assert cool["temperature"] == 0.2 and cool["seed"] == 1 and cool["top_p"] is None
    assert cool["system"] == "Default voice." and cool["max_tokens"] == 512
    assert warm["temperature"] == 0.9 and warm["seed"] == 2 and warm["top_p"] == 0.5
    assert warm["system"] == "Be brief." and warm["max_tokens"] == 64


def test_usage_fallbacks_and_streaming(tmp_path, server):
    members = [
        ("nousage", {"model": "nousage"}),
        ("whole", {"model": "whole"}),
        ("trickle", {"model": "trickle" + tag()}),
    ]
    cfg = write_config(tmp_path, server, members, timeout_s=5)
    p, r, _ = ask(tmp_path, cfg)
    assert p.returncode == 0
    nu = r["nousage"]
    assert nu["text"] == "You asked: " + QUESTION  # events split over many writes
    assert nu["tokens_estimated"] and nu["completion_tokens"] == 7 and nu["prompt_tokens"] is None
    wh = r["whole"]
    assert wh["text"] == "You asked: " + QUESTION and wh["completion_tokens"] == 4
    tr = r["trickle"]
    assert tr["text"] == "".join("w%d " % i for i in range(10))
    # text arrived as it was produced: the first piece long before the end
    assert tr["ttft_ms"] < 300 and tr["latency_ms"] >= 1300
    assert 3 < tr["tokens_per_s"] <= 9 / 1.35  # 9 pieces after the first, 0.15 s apart
    assert "trickle: running" in p.stderr


def test_server_refusing_stream_options(tmp_path, server):
    t = tag()
    cfg = write_config(tmp_path, server, [("strict", {"model": "strict" + t, "max_attempts": 1})],
                       timeout_s=5)
    p, r, _ = ask(tmp_path, cfg)
    s = r["strict"]
    assert s["status"] == "done" and s["text"] == "You asked: " + QUESTION
    assert s["attempts"] == 2 and s["tokens_estimated"] and s["completion_tokens"] == 7
    bodies = [q["body"] for q in server.requests if q["model"] == "strict" + t]
    assert "stream_options" in bodies[0] and "stream_options" not in bodies[1]
    assert bodies[1]["stream"] is True


def test_done_marks_the_end_even_if_the_stream_stays_open(tmp_path, server):
    cfg = write_config(tmp_path, server, [("lingers", {"model": "linger"})], timeout_s=5)
    p, r, wall = ask(tmp_path, cfg)
    assert r["lingers"]["status"] == "done" and r["lingers"]["text"] == "complete"
    assert r["lingers"]["tokens_estimated"] and r["lingers"]["completion_tokens"] == 1
    assert wall < 2


def test_full_council_streams_concurrently(tmp_path, server):
    """32 members (the limit), each trickling for ~1.35 s: together in about one's time."""
    t = tag()
    members = [("m%d" % i, {"model": "trickle%s-%d" % (t, i)}) for i in range(32)]
    cfg = write_config(tmp_path, server, members, timeout_s=10)
    p, r, wall = ask(tmp_path, cfg)
    assert p.returncode == 0
    assert all(m["status"] == "done" and m["text"].startswith("w0 w1") for m in r.values())
    assert max(m["ttft_ms"] for m in r.values()) < 1000  # nobody waited for another
    assert wall < 1.35 + 2.0  # one after another would be 43 s


def test_first_byte_timeout_retries_then_gives_up(tmp_path, server):
    t = tag()
    members = [("silent", {"model": "hang" + t, "first_byte_timeout_s": 0.4, "max_attempts": 2})]
    cfg = write_config(tmp_path, server, members, timeout_s=10)
    p, r, wall = ask(tmp_path, cfg)
    s = r["silent"]
    assert s["status"] == "failed" and s["attempts"] == 2
    assert s["error"] == "no response within first_byte_timeout_s = 0.4 (gave up after 2 attempts)"
    assert server.counts["hang" + t] == 2
    assert wall < 3
    assert "silent: retry in" in p.stderr


def test_unreachable_server(tmp_path, server):
    members = [("down", {"model": "ok", "base_url": "http://127.0.0.1:9/v1", "max_attempts": 3})]
    cfg = write_config(tmp_path, server, members, timeout_s=5)
    p, r, wall = ask(tmp_path, cfg)
    d = r["down"]
    assert d["status"] == "failed" and d["attempts"] == 3
    assert d["error"].startswith("connection failed:") and "gave up after 3 attempts" in d["error"]
    assert wall < 3


def test_answer_limit(tmp_path, server):
    cfg = write_config(tmp_path, server, [("chatty", {"model": "chatty"})], timeout_s=20)
    p, r, _ = ask(tmp_path, cfg, timeout=60)
    c = r["chatty"]
    assert c["status"] == "done" and c["truncated"]
    assert len(c["text"].encode()) == 1 << 20


def test_interrupt_cancels_everyone(tmp_path, server):
    t = tag()
    members = [("a", {"model": "hang" + t}), ("b", {"model": "hangmid" + t})]
    cfg = write_config(tmp_path, server, members, timeout_s=30)
    proc = subprocess.Popen([DRUX, "members", "--config", str(cfg), "--ask", QUESTION, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env_for(tmp_path))
    time.sleep(0.5)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - t0 < 1.0
    r = {m["name"]: m for m in json.loads(out)["members"]}
    assert r["a"]["status"] == "cancelled" and r["b"]["status"] == "cancelled"
    assert r["b"]["text"] == "partial answer"
    assert proc.returncode == 1


def test_members_lists_and_validates(tmp_path, server):
    cfg = write_config(tmp_path, server, [("gpt", {"model": "ok", "api_key_env": "DRUX_TEST_NOT_SET"}),
                                          ("smol", {"local": True, "type": "local", "model": "smol.gguf",
                                                    "temperature": 0.3, "seed": 7})])
    p = subprocess.run([DRUX, "members", "--config", str(cfg)], capture_output=True, text=True,
                       timeout=10, env=env_for(tmp_path))
    assert p.returncode == 0, p.stderr
    assert "(2 members)" in p.stdout
    assert "gpt" in p.stdout and server.base_url in p.stdout
    assert "smol" in p.stdout and "temperature 0.3" in p.stdout and "seed 7" in p.stdout
    assert "$DRUX_TEST_NOT_SET is not set" in p.stderr

    bad = tmp_path / "bad.ini"
    bad.write_text("[council]\ntimeout_s = 5\n\n[member.gpt]\ntemprature = 1\n")
    p = subprocess.run([DRUX, "members", "--config", str(bad)], capture_output=True, text=True,
                       timeout=10, env=env_for(tmp_path))
    assert p.returncode == 1
    assert p.stderr.strip() == ("drux: %s:5: unknown key 'temprature' in [member.gpt] "
                                "(did you mean 'temperature'?)" % bad)

    p = subprocess.run([DRUX, "members", "--config", str(tmp_path / "nope.ini")], capture_output=True,
                       text=True, timeout=10, env=env_for(tmp_path))
    assert p.returncode == 1 and "nope.ini not found" in p.stderr


def test_config_search_order_and_cache(tmp_path, server):
    env = env_for(tmp_path)
    # no config anywhere and an empty cache: a message saying what to do
    p = subprocess.run([DRUX, "members"], capture_output=True, text=True, timeout=10, env=env)
    assert p.returncode == 1 and "docs/config.md" in p.stderr
    # no config: every model in the cache is a local member
    models = tmp_path / "home" / "models"
    models.mkdir(parents=True)
    (models / "tiny-model.gguf").write_bytes(b"GGUF")
    p = subprocess.run([DRUX, "members"], capture_output=True, text=True, timeout=10, env=env)
    assert p.returncode == 0 and "(models in cache)" in p.stdout and "tiny-model" in p.stdout
    # $XDG_CONFIG_HOME/drux/drux.ini wins over the cache, $DRUX_CONFIG over that
    (tmp_path / "xdg" / "drux").mkdir(parents=True)
    (tmp_path / "xdg" / "drux" / "drux.ini").write_text("[member.fromxdg]\nmodel = a.gguf\n")
    p = subprocess.run([DRUX, "members"], capture_output=True, text=True, timeout=10, env=env)
    assert "fromxdg" in p.stdout
    other = tmp_path / "other.ini"
    other.write_text("[member.fromenv]\nmodel = a.gguf\n")
    p = subprocess.run([DRUX, "members"], capture_output=True, text=True, timeout=10,
                       env=dict(env, DRUX_CONFIG=str(other)))
    assert "fromenv" in p.stdout and "fromxdg" not in p.stdout
