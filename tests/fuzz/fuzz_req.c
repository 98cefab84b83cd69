/*
 * fuzz_req.c - the request path (engine/xreq.c, reqbody.c, jsplice.c, decode.c) with the
 * include_usage rewrite. Properties: whole and split feeds give the same state, consumed
 * count, request fields and held bytes; the held bytes are exactly the input consumed; and
 * for a rewritten request, the fidelity property of tests/unit/rewrite_check.h (the same
 * request plus include_usage, one splice in the body, the head kept).
 * Input: byte 0 = provider and options, byte 1 = split seed, then the client's bytes. With
 * bit 7 of byte 0 the bytes after a fixed streaming-chat head are the body.
 */
#include "engine/exchange.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/rewrite_check.h"

#define MAX_BODY (64 * 1024)

static const char body_head[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
                                "Authorization: Bearer fuzz-key-0000\r\n"
                                "Content-Type: application/json\r\nContent-Length: ";

struct run { enum ak_req_state st; size_t used; struct ak_xreq req; struct ak_buf held; };

static void feed(enum ak_provider prov, const uint8_t *p, size_t n, uint32_t seed, bool split,
                 struct run *r)
{
    struct ak_reqparser *rp = ak_reqparser_new(prov, MAX_BODY);
    FZ_CHECK(rp != NULL, "parser allocates");
    struct fz_split sp = { seed };
    memset(r, 0, sizeof *r);
    r->st = AK_REQ_MORE;
    size_t off = 0;
    while (off < n && r->st == AK_REQ_MORE) {
        size_t piece = split ? fz_piece(&sp, n - off) : n - off, c = 0;
        r->st = ak_reqparser_feed(rp, p + off, piece, &c);
        FZ_CHECK(c <= piece, "consumed within the piece");
        off += c;
        if (r->st == AK_REQ_PASS && !ak_reqparser_ended(rp))
            r->st = AK_REQ_MORE;      /* a passing request goes on until it ends */
        if (r->st == AK_REQ_MORE && c < piece)
            break;
    }
    r->used = off;
    r->req = *ak_reqparser_request(rp);
    if (r->st == AK_REQ_DONE) {
        size_t hl;
        const unsigned char *h = ak_reqparser_bytes(rp, &hl);
        FZ_CHECK(hl == off && memcmp(h, p, hl) == 0, "held bytes are the bytes consumed");
        ak_buf_append(&r->held, h, hl, 0);
    }
    ak_reqparser_free(rp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = { data, size };
    uint8_t sel = fz_byte(&in);
    uint32_t seed = fz_byte(&in) * 2654435761u + 3;
    enum ak_provider prov = (enum ak_provider)(AK_PROV_OPENAI + sel % 4);
    struct ak_buf msg = { 0 };
    if (sel & 0x80) {
        prov = AK_PROV_OPENAI;
        ak_buf_printf(&msg, "%s%zu\r\n\r\n", body_head, in.n);
    }
    ak_buf_append(&msg, in.p, in.n, 0);
    struct run whole, split;
    feed(prov, msg.data, msg.len, seed, false, &whole);
    feed(prov, msg.data, msg.len, seed, true, &split);
    FZ_CHECK(whole.st == split.st, "same state whole and split");
    if (whole.st == AK_REQ_DONE) {
        FZ_CHECK(whole.used == split.used, "same bytes consumed");
        FZ_CHECK(rw_same_request(&whole.req, &split.req) &&
                 whole.req.include_usage == split.req.include_usage &&
                 whole.req.input_estimate == split.req.input_estimate &&
                 whole.req.body_hash == split.req.body_hash, "same request whole and split");
        char why[128] = "";
        if (prov == AK_PROV_OPENAI &&
            rw_check(msg.data, whole.used, MAX_BODY, why, sizeof why) == RW_BAD) {
            fprintf(stderr, "rewrite: %s\n", why);
            FZ_CHECK(false, "rewrite fidelity");
        }
    }
    ak_buf_free(&whole.held);
    ak_buf_free(&split.held);
    ak_buf_free(&msg);
    return 0;
}
