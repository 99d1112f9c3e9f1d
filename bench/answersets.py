#!/usr/bin/env python3
"""answersets — scores `drux analyze` on the answer-set corpus in tests/answersets/.

    bench/answersets.py                      # all sets, a report per kind
    bench/answersets.py --kind outlier -v    # one kind, every miss listed
    bench/answersets.py --json out.json      # the full result as JSON too
    bench/answersets.py --check              # exit 1 when any analysis contradicts itself

Each line of tests/answersets/*.jsonl is one answer set:
    {"id", "kind", "domain", "input": <drux analyze input>, "expect": {
        "label": [accepted labels],
        "agreed": ["key | alternative", ...],          # each must be found in an agreed point
        "disputed": [["side A | alt", "side B"], ...],  # each side in a different stance of one
                                                        # disputed point
        "direct": {"kind": "who|what|when|...", "answers": {member: "value" | null}}}}

Reported (method in tests/answersets/README.md): label accuracy, the share of expected key
points found, the direct answers when the object carries `analysis.direct`, and self-contradictions
(invariants every analysis object must hold, whatever its accuracy). Python 3 standard library only.
"""
import argparse
import concurrent.futures
import glob
import itertools
import json
import os
import re
import subprocess
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BIN = os.environ.get("DRUX_BIN", os.path.join(ROOT, "build/release/drux"))
DEFAULT_DIR = os.path.join(ROOT, "tests/answersets")

# Older and newer spellings of the same label (the brief says "agree", the object says "consensus").
LABEL_ALIASES = {"agree": "consensus"}

INVARIANTS = {
    "disagree_without_dispute": "label disagree with no disputed point",
    "low_consensus_with_agreed": "consensus <= 5% beside an agreed point",
    "agreed_few_supporters": "an agreed point with fewer than 2 supporters",
    "evidence_missing": "an agreed point's supporter without evidence",
    "evidence_not_verbatim": "evidence not found in that member's own text",
    "member_both_sides": "one member on two sides of a dispute",
    "unusable_in_point": "a member with no usable answer as a supporter or a stance",
    "usable_count_label": "single_voice/no_answer not matching the number of usable answers",
    "no_common_ground_with_points": "no_common_ground with an agreed or disputed point",
    "consensus_label_rule": "label consensus below 70%, without agreed point, or with a dispute",
}


def load_sets(directory, kinds=None):
    sets = []
    for path in sorted(glob.glob(os.path.join(directory, "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    s = json.loads(line)
                except ValueError as e:
                    raise SystemExit(f"{path}:{n}: not JSON: {e}")
                if kinds and s["kind"] not in kinds:
                    continue
                sets.append(s)
    return sets


# ---------------------------------------------------------------- matching key phrases

def fold(text):
    """Lower case, no diacritics, no thousands separators: the form key phrases are matched in."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c)).lower()
    t = t.replace("\u2212", "-")
    return re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)


def tokens(text):
    return re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", fold(text))


def _is_num(t):
    return re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", t) is not None


def token_in(pt, toks):
    for t in toks:
        if t == pt:
            return True
        if _is_num(pt) and _is_num(t) and t.startswith(pt + "."):
            return True  # "42" is found in "42.195"
        if not _is_num(pt) and len(pt) >= 4 and t.startswith(pt):
            return True  # "tilt" in "tilted", "pregnan" in "pregnancy"
    return False


def phrase_in(phrase, text):
    """True when one alternative ("a | b") has all its words in text."""
    toks = tokens(text)
    for alt in phrase.split("|"):
        pts = tokens(alt)
        if pts and all(token_in(p, toks) for p in pts):
            return True
    return False


def agreed_texts(p):
    parts = [p.get("text") or ""]
    for e in p.get("evidence") or []:
        parts.append(e.get("text") or "")
    return " \n ".join(parts)


def find_agreed(key, agreed):
    return any(phrase_in(key, agreed_texts(p)) for p in agreed)


def find_disputed(sides, disputed):
    """One disputed point whose stances state every side, each side in a different position."""
    for p in disputed:
        by_pos = {}
        for s in p.get("stances") or []:
            by_pos.setdefault(s.get("position"), []).append(s.get("text") or "")
        if len(by_pos) < len(sides):
            continue
        cands = []
        for side in sides:
            cands.append({pos for pos, ts in by_pos.items() if phrase_in(side, " \n ".join(ts))})
        for perm in itertools.permutations(by_pos.keys(), len(sides)):
            if all(perm[i] in cands[i] for i in range(len(sides))):
                return True
    return False


# ---------------------------------------------------------------- direct answers

def direct_entries(an):
    """analysis.direct as {member: [strings]}, or None when the object has none. Accepts a list of
    entries or an object holding one ("answers"/"members"); an entry names its member and carries its
    answer in any of value/normalized/answer/text/span."""
    d = an.get("direct")
    if d is None:
        return None
    if isinstance(d, dict):
        d = d.get("answers", d.get("members", []))
    out = {}
    for e in d if isinstance(d, list) else []:
        if not isinstance(e, dict) or "member" not in e:
            continue
        vals = [e.get(k) for k in ("value", "normalized", "answer", "text", "span", "display")]
        vals = [v if isinstance(v, str) else json.dumps(v) for v in vals if v not in (None, "")]
        out[e["member"]] = vals
    return out


NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
                     "eighty": 80, "ninety": 90, "dozen": 12})


def numbers(text):
    out = set()
    for t in tokens(text):
        if _is_num(t):
            out.add(float(t))
        elif t in NUMBER_WORDS:
            out.add(float(NUMBER_WORDS[t]))
    return out


def direct_matches(expected, got):
    """A member's direct answer matches the expected one. An expected amount or date matches
    when each of its numbers is stated in the member's span (the unit as the member wrote it:
    "26.2 miles" is not "42 km"); a name when the span or normalised value holds every word of
    the expected one, or the expected one holds every word of it."""
    if expected is None:
        return not got
    if not got:
        return False
    want = numbers(expected)
    if want and re.search(r"[0-9]", expected):
        have = set()
        for g in got:
            have |= numbers(g)
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", expected.strip()):
            return any(expected.strip() in g for g in got) or want <= have
        return want <= have
    return any(phrase_in(expected, g) or (tokens(g) and phrase_in(g, expected)) for g in got)


# ---------------------------------------------------------------- invariants

def squash(text):
    """Whitespace collapsed, markdown markers dropped: evidence is the member's own words, shown
    without markup, so "**Paris** is" in the text holds the evidence "Paris is"."""
    t = re.sub(r"[*_`#>|]", " ", text or "")
    return " ".join(t.split())


def violations(obj):
    """Names of the invariants this analysis object breaks (see INVARIANTS), with details."""
    out = []
    an = obj["analysis"]
    members = {m["name"]: m for m in obj["members"]}
    usable = {n for n, m in members.items() if m.get("usable")}
    label = LABEL_ALIASES.get(an["label"], an["label"])
    c = an.get("consensus")
    agreed, disputed = an.get("agreed") or [], an.get("disputed") or []
    if label == "disagree" and not disputed:
        out.append(("disagree_without_dispute", ""))
    if agreed and c is not None and c <= 5:
        out.append(("low_consensus_with_agreed", f"{c}%"))
    if (label == "single_voice") != (len(usable) == 1) or (label == "no_answer") != (not usable):
        out.append(("usable_count_label", f"{label} with {len(usable)} usable"))
    if label == "no_common_ground" and (agreed or disputed):
        out.append(("no_common_ground_with_points", ""))
    if label == "consensus" and (c is None or c < 70 or not agreed or disputed):
        out.append(("consensus_label_rule", f"{c}%"))
    for p in agreed:
        sup = p.get("members") or []
        if len(set(sup)) < 2:
            out.append(("agreed_few_supporters", p.get("text", "")[:60]))
        ev = {}
        for e in p.get("evidence") or []:
            ev.setdefault(e.get("member"), []).append(e.get("text") or "")
        for n in sup:
            if n not in usable:
                out.append(("unusable_in_point", n))
            if not ev.get(n) or not all(t.strip() for t in ev[n]):
                out.append(("evidence_missing", f"{n}: {p.get('text', '')[:50]}"))
                continue
            own = squash(members.get(n, {}).get("text", ""))
            for t in ev[n]:
                if squash(t) not in own:
                    out.append(("evidence_not_verbatim", f"{n}: {t[:50]}"))
    for p in disputed:
        pos = {}
        for s in p.get("stances") or []:
            pos.setdefault(s.get("member"), set()).add(s.get("position"))
            if s.get("member") not in usable:
                out.append(("unusable_in_point", str(s.get("member"))))
        for n, ps in pos.items():
            if len(ps) > 1:
                out.append(("member_both_sides", n))
    return out


# ---------------------------------------------------------------- running

def analyze(binary, s, extra):
    r = subprocess.run([binary, "analyze", "-", "--json", "--compact", *extra],
                       input=json.dumps(s["input"]).encode(), capture_output=True, timeout=300)
    if r.returncode != 0:
        return None, r.stderr.decode(errors="replace").strip()
    try:
        return json.loads(r.stdout), None
    except ValueError as e:
        return None, f"output is not JSON: {e}"


def score(s, obj, err):
    exp = s["expect"]
    res = {"id": s["id"], "kind": s["kind"], "error": err}
    if obj is None:
        res.update(label=None, label_ok=False, keys=[], direct=[], violations=[["error", err]])
        return res
    an = obj["analysis"]
    label = LABEL_ALIASES.get(an["label"], an["label"])
    want = [LABEL_ALIASES.get(x, x) for x in exp["label"]]
    res["label"], res["want"], res["label_ok"] = label, want, label in want
    res["consensus"] = an.get("consensus")
    keys = []
    for k in exp.get("agreed", []):
        keys.append({"where": "agreed", "key": k, "found": find_agreed(k, an.get("agreed") or [])})
    for sides in exp.get("disputed", []):
        keys.append({"where": "disputed", "key": " / ".join(sides),
                     "found": find_disputed(sides, an.get("disputed") or [])})
    res["keys"] = keys
    direct = []
    got = direct_entries(an)
    if "direct" in exp and got is not None:
        for member, value in exp["direct"]["answers"].items():
            direct.append({"member": member, "want": value, "got": got.get(member),
                           "ok": direct_matches(value, got.get(member))})
    res["direct"] = direct
    res["direct_reported"] = got is not None
    res["violations"] = [list(v) for v in violations(obj)]
    return res


def pct(a, b):
    return f"{100.0 * a / b:5.1f}%" if b else "    -"


def summarize(results):
    rows = {}
    for r in results:
        for k in (r["kind"], "ALL"):
            t = rows.setdefault(k, dict(sets=0, label=0, ak=0, akf=0, dk=0, dkf=0, dir=0, dirok=0,
                                        bad=0))
            t["sets"] += 1
            t["label"] += r["label_ok"]
            for key in r["keys"]:
                if key["where"] == "agreed":
                    t["ak"] += 1
                    t["akf"] += key["found"]
                else:
                    t["dk"] += 1
                    t["dkf"] += key["found"]
            t["dir"] += len(r["direct"])
            t["dirok"] += sum(d["ok"] for d in r["direct"])
            t["bad"] += bool(r["violations"])
    return rows


def report(results, verbose, out=sys.stdout):
    rows = summarize(results)
    w = max(len(k) for k in rows)
    out.write(f"{'kind':<{w}}  sets  label    agreed keys  disputed keys  all keys  direct   "
              "self-contradicting\n")
    for k in sorted(rows, key=lambda k: (k == "ALL", k)):
        t = rows[k]
        out.write(f"{k:<{w}}  {t['sets']:4}  {pct(t['label'], t['sets'])}  "
                  f"{t['akf']:3}/{t['ak']:<3} {pct(t['akf'], t['ak'])}  "
                  f"{t['dkf']:3}/{t['dk']:<3} {pct(t['dkf'], t['dk'])}   "
                  f"{pct(t['akf'] + t['dkf'], t['ak'] + t['dk'])}  {pct(t['dirok'], t['dir'])}  "
                  f"{t['bad']}\n")
    a = rows.get("ALL")
    if a:
        counts = {}
        for r in results:
            for name in {v[0] for v in r["violations"]}:
                counts[name] = counts.get(name, 0) + 1
        out.write(f"\nlabels right: {a['label']}/{a['sets']}; key points found: "
                  f"{a['akf'] + a['dkf']}/{a['ak'] + a['dk']}; self-contradicting analyses: "
                  f"{a['bad']}\n")
        if not any(r["direct_reported"] for r in results):
            out.write("direct answers: not reported (the object has no analysis.direct)\n")
        for name, n in sorted(counts.items(), key=lambda x: -x[1]):
            out.write(f"  {n:4} sets: {INVARIANTS.get(name, name)} [{name}]\n")
    if verbose:
        out.write("\n")
        for r in results:
            miss = [k for k in r["keys"] if not k["found"]]
            dmiss = [d for d in r["direct"] if not d["ok"]]
            if r["label_ok"] and not miss and not dmiss and not r["violations"]:
                continue
            out.write(f"{r['id']}: label {r['label']} (want {'/'.join(r.get('want', []))}), "
                      f"consensus {r.get('consensus')}\n")
            for k in miss:
                out.write(f"    missing {k['where']} key: {k['key']}\n")
            for d in dmiss:
                out.write(f"    direct {d['member']}: want {d['want']!r}, got {d['got']!r}\n")
            for v in r["violations"]:
                out.write(f"    CONTRADICTION {v[0]}: {v[1]}\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=DEFAULT_BIN, help="the drux binary (default: $DRUX_BIN or "
                    "build/release/drux)")
    ap.add_argument("--dir", default=DEFAULT_DIR, help="folder of *.jsonl answer sets")
    ap.add_argument("--kind", action="append", help="only this kind (repeatable)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", metavar="FILE", help="write every set's result as JSON")
    ap.add_argument("--check", action="store_true", help="exit 1 when any analysis contradicts "
                    "itself")
    ap.add_argument("--synthesis", action="store_true", help="let analyze write its answer too "
                    "(slower; the scores do not use it)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    ap.add_argument("analyze_args", nargs="*", help="extra arguments for drux analyze (after --)")
    args = ap.parse_args(argv)
    if not os.access(args.bin, os.X_OK):
        print(f"answersets: no drux binary at {args.bin} (build it with make)", file=sys.stderr)
        return 2
    sets = load_sets(args.dir, args.kind)
    if not sets:
        print(f"answersets: no answer sets in {args.dir}", file=sys.stderr)
        return 2
    extra = list(args.analyze_args) + ([] if args.synthesis else ["--no-synthesis"])
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        outs = list(ex.map(lambda s: analyze(args.bin, s, extra), sets))
    results = [score(s, obj, err) for s, (obj, err) in zip(sets, outs)]
    report(results, args.verbose)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"summary": summarize(results), "results": results}, f, indent=1,
                      ensure_ascii=False)
    if any(r["error"] for r in results):
        return 1
    if args.check and any(r["violations"] for r in results):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
