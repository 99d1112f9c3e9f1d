"""Premium members end to end: each provider adapter against a loopback server that replays that
provider's wire format (fake_providers.py for Anthropic and Gemini, fake_openai.py for the
OpenAI-compatible ones), faults included, and a council that mixes them with a local model."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import fake_providers  # noqa: E402
import models  # noqa: E402
from drux_server import DRUX, DruxServer, serve_env  # noqa: E402
from fake_openai import say  # noqa: E402

QUESTION = "why is the sky blue"
GEMINI_KEY = "AIzaFakeGeminiKey0042"
OPENAI_KEY = "sk-proj-fake-openai-0042"


@pytest.fixture(scope="module")
def openai(fake):
    """conftest's fake OpenAI-compatible server, under the name this file's tests use."""
    return fake


def tag():
    return "@" + uuid.uuid4().hex[:8]


def env_for(tmp_path, **extra):
    return serve_env(tmp_path, dict({"ANTHROPIC_API_KEY": fake_providers.FAKE_KEY,
                                     "GEMINI_API_KEY": GEMINI_KEY}, **extra))


def write_config(tmp_path, members, **council):
    lines = ["[council]"] + ["%s = %s" % kv for kv in council.items()]
    for name, settings in members:
        lines.append("[member.%s]" % name)
        lines += ["%s = %s" % kv for kv in settings.items()]
    path = tmp_path / "drux.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def members_ask(tmp_path, config, timeout=30, **env):
    p = subprocess.run([DRUX, "members", "--config", str(config), "--ask", QUESTION, "--json"],
                       capture_output=True, text=True, timeout=timeout, env=env_for(tmp_path, **env))
    assert p.stdout, "no JSON on stdout; stderr:\n" + p.stderr
    out = json.loads(p.stdout)
    return p, out, {m["name"]: m for m in out["members"]}


def anthropic(providers, model, **more):
    return dict({"provider": "anthropic", "base_url": providers.anthropic_url, "model": model}, **more)


def gemini(providers, model, **more):
    return dict({"provider": "gemini", "base_url": providers.gemini_url, "model": model}, **more)


ANSWER = "You asked: " + QUESTION


def test_anthropic_messages_stream_and_faults(tmp_path, providers):
    t = tag()
    cfg = write_config(tmp_path, [
        ("claude", anthropic(providers, "ok" + t, input_price=3, output_price=15)),
        ("thinks", anthropic(providers, "thinking" + t)),
        ("throttled", anthropic(providers, "r429" + t)),
        ("overloaded", anthropic(providers, "overloaded" + t, max_attempts=2)),
        ("errfirst", anthropic(providers, "errfirst" + t)),
        ("midstream", anthropic(providers, "midstreamerr" + t)),
        ("cut", anthropic(providers, "cut" + t)),
        ("hangs", anthropic(providers, "hang" + t, timeout_s=1.5)),
        ("shape", anthropic(providers, "echo" + t, temperature=0.5, seed=3, max_tokens=77,
                            system_prompt="Be brief.")),
        ("keyed", anthropic(providers, "auth" + t)),
    ], timeout_s=10)
    p, out, r = members_ask(tmp_path, cfg)
    assert p.returncode == 1  # some members fail on purpose

    ok = r["claude"]
    assert ok["status"] == "done" and ok["text"] == ANSWER and ok["error"] == ""
    assert ok["tier"] == "premium" and ok["provider"] == "anthropic" and ok["kind"] == "remote"
    # message_start's input_tokens, message_delta's output_tokens: reported, not counted
    assert (ok["prompt_tokens"], ok["completion_tokens"], ok["tokens_estimated"]) == (15, 7, False)
    assert ok["finish_reason"] == "stop" and ok["attempts"] == 1 and ok["http_status"] == 200
    assert ok["ttft_ms"] is not None and ok["latency_ms"] >= ok["ttft_ms"]
    assert ok["cost_usd"] == pytest.approx((15 * 3 + 7 * 15) / 1e6)
    assert r["keyed"]["status"] == "done"  # x-api-key carried the key

    assert r["thinks"]["text"] == ANSWER  # the thinking block is not the answer

    thr = r["throttled"]  # 429 rate_limit_error with retry-after: 1
    assert thr["status"] == "done" and thr["attempts"] == 2 and thr["latency_ms"] >= 900

    ov = r["overloaded"]  # 529 overloaded_error, every time
    assert ov["status"] == "failed" and ov["attempts"] == 2
    assert ov["error"] == "HTTP 529: overloaded_error: Overloaded (gave up after 2 attempts)"
    assert ov["cost_usd"] is None  # premium without prices: unknown

    ef = r["errfirst"]  # an error event before any text is retried
    assert ef["status"] == "done" and ef["attempts"] == 2 and ef["text"] == ANSWER

    mid = r["midstream"]  # an error event after text: failed, the text kept
    assert mid["status"] == "failed" and mid["text"] == "You asked:"
    assert "api_error: Internal server error" in mid["error"] and mid["attempts"] == 1

    cut = r["cut"]
    assert cut["status"] == "failed" and cut["text"] == "You asked:"
    assert cut["error"].startswith("stream cut off after 10 bytes of answer")

    assert r["hangs"]["status"] == "timeout" and "timeout_s = 1.5" in r["hangs"]["error"]

    shape = json.loads(r["shape"]["text"])
    assert shape == {"system": "Be brief.", "max_tokens": 77, "temperature": 0.5, "top_p": None,
                     "stream": True, "seed": None, "version": "2023-06-01", "authorization": None}

    assert out["cost_usd"] == pytest.approx(ok["cost_usd"])
    assert out["unpriced_members"] == 9


def test_gemini_stream_and_faults(tmp_path, providers):
    t = tag()
    cfg = write_config(tmp_path, [
        ("gem", gemini(providers, "ok" + t, input_price=0.3, output_price=2.5)),
        ("parts", gemini(providers, "models/multipart" + t)),
        ("thinks", gemini(providers, "thinking" + t)),
        ("throttled", gemini(providers, "r429" + t)),
        ("overloaded", gemini(providers, "overloaded" + t, max_attempts=2)),
        ("blocked", gemini(providers, "blocked" + t)),
        ("cut", gemini(providers, "cut" + t)),
        ("shape", gemini(providers, "echo" + t, temperature=0.25, top_p=0.5, seed=9, max_tokens=33,
                         system_prompt="Be brief.")),
        ("keyed", gemini(providers, "auth" + t, api_key_env="DRUX_TEST_GEMINI")),
        ("wrongkey", gemini(providers, "auth" + t)),
    ], timeout_s=10)
    p, out, r = members_ask(tmp_path, cfg, DRUX_TEST_GEMINI=fake_providers.FAKE_KEY)
    assert p.returncode == 1

    ok = r["gem"]
    assert ok["status"] == "done" and ok["text"] == ANSWER
    assert (ok["prompt_tokens"], ok["completion_tokens"], ok["tokens_estimated"]) == (9, 7, False)
    assert ok["finish_reason"] == "stop" and ok["tier"] == "premium" and ok["provider"] == "gemini"
    assert ok["cost_usd"] == pytest.approx((9 * 0.3 + 7 * 2.5) / 1e6)

    assert r["parts"]["text"] == ANSWER  # several parts per chunk; "models/" prefix accepted
    assert r["thinks"]["text"] == ANSWER  # thought parts skipped

    thr = r["throttled"]  # 429 RESOURCE_EXHAUSTED with RetryInfo retryDelay 1s in the body
    assert thr["status"] == "done" and thr["attempts"] == 2 and thr["latency_ms"] >= 900

    ov = r["overloaded"]
    assert ov["status"] == "failed" and ov["attempts"] == 2
    assert ov["error"] == ("HTTP 503: UNAVAILABLE: The model is overloaded. Please try again later. "
                           "(gave up after 2 attempts)")

    bl = r["blocked"]  # not worth a retry
    assert bl["status"] == "failed" and bl["attempts"] == 1
    assert bl["error"] == "upstream error in stream: SAFETY: the prompt was blocked"

    cut = r["cut"]  # no finishReason before the connection closed
    assert cut["status"] == "failed" and cut["text"] == "You asked:"
    assert cut["error"].startswith("stream cut off after 10 bytes of answer")

    shape = json.loads(r["shape"]["text"])
    assert shape == {"system": {"parts": [{"text": "Be brief."}]},
                     "config": {"maxOutputTokens": 33, "temperature": 0.25, "topP": 0.5, "seed": 9},
                     "authorization": None}
    reqs = [q for q in providers.requests if q["model"] == "echo" + t]
    assert reqs[0]["path"] == "/v1beta/models/echo%s:streamGenerateContent?alt=sse" % t.replace("@", "%40")
    assert reqs[0]["headers"]["x-goog-api-key"] == GEMINI_KEY

    assert r["keyed"]["status"] == "done"
    wk = r["wrongkey"]
    assert wk["status"] == "failed" and wk["error"].startswith("HTTP 400: INVALID_ARGUMENT: API key not valid")


def test_keys_never_leak_into_errors_or_output(tmp_path, providers, openai):
    t = tag()
    cfg = write_config(tmp_path, [
        ("claude", anthropic(providers, "echokey" + t)),
        ("gem", gemini(providers, "echokey" + t)),
        ("gpt", {"provider": "openai", "base_url": openai.base_url, "model": "echokey" + t}),
    ])
    p, out, r = members_ask(tmp_path, cfg, OPENAI_API_KEY=OPENAI_KEY)
    for name in ("claude", "gem", "gpt"):
        assert r[name]["status"] == "failed"
        assert "[redacted]" in r[name]["error"], r[name]["error"]
    assert r["gpt"]["error"] == ("HTTP 401: Incorrect API key provided: [redacted] "
                                 "(check the key in $OPENAI_API_KEY)")
    for key in (fake_providers.FAKE_KEY, GEMINI_KEY, OPENAI_KEY):
        assert key not in p.stdout and key not in p.stderr
    # the listing names the variable, never its value
    p = subprocess.run([DRUX, "members", "--config", str(cfg)], capture_output=True, text=True,
                       timeout=10, env=env_for(tmp_path, OPENAI_API_KEY=OPENAI_KEY))
    assert p.returncode == 0 and "anthropic API" in p.stdout
    for key in (fake_providers.FAKE_KEY, GEMINI_KEY, OPENAI_KEY):
        assert key not in p.stdout and key not in p.stderr


@pytest.mark.parametrize("provider,env", [("openai", "OPENAI_API_KEY"), ("xai", "XAI_API_KEY"),
                                          ("deepseek", "DEEPSEEK_API_KEY"),
                                          ("perplexity", "PERPLEXITY_API_KEY"),
                                          ("openrouter", "OPENROUTER_API_KEY"),
                                          ("together", "TOGETHER_API_KEY")])
def test_openai_compatible_providers(tmp_path, openai, provider, env):
    t = tag()
    cfg = write_config(tmp_path, [
        ("m", {"provider": provider, "base_url": openai.base_url, "model": "ok" + t}),
        ("cumulative", {"provider": provider, "base_url": openai.base_url, "model": "cumulative" + t}),
    ])
    key = "sk-%s-test-0042" % provider
    p, out, r = members_ask(tmp_path, cfg, **{env: key})
    assert p.returncode == 0, p.stderr
    m = r["m"]
    assert m["status"] == "done" and m["provider"] == provider and m["tier"] == "premium"
    assert (m["prompt_tokens"], m["completion_tokens"], m["tokens_estimated"]) == (11, 7, False)
    # usage in every chunk, counting up: the last count holds
    c = r["cumulative"]
    assert (c["prompt_tokens"], c["completion_tokens"], c["tokens_estimated"]) == (7, 7, False)
    req = next(q for q in openai.requests if q["model"] == "ok" + t)
    assert req["headers"]["Authorization"] == "Bearer " + key
    assert req["body"]["stream"] is True and req["body"]["stream_options"] == {"include_usage": True}


def test_mixed_council_one_analysis(tmp_path, providers, openai):
    """A local model, and each adapter twice: once answering, once failing, throttled or cut."""
    if not models.have(models.SMOL):
        pytest.skip("SmolLM2 is not in the model cache (make setup pulls it)")
    t = tag()

    paris = "The capital of France is Paris."
    priced = {"input_price": 1, "output_price": 2}
    cfg = write_config(tmp_path, [
        ("smol", {"type": "local", "model": models.path(models.SMOL), "max_tokens": 24}),
        ("gpt", dict({"provider": "openai", "base_url": openai.base_url, "model": say(paris) + t},
                     **priced)),
        ("gpt-throttled", dict({"provider": "openai", "base_url": openai.base_url,
                                "model": "r429" + t}, **priced)),
        ("claude", anthropic(providers, say("Paris is the capital of France.") + t, **priced)),
        ("claude-overloaded", anthropic(providers, "overloaded" + t, max_attempts=1, **priced)),
        ("gemini", gemini(providers, say("Paris is the capital city of France.") + t, **priced)),
        ("gemini-cut", gemini(providers, "cut" + t, **priced)),
    ], timeout_s=60)
    env = env_for(tmp_path, OPENAI_API_KEY=OPENAI_KEY)
    p = subprocess.run([DRUX, "ask", "--json", "--quiet", "--no-synthesis", "--config", str(cfg),
                        "What is the capital of France?"],
                       capture_output=True, text=True, timeout=180, env=env)
    assert p.returncode == 0, p.stderr
    obj = json.loads(p.stdout)
    ms = {m["name"]: m for m in obj["members"]}
    assert list(ms) == ["smol", "gpt", "gpt-throttled", "claude", "claude-overloaded", "gemini",
                        "gemini-cut"]
    status = {n: m["status"] for n, m in ms.items()}
    assert status == {"smol": "done", "gpt": "done", "gpt-throttled": "done", "claude": "done",
                      "claude-overloaded": "failed", "gemini": "done", "gemini-cut": "failed"}
    assert ms["smol"]["tier"] == "free" and ms["smol"]["cost_usd"] == 0
    assert all(m["tier"] == "premium" for n, m in ms.items() if n != "smol")
    assert "overloaded_error" in ms["claude-overloaded"]["error"]
    assert ms["gemini-cut"]["error"].startswith("stream cut off")
    # one analysis over every member that answered, premium and local alike
    an = obj["analysis"]
    assert an["usable"] == 5, json.dumps(an, indent=1)
    groups = [set(a["members"]) for a in an["agreed"]]
    seen = set().union(*groups) if groups else set()
    for d in an["disputed"]:
        by_position = {}
        for st in d["stances"]:
            by_position.setdefault(st["position"], set()).add(st["member"])
            seen.add(st["member"])
        groups += list(by_position.values())
    assert {"smol", "gpt", "gpt-throttled", "claude", "gemini"} <= seen | {
        u["member"] for u in an.get("unique", []) if isinstance(u, dict) and "member" in u}
    # the three providers' paraphrases of one fact land together
    assert any({"gpt", "claude", "gemini"} <= g for g in groups), json.dumps(an, indent=1)
    assert all(m["latency_ms"] > 0 for m in ms.values())
    assert obj["cost_usd"] == pytest.approx(sum(m["cost_usd"] for m in ms.values()))
    assert obj["cost_usd"] > 0


def test_served_question_marks_tiers_and_costs(tmp_path, providers, openai):
    """Through drux serve (--open-premium: anonymous visitors ask premium members too): the live
    events, the stored result and the result page say which member is premium and what each
    cost."""
    t = tag()

    priced = {"input_price": 2, "output_price": 8}
    cfg = write_config(tmp_path, [
        ("mine", {"base_url": openai.base_url, "model": say("Water boils at 100 C.") + t,
                  "tier": "free"}),
        ("claude", anthropic(providers, say("Water boils at 100 C at sea level.") + t, **priced)),
        ("gemini", gemini(providers, "overloaded" + t, max_attempts=1, **priced)),
    ], timeout_s=20)
    srv = DruxServer()
    srv.launch(["--config", str(cfg), "--db", str(tmp_path / "drux.db"), "--rate-limit", "0",
                "--open-premium"], env_for(tmp_path))
    try:
        def req(method, path, body=None):
            status, _, data = srv.request(method, path, body)
            return status, data

        status, data = req("POST", "/api/v1/questions", {"question": "At what temperature does water boil?"})
        assert status == 201, data
        qid = json.loads(data)["id"]
        events = srv.events(qid, timeout=60)
        # The follower joins after the POST: a member that ended before that is told by the
        # "state" event (and a question that ended by its "result"), the rest by live events.
        final = ("done", "failed", "timeout", "cancelled")
        state = next(e for n, e in events if n == "state")
        finals = {}
        for m in list(state.get("members") or []) + list(
                (state.get("result") or {}).get("members") or []):
            if m.get("status") in final and "tier" in m:
                finals.setdefault(m["name"], m)
        finals.update({e["name"]: e for n, e in events if n == "member" and e["status"] in final})
        assert finals["mine"]["tier"] == "free"
        assert finals["claude"]["tier"] == "premium"
        assert finals["gemini"]["status"] == "failed" and finals["gemini"]["tier"] == "premium"
        for name, cost in (("mine", 0), ("claude", (15 * 2 + 8 * 8) / 1e6)):
            if "cost_usd" in finals[name]:  # live member events carry the cost
                assert finals[name]["cost_usd"] == pytest.approx(cost)
        told = [m for m in state.get("members") or [] if "tier" in m] or \
            (state.get("result") or {}).get("members") or []
        assert {m["name"]: m["tier"] for m in told} == {
            "mine": "free", "claude": "premium", "gemini": "premium"}

        status, data = req("GET", "/api/v1/questions/" + qid)
        q = json.loads(data)
        res = q["result"]
        ms = {m["name"]: m for m in res["members"]}
        assert ms["claude"]["tier"] == "premium" and ms["mine"]["tier"] == "free"
        assert "UNAVAILABLE" in ms["gemini"]["error"]
        assert res["cost_usd"] == pytest.approx(ms["claude"]["cost_usd"] + ms["gemini"]["cost_usd"])

        status, page = req("GET", "/q/" + qid)
        assert status == 200
        page = page.decode()
        card = page[page.index('data-index="1"'):]
        card = card[:card.index("</summary>")]
        assert "premium</span>" in card and "~$0.0001" in card
        mine = page[page.index('data-index="0"'):]
        assert 'class="m-tier badge free">free</span>' in mine[:mine.index("</summary>")]
    finally:
        srv.stop(signal.SIGINT)
