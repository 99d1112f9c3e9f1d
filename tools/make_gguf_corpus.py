#!/usr/bin/env python3
"""make_gguf_corpus — writes the GGUF test files of tests/unit/test_gguf.c.

    python3 tools/make_gguf_corpus.py            # (re)writes both folders below

Valid files, written by the `gguf` package (pinned in scripts/setup), go to
tests/data/gguf/: the C test reads them back and checks every value. Then a
small valid file is corrupted systematically (bad magic and versions, huge
counts and lengths, bad alignment, bad tensor shapes, types and offsets,
duplicates, deep nesting, truncation at many points) into
tests/data/corpus/gguf/, where every file must be refused; that folder is
also the fuzzer's seed corpus. tests/data/gguf/corpus_expect.tsv lists, for
each broken file, the status it must fail with (format, limit, or any of the
two) and words its message must contain (alternatives separated by '|').

Output is deterministic: running the script again gives the same bytes.
"""
import os
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGUFWriter, GGUFValueType as VT, GGMLQuantizationType as QT
from gguf.constants import GGML_QUANT_SIZES, GGUFEndian

ROOT = Path(__file__).resolve().parent.parent
VALID = ROOT / "tests/data/gguf"
CORPUS = ROOT / "tests/data/corpus/gguf"
TMP = ROOT / "build/gguf-corpus-tmp"

# GGML ids the C reader knows (enum qtype: ids below 40); newer ones must be refused.
KNOWN_MAX = 39


def pattern(n, seed):
    """Tensor bytes the C test can recompute: byte j of tensor i is (7 j + i) mod 256."""
    return ((np.arange(n, dtype=np.int64) * 7 + seed) % 256).astype(np.uint8)


def write(path, build, alignment=None, endian=GGUFEndian.LITTLE, arch="test"):
    w = GGUFWriter(str(path), arch, endianess=endian)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    build(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


def nested(depth, leaf):
    v = leaf
    for _ in range(depth - 1):
        v = [v]
    return v


def build_all_types(w):
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_uint64("test.u64", 2**40 + 3)
    w.add_uint64("test.u64_big", 2**63 + 5)
    w.add_int64("test.i64", -(2**40) - 7)
    w.add_float32("test.f32", 0.15625)
    w.add_float64("test.f64", 3.25)
    w.add_float64("test.f64_big", 1e300)
    w.add_bool("test.bool_t", True)
    w.add_bool("test.bool_f", False)
    w.add_string("test.str", "héllo, wörld")
    w.add_key_value("test.str_empty", "", VT.STRING)
    w.add_key_value("test.str_bytes", b"a\x00b\xff", VT.STRING)  # values may be any bytes
    w.add_array("test.arr_u8", bytes([1, 2, 3, 250]))
    w.add_key_value("test.arr_i16", [-1, 2, -3], VT.ARRAY, VT.INT16)
    w.add_array("test.arr_i32", [10, -20, 30])
    w.add_key_value("test.arr_u64", [1, 2**50], VT.ARRAY, VT.UINT64)
    w.add_array("test.arr_f32", [0.5, -1.25])
    w.add_key_value("test.arr_f64", [2.5], VT.ARRAY, VT.FLOAT64)
    w.add_array("test.arr_bool", [True, False, True])
    w.add_array("test.arr_str", ["a", "", "ccc", "ünï"])
    w.add_array("test.nested", [[1, 2, 3], [4], [5, 6]])
    w.add_array("test.nested_str", [["x", "yy"], ["zzz"]])
    w.add_array("test.deep8", nested(8, [7]))  # 8 levels of arrays: the most allowed
    w.add_string("test.after", "end")  # read correctly only if everything before was skipped right

    # every tensor type the package and drux both know, one block wide and two rows
    types, nbytes = [], []
    seed = 0
    w.add_tensor("t.f32", np.arange(12, dtype=np.float32).reshape(3, 4))
    types.append(int(QT.F32)); nbytes.append(48)
    w.add_tensor("t.f16", np.arange(8, dtype=np.float16))
    types.append(int(QT.F16)); nbytes.append(16)
    w.add_tensor("t.3d", np.zeros((2, 3, 4), dtype=np.int32))
    types.append(int(QT.I32)); nbytes.append(96)
    w.add_tensor("t.4d", np.zeros((1, 2, 3, 8), dtype=np.int8))
    types.append(int(QT.I8)); nbytes.append(48)
    seed = 4
    for q in sorted(GGML_QUANT_SIZES, key=int):
        if int(q) > KNOWN_MAX or q in (QT.F32, QT.F16):
            continue
        block, tsize = GGML_QUANT_SIZES[q]
        raw_shape = None
        if q == QT.Q8_1:
            # gguf-py lists Q8_1 blocks as 40 bytes (two floats); ggml's block_q8_1 holds two
            # halves and asserts 36 bytes, and ggml defines the file layout. Write 36-byte
            # blocks, passing the package a shape in its own byte units.
            raw_shape, tsize = (2, 40), 36
        data = pattern(2 * tsize, seed).reshape(2, tsize)
        w.add_tensor(f"q.{q.name}", data, raw_shape=raw_shape, raw_dtype=q)
        types.append(int(q)); nbytes.append(2 * tsize)
        seed += 1
    w.add_key_value("test.tensor_types", types, VT.ARRAY, VT.UINT32)
    w.add_key_value("test.tensor_nbytes", nbytes, VT.ARRAY, VT.UINT64)


def build_align64(w):
    w.add_uint32("test.u32", 7)
    w.add_tensor("a", pattern(40, 0), raw_dtype=QT.I8)  # 40 bytes: padded to 64
    w.add_tensor("b", pattern(64, 1), raw_dtype=QT.I8)


def build_no_tensors(w):
    w.add_array("tokenizer.ggml.tokens", ["<s>", "</s>", "hello", " world"])
    w.add_array("tokenizer.ggml.scores", [0.0, -1.0, -2.5, -3.0])
    w.add_string("test.str", "x")  # leaves the header end unaligned


def build_base(w):
    """The file every corruption starts from; its last tensor ends the file."""
    w.add_uint32("test.u32", 42)
    w.add_string("test.str", "hello")
    w.add_array("tokenizer.ggml.tokens", ["<s>", "a", "bc"])
    w.add_array("test.arr_i32", [1, 2, 3])
    w.add_array("test.nested", [[1, 2], [3]])
    w.add_tensor("a", np.arange(32, dtype=np.float32).reshape(4, 8))   # 128 bytes
    w.add_tensor("b", pattern(36, 2).reshape(2, 18), raw_dtype=QT.Q4_0)  # 36 bytes, padded to 64
    w.add_tensor("c", np.arange(8, dtype=np.float32))                  # 32 bytes, ends the file


# ---- a walker over our own valid files, to find where to corrupt ----------

SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def walk(buf):
    """Positions of the structures in a valid little-endian file."""
    pos = 24
    n_t, n_kv = struct.unpack_from("<QQ", buf, 8)
    kvs, tensors = [], []

    def skip_array(pos):
        et, n = struct.unpack_from("<IQ", buf, pos)
        pos += 12
        for _ in range(n):
            if et == 8:
                (ln,) = struct.unpack_from("<Q", buf, pos)
                pos += 8 + ln
            elif et == 9:
                pos = skip_array(pos)
            else:
                pos += SIZES[et]
        return pos

    for _ in range(n_kv):
        kv = {"start": pos}
        (kl,) = struct.unpack_from("<Q", buf, pos)
        kv["key"] = buf[pos + 8:pos + 8 + kl].decode()
        pos += 8 + kl
        kv["type_at"] = pos
        (t,) = struct.unpack_from("<I", buf, pos)
        kv["type"] = t
        pos += 4
        kv["value_at"] = pos
        if t == 8:
            (ln,) = struct.unpack_from("<Q", buf, pos)
            pos += 8 + ln
        elif t == 9:
            pos = skip_array(pos)
        else:
            pos += SIZES[t]
        kv["end"] = pos
        kvs.append(kv)
    for _ in range(n_t):
        ti = {"start": pos}
        (nl,) = struct.unpack_from("<Q", buf, pos)
        ti["name"] = buf[pos + 8:pos + 8 + nl].decode()
        pos += 8 + nl
        ti["ndims_at"] = pos
        (nd,) = struct.unpack_from("<I", buf, pos)
        pos += 4
        ti["ne_at"] = pos
        pos += 8 * nd
        ti["type_at"] = pos
        pos += 4
        ti["offset_at"] = pos
        pos += 8
        ti["end"] = pos
        tensors.append(ti)
    return kvs, tensors, pos


def put(buf, at, fmt, *vals):
    b = bytearray(buf)
    struct.pack_into(fmt, b, at, *vals)
    return bytes(b)


def splice(buf, start, end, new):
    return buf[:start] + new + buf[end:]


def main():
    for d in (VALID, CORPUS, TMP):
        d.mkdir(parents=True, exist_ok=True)
    for old in list(VALID.glob("*.gguf")) + list(CORPUS.iterdir()):
        old.unlink()

    # ---- valid files
    all_types = write(VALID / "all_types.gguf", build_all_types)
    (VALID / "all_types_v2.gguf").write_bytes(put(all_types, 4, "<I", 2))  # same layout in v2
    write(VALID / "align64.gguf", build_align64, alignment=64)
    nt = write(VALID / "no_tensors.gguf", build_no_tensors)
    _, _, hdr_end = walk(nt)
    assert hdr_end % 32 and len(nt) > hdr_end, "no_tensors.gguf should need padding"
    (VALID / "no_tensors_unpadded.gguf").write_bytes(nt[:hdr_end])  # like the vocab files

    base = write(TMP / "base.gguf", build_base)
    kvs, tis, hdr_end = walk(base)
    kv = {k["key"]: k for k in kvs}
    ti = {t["name"]: t for t in tis}
    data_at = (hdr_end + 31) // 32 * 32

    expect = []

    def bad(name, data, status, words):
        (CORPUS / name).write_bytes(data)
        expect.append(f"{name}\t{status}\t{words}")

    def bad_written(name, build, status, words, **kw):
        data = write(TMP / name, build, **kw)
        bad(name, data, status, words)

    # magic and version
    bad("magic_wrong.gguf", b"GGML" + base[4:], "format", "not a GGUF file")
    bad("magic_lower.gguf", b"gguf" + base[4:], "format", "not a GGUF file")
    bad("empty_file.gguf", b"", "format", "too small")
    bad("only_magic.gguf", b"GGUF", "format", "too small")
    for v in (0, 1, 4, 99, 0xFFFFFFFF):
        words = "version 1 is not supported" if v == 1 else f"unsupported GGUF version {v}"
        bad(f"version_{v}.gguf", put(base, 4, "<I", v), "format", words)
    bad_written("big_endian.gguf", build_base, "format", "big-endian", endian=GGUFEndian.BIG)

    # header counts
    bad("kv_count_huge.gguf", put(base, 16, "<Q", 2**63), "limit", "metadata entries exceed")
    bad("kv_count_limit.gguf", put(base, 16, "<Q", 65537), "limit", "metadata entries exceed")
    bad("kv_count_plus1.gguf", put(base, 16, "<Q", len(kvs) + 1), "any", "")
    bad("tensor_count_huge.gguf", put(base, 8, "<Q", 2**64 - 1), "limit", "tensors exceed")
    bad("tensor_count_plus1.gguf", put(base, 8, "<Q", len(tis) + 1), "any", "")
    bad("counts_dont_fit.gguf", put(base, 8, "<Q", 60000), "format", "more than fit in the file")

    # keys
    k0 = kvs[0]
    bad("key_len_huge.gguf", put(base, k0["start"], "<Q", 2**64 - 1), "limit", "key length")
    bad("key_len_past_end.gguf", put(base, k0["start"], "<Q", 200), "any", "")
    bad("key_empty.gguf", splice(base, k0["start"], k0["type_at"], struct.pack("<Q", 0)),
        "format", "key is empty")
    long_key = b"k" * 300
    bad("key_too_long.gguf", splice(base, k0["start"], k0["type_at"],
                                    struct.pack("<Q", len(long_key)) + long_key),
        "limit", "key length 300 exceeds")
    ctl = "test.u\n2"
    bad("key_control_byte.gguf", splice(base, k0["start"], k0["type_at"],
                                        struct.pack("<Q", len(ctl)) + ctl.encode()),
        "format", "control byte 0x0a")
    s = kv["test.str"]
    bad("key_duplicate.gguf", splice(base, s["start"], s["type_at"],
                                     struct.pack("<Q", 8) + b"test.u32"),
        "format", "duplicate key")

    # value types and values
    bad("vtype_13.gguf", put(base, k0["type_at"], "<I", 13), "format", "unknown value type 13")
    bad("vtype_huge.gguf", put(base, k0["type_at"], "<I", 0xFFFFFFFF), "format", "unknown value type")
    bad("str_len_huge.gguf", put(base, s["value_at"], "<Q", 2**63), "limit", "string length")
    bad("str_len_past_end.gguf", put(base, s["value_at"], "<Q", len(base)), "format", "past the end")
    bad("str_len_limit.gguf", put(base, s["value_at"], "<Q", (16 << 20) + 1), "limit", "exceeds the limit")
    tok = kv["tokenizer.ggml.tokens"]
    bad("arr_elem_type_bad.gguf", put(base, tok["value_at"], "<I", 42), "format", "unknown element type 42")
    bad("arr_count_huge.gguf", put(base, tok["value_at"] + 4, "<Q", 2**40), "limit", "elements exceeds the limit")
    bad("arr_count_limit.gguf", put(base, tok["value_at"] + 4, "<Q", (16 << 20) + 1), "limit",
        "elements exceeds the limit")
    bad("arr_str_count_no_fit.gguf", put(base, tok["value_at"] + 4, "<Q", 1 << 20), "format", "can't fit")
    bad("arr_str_elem_len_huge.gguf", put(base, tok["value_at"] + 12, "<Q", 2**64 - 2), "limit",
        "element [0]: string length")
    ai = kv["test.arr_i32"]
    bad("arr_i32_past_end.gguf", put(base, ai["value_at"] + 4, "<Q", len(base)), "format", "array data")
    ne = kv["test.nested"]
    bad("nested_inner_type_bad.gguf", put(base, ne["value_at"] + 12, "<I", 77), "format",
        "element [0]: array has unknown element type 77")
    bad("nested_inner_count_huge.gguf", put(base, ne["value_at"] + 16, "<Q", 2**62), "limit",
        "element [0]: array of")
    bad("nested_outer_count_no_fit.gguf", put(base, ne["value_at"] + 4, "<Q", 1 << 22), "format", "can't fit")
    bad_written("nested_too_deep.gguf", lambda w: w.add_array("test.deep9", nested(9, [1])),
                "limit", "nested more than 8 deep")

    # general.alignment
    for name, val, st, words in (("align_0", 0, "format", "not a power of two"),
                                 ("align_48", 48, "format", "not a power of two"),
                                 ("align_huge", 1 << 20, "limit", "exceeds the limit"),
                                 ("align_max", 0x80000000, "limit", "exceeds the limit")):
        def b(w, val=val):
            w.add_key_value("general.alignment", val, VT.UINT32)
            w.add_tensor("x", np.zeros(8, dtype=np.float32))
        bad_written(name + ".gguf", b, st, words)
    def b(w):
        w.add_key_value("general.alignment", 32, VT.UINT64)
        w.add_tensor("x", np.zeros(8, dtype=np.float32))
    bad_written("align_u64.gguf", b, "format", "must be a u32, not u64")
    def b(w):
        w.add_key_value("general.alignment", "32", VT.STRING)
    bad_written("align_string.gguf", b, "format", "must be a u32, not string")

    # tensor infos
    ta, tb, tc = ti["a"], ti["b"], ti["c"]
    bad("tensor_ndims_0.gguf", put(base, ta["ndims_at"], "<I", 0), "format", "has 0 dimensions")
    bad("tensor_ndims_5.gguf", put(base, ta["ndims_at"], "<I", 5), "format", "has 5 dimensions")
    bad("tensor_ndims_huge.gguf", put(base, ta["ndims_at"], "<I", 0xFFFFFFFF), "format", "dimensions")
    bad("tensor_ne_negative.gguf", put(base, ta["ne_at"], "<Q", 2**63), "format", "out of range")
    bad("tensor_count_overflow.gguf", put(base, ta["ne_at"], "<QQ", 2**32, 2**32), "format", "overflows")
    bad("tensor_bytes_overflow.gguf", put(base, ta["ne_at"], "<QQ", 2**62, 1), "format", "overflows")
    bad("tensor_ne0_not_block.gguf", put(base, tb["ne_at"], "<Q", 33), "format",
        "not a whole number of Q4_0 blocks")
    for t in (4, 5, 31, 40, 41, 999):
        bad(f"tensor_type_{t}.gguf", put(base, tb["type_at"], "<I", t), "format", f"unknown tensor type {t}")
    bad("tensor_offset_unaligned.gguf", put(base, tb["offset_at"], "<Q", 128 + 4), "format",
        "not a multiple of the alignment 32")
    bad("tensor_offset_huge.gguf", put(base, tc["offset_at"], "<Q", 2**64 - 32), "format", "past the end")
    bad("tensor_past_end.gguf", put(base, tc["offset_at"], "<Q", len(base) - data_at), "format",
        "extends past the end of the file")
    bad("tensor_grown_past_end.gguf", put(base, tc["ne_at"], "<Q", 16), "format",
        "extends past the end of the file")
    bad("tensor_overlap.gguf", put(base, tb["offset_at"], "<Q", 96), "format", "overlaps tensor 0 'a'")
    bad("tensor_overlap_unsorted.gguf", put(base, ta["offset_at"], "<Q", 96), "format", "overlaps")
    bad("tensor_same_offset.gguf", put(base, tc["offset_at"], "<Q", 0), "format", "overlaps")
    bad("tensor_name_empty.gguf", splice(base, tb["start"], tb["ndims_at"], struct.pack("<Q", 0)),
        "format", "tensor name is empty")
    bad("tensor_name_len_huge.gguf", put(base, tb["start"], "<Q", 2**60), "limit", "tensor name length")
    bad("tensor_name_duplicate.gguf", splice(base, tc["start"], tc["ndims_at"],
                                             struct.pack("<Q", 1) + b"a"),
        "format", "duplicate tensor name")
    trunc_words = "past the end|can't fit|too small|more than fit"
    # truncation: every structure boundary, its neighbours, and every 7th byte of the header
    cuts = {0, 1, 3, 4, 7, 8, 15, 16, 23, 24, hdr_end, data_at, len(base) - 1}
    for k in kvs + tis:
        for key in ("start", "type_at", "value_at", "ndims_at", "ne_at", "offset_at", "end"):
            if key in k:
                cuts.update({k[key], k[key] + 1, k[key] + 3})
    cuts.update(range(25, hdr_end, 7))
    cuts.update({data_at + 1, data_at + 127, data_at + 128, data_at + 200})
    for c in sorted(x for x in cuts if 0 <= x < len(base)):
        bad(f"trunc_{c:05d}.gguf", base[:c], "format", trunc_words)

    (VALID / "corpus_expect.tsv").write_text(
        "# file\tstatus\tthe message contains one of (|-separated; empty: any)\n"
        + "\n".join(expect) + "\n")
    shutil.rmtree(TMP)
    total = sum(p.stat().st_size for p in CORPUS.iterdir())
    print(f"wrote {len(expect)} broken files ({total} bytes) to {CORPUS.relative_to(ROOT)}, "
          f"valid files to {VALID.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
