/*
 * test_h2.c - HTTP/2 in the engine (engine/h2.c), driven through the engine API as the stub
 * drives it: a client's frames go to on_write, the server's to on_read, and what would reach
 * the server and the client is collected and decoded again with nghttp2's HPACK inflater
 * (each side's own table), so that a drift of either dynamic table shows as wrong headers.
 * Covered: frames split at every byte, CONTINUATION and padding, the client's dynamic table
 * used across streams (an entry added by a refused stream's block and used by the next),
 * a refused stream answered with 429 on its stream while the others go on, RST_STREAM from
 * either side, GOAWAY, and a held body released when the flow-control window would stall it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ledger.h"
#include "engine/engine.h"
#include "engine/engine_api.h"
#include "engine/h2.h"

const struct ak_engine_api *ak_engine_get(void);

#define GUARD_TOKENS 100                /* the config's max_tokens_per_call */
#define BODY_OK "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":20}"
#define BODY_NO "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":500}"
#define RESP_OK "{\"id\":\"c1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-2024-08-06\"," \
                "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":5,\"total_tokens\":14}}"

static const struct ak_engine_api *api;
static char dir[] = "/tmp/ak-test-h2.XXXXXX";

/* ---- building frames ---- */

static void frame(struct ak_buf *b, uint8_t type, uint8_t flags, uint32_t sid, const void *p, size_t n)
{
    unsigned char fh[9] = { (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n,
                            type, flags, (unsigned char)(sid >> 24), (unsigned char)(sid >> 16),
                            (unsigned char)(sid >> 8), (unsigned char)sid };
    assert_int_equal(ak_buf_append(b, fh, 9, 0), AK_OK);
    if (n)
        assert_int_equal(ak_buf_append(b, p, n, 0), AK_OK);
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, 0 }

/* A header block encoded by `def` (its dynamic table: entries are added and reused). */
static size_t encode(nghttp2_hd_deflater *def, const nghttp2_nv *nv, size_t n, unsigned char *out, size_t cap)
{
    ssize_t k = nghttp2_hd_deflate_hd(def, out, cap, nv, n);
    assert_true(k > 0);
    return (size_t)k;
}

static void request_headers(struct ak_buf *b, nghttp2_hd_deflater *def, uint32_t sid, const char *extra)
{
    nghttp2_nv nv[] = { NV(":method", "POST"), NV(":scheme", "https"),
                        NV(":authority", "api.openai.com"), NV(":path", "/v1/chat/completions"),
                        NV("content-type", "application/json"), NV("authorization", "Bearer sk-test"),
                        NV("x-extra", "") };
    size_t n = 6;
    if (extra) {
        nv[6].value = (uint8_t *)extra;
        nv[6].valuelen = strlen(extra);
        n = 7;
    }
    unsigned char blk[1024];
    size_t k = encode(def, nv, n, blk, sizeof blk);
    frame(b, 0x1, 0x4, sid, blk, k);
}

static void response_headers(struct ak_buf *b, nghttp2_hd_deflater *def, uint32_t sid, uint8_t flags)
{
    nghttp2_nv nv[] = { NV(":status", "200"), NV("content-type", "application/json"),
                        NV("x-request-id", "req_same_every_time") };
    unsigned char blk[512];
    size_t k = encode(def, nv, 3, blk, sizeof blk);
    frame(b, 0x1, (uint8_t)(0x4 | flags), sid, blk, k);
}

static void settings(struct ak_buf *b)
{
    frame(b, 0x4, 0, 0, NULL, 0);
}

/* ---- driving the engine ---- */

enum split { WHOLE, BYTES };

/* Feeds the client's bytes; what would go to the server is appended to `wire`. */
static void client_write(struct ak_econn *c, const struct ak_buf *in, enum split how, struct ak_buf *wire)
{
    size_t step = how == BYTES ? 1 : in->len;
    for (size_t off = 0; off < in->len; off += step) {
        size_t n = in->len - off < step ? in->len - off : step;
        struct ak_wr_result r;
        api->on_write(c, in->data + off, n, &r);
        assert_true(r.action == AK_WR_PASS || r.action == AK_WR_HOLD || r.action == AK_WR_SEND);
        if (r.action == AK_WR_PASS)
            ak_buf_append(wire, in->data + off, n, 0);
        else if (r.action == AK_WR_SEND) {
            ak_buf_append(wire, r.out, r.out_len, 0);
            api->on_sent(c);
        }
    }
}

/* Feeds the server's bytes; what the client would read is appended to `app`. */
static void server_read(struct ak_econn *c, const struct ak_buf *in, enum split how, struct ak_buf *app)
{
    size_t step = how == BYTES ? 1 : in->len;
    for (size_t off = 0; off < in->len; off += step) {
        size_t n = in->len - off < step ? in->len - off : step;
        struct ak_rd_result r;
        api->on_read(c, in->data + off, n, &r);
        assert_true(r.action == AK_RD_PASS || r.action == AK_RD_REPLACE);
        ak_buf_append(app, r.action == AK_RD_PASS ? in->data + off : r.out,
                      r.action == AK_RD_PASS ? n : r.out_len, 0);
    }
}

/* ---- reading frames back ---- */

struct seen {
    uint8_t type, flags;
    uint32_t sid;
    char text[2048];                  /* headers as "name: value\n", or DATA content */
    size_t len;
};

#define SEEN_MAX 64

/* Walks frames (after `skip` bytes), decoding header blocks with `inf`. */
static size_t frames_read(const struct ak_buf *b, size_t skip, nghttp2_hd_inflater *inf,
                          struct seen *out, size_t max)
{
    size_t n = 0, pos = skip;
    struct ak_buf blk = { 0 };
    while (pos + 9 <= b->len && n < max) {
        const unsigned char *f = b->data + pos;
        size_t len = (size_t)f[0] << 16 | f[1] << 8 | f[2];
        assert_true(pos + 9 + len <= b->len);
        struct seen *s = &out[n];
        memset(s, 0, sizeof *s);
        s->type = f[3];
        s->flags = f[4];
        s->sid = (uint32_t)(f[5] & 0x7f) << 24 | f[6] << 16 | f[7] << 8 | f[8];
        const unsigned char *p = f + 9;
        size_t pl = len, pad = 0;
        if ((s->type == 0 || s->type == 1) && (s->flags & 0x8)) {
            pad = p[0];
            p++;
            pl--;
        }
        if (s->type == 1 && (s->flags & 0x20)) {
            p += 5;
            pl -= 5;
        }
        pl -= pad;
        if (s->type == 1 || s->type == 9) {
            ak_buf_append(&blk, p, pl, 0);
            if (s->flags & 0x4) {
                const unsigned char *in = blk.data;
                size_t left = blk.len;
                for (;;) {
                    nghttp2_nv nv;
                    int fl = 0;
                    ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &fl, in, left, 1);
                    assert_true(rv >= 0);
                    in += rv;
                    left -= (size_t)rv;
                    if (fl & NGHTTP2_HD_INFLATE_EMIT)
                        s->len += (size_t)snprintf(s->text + s->len, sizeof s->text - s->len,
                                                   "%.*s: %.*s\n", (int)nv.namelen, nv.name,
                                                   (int)nv.valuelen, nv.value);
                    if (fl & NGHTTP2_HD_INFLATE_FINAL)
                        break;
                }
                nghttp2_hd_inflate_end_headers(inf);
                ak_buf_reset(&blk);
                n++;
            }
        } else {
            memcpy(s->text, p, pl < sizeof s->text ? pl : sizeof s->text - 1);
            s->len = pl;
            n++;
        }
        pos += 9 + len;
    }
    ak_buf_free(&blk);
    return n;
}

static const struct seen *find(const struct seen *s, size_t n, uint8_t type, uint32_t sid)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].type == type && s[i].sid == sid)
            return &s[i];
    return NULL;
}

static uint64_t events(void)
{
    uint64_t n = 0;
    struct ak_ledger *l = engine_ledger();
    assert_non_null(l);
    assert_int_equal(ak_ledger_outbox_pending(l, &n), AK_OK);
    return n;
}

/* ---- fixtures ---- */

static int setup_all(void **state)
{
    assert_non_null(mkdtemp(dir));
    char cfg[256], st[256];
    snprintf(cfg, sizeof cfg, "%s/ak.yaml", dir);
    snprintf(st, sizeof st, "%s/state", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "version: 1\nstate_dir: %s\nmode: enforce\nhttp2: native\n"
               "defaults:\n  budget: { type: total, limit: 1000 }\n"
               "  guardrails: { max_tokens_per_call: %d }\n", st, GUARD_TOKENS);
    fclose(f);
    setenv("AGENTKAVACH_CONFIG", cfg, 1);
    setenv("AGENTKAVACH_STATE_DIR", st, 1);
    setenv("AGENTKAVACH_AGENT", "test-h2", 1);
    setenv("AGENTKAVACH_LOG", getenv("AK_TEST_LOG") ? getenv("AK_TEST_LOG") : "off", 1);
    api = ak_engine_get();
    assert_int_equal(api->init(), 0);
    assert_int_equal(api->http2_native(), 1);
    return 0;
}

static int teardown_all(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

struct conv {
    struct ak_econn *c;
    nghttp2_hd_deflater *cdef, *sdef;   /* the client's and the server's encoders */
    nghttp2_hd_inflater *sinf, *cinf;   /* the server's and the client's decoders */
    struct ak_buf wire, app;
};

static void conv_open(struct conv *v)
{
    memset(v, 0, sizeof *v);
    v->c = api->conn_new("api.openai.com", 443, AK_PROV_OPENAI);
    assert_non_null(v->c);
    assert_int_equal(nghttp2_hd_deflate_new(&v->cdef, 4096), 0);
    assert_int_equal(nghttp2_hd_deflate_new(&v->sdef, 4096), 0);
    assert_int_equal(nghttp2_hd_inflate_new(&v->sinf), 0);
    assert_int_equal(nghttp2_hd_inflate_new(&v->cinf), 0);
}

static void conv_close(struct conv *v)
{
    api->conn_free(v->c);
    nghttp2_hd_deflate_del(v->cdef);
    nghttp2_hd_deflate_del(v->sdef);
    nghttp2_hd_inflate_del(v->sinf);
    nghttp2_hd_inflate_del(v->cinf);
    ak_buf_free(&v->wire);
    ak_buf_free(&v->app);
}

/* ---- tests ---- */

/* One allowed call, every frame split at every byte both ways: the server gets the same
 * headers and body, the client exactly the server's bytes, one event. */
static void test_allowed_every_byte(void **state)
{
    for (int how = WHOLE; how <= BYTES; how++) {
        struct conv v;
        conv_open(&v);
        uint64_t ev0 = events();
        struct ak_buf in = { 0 }, srv = { 0 };
        ak_buf_append(&in, H2_PREFACE_STR, H2_PREFACE_LEN, 0);
        settings(&in);
        request_headers(&in, v.cdef, 1, NULL);
        frame(&in, 0x0, 0x1, 1, BODY_OK, strlen(BODY_OK));
        client_write(v.c, &in, (enum split)how, &v.wire);
        assert_true(v.wire.len > H2_PREFACE_LEN);
        assert_memory_equal(v.wire.data, H2_PREFACE_STR, H2_PREFACE_LEN);
        struct seen s[SEEN_MAX];
        size_t n = frames_read(&v.wire, H2_PREFACE_LEN, v.sinf, s, SEEN_MAX);
        const struct seen *h = find(s, n, 0x1, 1), *d = find(s, n, 0x0, 1);
        assert_non_null(h);
        assert_non_null(strstr(h->text, ":path: /v1/chat/completions\n"));
        assert_non_null(strstr(h->text, "authorization: Bearer sk-test\n"));
        assert_non_null(d);
        assert_int_equal(d->len, strlen(BODY_OK));
        assert_memory_equal(d->text, BODY_OK, d->len);

        settings(&srv);
        response_headers(&srv, v.sdef, 1, 0);
        frame(&srv, 0x0, 0x1, 1, RESP_OK, strlen(RESP_OK));
        server_read(v.c, &srv, (enum split)how, &v.app);
        if (getenv("AK_TEST_LOG"))
            fprintf(stderr, "how %d app %zu srv %zu\n", how, v.app.len, srv.len);
        assert_int_equal(v.app.len, srv.len);
        assert_memory_equal(v.app.data, srv.data, srv.len);
        assert_int_equal(events(), ev0 + 1);
        ak_buf_free(&in);
        ak_buf_free(&srv);
        conv_close(&v);
    }
}

/* HEADERS with padding and priority, the block cut over two CONTINUATIONs, padded DATA in
 * two frames: the server sees the same request. */
static void test_continuation_padding(void **state)
{
    struct conv v;
    conv_open(&v);
    struct ak_buf in = { 0 };
    ak_buf_append(&in, H2_PREFACE_STR, H2_PREFACE_LEN, 0);
    settings(&in);
    nghttp2_nv nv[] = { NV(":method", "POST"), NV(":scheme", "https"),
                        NV(":authority", "api.openai.com"), NV(":path", "/v1/chat/completions"),
                        NV("content-type", "application/json") };
    unsigned char blk[512], p[600];
    size_t k = encode(v.cdef, nv, 5, blk, sizeof blk), a = k / 3, b = k / 3;
    p[0] = 7;                                       /* pad length */
    memcpy(p + 1, "\x80\x00\x00\x00\x10", 5);       /* priority: exclusive, dep 0, weight */
    memcpy(p + 6, blk, a);
    memset(p + 6 + a, 0, 7);
    frame(&in, 0x1, 0x8 | 0x20, 3, p, 6 + a + 7);
    frame(&in, 0x9, 0, 3, blk + a, b);
    frame(&in, 0x9, 0x4, 3, blk + a + b, k - a - b);
    size_t half = strlen(BODY_OK) / 2;
    p[0] = 3;
    memcpy(p + 1, BODY_OK, half);
    memset(p + 1 + half, 0, 3);
    frame(&in, 0x0, 0x8, 3, p, 1 + half + 3);
    frame(&in, 0x0, 0x1, 3, BODY_OK + half, strlen(BODY_OK) - half);
    client_write(v.c, &in, BYTES, &v.wire);
    struct seen s[SEEN_MAX];
    size_t n = frames_read(&v.wire, H2_PREFACE_LEN, v.sinf, s, SEEN_MAX);
    const struct seen *h = find(s, n, 0x1, 3);
    assert_non_null(h);
    assert_true(h->flags & 0x20);                   /* the priority is kept */
    assert_non_null(strstr(h->text, ":path: /v1/chat/completions\ncontent-type: application/json\n"));
    struct ak_buf body = { 0 };
    for (size_t i = 0; i < n; i++)
        if (s[i].type == 0 && s[i].sid == 3)
            ak_buf_append(&body, s[i].text, s[i].len, 0);
    assert_int_equal(body.len, strlen(BODY_OK));
    assert_memory_equal(body.data, BODY_OK, body.len);
    ak_buf_free(&body);
    ak_buf_free(&in);
    conv_close(&v);
}

/* Streams 1 (allowed), 3 (refused; its block adds "x-extra: refused-only" to the client's
 * table) and 5 (allowed; reuses that entry): the server decodes 1 and 5 right and never sees
 * 3; the client gets 429 on 3 in between the server's frames, the PING's ACK is removed, and
 * its table for the server's blocks still decodes the server's next block. */
static void test_refuse_one_stream(void **state)
{
    struct conv v;
    conv_open(&v);
    uint64_t ev0 = events();
    struct ak_buf in = { 0 }, srv = { 0 };
    ak_buf_append(&in, H2_PREFACE_STR, H2_PREFACE_LEN, 0);
    settings(&in);
    request_headers(&in, v.cdef, 1, NULL);
    request_headers(&in, v.cdef, 3, "refused-only");
    request_headers(&in, v.cdef, 5, "refused-only");
    frame(&in, 0x0, 0x1, 1, BODY_OK, strlen(BODY_OK));
    frame(&in, 0x0, 0x1, 3, BODY_NO, strlen(BODY_NO));
    frame(&in, 0x0, 0x1, 5, BODY_OK, strlen(BODY_OK));
    client_write(v.c, &in, BYTES, &v.wire);
    struct seen s[SEEN_MAX];
    size_t n = frames_read(&v.wire, H2_PREFACE_LEN, v.sinf, s, SEEN_MAX);
    assert_non_null(find(s, n, 0x1, 1));
    assert_null(find(s, n, 0x1, 3));
    assert_null(find(s, n, 0x0, 3));
    const struct seen *h5 = find(s, n, 0x1, 5), *ping = find(s, n, 0x6, 0);
    assert_non_null(h5);
    assert_non_null(strstr(h5->text, "x-extra: refused-only\n"));
    assert_non_null(strstr(h5->text, "authorization: Bearer sk-test\n"));
    assert_non_null(ping);
    assert_int_equal(ping->len, 8);
    assert_int_equal(events(), ev0 + 1);            /* the refusal */

    settings(&srv);
    response_headers(&srv, v.sdef, 1, 0);
    frame(&srv, 0x0, 0x1, 1, RESP_OK, strlen(RESP_OK));
    frame(&srv, 0x6, 0x1, 0, ping->text, 8);        /* the ACK of the engine's PING */
    size_t before_5 = srv.len;
    response_headers(&srv, v.sdef, 5, 0);           /* dynamic references to stream 1's block */
    frame(&srv, 0x0, 0x1, 5, RESP_OK, strlen(RESP_OK));
    server_read(v.c, &srv, BYTES, &v.app);
    size_t m = frames_read(&v.app, 0, v.cinf, s, SEEN_MAX);
    const struct seen *r3 = find(s, m, 0x1, 3), *d3 = find(s, m, 0x0, 3), *r5 = find(s, m, 0x1, 5);
    assert_non_null(r3);
    assert_non_null(memmem(r3->text, r3->len, ":status: 429\n", 12));
    assert_non_null(memmem(r3->text, r3->len, "x-should-retry: false\n", 22));
    assert_non_null(d3);
    assert_true(d3->flags & 0x1);
    assert_non_null(memmem(d3->text, d3->len, "budget_exceeded", 15));
    assert_null(find(s, m, 0x6, 0));                /* the client never sees our PING's ACK */
    assert_non_null(r5);
    assert_string_equal(r5->text, ":status: 200\ncontent-type: application/json\n"
                                  "x-request-id: req_same_every_time\n");
    /* the server's bytes for stream 5 reach the client unchanged, at the end */
    size_t tail = srv.len - before_5;
    assert_memory_equal(v.app.data + v.app.len - tail, srv.data + before_5, tail);
    assert_int_equal(events(), ev0 + 3);
    ak_buf_free(&in);
    ak_buf_free(&srv);
    conv_close(&v);
}

/* The client resets a held stream: nothing of it reaches the server; the next stream goes
 * out. The server resets an answered stream: the call is recorded (ended early). */
static void test_rst_stream(void **state)
{
    struct conv v;
    conv_open(&v);
    uint64_t ev0 = events();
    struct ak_buf in = { 0 }, srv = { 0 };
    ak_buf_append(&in, H2_PREFACE_STR, H2_PREFACE_LEN, 0);
    settings(&in);
    request_headers(&in, v.cdef, 1, NULL);
    frame(&in, 0x0, 0, 1, BODY_OK, 10);
    frame(&in, 0x3, 0, 1, "\0\0\0\x08", 4);         /* RST_STREAM CANCEL */
    request_headers(&in, v.cdef, 3, NULL);
    frame(&in, 0x0, 0x1, 3, BODY_OK, strlen(BODY_OK));
    client_write(v.c, &in, WHOLE, &v.wire);
    struct seen s[SEEN_MAX];
    size_t n = frames_read(&v.wire, H2_PREFACE_LEN, v.sinf, s, SEEN_MAX);
    assert_null(find(s, n, 0x1, 1));
    assert_null(find(s, n, 0x3, 1));
    assert_non_null(find(s, n, 0x1, 3));
    settings(&srv);
    response_headers(&srv, v.sdef, 3, 0);
    frame(&srv, 0x3, 0, 3, "\0\0\0\x02", 4);        /* RST_STREAM INTERNAL_ERROR */
    server_read(v.c, &srv, BYTES, &v.app);
    assert_int_equal(v.app.len, srv.len);
    assert_memory_equal(v.app.data, srv.data, srv.len);
    assert_int_equal(events(), ev0 + 1);
    ak_buf_free(&in);
    ak_buf_free(&srv);
    conv_close(&v);
}

/* GOAWAY below an open stream: it was never processed, so nothing is recorded for it;
 * the bytes pass unchanged. */
static void test_goaway(void **state)
{
    struct conv v;
    conv_open(&v);
    uint64_t ev0 = events();
    struct ak_buf in = { 0 }, srv = { 0 };
    ak_buf_append(&in, H2_PREFACE_STR, H2_PREFACE_LEN, 0);
    settings(&in);
    request_headers(&in, v.cdef, 1, NULL);
    frame(&in, 0x0, 0x1, 1, BODY_OK, strlen(BODY_OK));
    request_headers(&in, v.cdef, 3, NULL);
    frame(&in, 0x0, 0x1, 3, BODY_OK, strlen(BODY_OK));
    client_write(v.c, &in, WHOLE, &v.wire);
    settings(&srv);
    frame(&srv, 0x7, 0, 0, "\0\0\0\x01\0\0\0\0", 8);   /* last stream 1, NO_ERROR */
    response_headers(&srv, v.sdef, 1, 0);
    frame(&srv, 0x0, 0x1, 1, RESP_OK, strlen(RESP_OK));
    server_read(v.c, &srv, BYTES, &v.app);
    assert_memory_equal(v.app.data, srv.data, srv.len);
    api->on_eof(v.c);
    assert_int_equal(events(), ev0 + 1);
    ak_buf_free(&in);
    ak_buf_free(&srv);
    conv_close(&v);
}

/* A body that would exhaust the client's 65535-byte window is released unchecked rather
 * than held forever (the server would never open the window for bytes it never got). */
static void test_flow_guard(void **state)
{
    struct conv v;
    conv_open(&v);
    struct ak_buf in = { 0 };
    ak_buf_append(&in, H2_PREFACE_STR, H2_PREFACE_LEN, 0);
    settings(&in);
    request_headers(&in, v.cdef, 1, NULL);
    static char big[16384];
    memset(big, 'a', sizeof big);
    for (int i = 0; i < 3; i++)
        frame(&in, 0x0, 0, 1, big, sizeof big);
    client_write(v.c, &in, WHOLE, &v.wire);
    struct seen s[SEEN_MAX];
    size_t n = frames_read(&v.wire, H2_PREFACE_LEN, v.sinf, s, SEEN_MAX);
    assert_non_null(find(s, n, 0x1, 1));
    assert_non_null(find(s, n, 0x0, 1));
    ak_buf_free(&in);
    conv_close(&v);
}

/* A GET is not held: it goes out at once. Framing garbage fails closed. */
static void test_get_and_garbage(void **state)
{
    struct conv v;
    conv_open(&v);
    struct ak_buf in = { 0 };
    ak_buf_append(&in, H2_PREFACE_STR, H2_PREFACE_LEN, 0);
    settings(&in);
    nghttp2_nv nv[] = { NV(":method", "GET"), NV(":scheme", "https"),
                        NV(":authority", "api.openai.com"), NV(":path", "/v1/models") };
    unsigned char blk[256];
    size_t k = encode(v.cdef, nv, 4, blk, sizeof blk);
    frame(&in, 0x1, 0x5, 1, blk, k);
    client_write(v.c, &in, WHOLE, &v.wire);
    struct seen s[SEEN_MAX];
    size_t n = frames_read(&v.wire, H2_PREFACE_LEN, v.sinf, s, SEEN_MAX);
    assert_non_null(find(s, n, 0x1, 1));
    ak_buf_reset(&in);
    frame(&in, 0x9, 0x4, 7, "xx", 2);                /* CONTINUATION out of nowhere */
    struct ak_wr_result r;
    api->on_write(v.c, in.data, in.len, &r);
    assert_int_equal(r.action, AK_WR_KILL);
    ak_buf_free(&in);
    conv_close(&v);
}

/* WebSocket over HTTP/2 (extended CONNECT) is answered 429 on its stream, never forwarded. */
static void test_extended_connect_refused(void **state)
{
    struct conv v;
    conv_open(&v);
    struct ak_buf in = { 0 }, srv = { 0 };
    ak_buf_append(&in, H2_PREFACE_STR, H2_PREFACE_LEN, 0);
    settings(&in);
    nghttp2_nv nv[] = { NV(":method", "CONNECT"), NV(":protocol", "websocket"), NV(":scheme", "https"),
                        NV(":authority", "api.openai.com"), NV(":path", "/v1/realtime") };
    unsigned char blk[256];
    frame(&in, 0x1, 0x4, 1, blk, encode(v.cdef, nv, 5, blk, sizeof blk));
    client_write(v.c, &in, WHOLE, &v.wire);
    struct seen s[SEEN_MAX];
    size_t n = frames_read(&v.wire, H2_PREFACE_LEN, v.sinf, s, SEEN_MAX);
    assert_null(find(s, n, 0x1, 1));
    const struct seen *ping = find(s, n, 0x6, 0);
    assert_non_null(ping);
    settings(&srv);
    frame(&srv, 0x6, 0x1, 0, ping->text, 8);
    server_read(v.c, &srv, WHOLE, &v.app);
    size_t m = frames_read(&v.app, 0, v.cinf, s, SEEN_MAX);
    const struct seen *r1 = find(s, m, 0x1, 1);
    assert_non_null(r1);
    assert_non_null(memmem(r1->text, r1->len, ":status: 429\n", 12));
    assert_non_null(find(s, m, 0x0, 1));
    ak_buf_free(&in);
    ak_buf_free(&srv);
    conv_close(&v);
}

/* akctl suspend --now while a stream is in flight: the connection is cut (AK_RD_CUT). */
static void test_suspend_now_cuts(void **state)
{
    struct conv v;
    conv_open(&v);
    struct ak_buf in = { 0 }, srv = { 0 };
    static const char body[] = "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":20,"
                               "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    ak_buf_append(&in, H2_PREFACE_STR, H2_PREFACE_LEN, 0);
    settings(&in);
    request_headers(&in, v.cdef, 1, NULL);
    frame(&in, 0x0, 0x1, 1, body, strlen(body));
    client_write(v.c, &in, WHOLE, &v.wire);
    settings(&srv);
    nghttp2_nv nv[] = { NV(":status", "200"), NV("content-type", "text/event-stream") };
    unsigned char blk[128];
    frame(&srv, 0x1, 0x4, 1, blk, encode(v.sdef, nv, 2, blk, sizeof blk));
    static const char ev[] = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    frame(&srv, 0x0, 0, 1, ev, strlen(ev));
    struct ak_rd_result r;
    api->on_read(v.c, srv.data, srv.len, &r);
    assert_int_equal(r.action, AK_RD_PASS);
    struct ak_ledger *l = engine_ledger();
    assert_int_equal(ak_ledger_suspend(l, "test-h2", "test", true, true, NULL, ak_now_ms()), AK_OK);
    usleep(250 * 1000);                             /* past the ledger look-up interval */
    ak_buf_reset(&srv);
    frame(&srv, 0x0, 0, 1, ev, strlen(ev));
    api->on_read(v.c, srv.data, srv.len, &r);
    assert_int_equal(ak_ledger_resume(l, "test-h2"), AK_OK);
    assert_int_equal(r.action, AK_RD_CUT);
    ak_buf_free(&in);
    ak_buf_free(&srv);
    conv_close(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowed_every_byte),
        cmocka_unit_test(test_continuation_padding),
        cmocka_unit_test(test_refuse_one_stream),
        cmocka_unit_test(test_rst_stream),
        cmocka_unit_test(test_goaway),
        cmocka_unit_test(test_flow_guard),
        cmocka_unit_test(test_get_and_garbage),
        cmocka_unit_test(test_extended_connect_refused),
        cmocka_unit_test(test_suspend_now_cuts),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
