#!/usr/bin/env python3
"""ggml_vectors — exact test vectors for drux's tensor-format kernels, taken from ggml itself.

Calls the ggml build inside the reference venv (through ctypes, the same library
llama.cpp uses) for every format drux computes with, and writes
tests/data/ref/kernels.json. For each format it records, as little-endian hex:

  w_f32     512 weights (float32) fed to the quantizer
  w_q       ggml's reference quantizer's output (quantize_row_*_ref): the exact bytes
  w_deq     ggml's to_float of w_q: the exact floats
  x_q       the activation vector x_f32 (shared, in the file's top level) converted to the
            format's vec_dot_type by ggml's reference quantizer (Q8_0, Q8_1, Q8_K, F16, BF16)
  dot       ggml's CPU vec_dot(w_q, x_q) (SIMD, this machine), float32
  dot_f64   sum(w_deq * x_q dequantized) in float64, the exact value of that product (for
            Q4_1/Q5_1 ggml adds min * s with s the f16-rounded block sum of Q8_1, so dot differs
            from dot_f64 by ~1e-3 relative there; elsewhere by ~1e-6)

so a C test can check its reference quantizer (byte-exact), its dequantizer (bit-exact) and
its vec_dot (to ~1e-5 relative: the summation order differs) without running Python.

    python3 tools/ggml_vectors.py        # re-executes itself in the reference venv
"""
import ctypes
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
N = 512
FORMATS = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]


class TypeTraits(ctypes.Structure):  # ggml.h: struct ggml_type_traits
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p),
                ("from_float_ref", ctypes.c_void_p)]


class CpuTraits(ctypes.Structure):  # ggml-cpu.h: struct ggml_type_traits_cpu
    _fields_ = [("from_float", ctypes.c_void_p), ("vec_dot", ctypes.c_void_p),
                ("vec_dot_type", ctypes.c_int), ("nrows", ctypes.c_int64)]


FP = ctypes.POINTER(ctypes.c_float)
TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, FP, ctypes.c_int64)
FROM_FLOAT = ctypes.CFUNCTYPE(None, FP, ctypes.c_void_p, ctypes.c_int64)
VEC_DOT = ctypes.CFUNCTYPE(None, ctypes.c_int, FP, ctypes.c_size_t, ctypes.c_void_p,
                           ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)


def main():
    import numpy as np
    import gguf
    import llama_cpp
    import make_model
    from llamacpp_session import versions

    lib = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    base = ctypes.CDLL(os.path.join(lib, "libggml-base.so"))
    cpu = ctypes.CDLL(os.path.join(lib, "libggml-cpu.so"))
    base.ggml_get_type_traits.restype = ctypes.POINTER(TypeTraits)
    cpu.ggml_get_type_traits_cpu.restype = ctypes.POINTER(CpuTraits)
    cpu.ggml_cpu_init()  # fills the f16 tables the kernels use

    def traits(t):
        return base.ggml_get_type_traits(t).contents

    def nbytes(t, n):
        tt = traits(t)
        return n // tt.blck_size * tt.type_size

    def quantize_ref(t, x):
        out = np.zeros(nbytes(t, len(x)), dtype=np.uint8)
        if t == 0:
            return x.view(np.uint8).copy()
        fn = traits(t).from_float_ref
        if not fn:  # the activation-only formats: their reference quantizers are exported
            name = "quantize_row_%s_ref" % traits(t).type_name.decode()
            fn = ctypes.cast(getattr(base, name), ctypes.c_void_p).value
        FROM_FLOAT(fn)(x.ctypes.data_as(FP), out.ctypes.data, len(x))
        return out

    def to_float(t, q, n):
        out = np.zeros(n, dtype=np.float32)
        if t == 0:
            return q.view(np.float32).copy()
        fn = traits(t).to_float
        name = "dequantize_row_%s" % traits(t).type_name.decode()
        if not fn and hasattr(base, name):  # Q8_K: exported, not in the traits table
            fn = ctypes.cast(getattr(base, name), ctypes.c_void_p).value
        if not fn:  # Q8_1 has none at all: blocks of {f16 d, f16 s, int8 qs[32]}
            b = q.reshape(-1, 36)
            d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
            return (d * b[:, 4:].view(np.int8).astype(np.float32)).reshape(-1)
        TO_FLOAT(fn)(q.ctypes.data, out.ctypes.data_as(FP), n)
        return out

    # Activations: a spread of magnitudes, a few outliers, one all-zero block of 32 and
    # one value exactly halfway between two Q8 steps would be luck, so only the rest.
    x = make_model.rand_uniform(7, "kernels:x", 0, N) * np.float32(2.0)
    x[37] = np.float32(9.5)       # outlier inside a block
    x[300] = np.float32(-12.25)   # negative outlier in the second K block
    x[64:96] = 0.0                # an all-zero Q8_0 block: scale 0
    x = x.astype(np.float32)

    out = {"header": {"generator": "tools/ggml_vectors.py", "n": N,
                      "ggml": versions().get("ggml_commit"),
                      "system_info": versions().get("system_info"),
                      "encoding": "hex strings are the raw little-endian bytes; float arrays "
                                  "are float32, dot is one float32"},
           "x_f32": x.tobytes().hex(), "formats": {}}
    for name in FORMATS:
        t = int(gguf.GGMLQuantizationType[name])
        ct = cpu.ggml_get_type_traits_cpu(t).contents
        vt = ct.vec_dot_type
        w = (make_model.rand_uniform(11, f"kernels:w:{name}", 0, N) * np.float32(0.05))
        w[200:232] *= np.float32(20.0)  # one block of much larger weights
        w = w.astype(np.float32)
        wq = quantize_ref(t, w)
        wd = to_float(t, wq, N)
        xq = quantize_ref(vt, x)
        xd = to_float(vt, xq, N)
        s = np.zeros(1, dtype=np.float32)
        VEC_DOT(ct.vec_dot)(N, s.ctypes.data_as(FP), 0, wq.ctypes.data, 0, xq.ctypes.data, 0, 1)
        xq_simd = np.zeros_like(xq)
        if vt != 0:
            FROM_FLOAT(cpu.ggml_get_type_traits_cpu(vt).contents.from_float)(
                x.ctypes.data_as(FP), xq_simd.ctypes.data, N)
        rec = {"type": t, "vec_dot_type": traits(vt).type_name.decode(),
               "w_f32": w.tobytes().hex(), "w_q": wq.tobytes().hex(),
               "w_deq": wd.tobytes().hex(), "x_q": xq.tobytes().hex(),
               "dot": s.tobytes().hex(), "dot_value": float(s[0]),
               "dot_f64": float(np.dot(wd.astype(np.float64), xd.astype(np.float64)))}
        if vt != 0 and not np.array_equal(xq_simd, xq):
            rec["x_q_simd_differs"] = "ggml's SIMD quantizer gives other bytes on this input"
        out["formats"][name] = rec
        rel = abs(rec["dot_value"] - rec["dot_f64"]) / max(1e-6, abs(rec["dot_f64"]))
        print(f"ggml_vectors: {name:5s} vec_dot_type {rec['vec_dot_type']:5s} "
              f"dot {rec['dot_value']:+.6f} exact {rec['dot_f64']:+.6f} (rel {rel:.1e}); "
              f"w max err {float(np.abs(wd - w).max()):.4f}")
    path = os.path.join(ROOT, "tests", "data", "ref", "kernels.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"ggml_vectors: wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    import llama_ref
    venv = llama_ref.DEFAULT_VENV
    if os.path.realpath(sys.prefix) != os.path.realpath(venv):
        llama_ref.setup_venv(venv)
        py = llama_ref.venv_python(venv)
        os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])
    main()
