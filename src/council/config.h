/*
 * config — the council: which models answer, how, and within what limits.
 *
 * A council is read from an INI file (parsed by inih; see docs/config.md):
 *
 *     [council]
 *     timeout_s = 60
 *     synthesizer = smol
 *
 *     [member.smol]
 *     type = local
 *     model = SmolLM2-135M-Instruct.Q4_1.gguf
 *
 *     [member.gpt]
 *     type = remote
 *     base_url = https://api.openai.com/v1
 *     model = gpt-4o-mini
 *     api_key_env = OPENAI_API_KEY
 *
 * and used like this:
 *
 *     council_config *cfg;   // --config, $DRUX_CONFIG, ~/.config/drux, or the cache
 *     if (council_config_open(flag_path, &cfg)) { puts(dx_errmsg()); return 1; }
 *     for (size_t i = 0; i < cfg->n_members; i++) puts(cfg->members[i].name);
 *     council_config_free(cfg);
 *
 * Every setting of a member is resolved when the file is read: a member
 * that does not say its timeout inherits [council]'s, which has a default.
 * A loaded council is read-only and may be shared between threads.
 */
#ifndef DX_COUNCIL_CONFIG_H
#define DX_COUNCIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/limits.h"
#include "core/status.h"

/* Defaults for settings a file leaves out. */
#define COUNCIL_DEFAULT_TIMEOUT_S 120.0
#define COUNCIL_DEFAULT_FIRST_BYTE_S 30.0
#define COUNCIL_DEFAULT_MAX_TOKENS 512
#define COUNCIL_DEFAULT_MAX_ATTEMPTS 3

typedef enum member_kind { MEMBER_LOCAL, MEMBER_REMOTE } member_kind;

/* The wire format a remote member speaks (remote.c has one adapter each). */
typedef enum member_api {
    MEMBER_API_OPENAI,    /* POST {base_url}/chat/completions, SSE ending in [DONE] */
    MEMBER_API_ANTHROPIC, /* POST {base_url}/messages, SSE message_start ... message_stop */
    MEMBER_API_GEMINI,    /* POST {base_url}/models/{model}:streamGenerateContent?alt=sse */
} member_api;

typedef struct member_config {
    const char *name; /* from [member.NAME]; unique in the council */
    member_kind kind;
    const char *model;       /* local: cache name or path of a GGUF; remote: model id */
    const char *base_url;    /* remote: e.g. https://api.openai.com/v1 (no trailing /) */
    const char *api_key_env; /* remote: environment variable holding the key, or NULL */
    const char *api_key;     /* remote: the key itself, set at run time (a signed-in user's
                                own key), never from a file; overrides api_key_env */
    member_api api;          /* remote: wire format */
    const char *provider;    /* remote: "openai", "anthropic", ... as configured, or NULL */
    bool premium;            /* a paid provider (remote unless tier = free); local: false */
    bool has_price;          /* input_price / output_price were given (or built in) */
    bool price_builtin;      /* they come from council_builtin_price, not the config */
    double input_price;      /* USD per million prompt tokens */
    double output_price;     /* USD per million completion tokens */
    const char **headers;    /* remote: extra "Name: value" lines */
    size_t n_headers;
    const char *system_prompt; /* NULL: none */
    bool has_temperature, has_top_p, has_seed;
    double temperature; /* valid when has_temperature */
    double top_p;       /* valid when has_top_p */
    uint64_t seed;      /* valid when has_seed */
    int max_tokens;     /* answer length cap, tokens */
    /* The context window in tokens that a thread's earlier turns are fitted
     * into (the oldest left out first). Local: the session's context (0: the
     * model's, at most 4096); remote: the model's window (0: unknown, every
     * turn is sent). */
    int context;
    double timeout_s;            /* whole answer, retries included */
    double first_byte_timeout_s; /* remote: per attempt, until the first byte */
    int max_attempts;            /* remote: 1 + retries */
    int line;                    /* where [member.NAME] is in the file; 0 if not from a file */
} member_config;

typedef struct council_config {
    const char *source; /* file name for messages, or "(models in cache)" */
    double timeout_s;
    int max_tokens;
    const char *synthesizer; /* a member name, or NULL (the caller picks) */
    /* The member whose answer leads when the members agree on nothing, or
     * agree on the direct answer: the council's most accurate on drux eval
     * (docs/models.md). NULL: the synthesizer writes every answer. */
    const char *strongest;
    const char *embedder;      /* a GGUF cache name or path, or NULL */
    const char *system_prompt; /* default for members; NULL: none */
    /* Local members one after another, each with every thread, instead of
     * all at once (schedule = one_at_a_time; docs/config.md). */
    bool one_at_a_time;
    member_config members[DX_MAX_MEMBERS];
    size_t n_members;
    /* [server]: settings of `drux serve`, kept in the same file (the council
     * itself ignores them; docs/config.md). Comma lists, NULL when unset. */
    struct {
        const char *allowed_hosts;   /* host names answered besides loopback */
        const char *trusted_proxies; /* numeric proxy addresses, checked here */
    } server;
    arena mem; /* owns every string above */
} council_config;

/* Parse INI text (len bytes, need not be NUL-terminated). `source` names it
 * in messages ("drux.ini:12: unknown key 'temprature' in [member.gpt]").
 * On failure *out is NULL and the message names the first problem with its
 * line; DX_EFORMAT for bad syntax or values, DX_ELIMIT past a limit. */
dx_status council_config_parse(const char *text, size_t len, const char *source,
                               council_config **out);

/* Read and parse a file (at most DX_MAX_CONFIG_BYTES). */
dx_status council_config_load(const char *path, council_config **out);

/* A council of one local member per *.gguf in dir (and its direct
 * subdirectories), in name order, at most DX_MAX_MEMBERS. DX_ENOTFOUND
 * when there are none. */
dx_status council_config_from_models(const char *dir, council_config **out);

/* The named council preset (hub/preset.h) over the models in dir: its
 * members with their answer budgets, its synthesizer, and its embedder when
 * that is cached. DX_ENOTFOUND for an unknown preset or a member whose file
 * is not in dir (the message says how to pull it). */
dx_status council_config_from_preset(const char *preset, const char *dir, council_config **out);

/* Where the config file is: `explicit_path` (from --config) if not NULL,
 * else $DRUX_CONFIG, else $XDG_CONFIG_HOME/drux/drux.ini, else
 * ~/.config/drux/drux.ini. An explicit path (flag or $DRUX_CONFIG) that does
 * not exist is DX_ENOTFOUND with a message; for the default places
 * DX_ENOTFOUND means "no file, use the cache". */
dx_status council_config_locate(const char *explicit_path, char *buf, size_t cap);

/* The council drux uses: the file council_config_locate finds; else (no
 * explicit path and no file in the default places) the preset named by
 * $DRUX_COUNCIL ("cache": every model in the cache), else the first preset
 * (default, small) whose models are all in council_models_dir, else every
 * model there. Failures carry the message to show. */
dx_status council_config_open(const char *explicit_path, council_config **out);

/* The model cache: $DRUX_HOME/models, else $XDG_DATA_HOME/drux/models,
 * else ~/.local/share/drux/models. Writes into buf and returns it. */
const char *council_models_dir(char *buf, size_t cap);

/* The member called name, or NULL. */
const member_config *council_config_member(const council_config *cfg, const char *name);

const char *member_kind_str(member_kind k);
const char *member_api_str(member_api a);             /* "openai", "anthropic", "gemini" */
const char *member_tier_str(const member_config *mc); /* "premium" or "free" */
/* The built-in list price (USD per million prompt / completion tokens) of a
 * provider's model (docs/config.md); false when it has none. */
bool council_builtin_price(const char *provider, const char *model, double *in, double *out);

/* Estimated cost in USD of one answer: prompt and completion tokens times
 * the member's prices (an unknown prompt count, < 0, counts as 0). -1 when
 * it can't be known: a premium member without prices. A free member
 * without prices costs 0. */
double member_cost_usd(const member_config *mc, int prompt_tokens, int completion_tokens);

/* Frees everything; NULL is a no-op. */
void council_config_free(council_config *cfg);

#endif
