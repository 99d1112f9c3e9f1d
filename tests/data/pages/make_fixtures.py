#!/usr/bin/env python3
"""Writes the stored-question fixtures of tests/unit/test_pages.c.

Each "result" is the real analysis object printed by `drux analyze` for the
answers below (run from the repo root after `make`); only the stored-question
wrapper (id, status, times, live members) is written here, as the server
stores it (docs: notes in src/server/pages.h). Re-run after changing the
analysis:  python3 tests/data/pages/make_fixtures.py
"""
import json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
DRUX = os.environ.get("DRUX_BIN", "build/release/drux")


def analyze(question, answers, synthesis=True):
    doc = json.dumps({"question": question, "answers": answers})
    args = [DRUX, "analyze", "-", "--compact"] + ([] if synthesis else ["--no-synthesis"])
    out = subprocess.run(args, input=doc.encode(), capture_output=True, check=True).stdout
    return json.loads(out)


def live(result):
    return [{k: m[k] for k in ("name", "model", "status", "error", "latency_ms", "tokens", "ttft_ms", "text")}
            for m in result["members"]]


def stored(qid, question, status, result=None, members=None, error=None):
    q = {"id": qid, "question": question, "status": status,
         "created_at": "2026-11-25T02:31:00Z",
         "finished_at": None if status == "running" else "2026-11-25T02:31:42Z",
         "members": members if members is not None else live(result), "result": result}
    if error:
        q["error"] = error
    return q


def write(name, q):
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(q, f, indent=1, ensure_ascii=False)
        f.write("\n")


def main():
    r = analyze("What is the capital of Australia?", [
        {"name": "smollm", "model": "SmolLM2-135M-Instruct", "text": "The capital of Australia is Canberra.",
         "latency_ms": 2310, "tokens": 9, "ttft_ms": 410},
        {"name": "gemma", "model": "gemma-3-270m", "status": "timeout", "error": "no answer within 60 s",
         "text": "", "latency_ms": 60000},
        {"name": "remote", "model": "gpt-x", "status": "failed", "error": "HTTP 401: invalid API key",
         "text": ""}])
    write("single_voice", stored("sv1", r["question"], "done", r))

    r = analyze("Which licence lets me use SQLite in a commercial product?", [
        {"name": "smollm", "model": "SmolLM2-135M-Instruct", "latency_ms": 1800, "tokens": 31, "ttft_ms": 300,
         "text": "SQLite is in the public domain. You can use it in commercial products without a licence fee."},
        {"name": "gemma", "model": "gemma-3-270m", "latency_ms": 2400, "tokens": 40, "ttft_ms": 350,
         "text": "SQLite is public domain. You can use it in commercial products without a licence fee. "
                 "A warranty of title can be bought from the authors."},
        {"name": "remote", "model": "gpt-x", "latency_ms": 900, "tokens": 28, "ttft_ms": 120,
         "text": "SQLite is in the public domain, so you can use it in commercial products without a licence fee."}])
    r["answer"] = ("**SQLite is in the public domain.** All three models agree:\n\n"
                   "| Use | Allowed |\n|---|---|\n| Commercial | yes |\n| Closed source | yes |\n\n"
                   "- no licence fee\n- ~~GPL~~ not needed\n\nSee https://sqlite.org/copyright.html")
    r["sources"]["answer"] = "model"
    write("consensus", stored("cn1", r["question"], "done", r))

    r = analyze("How many moons does Mars have?", [
        {"name": "smollm", "model": "SmolLM2-135M-Instruct", "text": "Mars has 2 moons.", "latency_ms": 1500,
         "tokens": 6},
        {"name": "gemma", "model": "gemma-3-270m", "text": "Mars has 5 moons.", "latency_ms": 1700, "tokens": 6}])
    write("disagree", stored("dg1", r["question"], "done", r))

    r = analyze("What is the capital of Australia?", [
        {"name": "smollm", "model": "SmolLM2-135M-Instruct", "status": "failed", "error": "model file missing",
         "text": ""},
        {"name": "gemma", "model": "gemma-3-270m", "status": "refused", "text": "I cannot help with that."}])
    write("no_answer", stored("na1", r["question"], "done", r))

    members = [
        {"name": "smollm", "model": "SmolLM2-135M-Instruct", "status": "done", "error": None, "latency_ms": 2100,
         "tokens": 12, "ttft_ms": 300, "text": "Water boils at 100 degrees Celsius at sea level."},
        {"name": "gemma", "model": "gemma-3-270m", "status": "running", "error": None, "latency_ms": 0,
         "tokens": 4, "ttft_ms": 520, "text": "At sea level water"},
        {"name": "remote", "model": "gpt-x", "status": "queued", "error": None, "latency_ms": 0, "tokens": 0,
         "ttft_ms": 0, "text": ""}]
    write("running", stored("rn1", "At what temperature does water boil?", "running", None, members))

    members = [dict(m) for m in members]
    members[1]["status"] = "cancelled"
    members[1]["error"] = "the server stopped"
    members[2]["status"] = "cancelled"
    members[2]["error"] = "the server stopped"
    write("interrupted", stored("it1", "At what temperature does water boil?", "interrupted", None, members))

    evil = '<script>alert("q")</script>'
    r = analyze("Is " + evil + " safe? <img src=x onerror=alert(1)>", [
        {"name": "<b>bold</b>", "model": 'm"><script>alert(2)</script>',
         "text": "Click [here](javascript:alert(3)) or [there](JAVASCRIPT:alert(4)) now.\n\n"
                 "<script>alert(5)</script>\n\n<img src=x onerror=alert(6)> inline <i onclick=\"x()\">i</i>\n\n"
                 "![pic](javascript:alert(7)) [data](data:text/html;base64,PHNjcmlwdD4=) "
                 "[ok](https://example.org/a?b=1&c=2) <javascript:alert(8)>\n\n"
                 "[ref]: javascript:alert(9)\n\n[ref] and [ok2](vbscript:msgbox(1))", "latency_ms": 10},
        {"name": "x' onmouseover='alert(10)", "model": "plain",
         "text": "Click [here](javascript:alert(3)) or [there](JAVASCRIPT:alert(4)) now. <script>alert(11)</script>",
         "latency_ms": 20}])
    r["answer"] = ("Safe answer with [bad](javascript:alert(12)) and <script>alert(13)</script> and "
                   "<a href=\"javascript:alert(14)\">raw</a>\n\n<div onclick=alert(15)>block</div>")
    r["sources"]["answer"] = "model"
    r["followups"] = ['"><script>alert(16)</script>', "javascript:alert(17)"]
    r["category"] = "<script>alert(18)</script>"
    write("hostile", stored("ho1<x>", r["question"], "done", r))


if __name__ == "__main__":
    sys.exit(main())
