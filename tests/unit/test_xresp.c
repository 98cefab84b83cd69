/*
 * test_xresp.c - the response parser of engine/exchange.h (engine/xresp.c, engine/usage.c):
 * usage and model for every provider x operation x stream/non-stream (wire bytes from
 * reference/wire-formats.md), normalised as core/event.h says, identical under any byte
 * split; HTTP framing (Content-Length, chunked, keep-alive, 100 Continue, HEAD, 204, 304,
 * read-until-close); gzip/deflate/br/zstd bodies; hostile input; and the usage-chunk
 * transform (the client gets exactly the stream without the usage-only event).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <http_parser.h>
#include <zlib.h>
#include <zstd.h>

#include "wire_util.h"

#define MAX_BODY (256 * 1024)
#define FUZZ_ROUNDS 10000
#define FUZZ_MAX_LEN 400
#define HUGE_HEADER (70 * 1024)
#define BIG_EVENT (1024 * 1024 + 100)
#define ZLIB_WBITS 15
#define GZIP_WBITS (15 + 16)

static const char HEAD_SSE[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                               "x-request-id: req_123\r\n";
static const char HEAD_JSON[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";

static struct ak_xreq mkreq(const char *op, bool stream)
{
    struct ak_xreq r;
    memset(&r, 0, sizeof r);
    r.operation = ak_operation_parse(op);
    r.stream = stream;
    r.max_output_tokens = -1;
    r.n_choices = 1;
    return r;
}

struct expect {
    int64_t in, out, cached, write, reasoning;
    const char *model;
};

/* Parses msg under every split mode and checks the same result each time. */
static struct ak_xresp check_resp(enum ak_provider prov, struct ak_xreq req, const char *msg,
                                  size_t len, const struct expect *e)
{
    struct ak_xresp first;
    for (int mode = 0; mode < WU_SPLITS; mode++) {
        struct ak_respparser *p = ak_respparser_new(prov, &req, false, MAX_BODY);
        size_t used;
        assert_int_equal(wu_feed_resp(p, msg, len, mode, 99, &used, NULL), AK_RESP_DONE);
        assert_int_equal(used, len);
        const struct ak_xresp *r = ak_respparser_result(p);
        assert_false(r->unparseable);
        if (e) {
            assert_true(r->have_usage);
            assert_int_equal(r->usage.input_tokens, e->in);
            assert_int_equal(r->usage.output_tokens, e->out);
            assert_int_equal(r->usage.cached_input_tokens, e->cached);
            assert_int_equal(r->usage.cache_write_tokens, e->write);
            assert_int_equal(r->usage.reasoning_tokens, e->reasoning);
            assert_string_equal(r->model, e->model);
        }
        if (mode == 0)
            first = *r;
        assert_memory_equal(&first, r, sizeof first);
        ak_respparser_free(p);
    }
    return first;
}

static struct ak_xresp check_json(enum ak_provider prov, const char *op, const char *body,
                                  const struct expect *e)
{
    size_t len;
    char *msg = wu_http_cl(HEAD_JSON, body, &len);
    struct ak_xresp r = check_resp(prov, mkreq(op, false), msg, len, e);
    free(msg);
    return r;
}

static struct ak_xresp check_sse(enum ak_provider prov, const char *op, const char *body,
                                 const struct expect *e)
{
    static const size_t sizes[] = { 50, 3, 200, 0 };
    size_t len;
    char *msg = wu_http_chunked(HEAD_SSE, body, sizes, "", &len);
    struct ak_xresp r = check_resp(prov, mkreq(op, true), msg, len, e);
    assert_true(r.is_sse);
    free(msg);
    return r;
}

/* ---- usage per provider --------------------------------------------------------------- */

static void test_openai_chat(void **state)
{
    (void)state;
    const struct expect e = { 1200, 300, 1024, 0, 128, "gpt-4o-2024-08-06" };
    check_json(AK_PROV_OPENAI, "chat",
               "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-2024-08-06\","
               "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"}}],"
               "\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":300,\"total_tokens\":1500,"
               "\"prompt_tokens_details\":{\"cached_tokens\":1024,\"audio_tokens\":0},"
               "\"completion_tokens_details\":{\"reasoning_tokens\":128,\"audio_tokens\":0}}}", &e);

    const struct expect s = { 79, 14, 0, 0, 0, "gpt-4o-2024-08-06" };
    struct ak_xresp r = check_sse(AK_PROV_OPENAI, "chat",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n"
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}],\"usage\":null}\n\n"
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w\\\"orld\"}}],\"usage\":null}\n\n"
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":79,\"completion_tokens\":14,\"total_tokens\":93,\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n"
        "data: [DONE]\n\n", &s);
    assert_int_equal(r.streamed_text_bytes, 12);    /* "Hello" + " w\"orld" */
    assert_false(r.error_event);
}

static void test_openai_responses_embeddings(void **state)
{
    (void)state;
    const struct expect e = { 14, 50, 4, 2, 10, "gpt-4o-mini-2024-07-18" };
    check_json(AK_PROV_OPENAI, "responses",
               "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\","
               "\"model\":\"gpt-4o-mini-2024-07-18\",\"output\":[],"
               "\"usage\":{\"input_tokens\":14,\"input_tokens_details\":{\"cached_tokens\":4,"
               "\"cache_write_tokens\":2},\"output_tokens\":50,"
               "\"output_tokens_details\":{\"reasoning_tokens\":10},\"total_tokens\":64}}", &e);
    const char *events =
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_2\",\"status\":\"in_progress\",\"model\":\"gpt-4o-mini\",\"error\":null,\"usage\":null}}\n\n"
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"delta\":\"Hi!\"}\n\n"
        "event: %s\ndata: {\"type\":\"%s\",\"sequence_number\":3,\"response\":{\"id\":\"resp_2\",\"status\":\"completed\",\"model\":\"gpt-4o-mini\",\"usage\":{\"input_tokens\":2,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":1,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":3}}}\n\n";
    const struct expect s = { 2, 1, 0, 0, 0, "gpt-4o-mini" };
    const char *terminal[] = { "response.completed", "response.incomplete", "response.failed" };
    for (int i = 0; i < 3; i++) {
        char body[2048];
        snprintf(body, sizeof body, events, terminal[i], terminal[i]);
        struct ak_xresp r = check_sse(AK_PROV_OPENAI, "responses", body, &s);
        assert_int_equal(r.streamed_text_bytes, 3);
        assert_int_equal(r.error_event, i == 2);
    }
    const struct expect em = { 8, 0, 0, 0, 0, "text-embedding-3-small" };
    check_json(AK_PROV_OPENAI, "embeddings",
               "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
               "\"embedding\":[0.1,0.2]}],\"model\":\"text-embedding-3-small\","
               "\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}", &em);
}

static void test_anthropic(void **state)
{
    (void)state;
    const struct expect e = { 160, 20, 100, 50, 0, "claude-sonnet-4-5-20250929" };
    check_json(AK_PROV_ANTHROPIC, "messages",
               "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
               "\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}],"
               "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":10,"
               "\"cache_creation_input_tokens\":50,\"cache_read_input_tokens\":100,\"output_tokens\":20}}", &e);
    /* the fixture of wire-formats.md 3 */
    const struct expect f = { 31, 547, 0, 0, 0, "claude-opus-4-8" };
    struct ak_xresp r = check_sse(AK_PROV_ANTHROPIC, "messages",
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-opus-4-8\",\"id\":\"msg_fixture_b_0001\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":31,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":0},\"output_tokens\":7,\"service_tier\":\"standard\",\"inference_geo\":\"global\"}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: ping\ndata: {\"type\": \"ping\"}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" there! Happy to expl\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":31,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":547,\"output_tokens_details\":{\"thinking_tokens\":0}}}  \n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", &f);
    assert_int_equal(r.streamed_text_bytes, 21);
    /* cache fields only in message_start; message_delta has output (and nulls) */
    const struct expect c = { 160, 20, 100, 50, 5, "claude-sonnet-4-5" };
    check_sse(AK_PROV_ANTHROPIC, "messages",
        "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":50,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\r\n\r\n"
        "event: message_delta\r\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"input_tokens\":null,\"output_tokens\":20,\"output_tokens_details\":{\"thinking_tokens\":5}}}\r\n\r\n", &c);
}

static void test_gemini(void **state)
{
    (void)state;
    const struct expect e = { 81, 199, 0, 0, 179, "gemini-2.5-flash" };
    check_json(AK_PROV_GEMINI, "generate_content",
               "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hello\"}], \"role\": \"model\"}, "
               "\"finishReason\": \"STOP\"}], \"usageMetadata\": {\"candidatesTokenCount\": 20, "
               "\"promptTokenCount\": 81, \"promptTokensDetails\": [{\"modality\": \"TEXT\", "
               "\"tokenCount\": 81}], \"thoughtsTokenCount\": 179, \"totalTokenCount\": 280}, "
               "\"modelVersion\": \"gemini-2.5-flash\"}", &e);
    const char *chunks[3] = {
        "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"The sky\"}]}}], \"usageMetadata\": {\"promptTokenCount\": 101, \"totalTokenCount\": 101}, \"modelVersion\": \"gemini-2.5-flash\"}",
        "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" is blue\"}]}}], \"usageMetadata\": {\"promptTokenCount\": 101, \"totalTokenCount\": 101}, \"modelVersion\": \"gemini-2.5-flash\"}",
        "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \".\"}]}, \"finishReason\": \"STOP\"}], \"usageMetadata\": {\"promptTokenCount\": 101, \"candidatesTokenCount\": 12, \"thoughtsTokenCount\": 3, \"cachedContentTokenCount\": 50, \"toolUsePromptTokenCount\": 4, \"totalTokenCount\": 120}, \"modelVersion\": \"gemini-2.5-flash\"}",
    };
    const struct expect s = { 105, 15, 50, 0, 3, "gemini-2.5-flash" };
    char body[4096];
    snprintf(body, sizeof body, "data: %s\r\n\r\ndata: %s\r\n\r\ndata: %s\r\n\r\n",
             chunks[0], chunks[1], chunks[2]);
    struct ak_xresp r = check_sse(AK_PROV_GEMINI, "generate_content", body, &s);
    assert_int_equal(r.streamed_text_bytes, 16);
    /* without alt=sse: one JSON array delivered in pieces */
    static const size_t sizes[] = { 9, 0 };
    snprintf(body, sizeof body, "[%s\r\n,\r\n%s\r\n,\r\n%s]", chunks[0], chunks[1], chunks[2]);
    size_t len;
    char *msg = wu_http_chunked(HEAD_JSON, body, sizes, "", &len);
    r = check_resp(AK_PROV_GEMINI, mkreq("generate_content", true), msg, len, &s);
    assert_false(r.is_sse);
    assert_int_equal(r.streamed_text_bytes, 16);
    free(msg);
}

static void test_mistral(void **state)
{
    (void)state;
    const struct expect s = { 20, 8, 0, 0, 0, "mistral-large-latest" };
    check_sse(AK_PROV_MISTRAL, "chat",
        "data: {\"id\":\"cmpl-stream-001\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"mistral-large-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"cmpl-stream-001\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"mistral-large-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":8,\"total_tokens\":28}}\n\n"
        "data: [DONE]\n\n", &s);
    const struct expect j = { 20, 8, 0, 0, 0, "mistral-small-latest" };
    check_json(AK_PROV_MISTRAL, "chat",
               "{\"id\":\"x\",\"object\":\"chat.completion\",\"model\":\"mistral-small-latest\","
               "\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":8,\"total_tokens\":28}}", &j);
}

static void test_errors(void **state)
{
    (void)state;
    struct ak_xresp r = check_sse(AK_PROV_ANTHROPIC, "messages",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", NULL);
    assert_true(r.error_event);
    assert_false(r.have_usage);
    r = check_sse(AK_PROV_OPENAI, "chat",
        "data: {\"error\": {\"message\": \"server error\", \"type\": \"server_error\"}}\n\n", NULL);
    assert_true(r.error_event);
    size_t len;
    char *msg = wu_http_cl("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n",
                           "{\"error\":{\"message\":\"You exceeded your current quota\",\"type\":"
                           "\"insufficient_quota\",\"param\":null,\"code\":\"insufficient_quota\"},"
                           "\"usage\":{\"prompt_tokens\":5}}", &len);
    r = check_resp(AK_PROV_OPENAI, mkreq("chat", false), msg, len, NULL);
    assert_int_equal(r.status, 429);
    assert_false(r.have_usage);
    assert_true(r.error_event);
    free(msg);
}

/* ---- framing -------------------------------------------------------------------------- */

static const char usage_body[] =
    "{\"model\":\"gpt-4o\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}";

static void test_keepalive_continue_head(void **state)
{
    (void)state;
    size_t l1;
    char *one = wu_http_cl(HEAD_JSON, usage_body, &l1);
    struct ak_buf two = { 0 };
    const char *cont = "HTTP/1.1 100 Continue\r\n\r\n";
    ak_buf_append(&two, cont, strlen(cont), 0);
    ak_buf_append(&two, one, l1, 0);
    ak_buf_append(&two, one, l1, 0);
    const struct expect e = { 3, 4, 0, 0, 0, "gpt-4o" };
    for (int mode = 0; mode < WU_SPLITS; mode++) {
        struct ak_xreq req = mkreq("chat", false);
        struct ak_respparser *p = ak_respparser_new(AK_PROV_OPENAI, &req, false, MAX_BODY);
        size_t used;
        assert_int_equal(wu_feed_resp(p, (char *)two.data, two.len, mode, 5, &used, NULL), AK_RESP_DONE);
        assert_int_equal(used, strlen(cont) + l1);
        assert_int_equal(ak_respparser_result(p)->status, 200);
        assert_int_equal(ak_respparser_result(p)->usage.output_tokens, e.out);
        ak_respparser_free(p);
        p = ak_respparser_new(AK_PROV_OPENAI, &req, false, MAX_BODY);
        assert_int_equal(wu_feed_resp(p, (char *)two.data + used, two.len - used, mode, 5, &used, NULL),
                         AK_RESP_DONE);
        assert_int_equal(used, l1);
        assert_int_equal(ak_respparser_result(p)->usage.input_tokens, e.in);
        ak_respparser_free(p);
    }
    ak_buf_free(&two);
    free(one);

    /* HEAD: a Content-Length but no body; the next response follows at once */
    const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n";
    const char *next = "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n";
    struct ak_xreq hreq = mkreq(NULL, false);
    hreq.head_only = true;
    struct ak_respparser *p = ak_respparser_new(AK_PROV_OPENAI, &hreq, false, MAX_BODY);
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s", head, next);
    size_t used;
    assert_int_equal(wu_feed_resp(p, buf, strlen(buf), WU_WHOLE, 1, &used, NULL), AK_RESP_DONE);
    assert_int_equal(used, strlen(head));
    ak_respparser_free(p);
    struct ak_xreq req = mkreq("chat", false);
    for (int i = 0; i < 2; i++) {
        size_t off = strlen(head) + (i ? strlen("HTTP/1.1 204 No Content\r\n\r\n") : 0);
        p = ak_respparser_new(AK_PROV_OPENAI, &req, false, MAX_BODY);
        assert_int_equal(wu_feed_resp(p, buf + off, strlen(buf) - off, WU_BYTES, 1, &used, NULL),
                         AK_RESP_DONE);
        assert_int_equal(used, strlen(i ? "HTTP/1.1 304 Not Modified\r\n\r\n" : "HTTP/1.1 204 No Content\r\n\r\n"));
        assert_int_equal(ak_respparser_result(p)->status, i ? 304 : 204);
        assert_false(ak_respparser_result(p)->unparseable);
        ak_respparser_free(p);
    }
}

static void test_read_until_close_and_truncation(void **state)
{
    (void)state;
    struct ak_xreq req = mkreq("chat", false);
    char msg[512];
    snprintf(msg, sizeof msg, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n%s", usage_body);
    struct ak_respparser *p = ak_respparser_new(AK_PROV_OPENAI, &req, false, MAX_BODY);
    size_t used;
    assert_int_equal(wu_feed_resp(p, msg, strlen(msg), WU_RANDOM, 3, &used, NULL), AK_RESP_MORE);
    assert_int_equal(ak_respparser_eof(p), AK_RESP_DONE);
    assert_int_equal(ak_respparser_result(p)->usage.output_tokens, 4);
    ak_respparser_free(p);

    size_t len;
    char *full = wu_http_cl(HEAD_JSON, usage_body, &len);
    p = ak_respparser_new(AK_PROV_OPENAI, &req, false, MAX_BODY);
    assert_int_equal(wu_feed_resp(p, full, len - 10, WU_WHOLE, 3, &used, NULL), AK_RESP_MORE);
    assert_int_equal(ak_respparser_eof(p), AK_RESP_ERROR);
    assert_true(ak_respparser_result(p)->unparseable);
    assert_true(ak_respparser_result(p)->reason[0] != '\0');
    ak_respparser_free(p);
    free(full);

    full = wu_http_cl(HEAD_JSON, "{\"model\":\"gpt-4o\",\"usage\":{\"prompt_tokens\":3", &len);
    p = ak_respparser_new(AK_PROV_OPENAI, &req, false, MAX_BODY);
    assert_int_equal(wu_feed_resp(p, full, len, WU_WHOLE, 3, &used, NULL), AK_RESP_DONE);
    assert_true(ak_respparser_result(p)->unparseable);
    assert_false(ak_respparser_result(p)->have_usage);
    ak_respparser_free(p);
    free(full);

    /* over the cap: framing continues to the end, the body is unparseable */
    full = wu_http_cl(HEAD_JSON, usage_body, &len);
    p = ak_respparser_new(AK_PROV_OPENAI, &req, false, 16);
    assert_int_equal(wu_feed_resp(p, full, len, WU_BYTES, 3, &used, NULL), AK_RESP_DONE);
    assert_int_equal(used, len);
    assert_true(ak_respparser_result(p)->unparseable);
    assert_string_equal(ak_respparser_result(p)->reason, "body over cap");
    ak_respparser_free(p);
    free(full);
}

typedef int (*brotli_compress_fn)(int, int, int, size_t, const uint8_t *, size_t *, uint8_t *);

static size_t compress_as(const char *enc, const char *in, unsigned char *out, size_t cap)
{
    size_t n = strlen(in);
    if (strcmp(enc, "zstd") == 0)
        return ZSTD_compress(out, cap, in, n, 3);
    if (strcmp(enc, "br") == 0) {
        void *h = dlopen("libbrotlienc.so.1", RTLD_NOW);
        assert_non_null(h);
        brotli_compress_fn fn = (brotli_compress_fn)dlsym(h, "BrotliEncoderCompress");
        size_t outlen = cap;
        assert_true(fn(5, 22, 0, n, (const uint8_t *)in, &outlen, out));
        dlclose(h);
        return outlen;
    }
    z_stream z = { 0 };
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, strcmp(enc, "gzip") == 0 ? GZIP_WBITS : ZLIB_WBITS,
                                  8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return len;
}

static void test_compressed(void **state)
{
    (void)state;
    const char *encs[] = { "gzip", "deflate", "br", "zstd" };
    const char *sse = "data: {\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
                      "data: {\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n"
                      "data: [DONE]\n\n";
    const struct expect e = { 3, 4, 0, 0, 0, "gpt-4o" };
    for (size_t i = 0; i < AK_ARRAY_LEN(encs); i++) {
        for (int kind = 0; kind < 2; kind++) {
            unsigned char z[2048];
            size_t zl = compress_as(encs[i], kind ? sse : usage_body, z, sizeof z);
            struct ak_buf m = { 0 };
            ak_buf_printf(&m, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Encoding: %s\r\n"
                              "Content-Length: %zu\r\n\r\n",
                          kind ? "text/event-stream" : "application/json", encs[i], zl);
            ak_buf_append(&m, z, zl, 0);
            struct ak_xresp r = check_resp(AK_PROV_OPENAI, mkreq("chat", kind), (char *)m.data,
                                           m.len, &e);
            assert_int_equal(r.is_sse, kind);
            ak_buf_free(&m);
        }
    }
}

static void test_hostile(void **state)
{
    (void)state;
    struct ak_xreq req = mkreq("chat", true);
    struct ak_buf big = { 0 };
    ak_buf_printf(&big, "HTTP/1.1 200 OK\r\nX-Big: ");
    for (int i = 0; i < HUGE_HEADER; i++)
        ak_buf_append(&big, "b", 1, 0);
    ak_buf_printf(&big, "\r\nContent-Length: 2\r\n\r\n{}");
    for (int strip = 0; strip < 2; strip++) {
        struct ak_buf out = { 0 };
        struct ak_respparser *p = ak_respparser_new(AK_PROV_OPENAI, &req, strip, MAX_BODY);
        size_t used;
        assert_int_equal(wu_feed_resp(p, (char *)big.data, big.len, WU_RANDOM, 8, &used, &out),
                         AK_RESP_ERROR);
        assert_true(ak_respparser_result(p)->unparseable);
        assert_int_equal(ak_respparser_result(p)->status, 200);   /* the status line was seen */
        if (strip) {                  /* the client still gets every byte it was fed */
            assert_int_equal(out.len, used);
            assert_memory_equal(out.data, big.data, used);
        }
        ak_respparser_free(p);
        ak_buf_free(&out);
    }
    ak_buf_free(&big);

    /* an SSE event over 1 MiB: skipped, unparseable, the usage after it still read */
    ak_buf_printf(&big, "data: {\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"");
    for (int i = 0; i < BIG_EVENT; i++)
        ak_buf_append(&big, "z", 1, 0);
    ak_buf_printf(&big, "\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n");
    ak_buf_append(&big, "", 1, 0);
    static const size_t sizes[] = { 65536, 0 };
    size_t len;
    char *msg = wu_http_chunked(HEAD_SSE, (char *)big.data, sizes, "", &len);
    struct ak_respparser *p = ak_respparser_new(AK_PROV_OPENAI, &req, false, MAX_BODY);
    size_t used;
    assert_int_equal(wu_feed_resp(p, msg, len, WU_WHOLE, 8, &used, NULL), AK_RESP_DONE);
    assert_true(ak_respparser_result(p)->unparseable);
    assert_int_equal(ak_respparser_result(p)->usage.output_tokens, 4);
    ak_respparser_free(p);
    free(msg);
    ak_buf_free(&big);

    /* garbage, observed and transformed: no crash, bounded */
    uint32_t seed = 777;
    unsigned char junk[FUZZ_MAX_LEN];
    const char *prefix = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n";
    for (int round = 0; round < FUZZ_ROUNDS; round++) {
        size_t n = 1 + wu_rand(&seed) % FUZZ_MAX_LEN;
        for (size_t i = 0; i < n; i++)
            junk[i] = (unsigned char)wu_rand(&seed);
        if (round % 2)
            memcpy(junk, prefix, n < strlen(prefix) ? n : strlen(prefix));
        struct ak_buf out = { 0 };
        p = ak_respparser_new(AK_PROV_OPENAI, &req, round % 4 < 2, MAX_BODY);
        size_t c;
        enum ak_resp_state st = ak_respparser_feed(p, junk, n, &c, &out);
        assert_true(c <= n);
        if (st != AK_RESP_DONE)
            ak_respparser_eof(p);
        ak_respparser_free(p);
        ak_buf_free(&out);
    }
}

/* ---- transform ------------------------------------------------------------------------ */

struct dechunked {
    struct ak_buf body;
    bool complete;
};

static int dc_body(http_parser *hp, const char *at, size_t len)
{
    struct dechunked *d = hp->data;
    ak_buf_append(&d->body, at, len, 0);
    return 0;
}

static int dc_done(http_parser *hp)
{
    ((struct dechunked *)hp->data)->complete = true;
    return 0;
}

/* The body a client would read from out, checked to be a complete, valid response. */
static void dechunk(const struct ak_buf *out, struct dechunked *d)
{
    http_parser_settings s = { .on_body = dc_body, .on_message_complete = dc_done };
    http_parser hp;
    http_parser_init(&hp, HTTP_RESPONSE);
    hp.data = d;
    size_t n = http_parser_execute(&hp, &s, (const char *)out->data, out->len);
    assert_int_equal(HTTP_PARSER_ERRNO(&hp), HPE_OK);
    assert_int_equal(n, out->len);
    assert_true(d->complete);
}

#define CHUNK_EVENT "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"}}],\"usage\":null}%s%s"
/* the same chunk as a client that did not ask for include_usage receives it */
#define PLAIN_EVENT "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"}}]}%s%s"
#define USAGE_EVENT "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":79,\"completion_tokens\":14,\"total_tokens\":93}}%s%s"

static void build_stream(struct ak_buf *with, struct ak_buf *without, const char *eol)
{
    const char *words[] = { "Hello", " there", ", how", " are", " you", "?" };
    for (size_t i = 0; i < AK_ARRAY_LEN(words); i++) {
        ak_buf_printf(with, CHUNK_EVENT, words[i], eol, eol);
        ak_buf_printf(without, PLAIN_EVENT, words[i], eol, eol);
    }
    ak_buf_printf(with, ": keep-alive%s%s", eol, eol);
    ak_buf_printf(without, ": keep-alive%s%s", eol, eol);
    ak_buf_printf(with, USAGE_EVENT, eol, eol);
    ak_buf_printf(with, "data: [DONE]%s%s", eol, eol);
    ak_buf_printf(without, "data: [DONE]%s%s", eol, eol);
    ak_buf_append(with, "", 1, 0);
    ak_buf_append(without, "", 1, 0);
    with->len--;
    without->len--;
}

static void check_transform(const char *msg, size_t len, const char *expect_body, bool usage)
{
    struct ak_xreq req = mkreq("chat", true);
    const char *head_end = strstr(msg, "\r\n\r\n") + 4;
    for (int mode = 0; mode < WU_SPLITS; mode++) {
        for (uint32_t seed = 1; seed < (mode == WU_RANDOM ? 20u : 2u); seed++) {
            struct ak_buf out = { 0 };
            struct ak_respparser *p = ak_respparser_new(AK_PROV_OPENAI, &req, true, MAX_BODY);
            assert_true(ak_respparser_transforming(p));
            size_t used;
            assert_int_equal(wu_feed_resp(p, msg, len, mode, seed, &used, &out), AK_RESP_DONE);
            assert_int_equal(used, len);
            assert_memory_equal(out.data, msg, (size_t)(head_end - msg));   /* head intact */
            struct dechunked d = { 0 };
            dechunk(&out, &d);
            assert_int_equal(d.body.len, strlen(expect_body));
            assert_memory_equal(d.body.data, expect_body, d.body.len);
            const struct ak_xresp *r = ak_respparser_result(p);
            assert_int_equal(r->have_usage, usage);
            if (usage)
                assert_int_equal(r->usage.output_tokens, 14);
            ak_buf_free(&d.body);
            ak_buf_free(&out);
            ak_respparser_free(p);
        }
    }
}

static void test_transform_strips_usage_chunk(void **state)
{
    (void)state;
    static const size_t patterns[][4] = { { 1000000, 0 }, { 1, 0 }, { 17, 5, 300, 0 }, { 64, 0 } };
    const char *eols[] = { "\n", "\r\n" };
    for (size_t e = 0; e < AK_ARRAY_LEN(eols); e++) {
        struct ak_buf with = { 0 }, without = { 0 };
        build_stream(&with, &without, eols[e]);
        for (size_t i = 0; i < AK_ARRAY_LEN(patterns); i++) {
            size_t len;
            char *msg = wu_http_chunked(HEAD_SSE, (char *)with.data, patterns[i],
                                        i == 2 ? "x-trailer: kept\r\n" : "", &len);
            check_transform(msg, len, (char *)without.data, true);
            free(msg);
            /* a server that sent no usage chunk: the stream is left as it was */
            msg = wu_http_chunked(HEAD_SSE, (char *)without.data, patterns[i], "", &len);
            check_transform(msg, len, (char *)without.data, false);
            free(msg);
        }
        ak_buf_free(&with);
        ak_buf_free(&without);
    }
}

static void test_transform_trailer_and_passthrough(void **state)
{
    (void)state;
    struct ak_xreq req = mkreq("chat", true);
    static const size_t sizes[] = { 40, 0 };
    struct ak_buf with = { 0 }, without = { 0 };
    build_stream(&with, &without, "\n");
    size_t len;
    char *msg = wu_http_chunked(HEAD_SSE, (char *)with.data, sizes, "x-trailer: kept\r\n", &len);
    struct ak_buf out = { 0 };
    struct ak_respparser *p = ak_respparser_new(AK_PROV_OPENAI, &req, true, MAX_BODY);
    size_t used;
    assert_int_equal(wu_feed_resp(p, msg, len, WU_RANDOM, 4, &used, &out), AK_RESP_DONE);
    const char *tail = "0\r\nx-trailer: kept\r\n\r\n";
    assert_true(out.len > strlen(tail));
    assert_memory_equal(out.data + out.len - strlen(tail), tail, strlen(tail));
    assert_true(out.len < len);
    ak_respparser_free(p);
    free(msg);

    /* an error JSON with Content-Length passes through byte for byte */
    msg = wu_http_cl("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n",
                     "{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}", &len);
    for (int mode = 0; mode < WU_SPLITS; mode++) {
        ak_buf_reset(&out);
        p = ak_respparser_new(AK_PROV_OPENAI, &req, true, MAX_BODY);
        assert_int_equal(wu_feed_resp(p, msg, len, mode, 4, &used, &out), AK_RESP_DONE);
        assert_int_equal(out.len, len);
        assert_memory_equal(out.data, msg, len);
        assert_int_equal(ak_respparser_result(p)->status, 400);
        ak_respparser_free(p);
    }
    free(msg);
    ak_buf_free(&out);
    ak_buf_free(&with);
    ak_buf_free(&without);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_chat),
        cmocka_unit_test(test_openai_responses_embeddings),
        cmocka_unit_test(test_anthropic),
        cmocka_unit_test(test_gemini),
        cmocka_unit_test(test_mistral),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_keepalive_continue_head),
        cmocka_unit_test(test_read_until_close_and_truncation),
        cmocka_unit_test(test_compressed),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_transform_strips_usage_chunk),
        cmocka_unit_test(test_transform_trailer_and_passthrough),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
