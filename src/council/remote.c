#include "council/remote.h"

#include <curl/curl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/limits.h"
#include "core/log.h"
#include "council/sse.h"

#define BACKOFF_BASE_MS 250.0
#define BACKOFF_CAP_MS 8000.0
#define POLL_MAX_MS 50
/* the Messages API version drux speaks; a header = line may name another */
#define REMOTE_ANTHROPIC_VERSION "2023-06-01"

/* ---------- decoding ---------- */

/* Copies s into buf as one printable line of at most cap-1 bytes. */
static const char *one_line(const char *s, size_t n, char *buf, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    if (o + 1 >= cap && n > o && cap > 4)
        memcpy(buf + cap - 4, "...", 3), o = cap - 1;
    buf[o] = 0;
    return buf;
}

void remote_chunk_clear(remote_chunk *c)
{
    if (c->json)
        json_decref(c->json);
    free(c->owned);
    memset(c, 0, sizeof *c);
}

static bool get_count(json_t *obj, const char *key, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        return false;
    json_int_t n = json_integer_value(v);
    *out = n < 0 ? 0 : n > INT_MAX ? INT_MAX : (int)n;
    return true;
}

dx_status remote_chunk_parse(const char *data, size_t len, bool whole, remote_chunk *out)
{
    memset(out, 0, sizeof *out);
    out->prompt_tokens = out->completion_tokens = -1;
    char quote[64];
    json_error_t err;
    if (len > DX_MAX_JSON_BYTES)
        return dx_fail(DX_ELIMIT, "upstream JSON larger than %u bytes", DX_MAX_JSON_BYTES);
    json_t *root = json_loadb(data, len, 0, &err);
    if (!root)
        return dx_fail(DX_EFORMAT, "malformed JSON from upstream (%s at byte %d): '%s'", err.text,
                       err.position, one_line(data, len, quote, sizeof quote));
    out->json = root;
    if (!json_is_object(root))
        return dx_fail(DX_EFORMAT, "upstream sent JSON that is not an object: '%s'",
                       one_line(data, len, quote, sizeof quote));
    json_t *e = json_object_get(root, "error");
    if (e && !json_is_null(e)) {
        json_t *m = json_is_object(e) ? json_object_get(e, "message") : e;
        out->error = json_is_string(m) ? json_string_value(m) : "(error without a message)";
        return DX_OK;
    }
    json_t *usage = json_object_get(root, "usage");
    if (json_is_object(usage)) {
        int p = 0, c = 0;
        if (get_count(usage, "prompt_tokens", &p))
            out->prompt_tokens = p, out->has_usage = true;
        if (get_count(usage, "completion_tokens", &c))
            out->completion_tokens = c, out->has_usage = true;
    }
    json_t *choices = json_object_get(root, "choices");
    if (choices && !json_is_array(choices))
        return dx_fail(DX_EFORMAT, "upstream 'choices' is not an array");
    json_t *choice = json_array_get(choices, 0);
    if (!choice) {
        if (whole)
            return dx_fail(DX_EFORMAT, "upstream reply has no choices[0]");
        return DX_OK; /* usage-only or keep-alive chunk */
    }
    if (!json_is_object(choice))
        return dx_fail(DX_EFORMAT, "upstream choices[0] is not an object");
    const char *field = whole ? "message" : "delta";
    json_t *msg = json_object_get(choice, field);
    if (msg && !json_is_null(msg)) {
        if (!json_is_object(msg))
            return dx_fail(DX_EFORMAT, "upstream choices[0].%s is not an object", field);
        json_t *content = json_object_get(msg, "content");
        if (json_is_string(content)) {
            out->content = json_string_value(content);
            out->content_len = json_string_length(content);
        } else if (content && !json_is_null(content)) {
            return dx_fail(DX_EFORMAT, "upstream choices[0].%s.content is not a string", field);
        }
    } else if (whole) {
        return dx_fail(DX_EFORMAT, "upstream reply has no choices[0].message");
    }
    json_t *fr = json_object_get(choice, "finish_reason");
    if (json_is_string(fr))
        out->finish_reason = json_string_value(fr);
    return DX_OK;
}

const char *remote_error_message(const char *body, size_t len, char *buf, size_t cap)
{
    json_t *root = len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *m = NULL, *kind = NULL;
    if (json_is_object(root)) {
        json_t *e = json_object_get(root, "error");
        json_t *v = json_is_object(e) ? json_object_get(e, "message") : e;
        /* the kind, where it is the point: Anthropic's {"type": "error", "error":
         * {"type": "overloaded_error", ...}}, Gemini's error.status
         * ("RESOURCE_EXHAUSTED"); OpenAI's messages stand alone */
        json_t *rt = json_object_get(root, "type");
        json_t *t = NULL;
        if (json_is_object(e) && json_is_string(rt) && !strcmp(json_string_value(rt), "error"))
            t = json_object_get(e, "type");
        else if (json_is_object(e))
            t = json_object_get(e, "status");
        if (json_is_string(t) && json_string_length(t) && json_string_length(t) < 48)
            kind = json_string_value(t);
        if (!json_is_string(v))
            v = json_object_get(root, "message");
        if (!json_is_string(v))
            v = json_object_get(root, "detail");
        if (json_is_string(v))
            m = json_string_value(v);
    }
    if (m && kind && !strstr(m, kind)) {
        char both[512];
        snprintf(both, sizeof both, "%s: %s", kind, m);
        one_line(both, strlen(both), buf, cap);
    } else if (m) {
        one_line(m, strlen(m), buf, cap);
    } else if (len) {
        const char *nl = memchr(body, '\n', len);
        size_t n = nl ? (size_t)(nl - body) : len;
        one_line(body, n, buf, cap);
    } else {
        snprintf(buf, cap, "(empty body)");
    }
    if (root)
        json_decref(root);
    return buf;
}

/* ---------- one member's requests ---------- */

typedef enum { R_WAIT, R_ACTIVE, R_DONE } rstate;

typedef struct rmember {
    member_ctx *ctx;
    const member_config *mc;
    rstate state;
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;       /* the request, asking for usage in the stream */
    char *body_plain; /* the same without stream_options */
    bool plain;       /* the server refused stream_options: send body_plain */
    char *url;
    char *key; /* the API key, to keep it out of every message */
    char errbuf[CURL_ERROR_SIZE];
    double deadline_ms, next_start_ms, attempt_start_ms;
    int attempt;
    /* per attempt */
    bool got_byte, got_text, header_checked, streaming;
    long http;
    sse_parser sse;
    dx_buf raw; /* error body, or a reply that is not a stream */
    bool saw_done, saw_finish, saw_usage, answer_full;
    bool abort_upstream; /* the stream carried an error event */
    int pieces;
    int prompt, completion; /* usage so far, -1 unknown */
    double reset_hint_s;    /* a rate-limit reset header's wait, -1 none */
    size_t text_bytes;
    dx_status abort_st;
    char abort_msg[300];
} rmember;

/* What ends a stream well, per wire format, for messages. */
static const char *end_marker(const rmember *r)
{
    switch (r->mc->api) {
    case MEMBER_API_ANTHROPIC:
        return "message_stop";
    case MEMBER_API_GEMINI:
        return "a finishReason";
    default:
        return "[DONE]";
    }
}

static double backoff_ms(int attempt, unsigned *seed)
{
    double base = BACKOFF_BASE_MS;
    for (int i = 1; i < attempt && base < BACKOFF_CAP_MS; i++)
        base *= 2;
    if (base > BACKOFF_CAP_MS)
        base = BACKOFF_CAP_MS;
    /* "equal jitter": half fixed, half random, so clients spread out */
    return base / 2 + base / 2 * ((double)rand_r(seed) / RAND_MAX);
}

static void abort_with(rmember *r, dx_status st)
{
    if (!r->abort_st) {
        r->abort_st = st;
        snprintf(r->abort_msg, sizeof r->abort_msg, "%s", dx_errmsg());
    }
}

/* An error event whose kind says that trying again may work: overload,
 * throttling, a server fault (Anthropic's and Gemini's names for them).
 * An error without a kind (OpenAI-style streams) is not retried. */
static bool transient_error(const char *kind)
{
    static const char *const kinds[] = {
        "overloaded_error", "rate_limit_error",   "api_error", "timeout_error",
        "UNAVAILABLE",      "RESOURCE_EXHAUSTED", "INTERNAL",  "DEADLINE_EXCEEDED",
    };
    for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kind, kinds[i]))
            return true;
    return false;
}

/* The upstream error in c as one redacted line: "kind: message". */
static const char *chunk_error(const rmember *r, const remote_chunk *c, char *buf, size_t cap)
{
    char both[512];
    if (c->error_type && !strstr(c->error, c->error_type))
        snprintf(both, sizeof both, "%s: %s", c->error_type, c->error);
    else
        snprintf(both, sizeof both, "%s", c->error);
    remote_redact(both, strlen(both), r->key);
    return one_line(both, strlen(both), buf, cap);
}

static dx_status on_event(void *user, const char *event, const char *data, size_t len)
{
    rmember *r = user;
    if (r->saw_done)
        return DX_OK;
    remote_chunk c;
    dx_status st;
    switch (r->mc->api) {
    case MEMBER_API_ANTHROPIC:
        st = remote_anthropic_parse(event, data, len, false, &c);
        break;
    case MEMBER_API_GEMINI:
        st = remote_gemini_parse(data, len, &c);
        break;
    default:
        if (len == 6 && !memcmp(data, "[DONE]", 6)) {
            r->saw_done = true;
            return DX_OK;
        }
        st = remote_chunk_parse(data, len, false, &c);
        break;
    }
    if (st)
        goto out;
    if (c.error) {
        char m[240];
        r->abort_upstream = transient_error(c.error_type);
        st = dx_fail(DX_ENET, "upstream error in stream: %s", chunk_error(r, &c, m, sizeof m));
        goto out;
    }
    if (c.content && c.content_len) {
        r->pieces++;
        r->got_text = true;
        r->text_bytes += c.content_len;
        st = member_ctx_text(r->ctx, c.content, c.content_len);
        if (st == DX_ELIMIT) {
            r->answer_full = true;
            goto out;
        }
        if (st)
            goto out;
    }
    if (c.finish_reason) {
        r->saw_finish = true;
        member_ctx_finish_reason(r->ctx, c.finish_reason);
    }
    if (c.has_usage) {
        if (c.prompt_tokens >= 0)
            r->prompt = c.prompt_tokens;
        if (c.completion_tokens >= 0)
            r->completion = c.completion_tokens;
        if (r->completion >= 0) {
            r->saw_usage = true;
            member_ctx_usage(r->ctx, r->prompt, r->completion, false);
        }
    }
    if (c.done)
        r->saw_done = true;
out:
    remote_chunk_clear(&c);
    return st;
}

static void check_headers(rmember *r)
{
    if (r->header_checked)
        return;
    r->header_checked = true;
    char *ct = NULL;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->http);
    curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct);
    r->streaming = r->http / 100 == 2 && ct && strstr(ct, "event-stream");
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *user)
{
    rmember *r = user;
    size_t n = size * nmemb;
    r->got_byte = true;
    if (member_ctx_should_stop(r->ctx))
        return 0;
    check_headers(r);
    if (r->http / 100 != 2) {
        size_t room = DX_MAX_UPSTREAM_ERROR - r->raw.len;
        dx_buf_append(&r->raw, ptr, n < room ? n : room); /* the start is enough */
        return n;
    }
    if (r->streaming) {
        dx_status st = sse_feed(&r->sse, ptr, n, on_event, r);
        if (st) {
            abort_with(r, st);
            return 0;
        }
        /* the answer is complete at [DONE], whether or not the server
         * closes the stream */
        return r->saw_done ? 0 : n;
    }
    if (dx_buf_append(&r->raw, ptr, n)) {
        abort_with(r, dx_fail(DX_ELIMIT, "upstream reply larger than %u bytes", DX_MAX_JSON_BYTES));
        return 0;
    }
    return n;
}

static bool header_is(const char *line, size_t n, const char *name, const char **v, size_t *vn)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
        return false;
    const char *s = line + k + 1, *e = line + n;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
        e--;
    *v = s;
    *vn = (size_t)(e - s);
    return true;
}

/* Rate-limit reset headers: how long until a 429 clears when the server
 * sends no Retry-After (OpenAI-style "x-ratelimit-reset-requests: 6m0s";
 * Anthropic sends retry-after itself). The longest one seen counts. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *user)
{
    rmember *r = user;
    size_t n = size * nmemb;
    r->got_byte = true;
    const char *v;
    size_t vn;
    if (header_is(ptr, n, "x-ratelimit-reset-requests", &v, &vn) ||
        header_is(ptr, n, "x-ratelimit-reset-tokens", &v, &vn)) {
        double s = remote_duration_s(v, vn);
        if (s > r->reset_hint_s)
            r->reset_hint_s = s;
    } else if (header_is(ptr, n, "anthropic-ratelimit-requests-reset", &v, &vn) ||
               header_is(ptr, n, "anthropic-ratelimit-tokens-reset", &v, &vn) ||
               header_is(ptr, n, "anthropic-ratelimit-input-tokens-reset", &v, &vn) ||
               header_is(ptr, n, "anthropic-ratelimit-output-tokens-reset", &v, &vn)) {
        /* Anthropic: when the limit refills, an RFC 3339 time */
        double at = remote_rfc3339_s(v, vn);
        double s = at >= 0 ? at - (double)time(NULL) : -1;
        if (s > r->reset_hint_s)
            r->reset_hint_s = s;
    }
    return n;
}

/* ---- a thread's earlier turns ----
 * A remote model's window is known only when the config gives it
 * (`context`): the turns are then fitted by an estimate of their tokens (a
 * token for every 3 bytes, 4 more per message: more than the usual tokenizer
 * makes, so the estimate errs on the side of leaving a turn out). Without
 * it every turn is sent, up to DX_MAX_PROMPT_BYTES of text in all. */

typedef struct turn_fit {
    const council_turn *turns;
    size_t n;
    size_t fixed_bytes; /* the system prompt and the question */
    size_t budget_tokens;
} turn_fit;

static bool turns_fit(void *user, size_t first)
{
    const turn_fit *tf = user;
    size_t bytes = tf->fixed_bytes, msgs = 2;
    for (size_t i = first; i < tf->n; i++) {
        bytes += strlen(tf->turns[i].question) + strlen(tf->turns[i].answer);
        msgs += 2;
    }
    if (bytes > DX_MAX_PROMPT_BYTES)
        return false;
    return !tf->budget_tokens || (bytes + 2) / 3 + 4 * msgs <= tf->budget_tokens;
}

/* The earlier turns a remote member is sent, as messages of its wire
 * format (Gemini calls the assistant "model" and wraps text in parts); the
 * oldest left out to fit, and the member told how many. *out NULL for none. */
static dx_status history_json(rmember *r, const char *sp, const char *question, json_t **out)
{
    *out = NULL;
    size_t n;
    const council_turn *t = member_ctx_history(r->ctx, &n);
    if (!t)
        return DX_OK;
    const member_config *mc = r->mc;
    turn_fit tf = {t, n, (sp ? strlen(sp) : 0) + strlen(question), 0};
    if (mc->context > 0) {
        size_t room = mc->max_tokens > 0 ? (size_t)mc->max_tokens : (size_t)mc->context / 2;
        if (room > (size_t)mc->context / 2)
            room = (size_t)mc->context / 2;
        tf.budget_tokens = (size_t)mc->context - room;
    }
    size_t first = council_turns_trim(n, turns_fit, &tf);
    member_ctx_context(r->ctx, (int)(n - first), (int)first);
    json_t *arr = json_array();
    if (!arr)
        return dx_fail(DX_ENOMEM, "out of memory");
    for (size_t i = first; i < n; i++)
        for (int k = 0; k < 2; k++) {
            const char *text = k ? t[i].answer : t[i].question;
            const char *role = k ? (mc->api == MEMBER_API_GEMINI ? "model" : "assistant") : "user";
            json_t *s = json_string(text);
            json_t *m = !s ? NULL
                        : mc->api == MEMBER_API_GEMINI
                            ? json_pack("{s:s, s:[{s:o}]}", "role", role, "parts", "text", s)
                            : json_pack("{s:s, s:o}", "role", role, "content", s);
            if (!m || json_array_append_new(arr, m)) {
                json_decref(arr);
                return s ? dx_fail(DX_ENOMEM, "out of memory")
                         : dx_fail(DX_EARG, "earlier turn %zu is not valid UTF-8", i + 1);
            }
        }
    *out = arr;
    return DX_OK;
}

/* The OpenAI chat-completions body: r->body with stream_options, r->body_plain without. */
static dx_status body_openai(rmember *r, json_t *sys, json_t *hist, json_t *q)
{
    const member_config *mc = r->mc;
    json_t *root = json_object(), *msgs = json_array();
    dx_status st = DX_OK;
    if (!root || !msgs) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    if (sys)
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "system", "content", sys));
    json_array_extend(msgs, hist);
    json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "user", "content", q));
    json_object_set_new(root, "model", json_string(mc->model));
    json_object_set(root, "messages", msgs);
    json_object_set_new(root, "stream", json_true());
    json_object_set_new(root, "stream_options", json_pack("{s:b}", "include_usage", 1));
    json_object_set_new(root, "max_tokens", json_integer(mc->max_tokens));
    if (mc->has_temperature)
        json_object_set_new(root, "temperature", json_real(mc->temperature));
    if (mc->has_top_p)
        json_object_set_new(root, "top_p", json_real(mc->top_p));
    if (mc->has_seed)
        json_object_set_new(root, "seed", json_integer((json_int_t)(mc->seed & INT64_MAX)));
    r->body = json_dumps(root, JSON_COMPACT);
    json_object_del(root, "stream_options"); /* for servers that refuse it */
    r->body_plain = json_dumps(root, JSON_COMPACT);
out:
    json_decref(msgs);
    json_decref(root);
    return st;
}

/* Anthropic Messages: the system prompt is a top-level field, max_tokens
 * is required, there is no seed. */
static dx_status body_anthropic(rmember *r, json_t *sys, json_t *hist, json_t *q)
{
    const member_config *mc = r->mc;
    json_t *msgs = hist ? json_copy(hist) : json_array();
    if (!msgs ||
        json_array_append_new(msgs, json_pack("{s:s, s:O}", "role", "user", "content", q))) {
        json_decref(msgs);
        return dx_fail(DX_ENOMEM, "out of memory");
    }
    json_t *root = json_pack("{s:s, s:I, s:b, s:o}", "model", mc->model, "max_tokens",
                             (json_int_t)mc->max_tokens, "stream", 1, "messages", msgs);
    if (!root)
        return dx_fail(DX_ENOMEM, "out of memory");
    if (sys)
        json_object_set(root, "system", sys);
    if (mc->has_temperature)
        json_object_set_new(root, "temperature", json_real(mc->temperature));
    if (mc->has_top_p)
        json_object_set_new(root, "top_p", json_real(mc->top_p));
    r->body = json_dumps(root, JSON_COMPACT);
    r->body_plain = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return DX_OK;
}

/* Gemini generateContent: contents/parts, systemInstruction, generationConfig. */
static dx_status body_gemini(rmember *r, json_t *sys, json_t *hist, json_t *q)
{
    const member_config *mc = r->mc;
    json_t *gc = json_pack("{s:I}", "maxOutputTokens", (json_int_t)mc->max_tokens);
    json_t *contents = hist ? json_copy(hist) : json_array();
    if (contents)
        json_array_append_new(contents,
                              json_pack("{s:s, s:[{s:O}]}", "role", "user", "parts", "text", q));
    json_t *root = contents ? json_pack("{s:o}", "contents", contents) : NULL;
    if (!root || !gc) {
        json_decref(gc);
        json_decref(root);
        return dx_fail(DX_ENOMEM, "out of memory");
    }
    if (sys)
        json_object_set_new(root, "systemInstruction",
                            json_pack("{s:[{s:O}]}", "parts", "text", sys));
    if (mc->has_temperature)
        json_object_set_new(gc, "temperature", json_real(mc->temperature));
    if (mc->has_top_p)
        json_object_set_new(gc, "topP", json_real(mc->top_p));
    if (mc->has_seed)
        json_object_set_new(gc, "seed", json_integer((json_int_t)(mc->seed & INT32_MAX)));
    json_object_set_new(root, "generationConfig", gc);
    r->body = json_dumps(root, JSON_COMPACT);
    r->body_plain = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return DX_OK;
}

static bool has_header(const member_config *mc, const char *name)
{
    size_t k = strlen(name);
    for (size_t i = 0; i < mc->n_headers; i++)
        if (!strncasecmp(mc->headers[i], name, k) && mc->headers[i][k] == ':')
            return true;
    return false;
}

static struct curl_slist *add_header(struct curl_slist *h, const char *a, const char *b)
{
    if (!h)
        return NULL;
    size_t n = strlen(a) + strlen(b) + 1;
    char *line = malloc(n);
    if (!line) {
        curl_slist_free_all(h);
        return NULL;
    }
    snprintf(line, n, "%s%s", a, b);
    struct curl_slist *out = curl_slist_append(h, line);
    free(line);
    if (!out)
        curl_slist_free_all(h);
    return out;
}

/* Request body, URL and headers; fails the member (not the council) when
 * its key is missing or its text can't be sent as JSON. */
/* The member's key into r->key: a signed-in user's own, or the one its
 * api_key_env names; a member with neither (a local server) has none. */
static dx_status take_key(rmember *r)
{
    const member_config *mc = r->mc;
    const char *key = mc->api_key;
    if (key) { /* a signed-in user's own key */
        if (strpbrk(key, "\r\n"))
            return dx_fail(DX_EARG, "the key for %s holds a line break",
                           mc->provider ? mc->provider : mc->name);
    } else if (mc->api_key_env) {
        key = getenv(mc->api_key_env);
        if (!key || !*key)
            return dx_fail(DX_EARG, "environment variable %s (api_key_env) is not set",
                           mc->api_key_env);
        if (strpbrk(key, "\r\n"))
            return dx_fail(DX_EARG, "environment variable %s holds a line break", mc->api_key_env);
    } else
        return DX_OK;
    if (!(r->key = strdup(key)))
        return dx_fail(DX_ENOMEM, "out of memory");
    return DX_OK;
}

/* The request body in the member's API and the URL it is posted to. */
static dx_status body_and_url(rmember *r, json_t *sys, json_t *hist, json_t *q)
{
    const member_config *mc = r->mc;
    char *model_esc = NULL;
    const char *path;
    dx_status st;
    switch (mc->api) {
    case MEMBER_API_ANTHROPIC:
        st = body_anthropic(r, sys, hist, q);
        path = "/messages";
        break;
    case MEMBER_API_GEMINI: {
        st = body_gemini(r, sys, hist, q);
        /* "models/gemini-x" and "gemini-x" both name the model */
        const char *id = strncmp(mc->model, "models/", 7) ? mc->model : mc->model + 7;
        model_esc = curl_easy_escape(NULL, id, 0);
        path = NULL;
        break;
    }
    default:
        st = body_openai(r, sys, hist, q);
        path = "/chat/completions";
        break;
    }
    if (!st) {
        size_t ulen = strlen(mc->base_url) + (path ? strlen(path) : 0) +
                      (model_esc ? strlen(model_esc) : 0) + 64;
        r->url = malloc(ulen);
        if (!r->body || !r->body_plain || !r->url || (mc->api == MEMBER_API_GEMINI && !model_esc))
            st = dx_fail(DX_ENOMEM, "out of memory");
        else if (path)
            snprintf(r->url, ulen, "%s%s", mc->base_url, path);
        else
            snprintf(r->url, ulen, "%s/models/%s:streamGenerateContent?alt=sse", mc->base_url,
                     model_esc);
    }
    curl_free(model_esc);
    return st;
}

/* The request's headers: JSON in, SSE back, the key where the API wants it,
 * then the member's own headers. */
static dx_status request_headers(rmember *r)
{
    const member_config *mc = r->mc;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = add_header(h, "Accept: text/event-stream", "");
    /* no "Expect: 100-continue" for long prompts: some servers never answer
     * it and curl would wait a second before sending the body */
    h = add_header(h, "Expect:", "");
    if (mc->api == MEMBER_API_ANTHROPIC && !has_header(mc, "anthropic-version"))
        h = add_header(h, "anthropic-version: ", REMOTE_ANTHROPIC_VERSION);
    if (r->key) {
        switch (mc->api) {
        case MEMBER_API_ANTHROPIC:
            h = add_header(h, "x-api-key: ", r->key);
            break;
        case MEMBER_API_GEMINI:
            h = add_header(h, "x-goog-api-key: ", r->key);
            break;
        default:
            h = add_header(h, "Authorization: Bearer ", r->key);
            break;
        }
    }
    for (size_t i = 0; i < mc->n_headers && h; i++)
        h = add_header(h, mc->headers[i], "");
    r->hdrs = h;
    return h ? DX_OK : dx_fail(DX_ENOMEM, "out of memory");
}

/* Everything one request needs, before the first attempt: the key, the body,
 * the URL and the headers. */
static dx_status prepare(rmember *r)
{
    const char *sp = member_ctx_system_prompt(r->ctx);
    json_t *sys = NULL, *q = NULL, *hist = NULL, *model = NULL;
    dx_status st;
    if (sp && !(sys = json_string(sp)))
        st = dx_fail(DX_EARG, "system_prompt is not valid UTF-8");
    else if (!(q = json_string(member_ctx_question(r->ctx))))
        st = dx_fail(DX_EARG, "the question is not valid UTF-8");
    else if (!(st = history_json(r, sp, member_ctx_question(r->ctx), &hist))) {
        if (!(model = json_string(r->mc->model)))
            st = dx_fail(DX_EARG, "model id is not valid UTF-8");
        else if (!(st = take_key(r)) && !(st = body_and_url(r, sys, hist, q)))
            st = request_headers(r);
    }
    json_decref(model);
    json_decref(sys);
    json_decref(q);
    json_decref(hist);
    return st;
}

static void reset_attempt(rmember *r)
{
    r->got_byte = r->got_text = r->header_checked = r->streaming = false;
    r->saw_done = r->saw_finish = r->saw_usage = r->answer_full = false;
    r->abort_upstream = false;
    r->http = 0;
    r->pieces = 0;
    r->prompt = r->completion = -1;
    r->reset_hint_s = -1;
    r->text_bytes = 0;
    r->abort_st = DX_OK;
    r->abort_msg[0] = 0;
    r->errbuf[0] = 0;
    sse_reset(&r->sse);
    dx_buf_clear(&r->raw);
}

static void finish(rmember *r, member_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish(rmember *r, member_status st, const char *fmt, ...)
{
    char msg[320] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        remote_redact(msg, strlen(msg), r->key);
    }
    r->state = R_DONE;
    member_ctx_finish(r->ctx, st, fmt ? "%s" : NULL, msg);
}

/* member_ctx_retry with the key kept out of the reason */
static void announce_retry(rmember *r, const char *why, double wait_ms)
{
    char msg[340];
    snprintf(msg, sizeof msg, "%s", why);
    remote_redact(msg, strlen(msg), r->key);
    member_ctx_retry(r->ctx, msg, wait_ms);
}

static void start_attempt(rmember *r, CURLM *multi, double now)
{
    reset_attempt(r);
    r->attempt++;
    member_ctx_attempt(r->ctx, r->attempt, 0);
    if (r->attempt == 1)
        member_ctx_running(r->ctx);
    CURL *e = r->easy = curl_easy_init();
    if (!e) {
        finish(r, MEMBER_FAILED, "libcurl: cannot create a transfer");
        return;
    }
    long left = (long)(r->deadline_ms - now) + 1000; /* the loop times out first */
    long fb = (long)(r->mc->first_byte_timeout_s * 1000);
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->plain ? r->body_plain : r->body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "drux");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left > 1 ? left : 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, fb < left ? fb : left);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (curl_multi_add_handle(multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        r->easy = NULL;
        finish(r, MEMBER_FAILED, "libcurl: cannot start a transfer");
        return;
    }
    r->state = R_ACTIVE;
    r->attempt_start_ms = now;
}

static void detach(rmember *r, CURLM *multi)
{
    if (!r->easy)
        return;
    curl_multi_remove_handle(multi, r->easy);
    curl_easy_cleanup(r->easy);
    r->easy = NULL;
}

static void retry_or_fail(rmember *r, const char *why, double retry_after_s, double now,
                          unsigned *seed)
{
    if (r->attempt >= r->mc->max_attempts) {
        if (r->attempt > 1)
            finish(r, MEMBER_FAILED, "%s (gave up after %d attempts)", why, r->attempt);
        else
            finish(r, MEMBER_FAILED, "%s", why);
        return;
    }
    double wait = backoff_ms(r->attempt, seed);
    if (retry_after_s * 1000 > wait)
        wait = retry_after_s * 1000;
    if (now + wait >= r->deadline_ms) {
        finish(r, MEMBER_FAILED, "%s (no time left to retry within timeout_s = %g)", why,
               r->mc->timeout_s);
        return;
    }
    announce_retry(r, why, wait);
    r->state = R_WAIT;
    r->next_start_ms = now + wait;
}

static bool retryable_http(long code)
{
    return code == 408 || code == 425 || code == 429 || code == 500 || code == 502 || code == 503 ||
           code == 504 || code == 529;
}

static void finish_done(rmember *r)
{
    if (!r->saw_usage)
        member_ctx_usage(r->ctx, r->prompt, r->pieces, true);
    finish(r, MEMBER_DONE, NULL);
}

/* A non-streamed JSON reply (some servers ignore stream=true; a Gemini
 * reply without alt=sse is an array of chunks). */
static void finish_whole(rmember *r)
{
    remote_chunk c;
    const char *body = r->raw.data ? r->raw.data : "";
    dx_status st;
    json_t *arr = NULL;
    size_t parts = 1;
    if (r->mc->api == MEMBER_API_GEMINI && r->raw.len && body[0] == '[') {
        arr = json_loadb(body, r->raw.len, 0, NULL);
        parts = json_array_size(arr);
    }
    int prompt = -1, completion = -1;
    size_t text = 0;
    for (size_t i = 0; i < parts; i++) {
        char *one = NULL;
        if (arr && !(one = json_dumps(json_array_get(arr, i), JSON_COMPACT | JSON_ENCODE_ANY))) {
            finish(r, MEMBER_FAILED, "out of memory");
            goto out;
        }
        switch (r->mc->api) {
        case MEMBER_API_ANTHROPIC:
            st = remote_anthropic_parse(NULL, body, r->raw.len, true, &c);
            break;
        case MEMBER_API_GEMINI:
            st = one ? remote_gemini_parse(one, strlen(one), &c)
                     : remote_gemini_parse(body, r->raw.len, &c);
            break;
        default:
            st = remote_chunk_parse(body, r->raw.len, true, &c);
            break;
        }
        free(one);
        if (st) {
            finish(r, MEMBER_FAILED, "%s", dx_errmsg());
            remote_chunk_clear(&c);
            goto out;
        }
        if (c.error) {
            char m[240];
            finish(r, MEMBER_FAILED, "upstream error: %s", chunk_error(r, &c, m, sizeof m));
            remote_chunk_clear(&c);
            goto out;
        }
        if (c.content && c.content_len) {
            member_ctx_text(r->ctx, c.content, c.content_len);
            text++;
        }
        if (c.finish_reason)
            member_ctx_finish_reason(r->ctx, c.finish_reason);
        if (c.prompt_tokens >= 0)
            prompt = c.prompt_tokens;
        if (c.completion_tokens >= 0)
            completion = c.completion_tokens;
        remote_chunk_clear(&c);
    }
    if (completion >= 0)
        member_ctx_usage(r->ctx, prompt, completion, false);
    else
        member_ctx_usage(r->ctx, prompt, (int)text, true);
    finish(r, MEMBER_DONE, NULL);
out:
    json_decref(arr);
}

/* A 2xx reply's transfer ended: the whole answer, or the stream's end. */
static void reply_ended(rmember *r)
{
    if (!r->streaming) {
        finish_whole(r);
        return;
    }
    dx_status st = sse_finish(&r->sse, on_event, r);
    if (st && !r->answer_full)
        finish(r, MEMBER_FAILED, "%s", dx_errmsg());
    else if (r->saw_done || r->saw_finish || r->answer_full)
        finish_done(r);
    else if (r->got_text)
        finish(r, MEMBER_FAILED,
               "stream ended before %s after %zu bytes of answer (cut off upstream?)",
               end_marker(r), r->text_bytes);
    else
        finish(r, MEMBER_FAILED, "stream ended without an answer");
}

/* The transfer failed below HTTP: tried again unless some answer came. */
static void transfer_failed(rmember *r, CURLcode rc, double now, unsigned *seed)
{
    char why[300];
    snprintf(why, sizeof why, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
    if (r->got_text) {
        finish(r, MEMBER_FAILED, "stream cut off after %zu bytes of answer: %s", r->text_bytes,
               why);
        return;
    }
    char msg[340];
    snprintf(msg, sizeof msg, "connection failed: %s", why);
    retry_or_fail(r, msg, 0, now, seed);
}

/* An HTTP error status: asked again without stream_options, tried again
 * after the wait the server asks for, or failed with what to check. */
static void http_failed(rmember *r, curl_off_t retry_after, double now, unsigned *seed)
{
    char m[240], why[300];
    /* an error body may quote the request, key included */
    r->raw.len = remote_redact(r->raw.data, r->raw.len, r->key);
    remote_error_message(r->raw.data, r->raw.len, m, sizeof m);
    snprintf(why, sizeof why, "HTTP %ld: %s", r->http, m);
    if ((r->http == 400 || r->http == 422) && !r->plain && strstr(m, "stream_options")) {
        /* an older or stricter server: ask again without it, counting the
         * pieces instead of reading usage */
        r->plain = true;
        announce_retry(r, why, 0);
        r->state = R_WAIT;
        r->next_start_ms = now;
        return;
    }
    if (retryable_http(r->http)) {
        /* Retry-After first, then a RetryInfo in the body (Gemini), then the
         * rate-limit reset headers (OpenAI-style) */
        double wait_s = (double)retry_after;
        if (wait_s <= 0)
            wait_s = remote_error_retry_s(r->raw.data, r->raw.len);
        if (wait_s <= 0 && r->http == 429 && r->reset_hint_s > 0)
            wait_s = r->reset_hint_s;
        retry_or_fail(r, why, wait_s, now, seed);
        return;
    }
    if (r->http == 401 || r->http == 403)
        finish(r, MEMBER_FAILED, "%s (check the key in $%s)", why,
               r->mc->api_key_env ? r->mc->api_key_env : "api_key_env");
    else if (r->http == 404)
        finish(r, MEMBER_FAILED, "%s (check base_url and model)", why);
    else
        finish(r, MEMBER_FAILED, "%s", why);
}

static void transfer_done(rmember *r, CURLM *multi, CURLcode rc, double now, unsigned *seed)
{
    curl_off_t retry_after = 0;
    check_headers(r);
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->http);
    curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &retry_after);
    member_ctx_attempt(r->ctx, r->attempt, (int)r->http);
    detach(r, multi);
    if (member_ctx_should_stop(r->ctx)) {
        finish(r, MEMBER_CANCELLED, "cancelled");
        return;
    }
    if (r->answer_full || (r->saw_done && !r->abort_st)) {
        finish_done(r);
        return;
    }
    if (r->abort_st && r->abort_upstream && !r->got_text) {
        /* an error event before any text (Anthropic's overloaded_error after
         * a 200, say) is worth another try, like the same error as a status */
        retry_or_fail(r, r->abort_msg, 0, now, seed);
        return;
    }
    if (r->abort_st) {
        if (r->text_bytes)
            finish(r, MEMBER_FAILED, "%s (after %zu bytes of answer)", r->abort_msg, r->text_bytes);
        else
            finish(r, MEMBER_FAILED, "%s", r->abort_msg);
        return;
    }
    if (rc != CURLE_OK) {
        transfer_failed(r, rc, now, seed);
        return;
    }
    if (r->http / 100 == 2)
        reply_ended(r);
    else
        http_failed(r, retry_after, now, seed);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One member's turn of the loop: stopped, timed out, started, or given up
 * on the first byte. True while it still runs; *next comes down to its
 * next start or its deadline. */
static bool tend(rmember *r, CURLM *multi, double now, unsigned *seed, double *next)
{
    if (r->state == R_DONE)
        return false;
    if (member_ctx_should_stop(r->ctx)) {
        detach(r, multi);
        finish(r, MEMBER_CANCELLED, "cancelled");
        return false;
    }
    if (now >= r->deadline_ms) {
        detach(r, multi);
        if (r->attempt > 1)
            finish(r, MEMBER_TIMEOUT,
                   "no complete answer within timeout_s = %g "
                   "(%d attempts)",
                   r->mc->timeout_s, r->attempt);
        else
            finish(r, MEMBER_TIMEOUT, "no complete answer within timeout_s = %g", r->mc->timeout_s);
        return false;
    }
    if (r->state == R_WAIT && now >= r->next_start_ms)
        start_attempt(r, multi, now);
    else if (r->state == R_ACTIVE && !r->got_byte &&
             now - r->attempt_start_ms >= r->mc->first_byte_timeout_s * 1000) {
        char why[120];
        snprintf(why, sizeof why, "no response within first_byte_timeout_s = %g",
                 r->mc->first_byte_timeout_s);
        detach(r, multi);
        retry_or_fail(r, why, 0, now, seed);
    }
    if (r->state == R_DONE)
        return false;
    if (r->state == R_WAIT && r->next_start_ms < *next)
        *next = r->next_start_ms;
    if (r->deadline_ms < *next)
        *next = r->deadline_ms;
    return true;
}

/* Hands each transfer libcurl finished to its member. */
static void read_finished(CURLM *multi, unsigned *seed)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        rmember *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r && r->easy == msg->easy_handle)
            transfer_done(r, multi, msg->data.result, council_now_ms(), seed);
    }
}

static void rmember_free(rmember *r, CURLM *multi)
{
    if (multi)
        detach(r, multi);
    curl_slist_free_all(r->hdrs);
    free(r->body);
    free(r->body_plain);
    free(r->url);
    free(r->key);
    sse_free(&r->sse);
    dx_buf_free(&r->raw);
}

void remote_run_all(member_ctx **ctxs, size_t n)
{
    if (n == 0)
        return;
    pthread_once(&curl_once, curl_init);
    rmember *rs = calloc(n, sizeof *rs);
    CURLM *multi = curl_init_rc == CURLE_OK ? curl_multi_init() : NULL;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
    if (!rs || !multi) {
        for (size_t i = 0; i < n; i++)
            member_ctx_finish(ctxs[i], MEMBER_FAILED, "libcurl could not start (out of memory?)");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rmember *r = &rs[i];
        r->ctx = ctxs[i];
        r->mc = member_ctx_config(ctxs[i]);
        r->deadline_ms = member_ctx_deadline_ms(ctxs[i]);
        r->next_start_ms = 0;
        sse_init(&r->sse, DX_MAX_SSE_LINE);
        r->raw = dx_buf_make(DX_MAX_JSON_BYTES);
        if (prepare(r))
            finish(r, MEMBER_FAILED, "%s", dx_errmsg());
    }
    for (;;) {
        double now = council_now_ms();
        size_t live = 0;
        double next = now + POLL_MAX_MS;
        for (size_t i = 0; i < n; i++)
            live += tend(&rs[i], multi, now, &seed, &next);
        if (!live)
            break;
        int running = 0;
        curl_multi_perform(multi, &running);
        read_finished(multi, &seed);
        bool any = false;
        for (size_t i = 0; i < n && !any; i++)
            any = rs[i].state != R_DONE;
        if (!any)
            break; /* do not sit in poll once the last member ended */
        double wait = next - council_now_ms();
        int wait_ms = wait < 1 ? 1 : wait > POLL_MAX_MS ? POLL_MAX_MS : (int)wait;
        curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
    }
out:
    if (rs) {
        for (size_t i = 0; i < n; i++)
            rmember_free(&rs[i], multi);
    }
    if (multi)
        curl_multi_cleanup(multi);
    free(rs);
}
