#!/usr/bin/env python3
"""make_model — writes random-weight GGUF models with real shapes, for tests and benchmarks.

The files load in llama.cpp and in drux like trained models of the same
architecture and format; only the numbers are noise. They let the test suite
exercise every tensor format and every architecture without shipping weights,
and let bench/compare time engines on production-sized shapes.

    python3 tools/make_model.py --preset llama-tiny --type Q4_K --seed 1 -o build/m.gguf
    python3 tools/make_model.py --preset qwen2-0.5b --type Q4_K_M -o /tmp/qwen2-0.5b-q4km.gguf
    python3 tools/make_model.py --list

Deterministic: the same preset, type, seed and vocabulary options give a
byte-identical file (the random numbers come from a counter-based hash, not
numpy's generators, so they do not depend on the numpy version). Needs the
`gguf` package (pinned in scripts/setup) and numpy.

Formats: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 are quantized from random
floats by the gguf package's reference quantizers. Q2_K, Q3_K, Q4_K, Q5_K and Q6_K
blocks are written directly as random bytes with finite f16 scales chosen so that the
dequantized weights have about the intended spread (the gguf package cannot
quantize K-formats). Q4_K_M is a mix like llama.cpp's: Q6_K for the output
matrix and for attn_v / ffn_down in some layers, Q4_K elsewhere; Q5_K_M is the
same with Q5_K. Q3_K_M: Q3_K, with attn_output in Q4_K, attn_v in Q5_K for the
first two layers and Q4_K after, ffn_down in Q5_K for the first sixteenth of
the layers and Q4_K after, the output in Q6_K; Q3_K_S: Q3_K, the output in
Q6_K; Q2_K: Q2_K, with attn_output and ffn_down in Q3_K, attn_v in Q3_K (Q4_K
when four or more query heads share a KV head), the output in Q6_K. A K-format
tensor whose rows are not a multiple of 256 falls back to Q5_0 (for Q4_K),
Q5_1 (Q5_K), Q8_0 (Q6_K) or Q4_0 (Q2_K, Q3_K; llama.cpp takes IQ4_NL, which
drux does not read), as llama.cpp's quantizer does. 1-D tensors (norms, biases) are always F32.
"""
import argparse
import hashlib
import sys

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as QT
except ImportError:  # pragma: no cover
    sys.exit("make_model: the Python package 'gguf' is missing (pip install gguf==0.19.0, "
             "or run scripts/setup --deps)")

# --- shape presets ------------------------------------------------------------------
# head_dim is key_length = value_length; swa is the sliding window (gemma3 only).
PRESETS = {
    "llama-tiny": dict(arch="llama", dim=256, layers=2, heads=4, kv_heads=2, head_dim=64,
                       ffn=768, vocab=512, ctx=512, rope_base=10000.0, eps=1e-5, tied=False),
    "qwen2-tiny": dict(arch="qwen2", dim=256, layers=2, heads=4, kv_heads=2, head_dim=64,
                       ffn=512, vocab=512, ctx=512, rope_base=1000000.0, eps=1e-6, tied=True),
    # qwen3: q/k RMS norms per head, no biases, head_dim (key_length) != dim/heads
    "qwen3-tiny": dict(arch="qwen3", dim=256, layers=2, heads=4, kv_heads=2, head_dim=128,
                       ffn=512, vocab=512, ctx=512, rope_base=1000000.0, eps=1e-6, tied=True),
    # phi3: fused attn_qkv and ffn_up (gate and up stacked), no GQA, untied output
    # (llama.cpp's vocabulary loader looks up <|endoftext|> by name for phi3)
    "phi3-tiny": dict(arch="phi3", dim=256, layers=2, heads=4, kv_heads=4, head_dim=64,
                      ffn=512, vocab=512, ctx=512, rope_base=10000.0, eps=1e-5, tied=False,
                      specials=("<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>")),
    # 6 layers so that layer 5 is a global-attention layer under gemma3's 5-local:1-global
    # pattern; window 8 so a 20-token prompt already slides.
    "gemma3-tiny": dict(arch="gemma3", dim=256, layers=6, heads=4, kv_heads=2, head_dim=128,
                        ffn=512, vocab=512, ctx=512, rope_base=1000000.0, eps=1e-6, tied=True,
                        swa=8),
    # Production shapes (Qwen2.5-0.5B, 1.5B, 3B, Gemma 3 1B) for benchmarks.
    "qwen2-0.5b": dict(arch="qwen2", dim=896, layers=24, heads=14, kv_heads=2, head_dim=64,
                       ffn=4864, vocab=151936, ctx=32768, rope_base=1000000.0, eps=1e-6,
                       tied=True),
    # Qwen2.5-1.5B and 3B: every matrix a multiple of 256 columns, so Q4_K_M is pure Q4_K + Q6_K
    "qwen2-1.5b": dict(arch="qwen2", dim=1536, layers=28, heads=12, kv_heads=2, head_dim=128,
                       ffn=8960, vocab=151936, ctx=32768, rope_base=1000000.0, eps=1e-6,
                       tied=True),
    "qwen2-3b": dict(arch="qwen2", dim=2048, layers=36, heads=16, kv_heads=2, head_dim=128,
                     ffn=11008, vocab=151936, ctx=32768, rope_base=1000000.0, eps=1e-6,
                     tied=True),
    "gemma3-1b": dict(arch="gemma3", dim=1152, layers=26, heads=4, kv_heads=1, head_dim=256,
                      ffn=6912, vocab=262144, ctx=32768, rope_base=1000000.0, eps=1e-6,
                      tied=True, swa=512),
}

TYPES = {
    "F32": QT.F32, "F16": QT.F16, "BF16": QT.BF16, "Q4_0": QT.Q4_0, "Q4_1": QT.Q4_1,
    "Q5_0": QT.Q5_0, "Q5_1": QT.Q5_1, "Q8_0": QT.Q8_0, "Q4_K": QT.Q4_K, "Q5_K": QT.Q5_K,
    "Q6_K": QT.Q6_K, "Q4_K_M": QT.Q4_K, "Q5_K_M": QT.Q5_K, "Q2_K": QT.Q2_K, "Q3_K": QT.Q3_K,
    "Q3_K_S": QT.Q3_K, "Q3_K_M": QT.Q3_K,
}
FILE_TYPES = {
    "F32": gguf.LlamaFileType.ALL_F32, "F16": gguf.LlamaFileType.MOSTLY_F16,
    "BF16": gguf.LlamaFileType.MOSTLY_BF16, "Q4_0": gguf.LlamaFileType.MOSTLY_Q4_0,
    "Q4_1": gguf.LlamaFileType.MOSTLY_Q4_1, "Q5_0": gguf.LlamaFileType.MOSTLY_Q5_0,
    "Q5_1": gguf.LlamaFileType.MOSTLY_Q5_1, "Q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    # pure K files have no ftype of their own; the closest llama.cpp names
    "Q4_K": gguf.LlamaFileType.MOSTLY_Q4_K_S, "Q5_K": gguf.LlamaFileType.MOSTLY_Q5_K_S,
    "Q6_K": gguf.LlamaFileType.MOSTLY_Q6_K, "Q4_K_M": gguf.LlamaFileType.MOSTLY_Q4_K_M,
    "Q5_K_M": gguf.LlamaFileType.MOSTLY_Q5_K_M, "Q2_K": gguf.LlamaFileType.MOSTLY_Q2_K,
    "Q3_K": gguf.LlamaFileType.MOSTLY_Q3_K_S, "Q3_K_S": gguf.LlamaFileType.MOSTLY_Q3_K_S,
    "Q3_K_M": gguf.LlamaFileType.MOSTLY_Q3_K_M,
}
K_FALLBACK = {QT.Q2_K: QT.Q4_0, QT.Q3_K: QT.Q4_0, QT.Q4_K: QT.Q5_0, QT.Q5_K: QT.Q5_1,
              QT.Q6_K: QT.Q8_0}

# --- deterministic random numbers --------------------------------------------------
M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _key(seed, name):
    h = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return np.uint64(int.from_bytes(h[:8], "little"))


def rand_u64(seed, name, start, n):
    """splitmix64 of (key(seed, name) + i * golden) for i in [start, start + n)."""
    with np.errstate(over="ignore"):
        i = np.arange(start, start + n, dtype=np.uint64)
        z = _key(seed, name) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def rand_uniform(seed, name, start, n):
    """Uniform float32 in [-1, 1), exactly representable (24-bit grid)."""
    u = (rand_u64(seed, name, start, n) >> np.uint64(40)).astype(np.float32)
    return u * np.float32(2.0 / (1 << 24)) - np.float32(1.0)


def f16_bits(x):
    return np.asarray(x, dtype=np.float16).view(np.uint16)


# --- K-format random blocks -------------------------------------------------------
# Each returns (rows, row_bytes) uint8 blocks whose dequantized values have
# standard deviation about `std`. The per-block super-scale d varies by a factor
# in [0.5, 1.5) so kernels see different scales in every block.
def _k_blocks(qtype, seed, name, rows, cols, std):
    bs, ts = gguf.GGML_QUANT_SIZES[qtype]
    nb = rows * (cols // bs)
    raw = rand_u64(seed, name, 0, (nb * ts + 7) // 8).view(np.uint8)[:nb * ts]
    blk = raw.reshape(nb, ts).copy()
    jitter = 0.5 + (rand_u64(seed, name + "#d", 0, nb) >> np.uint64(40)).astype(np.float64) / (1 << 24)
    if qtype == QT.Q4_K:  # d, dmin, scales[12], qs[128]; w = d*sc*q - dmin*m, q 0..15, sc,m 0..63
        d = std / 258.0 * jitter  # std of (sc*q - 7.5*m) for uniform sc, q, m is about 258
        blk[:, 0:2] = f16_bits(d).view(np.uint8).reshape(nb, 2)
        blk[:, 2:4] = f16_bits(d * 7.5).view(np.uint8).reshape(nb, 2)  # dmin centres the values
    elif qtype == QT.Q5_K:  # d, dmin, scales[12], qh[32], qs[128]; q 0..31
        d = std / 527.0 * jitter
        blk[:, 0:2] = f16_bits(d).view(np.uint8).reshape(nb, 2)
        blk[:, 2:4] = f16_bits(d * 15.5).view(np.uint8).reshape(nb, 2)
    elif qtype == QT.Q6_K:  # ql[128], qh[64], scales[16] int8, d; w = d*sc*(q-32), q 0..63
        d = std / 1366.0 * jitter
        blk[:, 208:210] = f16_bits(d).view(np.uint8).reshape(nb, 2)
    elif qtype == QT.Q3_K:  # hmask[32], qs[64], scales[12], d; w = d*(sc-32)*(q-4), q 0..7
        d = std / 43.3 * jitter  # E[(sc-32)^2] E[(q-4)^2] = 341.5 x 5.5 for uniform sc, q
        blk[:, 108:110] = f16_bits(d).view(np.uint8).reshape(nb, 2)
    elif qtype == QT.Q2_K:  # scales[16], qs[64], d, dmin; w = d*sc*q - dmin*m, q 0..3, sc,m 0..15
        d = std / 13.9 * jitter  # std of (sc*q - 1.5*m) for uniform sc, q, m
        blk[:, 80:82] = f16_bits(d).view(np.uint8).reshape(nb, 2)
        blk[:, 82:84] = f16_bits(d * 1.5).view(np.uint8).reshape(nb, 2)  # dmin centres the values
    else:
        raise ValueError(qtype)
    return blk.reshape(rows, (cols // bs) * ts)


# --- tensors ------------------------------------------------------------------------
CHUNK = 1 << 22  # elements generated and quantized at a time (bounded memory)


def weight(seed, name, rows, cols, qtype, std):
    """A (rows, cols) matrix in qtype: returns (array, raw_dtype or None)."""
    if qtype in K_FALLBACK:
        return _k_blocks(qtype, seed, name, rows, cols, std), qtype
    amp = np.float32(std * 3 ** 0.5)  # uniform [-a, a) has std a/sqrt(3)
    rows_per = max(1, CHUNK // cols)
    parts = []
    for r0 in range(0, rows, rows_per):
        r1 = min(rows, r0 + rows_per)
        x = (rand_uniform(seed, name, r0 * cols, (r1 - r0) * cols) * amp).reshape(r1 - r0, cols)
        if qtype == QT.F32:
            parts.append(x)
        elif qtype == QT.F16:
            parts.append(x.astype(np.float16))
        else:
            parts.append(gguf.quants.quantize(x, qtype))
    arr = np.concatenate(parts, axis=0)
    return arr, (None if qtype in (QT.F32, QT.F16) else qtype)


def vector(seed, name, n, centre, spread):
    return (np.float32(centre) + rand_uniform(seed, name, 0, n) * np.float32(spread)).astype(np.float32)


def pick_type(base, name, layer, n_layers, cols, gqa=1):
    """Format of one 2-D tensor for the requested file type (before the K fallback)."""
    if base not in ("Q4_K_M", "Q5_K_M", "Q3_K_S", "Q3_K_M", "Q2_K"):
        return TYPES[base]
    if name in ("output.weight",) or (name == "token_embd.weight" and layer == "tied"):
        return QT.Q6_K
    if base == "Q3_K_M":
        if name.endswith("attn_output.weight"):
            return QT.Q4_K
        if name.endswith("attn_v.weight"):
            return QT.Q5_K if layer < 2 else QT.Q4_K
        if name.endswith("ffn_down.weight"):
            return QT.Q5_K if layer < n_layers // 16 else QT.Q4_K
        return QT.Q3_K
    if base == "Q2_K":
        if name.endswith(("attn_output.weight", "ffn_down.weight")):
            return QT.Q3_K
        if name.endswith("attn_v.weight"):
            return QT.Q4_K if gqa >= 4 else QT.Q3_K
        return QT.Q2_K
    if base == "Q3_K_S":
        return QT.Q3_K
    if name.endswith(("attn_v.weight", "ffn_down.weight")):
        i = layer
        more_bits = i < n_layers // 8 or i >= 7 * n_layers // 8 or (i - n_layers // 8) % 3 == 2
        return QT.Q6_K if more_bits else TYPES[base]
    return TYPES[base]


def tensor_plan(p):
    """[(name, shape)] in file order; shape is (rows, cols) for matrices, (n,) for vectors."""
    d, hd, ff = p["dim"], p["head_dim"], p["ffn"]
    q, kv = p["heads"] * hd, p["kv_heads"] * hd
    out = [("token_embd.weight", (p["vocab"], d))]
    for i in range(p["layers"]):
        b = f"blk.{i}."
        out += [(b + "attn_norm.weight", (d,))]
        if p["arch"] == "phi3":
            out += [(b + "attn_qkv.weight", (q + 2 * kv, d))]
        else:
            out += [(b + "attn_q.weight", (q, d)), (b + "attn_k.weight", (kv, d)),
                    (b + "attn_v.weight", (kv, d))]
        if p["arch"] == "qwen2":
            out += [(b + "attn_q.bias", (q,)), (b + "attn_k.bias", (kv,)), (b + "attn_v.bias", (kv,))]
        if p["arch"] in ("gemma3", "qwen3"):
            out += [(b + "attn_q_norm.weight", (hd,)), (b + "attn_k_norm.weight", (hd,))]
        out += [(b + "attn_output.weight", (d, q))]
        if p["arch"] == "gemma3":
            out += [(b + "post_attention_norm.weight", (d,))]
        if p["arch"] == "phi3":
            out += [(b + "ffn_norm.weight", (d,)), (b + "ffn_up.weight", (2 * ff, d)),
                    (b + "ffn_down.weight", (d, ff))]
        else:
            out += [(b + "ffn_norm.weight", (d,)),
                    (b + "ffn_gate.weight", (ff, d)), (b + "ffn_up.weight", (ff, d)),
                    (b + "ffn_down.weight", (d, ff))]
        if p["arch"] == "gemma3":
            out += [(b + "post_ffw_norm.weight", (d,))]
    out += [("output_norm.weight", (d,))]
    if not p["tied"]:
        out += [("output.weight", (p["vocab"], d))]
    return out


# --- tokenizer ------------------------------------------------------------------------
WORDS = ("the a an and of to in is was it he she they we you I that for on with as at by "
         "from this be have had not but or one all there were what when your can said out "
         "up so about into time day little big cat dog sun tree house girl boy bird ball "
         "happy sad red blue green play run jump look see go come went saw Once upon Lily "
         "Tom mom dad friend park water fish box car toy cake food good bad new old very").split()


def tokenizer(vocab, specials=()):
    """A small SentencePiece-style ("llama") vocabulary of exactly `vocab` entries:
    <unk> <s> </s>, the 256 byte tokens, the preset's extra control tokens, letters
    and common words, then fillers."""
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + list(specials)
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + \
            [gguf.TokenType.BYTE] * 256 + [gguf.TokenType.CONTROL] * len(specials)
    seen = set(toks)
    cands = ["\u2581"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + \
            ["\u2581" + w for w in WORDS] + [w for w in WORDS]
    for c in cands:
        if len(toks) >= vocab:
            break
        if c not in seen:
            toks.append(c)
            types.append(gguf.TokenType.NORMAL)
            seen.add(c)
    i = 0
    while len(toks) < vocab:
        toks.append(f"\u2581w{i}")
        types.append(gguf.TokenType.NORMAL)
        i += 1
    if len(toks) > vocab:
        raise ValueError(f"vocab {vocab} is too small (at least 259 needed)")
    fixed = 259 + len(specials)
    scores = [0.0] * fixed + [-float(i) for i in range(vocab - fixed)]
    return toks, [int(t) for t in types], scores


# --- writer ---------------------------------------------------------------------------
def build(preset, qname, seed, out_path, vocab=None, quiet=False):
    p = dict(PRESETS[preset])
    if vocab:
        p["vocab"] = vocab
    arch = p["arch"]
    w = gguf.GGUFWriter(out_path, arch)
    w.add_name(f"drux random {preset} {qname} seed {seed}")
    w.add_description("random weights written by drux tools/make_model.py; not a trained model")
    w.add_context_length(p["ctx"])
    w.add_embedding_length(p["dim"])
    w.add_block_count(p["layers"])
    w.add_feed_forward_length(p["ffn"])
    w.add_head_count(p["heads"])
    w.add_head_count_kv(p["kv_heads"])
    w.add_layer_norm_rms_eps(p["eps"])
    w.add_rope_freq_base(p["rope_base"])
    if arch == "llama":
        w.add_rope_dimension_count(p["head_dim"])
        w.add_vocab_size(p["vocab"])
    if arch == "phi3":
        w.add_rope_dimension_count(p["head_dim"])
    if arch in ("gemma3", "qwen3"):
        w.add_key_length(p["head_dim"])
        w.add_value_length(p["head_dim"])
    if arch == "gemma3":
        w.add_sliding_window(p["swa"])
    w.add_file_type(int(FILE_TYPES[qname]))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    toks, types, scores = tokenizer(p["vocab"], p.get("specials", ()))
    w.add_tokenizer_model("llama")
    w.add_token_list(toks)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    d = p["dim"]
    counts = {}
    for name, shape in tensor_plan(p):
        if len(shape) == 1:
            if name.endswith(".bias"):
                arr = vector(seed, name, shape[0], 0.0, 0.1)
            else:  # norm weights around 1 (gemma's stored weights already include its +1)
                arr = vector(seed, name, shape[0], 1.0, 0.2)
            w.add_tensor(name, arr)
            counts["F32"] = counts.get("F32", 0) + 1
            continue
        rows, cols = shape
        layer = int(name.split(".")[1]) if name.startswith("blk.") else ("tied" if p["tied"] else None)
        qt = pick_type(qname, name, layer, p["layers"], cols, p["heads"] // p["kv_heads"])
        if qt in K_FALLBACK and cols % 256:
            qt = K_FALLBACK[qt]
        if name in ("token_embd.weight", "output.weight"):
            # logits of spread about 3 from a unit-RMS hidden state; gemma multiplies the
            # input embedding by sqrt(dim), so a smaller spread keeps the tied output from
            # simply repeating the last input token
            std = (1.0 if arch == "gemma3" else 3.0) / d ** 0.5
        else:
            std = 1.0 / cols ** 0.5
        arr, raw = weight(seed, name, rows, cols, qt, std)
        if raw is None:
            w.add_tensor(name, arr)
        else:
            w.add_tensor(name, arr, raw_shape=arr.shape, raw_dtype=raw)
        counts[qt.name] = counts.get(qt.name, 0) + 1
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if not quiet:
        mix = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))
        print(f"make_model: wrote {out_path} ({preset}, {qname}, seed {seed}; tensors: {mix})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS))
    ap.add_argument("--type", dest="qtype", choices=list(TYPES), default="Q8_0")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--vocab", type=int, help="override the preset's vocabulary size (>= 259)")
    ap.add_argument("-o", "--output")
    ap.add_argument("--list", action="store_true", help="print the presets and types")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.list:
        for k, v in PRESETS.items():
            print(k, v)
        print("types:", " ".join(TYPES))
        return 0
    if not a.preset or not a.output:
        ap.error("--preset and -o are required")
    if a.vocab is not None and a.vocab < 259:
        ap.error("--vocab must be at least 259 (3 special + 256 byte tokens)")
    build(a.preset, a.qtype, a.seed, a.output, a.vocab, a.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
