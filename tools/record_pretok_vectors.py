#!/usr/bin/env python3
"""Record how the pre-tokenizer regular expressions split tricky strings.

drux writes its pre-tokenizers by hand (src/tok/pretok.c). This script runs
the original expressions (as the models' tokenizer.json files and llama.cpp
state them) through the Python `regex` engine, splitting each earlier piece
by each expression in turn and keeping unmatched text as pieces of its own,
and writes tests/data/tok/pretok.json for tests/unit/test_tok.c. The test
needs no model files, so the splitters are checked on any machine.

    pip install --target /tmp/pyregex regex      # the `regex` module (2026.11.19 used)
    PYTHONPATH=/tmp/pyregex /root/.cache/drux-ref/venv/bin/python tools/record_pretok_vectors.py

deepseek-llm's expression is left out: its letter class is a long list of
literal ranges, checked instead by the fixture vectors and corpus digests.
"""
import json
import platform

import regex

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
          r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
         r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

KINDS = {
    "default": [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
    "gpt-2": [GPT2],
    "llama-bpe": [LLAMA3],
    "qwen2": [QWEN2],
    "starcoder": [r"\p{N}", GPT2],
    "falcon": [r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]"],
    "deepseek-coder": [r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", r"[一-龥ࠀ-一가-퟿]+", r"\p{N}"],
    "bloom": [r" ?[^(\s|.,!?…。，、।۔،)]+"],
}

TEXTS = [
    "Hello world",
    " Hello  world   ",
    "I'm here, you're there; it's 'quoted' and THEY'LL go, we'VE seen",
    "don't'll 's 'S ''s",
    "1 12 123 1234 12345 1234567 3.14159 1,000,000 -42",
    "x1y22z333w4444",
    "new\nline\n\n\nthree\r\nCRLF\r\n\r\n",
    "  \n  \n trailing\t\t\n \n",
    "\ttab\t \tmixed  \t",
    "int main(void) { return x[i] << 2 != 0 && y->z; }",
    "    indented:\n        more\n",
    "$100 + 20% = <=> ^~|` @#&*",
    "Über naïve café — “quotes” ‘single’ … ellipsis",
    "Привет, мир! Как дела?",
    "日本語のテキスト，中文文本。한국어 텍스트",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "emoji 🦙🚀👍🏽 and ZWJ 👩‍💻",
    "½ ⅓ ² ³ ① Ⅻ ٣ ৪",
    "nbsp\u00a0and\u2009thin\u3000ideographic",
    "e-mail: a@b.com, url: https://x.org/p?q=1&r=2#f",
    "!!!??? ... ,,, ;;; ::: ''' \"\"\"",
    "a.b,c!d?e…f。g，h、i",
    "(paren) |pipe| [bracket] {brace}",
    "",
    " ",
    "\n",
]


def wide(seg):
    """llama.cpp runs expressions without \\p{..} classes over code points in
    which non-ASCII white space became U+000B; do the same (same length)."""
    return "".join("\x0b" if ord(c) > 0x7F and regex.match(r"\s", c) else c for c in seg)


def split(exprs, text):
    pieces = [text] if text else []
    for e in exprs:
        out = []
        for seg in pieces:
            pos = 0
            subject = seg if "\\p{" in e else wide(seg)
            for m in regex.finditer(e, subject):
                if m.start() > pos:
                    out.append(seg[pos:m.start()])
                if m.end() > m.start():
                    out.append(seg[m.start():m.end()])
                pos = m.end()
            if pos < len(seg):
                out.append(seg[pos:])
        pieces = out
    return pieces


def main():
    doc = {"recorded_with": {"regex": regex.__version__, "python": platform.python_version(),
                             "command": "tools/record_pretok_vectors.py"},
           "kinds": {}}
    for name, exprs in KINDS.items():
        doc["kinds"][name] = [{"text": t, "pieces": split(exprs, t)} for t in TEXTS]
    with open("tests/data/tok/pretok.json", "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print("%d kinds x %d texts -> tests/data/tok/pretok.json" % (len(KINDS), len(TEXTS)))


if __name__ == "__main__":
    main()
