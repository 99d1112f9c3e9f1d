/* Premium members: provider presets, tiers and prices in the config; the
 * Anthropic and Gemini decoders; error bodies, retry hints and key
 * redaction. The wire formats end to end are in
 * tests/integration/test_premium.py. */
#include <jansson.h>
#include <string.h>

#include "council/config.h"
#include "council/remote.h"
#include "server/pages.h"
#include "test.h"

static council_config *parse(const char *text, dx_status *st)
{
    council_config *c = NULL;
    *st = council_config_parse(text, strlen(text), "t.ini", &c);
    return c;
}

TEST(config_providers_fill_defaults)
{
    dx_status st;
    council_config *c = parse("[member.claude]\nprovider = anthropic\nmodel = claude-x\n"
                              "input_price = 3\noutput_price = 15\n"
                              "[member.gem]\nprovider = gemini\nmodel = gemini-y\n"
                              "api_key_env = MY_GEMINI\n"
                              "[member.or]\nprovider = openrouter\nmodel = a/b\n"
                              "[member.proxy]\nbase_url = http://127.0.0.1:9/v1\napi = anthropic\n"
                              "model = m\ntier = free\n"
                              "[member.llama]\nbase_url = http://127.0.0.1:8080/v1\nmodel = q\n"
                              "[member.smol]\nmodel = smol.gguf\n",
                              &st);
    CHECK(st == DX_OK);
    const member_config *m = council_config_member(c, "claude");
    CHECK(m->kind == MEMBER_REMOTE && m->api == MEMBER_API_ANTHROPIC && m->premium);
    CHECK_STR(m->base_url, "https://api.anthropic.com/v1");
    CHECK_STR(m->api_key_env, "ANTHROPIC_API_KEY");
    CHECK(m->has_price && m->input_price == 3 && m->output_price == 15);
    /* 1000 prompt and 2000 completion tokens at $3 / $15 per million */
    CHECK(fabs(member_cost_usd(m, 1000, 2000) - 0.033) < 1e-12);
    CHECK(fabs(member_cost_usd(m, -1, 2000) - 0.030) < 1e-12);
    m = council_config_member(c, "gem");
    CHECK(m->api == MEMBER_API_GEMINI && m->premium);
    CHECK_STR(m->base_url, "https://generativelanguage.googleapis.com/v1beta");
    CHECK_STR(m->api_key_env, "MY_GEMINI"); /* the file's choice wins */
    CHECK(member_cost_usd(m, 10, 10) < 0);  /* premium without prices: unknown */
    m = council_config_member(c, "or");
    CHECK(m->api == MEMBER_API_OPENAI);
    CHECK_STR(m->base_url, "https://openrouter.ai/api/v1");
    CHECK_STR(m->api_key_env, "OPENROUTER_API_KEY");
    m = council_config_member(c, "proxy");
    CHECK(m->kind == MEMBER_REMOTE && m->api == MEMBER_API_ANTHROPIC && !m->premium);
    CHECK(m->api_key_env == NULL);
    CHECK_STR(member_tier_str(m), "free");
    CHECK(member_cost_usd(m, 10, 10) == 0);
    m = council_config_member(c, "llama");
    CHECK(m->api == MEMBER_API_OPENAI && m->premium && m->provider == NULL);
    m = council_config_member(c, "smol");
    CHECK(m->kind == MEMBER_LOCAL && !m->premium);
    CHECK_STR(member_tier_str(m), "free");
    council_config_free(c);
}

TEST(config_example_has_every_adapter)
{
    council_config *c = NULL;
    dx_status st = council_config_load("docs/drux.example.ini", &c);
    CHECK_MSG(st == DX_OK, "%s", dx_errmsg());
    const member_config *m = council_config_member(c, "claude");
    CHECK(m && m->api == MEMBER_API_ANTHROPIC && m->premium && m->has_price);
    m = council_config_member(c, "gemini");
    CHECK(m && m->api == MEMBER_API_GEMINI && m->premium);
    m = council_config_member(c, "gpt");
    CHECK(m && m->api == MEMBER_API_OPENAI && m->premium);
    m = council_config_member(c, "local-llama-server");
    CHECK(m && m->kind == MEMBER_REMOTE && !m->premium);
    council_config_free(c);
}

TEST(config_provider_errors)
{
    dx_status st;
    CHECK(!parse("[member.x]\nprovider = anthropix\nmodel = m\n", &st));
    CHECK(st == DX_EFORMAT && strstr(dx_errmsg(), "t.ini:2: provider = 'anthropix'"));
    CHECK(!parse("[member.x]\ntype = local\nprovider = gemini\nmodel = m\n", &st));
    CHECK(st == DX_EFORMAT && strstr(dx_errmsg(), "is local"));
    CHECK(!parse("[member.x]\nmodel = m.gguf\ntier = premium\n", &st));
    CHECK(st == DX_EFORMAT && strstr(dx_errmsg(), "tier = free"));
    CHECK(!parse("[member.x]\nprovider = xai\nmodel = m\ninput_price = -1\n", &st));
    CHECK(st == DX_EFORMAT && strstr(dx_errmsg(), "input_price"));
    CHECK(!parse("[member.x]\nprovider = xai\nmodel = m\napi = grpc\n", &st));
    CHECK(st == DX_EFORMAT && strstr(dx_errmsg(), "api = 'grpc'"));
    CHECK(!parse("[member.x]\nprovider = xai\nprovider = xai\nmodel = m\n", &st));
    CHECK(st == DX_EFORMAT && strstr(dx_errmsg(), "set twice"));
}

TEST(anthropic_events)
{
    remote_chunk c;
    const char *d =
        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
        "\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":25,"
        "\"output_tokens\":1}}}";
    CHECK(remote_anthropic_parse("message_start", d, strlen(d), false, &c) == DX_OK);
    CHECK(c.has_usage && c.prompt_tokens == 25 && c.completion_tokens == 1 && !c.content);
    remote_chunk_clear(&c);

    d = "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"Hello \\u00e9\"}}";
    CHECK(remote_anthropic_parse("content_block_delta", d, strlen(d), false, &c) == DX_OK);
    CHECK(c.content_len == 8 && !memcmp(c.content, "Hello \xC3\xA9", 8) && !c.has_usage);
    remote_chunk_clear(&c);

    d = "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\","
        "\"thinking\":\"hmm\"}}";
    CHECK(remote_anthropic_parse("content_block_delta", d, strlen(d), false, &c) == DX_OK);
    CHECK(!c.content);
    remote_chunk_clear(&c);

    d = "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},"
        "\"usage\":{\"output_tokens\":15}}";
    CHECK(remote_anthropic_parse("message_delta", d, strlen(d), false, &c) == DX_OK);
    CHECK_STR(c.finish_reason, "length");
    CHECK(c.has_usage && c.completion_tokens == 15 && c.prompt_tokens == -1);
    remote_chunk_clear(&c);

    d = "{\"type\":\"message_stop\"}";
    CHECK(remote_anthropic_parse("message_stop", d, strlen(d), false, &c) == DX_OK && c.done);
    remote_chunk_clear(&c);
    d = "{\"type\":\"ping\"}";
    CHECK(remote_anthropic_parse("ping", d, strlen(d), false, &c) == DX_OK);
    CHECK(!c.done && !c.content && !c.error && !c.has_usage);
    remote_chunk_clear(&c);

    d = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";
    CHECK(remote_anthropic_parse("error", d, strlen(d), false, &c) == DX_OK);
    CHECK_STR(c.error, "Overloaded");
    CHECK_STR(c.error_type, "overloaded_error");
    remote_chunk_clear(&c);

    d = "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":7}}";
    CHECK(remote_anthropic_parse(NULL, d, strlen(d), false, &c) == DX_EFORMAT);
    remote_chunk_clear(&c);
    CHECK(remote_anthropic_parse(NULL, "{\"type\":", 8, false, &c) == DX_EFORMAT);
    CHECK(strstr(dx_errmsg(), "malformed JSON") != NULL);
    remote_chunk_clear(&c);

    d = "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"A\"},{\"type\":\"text\","
        "\"text\":\"B\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":3,"
        "\"output_tokens\":2}}";
    CHECK(remote_anthropic_parse(NULL, d, strlen(d), true, &c) == DX_OK);
    CHECK(c.content_len == 2 && !memcmp(c.content, "AB", 2) && c.done);
    CHECK_STR(c.finish_reason, "stop");
    CHECK(c.prompt_tokens == 3 && c.completion_tokens == 2);
    remote_chunk_clear(&c);
}

TEST(gemini_chunks)
{
    remote_chunk c;
    const char *d =
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"},"
        "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9,\"totalTokenCount\":9}}";
    CHECK(remote_gemini_parse(d, strlen(d), &c) == DX_OK);
    CHECK(c.content_len == 2 && !memcmp(c.content, "Hi", 2) && !c.finish_reason);
    CHECK(c.has_usage && c.prompt_tokens == 9 && c.completion_tokens == -1);
    remote_chunk_clear(&c);

    d = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"why\",\"thought\":true},"
        "{\"text\":\"one \"},{\"text\":\"two\"}]},\"finishReason\":\"MAX_TOKENS\"}],"
        "\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":5,"
        "\"thoughtsTokenCount\":6}}";
    CHECK(remote_gemini_parse(d, strlen(d), &c) == DX_OK);
    CHECK(c.content_len == 7 && !memcmp(c.content, "one two", 7));
    CHECK_STR(c.finish_reason, "length");
    CHECK(c.prompt_tokens == 4 && c.completion_tokens == 11);
    remote_chunk_clear(&c);

    d = "{\"candidates\":[{\"content\":{\"parts\":[]},\"finishReason\":\"SAFETY\"}]}";
    CHECK(remote_gemini_parse(d, strlen(d), &c) == DX_OK);
    CHECK_STR(c.finish_reason, "safety");
    remote_chunk_clear(&c);

    d = "{\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}";
    CHECK(remote_gemini_parse(d, strlen(d), &c) == DX_OK);
    CHECK(c.error != NULL);
    CHECK_STR(c.error_type, "SAFETY");
    remote_chunk_clear(&c);

    d = "{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted\","
        "\"status\":\"RESOURCE_EXHAUSTED\"}}";
    CHECK(remote_gemini_parse(d, strlen(d), &c) == DX_OK);
    CHECK_STR(c.error, "Resource has been exhausted");
    CHECK_STR(c.error_type, "RESOURCE_EXHAUSTED");
    remote_chunk_clear(&c);

    d = "{\"candidates\":{\"x\":1}}";
    CHECK(remote_gemini_parse(d, strlen(d), &c) == DX_EFORMAT);
    remote_chunk_clear(&c);
    d = "{\"candidates\":[{\"content\":{\"parts\":\"no\"}}]}";
    CHECK(remote_gemini_parse(d, strlen(d), &c) == DX_EFORMAT);
    remote_chunk_clear(&c);
}

TEST(provider_error_bodies_and_hints)
{
    char buf[160];
    const char *b =
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";
    CHECK_STR(remote_error_message(b, strlen(b), buf, sizeof buf), "overloaded_error: Overloaded");
    b = "{\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":"
        "\"UNAVAILABLE\"}}";
    CHECK_STR(remote_error_message(b, strlen(b), buf, sizeof buf),
              "UNAVAILABLE: The model is overloaded.");
    /* OpenAI's type is not repeated */
    b = "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}";
    CHECK_STR(remote_error_message(b, strlen(b), buf, sizeof buf), "boom");

    b = "{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":"
        "\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"37s\"}]}}";
    CHECK(remote_error_retry_s(b, strlen(b)) == 37);
    CHECK(remote_error_retry_s("{}", 2) == 0);
    CHECK(remote_error_retry_s("not json", 8) == 0);

    CHECK(remote_duration_s("6m0s", 4) == 360);
    CHECK(fabs(remote_duration_s("20ms", 4) - 0.02) < 1e-12);
    CHECK(remote_duration_s("1h2m3.5s", 8) == 3723.5);
    CHECK(remote_duration_s("12", 2) == 12);
    CHECK(remote_duration_s("", 0) < 0);
    CHECK(remote_duration_s("soon", 4) < 0);
    CHECK(remote_duration_s("1x", 2) < 0);
    CHECK(remote_duration_s("5 5", 3) < 0);
}

/* Anthropic's anthropic-ratelimit-*-reset headers: RFC 3339 times. */
TEST(rfc3339_times)
{
    CHECK(remote_rfc3339_s("1970-01-01T00:00:00Z", 20) == 0);
    CHECK(remote_rfc3339_s("2026-12-06T21:00:30Z", 20) == 1796590830);
    CHECK(remote_rfc3339_s("2000-02-29T12:00:00Z", 20) == 951825600);
    CHECK(remote_rfc3339_s("2026-12-06T22:00:30+01:00", 25) == 1796590830);
    CHECK(remote_rfc3339_s("2026-12-06T20:30:30-00:30", 25) == 1796590830);
    CHECK(fabs(remote_rfc3339_s("2026-12-06T21:00:30.25Z", 23) - 1796590830.25) < 1e-6);
    CHECK(remote_rfc3339_s("2026-12-06t21:00:30z", 20) == 1796590830);
    /* what is not one is -1, never a guess */
    static const char *const bad[] = {"",
                                      "2026-12-06",
                                      "2026-12-06T21:00:30",
                                      "2026-13-06T21:00:30Z",
                                      "2026-12-06T25:00:30Z",
                                      "2026-12-06T21:00:30.Z",
                                      "2026-12-06T21:00:30Zjunk",
                                      "2026-12-06T21:00:30+0100",
                                      "6m0s",
                                      "１９７０-01-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_MSG(remote_rfc3339_s(bad[i], strlen(bad[i])) == -1, "%s", bad[i]);
    /* only the n bytes given are read */
    CHECK(remote_rfc3339_s("1970-01-01T00:00:00Zxyz", 20) == 0);
}

/* Premium members without prices in the config get the built-in list price of
 * their provider's model; prices in the config win. */
TEST(builtin_prices)
{
    double in = 0, out = 0;
    CHECK(council_builtin_price("anthropic", "claude-sonnet-4-5-20250929", &in, &out));
    CHECK(in == 3 && out == 15);
    CHECK(council_builtin_price("anthropic", "claude-opus-4-5", &in, &out) && in == 5);
    CHECK(council_builtin_price("anthropic", "claude-opus-4-1", &in, &out) && in == 15);
    CHECK(council_builtin_price("openai", "gpt-4o-mini-2024-07-18", &in, &out) && in == 0.15);
    CHECK(council_builtin_price("openai", "gpt-4o", &in, &out) && in == 2.5);
    CHECK(council_builtin_price("gemini", "models/gemini-2.5-flash", &in, &out) && out == 2.5);
    CHECK(!council_builtin_price("openai", "gpt-4oX", &in, &out));
    CHECK(!council_builtin_price("openrouter", "anthropic/claude-sonnet-4", &in, &out));
    CHECK(!council_builtin_price(NULL, "gpt-4o", &in, &out));
    council_config *c = NULL;
    const char *ini = "[member.a]\nprovider = anthropic\nmodel = claude-3-5-haiku-latest\n"
                      "[member.b]\nprovider = anthropic\nmodel = claude-3-5-haiku-latest\n"
                      "input_price = 1\noutput_price = 2\n"
                      "[member.c]\nprovider = xai\nmodel = grok-unknown\n"
                      "[member.d]\nprovider = openai\nmodel = gpt-4o\ntier = free\n";
    CHECK(council_config_parse(ini, strlen(ini), "t.ini", &c) == DX_OK);
    const member_config *m = council_config_member(c, "a");
    CHECK(m->has_price && m->price_builtin && m->input_price == 0.8 && m->output_price == 4);
    CHECK(fabs(member_cost_usd(m, 1000, 1000) - 0.0048) < 1e-12);
    m = council_config_member(c, "b");
    CHECK(m->has_price && !m->price_builtin && m->input_price == 1);
    m = council_config_member(c, "c");
    CHECK(!m->has_price && member_cost_usd(m, 10, 10) == -1);
    m = council_config_member(c, "d"); /* your own server: free, no list price */
    CHECK(!m->has_price && member_cost_usd(m, 10, 10) == 0);
    council_config_free(c);
}

TEST(redaction)
{
    char s[] = "bad key sk-secret-12345 (sk-secret-12345)";
    size_t n = remote_redact(s, strlen(s), "sk-secret-12345");
    CHECK_STR(s, "bad key [redacted] ([redacted])");
    CHECK(n == strlen(s));
    char t[] = "short abcde key";
    remote_redact(t, strlen(t), "abcde");
    CHECK_STR(t, "short ***** key");
    char u[] = "nothing here";
    CHECK(remote_redact(u, strlen(u), "abc") == strlen(u)); /* too short to look for */
    CHECK(remote_redact(u, strlen(u), NULL) == strlen(u));
    CHECK_STR(u, "nothing here");
}

/* The result page marks a premium member and shows its cost beside its
 * latency; a free member gets neither. */
TEST(page_marks_premium_members)
{
    json_t *q = json_loads(
        "{\"id\": \"p1\", \"question\": \"Q?\", \"status\": \"done\", \"result\": "
        "{\"question\": \"Q?\", \"cost_usd\": 0.0042, \"members\": ["
        "{\"name\": \"claude\", \"model\": \"c\", \"status\": \"done\", \"usable\": true, "
        "\"tier\": \"premium\", \"cost_usd\": 0.0042, \"latency_ms\": 1500, \"text\": \"Yes.\"},"
        "{\"name\": \"smol\", \"model\": \"s\", \"status\": \"done\", \"usable\": true, "
        "\"tier\": \"free\", \"cost_usd\": 0, \"latency_ms\": 900, \"text\": \"Yes.\"}],"
        " \"analysis\": {\"label\": \"consensus\", \"consensus\": 100, \"agreed\": [], "
        "\"disputed\": [], \"unique\": [], \"usable\": 2}}}",
        0, NULL);
    CHECK(q);
    dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
    dx_status st = page_question(&b, q, false, NULL);
    json_decref(q);
    CHECK(st == DX_OK);
    const char *c0 = strstr(b.data, "id=\"m-0\""), *c1 = strstr(b.data, "id=\"m-1\"");
    CHECK(c0 && c1 && c0 < c1);
    const char *end0 = strstr(c0, "</summary>"), *end1 = strstr(c1, "</summary>");
    const char *badge = strstr(c0, "m-tier badge\">premium"), *cost = strstr(c0, "~$0.0042");
    bool ok = end0 && end1 && badge && badge < end0 && cost && cost < end0;
    /* the free member is marked free, and has no cost shown */
    const char *b1 = strstr(c1, "m-tier badge free\">free"), *cost1 = strstr(c1, "m-cost");
    ok = ok && b1 && b1 < end1 && (!cost1 || cost1 > end1);
    dx_buf_free(&b);
    CHECK(ok);
}

int main(void)
{
    RUN(config_providers_fill_defaults);
    RUN(config_example_has_every_adapter);
    RUN(config_provider_errors);
    RUN(anthropic_events);
    RUN(gemini_chunks);
    RUN(provider_error_bodies_and_hints);
    RUN(rfc3339_times);
    RUN(builtin_prices);
    RUN(redaction);
    RUN(page_marks_premium_members);
    return test_summary();
}
