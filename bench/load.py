#!/usr/bin/env python3
"""bench/load.py — many concurrent clients against drux serve with loopback members.

Each client loops for the run's length: asks a question (POST /api/v1/questions), follows its
events to the end (as the live page does), then loads the question's page (/q/ID) and the
history (/api/v1/questions). The members are OpenAI-compatible ones on loopback
(tests/integration/fake_openai.py, "say-HEX": a scripted answer streamed at once), so the
run measures drux — admission, the store, events, analysis, pages — not a model.

Two set-ups, one after the other:
  sqlite-1   one instance on a SQLite file
  pg-2       two instances on one PostgreSQL (tests/pg-server: a throwaway server on a unix
             socket), the clients spread over both as a load balancer would

Reported per set-up: questions answered per second, p50/p99 latency of a page load (/q/ID
and the history), p50/p99 of a whole question (ask to result), and errors (HTTP 5xx, refused
connections, broken streams) beside 429s (busy or rate-limited, which a client retries).

    bench/load.py [--clients 32] [--seconds 30] [--max-running 8] [--only sqlite-1|pg-2]

Not a test: nothing here passes or fails. Run it on an idle machine (nice -n 19 elsewhere).
"""

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import fake_openai  # noqa: E402

DRUX = os.environ.get("DRUX_BIN", os.path.join(ROOT, "build/release/drux"))
ANSWERS = ["The capital of France is Paris, on the Seine.",
           "Paris is the capital of France and its largest city.",
           "Paris."]
QUESTIONS = ["What is the capital of France?", "Which city is the capital of France?",
             "Name the French capital.", "What is France's capital city?"]


def say(text):
    return "say-" + text.encode("utf-8").hex()


def council(tmp, fake):
    lines = ["[council]", "timeout_s = 60", "max_tokens = 64", "synthesizer = writer"]
    for name, text in zip(("a", "b", "writer"), ANSWERS):
        lines += ["[member.%s]" % name, "type = remote", "tier = free",
                  "base_url = " + fake.base_url, "model = " + say(text)]
    path = os.path.join(tmp, "council.ini")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def start_instance(tmp, name, db, cfg, max_running):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("DRUX_CONFIG", None)
    env["DRUX_HOME"] = os.path.join(tmp, name)
    env["XDG_CONFIG_HOME"] = os.path.join(tmp, name, "xdg")
    proc = subprocess.Popen([DRUX, "serve", "--port", "0", "--db", db, "--config", cfg,
                             "--rate-limit", "0", "--max-running", str(max_running)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    line = proc.stdout.readline()
    if "http://127.0.0.1:" not in line:
        raise SystemExit("drux serve did not start: %r" % line)
    return proc, int(line.split("http://127.0.0.1:")[1].split("/")[0])


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.answered = 0
        self.page_ms = []
        self.question_ms = []
        self.errors = 0
        self.busy = 0
        self.first_error = None

    def error(self, what):
        with self.lock:
            self.errors += 1
            if self.first_error is None:
                self.first_error = what


def client(ports, k, deadline, st):
    n = 0
    while time.monotonic() < deadline:
        port = ports[(k + n) % len(ports)]  # round robin, as a balancer would
        n += 1
        try:
            t0 = time.monotonic()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("POST", "/api/v1/questions",
                      body=json.dumps({"question": QUESTIONS[n % len(QUESTIONS)]}).encode(),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            body = r.read()
            c.close()
            if r.status == 429:
                with st.lock:
                    st.busy += 1
                time.sleep(0.2)
                continue
            if r.status != 201:
                st.error("POST %d %s" % (r.status, body[:120]))
                continue
            qid = json.loads(body)["id"]
            # follow on the other instance when there are two: events cross instances
            port = ports[(k + n) % len(ports)]
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("GET", "/api/v1/questions/%s/events" % qid)
            r = c.getresponse()
            last = None
            for raw in r:
                if raw.startswith(b"event: "):
                    last = raw[7:].strip().decode()
            c.close()
            if last != "result":
                st.error("stream of %s ended with %r" % (qid, last))
                continue
            t1 = time.monotonic()
            for path in ("/q/" + qid, "/api/v1/questions?limit=20"):
                p0 = time.monotonic()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                c.close()
                if r.status != 200:
                    st.error("GET %s %d" % (path, r.status))
                    continue
                with st.lock:
                    st.page_ms.append((time.monotonic() - p0) * 1000)
            with st.lock:
                st.answered += 1
                st.question_ms.append((t1 - t0) * 1000)
        except (OSError, http.client.HTTPException, ValueError) as e:
            st.error("%s: %s" % (type(e).__name__, e))


def run(label, ports, clients, seconds):
    st = Stats()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(ports, k, deadline, st)) for k in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    print("| %-8s | %3d | %8.2f | %7.1f | %7.1f | %8.0f | %8.0f | %5d | %4d |" % (
        label, clients, st.answered / wall, pct(st.page_ms, 50), pct(st.page_ms, 99),
        pct(st.question_ms, 50), pct(st.question_ms, 99), st.errors, st.busy), flush=True)
    if st.first_error:
        print("  first error: %s" % st.first_error, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--max-running", type=int, default=8)
    ap.add_argument("--only", choices=["sqlite-1", "pg-2"])
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="drux-load-")
    os.chmod(tmp, 0o755)
    fake = fake_openai.Server().start()
    procs, pg_dir = [], None
    try:
        cfg = council(tmp, fake)
        print("drux serve, %d clients for %gs each, --max-running %d, %d cores; members on loopback"
              % (a.clients, a.seconds, a.max_running, os.cpu_count()))
        print("| setup    | clients | questions/s | page p50 ms | page p99 ms | question p50 ms | "
              "question p99 ms | errors | 429s |")
        if a.only in (None, "sqlite-1"):
            p, port = start_instance(tmp, "s1", os.path.join(tmp, "drux.db"), cfg, a.max_running)
            procs.append(p)
            run("sqlite-1", [port], a.clients, a.seconds)
            p.terminate()
            p.wait()
            procs.remove(p)
        if a.only in (None, "pg-2"):
            pg_dir = os.path.join(tmp, "pg")
            r = subprocess.run([os.path.join(ROOT, "tests/pg-server"), "start", pg_dir],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print("| pg-2     | skipped: %s" % r.stderr.strip())
                pg_dir = None
            else:
                url = r.stdout.strip()
                ports = []
                for name in ("p1", "p2"):
                    p, port = start_instance(tmp, name, url, cfg, a.max_running)
                    procs.append(p)
                    ports.append(port)
                run("pg-2", ports, a.clients, a.seconds)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        if pg_dir:
            subprocess.run([os.path.join(ROOT, "tests/pg-server"), "stop", pg_dir], capture_output=True)
        fake.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
