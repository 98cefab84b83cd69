/*
 * xresp.c - the response side of engine/exchange.h: HTTP/1.1 framing with libhttp-parser
 * (1xx, HEAD, 204/304, Content-Length, chunked, read-until-close), Content-Encoding
 * decoding of a copy, and usage extraction by body kind: a JSON body (held up to max_body),
 * an SSE stream (engine/sse.c, one event at a time), or Gemini's incrementally delivered JSON
 * array (engine/jarray.c). Only payloads that can carry usage, an error or the still unknown
 * model are JSON-parsed (perf-anchors.md "Reading server-sent events").
 *
 * The transform (strip_usage_chunk: the request was rewritten to add include_usage). The
 * client must see the stream it would have seen without include_usage. We take that to be:
 * every event exactly as sent, minus the one extra event whose JSON has "choices":[] and a
 * non-null "usage", and minus the `,"usage":null` that include_usage adds as the last key of
 * every other chunk (OpenAI's compact JSON; a byte edit, nothing is re-serialised), so that
 * a client compares equal byte for byte with what it would have received. So: the head
 * goes out byte-identical, the body is re-framed as one chunk per group of kept events
 * (events completed within one input chunk or one feed), and the last 0-chunk and trailers
 * go out as received. At most one incomplete event is held. A response that is not a 2xx
 * chunked, uncompressed SSE stream passes through unchanged (through `out`).
 *
 * Byte accounting in transform mode: the parser is paused at every boundary (end of head,
 * chunk size line, end of chunk data, end of message), so each stretch of bytes that one
 * http_parser_execute() call consumes belongs to one phase: head and tail bytes are copied
 * out, chunk size lines are kept aside (only the last one is re-emitted), chunk data
 * arrives through on_body and leaves as re-framed events.
 */
#include "engine/exchange.h"

#include <cjson/cJSON.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/decode.h"
#include "engine/httphdr.h"
#include "engine/jarray.h"
#include "engine/sse.h"
#include "engine/usage.h"

#define XR_CTYPE 64
#define XR_SIZELINE_MAX 4096          /* a chunk size line with extensions */
#define XR_SSE_TYPE "text/event-stream"
#define XR_DONE_SENTINEL "[DONE]"
#define XR_STATUS_INFO_MIN 100
#define XR_STATUS_SWITCHING 101
#define XR_STATUS_OK_MIN 200
#define XR_STATUS_OK_MAX 299
#define XR_STATUS_NO_CONTENT 204
#define XR_STATUS_NOT_MODIFIED 304

enum xr_body { XB_NONE = 0, XB_IGNORE, XB_JSON, XB_SSE, XB_JARRAY };
enum xr_phase { XP_HEAD = 0, XP_SIZE, XP_DATA, XP_TAIL };

struct ak_respparser {
    enum ak_provider provider;
    struct ak_xreq req;
    bool strip;
    size_t max_body;
    http_parser hp;
    struct ak_hdr hdr;
    struct ak_xresp res;
    char ctype[XR_CTYPE];
    enum ak_encoding enc;
    enum xr_body kind;
    struct ak_decoder *dec;
    struct ak_buf json;
    bool json_over;
    struct ak_sse sse;
    struct ak_jarray ja;
    bool final_head;                  /* the final (non-1xx) head has been seen */
    bool done;
    bool failed;
    /* transform */
    bool transform;                   /* re-framing a chunked SSE stream */
    enum xr_phase phase;
    bool at_head_end, at_chunk_head, at_chunk_end, last_chunk;
    struct ak_buf sizeline;
    struct ak_buf group;              /* kept events waiting to go out as one chunk */
};

static void xr_unparseable(struct ak_respparser *p, const char *why)
{
    if (p->res.unparseable)
        return;
    p->res.unparseable = true;
    snprintf(p->res.reason, sizeof p->res.reason, "%s", why);
}

/* ---- payloads ------------------------------------------------------------------------- */

static bool xr_usage_only(const cJSON *root)
{
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    return cJSON_IsArray(choices) && cJSON_GetArraySize(choices) == 0 && cJSON_IsObject(usage);
}

/* Meters one stream payload; true when it is the usage-only chunk the transform drops. */
static bool xr_payload(struct ak_respparser *p, const unsigned char *d, size_t n)
{
    bool usage_only = false;
    int64_t text = 0;
    bool worth = ak_usage_scan(p->req.operation, p->provider, d, n, p->res.model[0] == '\0',
                               &text);
    p->res.streamed_text_bytes += text;
    if (!worth)
        return false;
    cJSON *root = cJSON_ParseWithLength((const char *)d, n);
    if (root) {
        ak_usage_apply(p->req.operation, p->provider, root, &p->res);
        usage_only = p->transform && xr_usage_only(root);
    }
    cJSON_Delete(root);
    return usage_only;
}

/* Appends an event with the `,"usage":null` that include_usage added removed (the last one:
 * OpenAI writes it as the final key of the chunk object). */
static enum ak_err xr_keep_event(struct ak_respparser *p, const unsigned char *raw, size_t n)
{
    static const char null_usage[] = ",\"usage\":null";
    const size_t nl = sizeof null_usage - 1;
    const unsigned char *hit = NULL;
    for (const unsigned char *q = raw; (q = memmem(q, n - (size_t)(q - raw), null_usage, nl)); q += nl)
        hit = q;
    if (!hit)
        return ak_buf_append(&p->group, raw, n, 0);
    enum ak_err err = ak_buf_append(&p->group, raw, (size_t)(hit - raw), 0);
    if (err == AK_OK)
        err = ak_buf_append(&p->group, hit + nl, n - (size_t)(hit - raw) - nl, 0);
    return err;
}

static enum ak_err xr_sse_event(void *ud, const struct ak_sse_event *ev)
{
    struct ak_respparser *p = ud;
    bool drop = false;
    if (ev->kind == AK_SSE_EVENT && ev->has_data) {
        if (strcmp(ev->name, "error") == 0)
            p->res.error_event = true;
        bool sentinel = ev->data_len == strlen(XR_DONE_SENTINEL) &&
                        memcmp(ev->data, XR_DONE_SENTINEL, ev->data_len) == 0;
        if (!sentinel)
            drop = xr_payload(p, ev->data, ev->data_len);
    }
    if (!p->transform || drop)
        return AK_OK;
    return xr_keep_event(p, ev->raw, ev->raw_len);
}

static enum ak_err xr_array_elem(void *ud, const unsigned char *elem, size_t n)
{
    xr_payload(ud, elem, n);
    return AK_OK;
}

/* Decoded body bytes, by body kind. */
static enum ak_err xr_sink(void *ud, const unsigned char *d, size_t n)
{
    struct ak_respparser *p = ud;
    switch (p->kind) {
    case XB_JSON:
        if (!p->json_over && ak_buf_append(&p->json, d, n, p->max_body) == AK_ERR_FULL) {
            p->json_over = true;
            ak_buf_free(&p->json);
        }
        return AK_OK;
    case XB_SSE:
        return ak_sse_feed(&p->sse, d, n, xr_sse_event, p);
    case XB_JARRAY:
        return ak_jarray_feed(&p->ja, d, n, xr_array_elem, p);
    case XB_NONE:
    case XB_IGNORE:
        break;
    }
    return AK_OK;
}

static void xr_finish_body(struct ak_respparser *p)
{
    if (p->kind == XB_SSE && ak_sse_finish(&p->sse, xr_sse_event, p) != AK_OK)
        xr_unparseable(p, "out of memory");
    if (p->dec && ak_decoder_finish(p->dec) != AK_OK && p->kind != XB_IGNORE)
        xr_unparseable(p, "truncated compressed body");
    if (p->kind == XB_JSON) {
        cJSON *root = NULL;
        if (p->json_over)
            xr_unparseable(p, "body over cap");
        else if (!(root = ak_usage_sparse_parse(p->json.data, p->json.len)) &&
                 (!(root = cJSON_ParseWithLength((const char *)p->json.data, p->json.len)) ||
                  !cJSON_IsObject(root)))
            xr_unparseable(p, "broken JSON body");
        else
            ak_usage_apply(p->req.operation, p->provider, root, &p->res);
        cJSON_Delete(root);
    }
    if ((p->kind == XB_SSE && p->sse.oversize) || (p->kind == XB_JARRAY && p->ja.oversize))
        xr_unparseable(p, "stream event over 1 MiB");
}

/* ---- http_parser callbacks ------------------------------------------------------------ */

static void xr_header(void *ud, const char *name, size_t nlen, const char *v, size_t vlen)
{
    struct ak_respparser *p = ud;
    if (p->final_head)
        return;                        /* trailers */
    if (ak_hdr_name_is(name, nlen, "content-type")) {
        ak_hdr_copy_value(v, vlen, p->ctype, sizeof p->ctype);
    } else if (ak_hdr_name_is(name, nlen, "content-encoding")) {
        char val[32];
        ak_hdr_copy_value(v, vlen, val, sizeof val);
        p->enc = vlen >= sizeof val ? AK_ENC_UNKNOWN : ak_decode_encoding(val);
    }
}

static int xr_on_status(http_parser *hp, const char *at, size_t len)
{
    struct ak_respparser *p = hp->data;
    if (!p->final_head && hp->status_code >= XR_STATUS_OK_MIN)
        p->res.status = hp->status_code;   /* kept even if the head then breaks or ends */
    return ak_hdr_count(&p->hdr, len) == AK_OK ? 0 : -1;
}

static int xr_on_field(http_parser *hp, const char *at, size_t len)
{
    struct ak_respparser *p = hp->data;
    return ak_hdr_field(&p->hdr, at, len, xr_header, p) == AK_OK ? 0 : -1;
}

static int xr_on_value(http_parser *hp, const char *at, size_t len)
{
    struct ak_respparser *p = hp->data;
    return ak_hdr_value(&p->hdr, at, len) == AK_OK ? 0 : -1;
}

static enum xr_body xr_body_kind(struct ak_respparser *p, int status)
{
    if (p->req.head_only || status == XR_STATUS_NO_CONTENT || status == XR_STATUS_NOT_MODIFIED)
        return XB_NONE;
    if (status < XR_STATUS_OK_MIN || status > XR_STATUS_OK_MAX)
        return XB_IGNORE;
    if (strncasecmp(p->ctype, XR_SSE_TYPE, strlen(XR_SSE_TYPE)) == 0)
        return XB_SSE;
    if (p->req.stream && p->req.operation == AK_OP_GENERATE_CONTENT)
        return XB_JARRAY;
    return XB_JSON;
}

static int xr_on_headers_complete(http_parser *hp)
{
    struct ak_respparser *p = hp->data;
    int status = hp->status_code;
    ak_hdr_flush(&p->hdr, xr_header, p);
    if (status == XR_STATUS_SWITCHING || hp->upgrade)
        return -1;                     /* not HTTP any more */
    if (p->strip) {
        p->at_head_end = true;
        http_parser_pause(hp, 1);
    }
    if (status >= XR_STATUS_INFO_MIN && status < XR_STATUS_OK_MIN)
        return 0;                      /* interim: the final head follows */
    p->final_head = true;
    p->res.head_done = true;
    p->res.status = status;
    p->kind = xr_body_kind(p, status);
    if (p->kind == XB_IGNORE)
        p->res.error_event = true;
    p->res.is_sse = p->kind == XB_SSE;
    if (p->kind != XB_NONE && p->kind != XB_IGNORE && p->enc != AK_ENC_IDENTITY) {
        p->dec = p->enc == AK_ENC_UNKNOWN ? NULL : ak_decoder_new(p->enc);
        if (!p->dec) {
            xr_unparseable(p, "unsupported content-encoding");
            p->kind = XB_IGNORE;
        }
    }
    p->transform = p->strip && p->kind == XB_SSE && (hp->flags & F_CHUNKED) &&
                   p->enc == AK_ENC_IDENTITY;
    ak_sse_init(&p->sse, AK_SSE_MAX_EVENT, p->transform);
    return p->req.head_only ? 1 : 0;
}

static int xr_on_body(http_parser *hp, const char *at, size_t len)
{
    struct ak_respparser *p = hp->data;
    if (p->kind == XB_NONE || p->kind == XB_IGNORE)
        return 0;
    const unsigned char *d = (const unsigned char *)at;
    enum ak_err err = p->dec ? ak_decoder_feed(p->dec, d, len, xr_sink, p) : xr_sink(p, d, len);
    if (err == AK_OK)
        return 0;
    if (p->transform)
        return -1;                     /* cannot re-frame any more: pass the rest as is */
    xr_unparseable(p, err == AK_ERR_PARSE ? "bad content-encoding" : ak_strerror(err));
    p->kind = XB_IGNORE;
    return 0;
}

static int xr_on_chunk_header(http_parser *hp)
{
    struct ak_respparser *p = hp->data;
    if (p->transform) {
        p->at_chunk_head = true;
        p->last_chunk = hp->content_length == 0;
        http_parser_pause(hp, 1);
    }
    return 0;
}

static int xr_on_chunk_complete(http_parser *hp)
{
    struct ak_respparser *p = hp->data;
    if (p->transform && !p->last_chunk) {
        p->at_chunk_end = true;
        http_parser_pause(hp, 1);
    }
    return 0;
}

static int xr_on_message_complete(http_parser *hp)
{
    struct ak_respparser *p = hp->data;
    if (!p->final_head) {              /* end of a 1xx: reset for the next head */
        p->ctype[0] = '\0';
        p->enc = AK_ENC_IDENTITY;
        ak_hdr_reset(&p->hdr);
        return 0;
    }
    xr_finish_body(p);
    p->done = true;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings xr_settings = {
    .on_status = xr_on_status,
    .on_header_field = xr_on_field,
    .on_header_value = xr_on_value,
    .on_headers_complete = xr_on_headers_complete,
    .on_body = xr_on_body,
    .on_message_complete = xr_on_message_complete,
    .on_chunk_header = xr_on_chunk_header,
    .on_chunk_complete = xr_on_chunk_complete,
};

/* ---- life cycle ----------------------------------------------------------------------- */

struct ak_respparser *ak_respparser_new(enum ak_provider provider, const struct ak_xreq *req,
                                        bool strip_usage_chunk, size_t max_body)
{
    struct ak_respparser *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->provider = provider;
    if (req)
        p->req = *req;
    p->strip = strip_usage_chunk;
    p->max_body = max_body;
    http_parser_init(&p->hp, HTTP_RESPONSE);
    p->hp.data = p;
    ak_sse_init(&p->sse, AK_SSE_MAX_EVENT, false);
    ak_jarray_init(&p->ja, AK_SSE_MAX_EVENT);
    return p;
}

void ak_respparser_free(struct ak_respparser *p)
{
    if (!p)
        return;
    ak_hdr_free(&p->hdr);
    ak_decoder_free(p->dec);
    ak_buf_free(&p->json);
    ak_sse_free(&p->sse);
    ak_jarray_free(&p->ja);
    ak_buf_free(&p->sizeline);
    ak_buf_free(&p->group);
    free(p);
}

bool ak_respparser_transforming(const struct ak_respparser *p)
{
    return p->strip;
}

const struct ak_xresp *ak_respparser_result(const struct ak_respparser *p)
{
    return &p->res;
}

static enum ak_resp_state xr_fail(struct ak_respparser *p, const char *why)
{
    p->failed = true;
    xr_unparseable(p, why);
    return AK_RESP_ERROR;
}

/* ---- feeding -------------------------------------------------------------------------- */

static enum ak_resp_state xr_observe(struct ak_respparser *p, const unsigned char *buf,
                                     size_t len, size_t *consumed)
{
    size_t n = http_parser_execute(&p->hp, &xr_settings, (const char *)buf, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    if (e != HPE_OK && e != HPE_PAUSED) {
        *consumed = len;
        return xr_fail(p, http_errno_description(e));
    }
    *consumed = n;
    return p->done ? AK_RESP_DONE : AK_RESP_MORE;
}

static enum ak_err xr_emit_chunk(struct ak_buf *out, const unsigned char *d, size_t n)
{
    if (!n)
        return AK_OK;                  /* never a 0-chunk: that would end the stream */
    enum ak_err err = ak_buf_printf(out, "%zx\r\n", n);
    if (err == AK_OK)
        err = ak_buf_append(out, d, n, 0);
    if (err == AK_OK)
        err = ak_buf_append(out, "\r\n", 2, 0);
    return err;
}

static enum ak_err xr_flush_group(struct ak_respparser *p, struct ak_buf *out)
{
    enum ak_err err = xr_emit_chunk(out, p->group.data, p->group.len);
    ak_buf_reset(&p->group);
    return err;
}

/* The stream ends (or breaks): the incomplete event goes out as it is. */
static enum ak_err xr_flush_partial(struct ak_respparser *p, struct ak_buf *out)
{
    enum ak_err err = xr_flush_group(p, out);
    if (err == AK_OK)
        err = xr_emit_chunk(out, p->sse.raw.data, p->sse.raw.len);
    ak_buf_reset(&p->sse.raw);
    return err;
}

static enum ak_err xr_classify(struct ak_respparser *p, enum xr_phase phase,
                               const unsigned char *d, size_t n, struct ak_buf *out)
{
    switch (phase) {
    case XP_HEAD:
    case XP_TAIL: return ak_buf_append(out, d, n, 0);
    case XP_SIZE: return ak_buf_append(&p->sizeline, d, n, XR_SIZELINE_MAX);
    case XP_DATA: break;               /* chunk data came through on_body */
    }
    return AK_OK;
}

/* After a pause: what the boundary means for the output. */
static enum ak_err xr_boundary(struct ak_respparser *p, struct ak_buf *out)
{
    enum ak_err err = AK_OK;
    if (p->at_head_end) {
        p->at_head_end = false;
        if (p->final_head)
            p->phase = p->transform ? XP_SIZE : XP_TAIL;
    }
    if (p->at_chunk_head) {
        p->at_chunk_head = false;
        if (p->last_chunk) {
            err = ak_sse_finish(&p->sse, xr_sse_event, p);
            if (err == AK_OK)
                err = xr_flush_partial(p, out);
            if (err == AK_OK)
                err = ak_buf_append(out, p->sizeline.data, p->sizeline.len, 0);
            p->phase = XP_TAIL;
        } else {
            p->phase = XP_DATA;
        }
        ak_buf_reset(&p->sizeline);
    }
    if (p->at_chunk_end) {
        p->at_chunk_end = false;
        err = err == AK_OK ? xr_flush_group(p, out) : err;
        p->phase = XP_SIZE;
    }
    return err;
}

static enum ak_resp_state xr_transform(struct ak_respparser *p, const unsigned char *buf,
                                       size_t len, size_t *consumed, struct ak_buf *out)
{
    size_t off = 0, acct = 0;          /* acct: bytes of buf already given to a phase */
    enum ak_err err = AK_OK;
    while (off < len && !p->done && err == AK_OK) {
        enum xr_phase phase = p->phase;
        size_t n = http_parser_execute(&p->hp, &xr_settings, (const char *)buf + off, len - off);
        enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
        if (e == HPE_PAUSED) {
            http_parser_pause(&p->hp, 0);
        } else if (e != HPE_OK || n == 0) {
            const char *why = e != HPE_OK ? http_errno_description(e) : "parser stalled";
            if (p->transform)
                xr_flush_partial(p, out);
            ak_buf_append(out, buf + acct, len - acct, 0);
            *consumed = len;
            return xr_fail(p, why);
        }
        /* a pause at the end of a head leaves its final \n to be read again: it is head */
        size_t end = off + n + (p->at_head_end && off + n < len ? 1 : 0);
        if (end > acct) {
            err = xr_classify(p, phase, buf + acct, end - acct, out);
            acct = end;
        }
        off += n;
        if (err == AK_OK)
            err = xr_boundary(p, out);
    }
    if (err == AK_OK && p->transform && !p->done)
        err = xr_flush_group(p, out);
    *consumed = off;
    if (err != AK_OK) {
        ak_buf_append(out, buf + acct, len - acct, 0);
        *consumed = len;
        return xr_fail(p, "transform failed");
    }
    return p->done ? AK_RESP_DONE : AK_RESP_MORE;
}

enum ak_resp_state ak_respparser_feed(struct ak_respparser *p, const unsigned char *buf,
                                      size_t len, size_t *consumed, struct ak_buf *out)
{
    *consumed = 0;
    if (p->failed) {
        if (p->strip && out)
            ak_buf_append(out, buf, len, 0);
        *consumed = len;
        return AK_RESP_ERROR;
    }
    if (p->done)
        return AK_RESP_DONE;
    if (!len)
        return AK_RESP_MORE;
    if (!p->strip || !out)
        return xr_observe(p, buf, len, consumed);
    return xr_transform(p, buf, len, consumed, out);
}

enum ak_resp_state ak_respparser_eof(struct ak_respparser *p)
{
    if (p->done)
        return AK_RESP_DONE;
    if (p->failed)
        return AK_RESP_ERROR;
    http_parser_execute(&p->hp, &xr_settings, NULL, 0);
    if (p->done)
        return AK_RESP_DONE;
    return xr_fail(p, "truncated: connection closed before the end of the response");
}
