#!/usr/bin/env python3
"""Record llama.cpp's tokenization of tricky strings as drux test data.

Writes tests/data/tok/<name>.json for each model given: the token ids the
reference llama.cpp (through llama-cpp-python, vocab only) produces for a
fixed set of strings, with and without special-token parsing and BOS/EOS.
tests/unit/test_tok.c replays them through drux's tokenizer and requires the
ids to be exactly equal.

Run with the pinned reference environment:

    /root/.cache/drux-ref/venv/bin/python tools/record_tok_vectors.py \
        ~/.local/share/drux/models/SmolLM2-135M-Instruct.Q4_1.gguf smollm2-135m \
        ~/.local/share/drux/models/gemma-3-270m-q4_k_m.gguf gemma3-270m

The versions used are written into each file's header.
"""
import json
import platform
import sys

import llama_cpp

# Strings that exercise the corners: unicode scripts, numbers, code, runs of
# whitespace, contractions, special tokens written as text, invalid UTF-8.
TEXTS = [
    "Hello world",
    " Hello world",
    "Hello World!",
    "hello, world. how's it going? I'm fine; you're great, we'll see, they'd've",
    "HOW'S IT GOING? I'M FINE",
    "",
    " ",
    "  ",
    "   leading spaces",
    "trailing spaces   ",
    "tabs\tand\t\ttabs",
    "new\nline\n\nand\r\nCRLF\n\n\n",
    "   \n  \n mixed   whitespace \t\n",
    "1 12 123 1234 12345 123456 3.14159 1,000,000 -42 +7 0x1F",
    "2024-01-15T08:30:00Z",
    "int main(void) { return printf(\"%d\\n\", x[i] << 2) != 0 && y->z; }",
    "def f(x):\n    return [i**2 for i in range(x) if i % 2 == 0]\n",
    "    four spaces then code:\n        eight",
    "Über naïve café résumé façade — “quotes” ‘single’ … ellipsis",
    "Привет, мир! Как дела?",
    "日本語のテキストと中文文本，還有한국어 텍스트。",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "emoji 🦙🚀👍🏽 and flags 🇫🇷 and ZWJ 👩‍💻",
    "½ ⅓ ² ³ ① Ⅻ ٣ ৪",
    "non-breaking\u00a0space and\u2009thin and\u3000ideographic",
    "zero\u200bwidth and soft\u00adhyphen",
    "ALL CAPS SHOUTING and MiXeD cAsE wOrDs",
    "e-mail: someone@example.com, url: https://example.org/path?q=1&r=2#frag",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "<bos>text<eos> and <pad><unk>",
    "<|endoftext|>plain after special",
    "special<|im_end|>glued",
    "a" * 40,
    "!!!??? ... ,,, ;;; ::: ''' \"\"\"",
    "$100 + 20% = <=> ^~|`",
    "\u2581already has the marker",
    "Use `</s>` or </s> in text, and <eos> too",
    "<table><tr><td>cell</td></tr></table> <b>bold</b>",
    "<unused0> <start_of_image> [multimodal] <mask>",
    "<fim_prefix>def f():<fim_suffix>\n<fim_middle>",
    "<|endoftext|><|endoftext|> <|im_start|><|im_end|>",
]

# Byte strings that are not valid UTF-8 (SentencePiece falls back to bytes).
RAW = [
    b"bad \xff byte",
    b"\xc3\x28 truncated \xe2\x82",
    b"\xf0\x9f\xa6 cut emoji",
]


def main(argv):
    if len(argv) < 3 or len(argv) % 2 == 0:
        print(__doc__)
        return 2
    for path, name in zip(argv[1::2], argv[2::2]):
        llm = llama_cpp.Llama(path, vocab_only=True, verbose=False)
        cases = []
        inputs = [t.encode("utf-8") for t in TEXTS] + RAW
        for raw in inputs:
            for add_special, parse_special in ((False, False), (True, False), (True, True)):
                ids = llm.tokenize(raw, add_bos=add_special, special=parse_special)
                case = {"hex": raw.hex(), "add_special": add_special,
                        "parse_special": parse_special, "ids": ids}
                try:
                    case["text"] = raw.decode("utf-8")
                except UnicodeDecodeError:
                    pass
                cases.append(case)
        doc = {
            "model": path.rsplit("/", 1)[-1],
            "recorded_with": {
                "llama_cpp_python": llama_cpp.__version__,
                "python": platform.python_version(),
                "call": "llama_cpp.Llama(path, vocab_only=True).tokenize(bytes, "
                        "add_bos=add_special, special=parse_special)",
                "command": "tools/record_tok_vectors.py " + " ".join(argv[1:]),
            },
            "cases": cases,
        }
        out = "tests/data/tok/%s.json" % name
        with open(out, "w", encoding="utf-8") as f:
            # one case per line, so a diff of a re-recording is readable
            head = dict(doc, cases=[])
            text = json.dumps(head, ensure_ascii=False, indent=1)
            body = ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases)
            f.write(text.replace('"cases": []', '"cases": [\n' + body + "\n]") + "\n")
        print("%s: %d cases -> %s" % (path, len(cases), out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
