#!/usr/bin/env python3
"""Record digests of llama.cpp's tokenization of a hostile mixed corpus.

Writes tests/data/tok/mixed-corpus.bin (generated here from a fixed seed:
code points from every plane, combining marks, unassigned and private-use
characters, stray and truncated UTF-8 bytes, special-token texts, whitespace
runs, contractions, digits) and tests/data/tok/digests.json: for each GGUF
given, the number of ids and the SHA-256 of the ids (int32 little-endian)
that llama-cpp-python's vocab-only tokenize gives, with add_bos=True and
special False and True. tests/unit/test_tok.c checks drux against them.

    /root/.cache/drux-ref/venv/bin/python tools/record_tok_digests.py \
        ../shared/fixtures/tokenizer/ggml-vocab-*.gguf ~/.local/share/drux/models/*.gguf
"""
import hashlib
import json
import platform
import random
import struct
import sys

import llama_cpp

SPECIALS = [b"<|endoftext|>", b"<s>", b"</s>", b"<|im_start|>", b"<|im_end|>", b"<eos>", b"<bos>",
            b"<unk>", b"[CLS]", b"[SEP]", b"<fim_prefix>", b"<start_of_turn>", b"<table>",
            b"  ", b"\n\n", b"'s", b"'LL", b"123456", b"\t\t", b"   \n "]
PLAIN = [b" ", b"a", b"Z", b"9", b".", b",", b"!", b"\n", b"\xc3\xa9", b"\xe6\x97\xa5",
         b" the", b"don't", b"\xe2\x80\x94"]


def corpus(n=12000, seed=11):
    rnd = random.Random(seed)
    out = bytearray()
    for _ in range(n):
        r = rnd.random()
        if r < 0.5:
            c = rnd.choice([rnd.randint(0, 0x7F), rnd.randint(0x80, 0x7FF), rnd.randint(0x800, 0xFFFF),
                            rnd.randint(0x10000, 0x10FFFF), rnd.randint(0x300, 0x36F),
                            rnd.randint(0x2000, 0x206F), rnd.randint(0x3000, 0x303F)])
            if 0xD800 <= c <= 0xDFFF:
                c = 0x41
            out += chr(c).encode("utf-8")
        elif r < 0.6:
            out += bytes([rnd.randint(0x80, 0xFF)])
        elif r < 0.7:
            out += rnd.choice(SPECIALS)
        else:
            out += rnd.choice(PLAIN)
    return bytes(out)


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    data = corpus()
    with open("tests/data/tok/mixed-corpus.bin", "wb") as f:
        f.write(data)
    doc = {"recorded_with": {"llama_cpp_python": llama_cpp.__version__,
                             "python": platform.python_version(),
                             "call": "Llama(path, vocab_only=True).tokenize(corpus, add_bos=True, "
                                     "special=...)",
                             "command": "tools/record_tok_digests.py " +
                                        " ".join(p.rsplit("/", 1)[-1] for p in argv[1:])},
           "corpus_sha256": hashlib.sha256(data).hexdigest(), "models": {}}
    for path in argv[1:]:
        llm = llama_cpp.Llama(path, vocab_only=True, verbose=False)
        entry = {}
        for special in (False, True):
            ids = llm.tokenize(data, add_bos=True, special=special)
            blob = b"".join(struct.pack("<i", i) for i in ids)
            entry["special" if special else "plain"] = {"n": len(ids),
                                                        "sha256": hashlib.sha256(blob).hexdigest()}
        doc["models"][path.rsplit("/", 1)[-1]] = entry
        print(path, entry)
    with open("tests/data/tok/digests.json", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
