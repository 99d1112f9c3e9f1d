#!/usr/bin/env python3
"""Record chat prompts as llama.cpp and the models' own Jinja templates make them.

Writes tests/data/tok/chat.json, replayed by tests/unit/test_chat.c:
  - "builtin": for each llama.cpp built-in format name (chatml, llama3, gemma,
    phi3, zephyr, llama2 variants, mistral variants), the prompt
    llama_chat_apply_template gives for a set of conversations;
  - "jinja": for real templates read from GGUF files, the prompt Jinja renders
    (trim_blocks/lstrip_blocks as Hugging Face and llama.cpp use), with a
    leading BOS text removed when the model's tokenizer adds BOS itself
    (add_bos_token), as llama.cpp does before tokenizing.

Run with the pinned reference environment:

    /root/.cache/drux-ref/venv/bin/python tools/record_chat_vectors.py \
        ~/.local/share/drux/models/SmolLM2-135M-Instruct.Q4_1.gguf \
        ../shared/fixtures/tokenizer/ggml-vocab-phi-3.gguf

(gemma-3-270m-q4_k_m.gguf carries no chat template, so Gemma is covered by
the built-in format only.) The versions used are written into the header.
"""
import ctypes
import json
import platform
import sys

import gguf
import jinja2
import llama_cpp
from jinja2.sandbox import ImmutableSandboxedEnvironment

CONVERSATIONS = {
    "user": [("user", "Hi there")],
    "system_user": [("system", "Be brief."), ("user", "Hi there")],
    "multi_turn": [("system", "Be brief."), ("user", "Hi there"), ("assistant", "Hello!"),
                   ("user", "What is 2+2?")],
    "no_system_multi": [("user", "Hi"), ("assistant", "Hello! How can I help?"),
                        ("user", "Name a colour.")],
    "padded": [("system", "  You answer in French. \n"), ("user", "\n  Where is Paris?  \n")],
    "two_systems": [("system", "Rule one."), ("system", "Rule two."), ("user", "Go")],
    "unicode": [("user", "Ça va? 日本語 🦙\nline two")],
}

BUILTIN = ["chatml", "llama3", "gemma", "phi3", "zephyr", "llama2", "llama2-sys",
           "llama2-sys-bos", "llama2-sys-strip", "mistral-v1", "mistral-v3",
           "mistral-v3-tekken", "mistral-v7", "mistral-v7-tekken"]


def apply_builtin(name, msgs, add_gen):
    arr = (llama_cpp.llama_chat_message * len(msgs))()
    keep = []
    for i, (role, content) in enumerate(msgs):
        r, c = role.encode(), content.encode()
        keep += [r, c]
        arr[i].role = r
        arr[i].content = c
    size = 1 << 16
    buf = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_chat_apply_template(name.encode(), arr, len(msgs), add_gen, buf, size)
    if n < 0 or n > size:
        raise RuntimeError("llama_chat_apply_template(%s) = %d" % (name, n))
    return buf.raw[:n].decode("utf-8")


def field_str(reader, key):
    f = reader.fields.get(key)
    if f is None:
        return None
    return bytes(f.parts[f.data[0]]).decode("utf-8")


def token_text(reader, key):
    f = reader.fields.get(key)
    if f is None:
        return ""
    tid = int(f.parts[f.data[0]][0])
    toks = reader.fields["tokenizer.ggml.tokens"]
    return bytes(toks.parts[toks.data[tid]]).decode("utf-8")


def main(argv):
    doc = {
        "recorded_with": {
            "llama_cpp_python": llama_cpp.__version__,
            "jinja2": jinja2.__version__,
            "gguf": getattr(gguf, "__version__", "?"),
            "python": platform.python_version(),
            "command": "tools/record_chat_vectors.py " + " ".join(argv[1:]),
        },
        "builtin": [],
        "jinja": [],
    }
    for name in BUILTIN:
        for conv, msgs in CONVERSATIONS.items():
            for add_gen in (True, False):
                doc["builtin"].append({"format": name, "conversation": conv,
                                       "add_generation_prompt": add_gen,
                                       "prompt": apply_builtin(name, msgs, add_gen)})
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    for path in argv[1:]:
        reader = gguf.GGUFReader(path)
        src = field_str(reader, "tokenizer.chat_template")
        if src is None:
            print("%s: no chat template" % path)
            continue
        bos = token_text(reader, "tokenizer.ggml.bos_token_id")
        f = reader.fields.get("tokenizer.ggml.add_bos_token")
        add_bos = bool(f.parts[f.data[0]][0]) if f is not None else True
        eos = token_text(reader, "tokenizer.ggml.eos_token_id")
        tmpl = env.from_string(src)
        for conv, msgs in CONVERSATIONS.items():
            for add_gen in (True, False):
                out = tmpl.render(messages=[{"role": r, "content": c} for r, c in msgs],
                                  add_generation_prompt=add_gen, bos_token=bos, eos_token=eos)
                # llama.cpp drops a template-written BOS only when the tokenizer
                # adds one itself (add_bos_token); SmolLM2's BOS is <|im_start|>
                # and its add_bos_token is false, so nothing is dropped there.
                strip = add_bos and bos and out.startswith(bos)
                stripped = out[len(bos):] if strip else out
                doc["jinja"].append({"model": path.rsplit("/", 1)[-1], "conversation": conv,
                                     "add_generation_prompt": add_gen, "prompt": stripped,
                                     "bos_stripped": stripped != out})
    with open("tests/data/tok/chat.json", "w", encoding="utf-8") as f:
        head = json.dumps(dict(doc, builtin=[], jinja=[],
                               conversations={k: v for k, v in CONVERSATIONS.items()}),
                          ensure_ascii=False, indent=1)
        b = ",\n".join(json.dumps(c, ensure_ascii=False) for c in doc["builtin"])
        j = ",\n".join(json.dumps(c, ensure_ascii=False) for c in doc["jinja"])
        head = head.replace('"builtin": []', '"builtin": [\n' + b + "\n]")
        head = head.replace('"jinja": []', '"jinja": [\n' + j + "\n]")
        f.write(head + "\n")
    print("builtin %d, jinja %d -> tests/data/tok/chat.json" % (len(doc["builtin"]),
                                                                len(doc["jinja"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
