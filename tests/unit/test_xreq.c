/*
 * test_xreq.c - the request parser of engine/exchange.h (engine/xreq.c, engine/reqbody.c):
 * routing and body fields per provider and operation, API-key fingerprints, any byte split,
 * chunked and gzip bodies, keep-alive and pipelining, what passes and why, hostile input,
 * and the include_usage rewrite.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <http_parser.h>
#include <zlib.h>

#include "wire_util.h"

#define MAX_BODY (256 * 1024)
#define FUZZ_ROUNDS 10000
#define FUZZ_MAX_LEN 300
#define HUGE_HEADER (70 * 1024)
#define GZIP_WBITS (15 + 16)

/* Test keys: obviously fake, never real-looking. */
#define KEY_OPENAI "test-key-openai-0000"
#define KEY_ANTH "test-key-anthropic-0000"
#define KEY_GEMINI "test-key-gemini-0000"

static const char chat_body[] =
    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Say hello to the world in "
    "French, please.\"}]}],\"max_completion_tokens\":300,\"n\":2,\"user\":\"cust-42\","
    "\"stream\":true}";

static char *chat_request(const char *body, size_t *len)
{
    return wu_http_cl("POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
                      "Authorization: Bearer " KEY_OPENAI "\r\n"
                      "Accept-Encoding: gzip, deflate\r\nContent-Type: application/json\r\n"
                      "X-Stainless-Lang: python\r\n", body, len);
}

static void fp_of(const char *key, char out[13])
{
    ak_key_fingerprint(key, strlen(key), out);
}

static struct ak_reqparser *parse_done(enum ak_provider prov, const char *msg, size_t len,
                                       enum wu_split mode)
{
    struct ak_reqparser *p = ak_reqparser_new(prov, MAX_BODY);
    size_t used = 0;
    assert_int_equal(wu_feed_req(p, msg, len, mode, 11, &used), AK_REQ_DONE);
    assert_int_equal(used, len);
    size_t hl;
    const unsigned char *held = ak_reqparser_bytes(p, &hl);
    assert_int_equal(hl, len);
    assert_memory_equal(held, msg, len);
    return p;
}

static void test_openai_chat_every_split(void **state)
{
    (void)state;
    size_t len;
    char *msg = chat_request(chat_body, &len);
    char fp[13];
    fp_of(KEY_OPENAI, fp);
    uint64_t hash = 0;
    for (int mode = 0; mode < WU_SPLITS; mode++) {
        struct ak_reqparser *p = parse_done(AK_PROV_OPENAI, msg, len, mode);
        const struct ak_xreq *r = ak_reqparser_request(p);
        assert_string_equal(r->method, "POST");
        assert_string_equal(r->target, "/v1/chat/completions");
        assert_string_equal(ak_operation_name(r->operation), "chat");
        assert_string_equal(r->model, "gpt-4o");
        assert_true(r->stream);
        assert_false(r->include_usage);
        assert_int_equal(r->max_output_tokens, 300);
        assert_int_equal(r->n_choices, 2);
        assert_string_equal(r->customer, "cust-42");
        assert_string_equal(r->key_fp, fp);
        assert_true(r->gzip_accepted);
        assert_false(r->head_only);
        assert_int_equal(r->body_len, strlen(chat_body));
        /* ~4 bytes a token of the 14 + 41 text bytes, plus two messages' overhead */
        assert_in_range(r->input_estimate, 14, 30);
        if (mode == 0)
            hash = r->body_hash;
        assert_true(hash != 0 && r->body_hash == hash);
        size_t bl;
        const unsigned char *b = ak_reqparser_body(p, &bl);
        assert_int_equal(bl, strlen(chat_body));
        assert_memory_equal(b, chat_body, bl);
        ak_reqparser_free(p);
    }
    free(msg);
}

static void test_body_hash_differs(void **state)
{
    (void)state;
    size_t l1, l2;
    char *m1 = chat_request("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}", &l1);
    char *m2 = chat_request("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"b\"}]}", &l2);
    struct ak_reqparser *a = parse_done(AK_PROV_OPENAI, m1, l1, WU_WHOLE);
    struct ak_reqparser *b = parse_done(AK_PROV_OPENAI, m2, l2, WU_WHOLE);
    assert_true(ak_reqparser_request(a)->body_hash != ak_reqparser_request(b)->body_hash);
    assert_int_equal(ak_reqparser_request(a)->max_output_tokens, -1);
    assert_int_equal(ak_reqparser_request(a)->n_choices, 1);
    ak_reqparser_free(a);
    ak_reqparser_free(b);
    free(m1);
    free(m2);
}

static void test_anthropic_messages(void **state)
{
    (void)state;
    size_t len;
    char *msg = wu_http_cl("POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\n"
                           "x-api-key: " KEY_ANTH "\r\nanthropic-version: 2023-06-01\r\n",
                           "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,"
                           "\"system\":\"Be brief.\",\"metadata\":{\"user_id\":\"u-7\"},"
                           "\"messages\":[{\"role\":\"user\",\"content\":\"Hello, Claude\"}]}",
                           &len);
    char fp[13];
    fp_of(KEY_ANTH, fp);
    struct ak_reqparser *p = parse_done(AK_PROV_ANTHROPIC, msg, len, WU_RANDOM);
    const struct ak_xreq *r = ak_reqparser_request(p);
    assert_string_equal(ak_operation_name(r->operation), "messages");
    assert_string_equal(r->model, "claude-sonnet-4-5");
    assert_false(r->stream);
    assert_int_equal(r->max_output_tokens, 1024);
    assert_string_equal(r->customer, "u-7");
    assert_string_equal(r->key_fp, fp);
    assert_false(r->gzip_accepted);
    ak_reqparser_free(p);
    free(msg);

    /* count_tokens is free: not metered */
    msg = wu_http_cl("POST /v1/messages/count_tokens HTTP/1.1\r\nHost: api.anthropic.com\r\n",
                     "{\"model\":\"claude-sonnet-4-5\",\"messages\":[]}", &len);
    p = ak_reqparser_new(AK_PROV_ANTHROPIC, MAX_BODY);
    size_t used;
    assert_int_equal(wu_feed_req(p, msg, len, WU_WHOLE, 1, &used), AK_REQ_PASS);
    assert_string_equal(ak_reqparser_reason(p), "unknown path");
    ak_reqparser_free(p);
    free(msg);
}

static void test_gemini_paths(void **state)
{
    (void)state;
    size_t len;
    char *msg = wu_http_cl(
        "POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=" KEY_GEMINI
        " HTTP/1.1\r\nHost: generativelanguage.googleapis.com\r\n",
        "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Why is the sky blue?\"}]}],"
        "\"generationConfig\":{\"maxOutputTokens\":500,\"candidateCount\":3}}", &len);
    char fp[13];
    fp_of(KEY_GEMINI, fp);
    struct ak_reqparser *p = parse_done(AK_PROV_GEMINI, msg, len, WU_BYTES);
    const struct ak_xreq *r = ak_reqparser_request(p);
    assert_string_equal(ak_operation_name(r->operation), "generate_content");
    assert_string_equal(r->model, "gemini-2.5-flash");
    assert_true(r->stream);
    assert_int_equal(r->max_output_tokens, 500);
    assert_int_equal(r->n_choices, 3);
    assert_string_equal(r->key_fp, fp);
    assert_in_range(r->input_estimate, 5, 12);
    ak_reqparser_free(p);
    free(msg);

    msg = wu_http_cl("POST /v1beta/models/gemini-2.0-flash:generateContent HTTP/1.1\r\n"
                     "x-goog-api-key: " KEY_GEMINI "\r\n",
                     "{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}", &len);
    p = parse_done(AK_PROV_GEMINI, msg, len, WU_WHOLE);
    r = ak_reqparser_request(p);
    assert_string_equal(ak_operation_name(r->operation), "generate_content");
    assert_string_equal(r->model, "gemini-2.0-flash");
    assert_false(r->stream);
    assert_string_equal(r->key_fp, fp);
    ak_reqparser_free(p);
    free(msg);
}

static void test_azure_responses_embeddings(void **state)
{
    (void)state;
    size_t len;
    char *msg = wu_http_cl("POST /openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21"
                           " HTTP/1.1\r\napi-key: " KEY_OPENAI "\r\n",
                           "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &len);
    char fp[13];
    fp_of(KEY_OPENAI, fp);
    struct ak_reqparser *p = parse_done(AK_PROV_OPENAI, msg, len, WU_WHOLE);
    assert_string_equal(ak_operation_name(ak_reqparser_request(p)->operation), "chat");
    assert_string_equal(ak_reqparser_request(p)->model, "prod-gpt4o");
    assert_string_equal(ak_reqparser_request(p)->key_fp, fp);
    ak_reqparser_free(p);
    free(msg);

    msg = wu_http_cl("POST /v1/responses HTTP/1.1\r\n",
                     "{\"model\":\"gpt-4o-mini\",\"input\":\"Tell me a joke\","
                     "\"max_output_tokens\":64,\"stream\":true}", &len);
    p = parse_done(AK_PROV_OPENAI, msg, len, WU_WHOLE);
    assert_string_equal(ak_operation_name(ak_reqparser_request(p)->operation), "responses");
    assert_int_equal(ak_reqparser_request(p)->max_output_tokens, 64);
    assert_true(ak_reqparser_request(p)->stream);
    assert_string_equal(ak_reqparser_request(p)->key_fp, "");
    ak_reqparser_free(p);
    free(msg);

    msg = wu_http_cl("POST /v1/embeddings HTTP/1.1\r\n",
                     "{\"model\":\"text-embedding-3-small\",\"input\":[\"a b c d\",\"e f g h\"]}", &len);
    p = parse_done(AK_PROV_MISTRAL, msg, len, WU_WHOLE);
    assert_string_equal(ak_operation_name(ak_reqparser_request(p)->operation), "embeddings");
    assert_in_range(ak_reqparser_request(p)->input_estimate, 4, 8);
    ak_reqparser_free(p);
    free(msg);
}

static void test_chunked_and_gzip_bodies(void **state)
{
    (void)state;
    static const size_t sizes[] = { 7, 1, 30, 0 };
    size_t len;
    char *msg = wu_http_chunked("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n",
                                chat_body, sizes, "", &len);
    for (int mode = 0; mode < WU_SPLITS; mode++) {
        struct ak_reqparser *p = parse_done(AK_PROV_OPENAI, msg, len, mode);
        assert_string_equal(ak_reqparser_request(p)->model, "gpt-4o");
        assert_int_equal(ak_reqparser_request(p)->body_len, strlen(chat_body));
        ak_reqparser_free(p);
    }
    free(msg);

    /* gzip request body: parsed decoded, held as sent */
    unsigned char gz[1024];
    z_stream z = { 0 };
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, GZIP_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)chat_body;
    z.avail_in = strlen(chat_body);
    z.next_out = gz;
    z.avail_out = sizeof gz;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t gzlen = sizeof gz - z.avail_out;
    deflateEnd(&z);
    struct ak_buf m = { 0 };
    ak_buf_printf(&m, "POST /v1/chat/completions HTTP/1.1\r\nContent-Encoding: gzip\r\n"
                      "Content-Length: %zu\r\n\r\n", gzlen);
    ak_buf_append(&m, gz, gzlen, 0);
    struct ak_reqparser *p = parse_done(AK_PROV_OPENAI, (char *)m.data, m.len, WU_BYTES);
    assert_string_equal(ak_reqparser_request(p)->model, "gpt-4o");
    size_t bl;
    const unsigned char *b = ak_reqparser_body(p, &bl);
    assert_int_equal(bl, strlen(chat_body));
    assert_memory_equal(b, chat_body, bl);
    ak_reqparser_free(p);
    ak_buf_free(&m);
}

static void test_keepalive_pass_then_hold(void **state)
{
    (void)state;
    size_t l2;
    char *post = chat_request(chat_body, &l2);
    const char *get = "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n";
    struct ak_buf two = { 0 };
    ak_buf_append(&two, get, strlen(get), 0);
    ak_buf_append(&two, post, l2, 0);
    ak_buf_append(&two, post, l2, 0);
    struct ak_reqparser *p = ak_reqparser_new(AK_PROV_OPENAI, MAX_BODY);
    size_t c = 0, hl;
    assert_int_equal(ak_reqparser_feed(p, two.data, two.len, &c), AK_REQ_PASS);
    assert_int_equal(c, strlen(get));
    assert_string_equal(ak_reqparser_reason(p), "GET");
    ak_reqparser_bytes(p, &hl);
    assert_int_equal(hl, strlen(get));
    /* the parser is holding again for the next request, by itself */
    size_t off = c;
    assert_int_equal(ak_reqparser_feed(p, two.data + off, two.len - off, &c), AK_REQ_DONE);
    assert_int_equal(c, l2);
    assert_string_equal(ak_operation_name(ak_reqparser_request(p)->operation), "chat");
    /* pipelined: a second request after a DONE is fed again after reset */
    off += c;
    ak_reqparser_reset(p);
    assert_int_equal(ak_reqparser_feed(p, two.data + off, two.len - off, &c), AK_REQ_DONE);
    assert_int_equal(c, l2);
    ak_reqparser_free(p);
    ak_buf_free(&two);
    free(post);
}

/* One connection, three requests: the key changes in the second and changes back in the
 * third; each request carries its own key's fingerprint (the key cache never serves a stale
 * one), a request without a key has none, and a second connection gets its own key's. */
static void test_keepalive_key_changes(void **state)
{
    (void)state;
    static const char *const keys[] = { KEY_OPENAI, "test-key-openai-1111", KEY_OPENAI, NULL };
    struct ak_reqparser *p = ak_reqparser_new(AK_PROV_OPENAI, MAX_BODY);
    for (size_t i = 0; i < 4; i++) {
        char head[256], fp[13] = "";
        if (keys[i])
            snprintf(head, sizeof head, "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com"
                     "\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n", keys[i]);
        else
            snprintf(head, sizeof head, "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com"
                     "\r\nContent-Type: application/json\r\n");
        size_t len, c = 0;
        char *msg = wu_http_cl(head, chat_body, &len);
        ak_reqparser_reset(p);
        assert_int_equal(ak_reqparser_feed(p, (const unsigned char *)msg, len, &c), AK_REQ_DONE);
        if (keys[i])
            fp_of(keys[i], fp);
        assert_string_equal(ak_reqparser_request(p)->key_fp, fp);
        free(msg);
    }
    char a[13], b[13];
    fp_of(keys[0], a);
    fp_of(keys[1], b);
    assert_string_not_equal(a, b);
    /* interleaved connections of one thread */
    struct ak_reqparser *q = ak_reqparser_new(AK_PROV_OPENAI, MAX_BODY);
    for (size_t i = 0; i < 3; i++) {
        struct ak_reqparser *r = i % 2 ? q : p;
        char head[256], fp[13];
        snprintf(head, sizeof head, "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com"
                 "\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n", keys[i % 2]);
        size_t len, c = 0;
        char *msg = wu_http_cl(head, chat_body, &len);
        ak_reqparser_reset(r);
        assert_int_equal(ak_reqparser_feed(r, (const unsigned char *)msg, len, &c), AK_REQ_DONE);
        fp_of(keys[i % 2], fp);
        assert_string_equal(ak_reqparser_request(r)->key_fp, fp);
        free(msg);
    }
    ak_reqparser_free(q);
    ak_reqparser_free(p);
}

static void test_pass_reasons(void **state)
{
    (void)state;
    struct ak_reqparser *p = ak_reqparser_new(AK_PROV_OPENAI, 64);
    size_t len, used, hl;
    char *msg = chat_request(chat_body, &len);      /* Content-Length over a 64-byte cap */
    assert_int_equal(wu_feed_req(p, msg, len, WU_WHOLE, 1, &used), AK_REQ_PASS);
    assert_string_equal(ak_reqparser_reason(p), "body over cap");
    free(msg);

    /* chunked over the cap: PASS with the held bytes, then the rest passes too */
    static const size_t sizes[] = { 16, 0 };
    msg = wu_http_chunked("POST /v1/chat/completions HTTP/1.1\r\n", chat_body, sizes, "", &len);
    ak_reqparser_reset(p);
    size_t c = 0, off = 0, released = 0;
    enum ak_req_state st = AK_REQ_MORE;
    while (off < len) {
        size_t n = len - off < 40 ? len - off : 40;
        st = ak_reqparser_feed(p, (unsigned char *)msg + off, n, &c);
        if (st == AK_REQ_PASS) {
            ak_reqparser_bytes(p, &hl);
            released += hl;
        }
        off += c;
    }
    assert_int_equal(st, AK_REQ_PASS);
    assert_string_equal(ak_reqparser_reason(p), "body over cap");
    assert_int_equal(released, len);               /* every byte released exactly once */
    free(msg);
    ak_reqparser_free(p);

    p = ak_reqparser_new(AK_PROV_OPENAI, MAX_BODY);
    msg = chat_request("{\"model\": \"gpt-4o\", \"messages\": [", &len);
    assert_int_equal(wu_feed_req(p, msg, len, WU_WHOLE, 1, &used), AK_REQ_PASS);
    assert_string_equal(ak_reqparser_reason(p), "body not JSON");
    free(msg);
    ak_reqparser_reset(p);
    const char *head = "HEAD /v1/chat/completions HTTP/1.1\r\nExpect: 100-continue\r\n\r\n";
    assert_int_equal(wu_feed_req(p, head, strlen(head), WU_BYTES, 1, &used), AK_REQ_PASS);
    assert_true(ak_reqparser_request(p)->head_only);
    assert_true(ak_reqparser_request(p)->expect_continue);
    ak_reqparser_free(p);
}

static void test_hostile(void **state)
{
    (void)state;
    struct ak_reqparser *p = ak_reqparser_new(AK_PROV_OPENAI, MAX_BODY);
    const char *h2 = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    size_t used;
    assert_int_equal(wu_feed_req(p, h2, strlen(h2), WU_WHOLE, 1, &used), AK_REQ_ERROR);
    ak_reqparser_reset(p);

    struct ak_buf big = { 0 };
    ak_buf_printf(&big, "POST /v1/chat/completions HTTP/1.1\r\nX-Big: ");
    for (int i = 0; i < HUGE_HEADER; i++)
        ak_buf_append(&big, "a", 1, 0);
    ak_buf_printf(&big, "\r\nContent-Length: 2\r\n\r\n{}");
    for (int mode = 0; mode < WU_SPLITS; mode += 2) {
        ak_reqparser_reset(p);
        assert_int_equal(wu_feed_req(p, (char *)big.data, big.len, mode, 5, &used), AK_REQ_ERROR);
    }
    ak_buf_free(&big);

    /* garbage: never a crash, never DONE */
    uint32_t seed = 12345;
    unsigned char junk[FUZZ_MAX_LEN];
    for (int round = 0; round < FUZZ_ROUNDS; round++) {
        size_t n = 1 + wu_rand(&seed) % FUZZ_MAX_LEN;
        for (size_t i = 0; i < n; i++)
            junk[i] = (unsigned char)wu_rand(&seed);
        if (round % 2)                 /* half of them start like a request */
            memcpy(junk, "POST /v1/chat/completions HTTP/1.1\r\n", n < 36 ? n : 36);
        ak_reqparser_reset(p);
        size_t c;
        enum ak_req_state st = ak_reqparser_feed(p, junk, n, &c);
        assert_true(c <= n);
        assert_int_not_equal(st, AK_REQ_DONE);
    }
    ak_reqparser_free(p);
}

/* Parses a rewritten request again and returns its body JSON. */
static cJSON *reparse(const struct ak_buf *out, struct ak_reqparser **again)
{
    *again = parse_done(AK_PROV_OPENAI, (const char *)out->data, out->len, WU_RANDOM);
    size_t bl;
    const unsigned char *b = ak_reqparser_body(*again, &bl);
    return cJSON_ParseWithLength((const char *)b, bl);
}

static void test_rewrite_include_usage(void **state)
{
    (void)state;
    size_t len;
    char *msg = chat_request(chat_body, &len);
    struct ak_reqparser *p = parse_done(AK_PROV_OPENAI, msg, len, WU_WHOLE);
    struct ak_buf out = { 0 };
    assert_true(ak_reqparser_rewrite_include_usage(p, &out));
    const char *expect_head = "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
                              "Authorization: Bearer " KEY_OPENAI "\r\n"
                              "Content-Type: application/json\r\nX-Stainless-Lang: python\r\n"
                              "Content-Length: ";
    assert_memory_equal(out.data, expect_head, strlen(expect_head));
    struct ak_reqparser *again;
    cJSON *j = reparse(&out, &again);
    assert_true(ak_reqparser_request(again)->include_usage);
    assert_false(ak_reqparser_request(again)->gzip_accepted);
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "gpt-4o");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "messages")), 2);
    cJSON_Delete(j);
    /* already asked for: nothing to rewrite */
    assert_false(ak_reqparser_rewrite_include_usage(again, &out));
    ak_reqparser_free(again);
    ak_reqparser_free(p);
    free(msg);

    /* chunked, with other stream_options: Content-Length instead, keys kept */
    static const size_t sizes[] = { 5, 0 };
    msg = wu_http_chunked("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n",
                          "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[],"
                          "\"stream_options\":{\"include_obfuscation\":false}}", sizes, "", &len);
    p = parse_done(AK_PROV_OPENAI, msg, len, WU_WHOLE);
    ak_buf_reset(&out);
    assert_true(ak_reqparser_rewrite_include_usage(p, &out));
    assert_null(memmem(out.data, out.len, "Transfer-Encoding", 17));
    j = reparse(&out, &again);
    cJSON *so = cJSON_GetObjectItem(j, "stream_options");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(so, "include_usage")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(so, "include_obfuscation")));
    cJSON_Delete(j);
    ak_reqparser_free(again);
    ak_reqparser_free(p);
    free(msg);

    /* not streaming, or Mistral (rejects stream_options): no rewrite */
    msg = chat_request("{\"model\":\"gpt-4o\",\"messages\":[]}", &len);
    p = parse_done(AK_PROV_OPENAI, msg, len, WU_WHOLE);
    ak_buf_reset(&out);
    assert_false(ak_reqparser_rewrite_include_usage(p, &out));
    assert_int_equal(out.len, 0);
    ak_reqparser_free(p);
    free(msg);
    msg = chat_request(chat_body, &len);
    p = parse_done(AK_PROV_MISTRAL, msg, len, WU_WHOLE);
    assert_false(ak_reqparser_rewrite_include_usage(p, &out));
    ak_reqparser_free(p);
    free(msg);
    ak_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_chat_every_split),
        cmocka_unit_test(test_body_hash_differs),
        cmocka_unit_test(test_anthropic_messages),
        cmocka_unit_test(test_gemini_paths),
        cmocka_unit_test(test_azure_responses_embeddings),
        cmocka_unit_test(test_chunked_and_gzip_bodies),
        cmocka_unit_test(test_keepalive_pass_then_hold),
        cmocka_unit_test(test_keepalive_key_changes),
        cmocka_unit_test(test_pass_reasons),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_rewrite_include_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
