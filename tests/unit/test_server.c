/* The server's pieces that need no socket: the followable event stream and
 * the request-body parsers (what a client sending odd bodies sees). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"
#include "test.h"

TEST(stream_followers_see_every_byte_once)
{
    jobs_stream *s = jobs_stream_new(1024);
    CHECK(s);
    CHECK_EQ_INT(jobs_stream_write(s, "abc", 3), DX_OK);
    size_t a = 0, b = 3; /* b joins after "abc" */
    CHECK_EQ_INT(jobs_stream_write(s, "def", 3), DX_OK);
    char buf[16];
    CHECK_EQ_INT(jobs_stream_read(s, &a, buf, 4, 0, NULL), 4);
    CHECK(!memcmp(buf, "abcd", 4));
    CHECK_EQ_INT(jobs_stream_read(s, &a, buf, sizeof buf, 0, NULL), 2);
    CHECK(!memcmp(buf, "ef", 2));
    CHECK_EQ_INT(jobs_stream_read(s, &b, buf, sizeof buf, 0, NULL), 3);
    CHECK(!memcmp(buf, "def", 3));
    /* nothing new: the wait runs out (a keep-alive is due) */
    CHECK_EQ_INT(jobs_stream_read(s, &a, buf, sizeof buf, 20, NULL), 0);
    jobs_stream_close(s);
    CHECK_EQ_INT(jobs_stream_read(s, &a, buf, sizeof buf, 1000, NULL), -1);
    CHECK(jobs_stream_write(s, "x", 1) != DX_OK);
    jobs_stream_unref(s);
}

TEST(stream_is_bounded)
{
    jobs_stream *s = jobs_stream_new(8);
    CHECK_EQ_INT(jobs_stream_write(s, "12345678", 8), DX_OK);
    CHECK_EQ_INT(jobs_stream_write(s, "9", 1), DX_ELIMIT);
    CHECK_EQ_INT(jobs_stream_len(s), 8);
    jobs_stream_unref(s);
}

TEST(stream_event_is_one_sse_event)
{
    jobs_stream *s = jobs_stream_new(1024);
    json_t *j = json_pack("{s:s}", "delta", "two\nlines");
    CHECK_EQ_INT(jobs_stream_event(s, "member", j), DX_OK);
    json_decref(j);
    char buf[128] = {0};
    size_t off = 0;
    long n = jobs_stream_read(s, &off, buf, sizeof buf - 1, 0, NULL);
    CHECK(n > 0);
    CHECK_STR(buf, "event: member\ndata: {\"delta\":\"two\\nlines\"}\n\n");
    jobs_stream_unref(s);
}

typedef struct {
    jobs_stream *s;
    long got;
} reader_arg;

static void *reader(void *p)
{
    reader_arg *ra = p;
    char buf[8];
    size_t off = 0;
    ra->got = jobs_stream_read(ra->s, &off, buf, sizeof buf, 10000, NULL);
    return NULL;
}

TEST(stream_wakes_a_waiting_reader)
{
    reader_arg ra = {jobs_stream_new(64), -2};
    jobs_stream_ref(ra.s);
    pthread_t t;
    CHECK(!pthread_create(&t, NULL, reader, &ra));
    CHECK_EQ_INT(jobs_stream_write(ra.s, "hi", 2), DX_OK);
    pthread_join(t, NULL);
    CHECK_EQ_INT(ra.got, 2);
    jobs_stream_unref(ra.s);
    jobs_stream_unref(ra.s);
}

TEST(stream_reader_stops_on_flag)
{
    jobs_stream *s = jobs_stream_new(64);
    atomic_int stop = 1;
    char buf[8];
    size_t off = 0;
    CHECK_EQ_INT(jobs_stream_read(s, &off, buf, sizeof buf, 10000, &stop), -1);
    jobs_stream_unref(s);
}

TEST(form_values_decode)
{
    char out[64];
    const char *body = "a=1&q=Why+is+the+sky+blue%3F&z";
    CHECK_EQ_INT(api_form_value(body, strlen(body), "q", out, sizeof out), DX_OK);
    CHECK_STR(out, "Why is the sky blue?");
    CHECK_EQ_INT(api_form_value(body, strlen(body), "z", out, sizeof out), DX_OK);
    CHECK_STR(out, "");
    CHECK_EQ_INT(api_form_value(body, strlen(body), "b", out, sizeof out), DX_ENOTFOUND);
    CHECK_EQ_INT(api_form_value("q=%e2%82%ac", 11, "q", out, sizeof out), DX_OK);
    CHECK_STR(out, "\xe2\x82\xac");
    CHECK_EQ_INT(api_form_value("q=%4", 4, "q", out, sizeof out), DX_EFORMAT);
    CHECK_EQ_INT(api_form_value("q=%00", 5, "q", out, sizeof out), DX_EFORMAT);
    CHECK_EQ_INT(api_form_value("q=%c3%28", 8, "q", out, sizeof out), DX_EFORMAT);
    CHECK_EQ_INT(api_form_value("q=%ed%a0%80", 11, "q", out, sizeof out),
                 DX_EFORMAT); /* surrogate */
    CHECK_EQ_INT(api_form_value("q=12345", 7, "q", out, 5), DX_ELIMIT);
}

TEST(question_bodies)
{
    char *q;
    json_t *m;
    const char *ok = "{\"question\": \"Why?\", \"members\": [\"a\", \"b\"]}";
    CHECK_EQ_INT(api_question_parse(ok, strlen(ok), &q, &m), DX_OK);
    CHECK_STR(q, "Why?");
    CHECK_EQ_INT(json_array_size(m), 2);
    free(q);
    json_decref(m);
    const char *bad[] = {
        "",
        "[]",
        "{}",
        "{\"question\": 1}",
        "{\"question\": \" \\n\"}",
        "{\"question\": \"a\", \"question\": \"b\"}",
        "{\"question\": \"a\", \"member\": []}",
        "{\"question\": \"a\", \"members\": []}",
        "{\"question\": \"a\", \"members\": [1]}",
        "{\"question\": \"a\\u0000b\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dx_status st = api_question_parse(bad[i], strlen(bad[i]), &q, &m);
        CHECK_MSG(st == DX_EFORMAT || st == DX_EARG, "accepted %s", bad[i]);
        CHECK(q == NULL && m == NULL && *dx_errmsg());
    }
    char *big = malloc(DX_MAX_QUESTION_BYTES + 64);
    int n = sprintf(big, "{\"question\": \"");
    memset(big + n, 'x', DX_MAX_QUESTION_BYTES + 1);
    strcpy(big + n + DX_MAX_QUESTION_BYTES + 1, "\"}");
    CHECK_EQ_INT(api_question_parse(big, strlen(big), &q, &m), DX_ELIMIT);
    free(big);
}

TEST(chat_bodies)
{
    api_chat c;
    const char *ok = "{\"model\": \"council\", \"stream\": true, \"max_tokens\": 9, \"messages\": ["
                     "{\"role\": \"system\", \"content\": \"Be brief.\"},"
                     "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Hi \"},"
                     "{\"type\": \"text\", \"text\": \"there\"}]},"
                     "{\"role\": \"assistant\", \"content\": \"Hello\"}]}";
    CHECK_EQ_INT(api_chat_parse(ok, strlen(ok), &c), DX_OK);
    CHECK_STR(c.model, "council");
    CHECK(c.stream && c.max_tokens == 9 && c.n_messages == 3);
    CHECK_STR(c.last_user, "Hi there");
    CHECK_STR(c.roles[2], "assistant");
    api_chat_free(&c);
    const char *bad[] = {
        "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}",
        "{\"model\": \"m\", \"messages\": []}",
        "{\"model\": \"m\", \"messages\": [{\"role\": \"assistant\", \"content\": \"a\"}]}",
        "{\"model\": \"m\", \"messages\": [{\"role\": \"tool\", \"content\": \"a\"}]}",
        "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": 5}]}",
        "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": "
        "\"image_url\"}]}]}",
        "{\"model\": \"m\", \"max_tokens\": 0, \"messages\": [{\"role\": \"user\", \"content\": "
        "\"a\"}]}",
        "{\"model\": \"m\", \"temperature\": 3, \"messages\": [{\"role\": \"user\", \"content\": "
        "\"a\"}]}",
        "{\"model\": \"m\", \"stream\": \"yes\", \"messages\": [{\"role\": \"user\", \"content\": "
        "\"a\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dx_status st = api_chat_parse(bad[i], strlen(bad[i]), &c);
        CHECK_MSG(st != DX_OK, "accepted %s", bad[i]);
        CHECK(c.root == NULL && *dx_errmsg());
    }
}

TEST(ids)
{
    CHECK(api_id_valid("k3x9ab2mq7de", 12));
    CHECK(!api_id_valid("", 0));
    CHECK(!api_id_valid("K3X9", 4));
    CHECK(!api_id_valid("..", 2));
    CHECK(!api_id_valid("abc/def", 7));
    char long_id[DX_HTTP_MAX_ID + 2];
    memset(long_id, 'a', sizeof long_id);
    CHECK(!api_id_valid(long_id, sizeof long_id));
}

/* X-Forwarded-For names the client only when the hop that sent it is a
 * trusted proxy; a client can't pick its own address. */
TEST(forwarded_for_only_from_trusted_proxies)
{
    static http_server s; /* only its guard is read */
    http_opts o = {.host = "127.0.0.1", .trusted_proxies = "10.0.0.1, ::ffff:10.0.0.2"};
    CHECK_EQ_INT(http_guard_init(&s, &o), DX_OK);
    char out[48];
    http_guard_client(&s, "192.0.2.9", "203.0.113.5", out);
    CHECK_STR(out, "192.0.2.9"); /* not a proxy: its header is ignored */
    http_guard_client(&s, "10.0.0.1", "203.0.113.5", out);
    CHECK_STR(out, "203.0.113.5");
    http_guard_client(&s, "10.0.0.1", "6.6.6.6, 203.0.113.5, 10.0.0.2", out);
    CHECK_STR(out, "203.0.113.5"); /* the rightmost hop no trusted proxy added */
    http_guard_client(&s, "::ffff:10.0.0.1", "garbage", out);
    CHECK_STR(out, "10.0.0.1"); /* a header that is no address names nobody */
    http_guard_client(&s, "10.0.0.1", NULL, out);
    CHECK_STR(out, "10.0.0.1");
    http_opts bad = {.trusted_proxies = "proxy.example"};
    static http_server s2;
    CHECK_EQ_INT(http_guard_init(&s2, &bad), DX_EARG);
}

/* The gate's verdict on a request head: what libmicrohttpd would have
 * answered without drux's headers (or not at all) is drux's to answer. */
static http_head_verdict head(const char *text, http_head *h)
{
    return http_head_check(text, strlen(text), h);
}

TEST(request_heads_good_and_growing)
{
    http_head h;
    const char *ok = "POST /api/v1/questions HTTP/1.1\r\nHost: x\r\ncontent-length:  12 \r\n\r\n";
    CHECK_EQ_INT(head(ok, &h), HTTP_HEAD_OK);
    CHECK(h.api && h.has_length && h.length == 12 && h.len == strlen(ok));
    CHECK_EQ_INT(head("GET / HTTP/1.0\r\n\r\nbody after", &h), HTTP_HEAD_OK);
    CHECK(!h.api && h.len == 18);
    /* every prefix of a good head is "more", never a refusal */
    for (size_t n = 0; n < strlen(ok); n++)
        CHECK_MSG(http_head_check(ok, n, &h) == HTTP_HEAD_MORE, "prefix %zu", n);
    /* the same Content-Length twice is one length */
    CHECK_EQ_INT(
        head("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", &h),
        HTTP_HEAD_OK);
}

TEST(request_heads_refused)
{
    static const struct {
        const char *text;
        int status;
        bool api;
    } cases[] = {
        {"POST /api/v1/questions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, true},
        {"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n", 400, false},
        {"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400, false},
        {"POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400,
         true},
        {"POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400,
         true},
        {"POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413, true},
        {"POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 411, true},
        {"\x16\x03\x01", 400, false},
        {"GET", 0, false}, /* more */
        {"GET /api/v1/health HTTP/2.0\r\n", 505, true},
        {"GET / HTTP/1.1\r\n\r\n", 400, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, false},
        {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400, false},
        {"GET / HTTP/1.1\nHost: a\n\n", 400, false},
        {"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, false},
        {"GET  / HTTP/1.1\r\n", 400, false},
        {"GET / HTTP/1.1\r\nNo Colon\r\n\r\n", 400, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        http_head h;
        http_head_verdict v = head(cases[i].text, &h);
        if (!cases[i].status) {
            CHECK_MSG(v == HTTP_HEAD_MORE, "case %zu", i);
            continue;
        }
        CHECK_MSG(v == HTTP_HEAD_BAD && h.status == cases[i].status && h.api == cases[i].api,
                  "case %zu: verdict %d status %d api %d", i, (int)v, h.status, (int)h.api);
        CHECK_MSG(h.code && *h.code && h.message[0], "case %zu has no message", i);
    }
}

TEST(request_heads_have_limits)
{
    static char buf[2 * DX_HTTP_MAX_HEADER];
    http_head h;
    /* an address past DX_HTTP_MAX_TARGET: 414 before the line ends */
    int n = snprintf(buf, sizeof buf, "GET /api/");
    memset(buf + n, 'a', DX_HTTP_MAX_TARGET);
    CHECK_EQ_INT(http_head_check(buf, (size_t)n + DX_HTTP_MAX_TARGET, &h), HTTP_HEAD_BAD);
    CHECK(h.status == 414 && h.api);
    /* a head that has not ended within DX_HTTP_MAX_HEADER bytes: 431 */
    n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: x\r\nX: ");
    memset(buf + n, 'a', sizeof buf - (size_t)n);
    CHECK_EQ_INT(http_head_check(buf, DX_HTTP_MAX_HEADER - 1, &h), HTTP_HEAD_MORE);
    CHECK_EQ_INT(http_head_check(buf, sizeof buf, &h), HTTP_HEAD_BAD);
    CHECK_EQ_INT(h.status, 431);
    /* more fields than DX_HTTP_MAX_HEADERS: 431 */
    size_t len = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
    for (unsigned i = 0; i <= DX_HTTP_MAX_HEADERS; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "X-%u: 1\r\n", i);
    len += (size_t)snprintf(buf + len, sizeof buf - len, "\r\n");
    CHECK_EQ_INT(http_head_check(buf, len, &h), HTTP_HEAD_BAD);
    CHECK_EQ_INT(h.status, 431);
}

int main(void)
{
    RUN(stream_followers_see_every_byte_once);
    RUN(stream_is_bounded);
    RUN(stream_event_is_one_sse_event);
    RUN(stream_wakes_a_waiting_reader);
    RUN(stream_reader_stops_on_flag);
    RUN(form_values_decode);
    RUN(question_bodies);
    RUN(chat_bodies);
    RUN(ids);
    RUN(forwarded_for_only_from_trusted_proxies);
    RUN(request_heads_good_and_growing);
    RUN(request_heads_refused);
    RUN(request_heads_have_limits);
    return test_summary();
}
