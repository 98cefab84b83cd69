/*
 * xreq.c - the request side of engine/exchange.h: HTTP/1.1 framing with libhttp-parser,
 * routing (which provider operation a method + path is), API-key fingerprint, the body
 * held and decoded for engine/reqbody.c, and the include_usage rewrite of the head.
 *
 * Held bytes. In hold mode every byte of the request is copied into `held`. On PASS the
 * engine sends ak_reqparser_bytes(), which is always exactly the bytes of this request not
 * yet released: the first PASS hands over everything held so far; while the request keeps
 * passing, each feed's consumed bytes are handed over again by the next PASS. When a passed
 * request ends, the next feed starts a new request in hold mode by itself.
 */
#include "engine/exchange.h"

#include <http_parser.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/decode.h"
#include "engine/httphdr.h"
#include "engine/reqbody.h"

#define XREQ_REASON 64
#define XREQ_HELD_SLACK (AK_HDR_MAX_HEAD + 4096)   /* head and chunk framing beyond 2x body */
#define XREQ_FNV_OFFSET 14695981039346656037ULL
#define XREQ_FNV_PRIME 1099511628211ULL
#define XREQ_BEARER "bearer "
#define XREQ_CONTINUE "100-continue"

enum xreq_mode { XR_HOLD = 0, XR_PASS, XR_PASS_OVER, XR_DONE, XR_ERROR };

struct ak_reqparser {
    enum ak_provider provider;
    size_t max_body;
    http_parser hp;
    struct ak_hdr hdr;
    struct ak_xreq req;
    enum xreq_mode mode;
    struct ak_buf held;
    struct ak_buf raw_body;            /* de-chunked, as sent */
    struct ak_buf body;                /* decoded, when Content-Encoding was set */
    const unsigned char *bdata;        /* the decoded body of a DONE request */
    size_t blen;
    enum ak_encoding enc;
    bool message_done;
    bool head_pause;                   /* paused at the head's end to note head_len */
    size_t head_len;                   /* held bytes up to the head's end, as the parser saw it */
    bool target_overflow;
    bool upgrade;                 /* the request asks to switch protocols (WebSocket) */
    size_t target_len;
    char deployment[AK_X_MODEL];       /* Azure /openai/deployments/{name}/... */
    char reason[XREQ_REASON];
};

/* The thread's last API key: its FNV-1a hash and length (never the key) and its fingerprint,
 * so that a keep-alive connection, and a client that opens a connection per call (Python's
 * urllib), hash SHA-256 once per key rather than once per request. */
static _Thread_local struct { uint64_t hash; size_t len; char fp[13]; } key_cache;

static void xreq_pass(struct ak_reqparser *p, const char *why)
{
    if (p->mode != XR_HOLD)
        return;
    p->mode = XR_PASS;
    snprintf(p->reason, sizeof p->reason, "%s", why);
}

/* ---- headers -------------------------------------------------------------------------- */

static void xreq_trim(const char **v, size_t *n)
{
    while (*n && (**v == ' ' || **v == '\t')) {
        (*v)++;
        (*n)--;
    }
    while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t' || (*v)[*n - 1] == '\r'))
        (*n)--;
}

static uint64_t xreq_hash(const unsigned char *d, size_t n);

static void xreq_key(struct ak_reqparser *p, const char *key, size_t len)
{
    if (p->req.key_fp[0] || !len)
        return;
    uint64_t h = xreq_hash((const unsigned char *)key, len);
    if (!key_cache.fp[0] || key_cache.hash != h || key_cache.len != len) {
        ak_key_fingerprint(key, len, key_cache.fp);
        key_cache.hash = h;
        key_cache.len = len;
    }
    memcpy(p->req.key_fp, key_cache.fp, sizeof p->req.key_fp);
}

static void xreq_header(void *ud, const char *name, size_t nlen, const char *v, size_t vlen)
{
    struct ak_reqparser *p = ud;
    xreq_trim(&v, &vlen);
    if (ak_hdr_name_is(name, nlen, "authorization")) {
        size_t bl = strlen(XREQ_BEARER);
        if (vlen > bl && strncasecmp(v, XREQ_BEARER, bl) == 0) {
            const char *k = v + bl;
            size_t kl = vlen - bl;
            xreq_trim(&k, &kl);
            xreq_key(p, k, kl);
        }
    } else if (ak_hdr_name_is(name, nlen, "x-api-key") || ak_hdr_name_is(name, nlen, "api-key") ||
               ak_hdr_name_is(name, nlen, "x-goog-api-key")) {
        xreq_key(p, v, vlen);
    } else if (ak_hdr_name_is(name, nlen, "expect")) {
        p->req.expect_continue = memmem(v, vlen, XREQ_CONTINUE, strlen(XREQ_CONTINUE)) != NULL;
    } else if (ak_hdr_name_is(name, nlen, "accept-encoding")) {
        p->req.gzip_accepted = true;
    } else if (ak_hdr_name_is(name, nlen, "content-encoding")) {
        char val[32];
        ak_hdr_copy_value(v, vlen, val, sizeof val);
        p->enc = vlen >= sizeof val ? AK_ENC_UNKNOWN : ak_decode_encoding(val);
    }
}

/* ?key=... in the target (Gemini). */
static void xreq_query_key(struct ak_reqparser *p)
{
    const char *q = strchr(p->req.target, '?');
    while (q && !p->req.key_fp[0]) {
        q++;
        if (strncmp(q, "key=", 4) == 0) {
            const char *k = q + 4;
            xreq_key(p, k, strcspn(k, "&#"));
        }
        q = strchr(q, '&');
    }
}

/* ---- routing -------------------------------------------------------------------------- */

static bool xreq_ends_with(const char *s, size_t n, const char *suffix)
{
    size_t sl = strlen(suffix);
    return n >= sl && memcmp(s + n - sl, suffix, sl) == 0;
}

static void xreq_copy(char *out, size_t outlen, const char *s, size_t n)
{
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* The Gemini operation of the path's last segment ("models/{model}:generateContent"). */
static enum ak_operation xreq_route_gemini(struct ak_reqparser *p, const char *path, size_t n)
{
    static const char gen[] = ":generateContent", sgen[] = ":streamGenerateContent";
    bool stream = xreq_ends_with(path, n, sgen);
    if (!stream && !xreq_ends_with(path, n, gen))
        return AK_OP_NONE;
    size_t end = n - (stream ? strlen(sgen) : strlen(gen)), start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;
    if (start == end)
        return AK_OP_NONE;
    xreq_copy(p->req.model, sizeof p->req.model, path + start, end - start);
    p->req.stream = stream;
    return AK_OP_GENERATE_CONTENT;
}

static void xreq_azure_deployment(struct ak_reqparser *p, const char *path, size_t n)
{
    static const char dep[] = "/openai/deployments/";
    const char *d = memmem(path, n, dep, strlen(dep));
    if (!d)
        return;
    d += strlen(dep);
    const char *slash = memchr(d, '/', n - (size_t)(d - path));
    if (slash && slash > d)
        xreq_copy(p->deployment, sizeof p->deployment, d, (size_t)(slash - d));
}

static enum ak_operation xreq_route(struct ak_reqparser *p)
{
    const char *path = p->req.target;
    if (strncasecmp(path, "http://", 7) == 0 || strncasecmp(path, "https://", 8) == 0) {
        const char *slash = strchr(strstr(path, "//") + 2, '/');
        path = slash ? slash : "/";
    }
    size_t n = strcspn(path, "?#");
    if (xreq_ends_with(path, n, "/chat/completions")) {
        xreq_azure_deployment(p, path, n);
        return AK_OP_CHAT;
    }
    if (xreq_ends_with(path, n, "/v1/messages"))
        return AK_OP_MESSAGES;
    if (xreq_ends_with(path, n, "/responses"))
        return AK_OP_RESPONSES;
    if (xreq_ends_with(path, n, "/embeddings"))
        return AK_OP_EMBEDDINGS;
    return xreq_route_gemini(p, path, n);
}

/* ---- http_parser callbacks ------------------------------------------------------------ */

static int xreq_on_url(http_parser *hp, const char *at, size_t len)
{
    struct ak_reqparser *p = hp->data;
    if (ak_hdr_count(&p->hdr, len) != AK_OK)
        return -1;
    size_t room = AK_X_TARGET - 1 - p->target_len;
    if (len > room) {
        p->target_overflow = true;
        len = room;
    }
    memcpy(p->req.target + p->target_len, at, len);
    p->target_len += len;
    p->req.target[p->target_len] = '\0';
    return 0;
}

static int xreq_on_field(http_parser *hp, const char *at, size_t len)
{
    struct ak_reqparser *p = hp->data;
    return ak_hdr_field(&p->hdr, at, len, xreq_header, p) == AK_OK ? 0 : -1;
}

static int xreq_on_value(http_parser *hp, const char *at, size_t len)
{
    struct ak_reqparser *p = hp->data;
    return ak_hdr_value(&p->hdr, at, len) == AK_OK ? 0 : -1;
}

static int xreq_on_headers_complete(http_parser *hp)
{
    struct ak_reqparser *p = hp->data;
    ak_hdr_flush(&p->hdr, xreq_header, p);
    if (hp->http_major != 1 || hp->upgrade) {
        p->upgrade = hp->upgrade && hp->method != HTTP_CONNECT;
        return -1;                     /* not HTTP/1.1 any more: the engine decides */
    }
    ak_str_copy(p->req.method, sizeof p->req.method, http_method_str(hp->method));
    p->req.head_only = hp->method == HTTP_HEAD;
    xreq_query_key(p);
    if (hp->method != HTTP_POST) {
        xreq_pass(p, p->req.method);
        return 0;
    }
    p->req.operation = xreq_route(p);  /* an over-long target is routed by what fits */
    if (p->target_overflow)
        xreq_pass(p, "target too long");
    else if (!p->req.operation)
        xreq_pass(p, "unknown path");
    else if (hp->content_length != ULLONG_MAX && hp->content_length > p->max_body)
        xreq_pass(p, "body over cap");
    else if (p->enc == AK_ENC_UNKNOWN)
        xreq_pass(p, "unsupported content-encoding");
    if (p->mode == XR_HOLD) {          /* where the head ends, for the rewrite */
        p->head_pause = true;
        http_parser_pause(hp, 1);
    }
    return 0;
}

static int xreq_on_body(http_parser *hp, const char *at, size_t len)
{
    struct ak_reqparser *p = hp->data;
    if (p->mode == XR_HOLD && ak_buf_append(&p->raw_body, at, len, p->max_body) != AK_OK)
        xreq_pass(p, "body over cap");
    return 0;
}

static int xreq_on_message_complete(http_parser *hp)
{
    struct ak_reqparser *p = hp->data;
    p->message_done = true;
    http_parser_pause(hp, 1);          /* what follows is the next request */
    return 0;
}

static const http_parser_settings xreq_settings = {
    .on_url = xreq_on_url,
    .on_header_field = xreq_on_field,
    .on_header_value = xreq_on_value,
    .on_headers_complete = xreq_on_headers_complete,
    .on_body = xreq_on_body,
    .on_message_complete = xreq_on_message_complete,
};

/* ---- life cycle ----------------------------------------------------------------------- */

static void xreq_clear(struct ak_reqparser *p)
{
    http_parser_init(&p->hp, HTTP_REQUEST);
    p->hp.data = p;
    ak_hdr_reset(&p->hdr);
    memset(&p->req, 0, sizeof p->req);
    p->req.max_output_tokens = -1;
    p->req.n_choices = 1;
    p->mode = XR_HOLD;
    ak_buf_reset(&p->held);
    ak_buf_reset(&p->raw_body);
    ak_buf_reset(&p->body);
    p->bdata = NULL;
    p->blen = 0;
    p->enc = AK_ENC_IDENTITY;
    p->message_done = false;
    p->head_pause = false;
    p->head_len = 0;
    p->target_overflow = false;
    p->upgrade = false;
    p->target_len = 0;
    p->deployment[0] = '\0';
    p->reason[0] = '\0';
}

struct ak_reqparser *ak_reqparser_new(enum ak_provider provider, size_t max_body)
{
    struct ak_reqparser *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->provider = provider;
    p->max_body = max_body;
    xreq_clear(p);
    return p;
}

void ak_reqparser_free(struct ak_reqparser *p)
{
    if (!p)
        return;
    ak_hdr_free(&p->hdr);
    ak_buf_free(&p->held);
    ak_buf_free(&p->raw_body);
    ak_buf_free(&p->body);
    free(p);
}

void ak_reqparser_reset(struct ak_reqparser *p)
{
    if (p)
        xreq_clear(p);
}

static uint64_t xreq_hash(const unsigned char *d, size_t n)
{
    uint64_t h = XREQ_FNV_OFFSET;
    for (size_t i = 0; i < n; i++) {
        h ^= d[i];
        h *= XREQ_FNV_PRIME;
    }
    return h;
}

/* The whole request is held: decode and read the body. */
static void xreq_finish(struct ak_reqparser *p)
{
    p->bdata = p->raw_body.data;
    p->blen = p->raw_body.len;
    if (p->enc != AK_ENC_IDENTITY) {
        enum ak_err err = ak_decode_all(p->enc, p->raw_body.data, p->raw_body.len, &p->body,
                                        p->max_body);
        if (err != AK_OK) {
            xreq_pass(p, err == AK_ERR_FULL ? "body over cap" : "bad content-encoding");
            return;
        }
        p->bdata = p->body.data;
        p->blen = p->body.len;
    }
    if (!p->blen || !ak_reqbody_describe(p->bdata, p->blen, &p->req)) {
        xreq_pass(p, "body not JSON");
        return;
    }
    if (!p->req.model[0] && p->deployment[0])
        snprintf(p->req.model, sizeof p->req.model, "%s", p->deployment);
    p->req.body_hash = xreq_hash(p->bdata, p->blen);
    p->req.body_len = p->blen;
    p->mode = XR_DONE;
}

static void xreq_hold(struct ak_reqparser *p, const unsigned char *buf, size_t n)
{
    size_t cap = p->mode == XR_HOLD ? 2 * p->max_body + XREQ_HELD_SLACK : 0;
    enum ak_err err = ak_buf_append(&p->held, buf, n, cap);
    if (err == AK_ERR_FULL) {
        xreq_pass(p, "body over cap");
        err = ak_buf_append(&p->held, buf, n, 0);
    }
    if (err != AK_OK) {                /* out of memory: let the request go as it is */
        p->mode = XR_ERROR;
        snprintf(p->reason, sizeof p->reason, "out of memory");
    }
}

/* http_parser over buf; a pause at the head's end (the parser is then on the head's last
 * byte, which it takes again on resuming) notes head_len and goes on. */
static size_t xreq_execute(struct ak_reqparser *p, const unsigned char *buf, size_t len)
{
    size_t n = http_parser_execute(&p->hp, &xreq_settings, (const char *)buf, len);
    if (!p->head_pause || HTTP_PARSER_ERRNO(&p->hp) != HPE_PAUSED)
        return n;
    p->head_pause = false;
    p->head_len = p->held.len + n + 1;
    http_parser_pause(&p->hp, 0);
    return n + http_parser_execute(&p->hp, &xreq_settings, (const char *)buf + n, len - n);
}

enum ak_req_state ak_reqparser_feed(struct ak_reqparser *p, const unsigned char *buf,
                                    size_t len, size_t *consumed)
{
    *consumed = 0;
    if (p->mode == XR_PASS_OVER)
        xreq_clear(p);
    if (p->mode == XR_ERROR) {
        *consumed = len;
        return AK_REQ_ERROR;
    }
    if (p->mode == XR_DONE)
        return AK_REQ_DONE;
    if (p->mode == XR_PASS)
        ak_buf_reset(&p->held);
    size_t n = xreq_execute(p, buf, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    if (e != HPE_OK && e != HPE_PAUSED) {
        p->mode = XR_ERROR;
        snprintf(p->reason, sizeof p->reason, "%s", http_errno_name(e));
        if (ak_buf_append(&p->held, buf, len, 0) != AK_OK)
            ak_buf_reset(&p->held);
        *consumed = len;
        return AK_REQ_ERROR;
    }
    *consumed = n;
    xreq_hold(p, buf, n);
    if (p->mode == XR_ERROR)
        return AK_REQ_ERROR;
    if (!p->message_done)
        return p->mode == XR_HOLD ? AK_REQ_MORE : AK_REQ_PASS;
    if (p->mode == XR_HOLD)
        xreq_finish(p);
    if (p->mode == XR_DONE)
        return AK_REQ_DONE;
    p->mode = XR_PASS_OVER;
    return AK_REQ_PASS;
}

const struct ak_xreq *ak_reqparser_request(const struct ak_reqparser *p)
{
    return &p->req;
}

const unsigned char *ak_reqparser_bytes(const struct ak_reqparser *p, size_t *len)
{
    *len = p->held.len;
    return p->held.data;
}

bool ak_reqparser_ended(const struct ak_reqparser *p)
{
    return p->mode == XR_PASS_OVER;
}

size_t ak_reqparser_expect_head(const struct ak_reqparser *p)
{
    static const char end[] = "\r\n\r\n";
    if (p->mode != XR_HOLD || !p->req.expect_continue || !p->req.method[0])
        return 0;
    const unsigned char *e = memmem(p->held.data, p->held.len, end, sizeof end - 1);
    return e ? (size_t)(e - p->held.data) + sizeof end - 1 : 0;
}

const char *ak_reqparser_reason(const struct ak_reqparser *p)
{
    return p->reason;
}

bool ak_reqparser_upgrade(const struct ak_reqparser *p)
{
    return p->upgrade;
}

const unsigned char *ak_reqparser_body(const struct ak_reqparser *p, size_t *len)
{
    *len = p->mode == XR_DONE ? p->blen : 0;
    return p->mode == XR_DONE ? p->bdata : NULL;
}

/* ---- the include_usage rewrite -------------------------------------------------------- */

/* Headers the rewrite replaces: the body's length and coding change, and the reply must
 * come back uncompressed so the response parser can edit it. */
static bool xreq_rewrite_drops(const unsigned char *line, size_t n)
{
    static const char *const dropped[] = {
        "content-length", "transfer-encoding", "accept-encoding", "content-encoding",
    };
    const unsigned char *colon = memchr(line, ':', n);
    if (!colon)
        return false;
    size_t nl = (size_t)(colon - line);
    while (nl && (line[nl - 1] == ' ' || line[nl - 1] == '\t'))
        nl--;
    for (size_t i = 0; i < AK_ARRAY_LEN(dropped); i++)
        if (ak_hdr_name_is((const char *)line, nl, dropped[i]))
            return true;
    return false;
}

/* A CR that does not end a line: http_parser ends a header there, a line split does not, so
 * the two would see different headers (fuzz_req found a Content-Length hidden that way). */
static bool xreq_bare_cr(const unsigned char *d, size_t n)
{
    for (const unsigned char *cr = memchr(d, '\r', n); cr; cr = memchr(cr + 1, '\r', n - (size_t)(cr + 1 - d)))
        if (cr + 1 == d + n || cr[1] != '\n')
            return true;
    return false;
}

/* The head again, as the client wrote it, without the headers the rewrite replaces and with
 * our Content-Length before its last line. The head is what the parser took as one: from the
 * empty lines it skipped before the request line up to head_end, whose last line (normally
 * the blank one) starts after the last LF before its final byte. */
static enum ak_err xreq_rewrite_head(const unsigned char *d, size_t head_end, size_t body_len,
                                     struct ak_buf *out)
{
    size_t start = 0, last = 0;
    while (start < head_end && (d[start] == '\r' || d[start] == '\n'))
        start++;
    for (size_t k = head_end - 1; k > start; k--)
        if (d[k - 1] == '\n') {
            last = k;
            break;
        }
    const unsigned char *first_nl = memchr(d + start, '\n', head_end - start);
    bool crlf = first_nl && first_nl > d && first_nl[-1] == '\r';
    if (last <= start || xreq_bare_cr(d + start, last - start))
        return AK_ERR_PARSE;
    enum ak_err err = ak_buf_append(out, d, start, 0);
    bool dropping = false;
    for (size_t i = start; i < last && err == AK_OK;) {
        const unsigned char *nl = memchr(d + i, '\n', last - i);
        size_t end = nl ? (size_t)(nl - d) + 1 : last;
        size_t content = end - i - (nl ? 1 : 0);
        if (content && d[i + content - 1] == '\r')
            content--;
        bool folded = i > start && (d[i] == ' ' || d[i] == '\t');
        if (!folded)
            dropping = i > start && xreq_rewrite_drops(d + i, content);
        if (!dropping)
            err = ak_buf_append(out, d + i, end - i, 0);
        i = end;
    }
    if (err == AK_OK)
        err = ak_buf_printf(out, "Content-Length: %zu%s", body_len, crlf ? "\r\n" : "\n");
    if (err == AK_OK)
        err = ak_buf_append(out, d + last, head_end - last, 0);
    return err;
}

bool ak_reqparser_rewrite_include_usage(struct ak_reqparser *p, struct ak_buf *out)
{
    bool ok = false;
    char *body = NULL;
    size_t blen = 0, start = out ? out->len : 0;
    if (!out || p->mode != XR_DONE || p->provider != AK_PROV_OPENAI ||
        p->req.operation != AK_OP_CHAT || !p->req.stream || p->req.include_usage)
        goto out;
    size_t head_end = p->head_len;
    if (!head_end || head_end > p->held.len)
        goto out;
    body = ak_reqbody_add_include_usage(p->bdata, p->blen, &blen);
    if (!body)
        goto out;
    ok = xreq_rewrite_head(p->held.data, head_end, blen, out) == AK_OK &&
         ak_buf_append(out, body, blen, 0) == AK_OK;
out:
    if (!ok && out)
        out->len = start;
    free(body);
    return ok;
}
