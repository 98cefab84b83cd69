/*
 * test_sse.c - the SSE splitter (engine/sse.c) and the JSON array splitter (engine/jarray.c):
 * every line-end style, comments, joined data lines, any byte split, exact raw bytes for
 * the transform, and bounded memory for events over the limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/jarray.h"
#include "engine/sse.h"
#include "wire_util.h"

#define MAX_EVENTS 16
#define BIG_EVENT (AK_SSE_MAX_EVENT + 4096)

struct seen {
    int n;
    char name[MAX_EVENTS][AK_SSE_NAME];
    char data[MAX_EVENTS][256];
    struct ak_buf raw;            /* raw bytes handed back, events and spills */
    int spills;
};

static enum ak_err collect(void *ud, const struct ak_sse_event *ev)
{
    struct seen *s = ud;
    ak_buf_append(&s->raw, ev->raw, ev->raw_len, 0);
    if (ev->kind == AK_SSE_SPILL) {
        s->spills++;
        return AK_OK;
    }
    if (!ev->has_data || s->n >= MAX_EVENTS)
        return AK_OK;
    snprintf(s->name[s->n], AK_SSE_NAME, "%s", ev->name);
    snprintf(s->data[s->n], 256, "%.*s", (int)ev->data_len, (const char *)ev->data);
    s->n++;
    return AK_OK;
}

static void split_feed(struct ak_sse *sse, const char *in, size_t len, enum wu_split mode,
                       struct seen *s)
{
    uint32_t seed = 7;
    for (size_t off = 0; off < len;) {
        size_t n = wu_piece(mode, &seed, len - off);
        assert_int_equal(ak_sse_feed(sse, (const unsigned char *)in + off, n, collect, s), AK_OK);
        off += n;
    }
    assert_int_equal(ak_sse_finish(sse, collect, s), AK_OK);
}

static void check_three_events(const char *in)
{
    for (int mode = 0; mode < WU_SPLITS; mode++) {
        struct ak_sse sse;
        struct seen s = { 0 };
        ak_sse_init(&sse, 0, true);
        split_feed(&sse, in, strlen(in), mode, &s);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.name[0], "message_start");
        assert_string_equal(s.data[0], "{\"a\":1}");
        assert_string_equal(s.name[1], "");
        assert_string_equal(s.data[1], "line1\nline2");
        assert_string_equal(s.data[2], "[DONE]");
        /* the raw bytes of all events are the input, exactly */
        assert_int_equal(s.raw.len, strlen(in));
        assert_memory_equal(s.raw.data, in, s.raw.len);
        ak_buf_free(&s.raw);
        ak_sse_free(&sse);
    }
}

static void test_line_ends(void **state)
{
    (void)state;
    check_three_events("event: message_start\ndata: {\"a\":1}\n\n"
                       ": keep-alive comment\ndata: line1\ndata: line2\n\n"
                       "data: [DONE]\n\n");
    check_three_events("event: message_start\r\ndata: {\"a\":1}\r\n\r\n"
                       ": keep-alive comment\r\ndata: line1\r\ndata:line2\r\n\r\n"
                       "data: [DONE]\r\n\r\n");
    check_three_events("event: message_start\rdata: {\"a\":1}\r\r"
                       ":comment\rdata: line1\rdata: line2\r\r"
                       "data: [DONE]\r\r");
}

static void test_incomplete_event_waits(void **state)
{
    (void)state;
    struct ak_sse sse;
    struct seen s = { 0 };
    ak_sse_init(&sse, 0, false);
    const char *part = "data: {\"x\":1}\n";
    assert_int_equal(ak_sse_feed(&sse, (const unsigned char *)part, strlen(part), collect, &s), AK_OK);
    assert_int_equal(s.n, 0);
    assert_int_equal(ak_sse_feed(&sse, (const unsigned char *)"\n", 1, collect, &s), AK_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.data[0], "{\"x\":1}");
    ak_sse_free(&sse);
}

static char *big_stream(size_t *len)
{
    const char *pre = "data: first\n\ndata: ";
    const char *post = "\n\ndata: after\n\n";
    size_t n = strlen(pre) + BIG_EVENT + strlen(post);
    char *s = malloc(n + 1);
    strcpy(s, pre);
    memset(s + strlen(pre), 'x', BIG_EVENT);
    strcpy(s + strlen(pre) + BIG_EVENT, post);
    *len = n;
    return s;
}

static void test_oversize_event(void **state)
{
    (void)state;
    size_t len;
    char *in = big_stream(&len);
    for (int keep = 0; keep < 2; keep++) {
        struct ak_sse sse;
        struct seen s = { 0 };
        ak_sse_init(&sse, AK_SSE_MAX_EVENT, keep);
        split_feed(&sse, in, len, WU_RANDOM, &s);
        assert_true(sse.oversize);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.data[0], "first");
        assert_string_equal(s.data[1], "after");
        /* never held whole */
        assert_true(sse.data.cap <= 2 * AK_SSE_MAX_EVENT);
        if (keep) {
            assert_true(s.spills > 0);
            assert_int_equal(s.raw.len, len);
            assert_memory_equal(s.raw.data, in, len);
        }
        ak_buf_free(&s.raw);
        ak_sse_free(&sse);
    }
    free(in);
}

struct elems {
    int n;
    char last[256];
};

static enum ak_err collect_elem(void *ud, const unsigned char *e, size_t n)
{
    struct elems *x = ud;
    x->n++;
    snprintf(x->last, sizeof x->last, "%.*s", (int)n, (const char *)e);
    return AK_OK;
}

static void test_json_array(void **state)
{
    (void)state;
    const char *in = "[{\"candidates\": [{\"text\": \"a } ] \\\" {\"}]},\r\n"
                     "{\"usageMetadata\": {\"promptTokenCount\": 5}}\r\n]";
    for (int mode = 0; mode < WU_SPLITS; mode++) {
        struct ak_jarray ja;
        struct elems x = { 0 };
        uint32_t seed = 3;
        ak_jarray_init(&ja, AK_SSE_MAX_EVENT);
        for (size_t off = 0, len = strlen(in); off < len;) {
            size_t n = wu_piece(mode, &seed, len - off);
            assert_int_equal(ak_jarray_feed(&ja, (const unsigned char *)in + off, n,
                                            collect_elem, &x), AK_OK);
            off += n;
        }
        assert_int_equal(x.n, 2);
        assert_string_equal(x.last, "{\"usageMetadata\": {\"promptTokenCount\": 5}}");
        ak_jarray_free(&ja);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_incomplete_event_waits),
        cmocka_unit_test(test_oversize_event),
        cmocka_unit_test(test_json_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
