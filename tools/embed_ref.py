#!/usr/bin/env python3
"""embed_ref — reference sentence vectors for drux's BERT encoder, computed independently.

Reads a sentence-transformers folder (config.json, model.safetensors, tokenizer.json,
modules.json, 1_Pooling/config.json) and computes each test sentence's vector with
Hugging Face's `tokenizers` (the model's own tokenizer.json) and a float64 numpy
forward pass straight from the safetensors weights. It does not use drux's
tokenizer or converter. When a GGUF made by `drux convert` is given, llama.cpp
(the pinned llama-cpp-python) embeds the same sentences from it as a second
opinion, and its token ids are compared with Hugging Face's.

    python3 tools/embed_ref.py MODEL_DIR --gguf build/minilm.gguf \\
        -o tests/data/embed/all-minilm-l6-v2.json

Run it with the reference venv's python and `tokenizers` on PYTHONPATH, e.g.
    PYTHONPATH=~/.cache/drux-embref ~/.cache/drux-ref/venv/bin/python tools/embed_ref.py ...
(pip install --target ~/.cache/drux-embref tokenizers==0.21.1). Not run by CI.
"""
import argparse
import datetime
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np

SENTENCES = [
    "A man is playing a guitar.",
    "Someone is playing an instrument.",
    "The stock market fell sharply today.",
    "What is the capital of France?",
    "Paris is the capital of France.",
    "The capital city of France is Paris.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "Plants use sunlight to make chemical energy through photosynthesis.",
    "I like to eat pizza on Fridays.",
    "Crème brûlée, naïve café owners & résumé-writing: ÜBER-weird punctuation!!! (tested)",
    "",
    # longer than all-MiniLM-L6-v2's 256-token limit: checks the truncation
    " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 24),
]
DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        base = 8 + n
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        buf = raw[base + a:base + b]
        if v["dtype"] == "BF16":
            x = (buf.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            x = buf.view(DTYPES[v["dtype"]])
        out[k.removeprefix("bert.")] = x.reshape(v["shape"]).astype(np.float64)
    return out


def pooling(folder):
    mods = os.path.join(folder, "modules.json")
    if not os.path.exists(mods):
        return "mean", False
    pool, norm = "mean", False
    for m in json.load(open(mods)):
        if "Pooling" in m["type"]:
            pc = json.load(open(os.path.join(folder, m["path"], "config.json")))
            pool = "cls" if pc.get("pooling_mode_cls_token") else "mean"
        if "Normalize" in m["type"]:
            norm = True
    return pool, norm


def ln(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def forward(W, cfg, ids, pool):
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    eps = cfg.get("layer_norm_eps", 1e-12)
    T, hd = len(ids), d // H
    x = W["embeddings.word_embeddings.weight"][ids] + \
        W["embeddings.position_embeddings.weight"][:T] + \
        W["embeddings.token_type_embeddings.weight"][0]
    x = ln(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    for l in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        lin = lambda h, n: h @ W[p + n + ".weight"].T + W[p + n + ".bias"]
        q = lin(x, "attention.self.query").reshape(T, H, hd)
        k = lin(x, "attention.self.key").reshape(T, H, hd)
        v = lin(x, "attention.self.value").reshape(T, H, hd)
        s = np.einsum("thd,shd->hts", q, k) / math.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        att = np.einsum("hts,shd->thd", s, v).reshape(T, d)
        x = ln(x + lin(att, "attention.output.dense"), W[p + "attention.output.LayerNorm.weight"],
               W[p + "attention.output.LayerNorm.bias"], eps)
        f = lin(gelu(lin(x, "intermediate.dense")), "output.dense")
        x = ln(x + f, W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], eps)
    v = x[0] if pool == "cls" else x.mean(0)
    return v / np.linalg.norm(v)


def llama_cpp_vectors(gguf_path, texts, max_len):
    """llama.cpp's vectors; None for a text over max_len tokens (llama.cpp does not
    truncate inside the model's context: it aborts)."""
    import llama_cpp
    m = llama_cpp.Llama(gguf_path, embedding=True, n_ctx=max_len, n_batch=max_len,
                        n_ubatch=max_len, verbose=False)
    vecs, ids = [], []
    for t in texts:
        toks = m.tokenize(t.encode(), add_bos=True, special=False)
        ids.append(toks)
        vecs.append(None if len(toks) > max_len else
                    np.asarray(m.embed(t, normalize=True), dtype=np.float64))
    return vecs, ids, llama_cpp.__version__


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for blk in iter(lambda: f.read(1 << 20), b""):
            h.update(blk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--gguf", help="the drux-converted GGUF, for llama.cpp's second opinion")
    ap.add_argument("--name", default="all-MiniLM-L6-v2")
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    from tokenizers import Tokenizer, __version__ as tok_version
    cfg = json.load(open(os.path.join(a.folder, "config.json")))
    max_len = cfg.get("max_position_embeddings", 512)
    sbc = os.path.join(a.folder, "sentence_bert_config.json")
    if os.path.exists(sbc):
        max_len = min(max_len, json.load(open(sbc)).get("max_seq_length", max_len))
    tk = Tokenizer.from_file(os.path.join(a.folder, "tokenizer.json"))
    tk.no_padding()
    tk.enable_truncation(max_len)
    W = load_safetensors(os.path.join(a.folder, "model.safetensors"))
    pool, norm = pooling(a.folder)
    cases = []
    for t in SENTENCES:
        ids = tk.encode(t).ids
        cases.append({"text": t, "ids": ids, "vector": forward(W, cfg, ids, pool)})
    header = {"generator": "tools/embed_ref.py",
              "command": " ".join(["tools/embed_ref.py"] + sys.argv[1:]),
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "model": a.name, "safetensors_sha256": sha256(os.path.join(a.folder,
                                                                          "model.safetensors")),
              "tokenizer": f"Hugging Face tokenizers {tok_version}, the model's tokenizer.json, "
                           f"truncation at {max_len}",
              "forward": "numpy float64 from the safetensors weights (erf GELU, post-norm BERT)",
              "pooling": pool, "normalize": norm, "max_tokens": max_len,
              "numpy": np.__version__}
    if a.gguf:
        vecs, ids, ver = llama_cpp_vectors(a.gguf, [c["text"] for c in cases], max_len)
        worst = 1.0
        for c, v, i in zip(cases, vecs, ids):
            c["llama_cpp_ids_equal"] = i == c["ids"] or \
                (len(i) > max_len and i[:max_len - 1] == c["ids"][:-1])
            if v is None:
                continue
            c["llama_cpp_cosine"] = round(float(v @ c["vector"]), 6)
            worst = min(worst, c["llama_cpp_cosine"])
        header["llama_cpp_python"] = ver
        header["llama_cpp_note"] = ("llama.cpp embedding the drux-converted GGUF (tanh-approximated "
                                    "GELU, F32 weights); llama_cpp_cosine is its vector's cosine "
                                    "with the numpy one")
        header["llama_cpp_min_cosine"] = worst
    for c in cases:
        c["vector"] = [round(float(x), 7) for x in c["vector"]]
    doc = {"header": header, "cases": cases}
    with open(a.output, "w") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"embed_ref: wrote {a.output}: {len(cases)} sentences, pooling {pool}"
          + (f", llama.cpp min cosine {header['llama_cpp_min_cosine']:.6f}" if a.gguf else ""))


if __name__ == "__main__":
    main()
