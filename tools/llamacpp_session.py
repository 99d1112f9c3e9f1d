"""llamacpp_session — a small wrapper over llama-cpp-python's low-level (ctypes) API.

Used by tools/llama_ref.py (reference logits) and bench/compare (timings). Only
the plain llama_* functions are used: no sampler, no chat handler, no caching,
so what is measured and recorded is llama.cpp's forward pass and nothing else.

    from llamacpp_session import Session
    with Session("model.gguf", n_threads=2, n_ctx=1024) as s:
        ids = s.tokenize("Once upon a time", add_special=True)
        logits = s.decode(ids, pos0=0)          # (1, n_vocab): last position only
        logits = s.decode([5], pos0=len(ids))   # next position

Runs only inside the reference venv (tools/llama_ref.py --setup creates it).
"""
import ctypes

import numpy as np

import llama_cpp as L

_log_cb = None  # keeps the ctypes callback alive


def quiet_logs():
    """Silences llama.cpp's own stderr logging (load messages, timings)."""
    global _log_cb
    if _log_cb is None:
        _log_cb = L.llama_log_callback(lambda level, text, user: None)
        L.llama_log_set(_log_cb, ctypes.c_void_p(0))


def versions():
    """Version strings of the bound library: package, llama.cpp, ggml commit."""
    out = {"llama_cpp_python": L.__version__,
           "llama_cpp_version": L.llama_version().decode()}
    try:  # ggml exposes the commit it was built from; not every build does
        import os
        lib = ctypes.CDLL(os.path.join(os.path.dirname(L.__file__), "lib", "libggml-base.so"))
        for name in ("ggml_commit", "ggml_version"):
            fn = getattr(lib, name)
            fn.restype = ctypes.c_char_p
            out[name] = fn().decode()
    except (OSError, AttributeError):
        pass
    out["system_info"] = L.llama_print_system_info().decode().strip()
    return out


class Session:
    """One model + one context. Not thread-safe; close() (or `with`) frees both."""

    def __init__(self, path, n_threads, n_ctx=2048, n_batch=512, flash_attn=False, verbose=False):
        if not verbose:
            quiet_logs()
        L.llama_backend_init()
        mp = L.llama_model_default_params()
        mp.n_gpu_layers = 0
        self.model = L.llama_model_load_from_file(path.encode(), mp)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {path}")
        cp = L.llama_context_default_params()
        cp.n_ctx = n_ctx
        cp.n_batch = n_batch
        cp.n_ubatch = n_batch
        cp.n_threads = n_threads
        cp.n_threads_batch = n_threads
        cp.flash_attn_type = (L.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn
                              else L.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        cp.no_perf = False
        self.ctx = L.llama_init_from_model(self.model, cp)
        if not self.ctx:
            L.llama_model_free(self.model)
            raise RuntimeError(f"llama.cpp could not create a context for {path}")
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.params = {"n_ctx": n_ctx, "n_batch": n_batch, "n_ubatch": n_batch,
                       "n_threads": n_threads, "flash_attn": bool(flash_attn),
                       "type_k": int(cp.type_k), "type_v": int(cp.type_v)}
        self._batch = L.llama_batch_init(n_batch, 0, 1)

    def close(self):
        if self.ctx:
            L.llama_batch_free(self._batch)
            L.llama_free(self.ctx)
            L.llama_model_free(self.model)
            self.ctx = self.model = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- model facts -------------------------------------------------------
    def meta(self, key):
        buf = ctypes.create_string_buffer(4096)
        n = L.llama_model_meta_val_str(self.model, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", "replace") if n >= 0 else None

    def chat_template(self):
        t = L.llama_model_chat_template(self.model, None)
        return t.decode() if t else None

    def n_swa(self):
        return L.llama_model_n_swa(self.model)

    def add_bos(self):
        return bool(L.llama_vocab_get_add_bos(self.vocab))

    def bos(self):
        return int(L.llama_vocab_bos(self.vocab))

    def is_eog(self, tok):
        return bool(L.llama_vocab_is_eog(self.vocab, tok))

    # --- text ---------------------------------------------------------------
    def tokenize(self, text, add_special=True, parse_special=False):
        raw = text.encode("utf-8")
        cap = len(raw) + 16
        arr = (L.llama_token * cap)()
        n = L.llama_tokenize(self.vocab, raw, len(raw), arr, cap, add_special, parse_special)
        if n < 0:
            raise RuntimeError("tokenize: buffer too small")
        return [int(arr[i]) for i in range(n)]

    def piece(self, tok):
        buf = ctypes.create_string_buffer(256)
        n = L.llama_token_to_piece(self.vocab, tok, buf, len(buf), 0, True)
        return buf.raw[:max(n, 0)].decode("utf-8", "replace")

    def apply_template(self, tmpl, messages, add_assistant=True):
        """Renders messages [(role, content)] with llama.cpp's own template engine."""
        arr = (L.llama_chat_message * len(messages))()
        keep = []
        for i, (role, content) in enumerate(messages):
            r, c = role.encode(), content.encode()
            keep += [r, c]
            arr[i].role = r
            arr[i].content = c
        tb = tmpl.encode() if tmpl else None
        buf = ctypes.create_string_buffer(65536)
        n = L.llama_chat_apply_template(tb, arr, len(messages), add_assistant, buf, len(buf))
        if n < 0 or n > len(buf):
            raise RuntimeError("llama_chat_apply_template failed")
        return buf.raw[:n].decode("utf-8")

    # --- forward pass ---------------------------------------------------------
    def clear(self):
        L.llama_memory_clear(L.llama_get_memory(self.ctx), True)

    def decode(self, tokens, pos0, all_logits=False):
        """Runs tokens at positions pos0.. (in chunks of n_batch). Returns float32 logits:
        (len(tokens), n_vocab) when all_logits, else (1, n_vocab) for the last token."""
        out = []
        b = self._batch
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start:start + self.n_batch]
            last_chunk = start + self.n_batch >= len(tokens)
            b.n_tokens = len(chunk)
            for i, t in enumerate(chunk):
                b.token[i] = t
                b.pos[i] = pos0 + start + i
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = 0
                b.logits[i] = 1 if (all_logits or (last_chunk and i == len(chunk) - 1)) else 0
            rc = L.llama_decode(self.ctx, b)
            if rc != 0:
                raise RuntimeError(f"llama_decode returned {rc}")
            for i in range(len(chunk)):
                if all_logits or (last_chunk and i == len(chunk) - 1):
                    p = L.llama_get_logits_ith(self.ctx, i)
                    out.append(np.ctypeslib.as_array(p, shape=(self.n_vocab,)).copy())
        return np.stack(out)

    def synchronize(self):
        L.llama_synchronize(self.ctx)
