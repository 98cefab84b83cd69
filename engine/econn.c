/*
 * econn.c - one LLM connection inside the engine: hold each request until it is complete,
 * decide, send (possibly rewritten) or refuse, then follow the response to its end and record
 * it. HTTP/1.1 only; anything else makes the connection a pass-through (and is logged).
 *
 * Hold mode: the app's writes are kept in `held` and reported written until the request is
 * whole; then the stub flushes `held` (or the rewritten copy in `out`) with the real write.
 * A request that is not an LLM operation (a GET, a body over the cap) is released as soon as
 * the parser knows, and the rest of it passes straight through.
 */
#include "engine/econn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "engine/engine.h"
#include "engine/h2.h"
#include "engine/meter.h"

#define PROMPT_MAX (256u * 1024)      /* privacy.save_prompts keeps at most this much */
#define H2_PREFACE "PRI * HTTP/2.0"

struct exchange {
    bool active;                  /* a metered request went out; its response is awaited */
    int pid;                      /* the process that sent it: only it records the call */
    struct ak_xreq req;
    struct ak_respparser *rs;
    bool transforming;            /* the request was rewritten to include stream usage */
    int64_t t0_ms;
    uint64_t res_id;
    struct ak_budget_ref budgets[ENF_MAX_BUDGETS];  /* reserved against; committed to */
    size_t n_budgets;
    enum ak_decision decision;
    char reason[AK_EV_REASON];
    char *prompt;
};

struct ak_econn {
    const struct eng_who *who;    /* &eng.self (in-process) or &peer (egress) */
    struct eng_who peer;
    char host[AK_EV_HOST];
    enum ak_provider prov;
    struct ak_reqparser *rq;
    struct ak_buf held;           /* the request so far, exactly as the app wrote it */
    struct ak_buf out;            /* a rewritten request, or a refusal */
    struct ak_buf obuf;           /* response bytes for the app when transforming */
    bool passthrough;             /* not HTTP/1.1 (or pipelined): hands off from here on */
    bool head_sent;               /* an Expect: 100-continue head went out ahead of its body */
    bool passing;                 /* the current request passes through (not held) */
    size_t partial_send;          /* a SEND of only the first bytes of `held` is in flight */
    bool keep_held;               /* a SEND of `out` is in flight; `held` is the next request */
    int64_t next_cut_check_ms;    /* suspend --now is looked for at most every CUT_CHECK_MS */
    struct exchange x;
    struct ak_h2 *h2;             /* HTTP/2 (http2: native): h2.c has the connection */
    bool not_h2;                  /* the first bytes are not the HTTP/2 preface */
};

static size_t max_body(void)
{
    return eng.cfg && eng.cfg->max_body_bytes ? eng.cfg->max_body_bytes : AK_DEFAULT_MAX_BODY;
}

static struct ak_econn *econn_alloc(const char *host, int provider)
{
    struct ak_econn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->who = &eng.self;
    ak_str_copy(c->host, sizeof c->host, host);
    c->prov = (enum ak_provider)provider;
    c->rq = ak_reqparser_new(c->prov, max_body());
    if (!c->rq) {
        free(c);
        return NULL;
    }
    return c;
}

struct ak_econn *econn_new(const char *host, int port, int provider)
{
    (void)port;                   /* classification needed it; events name the host only */
    engine_whoami();
    return econn_alloc(host, provider);
}

_Static_assert(sizeof ((struct ak_peer *)0)->agent == ENG_AGENT_LEN, "agent name sizes");
_Static_assert(sizeof ((struct ak_peer *)0)->exe == ENG_EXE_LEN, "exe path sizes");

struct ak_econn *econn_new_peer(const char *host, int port, int provider, const struct ak_peer *who)
{
    (void)port;
    struct ak_econn *c = econn_alloc(host, provider);
    if (!c)
        return NULL;
    memcpy(c->peer.agent, who->agent, sizeof c->peer.agent);
    c->peer.agent[sizeof c->peer.agent - 1] = '\0';
    memcpy(c->peer.exe, who->exe, sizeof c->peer.exe);
    c->peer.exe[sizeof c->peer.exe - 1] = '\0';
    c->peer.pid = who->pid;
    c->peer.uid = who->uid;
    c->peer.start_ms = who->start_ms;
    c->peer.plane = AK_PLANE_EGRESS;
    c->who = &c->peer;
    return c;
}

/* ---- the end of an exchange ---- */

/* How an exchange ended: the reply was read to its end, it stopped early (the client went
 * away, the server closed), or the parser could not follow it. */
enum finish { FIN_DONE, FIN_EARLY, FIN_ERROR };

static void exchange_finish(struct ak_econn *c, enum finish how)
{
    bool complete = how == FIN_DONE;
    struct exchange *x = &c->x;
    if (!x->active)
        return;
    if (x->pid != eng.self.pid) {      /* a forked child's copy of its parent's call: the parent
                                     records it; the child closing it must not, a second time */
        ak_respparser_free(x->rs);
        free(x->prompt);
        memset(x, 0, sizeof *x);
        return;
    }
    const struct ak_xresp *r = ak_respparser_result(x->rs);
    enum ak_decision dec = x->decision;
    char reason[AK_EV_REASON];
    ak_str_copy(reason, sizeof reason, x->reason);
    if ((r->unparseable || how == FIN_ERROR) && !r->have_usage) {
        dec = AK_DEC_UNMETERED;   /* why the call was not checked, if it was not, comes first */
        const char *why = r->reason[0] ? r->reason : "reply not understood";
        size_t k = strnlen(x->reason, sizeof reason / 2);
        memcpy(reason, x->reason, k);
        memcpy(reason + k, "; ", k ? 2 : 0);
        k += k ? 2 : 0;
        ak_str_copy(reason + k, sizeof reason - k, why);
    } else if (!complete && r->status == 0) {
        dec = AK_DEC_UNMETERED;   /* not even a status line: what was spent is unknown */
        ak_str_copy(reason, sizeof reason, "the connection ended before a reply");
    } else if (!complete && !r->head_done) {
        dec = AK_DEC_UNMETERED;   /* the head was cut (the client gave up on it, e.g.) */
        ak_str_copy(reason, sizeof reason, "the connection ended inside the reply's head");
    } else if (!complete && !r->have_usage && !reason[0]) {
        ak_str_copy(reason, sizeof reason, x->req.stream ? "stream ended early" : "reply ended early");
    }
    struct meter_call m = {
        .who = c->who, .host = c->host, .provider = c->prov, .req = &x->req, .resp = r, .t0_ms = x->t0_ms,
        .res_id = x->res_id, .budgets = x->budgets, .n_budgets = x->n_budgets,
        .decision = dec, .reason = reason, .prompt = x->prompt,
        .complete = complete,
    };
    meter_record(&m);
    ak_respparser_free(x->rs);
    free(x->prompt);
    memset(x, 0, sizeof *x);
}

/* ---- requests ---- */

static bool should_add_stream_usage(const struct ak_econn *c, const struct ak_xreq *rq)
{
    if (c->prov != AK_PROV_OPENAI || !rq->stream || rq->include_usage ||
        rq->operation != AK_OP_CHAT)
        return false;
    /* only hosts known to accept stream_options (wire-formats.md 2.1, 6) */
    size_t hl = strlen(c->host);
    static const char azure[] = ".openai.azure.com";
    return strcasecmp(c->host, "api.openai.com") == 0 ||
           (hl > sizeof azure - 1 && strcasecmp(c->host + hl - (sizeof azure - 1), azure) == 0);
}

static void refuse(struct ak_econn *c, const struct ak_xreq *rq, const struct enforce_result *er,
                   struct ak_wr_result *res)
{
    ak_buf_reset(&c->out);
    bool json_array = c->prov == AK_PROV_GEMINI && rq->stream && !strstr(rq->target, "alt=sse");
    if (ak_refusal_build(c->prov, er->reason, json_array, &c->out) != AK_OK) {
        engine_internal_error("refusal could not be built");
        res->action = AK_WR_KILL;
        return;
    }
    struct meter_call m = {
        .who = c->who, .host = c->host, .provider = c->prov, .req = rq, .resp = NULL, .t0_ms = ak_now_ms(),
        .decision = er->decision, .reason = er->reason, .complete = true,
    };
    meter_record(&m);
    ak_info("refused a call to %s for agent '%s': %s", c->host, c->who->agent, er->reason);
    res->action = AK_WR_REFUSE;
    res->out = c->out.data;
    res->out_len = c->out.len;
}

/* A WebSocket upgrade on an LLM host: nothing meters WebSocket frames yet, so it is answered
 * 426 (the client falls back to HTTPS, where its calls are metered) and recorded as unmetered;
 * it is never passed through. */
static void refuse_upgrade(struct ak_econn *c, struct ak_wr_result *res)
{
    const struct ak_xreq *rq = ak_reqparser_request(c->rq);
    char reason[AK_EV_REASON];
    snprintf(reason, sizeof reason, "WebSocket upgrade to %.64s%.96s refused: WebSocket is not metered "
             "yet; the client is told to use HTTPS", c->host, rq->target);
    ak_buf_reset(&c->out);
    if (ak_refusal_build_upgrade(c->prov, reason, &c->out) != AK_OK) {
        engine_internal_error("upgrade refusal could not be built");
        res->action = AK_WR_KILL;
        return;
    }
    struct meter_call m = {
        .who = c->who, .host = c->host, .provider = c->prov, .req = rq, .t0_ms = ak_now_ms(),
        .decision = AK_DEC_UNMETERED, .reason = reason, .complete = true,
        .status = AK_UPGRADE_REFUSAL_STATUS,
    };
    meter_record(&m);
    ak_info("agent '%s': %s", c->who->agent, reason);
    ak_buf_reset(&c->held);
    res->action = AK_WR_REFUSE;
    res->out = c->out.data;
    res->out_len = c->out.len;
}

static char *prompt_copy(struct ak_econn *c)
{
    size_t len = 0;
    const unsigned char *body = ak_reqparser_body(c->rq, &len);
    if (!eng.cfg->save_prompts || !body)
        return NULL;
    if (len > PROMPT_MAX)
        len = PROMPT_MAX;
    char *p = malloc(len + 1);
    if (p) {
        memcpy(p, body, len);
        p[len] = '\0';
    }
    return p;
}

static void request_done(struct ak_econn *c, struct ak_wr_result *res)
{
    const struct ak_xreq *rq = ak_reqparser_request(c->rq);
    if (c->x.active)
        exchange_finish(c, FIN_EARLY); /* the previous reply was never read to its end */

    struct enforce_call call = { .who = c->who, .req = rq, .provider = c->prov };
    const struct ak_prices *prices = engine_prices();
    call.priced = prices && ak_price_lookup(prices, eng.cfg, c->prov, rq->model, &call.price) == AK_OK;
    struct enforce_result er;
    enforce_decide(&call, &er);
    bool head_sent = c->head_sent;
    c->head_sent = false;
    if (er.decision != AK_DEC_ALLOWED && er.decision != AK_DEC_UNMETERED) {
        refuse(c, rq, &er, res);
        ak_buf_reset(&c->held);
        ak_reqparser_reset(c->rq);
        return;
    }

    struct exchange *x = &c->x;
    x->req = *rq;
    x->res_id = er.res_id;
    memcpy(x->budgets, er.budgets, sizeof x->budgets);
    x->n_budgets = er.n_budgets;
    x->decision = er.decision;
    snprintf(x->reason, sizeof x->reason, "%s", er.reason);
    x->prompt = prompt_copy(c);
    res->action = AK_WR_SEND;
    res->out = c->held.data;
    res->out_len = c->held.len;
    if (!head_sent && should_add_stream_usage(c, rq)) {
        ak_buf_reset(&c->out);
        if (ak_reqparser_rewrite_include_usage(c->rq, &c->out)) {
            x->transforming = true;
            res->out = c->out.data;
            res->out_len = c->out.len;
        }
    }
    x->rs = ak_respparser_new(c->prov, &x->req, x->transforming, max_body());
    if (!x->rs) {
        enforce_release(x->res_id);
        engine_internal_error("response parser allocation");
        memset(x, 0, sizeof *x);
    } else {
        x->active = true;
        x->t0_ms = ak_now_ms();
        x->pid = eng.self.pid;
    }
    ak_reqparser_reset(c->rq);
}

/* A request to an LLM operation that cannot be checked goes out unchecked: a body over the
 * cap (holding it would hold the agent's memory hostage), a body cJSON refuses (a lone
 * \ud800, which Python's json.dumps writes), an unknown Content-Encoding, an over-long target.
 * Its reply is still metered, recorded as unmetered with the reason, and its cost counted
 * against the agent's budgets: never silent. */
static void exchange_unchecked(struct ak_econn *c)
{
    const struct ak_xreq *rq = ak_reqparser_request(c->rq);
    const char *why = ak_reqparser_reason(c->rq);
    if (rq->operation == AK_OP_NONE)
        return;                   /* not an LLM call (a GET, another path) */
    if (c->x.active)
        exchange_finish(c, FIN_EARLY);
    char reason[AK_EV_REASON];
    if (strcmp(why, "body over cap") == 0)
        snprintf(reason, sizeof reason, "request body over the %zu-byte cap "
                 "(limits.max_body_bytes): not checked against budgets", max_body());
    else
        snprintf(reason, sizeof reason, "request not checked against budgets: %s", why);
    ak_info("a call to %s goes out unchecked: %s", c->host, reason);
    struct enforce_result er;
    enforce_unchecked(c->who, reason, &er);
    struct exchange *x = &c->x;
    x->req = *rq;
    x->decision = er.decision;
    snprintf(x->reason, sizeof x->reason, "%s", er.reason);
    memcpy(x->budgets, er.budgets, sizeof x->budgets);
    x->n_budgets = er.n_budgets;
    x->rs = ak_respparser_new(c->prov, &x->req, false, max_body());
    if (!x->rs) {
        memset(x, 0, sizeof *x);
        return;
    }
    x->active = true;
    x->t0_ms = ak_now_ms();
    x->pid = eng.self.pid;
}

/* Sends what is held plus this chunk (the request is not metered, or cannot be). */
static void release_held(struct ak_econn *c, const unsigned char *buf, size_t len,
                         struct ak_wr_result *res)
{
    if (c->held.len == 0) {
        res->action = AK_WR_PASS;
        return;
    }
    if (ak_buf_append(&c->held, buf, len, 0) != AK_OK) {
        engine_internal_error("out of memory holding a request");
        res->action = AK_WR_KILL;
        return;
    }
    res->action = AK_WR_SEND;
    res->out = c->held.data;
    res->out_len = c->held.len;
}

/* A held head that asks for 100-continue goes out at once: curl would otherwise wait a second
 * for the server's 100 before it sends the body we need for the decision. */
static void send_expect_head(struct ak_econn *c, struct ak_wr_result *res)
{
    size_t head = c->head_sent ? 0 : ak_reqparser_expect_head(c->rq);
    if (!head)
        return;
    c->head_sent = true;
    c->partial_send = head;
    res->action = AK_WR_SEND;
    res->out = c->held.data;
    res->out_len = head;
}

/* More requests came in the same write as a complete one (pipelining). They go out right
 * behind it, never dropped (a rewritten first request used to lose them), and the connection
 * passes through from here, since replies would no longer pair with requests; a pipelined
 * LLM call (or one whose head is not complete) is recorded as unmetered with that reason. */
static void pipelined(struct ak_econn *c, const unsigned char *tail, size_t n,
                      struct ak_wr_result *res)
{
    ak_warn("pipelined requests to %s: the connection passes through from here, unmetered", c->host);
    c->passthrough = true;
    if (res->action == AK_WR_SEND && res->out == c->out.data) {
        if (ak_buf_append(&c->out, tail, n, 0) != AK_OK) {
            engine_internal_error("out of memory keeping a pipelined request");
            res->action = AK_WR_KILL;
            return;
        }
        res->out = c->out.data;
        res->out_len = c->out.len;
    }
    struct ak_reqparser *p = ak_reqparser_new(c->prov, max_body());
    size_t used = 0;
    enum ak_req_state st = p ? ak_reqparser_feed(p, tail, n, &used) : AK_REQ_ERROR;
    const struct ak_xreq *rq = p ? ak_reqparser_request(p) : NULL;
    if (rq && (rq->operation != AK_OP_NONE || (st == AK_REQ_MORE && !rq->method[0]))) {
        struct meter_call m = {
            .who = c->who, .host = c->host, .provider = c->prov, .req = rq, .t0_ms = ak_now_ms(),
            .decision = AK_DEC_UNMETERED, .complete = true,
            .reason = "pipelined behind another request on one connection: passed unmetered",
        };
        meter_record(&m);
    }
    ak_reqparser_free(p);
}

/* A request that passes (a GET) ended inside this write and the next one began: the passed
 * bytes go out, the next request's first bytes are held and parsed as the start of a request
 * (before, they were sent unparsed and the parser, out of step, gave up on the connection).
 * When the next request is also complete in this write, it is pipelining. */
static void pass_then_hold(struct ak_econn *c, const unsigned char *buf, size_t len,
                           size_t consumed, struct ak_wr_result *res)
{
    const unsigned char *tail = buf + consumed;
    size_t n = len - consumed, used = 0;
    ak_buf_reset(&c->out);
    if (ak_buf_append(&c->out, c->held.data, c->held.len, 0) != AK_OK ||
        ak_buf_append(&c->out, buf, consumed, 0) != AK_OK) {
        engine_internal_error("out of memory passing a request");
        res->action = AK_WR_KILL;
        return;
    }
    ak_buf_reset(&c->held);
    res->action = AK_WR_SEND;
    enum ak_req_state st = ak_reqparser_feed(c->rq, tail, n, &used);
    if (st == AK_REQ_MORE && ak_buf_append(&c->held, tail, n, 0) == AK_OK) {
        c->keep_held = true;
        res->out = c->out.data;
        res->out_len = c->out.len;
        return;
    }
    ak_reqparser_reset(c->rq);
    res->out = c->out.data;
    pipelined(c, tail, n, res);
}

/* The connection's first bytes, while they may still be the HTTP/2 preface: they are held
 * here (not parsed as HTTP/1.1) until they are known. The preface hands the connection to
 * h2.c (http2: native) or fails closed (downgrade); anything else goes to the HTTP/1.1
 * parser, the bytes held so far first. true: handled, *res is set. */
static bool h2_detect(struct ak_econn *c, const unsigned char *buf, size_t len,
                      struct ak_wr_result *res)
{
    size_t hl = c->held.len, total = hl + len;
    size_t k = len < H2_PREFACE_LEN - hl ? len : H2_PREFACE_LEN - hl;
    if (memcmp(buf, &H2_PREFACE_STR[hl], k) != 0) {
        c->not_h2 = true;
        size_t used = 0;
        if (hl && ak_reqparser_feed(c->rq, c->held.data, hl, &used) != AK_REQ_MORE)
            c->passthrough = true;        /* not HTTP/1.1 either: release_held sends it all */
        return false;
    }
    if (ak_buf_append(&c->held, buf, len, 0) != AK_OK) {
        engine_internal_error("out of memory holding a request");
        res->action = AK_WR_KILL;
        return true;
    }
    if (total < H2_PREFACE_LEN) {
        res->action = AK_WR_HOLD;
        return true;
    }
    if (eng.cfg->http2 != AK_HTTP2_NATIVE || !(c->h2 = h2_new(c->host, c->prov, c->who))) {
        ak_warn("HTTP/2 to %s (prior knowledge?): connection refused (http2: downgrade)", c->host);
        res->action = AK_WR_KILL;
        return true;
    }
    h2_on_write(c->h2, c->held.data, c->held.len, res);
    if (res->action == AK_WR_PASS)
        res->action = AK_WR_SEND;     /* the held bytes, not only this write's */
    ak_buf_reset(&c->held);
    return true;
}

void econn_on_write(struct ak_econn *c, const unsigned char *buf, size_t len, struct ak_wr_result *res)
{
    memset(res, 0, sizeof *res);
    if (c->h2) {
        h2_on_write(c->h2, buf, len, res);
        return;
    }
    if (!c->not_h2 && h2_detect(c, buf, len, res))
        return;
    if (c->passthrough && c->held.len) {
        release_held(c, buf, len, res);
        return;
    }
    if (c->passthrough)
        return;                   /* AK_WR_PASS */
    size_t consumed = len;
    enum ak_req_state st = ak_reqparser_feed(c->rq, buf, len, &consumed);
    switch (st) {
    case AK_REQ_MORE:
        c->passing = false;
        if (ak_buf_append(&c->held, buf, len, 0) != AK_OK) {
            engine_internal_error("out of memory holding a request");
            res->action = AK_WR_KILL;
            return;
        }
        res->action = AK_WR_HOLD;
        send_expect_head(c, res);
        return;
    case AK_REQ_PASS:
        if (!c->passing) {
            c->passing = true;    /* the first bytes of a request that passes through */
            exchange_unchecked(c);
        }
        if (ak_reqparser_ended(c->rq))
            c->passing = false;
        if (ak_reqparser_ended(c->rq) && consumed < len) {
            pass_then_hold(c, buf, len, consumed, res);
            return;
        }
        release_held(c, buf, len, res);
        return;
    case AK_REQ_ERROR:
        if (ak_reqparser_upgrade(c->rq)) {
            refuse_upgrade(c, res);
            return;
        }
        if (c->held.len == 0 && len >= sizeof H2_PREFACE - 1 &&
            memcmp(buf, H2_PREFACE, sizeof H2_PREFACE - 1) == 0) {
            /* HTTP/2 is not parsed yet: metering and refusal would be blind, so fail closed */
            ak_warn("HTTP/2 to %s (prior knowledge?): connection refused; use HTTP/1.1", c->host);
            res->action = AK_WR_KILL;
            return;
        }
        ak_info("connection to %s is not HTTP/1.1; it passes through unmetered", c->host);
        c->passthrough = true;
        release_held(c, buf, len, res);
        return;
    case AK_REQ_DONE:
        c->passing = false;
        break;
    }
    if (ak_buf_append(&c->held, buf, len, 0) != AK_OK) {
        engine_internal_error("out of memory holding a request");
        res->action = AK_WR_KILL;
        return;
    }
    request_done(c, res);
    if (consumed < len)
        pipelined(c, buf + consumed, len - consumed, res);
}

void econn_on_sent(struct ak_econn *c)
{
    if (c->h2)
        return;                   /* h2.c rebuilds its output on every write */
    if (c->keep_held) {
        c->keep_held = false;
        ak_buf_reset(&c->out);
        return;
    }
    if (c->partial_send) {
        ak_buf_consume(&c->held, c->partial_send);   /* the head is out; the body stays held */
        c->partial_send = 0;
        return;
    }
    ak_buf_reset(&c->held);
    ak_buf_reset(&c->out);
}

/* ---- responses ---- */

static bool cut_requested(struct ak_econn *c)
{
    return engine_cut_requested(c->who->agent, &c->next_cut_check_ms);
}

void econn_on_read(struct ak_econn *c, const unsigned char *buf, size_t len, struct ak_rd_result *res)
{
    memset(res, 0, sizeof *res);
    if (c->h2) {
        h2_on_read(c->h2, buf, len, res);
        return;
    }
    struct exchange *x = &c->x;
    if (!x->active)
        return;                   /* AK_RD_PASS */
    bool transforming = x->transforming;
    ak_buf_reset(&c->obuf);
    size_t consumed = len;
    enum ak_resp_state st = ak_respparser_feed(x->rs, buf, len, &consumed,
                                               transforming ? &c->obuf : NULL);
    if (transforming) {
        if (consumed < len)
            ak_buf_append(&c->obuf, buf + consumed, len - consumed, 0);
        res->action = AK_RD_REPLACE;
        res->out = c->obuf.data;
        res->out_len = c->obuf.len;
    }
    if (st == AK_RESP_DONE || st == AK_RESP_ERROR) {
        exchange_finish(c, st == AK_RESP_DONE ? FIN_DONE : FIN_ERROR);
        return;
    }
    if (x->req.stream && cut_requested(c)) {
        exchange_finish(c, FIN_EARLY);
        res->action = AK_RD_CUT;
    }
}

void econn_on_eof(struct ak_econn *c)
{
    if (c->h2) {
        h2_on_eof(c->h2);
        return;
    }
    if (!c->x.active)
        return;
    enum ak_resp_state st = ak_respparser_eof(c->x.rs);
    exchange_finish(c, st == AK_RESP_DONE ? FIN_DONE : FIN_EARLY);
}

void econn_free(struct ak_econn *c)
{
    if (!c)
        return;
    h2_free(c->h2);
    if (c->x.active)
        exchange_finish(c, FIN_EARLY);  /* abandoned: recorded with what was seen, as an estimate */
    ak_reqparser_free(c->rq);
    ak_buf_free(&c->held);
    ak_buf_free(&c->out);
    ak_buf_free(&c->obuf);
    free(c);
}

void econn_record_unmetered(const struct ak_peer *who, const char *host, int provider,
                            const char *reason)
{
    struct ak_econn *c = econn_new_peer(host, 0, provider, who);
    if (!c)
        return;
    struct ak_xreq none;
    memset(&none, 0, sizeof none);
    struct meter_call m = {
        .who = c->who, .host = c->host, .provider = c->prov, .req = &none,
        .t0_ms = ak_now_ms(), .decision = AK_DEC_UNMETERED, .reason = reason,
        .complete = true, .status = -1,
    };
    meter_record(&m);
    econn_free(c);
}
