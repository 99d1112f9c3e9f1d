#include "council/config.h"

#include "gguf/gguf.h"
#include "hub/preset.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/str.h"

/* Per-member settings seen so far, so a later [council] value can still be
 * inherited and a repeated key is caught. */
enum {
    K_TYPE = 1u << 0,
    K_MODEL = 1u << 1,
    K_BASE_URL = 1u << 2,
    K_API_KEY_ENV = 1u << 3,
    K_TEMPERATURE = 1u << 4,
    K_SEED = 1u << 5,
    K_TOP_P = 1u << 6,
    K_MAX_TOKENS = 1u << 7,
    K_TIMEOUT = 1u << 8,
    K_SYSTEM = 1u << 9,
    K_FIRST_BYTE = 1u << 10,
    K_ATTEMPTS = 1u << 11,
    K_SYNTH = 1u << 12,
    K_EMBED = 1u << 13,
    K_PROVIDER = 1u << 14,
    K_API = 1u << 15,
    K_TIER = 1u << 16,
    K_IN_PRICE = 1u << 17,
    K_OUT_PRICE = 1u << 18,
    K_SCHEDULE = 1u << 19,
    K_CONTEXT = 1u << 20,
    K_STRONGEST = 1u << 21,
};

/* Providers drux knows: the wire format, API root and key variable a
 * member gets when it names one and leaves those out. */
static const struct provider_info {
    const char *name;
    member_api api;
    const char *base_url;
    const char *key_env;
} providers[] = {
    {"openai", MEMBER_API_OPENAI, "https://api.openai.com/v1", "OPENAI_API_KEY"},
    {"xai", MEMBER_API_OPENAI, "https://api.x.ai/v1", "XAI_API_KEY"},
    {"deepseek", MEMBER_API_OPENAI, "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"},
    {"perplexity", MEMBER_API_OPENAI, "https://api.perplexity.ai", "PERPLEXITY_API_KEY"},
    {"openrouter", MEMBER_API_OPENAI, "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"},
    {"together", MEMBER_API_OPENAI, "https://api.together.xyz/v1", "TOGETHER_API_KEY"},
    {"anthropic", MEMBER_API_ANTHROPIC, "https://api.anthropic.com/v1", "ANTHROPIC_API_KEY"},
    {"gemini", MEMBER_API_GEMINI, "https://generativelanguage.googleapis.com/v1beta",
     "GEMINI_API_KEY"},
};

static const struct provider_info *provider_find(const char *name)
{
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++)
        if (!strcmp(providers[i].name, name))
            return &providers[i];
    return NULL;
}

/* List prices in USD per million tokens (prompt, completion), as the
 * providers published them in 2025, for a premium member whose config gives
 * none; input_price / output_price in its section override them. A model
 * id matches the longest entry it starts with ("claude-sonnet-4-5-20250929"
 * -> "claude-sonnet-4-5"). Only direct providers: a router's (OpenRouter,
 * Together) prices are its own. */
static const struct price_info {
    const char *provider, *model;
    double in, out;
} prices[] = {
    {"openai", "gpt-5", 1.25, 10.00},
    {"openai", "gpt-5-mini", 0.25, 2.00},
    {"openai", "gpt-5-nano", 0.05, 0.40},
    {"openai", "gpt-4.1", 2.00, 8.00},
    {"openai", "gpt-4.1-mini", 0.40, 1.60},
    {"openai", "gpt-4.1-nano", 0.10, 0.40},
    {"openai", "gpt-4o", 2.50, 10.00},
    {"openai", "gpt-4o-mini", 0.15, 0.60},
    {"openai", "o3", 2.00, 8.00},
    {"openai", "o4-mini", 1.10, 4.40},
    {"anthropic", "claude-opus-4", 15.00, 75.00},
    {"anthropic", "claude-opus-4-5", 5.00, 25.00},
    {"anthropic", "claude-sonnet-4", 3.00, 15.00},
    {"anthropic", "claude-3-7-sonnet", 3.00, 15.00},
    {"anthropic", "claude-haiku-4-5", 1.00, 5.00},
    {"anthropic", "claude-3-5-haiku", 0.80, 4.00},
    {"gemini", "gemini-2.5-pro", 1.25, 10.00},
    {"gemini", "gemini-2.5-flash", 0.30, 2.50},
    {"gemini", "gemini-2.5-flash-lite", 0.10, 0.40},
    {"gemini", "gemini-2.0-flash", 0.10, 0.40},
    {"xai", "grok-4", 3.00, 15.00},
    {"xai", "grok-3", 3.00, 15.00},
    {"xai", "grok-3-mini", 0.30, 0.50},
    {"deepseek", "deepseek-chat", 0.28, 0.42},
    {"deepseek", "deepseek-reasoner", 0.28, 0.42},
};

bool council_builtin_price(const char *provider, const char *model, double *in, double *out)
{
    const struct price_info *best = NULL;
    size_t best_len = 0;
    if (!provider || !model)
        return false;
    if (!strncmp(model, "models/", 7)) /* Gemini's own prefix */
        model += 7;
    for (size_t i = 0; i < sizeof prices / sizeof prices[0]; i++) {
        size_t n = strlen(prices[i].model);
        if (!strcmp(prices[i].provider, provider) && !strncmp(model, prices[i].model, n) &&
            (model[n] == '\0' || model[n] == '-' || model[n] == '@') && n > best_len) {
            best = &prices[i];
            best_len = n;
        }
    }
    if (best) {
        *in = best->in;
        *out = best->out;
    }
    return best != NULL;
}

static const char *const council_keys[] = {
    "timeout_s",    "max_tokens",    "synthesizer",
    "embedder",     "system_prompt", "first_byte_timeout_s",
    "max_attempts", "schedule",      "strongest",
    NULL,
};
static const char *const server_keys[] = {"allowed_hosts", "trusted_proxies", NULL};
static const char *const member_keys[] = {
    "type",
    "model",
    "base_url",
    "api_key_env",
    "header",
    "temperature",
    "seed",
    "top_p",
    "max_tokens",
    "timeout_s",
    "first_byte_timeout_s",
    "max_attempts",
    "system_prompt",
    "provider",
    "api",
    "tier",
    "input_price",
    "output_price",
    "context",
    NULL,
};

typedef struct parser {
    council_config *cfg;
    const char *source;
    const char *text;
    size_t len, pos;
    int line;           /* line the reader handed out last */
    bool line_indented; /* it starts with a blank: inih may treat it as a continuation */
    dx_status st;       /* first problem found */
    int err_line;
    unsigned council_set;
    unsigned member_set[DX_MAX_MEMBERS];
    char last_section[DX_MAX_MEMBER_NAME + 16];
    char last_name[32];
    bool council_seen, server_seen;
    int council_attempts; /* [council] defaults members inherit */
    double council_first_byte;
} parser;

/* Records the first problem only; later ones are usually its echoes. */
static void perr(parser *p, dx_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void perr(parser *p, dx_status st, const char *fmt, ...)
{
    if (p->st)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->st = dx_fail(st, "%s:%d: %s", p->source, p->line, msg);
    p->err_line = p->line;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 31 || lb > 31)
        return 99;
    size_t prev[32], cur[32];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof prev);
    }
    return prev[lb];
}

static const char *closest(const char *word, const char *const *choices)
{
    const char *best = NULL;
    size_t bd = 3; /* suggest only near misses */
    for (size_t i = 0; choices[i]; i++) {
        size_t d = edit_distance(word, choices[i]);
        if (d < bd) {
            bd = d;
            best = choices[i];
        }
    }
    return best;
}

static bool valid_member_name(const char *s)
{
    if (!*s || strlen(s) >= DX_MAX_MEMBER_NAME)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return false;
    return true;
}

static member_config *member_find(council_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_members; i++)
        if (!strcmp(c->members[i].name, name))
            return &c->members[i];
    return NULL;
}

static member_config *member_add(parser *p, const char *name)
{
    council_config *c = p->cfg;
    if (!valid_member_name(name)) {
        perr(p, DX_EFORMAT,
             "bad member name '%.80s' (use letters, digits, '_', '-', '.'; at most %u bytes)", name,
             DX_MAX_MEMBER_NAME - 1);
        return NULL;
    }
    if (c->n_members >= DX_MAX_MEMBERS) {
        perr(p, DX_ELIMIT, "more than %u members", DX_MAX_MEMBERS);
        return NULL;
    }
    member_config *m = &c->members[c->n_members++];
    memset(m, 0, sizeof *m);
    m->name = arena_strdup(&c->mem, name);
    m->kind = MEMBER_LOCAL;
    m->line = p->line;
    if (!m->name) {
        perr(p, DX_ENOMEM, "out of memory");
        c->n_members--;
        return NULL;
    }
    return m;
}

/* Section lines are seen here, in the raw text, so that a section with no
 * keys still becomes a member (and is then reported as incomplete) and a
 * repeated section is caught with both line numbers. */
static void reader_section(parser *p, const char *s, size_t n)
{
    if (p->line == 1 && n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
        s += 3, n -= 3;
    if (!n || *s != '[')
        return;
    const char *end = memchr(s, ']', n);
    if (!end)
        return; /* inih reports the syntax error */
    char name[DX_MAX_MEMBER_NAME + 16];
    size_t len = (size_t)(end - s - 1);
    if (len >= sizeof name) {
        perr(p, DX_EFORMAT, "section name too long");
        return;
    }
    memcpy(name, s + 1, len);
    name[len] = 0;
    if (!strcmp(name, "council")) {
        if (p->council_seen)
            perr(p, DX_EFORMAT, "[council] appears twice");
        p->council_seen = true;
        return;
    }
    if (!strcmp(name, "server")) {
        if (p->server_seen)
            perr(p, DX_EFORMAT, "[server] appears twice");
        p->server_seen = true;
        return;
    }
    if (strncmp(name, "member.", 7)) {
        perr(p, DX_EFORMAT, "unknown section [%s] (expected [council], [member.NAME] or [server])",
             name);
        return;
    }
    member_config *m = member_find(p->cfg, name + 7);
    if (m) {
        perr(p, DX_EFORMAT, "[%s] appears twice (first at line %d)", name, m->line);
        return;
    }
    member_add(p, name + 7);
}

static char *reader(char *str, int num, void *stream)
{
    parser *p = stream;
    if (p->pos >= p->len || num < 4)
        return NULL;
    const char *s = p->text + p->pos;
    size_t rem = p->len - p->pos;
    const char *nl = memchr(s, '\n', rem);
    size_t n = nl ? (size_t)(nl - s) + 1 : rem;
    p->pos += n;
    p->line++;
    p->line_indented = n > 0 && (*s == ' ' || *s == '\t');
    if (memchr(s, '\0', n)) {
        perr(p, DX_EFORMAT, "NUL byte in line (is this a text file?)");
        strcpy(str, ";\n");
        return str;
    }
    size_t content = n;
    while (content && (s[content - 1] == '\n' || s[content - 1] == '\r'))
        content--;
    if (content + 3 > (size_t)num || n + 1 > (size_t)num) { /* inih wants 3 spare bytes */
        perr(p, DX_ELIMIT,
             "line longer than %d bytes (split a long system_prompt over indented lines)", num - 3);
        strcpy(str, ";\n");
        return str;
    }
    memcpy(str, s, n);
    str[n] = 0;
    reader_section(p, s, n);
    return str;
}

static const char *save(parser *p, const char *v)
{
    if (strlen(v) > DX_MAX_CONFIG_VALUE) {
        perr(p, DX_ELIMIT, "value longer than %u bytes", DX_MAX_CONFIG_VALUE);
        return NULL;
    }
    const char *s = arena_strdup(&p->cfg->mem, v);
    if (!s)
        perr(p, DX_ENOMEM, "out of memory");
    return s;
}

/* Appends a continuation line to a multi-line value (system_prompt). */
static const char *append(parser *p, const char *prev, const char *v)
{
    size_t a = strlen(prev), b = strlen(v);
    if (a + 1 + b > DX_MAX_CONFIG_VALUE) {
        perr(p, DX_ELIMIT, "value longer than %u bytes", DX_MAX_CONFIG_VALUE);
        return NULL;
    }
    char *s = arena_alloc(&p->cfg->mem, a + b + 2);
    if (!s) {
        perr(p, DX_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(s, prev, a);
    s[a] = '\n';
    memcpy(s + a + 1, v, b + 1);
    return s;
}

static bool parse_double(parser *p, const char *key, const char *v, double lo, double hi,
                         bool lo_open, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(d) || d > hi || d < lo || (lo_open && d == lo)) {
        perr(p, DX_EFORMAT, "%s = '%.40s': expected a number %s %g and <= %g", key, v,
             lo_open ? ">" : ">=", lo, hi);
        return false;
    }
    *out = d;
    return true;
}

static bool parse_int(parser *p, const char *key, const char *v, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi) {
        perr(p, DX_EFORMAT, "%s = '%.40s': expected a whole number from %ld to %ld", key, v, lo,
             hi);
        return false;
    }
    *out = (int)n;
    return true;
}

static bool parse_u64(parser *p, const char *key, const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*v)) {
        perr(p, DX_EFORMAT, "%s = '%.40s': expected a whole number >= 0", key, v);
        return false;
    }
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || errno) {
        perr(p, DX_EFORMAT, "%s = '%.40s': expected a whole number below 2^64", key, v);
        return false;
    }
    *out = n;
    return true;
}

static bool valid_env_name(const char *s)
{
    if (!*s || strlen(s) > 255 || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

static bool valid_header(const char *v)
{
    const char *colon = strchr(v, ':');
    if (!colon || colon == v)
        return false;
    for (const char *s = v; s < colon; s++) /* RFC 9110 token characters */
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    for (const char *s = colon + 1; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\t')
            return false;
    return true;
}

/* Shared by [council] and [member.X]: the settings a member inherits. */
static bool common_key(parser *p, const char *name, const char *v, unsigned *set, double *timeout,
                       double *first_byte, int *max_tokens, int *attempts,
                       const char **system_prompt)
{
    if (!strcmp(name, "timeout_s")) {
        *set |= K_TIMEOUT;
        parse_double(p, name, v, 0, 86400, true, timeout);
    } else if (!strcmp(name, "first_byte_timeout_s")) {
        *set |= K_FIRST_BYTE;
        parse_double(p, name, v, 0, 86400, true, first_byte);
    } else if (!strcmp(name, "max_tokens")) {
        *set |= K_MAX_TOKENS;
        parse_int(p, name, v, 1, DX_MAX_CONTEXT, max_tokens);
    } else if (!strcmp(name, "max_attempts")) {
        *set |= K_ATTEMPTS;
        parse_int(p, name, v, 1, DX_MAX_ATTEMPTS, attempts);
    } else if (!strcmp(name, "system_prompt")) {
        *set |= K_SYSTEM;
        *system_prompt = save(p, v);
    } else {
        return false;
    }
    return true;
}

static unsigned key_bit(const char *name)
{
    static const struct {
        const char *k;
        unsigned bit;
    } bits[] = {
        {"type", K_TYPE},
        {"model", K_MODEL},
        {"base_url", K_BASE_URL},
        {"api_key_env", K_API_KEY_ENV},
        {"temperature", K_TEMPERATURE},
        {"seed", K_SEED},
        {"top_p", K_TOP_P},
        {"max_tokens", K_MAX_TOKENS},
        {"timeout_s", K_TIMEOUT},
        {"system_prompt", K_SYSTEM},
        {"first_byte_timeout_s", K_FIRST_BYTE},
        {"max_attempts", K_ATTEMPTS},
        {"synthesizer", K_SYNTH},
        {"embedder", K_EMBED},
        {"provider", K_PROVIDER},
        {"api", K_API},
        {"tier", K_TIER},
        {"input_price", K_IN_PRICE},
        {"output_price", K_OUT_PRICE},
        {"schedule", K_SCHEDULE},
        {"strongest", K_STRONGEST},
        {"context", K_CONTEXT},
    };
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        if (!strcmp(name, bits[i].k))
            return bits[i].bit;
    return 0;
}

static void unknown_key(parser *p, const char *name, const char *section, const char *const *keys)
{
    const char *near = closest(name, keys);
    if (near)
        perr(p, DX_EFORMAT, "unknown key '%.60s' in [%s] (did you mean '%s'?)", name, section,
             near);
    else
        perr(p, DX_EFORMAT, "unknown key '%.60s' in [%s]", name, section);
}

static void council_key(parser *p, const char *name, const char *v)
{
    council_config *c = p->cfg;
    unsigned bit = key_bit(name);
    if (bit && (p->council_set & bit)) {
        perr(p, DX_EFORMAT, "'%s' set twice in [council]", name);
        return;
    }
    if (common_key(p, name, v, &p->council_set, &c->timeout_s, &p->council_first_byte,
                   &c->max_tokens, &p->council_attempts, &c->system_prompt))
        return;
    if (!strcmp(name, "synthesizer")) {
        p->council_set |= K_SYNTH;
        c->synthesizer = save(p, v);
    } else if (!strcmp(name, "strongest")) {
        p->council_set |= K_STRONGEST;
        c->strongest = save(p, v);
    } else if (!strcmp(name, "embedder")) {
        p->council_set |= K_EMBED;
        c->embedder = save(p, v);
    } else if (!strcmp(name, "schedule")) {
        p->council_set |= K_SCHEDULE;
        if (!strcmp(v, "together"))
            c->one_at_a_time = false;
        else if (!strcmp(v, "one_at_a_time"))
            c->one_at_a_time = true;
        else
            perr(p, DX_EFORMAT, "schedule must be 'together' or 'one_at_a_time', not '%.40s'", v);
    } else {
        unknown_key(p, name, "council", council_keys);
    }
}

/* [server] allowed_hosts / trusted_proxies: comma lists; proxies must be
 * numeric addresses (the server compares them with the connecting peer). */
static void server_key(parser *p, const char *name, const char *v)
{
    council_config *c = p->cfg;
    const char **dst = !strcmp(name, "allowed_hosts")     ? &c->server.allowed_hosts
                       : !strcmp(name, "trusted_proxies") ? &c->server.trusted_proxies
                                                          : NULL;
    if (!dst) {
        unknown_key(p, name, "server", server_keys);
        return;
    }
    if (*dst) {
        perr(p, DX_EFORMAT, "'%s' set twice in [server] (give one comma list)", name);
        return;
    }
    for (const char *q = v; dst == &c->server.trusted_proxies && *q;) {
        q += strspn(q, " ,\t");
        size_t len = strcspn(q, " ,\t");
        char a[64];
        unsigned char bin[16];
        if (!len)
            break;
        snprintf(a, sizeof a, "%.*s", (int)(len < 63 ? len : 63), q);
        if (len > 63 || (inet_pton(AF_INET, a, bin) != 1 && inet_pton(AF_INET6, a, bin) != 1)) {
            perr(p, DX_EFORMAT, "trusted_proxies: '%.40s' is not a numeric IPv4 or IPv6 address",
                 a);
            return;
        }
        q += len;
    }
    *dst = save(p, v);
}

/* The keys of what a member is and how it is reached: type, model, base_url, api_key_env, header,
 * provider, api. True when name was one of them. */
static bool where_key(parser *p, member_config *m, unsigned *set, const char *name, const char *v)
{
    if (!strcmp(name, "type")) {
        *set |= K_TYPE;
        if (!strcmp(v, "local"))
            m->kind = MEMBER_LOCAL;
        else if (!strcmp(v, "remote"))
            m->kind = MEMBER_REMOTE;
        else
            perr(p, DX_EFORMAT, "type = '%.40s': expected 'local' or 'remote'", v);
    } else if (!strcmp(name, "model")) {
        *set |= K_MODEL;
        if (!*v)
            perr(p, DX_EFORMAT, "model is empty");
        m->model = save(p, v);
    } else if (!strcmp(name, "base_url")) {
        *set |= K_BASE_URL;
        if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
            perr(p, DX_EFORMAT, "base_url = '%.80s': expected http://... or https://...", v);
            return true;
        }
        char *u = (char *)save(p, v);
        if (u)
            for (size_t n = strlen(u); n > 8 && u[n - 1] == '/'; n--)
                u[n - 1] = 0;
        m->base_url = u;
    } else if (!strcmp(name, "api_key_env")) {
        *set |= K_API_KEY_ENV;
        if (!valid_env_name(v))
            perr(p, DX_EFORMAT,
                 "api_key_env = '%.40s': expected the NAME of an environment variable "
                 "(the key itself does not belong in the file)",
                 v);
        m->api_key_env = save(p, v);
    } else if (!strcmp(name, "header")) {
        if (!valid_header(v)) {
            perr(p, DX_EFORMAT, "header = '%.60s': expected 'Name: value'", v);
            return true;
        }
        if (m->n_headers >= DX_MAX_MEMBER_HEADERS) {
            perr(p, DX_ELIMIT, "more than %u headers in [member.%s]", DX_MAX_MEMBER_HEADERS,
                 m->name);
            return true;
        }
        if (!m->headers)
            m->headers = arena_alloc_array(&p->cfg->mem, DX_MAX_MEMBER_HEADERS, sizeof *m->headers);
        const char *h = save(p, v);
        if (m->headers && h)
            m->headers[m->n_headers++] = h;
        else
            perr(p, DX_ENOMEM, "out of memory");
    } else if (!strcmp(name, "provider")) {
        *set |= K_PROVIDER;
        if (!provider_find(v)) {
            perr(p, DX_EFORMAT,
                 "provider = '%.40s': expected openai, xai, deepseek, perplexity, openrouter, "
                 "together, anthropic or gemini (any other OpenAI-compatible server: leave "
                 "provider out and set base_url)",
                 v);
            return true;
        }
        m->provider = save(p, v);
    } else if (!strcmp(name, "api")) {
        *set |= K_API;
        if (!strcmp(v, "openai"))
            m->api = MEMBER_API_OPENAI;
        else if (!strcmp(v, "anthropic"))
            m->api = MEMBER_API_ANTHROPIC;
        else if (!strcmp(v, "gemini"))
            m->api = MEMBER_API_GEMINI;
        else
            perr(p, DX_EFORMAT, "api = '%.40s': expected openai, anthropic or gemini", v);
    } else {
        return false;
    }
    return true;
}

/* A member's sampling, tier, context and price keys. True when name was one of them. */
static bool answer_key(parser *p, member_config *m, unsigned *set, const char *name, const char *v)
{
    if (!strcmp(name, "temperature")) {
        *set |= K_TEMPERATURE;
        m->has_temperature = parse_double(p, name, v, 0, 10, false, &m->temperature);
    } else if (!strcmp(name, "top_p")) {
        *set |= K_TOP_P;
        m->has_top_p = parse_double(p, name, v, 0, 1, true, &m->top_p);
    } else if (!strcmp(name, "seed")) {
        *set |= K_SEED;
        m->has_seed = parse_u64(p, name, v, &m->seed);
    } else if (!strcmp(name, "tier")) {
        *set |= K_TIER;
        if (!strcmp(v, "premium"))
            m->premium = true;
        else if (!strcmp(v, "free"))
            m->premium = false;
        else
            perr(p, DX_EFORMAT, "tier = '%.40s': expected 'free' or 'premium'", v);
    } else if (!strcmp(name, "input_price")) {
        *set |= K_IN_PRICE;
        m->has_price = true;
        parse_double(p, name, v, 0, 1e6, false, &m->input_price);
    } else if (!strcmp(name, "context")) {
        *set |= K_CONTEXT;
        parse_int(p, name, v, 64, DX_MAX_CONTEXT, &m->context);
    } else if (!strcmp(name, "output_price")) {
        *set |= K_OUT_PRICE;
        m->has_price = true;
        parse_double(p, name, v, 0, 1e6, false, &m->output_price);
    } else {
        return false;
    }
    return true;
}

static void member_key(parser *p, member_config *m, const char *name, const char *v)
{
    council_config *c = p->cfg;
    unsigned *set = &p->member_set[m - c->members];
    unsigned bit = key_bit(name);
    if (bit && (*set & bit)) {
        perr(p, DX_EFORMAT, "'%s' set twice in [member.%s]", name, m->name);
        return;
    }
    if (common_key(p, name, v, set, &m->timeout_s, &m->first_byte_timeout_s, &m->max_tokens,
                   &m->max_attempts, &m->system_prompt) ||
        where_key(p, m, set, name, v) || answer_key(p, m, set, name, v))
        return;
    char sec[DX_MAX_MEMBER_NAME + 16];
    snprintf(sec, sizeof sec, "member.%s", m->name);
    unknown_key(p, name, sec, member_keys);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    parser *p = user;
    if (p->st)
        return 1;
    bool cont =
        p->line_indented && !strcmp(section, p->last_section) && !strcmp(name, p->last_name);
    if (cont) {
        if (strcmp(name, "system_prompt")) {
            perr(p, DX_EFORMAT, "indented line continues '%s'; only system_prompt may span lines",
                 name);
            return 1;
        }
        const char **sp;
        if (!strcmp(section, "council")) {
            sp = &p->cfg->system_prompt;
        } else {
            member_config *m = member_find(p->cfg, section + 7);
            if (!m)
                return 1;
            sp = &m->system_prompt;
        }
        if (*sp)
            *sp = append(p, *sp, value);
        return 1;
    }
    snprintf(p->last_section, sizeof p->last_section, "%s", section);
    snprintf(p->last_name, sizeof p->last_name, "%s", name);
    size_t vlen = strlen(value);
    if (vlen >= 2 && strcmp(name, "system_prompt") && strcmp(name, "header") &&
        ((value[0] == '"' && value[vlen - 1] == '"') ||
         (value[0] == '\'' && value[vlen - 1] == '\''))) {
        perr(p, DX_EFORMAT, "%s = %.80s: values are written without quotes (%s = %.*s)", name,
             value, name, (int)(vlen - 2 > 60 ? 60 : vlen - 2), value + 1);
        return 1;
    }
    if (!*section) {
        perr(p, DX_EFORMAT, "'%.60s' comes before any [section]", name);
    } else if (!strcmp(section, "council")) {
        council_key(p, name, value);
    } else if (!strcmp(section, "server")) {
        server_key(p, name, value);
    } else if (!strncmp(section, "member.", 7)) {
        member_config *m = member_find(p->cfg, section + 7);
        if (!m)
            m = member_add(p, section + 7);
        if (m)
            member_key(p, m, name, value);
    }
    /* other sections were reported by the reader */
    return 1;
}

/* "~/x" -> "$HOME/x" for paths of local models; anything else unchanged. */
static const char *expand_home(parser *p, const char *path)
{
    const char *home = getenv("HOME");
    if (!path || strncmp(path, "~/", 2) || !home || !*home)
        return path;
    size_t n = strlen(home) + strlen(path);
    char *s = arena_alloc(&p->cfg->mem, n);
    if (!s) {
        perr(p, DX_ENOMEM, "out of memory");
        return path;
    }
    snprintf(s, n, "%s%s", home, path + 1);
    return s;
}

/* Inherit [council] settings and check what single lines can't. */
static void resolve(parser *p)
{
    council_config *c = p->cfg;
    int attempts = p->council_attempts;
    double first_byte = p->council_first_byte;
    for (size_t i = 0; i < c->n_members && !p->st; i++) {
        member_config *m = &c->members[i];
        unsigned set = p->member_set[i];
        p->line = m->line;
        if (!(set & K_TYPE) && (set & (K_BASE_URL | K_PROVIDER | K_API)))
            m->kind = MEMBER_REMOTE;
        const struct provider_info *pi = m->provider ? provider_find(m->provider) : NULL;
        if (pi && m->kind == MEMBER_REMOTE) {
            if (!(set & K_API))
                m->api = pi->api;
            if (!m->base_url)
                m->base_url = pi->base_url;
            if (!(set & K_API_KEY_ENV))
                m->api_key_env = pi->key_env;
        }
        if (!(set & K_TIER))
            m->premium = m->kind == MEMBER_REMOTE;
        if (m->premium && !m->has_price && m->model &&
            council_builtin_price(m->provider, m->model, &m->input_price, &m->output_price))
            m->has_price = m->price_builtin = true;
        if (!(set & K_TIMEOUT))
            m->timeout_s = c->timeout_s;
        if (!(set & K_MAX_TOKENS))
            m->max_tokens = c->max_tokens;
        if (!(set & K_SYSTEM))
            m->system_prompt = c->system_prompt;
        if (!(set & K_ATTEMPTS))
            m->max_attempts = attempts;
        if (!(set & K_FIRST_BYTE))
            m->first_byte_timeout_s = first_byte;
        if (m->first_byte_timeout_s > m->timeout_s)
            m->first_byte_timeout_s = m->timeout_s;
        if (m->kind == MEMBER_LOCAL)
            m->model = expand_home(p, m->model);
        if (!m->model) {
            perr(p, DX_EFORMAT, "[member.%s] has no 'model'", m->name);
        } else if (m->kind == MEMBER_REMOTE && !m->base_url) {
            perr(p, DX_EFORMAT, "[member.%s] is remote but has no 'base_url'", m->name);
        } else if (m->kind == MEMBER_LOCAL && (m->base_url || m->api_key_env || m->n_headers ||
                                               m->provider || (set & K_API))) {
            perr(p, DX_EFORMAT,
                 "[member.%s] is local; base_url, api_key_env, header, provider and api are for "
                 "'type = remote'",
                 m->name);
        } else if (m->kind == MEMBER_LOCAL && m->premium) {
            perr(p, DX_EFORMAT, "[member.%s] is local: it runs on this machine, so tier = free",
                 m->name);
        }
    }
    if (p->st)
        return;
    p->line = 0;
    c->embedder = expand_home(p, c->embedder);
    if (c->n_members == 0) {
        p->st =
            dx_fail(DX_EFORMAT, "%s: no [member.NAME] sections: the council is empty", p->source);
    } else if (c->synthesizer && !member_find(c, c->synthesizer)) {
        p->st = dx_fail(DX_EFORMAT, "%s: synthesizer = '%s' is not a member of the council",
                        p->source, c->synthesizer);
    } else if (c->strongest && !member_find(c, c->strongest)) {
        p->st = dx_fail(DX_EFORMAT, "%s: strongest = '%s' is not a member of the council",
                        p->source, c->strongest);
    }
}

static council_config *config_new(const char *source)
{
    council_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->mem = arena_make(16 << 10, 4u * DX_MAX_CONFIG_BYTES + (1u << 20));
    c->timeout_s = COUNCIL_DEFAULT_TIMEOUT_S;
    c->max_tokens = COUNCIL_DEFAULT_MAX_TOKENS;
    c->source = arena_strdup(&c->mem, source ? source : "(config)");
    if (!c->source) {
        council_config_free(c);
        return NULL;
    }
    return c;
}

dx_status council_config_parse(const char *text, size_t len, const char *source,
                               council_config **out)
{
    *out = NULL;
    if (!source)
        source = "(config)";
    if (len > DX_MAX_CONFIG_BYTES)
        return dx_fail(DX_ELIMIT, "%s: larger than %u bytes", source, DX_MAX_CONFIG_BYTES);
    parser *p = calloc(1, sizeof *p);
    council_config *c = config_new(source);
    dx_status st = DX_OK;
    if (!p || !c) {
        st = dx_fail(DX_ENOMEM, "%s: out of memory", source);
        goto out;
    }
    p->cfg = c;
    p->source = c->source;
    p->council_attempts = COUNCIL_DEFAULT_MAX_ATTEMPTS;
    p->council_first_byte = COUNCIL_DEFAULT_FIRST_BYTE_S;
    p->text = text;
    p->len = len;
    int rc = ini_parse_stream(reader, p, handler, p);
    if (rc > 0 && (!p->st || rc < p->err_line)) {
        /* inih's own complaint: a line that is neither a section nor key = value */
        st = dx_fail(DX_EFORMAT,
                     "%s:%d: syntax error (expected '[section]', 'key = value' or a comment)",
                     p->source, rc);
        goto out;
    }
    if (rc < 0) {
        st = dx_fail(DX_ENOMEM, "%s: inih failed (%d)", p->source, rc);
        goto out;
    }
    if (!p->st)
        resolve(p);
    st = p->st;
out:
    free(p);
    if (st)
        council_config_free(c);
    else
        *out = c;
    return st;
}

dx_status council_config_load(const char *path, council_config **out)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    dx_status st = dx_read_file(path, DX_MAX_CONFIG_BYTES, &text, &len);
    if (st)
        return st;
    st = council_config_parse(text, len, path, out);
    free(text);
    return st;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Collects *.gguf under dir (depth 0 and 1) into paths[], at most max. */
static void scan_models(const char *dir, int depth, char **paths, size_t *n, size_t max)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && *n < max) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path)
            continue;
        struct stat sb;
        if (stat(path, &sb))
            continue;
        if (S_ISDIR(sb.st_mode) && depth == 0)
            scan_models(path, 1, paths, n, max);
        else if (S_ISREG(sb.st_mode) && ends_with(e->d_name, ".gguf"))
            if ((paths[*n] = strdup(path)))
                (*n)++;
    }
    closedir(d);
}

dx_status council_config_from_models(const char *dir, council_config **out)
{
    *out = NULL;
    char *paths[DX_MAX_MEMBERS];
    size_t n = 0;
    dx_status st = DX_OK;
    scan_models(dir, 0, paths, &n, DX_MAX_MEMBERS);
    council_config *c = NULL;
    if (n == 0)
        return dx_fail(DX_ENOTFOUND,
                       "no council config and no models in %s (write a config, see "
                       "docs/config.md, or pull a model)",
                       dir);
    qsort(paths, n, sizeof *paths, cmp_str);
    c = config_new("(models in cache)");
    if (!c) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        /* sentence encoders are not voices: the first one becomes the embedder */
        gguf *g = NULL;
        dx_str arch = {0};
        bool encoder = gguf_open(paths[i], &g) == DX_OK &&
                       gguf_get_str(g, "general.architecture", &arch) && arch.len >= 4 &&
                       memmem(arch.ptr, arch.len, "bert", 4);
        gguf_close(g);
        if (encoder) {
            if (!c->embedder && !(c->embedder = arena_strdup(&c->mem, paths[i]))) {
                st = dx_fail(DX_ENOMEM, "out of memory");
                goto out;
            }
            continue;
        }
        const char *base = strrchr(paths[i], '/') + 1;
        char name[DX_MAX_MEMBER_NAME];
        size_t len = strlen(base) - 5; /* drop ".gguf" */
        if (len >= sizeof name - 4)
            len = sizeof name - 4 - 1;
        if (len == 0)
            name[len++] = 'm';
        for (size_t j = 0; j < len; j++)
            name[j] = isalnum((unsigned char)base[j]) || strchr("_-.", base[j]) ? base[j] : '-';
        name[len] = 0;
        for (int k = 2; member_find(c, name) && k < 100; k++)
            snprintf(name + len, sizeof name - len, "-%d", k);
        member_config *m = &c->members[c->n_members];
        m->name = arena_strdup(&c->mem, name);
        m->model = arena_strdup(&c->mem, paths[i]);
        if (!m->name || !m->model) {
            st = dx_fail(DX_ENOMEM, "out of memory");
            goto out;
        }
        m->kind = MEMBER_LOCAL;
        m->timeout_s = c->timeout_s;
        m->max_tokens = c->max_tokens;
        m->first_byte_timeout_s = COUNCIL_DEFAULT_FIRST_BYTE_S;
        m->max_attempts = 1;
        c->n_members++;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    if (st)
        council_config_free(c);
    else
        *out = c;
    return st;
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* dir/file into the config's arena; NULL when it does not exist (or no memory). */
static const char *model_in(council_config *c, const char *dir, const char *file)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path ||
        !file_exists(path))
        return NULL;
    return arena_strdup(&c->mem, path);
}

dx_status council_config_from_preset(const char *preset, const char *dir, council_config **out)
{
    *out = NULL;
    const hub_preset *p = hub_preset_find(preset);
    if (!p)
        return dx_fail(DX_ENOTFOUND, "no council preset '%s' (there are: default, small)", preset);
    char source[96];
    snprintf(source, sizeof source, "(preset %s)", p->name);
    council_config *c = config_new(source);
    if (!c)
        return dx_fail(DX_ENOMEM, "out of memory");
    dx_status st = DX_OK;
    for (size_t i = 0; i < p->n_members; i++) {
        const hub_preset_model *pm = &p->members[i];
        member_config *m = &c->members[c->n_members++];
        m->name = pm->name;
        if (!(m->model = model_in(c, dir, pm->file))) {
            st =
                dx_fail(DX_ENOTFOUND, "council preset %s: %s is not in %s (drux pull --council %s)",
                        p->name, pm->file, dir, p->name);
            goto out;
        }
        m->kind = MEMBER_LOCAL;
        m->timeout_s = c->timeout_s;
        m->max_tokens = pm->max_tokens > 0 ? pm->max_tokens : c->max_tokens;
        m->first_byte_timeout_s = COUNCIL_DEFAULT_FIRST_BYTE_S;
        m->max_attempts = 1;
    }
    c->synthesizer = p->synthesizer;
    c->strongest = p->strongest;
    /* without the sentence encoder the council still works, matching words */
    c->embedder = model_in(c, dir, p->embedder.file);
out:
    if (st)
        council_config_free(c);
    else
        *out = c;
    return st;
}

static dx_status put_path(char *buf, size_t cap, const char *a, const char *b)
{
    if ((size_t)snprintf(buf, cap, "%s%s", a, b) >= cap)
        return dx_fail(DX_ELIMIT, "path too long: %s%s", a, b);
    return DX_OK;
}

dx_status council_config_locate(const char *explicit_path, char *buf, size_t cap)
{
    const char *env = getenv("DRUX_CONFIG");
    const char *given = explicit_path ? explicit_path : (env && *env ? env : NULL);
    if (given) {
        dx_status st = put_path(buf, cap, given, "");
        if (st)
            return st;
        if (!file_exists(buf))
            return dx_fail(DX_ENOTFOUND, "config file %s not found%s", given,
                           explicit_path ? "" : " (named by $DRUX_CONFIG)");
        return DX_OK;
    }
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg) {
        if (put_path(buf, cap, xdg, "/drux/drux.ini") == DX_OK && file_exists(buf))
            return DX_OK;
    } else if (home && *home) {
        if (put_path(buf, cap, home, "/.config/drux/drux.ini") == DX_OK && file_exists(buf))
            return DX_OK;
    }
    return dx_fail(DX_ENOTFOUND, "no config file");
}

dx_status council_config_open(const char *explicit_path, council_config **out)
{
    char path[4096];
    *out = NULL;
    dx_status st = council_config_locate(explicit_path, path, sizeof path);
    if (st == DX_OK)
        return council_config_load(path, out);
    const char *env = getenv("DRUX_CONFIG");
    if (st != DX_ENOTFOUND || explicit_path || (env && *env))
        return st;
    const char *dir = council_models_dir(path, sizeof path);
    const char *want = getenv("DRUX_COUNCIL");
    if (want && *want && strcmp(want, "cache"))
        return council_config_from_preset(want, dir, out);
    if (!want || !*want) {
        /* the first preset whose models are all in the cache */
        size_t n;
        const hub_preset *p = hub_presets(&n);
        for (size_t i = 0; i < n; i++)
            if (council_config_from_preset(p[i].name, dir, out) == DX_OK)
                return DX_OK;
    }
    return council_config_from_models(dir, out);
}

const char *council_models_dir(char *buf, size_t cap)
{
    const char *v;
    if ((v = getenv("DRUX_HOME")) && *v)
        snprintf(buf, cap, "%s/models", v);
    else if ((v = getenv("XDG_DATA_HOME")) && *v)
        snprintf(buf, cap, "%s/drux/models", v);
    else
        snprintf(buf, cap, "%s/.local/share/drux/models", (v = getenv("HOME")) && *v ? v : ".");
    return buf;
}

const member_config *council_config_member(const council_config *cfg, const char *name)
{
    return member_find((council_config *)cfg, name);
}

const char *member_kind_str(member_kind k)
{
    return k == MEMBER_REMOTE ? "remote" : "local";
}

const char *member_api_str(member_api a)
{
    return a == MEMBER_API_ANTHROPIC ? "anthropic" : a == MEMBER_API_GEMINI ? "gemini" : "openai";
}

const char *member_tier_str(const member_config *mc)
{
    return mc->premium ? "premium" : "free";
}

double member_cost_usd(const member_config *mc, int prompt_tokens, int completion_tokens)
{
    if (!mc->has_price)
        return mc->premium ? -1 : 0;
    double in = prompt_tokens > 0 ? prompt_tokens : 0;
    double out = completion_tokens > 0 ? completion_tokens : 0;
    return (in * mc->input_price + out * mc->output_price) / 1e6;
}

void council_config_free(council_config *cfg)
{
    if (!cfg)
        return;
    arena_free(&cfg->mem);
    free(cfg);
}
