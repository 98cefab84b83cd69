/*
 * fuzz_sse.c - the SSE splitter (engine/sse.c). Properties: the events (name, data, raw) are
 * the same whole and under arbitrary splits; with keep_raw, every input byte is delivered
 * exactly once, in order (the concatenated raw bytes of events and spills equal the input).
 * Input: byte 0 = options (bit 0 keep_raw, bits 1-2 a small max_event), byte 1 = split seed.
 */
#include "engine/sse.h"
#include "tests/fuzz/fuzz_util.h"

struct log { struct ak_buf trace; struct ak_buf raw; bool spilling; };

static enum ak_err on_event(void *ud, const struct ak_sse_event *ev)
{
    struct log *l = ud;
    char head[96];
    if (ev->kind == AK_SSE_SPILL && l->spilling) {   /* spill pieces follow the feeds */
        ak_buf_append(&l->raw, ev->raw, ev->raw_len, 0);
        ak_buf_append(&l->trace, ev->raw, ev->raw_len, 0);
        return AK_OK;
    }
    l->spilling = ev->kind == AK_SSE_SPILL;
    int n = snprintf(head, sizeof head, "%d|%s|%d|%zu|", (int)ev->kind, ev->name,
                     (int)ev->has_data, ev->data_len);
    ak_buf_append(&l->trace, head, (size_t)n, 0);
    if (ev->data_len)
        ak_buf_append(&l->trace, ev->data, ev->data_len, 0);
    if (ev->raw_len) {
        ak_buf_append(&l->raw, ev->raw, ev->raw_len, 0);
        ak_buf_append(&l->trace, ev->raw, ev->raw_len, 0);
    }
    return AK_OK;
}

static void run(const uint8_t *p, size_t n, size_t max_event, bool keep_raw, uint32_t seed,
                bool split, struct log *l)
{
    struct ak_sse s;
    ak_sse_init(&s, max_event, keep_raw);
    struct fz_split sp = { seed };
    memset(l, 0, sizeof *l);
    size_t off = 0;
    while (off < n) {
        size_t piece = split ? fz_piece(&sp, n - off) : n - off;
        FZ_CHECK(ak_sse_feed(&s, p + off, piece, on_event, l) == AK_OK, "feed ok");
        off += piece;
    }
    FZ_CHECK(ak_sse_finish(&s, on_event, l) == AK_OK, "finish ok");
    if (keep_raw)                     /* the incomplete event: the caller flushes it */
        ak_buf_append(&l->raw, s.raw.data, s.raw.len, 0);
    ak_sse_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = { data, size };
    uint8_t opt = fz_byte(&in);
    uint32_t seed = fz_byte(&in) * 2654435761u + 7;
    bool keep_raw = opt & 1;
    size_t max_event = (opt >> 1) & 3 ? (size_t)16 << ((opt >> 1) & 3) : 0;
    struct log whole, split;
    run(in.p, in.n, max_event, keep_raw, seed, false, &whole);
    run(in.p, in.n, max_event, keep_raw, seed, true, &split);
    if (getenv("FUZZ_DEBUG"))
        fprintf(stderr, "whole:\n%.*s\nsplit:\n%.*s\n", (int)whole.trace.len,
                (const char *)whole.trace.data, (int)split.trace.len, (const char *)split.trace.data);
    FZ_CHECK(whole.trace.len == split.trace.len &&
             (!whole.trace.len || memcmp(whole.trace.data, split.trace.data, whole.trace.len) == 0),
             "same events whole and split");
    if (keep_raw)
        FZ_CHECK(whole.raw.len == in.n && (!in.n || memcmp(whole.raw.data, in.p, in.n) == 0),
                 "every byte delivered once, in order");
    ak_buf_free(&whole.trace);
    ak_buf_free(&whole.raw);
    ak_buf_free(&split.trace);
    ak_buf_free(&split.raw);
    return 0;
}
