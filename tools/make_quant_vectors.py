#!/usr/bin/env python3
"""Write the tensor-format test vectors under tests/data/quant/ from the gguf package.

These hold drux's block layouts to an independent reader: for each format,
random blocks (bytes chosen at random, scale fields set to sane halves) and
gguf's dequantization of them; for the formats gguf can quantize, random
floats and gguf's quantization of them; and, when the model files are
present, a few real rows and gguf's dequantization of them.

When llama-cpp-python is installed (the reference venv has it), GGML itself
(its bundled libggml) adds, for each format: random activations, GGML's
reference quantization of them into the format's vec_dot_type, and GGML's
CPU dot product of the random blocks with them.

    /root/.cache/drux-ref/venv/bin/python tools/make_quant_vectors.py [--out tests/data/quant]

Output files are text: '#' comment lines, then lines "key value" where
value is a number, a word or lowercase hex (little-endian bytes; floats as
float32). Keys: type (GGML type name), n (elements), raw, dequant, input,
quant, source, act_type, act_input, act_quant, dot_skip and dot_n (the
elements dotted: n from skip on), dot (hex float32). The output is deterministic for a given gguf/numpy version.
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
    (os.path.expanduser("~/.local/share/drux/models/SmolLM2-135M-Instruct.Q4_1.gguf"), "blk.0.ffn_down.weight", 7),
    (os.path.expanduser("~/.local/share/drux/models/SmolLM2-135M-Instruct.Q4_1.gguf"), "token_embd.weight", 1000),
    (os.path.expanduser("~/.local/share/drux/models/gemma-3-270m-q4_k_m.gguf"), "blk.0.attn_k.weight", 3),
    (os.path.expanduser("~/.local/share/drux/models/gemma-3-270m-q4_k_m.gguf"), "blk.0.attn_output.weight", 5),
    (os.path.expanduser("~/.local/share/drux/models/gemma-3-270m-q4_k_m.gguf"), "blk.0.ffn_down.weight", 11),
]


def load_ggml():
    """GGML's libraries from llama-cpp-python, or None."""
    try:
        import ctypes
        import llama_cpp
    except ImportError:
        return None
    d = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    base = ctypes.CDLL(os.path.join(d, "libggml-base.so"))
    cpu = ctypes.CDLL(os.path.join(d, "libggml-cpu.so"))
    cpu.ggml_cpu_init()

    class Traits(ctypes.Structure):
        _fields_ = [("from_float", ctypes.c_void_p), ("vec_dot", ctypes.c_void_p),
                    ("vec_dot_type", ctypes.c_int), ("nrows", ctypes.c_int64)]

    cpu.ggml_get_type_traits_cpu.restype = ctypes.POINTER(Traits)
    vec_dot_fn = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                                  ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    ref = {}
    for name, qt in (("q8_0", Q.Q8_0), ("q8_1", Q.Q8_1), ("q8_K", Q.Q8_K)):
        f = getattr(base, f"quantize_row_{name}_ref")
        f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        ref[qt] = f
    act_sizes = {Q.Q8_0: (32, 34), Q.Q8_1: (32, 36), Q.Q8_K: (256, 292)}

    def act_quantize(at, x):
        if at == Q.F32:
            return x.view(np.uint8).copy()
        if at in (Q.F16, Q.BF16):
            return quantize(x, at).view(np.uint8).reshape(-1)
        bs, ts = act_sizes[at]
        buf = ctypes.create_string_buffer(x.size // bs * ts)
        ref[at](x.ctypes.data, buf, x.size)
        return np.frombuffer(buf.raw, np.uint8).copy()

    def dot(qt, raw, aq, n):
        tr = cpu.ggml_get_type_traits_cpu(int(qt)).contents
        out = (ctypes.c_float * 1)()
        r = np.ascontiguousarray(raw)
        a = np.ascontiguousarray(aq)
        vec_dot_fn(tr.vec_dot)(n, ctypes.addressof(out), 0, r.ctypes.data, 0, a.ctypes.data, 0, 1)
        return np.float32(out[0])

    def act_type(qt):
        return Q(cpu.ggml_get_type_traits_cpu(int(qt)).contents.vec_dot_type)

    try:
        from importlib.metadata import version as pkg_version
        ver = "llama-cpp-python " + pkg_version("llama_cpp_python")
    except Exception:  # pragma: no cover
        ver = "llama-cpp-python"
    return {"act_quantize": act_quantize, "dot": dot, "act_type": act_type, "version": ver}


def act_input(rng, n):
    """Activations; the first 32 (or 256) ties under both rounding rules."""
    a = rng.standard_normal(n).astype(np.float32) * np.float32(rng.uniform(0.1, 10))
    k = 256 if n >= 512 else 32
    ties = (rng.integers(-127, 127, k) + 0.5).astype(np.float32)
    ties[rng.integers(0, k)] = -127.0  # the block's largest magnitude: d = 1, no rounding of scale
    a[:k] = ties
    return a


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
    if qt == Q.F32:
        return rng.standard_normal(n_blocks * 32).astype(np.float32).view(np.uint8).copy(), n_blocks * 32
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


def header(f, args, ggml=None):
    f.write("# drux tensor-format test vectors; do not edit, regenerate with the command below\n")
    f.write(f"# gguf {GGUF_VERSION}, numpy {np.__version__}\n")
    if ggml:
        f.write(f"# act_* and dot: GGML's reference quantizers and CPU vec_dot from {ggml['version']}\n")
    f.write(f"# command: {' '.join([sys.executable, 'tools/make_quant_vectors.py'] + args)}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/data/quant")
    ap.add_argument("--seed", type=int, default=1234)
    opts = ap.parse_args()
    argv = sys.argv[1:]
    os.makedirs(opts.out, exist_ok=True)
    rng = np.random.default_rng(opts.seed)
    ggml = load_ggml()
    if not ggml:
        print("llama-cpp-python not found: no act_* / dot vectors", file=sys.stderr)
    types = [Q.F32, Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K]
    for qt in types:
        n_blocks = 3 if gguf.GGML_QUANT_SIZES[qt][0] == 256 else 6
        raw, n = random_blocks(rng, qt, n_blocks)
        deq = dequantize(raw, qt).astype(np.float32).reshape(-1)
        assert deq.size == n
        with open(os.path.join(opts.out, f"{qt.name}.txt"), "w") as f:
            header(f, argv, ggml)
            f.write(f"type {qt.name}\nn {n}\nraw {hexs(raw)}\ndequant {hexs(deq)}\n")
            if ggml:
                at = ggml["act_type"](qt)
                a = act_input(rng, n)
                aq = ggml["act_quantize"](at, a)
                f.write(f"act_type {at.name}\nact_input {hexs(a)}\nact_quant {hexs(aq)}\n")
                # the float formats' first and last 32 values hold inf/nan: dot the middle
                skip = 32 if gguf.GGML_QUANT_SIZES[qt][0] == 1 else 0
                dn = n - 2 * skip
                esz, asz = raw.size // n, aq.size // n
                dv = ggml["dot"](qt, raw[skip * esz:], aq[skip * asz:], dn)
                f.write(f"dot_skip {skip}\ndot_n {dn}\ndot {hexs(np.array([dv], dtype=np.float32))}\n")
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
