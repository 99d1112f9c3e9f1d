/*
 * drux info — what a GGUF model file holds: architecture, size, formats,
 * context, tokenizer and chat template family.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "embed/embed.h"
#include "engine/model.h"
#include "engine/quant.h"
#include "gguf/gguf.h"
#include "hub/hub.h"
#include "tok/chat.h"

static const char info_usage[] =
    "usage: drux info -m MODEL\n"
    "\n"
    "Prints what a GGUF model holds: architecture, parameter count, tensor formats,\n"
    "context length, tokenizer and chat template family. MODEL is a file or a cached\n"
    "model name. With --metadata, every metadata key too.\n";

static void human_bytes(uint64_t b, char *buf, size_t cap)
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void print_str_key(const gguf *g, const char *label, const char *key)
{
    dx_str s;
    if (gguf_get_str(g, key, &s))
        printf("%-16s %.*s\n", label, (int)(s.len > 200 ? 200 : s.len), s.ptr);
}

static void print_metadata(const gguf *g)
{
    printf("\nmetadata:\n");
    for (size_t i = 0; i < gguf_n_kv(g); i++) {
        const char *k = gguf_kv_key(g, i);
        enum gguf_vtype t = gguf_kv_type(g, i);
        printf("  %-44s %-7s ", k, gguf_vtype_name(t));
        dx_str s;
        int64_t iv;
        float fv;
        bool bv;
        uint64_t n;
        enum gguf_vtype et;
        const void *data;
        if (t == GGUF_STRING && gguf_get_str(g, k, &s)) {
            int len = (int)(s.len > 60 ? 60 : s.len);
            printf("\"");
            for (int j = 0; j < len; j++)
                putchar(s.ptr[j] == '\n' ? ' ' : s.ptr[j]);
            printf("%s\"", s.len > 60 ? "..." : "");
        } else if (t == GGUF_BOOL && gguf_get_bool(g, k, &bv)) {
            printf("%s", bv ? "true" : "false");
        } else if ((t == GGUF_F32 || t == GGUF_F64) && gguf_get_f32(g, k, &fv)) {
            printf("%g", fv);
        } else if (t == GGUF_ARRAY && gguf_get_arr(g, k, &et, &n, &data)) {
            printf("[%" PRIu64 " x %s]", n, gguf_vtype_name(et));
        } else if (gguf_get_i64(g, k, &iv)) {
            printf("%" PRId64, iv);
        }
        printf("\n");
    }
}

/* Parameters, and the count and bytes of each tensor format. */
static void print_formats(const gguf *g)
{
    uint64_t count[QT_COUNT] = {0}, bytes[QT_COUNT] = {0}, params = 0, other = 0;
    for (size_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        uint64_t ne = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            ne *= (uint64_t)t->ne[d];
        params += ne;
        if (t->type < QT_COUNT) {
            count[t->type]++;
            bytes[t->type] += t->nbytes;
        } else {
            other++;
        }
    }
    printf("%-16s %.1fM (%" PRIu64 ") in %zu tensors\n", "parameters", params / 1e6, params,
           gguf_n_tensors(g));
    printf("%-16s", "formats");
    for (int t = 0; t < QT_COUNT; t++)
        if (count[t]) {
            char b[32];
            human_bytes(bytes[t], b, sizeof b);
            printf(" %s x%" PRIu64 " (%s)%s", gguf_type_name((uint32_t)t), count[t], b,
                   quant_get((uint32_t)t) ? "" : " [unsupported]");
        }
    if (other)
        printf(" unknown x%" PRIu64, other);
    printf("\n");
}

/* What the engine makes of the file: a language model's shape, a sentence
 * encoder, or why drux cannot run it. */
static void print_runs_in_drux(const char *path)
{
    eng_model *m = NULL;
    if (eng_model_open(path, &m) == DX_OK) {
        const eng_hparams *hp = eng_model_hparams(m);
        printf("%-16s %d (trained)\n", "context", hp->n_ctx_train);
        printf("%-16s %d layers, %d-dim, %d heads (%d kv, head size %d), ffn %d\n", "shape",
               hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv, hp->head_dim_k, hp->n_ff);
        printf("%-16s base %g%s, %s\n", "rope", hp->rope_base,
               hp->n_swa ? " (sliding-window layers: see below)" : "",
               hp->rope_neox ? "halves (NEOX)" : "adjacent pairs");
        if (hp->n_swa)
            printf("%-16s %d tokens, every %d-th layer global, local rope base %g\n",
                   "sliding window", hp->n_swa, hp->swa_pattern, hp->rope_base_swa);
        printf("%-16s %d\n", "vocabulary", hp->n_vocab);
        printf("%-16s yes\n", "runs in drux");
        eng_model_close(m);
        return;
    }
    char why[512];
    snprintf(why, sizeof why, "%s", dx_errmsg());
    embed_model *em = NULL;
    if (embed_model_open(path, &em) == DX_OK) /* a sentence encoder, not a language model */
        printf("%-16s yes, as a sentence encoder (drux embed): %d-dim, %s pooling, "
               "up to %d tokens\n",
               "runs in drux", embed_dim(em),
               embed_pooling_of(em) == EMBED_POOL_CLS ? "CLS" : "mean", embed_max_tokens(em));
    else
        printf("%-16s no: %s\n", "runs in drux", why);
    embed_model_close(em);
}

static void print_tokenizer(const gguf *g)
{
    print_str_key(g, "tokenizer", "tokenizer.ggml.model");
    print_str_key(g, "pre-tokenizer", "tokenizer.ggml.pre");
    dx_str tmpl;
    if (gguf_get_str(g, "tokenizer.chat_template", &tmpl)) {
        chat_tmpl ct;
        chat_tmpl_detect(tmpl, &ct);
        printf("%-16s %s%s\n", "chat template", chat_family_name(ct.family),
               ct.default_system[0] ? " (with a default system prompt)" : "");
    } else {
        printf("%-16s none (base model: asked with a plain completion prompt)\n", "chat template");
    }
}

int cmd_info(int argc, char **argv)
{
    const char *model = NULL;
    bool meta = false;
    args a = args_begin(argc, argv);
    while (args_next(&a)) {
        if (args_flag(&a, "-h", "--help")) {
            fputs(info_usage, stdout);
            return 0;
        } else if (args_str(&a, "-m", "--model", &model)) {
            continue;
        } else if (args_flag(&a, NULL, "--metadata")) {
            meta = true;
        } else if (!model && args_positional(&a, &model)) {
            continue;
        } else {
            return args_unknown(&a, info_usage);
        }
    }
    if (a.error)
        return 2;
    if (!model) {
        fputs(info_usage, stderr);
        return 2;
    }
    char *path = NULL;
    gguf *g = NULL;
    int rc = 1;
    if (hub_resolve_model(model, &path) || gguf_open(path, &g)) {
        cli_error(NULL);
        goto out;
    }
    char size[32];
    human_bytes(gguf_file_size(g), size, sizeof size);
    printf("%-16s %s\n", "file", path);
    printf("%-16s %s, GGUF v%u\n", "size", size, gguf_version(g));
    print_str_key(g, "name", "general.name");
    print_str_key(g, "architecture", "general.architecture");

    print_formats(g);
    print_runs_in_drux(path);
    print_tokenizer(g);
    if (meta)
        print_metadata(g);
    rc = 0;
out:
    gguf_close(g);
    free(path);
    return rc;
}
