#!/usr/bin/env python3
"""Write the tensor-format test vectors under tests/data/quant/ from the gguf package.

These hold drux's block layouts to an independent reader: for each format,
random blocks (bytes chosen at random, scale fields set to sane halves) and
gguf's dequantization of them; for the formats gguf can quantize, random
floats and gguf's quantization of them; and, when the model files are
present, a few real rows and gguf's dequantization of them.

    /root/.cache/drux-ref/venv/bin/python tools/make_quant_vectors.py [--out tests/data/quant]

Output files are text: '#' comment lines, then lines "key value" where
value is a number, a word or lowercase hex (little-endian bytes; floats as
float32). Keys: type (GGML type name), n (elements), raw, dequant, input,
quant, source. The output is deterministic for a given gguf/numpy version.
"""
import argparse
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize, quantize

try:
    from importlib.metadata import version as pkg_version
    GGUF_VERSION = pkg_version("gguf")
except Exception:  # pragma: no cover
    GGUF_VERSION = "unknown"

# byte offsets of the f16 scale fields inside one block
F16_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}
QUANTIZABLE = [Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0]

REAL_ROWS = [  # (file, tensor, row)
    ("/root/.cache/drux-dev/SmolLM2-135M-Instruct.Q4_1.gguf", "blk.0.ffn_down.weight", 7),
    ("/root/.cache/drux-dev/SmolLM2-135M-Instruct.Q4_1.gguf", "token_embd.weight", 1000),
    ("/root/.cache/drux-dev/gemma-3-270m-q4_k_m.gguf", "blk.0.attn_k.weight", 3),
    ("/root/.cache/drux-dev/gemma-3-270m-q4_k_m.gguf", "blk.0.attn_output.weight", 5),
    ("/root/.cache/drux-dev/gemma-3-270m-q4_k_m.gguf", "blk.0.ffn_down.weight", 11),
]


def hexs(a):
    return np.ascontiguousarray(a).tobytes().hex()


def random_halves(rng, count, lo, hi):
    """Halves with random sign and magnitude log-uniform in [lo, hi]."""
    mag = np.exp(rng.uniform(np.log(lo), np.log(hi), count))
    sign = np.where(rng.random(count) < 0.5, -1.0, 1.0)
    return (sign * mag).astype(np.float16)


def random_blocks(rng, qt, n_blocks):
    bs, ts = gguf.GGML_QUANT_SIZES[qt]
    if qt == Q.F16:
        vals = np.concatenate([
            np.array([0.0, -0.0, np.inf, -np.inf, 65504, -65504, 6.1035e-05, 5.96e-08, -5.96e-08,
                      1.0, -2.5, 0.333], dtype=np.float16),
            rng.standard_normal(n_blocks * 32 - 12).astype(np.float16),
        ])
        raw = vals.view(np.uint8).copy()
        raw[-2:] = [0x01, 0x7c]  # a signalling-pattern nan, payload 1
        raw[-4:-2] = [0xff, 0x03]  # largest subnormal
        return raw, n_blocks * 32
    if qt == Q.BF16:
        vals = (rng.standard_normal(n_blocks * 32) * 3).astype(np.float32)
        raw = (vals.view(np.uint32) >> 16).astype(np.uint16)
        raw[:4] = [0x0000, 0x8000, 0x7f80, 0x0001]  # 0, -0, inf, smallest subnormal
        return raw.view(np.uint8).copy(), n_blocks * 32
    raw = rng.integers(0, 256, size=(n_blocks, ts), dtype=np.uint8)
    for off in F16_FIELDS[qt]:
        h = random_halves(rng, n_blocks, 1e-4, 0.5)
        raw[:, off:off + 2] = h.view(np.uint8).reshape(n_blocks, 2)
    if qt in (Q.Q4_0, Q.Q8_0):
        raw[0, 0:2] = np.array([3e-6], dtype=np.float16).view(np.uint8)  # subnormal scale
    return raw.reshape(-1), n_blocks * bs


def random_input(rng, qt, n):
    x = rng.standard_normal(n).astype(np.float32)
    x *= np.exp(rng.uniform(-4, 2, n // 32).repeat(32)).astype(np.float32)  # per-block scale
    if qt == Q.F16:
        x[:8] = [65519.0, 65520.0, -70000.0, 1e-8, -3e-6, 2.0 ** -25, 2.0 ** -24 * 1.5, np.inf]
    else:
        x[32:64] = 0.0  # an all-zero block
        x[64] = -x[64:96].__abs__().max() * 2  # negative value of largest magnitude
    return x


def header(f, args):
    f.write("# drux tensor-format test vectors; do not edit, regenerate with the command below\n")
    f.write(f"# gguf {GGUF_VERSION}, numpy {np.__version__}\n")
    f.write(f"# command: {' '.join([sys.executable, 'tools/make_quant_vectors.py'] + args)}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/data/quant")
    ap.add_argument("--seed", type=int, default=1234)
    opts = ap.parse_args()
    argv = sys.argv[1:]
    os.makedirs(opts.out, exist_ok=True)
    rng = np.random.default_rng(opts.seed)
    types = [Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K]
    for qt in types:
        n_blocks = 3 if gguf.GGML_QUANT_SIZES[qt][0] == 256 else 6
        raw, n = random_blocks(rng, qt, n_blocks)
        deq = dequantize(raw, qt).astype(np.float32).reshape(-1)
        assert deq.size == n
        with open(os.path.join(opts.out, f"{qt.name}.txt"), "w") as f:
            header(f, argv)
            f.write(f"type {qt.name}\nn {n}\nraw {hexs(raw)}\ndequant {hexs(deq)}\n")
            if qt in QUANTIZABLE:
                x = random_input(rng, qt, 128)
                q = quantize(x.reshape(1, -1), qt).reshape(-1)
                f.write(f"input {hexs(x)}\nquant {hexs(q.view(np.uint8))}\n")
    for path, name, row in REAL_ROWS:
        if not os.path.exists(path):
            print(f"skipping {path}: absent", file=sys.stderr)
            continue
        r = gguf.GGUFReader(path)
        t = next(t for t in r.tensors if t.name == name)
        data = np.asarray(t.data)
        raw = data[row].reshape(-1).view(np.uint8)
        deq = dequantize(raw, t.tensor_type).astype(np.float32).reshape(-1)
        tag = os.path.basename(path).split(".")[0].split("-")[0].lower()
        fn = os.path.join(opts.out, f"real_{tag}_{t.tensor_type.name}_{name.replace('.', '_')}.txt")
        with open(fn, "w") as f:
            header(f, argv)
            f.write(f"source {os.path.basename(path)} {name} row {row}\n")
            f.write(f"type {t.tensor_type.name}\nn {deq.size}\nraw {hexs(raw)}\ndequant {hexs(deq)}\n")


if __name__ == "__main__":
    main()
