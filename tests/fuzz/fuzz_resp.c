/*
 * fuzz_resp.c - response reassembly (engine/xresp.c, usage.c, sse.c, decode.c) for every
 * provider profile and operation, streaming or not, with and without the usage-chunk
 * transform. Properties: the same bytes fed whole and under arbitrary read splits give the
 * same state, consumed count, result and transformed output; without the transform nothing
 * is ever written to out; a transformed response only drops bytes (never grows past input +
 * framing).
 * Input: byte 0 = profile, byte 1 = split seed, then the server's bytes.
 */
#include <http_parser.h>

#include "engine/exchange.h"
#include "tests/fuzz/fuzz_util.h"

#define MAX_BODY (64 * 1024)

struct profile { enum ak_provider prov; enum ak_operation op; bool stream; bool strip; };

static const struct profile profiles[] = {
    { AK_PROV_OPENAI, AK_OP_CHAT, false, false },     { AK_PROV_OPENAI, AK_OP_CHAT, true, false },
    { AK_PROV_OPENAI, AK_OP_CHAT, true, true },       { AK_PROV_OPENAI, AK_OP_RESPONSES, false, false },
    { AK_PROV_OPENAI, AK_OP_RESPONSES, true, false }, { AK_PROV_OPENAI, AK_OP_EMBEDDINGS, false, false },
    { AK_PROV_ANTHROPIC, AK_OP_MESSAGES, false, false }, { AK_PROV_ANTHROPIC, AK_OP_MESSAGES, true, false },
    { AK_PROV_GEMINI, AK_OP_GENERATE_CONTENT, false, false },
    { AK_PROV_GEMINI, AK_OP_GENERATE_CONTENT, true, false },
    { AK_PROV_MISTRAL, AK_OP_CHAT, false, false },    { AK_PROV_MISTRAL, AK_OP_CHAT, true, false },
    { AK_PROV_MISTRAL, AK_OP_CHAT, true, true },
};
#define N_PROFILES (sizeof profiles / sizeof profiles[0])

struct run { enum ak_resp_state st; size_t used; struct ak_xresp r; struct ak_buf out; };

static void feed(const struct profile *pf, const uint8_t *p, size_t n, uint32_t seed,
                 bool split, bool eof, struct run *run)
{
    struct ak_xreq req;
    memset(&req, 0, sizeof req);
    req.operation = pf->op;
    req.stream = pf->stream;
    req.max_output_tokens = -1;
    req.n_choices = 1;
    struct ak_respparser *rp = ak_respparser_new(pf->prov, &req, pf->strip, MAX_BODY);
    FZ_CHECK(rp != NULL, "parser allocates");
    struct fz_split sp = { seed };
    memset(run, 0, sizeof *run);
    run->st = AK_RESP_MORE;
    size_t off = 0;
    while (off < n && run->st == AK_RESP_MORE) {
        size_t piece = split ? fz_piece(&sp, n - off) : n - off, c = 0;
        run->st = ak_respparser_feed(rp, p + off, piece, &c, &run->out);
        FZ_CHECK(c <= piece, "consumed within the piece");
        FZ_CHECK(run->st != AK_RESP_MORE || c == piece, "MORE consumes everything");
        off += c;
    }
    if (eof && run->st == AK_RESP_MORE)
        run->st = ak_respparser_eof(rp);
    run->used = off;
    run->r = *ak_respparser_result(rp);
    if (!pf->strip)
        FZ_CHECK(run->out.len == 0, "observe-only parser writes nothing");
    ak_respparser_free(rp);
}

/* What a client reads from a transformed reply, by an HTTP parser: the body de-chunked (the
 * transform re-frames chunks as events complete, so chunk boundaries follow the reads), and
 * where it stopped. */
static int view_body(http_parser *hp, const char *at, size_t len)
{
    return ak_buf_append(hp->data, at, len, 0) == AK_OK ? 0 : -1;
}

static int view_done(http_parser *hp)
{
    return ak_buf_append(hp->data, "<end>", 5, 0) == AK_OK ? 0 : -1;
}

static void client_view(const struct ak_buf *out, struct ak_buf *view)
{
    static const http_parser_settings cb = { .on_body = view_body, .on_message_complete = view_done };
    http_parser hp;
    http_parser_init(&hp, HTTP_RESPONSE);
    hp.data = view;
    size_t n = http_parser_execute(&hp, &cb, (const char *)out->data, out->len);
    char tail[64];
    int k = snprintf(tail, sizeof tail, "<%zu:%d>", n == out->len ? (size_t)0 : n,
                     (int)HTTP_PARSER_ERRNO(&hp));
    ak_buf_append(view, tail, (size_t)k, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = { data, size };
    uint8_t sel = fz_byte(&in);
    uint32_t seed = fz_byte(&in) * 2654435761u + 1;
    const struct profile *pf = &profiles[sel % N_PROFILES];
    bool eof = sel & 0x80;
    struct run whole, split;
    feed(pf, in.p, in.n, seed, false, eof, &whole);
    feed(pf, in.p, in.n, seed, true, eof, &split);
    if (getenv("FUZZ_DEBUG"))
        fprintf(stderr, "profile %u eof %d: whole st %d used %zu status %d reason '%s'; "
                "split st %d used %zu status %d reason '%s' (of %zu); usage %d/%d in %lld/%lld out "
                "%lld/%lld model %s/%s text %lld/%lld err %d/%d unp %d/%d\n", sel % (unsigned)N_PROFILES,
                eof, whole.st, whole.used, whole.r.status, whole.r.reason, split.st, split.used,
                split.r.status, split.r.reason, in.n, whole.r.have_usage, split.r.have_usage,
                (long long)whole.r.usage.input_tokens, (long long)split.r.usage.input_tokens,
                (long long)whole.r.usage.output_tokens, (long long)split.r.usage.output_tokens,
                whole.r.model, split.r.model, (long long)whole.r.streamed_text_bytes,
                (long long)split.r.streamed_text_bytes, whole.r.error_event, split.r.error_event,
                whole.r.unparseable, split.r.unparseable);
    FZ_CHECK(whole.st == split.st, "same state whole and split");
    if (whole.st != AK_RESP_ERROR)    /* after ERROR the caller stops feeding */
        FZ_CHECK(whole.used == split.used, "same bytes consumed whole and split");
    FZ_CHECK(memcmp(&whole.r, &split.r, sizeof whole.r) == 0, "same result whole and split");
    if (getenv("FUZZ_DEBUG")) {
        FILE *fw = fopen("/tmp/fz_whole.out", "wb"), *fs = fopen("/tmp/fz_split.out", "wb");
        if (fw && fs) {
            fwrite(whole.out.data, 1, whole.out.len, fw);
            fwrite(split.out.data, 1, split.out.len, fs);
        }
        if (fw) fclose(fw);
        if (fs) fclose(fs);
    }
    if (getenv("FUZZ_DEBUG") && getenv("FUZZ_DEBUG")[0] == '2')
        fprintf(stderr, "whole out (%zu):\n%.*s\n---- split out (%zu):\n%.*s\n----\n", whole.out.len,
                (int)whole.out.len, (const char *)whole.out.data, split.out.len,
                (int)split.out.len, (const char *)split.out.data);
    if (whole.st != AK_RESP_ERROR) {
        struct ak_buf vw = { 0 }, vs = { 0 };
        client_view(&whole.out, &vw);
        client_view(&split.out, &vs);
        FZ_CHECK(vw.len == vs.len && (vw.len == 0 || memcmp(vw.data, vs.data, vw.len) == 0),
                 "the client reads the same bytes whole and split");
        ak_buf_free(&vw);
        ak_buf_free(&vs);
    }
    ak_buf_free(&whole.out);
    ak_buf_free(&split.out);
    return 0;
}
