/*
 * providers — the decoders for the wire formats that are not OpenAI's:
 * Anthropic Messages stream events and Gemini GenerateContentResponse
 * chunks, plus what remote.c reads from error replies of any provider
 * (retry hints, rate-limit reset durations) and the key redaction. The
 * declarations are in remote.h; remote.c drives the requests.
 */
#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "council/remote.h"

static dx_status load(const char *what, const char *data, size_t len, remote_chunk *out)
{
    json_error_t err;
    if (len > DX_MAX_JSON_BYTES)
        return dx_fail(DX_ELIMIT, "%s: upstream JSON larger than %u bytes", what,
                       DX_MAX_JSON_BYTES);
    json_t *root = json_loadb(data, len, 0, &err);
    if (!root)
        return dx_fail(DX_EFORMAT, "%s: malformed JSON from upstream (%s at byte %d)", what,
                       err.text, err.position);
    out->json = root;
    if (!json_is_object(root))
        return dx_fail(DX_EFORMAT, "%s: upstream sent JSON that is not an object", what);
    return DX_OK;
}

/* A token count: clamped to 0..INT_MAX; false when absent or not a number. */
static bool count(json_t *obj, const char *key, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        return false;
    json_int_t n = json_integer_value(v);
    *out = n < 0 ? 0 : n > INT_MAX ? INT_MAX : (int)n;
    return true;
}

static void set_reason(remote_chunk *out, const char *r)
{
    snprintf(out->reason_buf, sizeof out->reason_buf, "%s", r);
    out->finish_reason = out->reason_buf;
}

/* {"error": {"type"|"status": ..., "message": ...}} or {"error": "..."} */
static void take_error(remote_chunk *out, json_t *e)
{
    json_t *m = json_is_object(e) ? json_object_get(e, "message") : e;
    out->error = json_is_string(m) ? json_string_value(m) : "(error without a message)";
    if (json_is_object(e)) {
        json_t *t = json_object_get(e, "type");
        if (!json_is_string(t))
            t = json_object_get(e, "status");
        if (json_is_string(t))
            out->error_type = json_string_value(t);
    }
}

/* Anthropic's stop_reason in the words the other members use. */
static const char *anthropic_reason(const char *r)
{
    if (!strcmp(r, "end_turn") || !strcmp(r, "stop_sequence"))
        return "stop";
    if (!strcmp(r, "max_tokens"))
        return "length";
    return r;
}

static void anthropic_usage(json_t *u, remote_chunk *out)
{
    if (!json_is_object(u))
        return;
    if (count(u, "input_tokens", &out->prompt_tokens))
        out->has_usage = true;
    if (count(u, "output_tokens", &out->completion_tokens))
        out->has_usage = true;
}

/* The "text" of each element of arr that is_text accepts, joined into out->owned; out->content
 * points at it. */
static dx_status join_texts(json_t *arr, bool (*is_text)(json_t *), remote_chunk *out)
{
    size_t n = 0, o = 0, i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (is_text(e))
            n += json_string_length(json_object_get(e, "text"));
    }
    if (!(out->owned = malloc(n + 1)))
        return dx_fail(DX_ENOMEM, "out of memory");
    json_array_foreach(arr, i, e)
    {
        if (!is_text(e))
            continue;
        json_t *t = json_object_get(e, "text");
        memcpy(out->owned + o, json_string_value(t), json_string_length(t));
        o += json_string_length(t);
    }
    out->owned[o] = 0;
    out->content = out->owned;
    out->content_len = o;
    return DX_OK;
}

/* An Anthropic content block with text to show: a "text" block (or one without a type). */
static bool anthropic_text_block(json_t *b)
{
    json_t *t = json_object_get(b, "text"), *ty = json_object_get(b, "type");
    return json_is_string(t) && (!json_is_string(ty) || !strcmp(json_string_value(ty), "text"));
}

/* The text blocks of a whole message, joined. */
static dx_status anthropic_whole(json_t *root, remote_chunk *out)
{
    json_t *content = json_object_get(root, "content");
    if (!json_is_array(content))
        return dx_fail(DX_EFORMAT, "anthropic: the reply has no content array");
    dx_status st = join_texts(content, anthropic_text_block, out);
    if (st)
        return st;
    json_t *sr = json_object_get(root, "stop_reason");
    if (json_is_string(sr))
        set_reason(out, anthropic_reason(json_string_value(sr)));
    anthropic_usage(json_object_get(root, "usage"), out);
    out->done = true;
    return DX_OK;
}

dx_status remote_anthropic_parse(const char *event, const char *data, size_t len, bool whole,
                                 remote_chunk *out)
{
    memset(out, 0, sizeof *out);
    out->prompt_tokens = out->completion_tokens = -1;
    dx_status st = load("anthropic", data, len, out);
    if (st)
        return st;
    json_t *root = out->json;
    json_t *jt = json_object_get(root, "type");
    const char *type = json_is_string(jt) ? json_string_value(jt) : event ? event : "";
    if (!strcmp(type, "error") || json_is_object(json_object_get(root, "error"))) {
        take_error(out, json_object_get(root, "error"));
        return DX_OK;
    }
    if (whole)
        return anthropic_whole(root, out);
    if (!strcmp(type, "message_start")) {
        json_t *msg = json_object_get(root, "message");
        if (!json_is_object(msg))
            return dx_fail(DX_EFORMAT, "anthropic: message_start without a message object");
        anthropic_usage(json_object_get(msg, "usage"), out);
    } else if (!strcmp(type, "content_block_start")) {
        json_t *b = json_object_get(root, "content_block");
        json_t *t = json_object_get(b, "text"), *ty = json_object_get(b, "type");
        if (json_is_string(ty) && !strcmp(json_string_value(ty), "text") && json_is_string(t)) {
            out->content = json_string_value(t);
            out->content_len = json_string_length(t);
        }
    } else if (!strcmp(type, "content_block_delta")) {
        json_t *d = json_object_get(root, "delta");
        if (!json_is_object(d))
            return dx_fail(DX_EFORMAT, "anthropic: content_block_delta without a delta object");
        json_t *ty = json_object_get(d, "type");
        if (json_is_string(ty) && !strcmp(json_string_value(ty), "text_delta")) {
            json_t *t = json_object_get(d, "text");
            if (!json_is_string(t))
                return dx_fail(DX_EFORMAT, "anthropic: text_delta whose text is not a string");
            out->content = json_string_value(t);
            out->content_len = json_string_length(t);
        }
        /* thinking, signature and tool-input deltas are not the answer */
    } else if (!strcmp(type, "message_delta")) {
        json_t *d = json_object_get(root, "delta");
        json_t *sr = json_is_object(d) ? json_object_get(d, "stop_reason") : NULL;
        if (json_is_string(sr))
            set_reason(out, anthropic_reason(json_string_value(sr)));
        anthropic_usage(json_object_get(root, "usage"), out);
    } else if (!strcmp(type, "message_stop")) {
        out->done = true;
    }
    /* ping, content_block_stop and event types added later carry nothing we use */
    return DX_OK;
}

static const char *gemini_reason(const char *r, char *buf, size_t cap)
{
    if (!strcmp(r, "STOP"))
        return "stop";
    if (!strcmp(r, "MAX_TOKENS"))
        return "length";
    size_t i = 0;
    for (; r[i] && i + 1 < cap; i++)
        buf[i] = (char)tolower((unsigned char)r[i]);
    buf[i] = 0;
    return buf;
}

/* A Gemini part with text to show (a thought is not shown). */
static bool gemini_text_part(json_t *p)
{
    return json_is_string(json_object_get(p, "text")) &&
           !json_is_true(json_object_get(p, "thought"));
}

dx_status remote_gemini_parse(const char *data, size_t len, remote_chunk *out)
{
    memset(out, 0, sizeof *out);
    out->prompt_tokens = out->completion_tokens = -1;
    dx_status st = load("gemini", data, len, out);
    if (st)
        return st;
    json_t *root = out->json;
    json_t *e = json_object_get(root, "error");
    if (e && !json_is_null(e)) {
        take_error(out, e);
        return DX_OK;
    }
    json_t *u = json_object_get(root, "usageMetadata");
    if (json_is_object(u)) {
        int p, c = 0, t = 0;
        if (count(u, "promptTokenCount", &p))
            out->prompt_tokens = p, out->has_usage = true;
        bool hc = count(u, "candidatesTokenCount", &c);
        bool ht = count(u, "thoughtsTokenCount", &t); /* billed as output too */
        if (hc || ht) {
            out->completion_tokens = c > INT_MAX - t ? INT_MAX : c + t;
            out->has_usage = true;
        }
    }
    json_t *cands = json_object_get(root, "candidates");
    if (cands && !json_is_array(cands))
        return dx_fail(DX_EFORMAT, "gemini: 'candidates' is not an array");
    json_t *cand = json_array_get(cands, 0);
    if (!cand) {
        json_t *pf = json_object_get(root, "promptFeedback");
        json_t *br = json_is_object(pf) ? json_object_get(pf, "blockReason") : NULL;
        if (json_is_string(br)) {
            out->error = "the prompt was blocked";
            out->error_type = json_string_value(br);
        }
        return DX_OK; /* a usage-only chunk */
    }
    if (!json_is_object(cand))
        return dx_fail(DX_EFORMAT, "gemini: candidates[0] is not an object");
    json_t *content = json_object_get(cand, "content");
    json_t *parts = json_is_object(content) ? json_object_get(content, "parts") : NULL;
    if (parts && !json_is_array(parts))
        return dx_fail(DX_EFORMAT, "gemini: candidates[0].content.parts is not an array");
    size_t texts = 0, i;
    json_t *part, *only = NULL;
    json_array_foreach(parts, i, part)
    {
        if (gemini_text_part(part)) {
            texts++;
            only = json_object_get(part, "text");
        }
    }
    if (texts == 1) {
        out->content = json_string_value(only);
        out->content_len = json_string_length(only);
    } else if (texts > 1) {
        dx_status st = join_texts(parts, gemini_text_part, out);
        if (st)
            return st;
    }
    json_t *fr = json_object_get(cand, "finishReason");
    if (json_is_string(fr)) {
        char buf[sizeof out->reason_buf];
        set_reason(out, gemini_reason(json_string_value(fr), buf, sizeof buf));
    }
    return DX_OK;
}

double remote_duration_s(const char *s, size_t n)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    const char *p = buf;
    double total = 0;
    bool any = false;
    while (*p) {
        char *end;
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v) || v < 0)
            return -1;
        p = end;
        double unit;
        if (!strncmp(p, "ms", 2))
            unit = 0.001, p += 2;
        else if (*p == 's')
            unit = 1, p++;
        else if (*p == 'm')
            unit = 60, p++;
        else if (*p == 'h')
            unit = 3600, p++;
        else if (!*p && !any)
            unit = 1; /* a bare number: seconds */
        else
            return -1;
        total += v * unit;
        any = true;
    }
    return any ? total : -1;
}

/* n digits at *p (advanced) into *v; false if any is not a digit. */
static bool digits(const char **p, const char *e, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (*p >= e || **p < '0' || **p > '9')
            return false;
        *v = *v * 10 + (**p - '0');
    }
    return true;
}

static bool expect(const char **p, const char *e, const char *set)
{
    if (*p >= e || !strchr(set, **p) || !**p)
        return false;
    (*p)++;
    return true;
}

double remote_rfc3339_s(const char *s, size_t n)
{
    const char *p = s, *e = s + n;
    int y, mo, d, h, mi, sec;
    if (!digits(&p, e, 4, &y) || !expect(&p, e, "-") || !digits(&p, e, 2, &mo) ||
        !expect(&p, e, "-") || !digits(&p, e, 2, &d) || !expect(&p, e, "Tt ") ||
        !digits(&p, e, 2, &h) || !expect(&p, e, ":") || !digits(&p, e, 2, &mi) ||
        !expect(&p, e, ":") || !digits(&p, e, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    double frac = 0, scale = 0.1;
    if (p < e && *p == '.') {
        p++;
        if (p >= e || *p < '0' || *p > '9')
            return -1;
        for (; p < e && *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    }
    int off = 0;
    if (p < e && (*p == 'Z' || *p == 'z')) {
        p++;
    } else if (p < e && (*p == '+' || *p == '-')) {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (!digits(&p, e, 2, &oh) || !expect(&p, e, ":") || !digits(&p, e, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (p != e)
        return -1;
    /* days from the civil date (proleptic Gregorian), no time zone database */
    int yy = mo <= 2 ? y - 1 : y;
    long era = (yy >= 0 ? yy : yy - 399) / 400;
    long yoe = yy - era * 400;
    long doy = (153L * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long days = era * 146097 + doe - 719468;
    return (double)days * 86400 + h * 3600 + mi * 60 + sec - off + frac;
}

double remote_error_retry_s(const char *body, size_t len)
{
    if (!body || !len || len > DX_MAX_UPSTREAM_ERROR)
        return 0;
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *e = json_object_get(root, "error");
    json_t *details = json_is_object(e) ? json_object_get(e, "details") : NULL;
    double best = 0;
    size_t i;
    json_t *d;
    json_array_foreach(details, i, d)
    {
        json_t *rd = json_object_get(d, "retryDelay");
        if (json_is_string(rd)) {
            double s = remote_duration_s(json_string_value(rd), json_string_length(rd));
            if (s > best)
                best = s;
        }
    }
    if (root)
        json_decref(root);
    return best;
}

size_t remote_redact(char *s, size_t n, const char *key)
{
    static const char mark[] = "[redacted]";
    size_t k = key ? strlen(key) : 0;
    if (!s || k < 4 || n < k)
        return n;
    size_t r = 0, w = 0;
    while (r < n) {
        if (r + k <= n && !memcmp(s + r, key, k)) {
            if (k >= sizeof mark - 1) {
                memcpy(s + w, mark, sizeof mark - 1);
                w += sizeof mark - 1;
            } else {
                memset(s + w, '*', k);
                w += k;
            }
            r += k;
        } else {
            s[w++] = s[r++];
        }
    }
    if (w < n)
        s[w] = 0;
    return w;
}
