/* Parsers for request bodies: everything here reads untrusted bytes. */
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"

bool api_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > DX_HTTP_MAX_ID)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

bool api_path_id(const char *p, char qid[DX_HTTP_MAX_ID + 1], const char **rest)
{
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (!api_id_valid(p, len))
        return false;
    memcpy(qid, p, len);
    qid[len] = '\0';
    *rest = slash;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Length of a valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t need;
    unsigned min;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        need = 2, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        need = 3, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
        need = 4, min = 0x10000;
    else
        return 0;
    if (need > n)
        return 0;
    unsigned cp = c & (0x7F >> need);
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

static bool utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len((const unsigned char *)s + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

dx_status api_form_value(const char *body, size_t len, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    if (cap == 0)
        return dx_fail(DX_EARG, "form: no room");
    out[0] = '\0';
    size_t i = 0;
    while (i <= len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && body[eq] != '=')
            eq++;
        if (eq - i == klen && !memcmp(body + i, key, klen)) {
            size_t o = 0;
            for (size_t j = eq < end ? eq + 1 : end; j < end; j++) {
                char c = body[j];
                if (c == '+') {
                    c = ' ';
                } else if (c == '%') {
                    int hi = j + 2 < end ? hexval(body[j + 1]) : -1;
                    int lo = j + 2 < end ? hexval(body[j + 2]) : -1;
                    if (hi < 0 || lo < 0)
                        return dx_fail(DX_EFORMAT, "form field '%s': bad %%-escape", key);
                    c = (char)(hi * 16 + lo);
                    j += 2;
                }
                if (o + 1 >= cap)
                    return dx_fail(DX_ELIMIT, "form field '%s' is longer than %zu bytes", key,
                                   cap - 1);
                out[o++] = c;
            }
            out[o] = '\0';
            if (memchr(out, '\0', o) || !utf8_valid(out, o))
                return dx_fail(DX_EFORMAT, "form field '%s' is not valid UTF-8 text", key);
            return DX_OK;
        }
        i = end + 1;
    }
    return dx_fail(DX_ENOTFOUND, "form field '%s' is missing", key);
}

/* A JSON text string: valid (jansson checks UTF-8), no NUL, within max bytes. */
static dx_status text_field(json_t *v, const char *what, size_t max, const char **out)
{
    if (!json_is_string(v))
        return dx_fail(DX_EFORMAT, "%s must be a string", what);
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (memchr(s, '\0', n))
        return dx_fail(DX_EFORMAT, "%s contains a NUL character", what);
    if (n > max)
        return dx_fail(DX_ELIMIT, "%s is %zu bytes; the limit is %zu", what, n, max);
    *out = s;
    return DX_OK;
}

static dx_status load_object(const char *body, size_t len, json_t **root)
{
    json_error_t err;
    *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (!*root)
        return dx_fail(DX_EFORMAT, "the body is not valid JSON: %s (line %d, column %d)", err.text,
                       err.line, err.column);
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return dx_fail(DX_EFORMAT, "the body must be a JSON object");
    }
    return DX_OK;
}

dx_status api_question_parse(const char *body, size_t len, char **question, json_t **members)
{
    *question = NULL;
    *members = NULL;
    json_t *root;
    dx_status st = load_object(body, len, &root);
    if (st)
        return st;
    const char *q;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) if (strcmp(k, "question") && strcmp(k, "members"))
    {
        st = dx_fail(DX_EFORMAT, "unknown field '%.64s' (expected \"question\", \"members\")", k);
        goto out;
    }
    if (!json_object_get(root, "question")) {
        st = dx_fail(DX_EFORMAT, "\"question\" is required");
        goto out;
    }
    if ((st = text_field(json_object_get(root, "question"), "\"question\"", DX_MAX_QUESTION_BYTES,
                         &q)))
        goto out;
    if (!q[strspn(q, " \t\r\n")]) {
        st = dx_fail(DX_EARG, "the question is empty");
        goto out;
    }
    json_t *m = json_object_get(root, "members");
    if (m && !json_is_null(m)) {
        if (!json_is_array(m) || json_array_size(m) == 0 || json_array_size(m) > DX_MAX_MEMBERS) {
            st = dx_fail(DX_EFORMAT, "\"members\" must be an array of 1 to %u member names",
                         DX_MAX_MEMBERS);
            goto out;
        }
        size_t i;
        json_array_foreach(m, i, v)
        {
            const char *name;
            if ((st = text_field(v, "each of \"members\"", DX_MAX_MEMBER_NAME, &name)))
                goto out;
        }
        *members = json_incref(m);
    }
    if (!(*question = strdup(q))) {
        json_decref(*members);
        *members = NULL;
        st = dx_fail(DX_ENOMEM, "out of memory");
    }
out:
    json_decref(root);
    return st;
}

void api_chat_free(api_chat *c)
{
    if (c)
        json_decref(c->root);
}

/* "content": a string, or an array of {"type": "text", "text": "..."} parts
 * (joined); the result is put back into the message so root owns it. */
static dx_status message_content(json_t *msg, size_t idx, const char **out)
{
    char what[64];
    snprintf(what, sizeof what, "messages[%zu].content", idx);
    json_t *c = json_object_get(msg, "content");
    if (json_is_string(c))
        return text_field(c, what, DX_MAX_PROMPT_BYTES, out);
    if (!json_is_array(c))
        return dx_fail(DX_EFORMAT, "%s must be a string or an array of text parts", what);
    dx_buf b = dx_buf_make(DX_MAX_PROMPT_BYTES);
    dx_status st = DX_OK;
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part)
    {
        const char *t;
        if (!json_is_object(part) || !json_is_string(json_object_get(part, "type"))) {
            st = dx_fail(DX_EFORMAT, "%s[%zu] must be an object with a \"type\"", what, i);
            goto out;
        }
        if (strcmp(json_string_value(json_object_get(part, "type")), "text")) {
            st = dx_fail(DX_EUNSUPPORTED, "%s[%zu]: only text parts are supported", what, i);
            goto out;
        }
        if ((st = text_field(json_object_get(part, "text"), what, DX_MAX_PROMPT_BYTES, &t)) ||
            (st = dx_buf_puts(&b, t)))
            goto out;
    }
    json_t *s = json_stringn(b.data ? b.data : "", b.len);
    if (!s || json_object_set_new(msg, "content", s)) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    *out = json_string_value(json_object_get(msg, "content"));
out:
    dx_buf_free(&b);
    return st;
}

/* "stream", "max_tokens" (or "max_completion_tokens"), "temperature", "top_p", "seed". */
static dx_status chat_options(json_t *root, api_chat *out)
{
    json_t *v = json_object_get(root, "stream");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v))
            return dx_fail(DX_EFORMAT, "\"stream\" must be true or false");
        out->stream = json_is_true(v);
    }
    v = json_object_get(root, "max_completion_tokens");
    if (!v || json_is_null(v))
        v = json_object_get(root, "max_tokens");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > DX_MAX_CONTEXT)
            return dx_fail(DX_EFORMAT, "\"max_tokens\" must be an integer from 1 to %u",
                           DX_MAX_CONTEXT);
        out->max_tokens = (int)json_integer_value(v);
    }
    v = json_object_get(root, "temperature");
    if (v && !json_is_null(v)) {
        if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 2)
            return dx_fail(DX_EFORMAT, "\"temperature\" must be a number from 0 to 2");
        out->has_temperature = true;
        out->temperature = json_number_value(v);
    }
    v = json_object_get(root, "top_p");
    if (v && !json_is_null(v)) {
        if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 1)
            return dx_fail(DX_EFORMAT, "\"top_p\" must be a number above 0 and at most 1");
        out->has_top_p = true;
        out->top_p = json_number_value(v);
    }
    v = json_object_get(root, "seed");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return dx_fail(DX_EFORMAT, "\"seed\" must be a non-negative integer");
        out->has_seed = true;
        out->seed = (uint64_t)json_integer_value(v);
    }
    return DX_OK;
}

/* "messages": each a role and its text; the council's question is the last user message. */
static dx_status chat_messages(json_t *root, api_chat *out)
{
    dx_status st = DX_OK;
    json_t *v;
    json_t *msgs = json_object_get(root, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return dx_fail(DX_EFORMAT, "\"messages\" must be a non-empty array");
    if (json_array_size(msgs) > API_CHAT_MAX_MESSAGES) {
        return dx_fail(DX_ELIMIT, "%zu messages; the limit is %u", json_array_size(msgs),
                       API_CHAT_MAX_MESSAGES);
    }
    size_t i;
    json_array_foreach(msgs, i, v)
    {
        const char *role;
        if (!json_is_object(v))
            return dx_fail(DX_EFORMAT, "messages[%zu] must be an object", i);
        if ((st = text_field(json_object_get(v, "role"), "a message's \"role\"", 32, &role)))
            return st;
        if (strcmp(role, "system") && strcmp(role, "developer") && strcmp(role, "user") &&
            strcmp(role, "assistant"))
            return dx_fail(DX_EFORMAT, "messages[%zu].role '%s' is not system, user or assistant",
                           i, role);
        const char *content;
        if ((st = message_content(v, i, &content)))
            return st;
        out->roles[out->n_messages] = role;
        out->contents[out->n_messages] = content;
        out->n_messages++;
        if (!strcmp(role, "user"))
            out->last_user = content;
    }
    if (!out->last_user)
        return dx_fail(DX_EFORMAT, "\"messages\" has no user message");
    return DX_OK;
}

/* Appends text to the string at key k of o (a blank line between). */
static dx_status join_text(json_t *o, const char *k, const char *text)
{
    const char *prev = json_string_value(json_object_get(o, k));
    dx_buf b = dx_buf_make(DX_HTTP_MAX_BODY);
    dx_status st = DX_OK;
    if (prev && *prev && !(st = dx_buf_puts(&b, prev)))
        st = dx_buf_puts(&b, "\n\n");
    if (!st)
        st = dx_buf_puts(&b, text);
    if (!st && json_object_set_new(o, k, json_stringn(b.data ? b.data : "", b.len)))
        st = dx_fail(DX_ENOMEM, "out of memory");
    dx_buf_free(&b);
    return st;
}

dx_status api_chat_turns(api_chat *c, council_turn *turns, size_t cap, size_t *n)
{
    *n = 0;
    json_t *list = json_array(), *cur = NULL;
    if (!list || json_object_set_new(c->root, "\x01turns", list)) /* root owns them */
        return dx_fail(DX_ENOMEM, "out of memory");
    size_t last = 0;
    for (size_t i = 0; i < c->n_messages; i++)
        if (c->contents[i] == c->last_user)
            last = i;
    dx_status st = DX_OK;
    for (size_t i = 0; !st && i < last; i++) {
        bool user = !strcmp(c->roles[i], "user"), asst = !strcmp(c->roles[i], "assistant");
        if (user && (!cur || json_object_get(cur, "a"))) { /* a new turn */
            if (!(cur = json_object()) || json_array_append_new(list, cur))
                st = dx_fail(DX_ENOMEM, "out of memory");
        }
        if (!st && user)
            st = join_text(cur, "q", c->contents[i]);
        else if (!st && asst && cur && *c->contents[i]) /* an empty reply is none */
            st = join_text(cur, "a", c->contents[i]);
    }
    if (st)
        return st;
    size_t total = json_array_size(list), answered = 0;
    for (size_t i = 0; i < total; i++)
        answered += json_object_get(json_array_get(list, i), "a") != NULL;
    size_t skip = answered > cap ? answered - cap : 0;
    for (size_t i = 0; i < total; i++) {
        json_t *t = json_array_get(list, i);
        if (!json_object_get(t, "a") || (skip && skip--))
            continue;
        turns[*n] = (council_turn){json_string_value(json_object_get(t, "q")),
                                   json_string_value(json_object_get(t, "a"))};
        (*n)++;
    }
    return DX_OK;
}

dx_status api_chat_parse(const char *body, size_t len, api_chat *out)
{
    memset(out, 0, sizeof *out);
    dx_status st = load_object(body, len, &out->root);
    if (st)
        return st;
    if (!(st = text_field(json_object_get(out->root, "model"), "\"model\"", DX_MAX_NAME_BYTES,
                          &out->model)) &&
        !(st = chat_options(out->root, out)))
        st = chat_messages(out->root, out);
    if (st) {
        api_chat_free(out);
        memset(out, 0, sizeof *out);
    }
    return st;
}
