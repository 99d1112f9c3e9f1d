#!/usr/bin/env python3
"""np_forward — a plain float64 numpy forward pass, the arbiter between llama.cpp's code paths.

llama.cpp quantizes activations and keeps an F16 KV cache, and its batched and
single-token paths do not agree exactly. This computes the same model straight
from the dequantized weights in float64 with no activation rounding, so one can
see how far each engine (llama.cpp or drux) is from the exact result.

    python3 tools/np_forward.py MODEL.gguf 1 403 407 261 378   # prints top-5 of the last position
    python3 tools/np_forward.py --act-quant MODEL.gguf 1 403  # rounding activations as ggml does

Architectures: llama, qwen2, gemma3. Slow (seconds for small models) and memory
hungry (the dequantized weights as float32); meant for models up to a few hundred
million parameters. Needs gguf and numpy.
"""
import sys

import numpy as np

import gguf


QT = gguf.GGMLQuantizationType
K_TYPES = (QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K)


def quant_act(x, wtype):
    """Rounds activations x (..., n) as ggml does before a dot product with wtype weights.
    Matches ggml's vec_dot to ~1e-6 relative for every format except Q4_1/Q5_1, whose Q8_1
    activations also carry an f16 block sum used for the weights' min term (not emulated)."""
    if wtype == QT.F32:
        return x
    if wtype == QT.F16:
        return x.astype(np.float16).astype(np.float64)
    if wtype == QT.BF16:
        b = np.asarray(x, dtype=np.float32).view(np.uint32)
        b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16  # round to nearest even
        return b.astype(np.uint32).view(np.float32).astype(np.float64)
    bs = 256 if wtype in K_TYPES else 32
    shp = x.shape
    blk = np.asarray(x, dtype=np.float32).reshape(-1, bs)
    amax = np.abs(blk).max(axis=1, keepdims=True)
    if bs == 32:  # Q8_0 / Q8_1: d = amax/127 stored as f16 (the products use the f16 value)
        d = amax / 127
        inv = np.where(d > 0, 1 / np.where(d > 0, d, 1), 0)
        q = np.clip(np_round(blk * inv), -127, 127)
        d16 = d.astype(np.float16).astype(np.float64)
        return (q * d16).reshape(shp)
    # Q8_K: scale from the element of largest magnitude, d kept in float32
    idx = np.abs(blk).argmax(axis=1)
    mx = blk[np.arange(len(blk)), idx][:, None]
    iscale = np.where(mx != 0, -127.0 / np.where(mx != 0, mx, 1), 0).astype(np.float32)
    q = np.minimum(127, np_round(iscale * blk))
    d = np.where(iscale != 0, 1 / np.where(iscale != 0, iscale, 1), 0).astype(np.float32)
    return (q * d.astype(np.float64)).reshape(shp)


def np_round(v):
    """Round half away from zero, like C's roundf / lroundf."""
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


class Model:
    def __init__(self, path, act_quant=False):
        """act_quant: round each matmul input the way ggml's CPU backend does (Q8_0 blocks of 32
        for the 32-wide formats, Q8_K blocks of 256 for K-quants, F16/BF16 for those weights)."""
        self.act_quant = act_quant
        self.types = {}
        r = gguf.GGUFReader(path)
        self.kv = {}
        for f in r.fields.values():
            if f.types and f.types[0] != gguf.GGUFValueType.ARRAY:
                v = f.parts[f.data[0]]
                self.kv[f.name] = (bytes(v).decode() if f.types[0] == gguf.GGUFValueType.STRING
                                   else v.tolist()[0])
        self.arch = self.kv["general.architecture"]
        self.t = {}
        for ten in r.tensors:
            x = gguf.quants.dequantize(ten.data, ten.tensor_type).astype(np.float32)
            shape = tuple(int(s) for s in reversed(ten.shape.tolist()))  # (rows, cols)
            self.t[ten.name] = x.reshape(shape)
            self.types[ten.name] = ten.tensor_type
        a = self.arch
        g = lambda k, d=None: self.kv.get(f"{a}.{k}", d)
        self.dim = g("embedding_length")
        self.n_layer = g("block_count")
        self.n_head = g("attention.head_count")
        self.n_kv = g("attention.head_count_kv", self.n_head)
        self.head_dim = g("attention.key_length", self.dim // self.n_head)
        self.eps = g("attention.layer_norm_rms_epsilon")
        self.base = g("rope.freq_base", 10000.0)
        self.n_rot = g("rope.dimension_count", self.head_dim)
        self.swa = g("attention.sliding_window", 0)

    def w(self, name):
        return self.t[name].astype(np.float64)

    def mm(self, x, wname):
        """x @ W.T, with x rounded as ggml rounds activations when act_quant is set."""
        if self.act_quant:
            x = quant_act(x, self.types[wname])
        w = self.t[wname]
        step = 1 << 14  # rows of W at a time: big vocabularies stay within memory
        return np.concatenate([x @ w[r:r + step].astype(np.float64).T
                               for r in range(0, w.shape[0], step)], axis=1)

    def rms(self, x, wname):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * self.w(wname)

    def rope(self, x, pos, base):
        """x: (T, heads, hd). llama uses adjacent pairs; qwen2 and gemma3 split halves (NEOX)."""
        T, H, D = x.shape
        n = self.n_rot
        inv = base ** (-np.arange(0, n, 2, dtype=np.float64) / n)
        ang = np.asarray(pos, dtype=np.float64)[:, None] * inv[None, :]  # (T, n/2)
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        y = x.copy()
        if self.arch == "llama":
            a, b = x[..., 0:n:2], x[..., 1:n:2]
            y[..., 0:n:2] = a * c - b * s
            y[..., 1:n:2] = a * s + b * c
        else:
            a, b = x[..., :n // 2], x[..., n // 2:n]
            y[..., :n // 2] = a * c - b * s
            y[..., n // 2:n] = a * s + b * c
        return y

    def forward(self, ids, last_only=False):
        """Logits (T, vocab) for the token ids, causal, positions 0..T-1; (1, vocab) for the
        last position only when last_only (saves the big output matmul on long prompts)."""
        T = len(ids)
        pos = np.arange(T)
        x = self.t["token_embd.weight"][ids].astype(np.float64)
        if self.arch == "gemma3":
            x = x * np.sqrt(self.dim)
        hd, H, KV = self.head_dim, self.n_head, self.n_kv
        for l in range(self.n_layer):
            b = f"blk.{l}."
            h = self.rms(x, b + "attn_norm.weight")
            q = self.mm(h, b + "attn_q.weight")
            k = self.mm(h, b + "attn_k.weight")
            v = self.mm(h, b + "attn_v.weight")
            if b + "attn_q.bias" in self.t:
                q, k, v = q + self.w(b + "attn_q.bias"), k + self.w(b + "attn_k.bias"), \
                    v + self.w(b + "attn_v.bias")
            q, k, v = q.reshape(T, H, hd), k.reshape(T, KV, hd), v.reshape(T, KV, hd)
            local = self.arch == "gemma3" and l % 6 != 5
            if self.arch == "gemma3":
                q, k = self.rms(q, b + "attn_q_norm.weight"), self.rms(k, b + "attn_k_norm.weight")
            base = 10000.0 if local else self.base
            q, k = self.rope(q, pos, base), self.rope(k, pos, base)
            mask = np.tril(np.ones((T, T), dtype=bool))
            if local:
                mask &= (pos[:, None] - pos[None, :]) < self.swa
            out = np.empty((T, H, hd))
            for hh in range(H):
                kh = hh // (H // KV)
                sc = q[:, hh, :] @ k[:, kh, :].T / np.sqrt(hd)
                sc = np.where(mask, sc, -np.inf)
                sc = np.exp(sc - sc.max(axis=1, keepdims=True))
                sc /= sc.sum(axis=1, keepdims=True)
                out[:, hh, :] = sc @ v[:, kh, :]
            att = self.mm(out.reshape(T, H * hd), b + "attn_output.weight")
            if self.arch == "gemma3":
                att = self.rms(att, b + "post_attention_norm.weight")
            x = x + att
            h = self.rms(x, b + "ffn_norm.weight")
            gate = self.mm(h, b + "ffn_gate.weight")
            up = self.mm(h, b + "ffn_up.weight")
            if self.arch == "gemma3":  # GELU, tanh approximation
                act = 0.5 * gate * (1 + np.tanh(np.sqrt(2 / np.pi) * (gate + 0.044715 * gate ** 3)))
            else:  # SiLU
                act = gate / (1 + np.exp(-gate))
            f = self.mm(act * up, b + "ffn_down.weight")
            if self.arch == "gemma3":
                f = self.rms(f, b + "post_ffw_norm.weight")
            x = x + f
        x = self.rms(x, "output_norm.weight")
        if last_only:
            x = x[-1:]
        return self.mm(x, "output.weight" if "output.weight" in self.t else "token_embd.weight")


def main():
    args = sys.argv[1:]
    aq = "--act-quant" in args
    args = [a for a in args if a != "--act-quant"]
    if len(args) < 2:
        sys.exit(__doc__)
    m = Model(args[0], act_quant=aq)
    lg = m.forward([int(t) for t in args[1:]], last_only=True)[-1]
    for i in np.argsort(-lg)[:5]:
        print(int(i), f"{lg[i]:.5f}")


if __name__ == "__main__":
    main()
