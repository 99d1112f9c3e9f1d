/* Council: config parsing and validation, the SSE parser, chunk decoding,
 * and the fan-out's deadlines, cancellation and events with local members
 * implemented here through member_ops (the hook the local engine uses). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/limits.h"
#include "council/config.h"
#include "council/fanout.h"
#include "council/remote.h"
#include "council/sse.h"
#include "hub/preset.h"
#include "test.h"

static council_config *parse(const char *text, dx_status *st)
{
    council_config *c = NULL;
    *st = council_config_parse(text, strlen(text), "t.ini", &c);
    return c;
}

/* Expects text to fail with a message containing want. */
#define CHECK_CONFIG_ERR(text, want_st, want)                                                      \
    do {                                                                                           \
        dx_status st_;                                                                             \
        council_config *c_ = parse(text, &st_);                                                    \
        CHECK_MSG(c_ == NULL, "parsed but should fail: %s", want);                                 \
        CHECK_EQ_INT(st_, want_st);                                                                \
        CHECK_MSG(strstr(dx_errmsg(), want), "message \"%s\" lacks \"%s\"", dx_errmsg(), want);    \
    } while (0)

TEST(config_full_council)
{
    const char *text = "; a council of three voices\n"
                       "[council]\n"
                       "timeout_s = 30\n"
                       "max_tokens = 256\n"
                       "synthesizer = smol-a\n"
                       "strongest = smol-b\n"
                       "embedder = bge-small.gguf\n"
                       "\n"
                       "[member.smol-a]\n"
                       "type = local\n"
                       "model = SmolLM2-135M-Instruct.Q4_1.gguf\n"
                       "temperature = 0.2\n"
                       "seed = 1\n"
                       "\n"
                       "[member.smol-b]\n"
                       "model = SmolLM2-135M-Instruct.Q4_1.gguf\n"
                       "temperature = 0.9\n"
                       "seed = 18446744073709551615\n"
                       "top_p = 0.95\n"
                       "\n"
                       "[member.gpt]\n"
                       "type = remote\n"
                       "base_url = https://api.example.com/v1/\n"
                       "model = gpt-4o-mini\n"
                       "api_key_env = EXAMPLE_KEY\n"
                       "header = OpenAI-Organization: org-1\n"
                       "header = X-Trace: on\n"
                       "timeout_s = 10\n"
                       "max_attempts = 5\n"
                       "system_prompt = Answer briefly.\n"
                       "   Cite sources.\n";
    dx_status st;
    council_config *c = parse(text, &st);
    CHECK_MSG(c, "%s", dx_errmsg());
    CHECK_EQ_INT(c->n_members, 3);
    CHECK_STR(c->synthesizer, "smol-a");
    CHECK_STR(c->strongest, "smol-b");
    CHECK_STR(c->embedder, "bge-small.gguf");
    const member_config *a = council_config_member(c, "smol-a");
    const member_config *b = council_config_member(c, "smol-b");
    const member_config *g = council_config_member(c, "gpt");
    CHECK(a && b && g);
    /* the same model twice, as two sampling voices */
    CHECK_STR(a->model, b->model);
    CHECK(a->kind == MEMBER_LOCAL && b->kind == MEMBER_LOCAL);
    CHECK_NEAR(a->temperature, 0.2, 1e-12);
    CHECK_NEAR(b->temperature, 0.9, 1e-12);
    CHECK(a->has_seed && a->seed == 1);
    CHECK(b->has_seed && b->seed == UINT64_MAX);
    CHECK(b->has_top_p && !a->has_top_p);
    /* inherited from [council] */
    CHECK_NEAR(a->timeout_s, 30, 0);
    CHECK_EQ_INT(a->max_tokens, 256);
    CHECK_EQ_INT(a->max_attempts, COUNCIL_DEFAULT_MAX_ATTEMPTS);
    CHECK(a->system_prompt == NULL);
    /* remote */
    CHECK(g->kind == MEMBER_REMOTE);
    CHECK_STR(g->base_url, "https://api.example.com/v1"); /* trailing / dropped */
    CHECK_STR(g->api_key_env, "EXAMPLE_KEY");
    CHECK_EQ_INT(g->n_headers, 2);
    CHECK_STR(g->headers[1], "X-Trace: on");
    CHECK_NEAR(g->timeout_s, 10, 0);
    CHECK_NEAR(g->first_byte_timeout_s, 10, 0); /* never longer than the timeout */
    CHECK_EQ_INT(g->max_attempts, 5);
    CHECK_STR(g->system_prompt, "Answer briefly.\nCite sources.");
    CHECK_EQ_INT(g->line, 21);
    council_config_free(c);
}

TEST(config_council_defaults_after_members)
{
    /* [council] may come last; members still inherit from it */
    dx_status st;
    council_config *c = parse("[member.m]\nmodel = x.gguf\n[council]\ntimeout_s = 7\n"
                              "system_prompt = Be terse.\nmax_attempts = 2\n",
                              &st);
    CHECK_MSG(c, "%s", dx_errmsg());
    CHECK_NEAR(c->members[0].timeout_s, 7, 0);
    CHECK_STR(c->members[0].system_prompt, "Be terse.");
    CHECK_EQ_INT(c->members[0].max_attempts, 2);
    council_config_free(c);
    c = parse("[member.m]\nmodel = x.gguf\n", &st);
    CHECK_MSG(c, "%s", dx_errmsg());
    CHECK_NEAR(c->members[0].timeout_s, COUNCIL_DEFAULT_TIMEOUT_S, 0);
    CHECK_EQ_INT(c->members[0].max_tokens, COUNCIL_DEFAULT_MAX_TOKENS);
    council_config_free(c);
}

TEST(config_errors_name_the_line)
{
    CHECK_CONFIG_ERR("[council]\ntimeout_s = 5\n\n[member.gpt]\ntemprature = 1\n", DX_EFORMAT,
                     "t.ini:5: unknown key 'temprature' in [member.gpt] (did you mean "
                     "'temperature'?)");
    CHECK_CONFIG_ERR("[council]\nfoo = 1\n", DX_EFORMAT, "t.ini:2: unknown key 'foo' in [council]");
    CHECK_CONFIG_ERR("[member.a]\nmodel = x\n[member.a]\nmodel = y\n", DX_EFORMAT,
                     "t.ini:3: [member.a] appears twice (first at line 1)");
    CHECK_CONFIG_ERR("[member.a]\nmodel = x\nmodel = y\n", DX_EFORMAT,
                     "t.ini:3: 'model' set twice in [member.a]");
    CHECK_CONFIG_ERR("\n[member.a]\ntype = local\n", DX_EFORMAT,
                     "t.ini:2: [member.a] has no 'model'");
    CHECK_CONFIG_ERR("[member.a]\ntype = remote\nmodel = m\n", DX_EFORMAT,
                     "t.ini:1: [member.a] is remote but has no 'base_url'");
    CHECK_CONFIG_ERR("[member.a]\ntype = local\nmodel = m\napi_key_env = K\n", DX_EFORMAT,
                     "[member.a] is local");
    CHECK_CONFIG_ERR("[member.a]\nmodel = m\ntemperature = hot\n", DX_EFORMAT,
                     "t.ini:3: temperature = 'hot': expected a number");
    CHECK_CONFIG_ERR("[member.a]\nmodel = m\ntop_p = 0\n", DX_EFORMAT, "t.ini:3: top_p = '0'");
    CHECK_CONFIG_ERR("[member.a]\nmodel = m\nseed = -1\n", DX_EFORMAT, "t.ini:3: seed = '-1'");
    CHECK_CONFIG_ERR("[member.a]\nmodel = m\nmax_attempts = 99\n", DX_EFORMAT,
                     "max_attempts = '99': expected a whole number from 1 to 10");
    CHECK_CONFIG_ERR("[member.a]\nmodel = m\ntype = cloud\n", DX_EFORMAT,
                     "type = 'cloud': expected 'local' or 'remote'");
    CHECK_CONFIG_ERR("[member.a]\nmodel = m\nbase_url = ftp://x\n", DX_EFORMAT,
                     "t.ini:3: base_url = 'ftp://x'");
    CHECK_CONFIG_ERR("[member.a]\nmodel = m\nbase_url = http://x\napi_key_env = sk-live-abc\n",
                     DX_EFORMAT, "t.ini:4: api_key_env = 'sk-live-abc': expected the NAME");
    CHECK_CONFIG_ERR("[member.a]\nmodel = m\nbase_url = http://x\nheader = no colon\n", DX_EFORMAT,
                     "t.ini:4: header = 'no colon'");
    CHECK_CONFIG_ERR("[member.a b]\nmodel = m\n", DX_EFORMAT, "t.ini:1: bad member name 'a b'");
    CHECK_CONFIG_ERR("[members.a]\nmodel = m\n", DX_EFORMAT,
                     "t.ini:1: unknown section [members.a]");
    CHECK_CONFIG_ERR("model = m\n[member.a]\nmodel = m\n", DX_EFORMAT,
                     "t.ini:1: 'model' comes before any [section]");
    CHECK_CONFIG_ERR("[member.a]\nmodel = m\nthis line has no equals sign\n", DX_EFORMAT,
                     "t.ini:3: syntax error");
    CHECK_CONFIG_ERR("[member.a]\nmodel = m\n  more\n", DX_EFORMAT,
                     "t.ini:3: indented line continues 'model'");
    CHECK_CONFIG_ERR("[council]\nsynthesizer = nobody\n[member.a]\nmodel = m\n", DX_EFORMAT,
                     "synthesizer = 'nobody' is not a member");
    CHECK_CONFIG_ERR("[council]\nstrongest = nobody\n[member.a]\nmodel = m\n", DX_EFORMAT,
                     "strongest = 'nobody' is not a member");
    CHECK_CONFIG_ERR("[council]\ntimeout_s = 5\n", DX_EFORMAT, "the council is empty");
    CHECK_CONFIG_ERR("", DX_EFORMAT, "the council is empty");
    CHECK_CONFIG_ERR("[member.a]\nmodel = \"gpt-4o\"\n", DX_EFORMAT,
                     "t.ini:2: model = \"gpt-4o\": values are written without quotes "
                     "(model = gpt-4o)");
    council_config *c = NULL;
    static const char nul[] = "[member.a]\nmodel = m\0x\n";
    CHECK(council_config_parse(nul, sizeof nul - 1, "t.ini", &c) == DX_EFORMAT);
    CHECK(c == NULL);
    CHECK_MSG(strstr(dx_errmsg(), "t.ini:2: NUL byte"), "%s", dx_errmsg());
}

TEST(config_limits)
{
    dx_buf b = dx_buf_make(1 << 20);
    for (unsigned i = 0; i <= DX_MAX_MEMBERS; i++)
        CHECK(dx_buf_printf(&b, "[member.m%u]\nmodel = x.gguf\n", i) == DX_OK);
    dx_status st;
    council_config *c = parse(b.data, &st);
    CHECK(c == NULL);
    CHECK_EQ_INT(st, DX_ELIMIT);
    CHECK_MSG(strstr(dx_errmsg(), "more than 32 members"), "%s", dx_errmsg());

    dx_buf_clear(&b);
    CHECK(dx_buf_puts(&b, "[member.a]\nmodel = m\nsystem_prompt = ") == DX_OK);
    for (int i = 0; i < 400; i++)
        CHECK(dx_buf_putc(&b, 'x') == DX_OK);
    c = parse(b.data, &st);
    CHECK(c == NULL);
    CHECK_EQ_INT(st, DX_ELIMIT);
    CHECK_MSG(strstr(dx_errmsg(), "t.ini:3: line longer than"), "%s", dx_errmsg());
    dx_buf_free(&b);

    char *big = malloc(DX_MAX_CONFIG_BYTES + 2);
    CHECK(big);
    memset(big, ';', DX_MAX_CONFIG_BYTES + 1);
    st = council_config_parse(big, DX_MAX_CONFIG_BYTES + 1, "big.ini", &c);
    free(big);
    CHECK_EQ_INT(st, DX_ELIMIT);
    CHECK(c == NULL);
}

/* drux serve's allowed hosts and trusted proxies can live in the same file. */
TEST(config_server_section)
{
    dx_status st;
    council_config *c = parse("[server]\nallowed_hosts = drux.example.org, b.example\n"
                              "trusted_proxies = 127.0.0.1,::1\n\n[member.a]\nmodel = m\n",
                              &st);
    CHECK_EQ_INT(st, DX_OK);
    CHECK_STR(c->server.allowed_hosts, "drux.example.org, b.example");
    CHECK_STR(c->server.trusted_proxies, "127.0.0.1,::1");
    CHECK_EQ_INT(c->n_members, 1);
    council_config_free(c);
    c = parse("[member.a]\nmodel = m\n", &st);
    CHECK(c && !c->server.allowed_hosts && !c->server.trusted_proxies);
    council_config_free(c);
    CHECK_CONFIG_ERR(
        "[server]\ntrusted_proxies = 127.0.0.1, proxy.example\n[member.a]\nmodel = m\n", DX_EFORMAT,
        "t.ini:2: trusted_proxies: 'proxy.example' is not a numeric IPv4 or IPv6");
    CHECK_CONFIG_ERR("[server]\nallowed_host = x\n[member.a]\nmodel = m\n", DX_EFORMAT,
                     "t.ini:2: unknown key 'allowed_host' in [server] (did you mean "
                     "'allowed_hosts'?)");
    CHECK_CONFIG_ERR("[server]\nallowed_hosts = a\nallowed_hosts = b\n[member.a]\nmodel = m\n",
                     DX_EFORMAT, "t.ini:3: 'allowed_hosts' set twice in [server]");
    CHECK_CONFIG_ERR("[server]\n[member.a]\nmodel = m\n[server]\n", DX_EFORMAT,
                     "t.ini:4: [server] appears twice");
}

TEST(config_long_prompt_over_lines)
{
    /* a system prompt longer than inih's line limit, written over several lines */
    dx_buf b = dx_buf_make(1 << 20);
    CHECK(dx_buf_puts(&b, "[member.a]\nmodel = m\nsystem_prompt = first\n") == DX_OK);
    for (int i = 0; i < 50; i++)
        CHECK(dx_buf_printf(&b, "    line %d of a long prompt that keeps going\n", i) == DX_OK);
    CHECK(dx_buf_puts(&b, "temperature = 0.5\n") == DX_OK);
    dx_status st;
    council_config *c = parse(b.data, &st);
    dx_buf_free(&b);
    CHECK_MSG(c, "%s", dx_errmsg());
    const char *sp = c->members[0].system_prompt;
    CHECK(!strncmp(sp, "first\nline 0 of a long", 22));
    CHECK(strstr(sp, "\nline 49 of a long prompt that keeps going") != NULL);
    CHECK(c->members[0].has_temperature);
    council_config_free(c);
}

TEST(config_example_file_is_valid)
{
    council_config *c = NULL;
    dx_status st = council_config_load("docs/drux.example.ini", &c);
    CHECK_MSG(st == DX_OK, "%s", dx_errmsg());
    CHECK(c->n_members >= 3);
    size_t remote = 0;
    for (size_t i = 0; i < c->n_members; i++)
        remote += c->members[i].kind == MEMBER_REMOTE;
    CHECK(remote >= 1 && remote < c->n_members);
    CHECK(c->synthesizer != NULL);
    council_config_free(c);
}

TEST(config_home_in_local_paths)
{
    setenv("HOME", "/home/tester", 1);
    dx_status st;
    council_config *c = parse("[council]\nembedder = ~/e.gguf\n"
                              "[member.a]\nmodel = ~/m/a.gguf\n"
                              "[member.r]\nbase_url = http://h\nmodel = ~/not-a-path\n",
                              &st);
    CHECK_MSG(c, "%s", dx_errmsg());
    CHECK_STR(c->members[0].model, "/home/tester/m/a.gguf");
    CHECK_STR(c->members[1].model, "~/not-a-path"); /* remote model ids are names */
    CHECK_STR(c->embedder, "/home/tester/e.gguf");
    council_config_free(c);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

TEST(config_locate_and_cache)
{
    char dir[] = "/tmp/drux-council-XXXXXX", p[4096], buf[4096];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(p, sizeof p, "%s/drux", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/drux/drux.ini", dir);
    write_file(p, "[member.a]\nmodel = m\n");

    unsetenv("DRUX_CONFIG");
    setenv("XDG_CONFIG_HOME", dir, 1);
    CHECK(council_config_locate(NULL, buf, sizeof buf) == DX_OK);
    CHECK_STR(buf, p);
    CHECK(council_config_locate("/nonexistent/x.ini", buf, sizeof buf) == DX_ENOTFOUND);
    CHECK(strstr(dx_errmsg(), "/nonexistent/x.ini") != NULL);
    setenv("DRUX_CONFIG", "/nonexistent/y.ini", 1);
    CHECK(council_config_locate(NULL, buf, sizeof buf) == DX_ENOTFOUND);
    CHECK(strstr(dx_errmsg(), "DRUX_CONFIG") != NULL);
    unsetenv("DRUX_CONFIG");
    setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
    CHECK(council_config_locate(NULL, buf, sizeof buf) == DX_ENOTFOUND);

    /* no config: the models in the cache, one local member each */
    snprintf(p, sizeof p, "%s/models", dir);
    mkdir(p, 0700);
    council_config *c = NULL;
    CHECK(council_config_from_models(p, &c) == DX_ENOTFOUND);
    snprintf(p, sizeof p, "%s/models/zeta.gguf", dir);
    write_file(p, "x");
    snprintf(p, sizeof p, "%s/models/sub", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/models/sub/Alpha 1.gguf", dir);
    write_file(p, "x");
    snprintf(p, sizeof p, "%s/models/readme.txt", dir);
    write_file(p, "x");
    setenv("DRUX_HOME", dir, 1);
    CHECK(council_config_from_models(council_models_dir(buf, sizeof buf), &c) == DX_OK);
    CHECK_EQ_INT(c->n_members, 2);
    CHECK_STR(c->members[0].name, "Alpha-1");
    CHECK(strstr(c->members[0].model, "/models/sub/Alpha 1.gguf") != NULL);
    CHECK_STR(c->members[1].name, "zeta");
    CHECK(c->members[1].kind == MEMBER_LOCAL);
    council_config_free(c);
    unsetenv("DRUX_HOME");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* ---- SSE ---- */

typedef struct events {
    char got[4096];
    int n;
} events;

static dx_status collect(void *user, const char *event, const char *data, size_t len)
{
    events *e = user;
    size_t used = strlen(e->got);
    snprintf(e->got + used, sizeof e->got - used, "<%s|%.*s>", event, (int)len, data);
    e->n++;
    return DX_OK;
}

TEST(sse_events_split_anywhere)
{
    const char *stream = ": keep-alive\r\n\r\n"
                         "data: {\"a\":1}\r\n\r\n"
                         "event: update\ndata: line one\ndata:line two\nid: 7\n\n"
                         "data\n\n"
                         "data: cr only\r\r"
                         "data: [DONE]\n\n";
    const char *want = "<message|{\"a\":1}><update|line one\nline two><message|>"
                       "<message|cr only><message|[DONE]>";
    size_t n = strlen(stream);
    /* every split into two feeds, and byte by byte */
    for (size_t cut = 0; cut <= n; cut++) {
        sse_parser p;
        events e = {{0}, 0};
        sse_init(&p, 1024);
        CHECK(sse_feed(&p, stream, cut, collect, &e) == DX_OK);
        CHECK(sse_feed(&p, stream + cut, n - cut, collect, &e) == DX_OK);
        CHECK(sse_finish(&p, collect, &e) == DX_OK);
        sse_free(&p);
        CHECK_MSG(!strcmp(e.got, want), "cut %zu: %s", cut, e.got);
    }
    sse_parser p;
    events e = {{0}, 0};
    sse_init(&p, 1024);
    for (size_t i = 0; i < n; i++)
        CHECK(sse_feed(&p, stream + i, 1, collect, &e) == DX_OK);
    CHECK(sse_finish(&p, collect, &e) == DX_OK);
    sse_free(&p);
    CHECK_STR(e.got, want);
}

TEST(sse_bom_and_unterminated_end)
{
    sse_parser p;
    events e = {{0}, 0};
    sse_init(&p, 64);
    CHECK(sse_feed(&p, "\xEF\xBB", 2, collect, &e) == DX_OK);
    const char *rest = "\xBF"
                       "data: x\n\ndata: [DONE]";
    CHECK(sse_feed(&p, rest, strlen(rest), collect, &e) == DX_OK);
    CHECK_STR(e.got, "<message|x>");
    CHECK(sse_finish(&p, collect, &e) == DX_OK); /* the server never sent the blank line */
    CHECK_STR(e.got, "<message|x><message|[DONE]>");
    sse_free(&p);
}

TEST(sse_line_limit)
{
    sse_parser p;
    events e = {{0}, 0};
    sse_init(&p, 16);
    CHECK(sse_feed(&p, "data: 0123456789", 16, collect, &e) == DX_OK); /* exactly the limit */
    CHECK(sse_feed(&p, "x", 1, collect, &e) == DX_ELIMIT);
    CHECK(strstr(dx_errmsg(), "line longer than 16 bytes") != NULL);
    sse_free(&p);
    /* many short data lines can't build an event past the limit either */
    sse_init(&p, 16);
    dx_status st = DX_OK;
    for (int i = 0; i < 10 && !st; i++)
        st = sse_feed(&p, "data: abcd\n", 11, collect, &e);
    CHECK_EQ_INT(st, DX_ELIMIT);
    sse_free(&p);
}

/* ---- chunk decoding ---- */

TEST(chunk_decoding)
{
    remote_chunk c;
    const char *d = "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi \\u00e9\"},"
                    "\"finish_reason\":null}]}";
    CHECK(remote_chunk_parse(d, strlen(d), false, &c) == DX_OK);
    CHECK(c.content && c.content_len == 5 && !memcmp(c.content, "Hi \xC3\xA9", 5));
    CHECK(c.finish_reason == NULL && !c.has_usage && !c.error);
    remote_chunk_clear(&c);

    d = "{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":34}}";
    CHECK(remote_chunk_parse(d, strlen(d), false, &c) == DX_OK);
    CHECK(c.has_usage && c.prompt_tokens == 12 && c.completion_tokens == 34 && !c.content);
    remote_chunk_clear(&c);

    d = "{\"choices\":[{\"delta\":{\"content\":null},\"finish_reason\":\"length\"}]}";
    CHECK(remote_chunk_parse(d, strlen(d), false, &c) == DX_OK);
    CHECK(!c.content);
    CHECK_STR(c.finish_reason, "length");
    remote_chunk_clear(&c);

    d = "{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}";
    CHECK(remote_chunk_parse(d, strlen(d), false, &c) == DX_OK);
    CHECK_STR(c.error, "overloaded");
    remote_chunk_clear(&c);

    d = "{\"choices\":[{\"delta\":{\"content\":\"x\"}";
    CHECK(remote_chunk_parse(d, strlen(d), false, &c) == DX_EFORMAT);
    CHECK(strstr(dx_errmsg(), "malformed JSON from upstream") != NULL);
    remote_chunk_clear(&c);

    d = "{\"choices\":[{\"delta\":{\"content\":42}}]}";
    CHECK(remote_chunk_parse(d, strlen(d), false, &c) == DX_EFORMAT);
    CHECK(strstr(dx_errmsg(), "content is not a string") != NULL);
    remote_chunk_clear(&c);

    CHECK(remote_chunk_parse("[1,2]", 5, false, &c) == DX_EFORMAT);
    remote_chunk_clear(&c);

    d = "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"whole\"}}]}";
    CHECK(remote_chunk_parse(d, strlen(d), true, &c) == DX_OK);
    CHECK(c.content_len == 5 && !memcmp(c.content, "whole", 5));
    remote_chunk_clear(&c);
    CHECK(remote_chunk_parse("{}", 2, true, &c) == DX_EFORMAT);
    remote_chunk_clear(&c);
}

TEST(error_bodies)
{
    char buf[128];
    const char *b = "{\"error\":{\"message\":\"Incorrect API key\\nprovided\",\"code\":\"x\"}}";
    CHECK_STR(remote_error_message(b, strlen(b), buf, sizeof buf), "Incorrect API key provided");
    b = "{\"error\":\"plain\"}";
    CHECK_STR(remote_error_message(b, strlen(b), buf, sizeof buf), "plain");
    b = "{\"detail\":\"Not Found\"}";
    CHECK_STR(remote_error_message(b, strlen(b), buf, sizeof buf), "Not Found");
    b = "<html>Bad Gateway</html>\n<body>";
    CHECK_STR(remote_error_message(b, strlen(b), buf, sizeof buf), "<html>Bad Gateway</html>");
    CHECK_STR(remote_error_message(NULL, 0, buf, sizeof buf), "(empty body)");
    char small[8];
    CHECK_STR(remote_error_message("abcdefghijk", 11, small, sizeof small), "abcd...");
}

/* ---- fan-out with local members ---- */

/* A member whose behaviour is named by its model: "fast" answers in pieces,
 * "stuck" works until told to stop, "flood" writes past the answer limit,
 * "silent" returns without a final status. */
static void test_run(void *impl, member_ctx *ctx)
{
    (void)impl;
    const char *model = member_ctx_config(ctx)->model;
    if (!strcmp(model, "fast")) {
        const char *pieces[] = {"The ", "sky ", "is ", "blue."};
        for (int i = 0; i < 4; i++) {
            usleep(2000);
            if (member_ctx_text(ctx, pieces[i], strlen(pieces[i])))
                return;
        }
        member_ctx_usage(ctx, 5, 4, false);
        member_ctx_finish(ctx, MEMBER_DONE, NULL);
    } else if (!strcmp(model, "stuck")) {
        member_ctx_text(ctx, "thinking", 8);
        for (int i = 0; i < 2000 && !member_ctx_should_stop(ctx); i++)
            usleep(1000);
        member_ctx_finish(ctx, MEMBER_DONE, NULL); /* too late: ignored */
    } else if (!strcmp(model, "sys")) {
        const char *sp = member_ctx_system_prompt(ctx);
        sp = sp ? sp : "(none)";
        member_ctx_text(ctx, sp, strlen(sp));
        member_ctx_finish(ctx, MEMBER_DONE, NULL);
    } else if (!strcmp(model, "flood")) {
        char block[4096];
        memset(block, 'z', sizeof block);
        block[sizeof block - 2] = (char)0xC3; /* a 2-byte character across the limit */
        block[sizeof block - 1] = (char)0xA9;
        dx_status st;
        while ((st = member_ctx_text(ctx, block, sizeof block)) == DX_OK)
            ;
        member_ctx_finish(ctx, st == DX_ELIMIT ? MEMBER_DONE : MEMBER_FAILED, "unexpected");
    }
}

static const member_ops test_ops = {"test", test_run, NULL};

static dx_status test_open(const member_config *mc, void *user, const member_ops **ops, void **impl)
{
    (void)user;
    if (!strcmp(mc->model, "missing"))
        return dx_fail(DX_ENOTFOUND, "model 'missing' is not in the cache");
    *ops = &test_ops;
    *impl = NULL;
    return DX_OK;
}

typedef struct trace {
    char log[4][1024]; /* per member */
    int text_events, status_events;
} trace;

static void record(const member_event *ev, void *user)
{
    trace *t = user;
    if (ev->index >= 4)
        return;
    char *log = t->log[ev->index];
    size_t used = strlen(log), cap = sizeof t->log[0];
    if (ev->kind == MEMBER_EV_TEXT) {
        t->text_events++;
        if (ev->len < 32)
            snprintf(log + used, cap - used, "+'%.*s' ", (int)ev->len, ev->text);
    } else if (ev->kind == MEMBER_EV_STATUS) {
        t->status_events++;
        snprintf(log + used, cap - used, "%s ", member_status_str(ev->result->status));
    }
}

static council_config *council_of(const char *text)
{
    dx_status st;
    council_config *c = parse(text, &st);
    if (!c)
        printf("config: %s\n", dx_errmsg());
    return c;
}

TEST(fanout_local_members)
{
    council_config *c = council_of("[council]\ntimeout_s = 0.4\n"
                                   "[member.quick]\nmodel = fast\n"
                                   "[member.slow]\nmodel = stuck\n"
                                   "[member.gone]\nmodel = missing\n"
                                   "[member.mute]\nmodel = silent\ntimeout_s = 5\n");
    CHECK(c);
    trace t = {{{0}}, 0, 0};
    fanout_opts o = {.on_event = record, .user = &t, .open_local = test_open};
    member_result *r = NULL;
    size_t n = 0;
    double t0 = council_now_ms();
    CHECK(fanout_run(c, "Why is the sky blue?", &o, &r, &n) == DX_OK);
    double wall = council_now_ms() - t0;
    CHECK_EQ_INT(n, 4);
    CHECK_STR(r[0].name, "quick");
    CHECK_EQ_INT(r[0].status, MEMBER_DONE);
    CHECK_STR(r[0].text, "The sky is blue.");
    CHECK_EQ_INT(r[0].completion_tokens, 4);
    CHECK_EQ_INT(r[0].prompt_tokens, 5);
    CHECK(r[0].ttft_ms >= 0 && r[0].ttft_ms <= r[0].latency_ms);
    CHECK(r[0].tokens_per_s > 0);
    CHECK_EQ_INT(r[0].attempts, 1);
    /* the stuck member is cut off at its deadline, keeping what it said */
    CHECK_EQ_INT(r[1].status, MEMBER_TIMEOUT);
    CHECK_STR(r[1].text, "thinking");
    CHECK(strstr(r[1].error, "timeout_s = 0.4") != NULL);
    CHECK_MSG(r[1].latency_ms >= 399 && r[1].latency_ms < 600, "latency %g", r[1].latency_ms);
    CHECK_EQ_INT(r[2].status, MEMBER_FAILED);
    CHECK_STR(r[2].error, "model 'missing' is not in the cache");
    CHECK_EQ_INT(r[3].status, MEMBER_FAILED);
    CHECK(strstr(r[3].error, "without a final status") != NULL);
    CHECK_MSG(wall < 1000, "fan-out took %g ms", wall);
    /* live events, in order for each member */
    CHECK_STR(t.log[0], "queued running +'The ' +'sky ' +'is ' +'blue.' done ");
    CHECK_STR(t.log[1], "queued running +'thinking' timeout ");
    CHECK_STR(t.log[2], "queued failed ");
    CHECK_EQ_INT(t.status_events, 4 /* queued */ + 3 /* running */ + 4 /* final */);
    fanout_results_free(r, n);
    council_config_free(c);
}

/* schedule = one_at_a_time: local members answer in turn, each with its own
 * deadline from when it starts; a stuck one does not eat the next one's time. */
TEST(fanout_one_at_a_time)
{
    council_config *c = council_of("[council]\ntimeout_s = 0.3\nschedule = one_at_a_time\n"
                                   "[member.slow]\nmodel = stuck\n"
                                   "[member.quick]\nmodel = fast\n"
                                   "[member.quick2]\nmodel = fast\n");
    CHECK(c);
    CHECK(c->one_at_a_time);
    trace t = {{{0}}, 0, 0};
    fanout_opts o = {.on_event = record, .user = &t, .open_local = test_open};
    member_result *r = NULL;
    size_t n = 0;
    CHECK(fanout_run(c, "Why is the sky blue?", &o, &r, &n) == DX_OK);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(r[0].status, MEMBER_TIMEOUT);
    /* the second starts after the first's deadline and still answers */
    CHECK_EQ_INT(r[1].status, MEMBER_DONE);
    CHECK_EQ_INT(r[2].status, MEMBER_DONE);
    CHECK_MSG(r[1].ttft_ms >= r[0].latency_ms - 1, "second started at %g, first ended at %g",
              r[1].ttft_ms, r[0].latency_ms);
    CHECK(r[2].ttft_ms >= r[1].latency_ms - 1);
    CHECK_STR(t.log[1], "queued running +'The ' +'sky ' +'is ' +'blue.' done ");
    fanout_results_free(r, n);
    council_config_free(c);
    /* anything else is refused with the line */
    CHECK(council_of("[council]\nschedule = sometimes\n[member.a]\nmodel = fast\n") == NULL);
}

static void *cancel_later(void *arg)
{
    usleep(100 * 1000);
    atomic_store((atomic_int *)arg, 1);
    return NULL;
}

TEST(fanout_cancel)
{
    council_config *c = council_of("[member.a]\nmodel = stuck\n[member.b]\nmodel = stuck\n"
                                   "[member.c]\nmodel = fast\n");
    CHECK(c);
    atomic_int cancel = 0;
    pthread_t tid;
    pthread_create(&tid, NULL, cancel_later, &cancel);
    fanout_opts o = {.open_local = test_open, .cancel = &cancel};
    member_result *r = NULL;
    size_t n = 0;
    double t0 = council_now_ms();
    CHECK(fanout_run(c, "q", &o, &r, &n) == DX_OK);
    double wall = council_now_ms() - t0;
    pthread_join(tid, NULL);
    CHECK_EQ_INT(r[0].status, MEMBER_CANCELLED);
    CHECK_EQ_INT(r[1].status, MEMBER_CANCELLED);
    CHECK_EQ_INT(r[2].status, MEMBER_DONE); /* it finished before the cancel */
    CHECK_MSG(wall >= 90 && wall < 400, "cancel took %g ms", wall);
    fanout_results_free(r, n);
    council_config_free(c);
}

TEST(fanout_answer_limit_and_args)
{
    council_config *c = council_of("[member.a]\nmodel = flood\n[member.b]\nmodel = fast\n");
    CHECK(c);
    fanout_opts o = {.open_local = test_open};
    member_result *r = NULL;
    size_t n = 0;
    CHECK(fanout_run(c, "q", &o, &r, &n) == DX_OK);
    CHECK_EQ_INT(r[0].status, MEMBER_DONE);
    CHECK(r[0].truncated);
    CHECK(r[0].text_len <= DX_MAX_ANSWER_BYTES && r[0].text_len > DX_MAX_ANSWER_BYTES - 4096);
    CHECK(((unsigned char)r[0].text[r[0].text_len - 1] & 0xC0) != 0xC0); /* no half character */
    CHECK_EQ_INT(strlen(r[0].text), r[0].text_len);
    fanout_results_free(r, n);

    /* without a local engine, local members fail with a reason; no crash */
    CHECK(fanout_run(c, "q", NULL, &r, &n) == DX_OK);
    CHECK_EQ_INT(r[1].status, MEMBER_FAILED);
    CHECK(strstr(r[1].error, "no local engine") != NULL);
    CHECK_STR(r[1].text, "");
    fanout_results_free(r, n);

    CHECK(fanout_run(c, "", &o, &r, &n) == DX_EARG);
    char *big = malloc(DX_MAX_PROMPT_BYTES + 2);
    memset(big, 'q', DX_MAX_PROMPT_BYTES + 1);
    big[DX_MAX_PROMPT_BYTES + 1] = 0;
    CHECK(fanout_run(c, big, &o, &r, &n) == DX_ELIMIT);
    free(big);
    CHECK(r == NULL && n == 0);

    /* one member alone, as for the synthesis */
    trace t = {{{0}}, 0, 0};
    o.on_event = record;
    o.user = &t;
    o.only = "b";
    CHECK(fanout_run(c, "q", &o, &r, &n) == DX_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_STR(r[0].name, "b");
    CHECK_EQ_INT(r[0].status, MEMBER_DONE);
    CHECK_STR(t.log[1], "queued running +'The ' +'sky ' +'is ' +'blue.' done ");
    CHECK_STR(t.log[0], ""); /* events carry the member's index in the config */
    fanout_results_free(r, n);
    o.only = "nobody";
    CHECK(fanout_run(c, "q", &o, &r, &n) == DX_ENOTFOUND);
    council_config_free(c);
}

TEST(remote_member_without_key_fails_alone)
{
    unsetenv("DRUX_TEST_UNSET_KEY");
    council_config *c = council_of("[member.r]\nbase_url = http://127.0.0.1:9/v1\nmodel = m\n"
                                   "api_key_env = DRUX_TEST_UNSET_KEY\n"
                                   "[member.l]\nmodel = fast\n");
    CHECK(c);
    fanout_opts o = {.open_local = test_open};
    member_result *r = NULL;
    size_t n = 0;
    CHECK(fanout_run(c, "q", &o, &r, &n) == DX_OK);
    CHECK_EQ_INT(r[0].status, MEMBER_FAILED);
    CHECK_MSG(strstr(r[0].error, "DRUX_TEST_UNSET_KEY (api_key_env) is not set"), "%s", r[0].error);
    CHECK_EQ_INT(r[1].status, MEMBER_DONE);
    fanout_results_free(r, n);
    council_config_free(c);
}

TEST(fanout_system_prompt_override)
{
    council_config *c = council_of("[council]\nsystem_prompt = From the file.\n"
                                   "[member.a]\nmodel = sys\n"
                                   "[member.b]\nmodel = sys\nsystem_prompt = Own prompt.\n");
    CHECK(c);
    fanout_opts o = {.open_local = test_open};
    member_result *r = NULL;
    size_t n = 0;
    CHECK(fanout_run(c, "q", &o, &r, &n) == DX_OK);
    CHECK_STR(r[0].text, "From the file.");
    CHECK_STR(r[1].text, "Own prompt.");
    fanout_results_free(r, n);
    o.system_prompt = "Synthesize.";
    CHECK(fanout_run(c, "q", &o, &r, &n) == DX_OK);
    CHECK_STR(r[0].text, "Synthesize.");
    CHECK_STR(r[1].text, "Synthesize.");
    fanout_results_free(r, n);
    o.system_prompt = "";
    CHECK(fanout_run(c, "q", &o, &r, &n) == DX_OK);
    CHECK_STR(r[1].text, "(none)");
    fanout_results_free(r, n);
    council_config_free(c);
}

/* With no config file, drux asks a named council when its models are cached:
 * $DRUX_COUNCIL picks one, else the first preset whose models are all there. */
TEST(config_presets)
{
    char dir[] = "/tmp/drux-preset-XXXXXX", p[4200], buf[4096];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(p, sizeof p, "%s/models", dir);
    mkdir(p, 0700);
    unsetenv("DRUX_CONFIG");
    setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
    setenv("DRUX_HOME", dir, 1);
    unsetenv("DRUX_COUNCIL");
    council_config *c = NULL;
    const hub_preset *small = hub_preset_find("small"), *def = hub_preset_find("default");
    CHECK(small && def && !hub_preset_find("huge"));
    /* nothing cached: a preset names the missing file and how to get it */
    CHECK(council_config_from_preset("small", p, &c) == DX_ENOTFOUND && !c);
    CHECK(strstr(dx_errmsg(), small->members[0].file) != NULL);
    CHECK(strstr(dx_errmsg(), "drux pull --council small") != NULL);
    CHECK(council_config_from_preset("huge", p, &c) == DX_ENOTFOUND);
    /* the small council's files plus another model: the preset, not every model */
    for (size_t i = 0; i < small->n_members; i++) {
        snprintf(p, sizeof p, "%s/models/%s", dir, small->members[i].file);
        write_file(p, "x");
    }
    snprintf(p, sizeof p, "%s/models/other.gguf", dir);
    write_file(p, "x");
    CHECK(council_config_open(NULL, &c) == DX_OK);
    CHECK_EQ_INT(c->n_members, small->n_members);
    CHECK_STR(c->members[0].name, small->members[0].name);
    CHECK_STR(c->synthesizer, small->synthesizer);
    CHECK(c->members[0].max_tokens == small->members[0].max_tokens);
    CHECK(c->embedder == NULL); /* not cached: matching by words */
    council_config_free(c);
    /* every model when asked for the cache */
    setenv("DRUX_COUNCIL", "cache", 1);
    CHECK(council_config_open(NULL, &c) == DX_OK);
    CHECK_EQ_INT(c->n_members, small->n_members + 1);
    council_config_free(c);
    /* the default preset asked for by name but not cached: the error says so */
    setenv("DRUX_COUNCIL", "default", 1);
    CHECK(council_config_open(NULL, &c) == DX_ENOTFOUND && !c);
    CHECK(strstr(dx_errmsg(), def->members[0].file) != NULL);
    /* both cached: the default wins */
    unsetenv("DRUX_COUNCIL");
    for (size_t i = 0; i < def->n_members; i++) {
        snprintf(p, sizeof p, "%s/models/%s", dir, def->members[i].file);
        write_file(p, "x");
    }
    CHECK(council_config_open(NULL, &c) == DX_OK);
    CHECK_EQ_INT(c->n_members, def->n_members);
    CHECK_STR(c->members[0].name, def->members[0].name);
    CHECK_STR(c->synthesizer, def->synthesizer);
    CHECK(council_config_member(c, c->synthesizer) != NULL);
    CHECK_STR(c->strongest, def->strongest);
    CHECK(council_config_member(c, c->strongest) != NULL);
    council_config_free(c);
    unsetenv("DRUX_HOME");
    unsetenv("XDG_CONFIG_HOME");
    snprintf(buf, sizeof buf, "rm -rf '%s'", dir);
    CHECK(system(buf) == 0);
}

/* council_turns_trim: the fewest oldest turns left out so the rest fits. */
typedef struct {
    const size_t *sizes;
    size_t n, budget;
    int calls;
} trim_case;

static bool trim_fits(void *user, size_t first)
{
    trim_case *c = user;
    size_t total = 10; /* the question */
    for (size_t i = first; i < c->n; i++)
        total += c->sizes[i];
    c->calls++;
    return total <= c->budget;
}

TEST(turns_are_trimmed_from_the_oldest)
{
    static const size_t sizes[] = {400, 50, 300, 20, 100};
    trim_case c = {sizes, 5, 1000, 0};
    CHECK_EQ_INT(council_turns_trim(5, trim_fits, &c), 0); /* 880: everything fits */
    c.budget = 500;
    CHECK_EQ_INT(council_turns_trim(5, trim_fits, &c), 1); /* 480 without the first */
    c.budget = 150;
    CHECK_EQ_INT(council_turns_trim(5, trim_fits, &c), 3); /* the last two: 130 */
    c.budget = 5;                                          /* not even the question: all out */
    c.calls = 0;
    CHECK_EQ_INT(council_turns_trim(5, trim_fits, &c), 5);
    CHECK(c.calls <= 4);
    CHECK_EQ_INT(council_turns_trim(0, trim_fits, &c), 0);
}

int main(void)
{
    RUN(turns_are_trimmed_from_the_oldest);
    RUN(config_full_council);
    RUN(config_council_defaults_after_members);
    RUN(config_errors_name_the_line);
    RUN(config_limits);
    RUN(config_server_section);
    RUN(config_long_prompt_over_lines);
    RUN(config_example_file_is_valid);
    RUN(config_home_in_local_paths);
    RUN(config_locate_and_cache);
    RUN(sse_events_split_anywhere);
    RUN(sse_bom_and_unterminated_end);
    RUN(sse_line_limit);
    RUN(chunk_decoding);
    RUN(error_bodies);
    RUN(config_presets);
    RUN(fanout_local_members);
    RUN(fanout_one_at_a_time);
    RUN(fanout_cancel);
    RUN(fanout_answer_limit_and_args);
    RUN(fanout_system_prompt_override);
    RUN(remote_member_without_key_fails_alone);
    return test_summary();
}
