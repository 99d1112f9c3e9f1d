#!/usr/bin/env python3
"""np_forward — a plain float64 numpy forward pass, the arbiter between llama.cpp's code paths.

llama.cpp quantizes activations and keeps an F16 KV cache, and its batched and
single-token paths do not agree exactly. This computes the same model straight
from the dequantized weights in float64 with no activation rounding, so one can
see how far each engine (llama.cpp or drux) is from the exact result.

    python3 tools/np_forward.py MODEL.gguf 1 403 407 261 378   # prints top-5 of the last position

Architectures: llama, qwen2, gemma3. Slow (seconds for small models) and memory
hungry (the dequantized weights as float32); meant for models up to a few hundred
million parameters. Needs gguf and numpy.
"""
import sys

import numpy as np

import gguf


class Model:
    def __init__(self, path):
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

    def forward(self, ids):
        """Logits (T, vocab) for the token ids, causal, positions 0..T-1."""
        T = len(ids)
        pos = np.arange(T)
        x = self.w("token_embd.weight")[ids]
        if self.arch == "gemma3":
            x = x * np.sqrt(self.dim)
        hd, H, KV = self.head_dim, self.n_head, self.n_kv
        for l in range(self.n_layer):
            b = f"blk.{l}."
            h = self.rms(x, b + "attn_norm.weight")
            q = h @ self.w(b + "attn_q.weight").T
            k = h @ self.w(b + "attn_k.weight").T
            v = h @ self.w(b + "attn_v.weight").T
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
            att = out.reshape(T, H * hd) @ self.w(b + "attn_output.weight").T
            if self.arch == "gemma3":
                att = self.rms(att, b + "post_attention_norm.weight")
            x = x + att
            h = self.rms(x, b + "ffn_norm.weight")
            gate = h @ self.w(b + "ffn_gate.weight").T
            up = h @ self.w(b + "ffn_up.weight").T
            if self.arch == "gemma3":  # GELU, tanh approximation
                act = 0.5 * gate * (1 + np.tanh(np.sqrt(2 / np.pi) * (gate + 0.044715 * gate ** 3)))
            else:  # SiLU
                act = gate / (1 + np.exp(-gate))
            f = (act * up) @ self.w(b + "ffn_down.weight").T
            if self.arch == "gemma3":
                f = self.rms(f, b + "post_ffw_norm.weight")
            x = x + f
        x = self.rms(x, "output_norm.weight")
        out_w = self.t.get("output.weight", self.t["token_embd.weight"]).astype(np.float64)
        return x @ out_w.T


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    m = Model(sys.argv[1])
    lg = m.forward([int(t) for t in sys.argv[2:]])[-1]
    for i in np.argsort(-lg)[:5]:
        print(int(i), f"{lg[i]:.5f}")


if __name__ == "__main__":
    main()
