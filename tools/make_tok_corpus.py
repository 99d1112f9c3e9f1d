#!/usr/bin/env python3
"""Write small vocabulary-only GGUF files as the seed corpus of fuzz_tokload.

Each file exercises one tokenizer path of tok_load (SentencePiece, byte-level
BPE with several pre-tokenizers, WordPiece) or one malformed-metadata case
(wrong array types, short arrays, out-of-range ids, empty and duplicate
tokens, merges without a space). The fuzzer mutates them; the suite replays
them in both builds.

    python3 tools/make_tok_corpus.py        # writes tests/data/corpus/tokload/*.gguf
"""
import pathlib

from gguf import GGUFValueType as VT
from gguf import GGUFWriter

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/data/corpus/tokload"


def byte_chars():
    """GPT-2's printable stand-ins for the 256 byte values."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    extra, out = 0, []
    for b in range(256):
        if b in keep:
            out.append(chr(b))
        else:
            out.append(chr(256 + extra))
            extra += 1
    return out


def write(name, build):
    path = OUT / (name + ".gguf")
    w = GGUFWriter(str(path), "llama")
    build(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def spm(w, template=None):
    toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    toks += ["\u2581", "a", "b", "\u2581a", "ab", "\u2581ab", "<|im_end|>", "<|im_start|>"]
    w.add_tokenizer_model("llama")
    w.add_token_list(toks)
    w.add_token_scores([0.0] * 259 + [-1.0, -2.0, -2.0, -3.0, -4.0, -5.0, 0.0, 0.0])
    w.add_token_types([2, 3, 3] + [6] * 256 + [1] * 6 + [3, 3])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    if template:
        w.add_chat_template(template)


def bpe(pre, template=None):
    def build(w):
        chars = byte_chars()
        toks = chars + ["he", "\u0120t", "\u0120the", "ll", "llo", "<|endoftext|>", "<eos>"]
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre(pre)
        w.add_token_list(toks)
        w.add_token_types([1] * (len(toks) - 2) + [3, 4])
        w.add_token_merges(["h e", "\u0120 t", "\u0120t he", "l l", "ll o"])
        w.add_eos_token_id(len(toks) - 2)
        if template:
            w.add_chat_template(template)
    return build


def wpm(w):
    toks = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "\u2581hello", "\u2581world", "ing",
            "\u2581play", ".", "\u2581.", "\u2581,"]
    w.add_tokenizer_model("bert")
    w.add_token_list(toks)
    w.add_token_types([3, 3, 3, 3, 3] + [1] * 7)
    w.add_unk_token_id(1)
    w.add_sep_token_id(3)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    write("spm", spm)
    write("spm-chatml", lambda w: spm(w, "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
                                         "{{ m['content'] }}<|im_end|>\n{% endfor %}"))
    for pre in ("llama-bpe", "qwen2", "gpt-2", "deepseek-llm", "deepseek-coder", "falcon",
                "starcoder", "bloom", "default"):
        write("bpe-" + pre, bpe(pre))
    write("bpe-gemma-template", bpe("smollm", "<start_of_turn>user\n{{ content }}<end_of_turn>"))
    write("wpm", wpm)

    # malformed metadata: each must fail cleanly or load
    def bad_types(w):
        spm(w)
        w.add_key_value("tokenizer.ggml.token_type", [1.5, 2.5], VT.ARRAY, VT.FLOAT32)
    write("bad-token-type-floats", bad_types)

    def short_scores(w):
        w.add_tokenizer_model("llama")
        w.add_token_list(["<unk>", "<s>", "</s>", "a"])
        w.add_token_scores([0.0, 0.0])
    write("short-scores", short_scores)

    def bad_ids(w):
        spm(w)
        w.add_key_value("tokenizer.ggml.padding_token_id", 999999, VT.UINT32)
        w.add_key_value("tokenizer.ggml.eot_token_id", 0xFFFFFFFF, VT.UINT32)
    write("out-of-range-ids", bad_ids)

    def odd_tokens(w):
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("gpt-2")
        w.add_token_list(["", "a", "a", "ab", " "])
        w.add_token_merges(["ab", "a b", "", "a"])
    write("empty-duplicate-tokens-spaceless-merges", odd_tokens)

    def unknown_model(w):
        w.add_tokenizer_model("t5")
        w.add_token_list(["a"])
    write("unsupported-model", unknown_model)

    def no_bos_but_add(w):
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("llama-bpe")
        w.add_token_list(["a", "b"])
        w.add_token_merges(["a b"])
    write("add-bos-without-bos", no_bos_but_add)


if __name__ == "__main__":
    main()
