"""drux ask end to end: the council's answers become one analysis object.

Remote members are scripted answers from the fake OpenAI server on loopback
(model "say-HEX"), so the outcome of each council is known; the last tests
use the real local models from the cache and skip when they are absent."""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import fake_openai  # noqa: E402
import models  # noqa: E402

DRUX = os.environ.get("DRUX_BIN", "build/release/drux")


@pytest.fixture(scope="module")
def server(fake):
    """conftest's fake OpenAI-compatible server, under the name this file's tests use."""
    return fake


say = fake_openai.say


def council(tmp_path, server, members, **extra):
    lines = ["[council]", "timeout_s = 10", "max_tokens = 64"]
    lines += ["%s = %s" % kv for kv in extra.items()]
    for name, model, more in members:
        lines += ["[member.%s]" % name, "type = remote", "base_url = " + server.base_url,
                  "model = " + model]
        lines += ["%s = %s" % kv for kv in more.items()]
    path = tmp_path / "drux.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def ask(tmp_path, cfg, question, *flags):
    env = dict(os.environ, DRUX_HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    env.pop("DRUX_CONFIG", None)
    p = subprocess.run([DRUX, "ask", "--json", "--quiet", "--config", str(cfg), *flags, question],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def check_one_object(obj):
    """What every page and client relies on: the numbers agree with the lists."""
    an = obj["analysis"]
    names = {m["name"] for m in obj["members"]}
    usable = [m for m in obj["members"] if m["status"] == "done"]
    for a in an["agreed"]:
        assert set(a["members"]) <= names
    for d in an["disputed"]:
        assert {s["member"] for s in d["stances"]} <= names
    if an["label"] in ("single_voice", "no_answer"):
        assert an["consensus"] is None
        assert an["agreed"] == []
    else:
        assert isinstance(an["consensus"], int) and 0 <= an["consensus"] <= 100
    if an["agreed"]:
        assert an["consensus"] is None or an["consensus"] > 0
    if an["label"] == "no_answer":
        assert not usable


def test_paraphrases_agree_and_a_hanging_member_times_out(tmp_path, server):
    cfg = council(tmp_path, server, [
        ("a", say("The capital of France is Paris."), {}),
        ("b", say("Paris is the capital of France, on the Seine."), {}),
        ("slow", "hang@ask1", {"timeout_s": "1.5"}),
    ])
    obj = ask(tmp_path, cfg, "What is the capital of France?", "--no-synthesis")
    check_one_object(obj)
    status = {m["name"]: m["status"] for m in obj["members"]}
    assert status == {"a": "done", "b": "done", "slow": "timeout"}
    an = obj["analysis"]
    assert an["label"] == "consensus"
    assert an["consensus"] >= 60
    assert any(set(a["members"]) == {"a", "b"} and "Paris" in a["text"] for a in an["agreed"])


def test_contradicting_numbers_are_disputed(tmp_path, server):
    cfg = council(tmp_path, server, [
        ("a", say("The Eiffel Tower is 330 metres tall."), {}),
        ("b", say("The Eiffel Tower is 150 metres tall."), {}),
    ])
    obj = ask(tmp_path, cfg, "How tall is the Eiffel Tower?", "--no-synthesis")
    check_one_object(obj)
    an = obj["analysis"]
    assert an["label"] != "consensus"
    assert an["disputed"], an
    stances = {s["member"]: s["text"] for s in an["disputed"][0]["stances"]}
    assert "330" in stances["a"] and "150" in stances["b"]


def test_one_answer_is_a_single_voice(tmp_path, server):
    cfg = council(tmp_path, server, [
        ("a", say("Water boils at 100 degrees Celsius at sea level."), {}),
        ("broken", "fail500", {"max_attempts": "1"}),
    ])
    obj = ask(tmp_path, cfg, "At what temperature does water boil?", "--no-synthesis")
    check_one_object(obj)
    an = obj["analysis"]
    assert an["label"] == "single_voice"
    assert an["consensus"] is None
    broken = next(m for m in obj["members"] if m["name"] == "broken")
    assert broken["status"] == "failed" and broken["error"]


def test_no_usable_answer_says_so(tmp_path, server):
    cfg = council(tmp_path, server, [
        ("x", "fail500", {"max_attempts": "1"}),
        ("y", say("I'm sorry, but I can't help with that."), {}),
    ])
    obj = ask(tmp_path, cfg, "What is the capital of France?")
    check_one_object(obj)
    assert obj["analysis"]["label"] == "no_answer"
    assert obj["analysis"]["consensus"] is None


def test_synthesis_comes_from_the_synthesizer(tmp_path, server):
    cfg = council(tmp_path, server, [
        ("a", say("The capital of France is Paris."), {}),
        ("b", say("Paris is the capital of France."), {}),
        ("writer", say("## Answer\n\nParis is the capital of France."), {}),
    ], synthesizer="writer")
    obj = ask(tmp_path, cfg, "What is the capital of France?")
    check_one_object(obj)
    assert "Paris is the capital of France." in obj["answer"]
    assert len(obj["followups"]) >= 1
    assert obj["category"]


def test_answer_streams_to_the_terminal_as_it_is_written(tmp_path, server):
    """drux ask prints the analysis once the members are done, then the answer word by word as
    the synthesizer writes it (here 0.2 s a word), not all at once at the end."""
    import threading
    import time
    answer = "Paris is the capital of France, as both say."
    script = answer + "\n\nFollow-up questions:\nWhy Paris?"  # a config line holds 197 bytes
    cfg = council(tmp_path, server, [
        ("a", say("The capital of France is Paris."), {}),
        ("b", say("Paris is the capital of France."), {}),
        ("writer", "slowsay-" + script.encode().hex(), {}),
    ], synthesizer="writer")
    env = dict(os.environ, DRUX_HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    env.pop("DRUX_CONFIG", None)
    p = subprocess.Popen([DRUX, "ask", "--quiet", "--config", str(cfg), "What is the capital of France?"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, bufsize=0)
    seen = []  # (time, bytes so far)
    got = b""

    def read():
        nonlocal got
        while True:
            b = p.stdout.read(64)
            if not b:
                return
            got += b
            seen.append((time.monotonic(), got))
    t = threading.Thread(target=read)
    t.start()
    p.wait(timeout=120)
    t.join()
    end = time.monotonic()
    out = got.decode()
    assert p.returncode == 0, p.stderr.read()
    head = b"\nAnswer\n\n"  # the analysis above may quote the writer's own answer
    first = next(ts for ts, g in seen if head + b"Paris is the" in g)
    whole = next(ts for ts, g in seen if head + answer.encode() in g)
    # the first words were on the terminal while the rest was still being written
    assert whole - first >= 0.6, (whole - first, out)
    assert end - first >= 1.0
    # printed once, as streamed, and said what it is; the follow-up is not part of it
    shown = out.split("\nAnswer\n\n", 1)[1]
    assert shown.count(answer) == 1, out
    assert "written by the synthesizer from the council's answers, and checked" in shown
    assert "Why Paris?" in shown.split(answer)[1]
    assert "Agreed" in out.split("\nAnswer\n\n", 1)[0]


def test_default_local_council_answers_paris(tmp_path):
    if not models.have(models.SMOL, models.GEMMA):
        pytest.skip("the default local models are not in the cache (make setup pulls them)")
    lines = ["[council]", "timeout_s = 120", "max_tokens = 48"]
    for name, f in (("smollm2", models.SMOL), ("gemma3", models.GEMMA)):
        lines += ["[member.%s]" % name, "type = local", "model = " + models.path(f)]
    cfg = tmp_path / "local.ini"
    cfg.write_text("\n".join(lines) + "\n")
    obj = ask(tmp_path, cfg, "What is the capital of France?")
    check_one_object(obj)
    assert [m["status"] for m in obj["members"]] == ["done", "done"]
    assert all(m["tokens"] > 0 and m["latency_ms"] > 0 for m in obj["members"])
    assert any("Paris" in m["text"] for m in obj["members"])
    assert "Paris" in obj["answer"]


def test_voices_of_one_local_model_answer_together_as_alone(tmp_path):
    """Three voices of one local model decode in shared steps (one read of the
    weights per token for all three); each must still answer exactly as it
    does when it is the only member."""
    if not models.have(models.SMOL):
        pytest.skip("SmolLM2 is not in the model cache (make setup pulls it)")
    smol = models.path(models.SMOL)
    voices = {"careful": "temperature = 0", "second": "temperature = 0",
              "lively": "temperature = 0.8\nseed = 7"}

    def config(name, members):
        lines = ["[council]", "timeout_s = 120", "max_tokens = 40"]
        for m in members:
            lines += ["[member.%s]" % m, "type = local", "model = " + smol, voices[m]]
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n")
        return path

    question = "Name three colours of the rainbow."
    together = ask(tmp_path, config("all.ini", ["careful", "second", "lively"]), question)
    check_one_object(together)
    got = {m["name"]: m for m in together["members"]}
    assert [m["status"] for m in together["members"]] == ["done"] * 3
    for name in ("careful", "lively"):
        alone = ask(tmp_path, config(name + ".ini", [name]), question)["members"][0]
        assert alone["status"] == "done"
        assert got[name]["text"] == alone["text"], name
        assert got[name]["tokens"] == alone["tokens"] > 0
    # two greedy voices of one model are the same voice
    assert got["careful"]["text"] == got["second"]["text"]


def test_embeddings_match_paraphrases_with_few_shared_words(tmp_path, server):
    emb = models.path(models.MINILM)
    if not os.path.exists(emb):
        pytest.skip("the embedding model is not in the cache (make setup pulls it)")
    members = [
        ("a", say("Regular exercise strengthens the heart and lowers blood pressure."), {}),
        ("b", say("Working out often makes your cardiovascular system stronger and reduces hypertension."), {}),
    ]
    cfg = council(tmp_path, server, members, embedder=emb)
    obj = ask(tmp_path, cfg, "What does regular exercise do for the heart?", "--no-synthesis")
    check_one_object(obj)
    an = obj["analysis"]
    assert an["method"] == "embedding"
    assert an["agreed"] and set(an["agreed"][0]["members"]) == {"a", "b"}, an
    assert an["consensus"] >= 60


def test_derived_followups_come_from_the_content(tmp_path):
    """Without a synthesizer model, follow-ups are derived from the points: up to three, distinct,
    each a question about something the answers said (or the question itself)."""
    data = {"question": "Why is the sky blue?", "answers": [
        {"model": "a", "text": "Sunlight is scattered by air molecules, and blue light scatters most."},
        {"model": "b", "text": "Air molecules scatter blue light from the sun more than red light."}]}
    p = subprocess.run([DRUX, "analyze", "-"], input=json.dumps(data), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    obj = json.loads(p.stdout)
    fu = obj["followups"]
    assert obj["sources"]["followups"] == "derived"
    assert len(fu) == 3 and len(set(fu)) == 3
    assert all(q.endswith("?") for q in fu)
    assert any("scatter" in q for q in fu)
    assert all(len(q) < 120 and q.lower() != "why is the sky blue?" for q in fu)
