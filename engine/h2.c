/*
 * h2.c - an HTTP/2 LLM connection, followed from its preface: every stream is one exchange,
 * metered with the same request and response parsers as HTTP/1.1 (xreq.c, xresp.c: model,
 * max_tokens, usage, SSE, decoders) and decided with the same enforce/meter code. Each
 * stream's pseudo-headers and fields are written as an HTTP/1.1 head ("POST /v1/... HTTP/1.1",
 * Host from :authority, Content-Length from the body held) and fed to those parsers with the
 * stream's DATA; a response head is fed the same way and ends at END_STREAM (read-until-close).
 *
 * Frames are parsed across reads and writes (one reassembly buffer per direction). Flow
 * control is left alone: WINDOW_UPDATE and SETTINGS pass as they are; the windows are only
 * tracked so that a held body never waits for a window the server cannot open (see below).
 *
 * Client -> server (writes). A stream whose request may be an LLM call (a POST) is held,
 * HEADERS and DATA, until its END_STREAM; then it is decided. Allowed: its frames go out.
 * Refused: none of its frames ever reach the server; the client gets synthetic HEADERS
 * (:status 429) and DATA (the provider's error JSON from refusal.c, END_STREAM) on that
 * stream while the other streams carry on. Two HTTP/2 rules shape this:
 *  - HPACK. A dropped header block may have added entries to the client's dynamic table that
 *    the server would then never have. Strategy: every client header block is decoded (our
 *    inflater follows the client's table) and re-encoded toward the server by a deflater whose
 *    table size is 0: it opens with a "table size 0" update and then sends only static-table
 *    references and literals without indexing. Each block we send is self-contained, so any
 *    block may be held, reordered against other streams or dropped, and the server's table
 *    (empty) can never drift from what we send. The cost: request headers are not compressed
 *    toward the server (a few hundred bytes a request). The client -> server bytes are
 *    therefore not byte-exact (the meaning is); the server -> client bytes are.
 *  - Stream order. A new stream id implicitly closes lower idle ids, so streams open at the
 *    server in the client's order: a stream decided early waits (queued) behind an earlier
 *    stream still held. Frames of streams already open pass at once.
 *  - Flow control. Held DATA never reaches the server, so it never credits the window back:
 *    when a held body gets within FLOW_GUARD of the client's send window the stream is
 *    released unchecked (recorded as unmetered, never silent). A refused stream's DATA is
 *    credited back to the client with a WINDOW_UPDATE on stream 0; the client's credit for
 *    our synthetic DATA is taken off its next connection WINDOW_UPDATE to the server.
 *
 * Server -> client (reads). Observed, never changed, except: synthetic frames for refused
 * streams are inserted at a frame boundary outside a header block, and the ACK of our own
 * PING is removed. Refusing sends that PING to the server so that an answer comes back and
 * the client's read wakes (event loops wait on the socket), carrying the synthetic frames.
 * Our synthetic HEADERS use literals without indexing: the client's table for the server's
 * blocks is untouched. A partial frame is held back only while it might be that PING ACK.
 *
 * Also: RST_STREAM from either side ends that stream's exchange (a held stream the client
 * resets was never sent: nothing recorded); GOAWAY forgets the streams above its last id (never
 * processed; the client retries them elsewhere); akctl suspend --now cuts the connection while
 * a stream is in flight; WebSocket over HTTP/2 (extended CONNECT) is refused on its stream.
 * Not done: the include_usage rewrite of econn.c (an OpenAI stream that did not ask for usage
 * is recorded as an estimate over HTTP/2; a rewrite would need the DATA re-framed with
 * padding so that flow control stays in step).
 *
 * Frames and HPACK lists are built and taken apart by h2wire.c.
 *
 * A client or server that breaks the framing (or HPACK) makes the connection fail closed on
 * the next write: after re-encoding began, raw client blocks could not be passed any more.
 */
#include "engine/h2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "engine/engine.h"
#include "engine/h2wire.h"
#include "engine/meter.h"

#define SET_HEADER_TABLE_SIZE 0x1
#define SET_INITIAL_WINDOW_SIZE 0x4
#define SETTING_LEN 6
#define PING_LEN 8
#define PING_OPAQUE "AKrefuse"         /* our PING; its ACK is removed from the reads */
#define DEFAULT_WINDOW 65535
#define FLOW_GUARD 16384               /* a held body this close to the window is released */
#define REFUSED_RING 128               /* ids of refused streams whose frames are dropped */
#define PROMPT_MAX (256u * 1024)
#define HBLOCK_MAX (1024u * 1024)     /* a header block larger than this is an attack (a
                                         CONTINUATION flood): the framing counts as broken */

/* One header block being collected: HEADERS/PUSH_PROMISE then CONTINUATION frames. */
struct hblock {
    bool open;
    uint8_t type, flags;
    uint32_t sid;
    bool has_prio;
    unsigned char prio[PRIO_LEN];
    struct ak_buf frag;
};

struct exchange {
    bool active;                       /* its response is awaited */
    struct ak_xreq req;
    struct ak_respparser *rs;
    int64_t t0_ms;
    uint64_t res_id;
    struct ak_budget_ref budgets[ENF_MAX_BUDGETS];
    size_t n_budgets;
    enum ak_decision decision;
    char reason[AK_EV_REASON];
    char *prompt;
};

enum sdec { SD_HOLD = 0, SD_ALLOW };

struct h2_stream {
    uint32_t id;
    enum sdec dec;
    bool fwd_open;                     /* its first HEADERS went to the server */
    bool held_post;                    /* a possible LLM call, held until decided */
    bool req_ended;                    /* the client sent END_STREAM */
    bool resp_head;                    /* the final response head was seen */
    struct ak_buf q;                   /* its frames for the server, until it may open */
    struct ak_buf head;                /* its request as an HTTP/1.1 head (no final CRLF) */
    struct ak_buf body;                /* its request body while held */
    int64_t win;                       /* the client's send window on it */
    uint64_t data_bytes;               /* DATA payload the client sent on it */
    struct exchange x;
    struct h2_stream *next;
};

struct ak_h2 {
    char host[AK_EV_HOST];
    enum ak_provider prov;
    const struct eng_who *who;         /* the caller: agent, pid, exe, plane */
    nghttp2_hd_inflater *inf_cli;      /* the client's blocks (its encoder's table) */
    nghttp2_hd_inflater *inf_srv;      /* the server's blocks */
    nghttp2_hd_deflater *def_srv;      /* re-encodes toward the server, table size 0 */
    bool wbroken, rbroken;
    size_t preface_got;
    struct ak_buf wacc, out;           /* write side: partial frame, bytes for the server */
    struct hblock wblk, rblk;
    struct ak_buf racc, robuf, inj;    /* read side: partial frame, bytes for the app, synthetic */
    size_t r_emitted;                  /* bytes of racc's partial frame already given to the app */
    bool srv_settings_seen;
    unsigned pings_out;
    int64_t conn_win, init_win;        /* the client's send windows */
    uint64_t wu_debt;                  /* synthetic DATA the client will credit to the server */
    int64_t next_cut_check_ms;         /* akctl suspend --now, looked for while streaming */
    struct h2_stream *streams;         /* in the order the client opened them */
    uint32_t refused[REFUSED_RING];
    size_t refused_next;
};

static size_t max_body(void)
{
    return eng.cfg && eng.cfg->max_body_bytes ? eng.cfg->max_body_bytes : AK_DEFAULT_MAX_BODY;
}

/* ---- streams ---- */

static struct h2_stream *stream_find(struct ak_h2 *h, uint32_t sid)
{
    for (struct h2_stream *s = h->streams; s; s = s->next)
        if (s->id == sid)
            return s;
    return NULL;
}

static bool sid_refused(const struct ak_h2 *h, uint32_t sid)
{
    for (size_t i = 0; sid && i < REFUSED_RING; i++)
        if (h->refused[i] == sid)
            return true;
    return false;
}

static void stream_unlink_free(struct ak_h2 *h, struct h2_stream *s)
{
    for (struct h2_stream **pp = &h->streams; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    if (s->x.active) {
        enforce_release(s->x.res_id);
        ak_respparser_free(s->x.rs);
    }
    free(s->x.prompt);
    ak_buf_free(&s->q);
    ak_buf_free(&s->head);
    ak_buf_free(&s->body);
    free(s);
}

static struct h2_stream *stream_new(struct ak_h2 *h, uint32_t sid)
{
    struct h2_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->id = sid;
    s->win = h->init_win;
    struct h2_stream **pp = &h->streams;
    while (*pp)
        pp = &(*pp)->next;
    *pp = s;
    return s;
}

/* ---- metering: the same enforce and meter calls as econn.c ---- */

enum finish { FIN_DONE, FIN_EARLY, FIN_ERROR };

static void exchange_finish(struct ak_h2 *h, struct h2_stream *s, enum finish how)
{
    struct exchange *x = &s->x;
    if (!x->active)
        return;
    const struct ak_xresp *r = ak_respparser_result(x->rs);
    bool complete = how == FIN_DONE;
    enum ak_decision dec = x->decision;
    char reason[AK_EV_REASON];
    ak_str_copy(reason, sizeof reason, x->reason);
    if ((r->unparseable || how == FIN_ERROR) && !r->have_usage) {
        dec = AK_DEC_UNMETERED;
        size_t k = strnlen(x->reason, sizeof reason / 2);
        memcpy(reason, x->reason, k);
        if (k) {
            memcpy(reason + k, "; ", 2);
            k += 2;
        }
        ak_str_copy(reason + k, sizeof reason - k,
                    r->reason[0] ? r->reason : "reply not understood");
    } else if (!complete && r->status == 0) {
        dec = AK_DEC_UNMETERED;
        ak_str_copy(reason, sizeof reason, "the stream ended before a reply");
    } else if (!complete && !r->have_usage && !reason[0]) {
        ak_str_copy(reason, sizeof reason,
                    x->req.stream ? "stream ended early" : "reply ended early");
    }
    struct meter_call m = {
        .who = h->who, .host = h->host, .provider = h->prov, .req = &x->req, .resp = r,
        .t0_ms = x->t0_ms,
        .res_id = x->res_id, .budgets = x->budgets, .n_budgets = x->n_budgets,
        .decision = dec, .reason = reason, .prompt = x->prompt, .complete = complete,
    };
    meter_record(&m);
    ak_respparser_free(x->rs);
    free(x->prompt);
    memset(x, 0, sizeof *x);
}

static bool exchange_start(struct ak_h2 *h, struct exchange *x, const struct ak_xreq *rq,
                           const struct enforce_result *er)
{
    x->req = *rq;
    x->res_id = er->res_id;
    memcpy(x->budgets, er->budgets, sizeof x->budgets);
    x->n_budgets = er->n_budgets;
    x->decision = er->decision;
    ak_str_copy(x->reason, sizeof x->reason, er->reason);
    x->rs = ak_respparser_new(h->prov, &x->req, false, max_body());
    if (!x->rs) {
        enforce_release(x->res_id);
        engine_internal_error("response parser allocation");
        memset(x, 0, sizeof *x);
        return false;
    }
    x->active = true;
    x->t0_ms = ak_now_ms();
    return true;
}

static char *prompt_copy(struct ak_reqparser *p)
{
    size_t len = 0;
    const unsigned char *body = ak_reqparser_body(p, &len);
    if (!eng.cfg->save_prompts || !body)
        return NULL;
    len = len > PROMPT_MAX ? PROMPT_MAX : len;
    char *c = malloc(len + 1);
    if (c) {
        memcpy(c, body, len);
        c[len] = '\0';
    }
    return c;
}

/* Answers stream s with the provider's 429 carrying `message` (on the client's next read,
 * which our PING provokes), credits the DATA the client sent on it, and forgets it: the
 * server never hears of the stream. false when it could not be built (the connection is
 * then failed closed). */
static bool stream_answer(struct ak_h2 *h, struct h2_stream *s, const char *message,
                          bool json_array)
{
    struct ak_buf resp = { 0 };
    const char *body = NULL;
    if (ak_refusal_build(h->prov, message, json_array, &resp) == AK_OK)
        body = memmem(resp.data, resp.len, "\r\n\r\n", 4);
    enum ak_err e = AK_ERR_INTERNAL;
    if (body) {
        body += 4;
        size_t blen = resp.len - (size_t)(body - (const char *)resp.data);
        e = h2w_refusal_frames(&h->inj, s->id, body, blen);
        h->wu_debt += blen;
    }
    if (e == AK_OK && s->data_bytes) {
        e = h2w_window_update_put(&h->inj, 0, (uint32_t)s->data_bytes);
        h->conn_win += (int64_t)s->data_bytes;
    }
    if (e == AK_OK)
        e = h2w_frame_put(&h->out, F_PING, 0, 0, (const unsigned char *)PING_OPAQUE, PING_LEN);
    ak_buf_free(&resp);
    if (e != AK_OK) {
        engine_internal_error("HTTP/2 refusal could not be built");
        h->wbroken = true;
        return false;
    }
    h->pings_out++;
    h->refused[h->refused_next++ % REFUSED_RING] = s->id;
    stream_unlink_free(h, s);
    return true;
}

/* A call enforce refused: answered on its stream and recorded. */
static void stream_refuse(struct ak_h2 *h, struct h2_stream *s, const struct ak_xreq *rq,
                          const struct enforce_result *er)
{
    bool json_array = h->prov == AK_PROV_GEMINI && rq->stream && !strstr(rq->target, "alt=sse");
    if (!stream_answer(h, s, er->reason, json_array))
        return;
    struct meter_call m = {
        .who = h->who, .host = h->host, .provider = h->prov, .req = rq, .resp = NULL,
        .t0_ms = ak_now_ms(),
        .decision = er->decision, .reason = er->reason, .complete = true,
    };
    meter_record(&m);
    ak_info("refused an HTTP/2 call to %s for agent '%s': %s", h->host, h->who->agent, er->reason);
}

/* An LLM call that goes out unchecked: recorded as unmetered with the reason, its cost still
 * counted (econn.c's exchange_unchecked). */
static void stream_unchecked(struct ak_h2 *h, struct h2_stream *s, const struct ak_xreq *rq,
                             const char *why)
{
    s->dec = SD_ALLOW;
    if (!rq || rq->operation == AK_OP_NONE)
        return;
    char reason[AK_EV_REASON];
    snprintf(reason, sizeof reason, "request not checked against budgets: %s", why);
    ak_info("an HTTP/2 call to %s goes out unchecked: %s", h->host, reason);
    struct enforce_result er;
    enforce_unchecked(h->who, reason, &er);
    exchange_start(h, &s->x, rq, &er);
}

/* Feeds the stream's request (head + body) to the HTTP/1.1 request parser. */
static enum ak_req_state stream_parse(struct h2_stream *s, struct ak_reqparser *p, size_t clen)
{
    struct ak_buf end = { 0 };
    size_t used = 0;
    enum ak_req_state st = AK_REQ_ERROR;
    if (ak_buf_printf(&end, "Content-Length: %zu\r\n\r\n", clen) == AK_OK) {
        st = ak_reqparser_feed(p, s->head.data, s->head.len, &used);
        if (st == AK_REQ_MORE)
            st = ak_reqparser_feed(p, end.data, end.len, &used);
        if (st == AK_REQ_MORE && s->body.len)
            st = ak_reqparser_feed(p, s->body.data, s->body.len, &used);
    }
    ak_buf_free(&end);
    return st;
}

/* The whole request of a held stream is here: decide it. */
static void stream_decide(struct ak_h2 *h, struct h2_stream *s)
{
    struct ak_reqparser *p = ak_reqparser_new(h->prov, max_body());
    enum ak_req_state st = p ? stream_parse(s, p, s->body.len) : AK_REQ_ERROR;
    const struct ak_xreq *rq = p ? ak_reqparser_request(p) : NULL;
    if (st == AK_REQ_PASS) {
        stream_unchecked(h, s, rq, ak_reqparser_reason(p));
    } else if (st != AK_REQ_DONE) {
        stream_unchecked(h, s, rq, "the request was not understood");
    } else {
        struct enforce_call call = { .who = h->who, .req = rq, .provider = h->prov };
        const struct ak_prices *prices = engine_prices();
        call.priced = prices &&
            ak_price_lookup(prices, eng.cfg, h->prov, rq->model, &call.price) == AK_OK;
        struct enforce_result er;
        enforce_decide(&call, &er);
        if (er.decision != AK_DEC_ALLOWED && er.decision != AK_DEC_UNMETERED) {
            stream_refuse(h, s, rq, &er);
            ak_reqparser_free(p);
            return;
        }
        s->dec = SD_ALLOW;
        if (exchange_start(h, &s->x, rq, &er))
            s->x.prompt = prompt_copy(p);
    }
    ak_buf_free(&s->body);
    ak_reqparser_free(p);
}

/* A held body about to run out of the client's send window goes out unchecked. */
static void stream_flow_guard(struct ak_h2 *h, struct h2_stream *s)
{
    if (!s->held_post || s->dec != SD_HOLD || s->req_ended)
        return;
    if (s->win >= FLOW_GUARD && h->conn_win >= FLOW_GUARD)
        return;
    struct ak_reqparser *p = ak_reqparser_new(h->prov, max_body());
    if (p)
        stream_parse(s, p, (size_t)1 << 40);
    stream_unchecked(h, s, p ? ak_reqparser_request(p) : NULL,
                     "the body is larger than the HTTP/2 flow-control window");
    ak_reqparser_free(p);
    ak_buf_free(&s->body);
}

/* Streams open at the server in the client's order: queued frames go out up to the first
 * stream still held. */
static void streams_flush(struct ak_h2 *h)
{
    for (struct h2_stream *s = h->streams; s; s = s->next) {
        if (s->fwd_open)
            continue;
        if (s->dec == SD_HOLD)
            return;
        if (ak_buf_append(&h->out, s->q.data, s->q.len, 0) != AK_OK) {
            h->wbroken = true;
            return;
        }
        ak_buf_free(&s->q);
        s->fwd_open = true;
    }
}

/* ---- client -> server ---- */

static void w_emit(struct ak_h2 *h, const unsigned char *p, size_t n)
{
    if (ak_buf_append(&h->out, p, n, 0) != AK_OK)
        h->wbroken = true;
}

/* A frame on a stream: queued while the stream waits, dropped when it was refused. */
static void w_route(struct ak_h2 *h, uint32_t sid, const unsigned char *f, size_t n)
{
    struct h2_stream *s = stream_find(h, sid);
    if (sid_refused(h, sid))
        return;
    if (s && !s->fwd_open) {
        if (ak_buf_append(&s->q, f, n, 0) != AK_OK)
            h->wbroken = true;
        return;
    }
    w_emit(h, f, n);
}

/* The request head of a new stream, as HTTP/1.1. */
static bool stream_head(struct h2_stream *s, const struct hlist *l)
{
    const char *m = h2w_hlist_get(l, ":method"), *path = h2w_hlist_get(l, ":path");
    const char *auth = h2w_hlist_get(l, ":authority");
    if (!m || !path || h2w_field_unsafe(m, strlen(m)) || h2w_field_unsafe(path, strlen(path)) ||
        strchr(m, ' ') || strchr(path, ' '))
        return false;
    if (!auth)
        auth = h2w_hlist_get(l, "host");
    if (!auth || h2w_field_unsafe(auth, strlen(auth)))
        auth = "";
    return ak_buf_printf(&s->head, "%s %s HTTP/1.1\r\nHost: %s\r\n", m, path, auth) == AK_OK &&
           h2w_head_fields(l, &s->head);
}

static void w_block_done(struct ak_h2 *h)
{
    struct hblock *b = &h->wblk;
    struct hlist l = { 0 };
    struct ak_buf enc = { 0 };
    b->open = false;
    if (!h2w_hpack_inflate(h->inf_cli, b->frag.data, b->frag.len, &l)) {
        ak_warn("HTTP/2 to %s: the client's header block could not be decoded", h->host);
        h->wbroken = true;
        goto out;
    }
    if (sid_refused(h, b->sid))
        goto out;
    struct h2_stream *s = stream_find(h, b->sid);
    bool opening = !s;
    if (opening && !(s = stream_new(h, b->sid))) {
        h->wbroken = true;
        goto out;
    }
    const unsigned char *prio = b->has_prio ? b->prio : NULL;
    if (h2w_block_reencode(h->def_srv, &l, b->sid, b->flags, prio, &enc) != AK_OK) {
        h->wbroken = true;
        goto out;
    }
    w_route(h, b->sid, enc.data, enc.len);
    if (opening && h2w_hlist_get(&l, ":protocol")) {
        /* extended CONNECT (RFC 8441: WebSocket over HTTP/2) is not metered: refused, so the
         * client falls back to HTTPS (DESIGN.md: never passed through unmetered) */
        ak_info("HTTP/2 extended CONNECT (%s) to %s refused: not metered",
                h2w_hlist_get(&l, ":protocol"), h->host);
        stream_answer(h, s, "agentkavach: WebSocket over HTTP/2 to LLM hosts is not metered; "
                      "use HTTPS", false);
        goto out;
    }
    if (opening) {
        const char *m = h2w_hlist_get(&l, ":method");
        s->held_post = m && strcmp(m, "POST") == 0 && stream_head(s, &l);
        s->dec = s->held_post ? SD_HOLD : SD_ALLOW;
    }
    if (b->flags & FL_END_STREAM) {
        s->req_ended = true;
        if (s->held_post && s->dec == SD_HOLD)
            stream_decide(h, s);
    }
out:
    h2w_hlist_free(&l);
    ak_buf_free(&enc);
    ak_buf_reset(&b->frag);
}

static bool block_begin(struct hblock *b, uint8_t type, uint8_t flags, uint32_t sid,
                        const unsigned char *p, size_t n)
{
    const unsigned char *frag, *prio;
    size_t flen;
    if (!sid || !h2w_block_fragment(type, flags, p, n, &frag, &flen, &prio))
        return false;
    b->open = true;
    b->type = type;
    b->flags = flags;
    b->sid = sid;
    b->has_prio = prio != NULL;
    if (prio)
        memcpy(b->prio, prio, PRIO_LEN);
    ak_buf_reset(&b->frag);
    return ak_buf_append(&b->frag, frag, flen, 0) == AK_OK;
}

static void w_data(struct ak_h2 *h, const unsigned char *f, size_t n)
{
    uint8_t flags = f[4];
    uint32_t sid = h2w_be32(f + 5) & SID_MASK;
    size_t plen = n - FH_LEN;
    struct h2_stream *s = stream_find(h, sid);
    h->conn_win -= (int64_t)plen;
    if (sid_refused(h, sid)) {
        h->conn_win += (int64_t)plen;   /* credited back below */
        if (plen && h2w_window_update_put(&h->inj, 0, (uint32_t)plen) == AK_OK)
            h->pings_out += h2w_frame_put(&h->out, F_PING, 0, 0, (const unsigned char *)PING_OPAQUE,
                                      PING_LEN) == AK_OK;
        return;
    }
    if (!s) {
        w_emit(h, f, n);
        return;
    }
    s->win -= (int64_t)plen;
    s->data_bytes += plen;
    w_route(h, sid, f, n);
    if (!s->held_post || s->dec != SD_HOLD)
        return;
    const unsigned char *c;
    size_t cl;
    if (!h2w_data_content(flags, f + FH_LEN, plen, &c, &cl) ||
        ak_buf_append(&s->body, c, cl, 0) != AK_OK) {
        h->wbroken = true;
        return;
    }
    if (flags & FL_END_STREAM) {
        s->req_ended = true;
        stream_decide(h, s);
        return;
    }
    stream_flow_guard(h, s);
}

/* The client credits the server's window; our synthetic DATA's share is taken off. */
static void w_conn_window_update(struct ak_h2 *h, const unsigned char *f, size_t n)
{
    if (n != FH_LEN + 4 || !h->wu_debt) {
        w_emit(h, f, n);
        return;
    }
    uint32_t inc = h2w_be32(f + FH_LEN) & SID_MASK;
    uint32_t take = h->wu_debt < inc ? (uint32_t)h->wu_debt : inc;
    h->wu_debt -= take;
    if (inc - take && h2w_window_update_put(&h->out, 0, inc - take) != AK_OK)
        h->wbroken = true;
}

static void settings_each(const unsigned char *p, size_t n,
                          void (*fn)(struct ak_h2 *, uint16_t, uint32_t), struct ak_h2 *h)
{
    for (size_t i = 0; i + SETTING_LEN <= n; i += SETTING_LEN)
        fn(h, (uint16_t)(p[i] << 8 | p[i + 1]), h2w_be32(p + i + 2));
}

/* The client's settings: the size the server's encoder may use. */
static void w_setting(struct ak_h2 *h, uint16_t id, uint32_t v)
{
    if (id == SET_HEADER_TABLE_SIZE && nghttp2_hd_inflate_change_table_size(h->inf_srv, v) != 0)
        h->rbroken = true;
}

static void w_frame(struct ak_h2 *h, const unsigned char *f, size_t n)
{
    uint8_t type = f[3], flags = f[4];
    uint32_t sid = h2w_be32(f + 5) & SID_MASK;
    const unsigned char *p = f + FH_LEN;
    size_t pl = n - FH_LEN;
    if (h->wblk.open && (type != F_CONTINUATION || sid != h->wblk.sid)) {
        h->wbroken = true;
        return;
    }
    switch (type) {
    case F_HEADERS:
        if (!block_begin(&h->wblk, type, flags, sid, p, pl))
            h->wbroken = true;
        else if (flags & FL_END_HEADERS)
            w_block_done(h);
        return;
    case F_CONTINUATION:
        if (!h->wblk.open || ak_buf_append(&h->wblk.frag, p, pl, HBLOCK_MAX) != AK_OK)
            h->wbroken = true;
        else if (flags & FL_END_HEADERS)
            w_block_done(h);
        return;
    case F_DATA:
        w_data(h, f, n);
        return;
    case F_WINDOW_UPDATE:
        if (sid == 0)
            w_conn_window_update(h, f, n);
        else
            w_route(h, sid, f, n);
        return;
    case F_RST_STREAM: {
        struct h2_stream *s = stream_find(h, sid);
        w_route(h, sid, f, n);
        if (s && s->fwd_open) {
            exchange_finish(h, s, FIN_EARLY);
            stream_unlink_free(h, s);
        } else if (s && s->dec == SD_HOLD) {
            stream_unlink_free(h, s);   /* never sent, nothing spent; later streams go on */
        }
        return;
    }
    case F_PRIORITY:
        w_route(h, sid, f, n);
        return;
    case F_SETTINGS:
        if (!(flags & FL_ACK))
            settings_each(p, pl, w_setting, h);
        w_emit(h, f, n);
        return;
    default:
        w_emit(h, f, n);
    }
}

static void w_feed(struct ak_h2 *h)
{
    size_t pos = 0;
    struct ak_buf *a = &h->wacc;
    if (h->preface_got < H2_PREFACE_LEN) {
        size_t k = H2_PREFACE_LEN - h->preface_got;
        k = k < a->len ? k : a->len;
        if (memcmp(a->data, &H2_PREFACE_STR[h->preface_got], k) != 0) {
            h->wbroken = true;
            return;
        }
        w_emit(h, a->data, k);
        h->preface_got += k;
        pos = k;
    }
    while (!h->wbroken && a->len - pos >= FH_LEN) {
        size_t n = FH_LEN + h2w_be24(a->data + pos);
        if (a->len - pos < n)
            break;
        w_frame(h, a->data + pos, n);
        pos += n;
    }
    ak_buf_consume(a, pos);
    streams_flush(h);
}

void h2_on_write(struct ak_h2 *h, const unsigned char *buf, size_t len, struct ak_wr_result *res)
{
    memset(res, 0, sizeof *res);
    ak_buf_reset(&h->out);
    bool fresh = h->wacc.len == 0;
    if (!h->wbroken && ak_buf_append(&h->wacc, buf, len, 0) != AK_OK)
        h->wbroken = true;
    if (!h->wbroken)
        w_feed(h);
    if (h->wbroken) {
        ak_warn("HTTP/2 to %s: framing not followed; the connection is closed", h->host);
        res->action = AK_WR_KILL;
        return;
    }
    res->out = h->out.data;       /* set for PASS too: econn.c may send held bytes with it */
    res->out_len = h->out.len;
    if (fresh && h->wacc.len == 0 && h->out.len == len && memcmp(h->out.data, buf, len) == 0)
        res->action = AK_WR_PASS;
    else
        res->action = h->out.len ? AK_WR_SEND : AK_WR_HOLD;
}

/* ---- server -> client ---- */

/* The server's response head, as HTTP/1.1, for the stream's response parser. */
static void r_head(struct ak_h2 *h, struct h2_stream *s, const struct hlist *l)
{
    const char *st = h2w_hlist_get(l, ":status");
    struct ak_buf head = { 0 };
    size_t used = 0;
    if (!st || strlen(st) != 3 || h2w_field_unsafe(st, 3) ||
        ak_buf_printf(&head, "HTTP/1.1 %s H2\r\n", st) != AK_OK || !h2w_head_fields(l, &head) ||
        ak_buf_append(&head, "\r\n", 2, 0) != AK_OK) {
        ak_buf_free(&head);
        exchange_finish(h, s, FIN_ERROR);
        return;
    }
    if (st[0] != '1')
        s->resp_head = true;
    if (ak_respparser_feed(s->x.rs, head.data, head.len, &used, NULL) == AK_RESP_ERROR)
        exchange_finish(h, s, FIN_ERROR);
    ak_buf_free(&head);
}

/* The server ended the stream: its exchange is recorded and the stream forgotten. */
static void r_stream_end(struct ak_h2 *h, struct h2_stream *s)
{
    if (s->x.active) {
        enum ak_resp_state st = ak_respparser_eof(s->x.rs);
        exchange_finish(h, s, st == AK_RESP_DONE ? FIN_DONE : FIN_EARLY);
    }
    stream_unlink_free(h, s);
}

static void r_block_done(struct ak_h2 *h)
{
    struct hblock *b = &h->rblk;
    struct hlist l = { 0 };
    b->open = false;
    if (!h2w_hpack_inflate(h->inf_srv, b->frag.data, b->frag.len, &l)) {
        ak_warn("HTTP/2 from %s: the server's header block could not be decoded", h->host);
        h->rbroken = true;
        goto out;
    }
    struct h2_stream *s = b->type == F_HEADERS ? stream_find(h, b->sid) : NULL;
    if (!s)
        goto out;
    if (s->x.active && !s->resp_head)
        r_head(h, s, &l);         /* a later block is the trailers: nothing to meter there */
    if (b->flags & FL_END_STREAM)
        r_stream_end(h, s);
out:
    h2w_hlist_free(&l);
    ak_buf_reset(&b->frag);
}

static void r_data(struct ak_h2 *h, uint8_t flags, uint32_t sid, const unsigned char *p, size_t n)
{
    struct h2_stream *s = stream_find(h, sid);
    const unsigned char *c;
    size_t cl, used = 0;
    if (!s)
        return;
    if (s->x.active && h2w_data_content(flags, p, n, &c, &cl) && cl) {
        enum ak_resp_state st = ak_respparser_feed(s->x.rs, c, cl, &used, NULL);
        if (st == AK_RESP_ERROR)
            exchange_finish(h, s, FIN_ERROR);
        else if (st == AK_RESP_DONE)
            exchange_finish(h, s, FIN_DONE);
    }
    if (flags & FL_END_STREAM)
        r_stream_end(h, s);
}

/* The server's settings: the size the client's encoder may use, the initial window. */
static void r_setting(struct ak_h2 *h, uint16_t id, uint32_t v)
{
    if (id == SET_HEADER_TABLE_SIZE && nghttp2_hd_inflate_change_table_size(h->inf_cli, v) != 0)
        h->wbroken = true;
    if (id == SET_INITIAL_WINDOW_SIZE) {
        int64_t delta = (int64_t)v - h->init_win;
        h->init_win = v;
        for (struct h2_stream *s = h->streams; s; s = s->next)
            s->win += delta;
    }
}

/* GOAWAY: streams above the last one the server took were never processed; the client
 * retries them elsewhere (metered there). */
static void r_goaway(struct ak_h2 *h, const unsigned char *p, size_t n)
{
    if (n < 4)
        return;
    uint32_t last = h2w_be32(p) & SID_MASK;
    for (struct h2_stream *s = h->streams, *nx; s; s = nx) {
        nx = s->next;
        if (s->id > last && s->fwd_open)
            stream_unlink_free(h, s);
    }
}

static void r_window_update(struct ak_h2 *h, uint32_t sid, const unsigned char *p, size_t n)
{
    if (n != 4)
        return;
    int64_t inc = h2w_be32(p) & SID_MASK;
    struct h2_stream *s = sid ? stream_find(h, sid) : NULL;
    if (!sid)
        h->conn_win += inc;
    else if (s)
        s->win += inc;
}

/* One complete frame from the server; true when the app must not see it (our PING's ACK). */
static bool r_frame(struct ak_h2 *h, const unsigned char *f, size_t n)
{
    uint8_t type = f[3], flags = f[4];
    uint32_t sid = h2w_be32(f + 5) & SID_MASK;
    const unsigned char *p = f + FH_LEN;
    size_t pl = n - FH_LEN;
    if (h->rblk.open && (type != F_CONTINUATION || sid != h->rblk.sid)) {
        h->rbroken = true;
        return false;
    }
    switch (type) {
    case F_HEADERS:
    case F_PUSH_PROMISE:
        if (!block_begin(&h->rblk, type, flags, sid, p, pl))
            h->rbroken = true;
        else if (flags & FL_END_HEADERS)
            r_block_done(h);
        break;
    case F_CONTINUATION:
        if (!h->rblk.open || ak_buf_append(&h->rblk.frag, p, pl, HBLOCK_MAX) != AK_OK)
            h->rbroken = true;
        else if (flags & FL_END_HEADERS)
            r_block_done(h);
        break;
    case F_DATA:
        r_data(h, flags, sid, p, pl);
        break;
    case F_RST_STREAM: {
        struct h2_stream *s = stream_find(h, sid);
        if (s) {
            exchange_finish(h, s, FIN_EARLY);
            stream_unlink_free(h, s);
        }
        break;
    }
    case F_SETTINGS:
        h->srv_settings_seen = true;
        if (!(flags & FL_ACK))
            settings_each(p, pl, r_setting, h);
        break;
    case F_WINDOW_UPDATE:
        r_window_update(h, sid, p, pl);
        break;
    case F_GOAWAY:
        r_goaway(h, p, pl);
        break;
    case F_PING:
        if ((flags & FL_ACK) && h->pings_out && pl == PING_LEN &&
            memcmp(p, PING_OPAQUE, PING_LEN) == 0) {
            h->pings_out--;
            return true;
        }
        break;
    }
    return false;
}

/* Synthetic frames go in between the server's frames, never inside a header block. */
static void r_inject(struct ak_h2 *h)
{
    if (!h->inj.len || h->rblk.open || !h->srv_settings_seen)
        return;
    if (ak_buf_append(&h->robuf, h->inj.data, h->inj.len, 0) != AK_OK)
        h->rbroken = true;
    ak_buf_reset(&h->inj);
}

static bool streaming(const struct ak_h2 *h)
{
    for (const struct h2_stream *s = h->streams; s; s = s->next)
        if (s->x.active && s->x.req.stream)
            return true;
    return false;
}

void h2_on_read(struct ak_h2 *h, const unsigned char *buf, size_t len, struct ak_rd_result *res)
{
    memset(res, 0, sizeof *res);
    if (h->rbroken)
        return;                   /* AK_RD_PASS */
    struct ak_buf *a = &h->racc;
    ak_buf_reset(&h->robuf);
    bool changed = false;
    if (a->len == 0 && h->inj.len && h->srv_settings_seen && !h->rblk.open) {
        r_inject(h);
        changed = true;
    }
    if (ak_buf_append(a, buf, len, 0) != AK_OK) {
        h->rbroken = true;
        return;
    }
    size_t pos = 0;
    while (!h->rbroken && a->len - pos >= FH_LEN) {
        size_t n = FH_LEN + h2w_be24(a->data + pos);
        if (a->len - pos < n)
            break;
        size_t from = pos + h->r_emitted;     /* the part the app already has is skipped */
        h->r_emitted = 0;
        if (r_frame(h, a->data + pos, n))
            changed = true;       /* dropped: it was never given out (see the partial rule) */
        else if (ak_buf_append(&h->robuf, a->data + from, pos + n - from, 0) != AK_OK)
            h->rbroken = true;
        pos += n;
        if (h->inj.len && !h->rblk.open) {
            r_inject(h);
            changed = true;
        }
    }
    /* A partial frame goes to the app at once, unless it could be our PING's ACK. After a
     * framing error everything left goes to the app as it is. */
    size_t rest = a->len - pos;
    bool maybe_ping = rest < FH_LEN || a->data[pos + 3] == F_PING;
    if (rest && (h->rbroken || !maybe_ping)) {
        size_t from = pos + h->r_emitted;
        if (ak_buf_append(&h->robuf, a->data + from, a->len - from, 0) != AK_OK)
            changed = true;       /* cannot happen in practice; the read is cut short */
        h->r_emitted = rest;
    } else if (rest && rest > h->r_emitted) {
        changed = true;           /* held back for now */
    }
    ak_buf_consume(a, pos);
    if (h->rbroken) {
        ak_warn("HTTP/2 from %s: framing not followed; not metered from here", h->host);
        for (struct h2_stream *s = h->streams; s; s = s->next)
            exchange_finish(h, s, FIN_ERROR);
        ak_buf_free(a);
        h->r_emitted = 0;
    }
    if (streaming(h) && engine_cut_requested(h->who->agent, &h->next_cut_check_ms)) {
        ak_info("HTTP/2 to %s: agent suspended with --now; the connection is cut", h->host);
        for (struct h2_stream *s = h->streams; s; s = s->next)
            exchange_finish(h, s, FIN_EARLY);
        res->action = AK_RD_CUT;
        return;
    }
    if (!changed && h->robuf.len == len && memcmp(h->robuf.data, buf, len) == 0)
        return;                   /* the app gets exactly what it read */
    res->action = AK_RD_REPLACE;
    res->out = h->robuf.data;
    res->out_len = h->robuf.len;
}

/* ---- life ---- */

struct ak_h2 *h2_new(const char *host, enum ak_provider prov, const struct eng_who *who)
{
    struct ak_h2 *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    ak_str_copy(h->host, sizeof h->host, host);
    h->prov = prov;
    h->who = who;
    h->conn_win = DEFAULT_WINDOW;
    h->init_win = DEFAULT_WINDOW;
    if (nghttp2_hd_inflate_new(&h->inf_cli) != 0 || nghttp2_hd_inflate_new(&h->inf_srv) != 0 ||
        nghttp2_hd_deflate_new(&h->def_srv, 0) != 0) {
        h2_free(h);
        return NULL;
    }
    return h;
}

static void streams_end(struct ak_h2 *h)
{
    while (h->streams) {
        exchange_finish(h, h->streams, FIN_EARLY);
        stream_unlink_free(h, h->streams);
    }
}

void h2_on_eof(struct ak_h2 *h)
{
    streams_end(h);
}

void h2_free(struct ak_h2 *h)
{
    if (!h)
        return;
    streams_end(h);
    if (h->inf_cli)
        nghttp2_hd_inflate_del(h->inf_cli);
    if (h->inf_srv)
        nghttp2_hd_inflate_del(h->inf_srv);
    if (h->def_srv)
        nghttp2_hd_deflate_del(h->def_srv);
    ak_buf_free(&h->wacc);
    ak_buf_free(&h->out);
    ak_buf_free(&h->wblk.frag);
    ak_buf_free(&h->rblk.frag);
    ak_buf_free(&h->racc);
    ak_buf_free(&h->robuf);
    ak_buf_free(&h->inj);
    free(h);
}
