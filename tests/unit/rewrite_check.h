/*
 * rewrite_check.h - the fidelity property of the include_usage rewrite, shared by
 * tests/unit/test_rewrite.c and tests/fuzz/fuzz_req.c. rw_check() parses a request, rewrites
 * it, parses the result and says whether:
 *   - the rewritten request is one complete request, consumed whole, with include_usage;
 *   - method, target, operation, model, stream, limits, customer and key are unchanged;
 *   - the body differs from the client's in one place, by at most the added member's text
 *     (a re-serialisation differs everywhere), and with cJSON, where cJSON reads it, equal
 *     to the original once stream_options.include_usage is set aside;
 *   - the head is the client's, less the four replaced headers, plus one Content-Length.
 */
#ifndef AK_REWRITE_CHECK_H
#define AK_REWRITE_CHECK_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/exchange.h"

enum rw_verdict { RW_OK = 0, RW_NOT_DONE, RW_NOT_REWRITTEN, RW_BAD };

static inline const char *rw_verdict_name(enum rw_verdict v)
{
    static const char *const names[] = { "ok", "not a complete metered request",
                                         "not rewritten", "rewrite changed the request" };
    return names[v];
}

#define RW_MAX_SPLICE (sizeof ",\"stream_options\":{\"include_usage\":true}" - 1)

static inline bool rw_bad(char *why, size_t n, const char *what)
{
    snprintf(why, n, "%s", what);
    return false;
}

static inline bool rw_same_request(const struct ak_xreq *a, const struct ak_xreq *b)
{
    return strcmp(a->method, b->method) == 0 && strcmp(a->target, b->target) == 0 &&
           a->operation != AK_OP_NONE && a->operation == b->operation &&
           strcmp(a->model, b->model) == 0 && a->stream == b->stream &&
           a->max_output_tokens == b->max_output_tokens && a->n_choices == b->n_choices &&
           strcmp(a->customer, b->customer) == 0 && strcmp(a->key_fp, b->key_fp) == 0;
}

/* With cJSON, where it reads the original: equal once include_usage is set aside. */
static inline bool rw_same_json(const unsigned char *ob, size_t ol, const unsigned char *nb,
                                size_t nl)
{
    cJSON *o = cJSON_ParseWithLength((const char *)ob, ol);
    if (!o)
        return true;                  /* cJSON cannot say; the byte check stands alone */
    cJSON *n = cJSON_ParseWithLength((const char *)nb, nl);
    bool ok = false;
    cJSON *nso = cJSON_GetObjectItemCaseSensitive(n, "stream_options");
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(nso, "include_usage")))
        goto out;
    cJSON_DeleteItemFromObjectCaseSensitive(nso, "include_usage");
    cJSON *oso = cJSON_GetObjectItemCaseSensitive(o, "stream_options");
    if (cJSON_IsObject(oso))
        cJSON_DeleteItemFromObjectCaseSensitive(oso, "include_usage");
    else if (!nso->child) {           /* added or replaced whole: set both aside */
        cJSON_DeleteItemFromObjectCaseSensitive(o, "stream_options");
        cJSON_DeleteItemFromObjectCaseSensitive(n, "stream_options");
    }
    char *os = cJSON_PrintUnformatted(o), *ns = cJSON_PrintUnformatted(n);
    ok = os && ns && strcmp(os, ns) == 0;   /* printed: 1e999 is inf on both sides */
    cJSON_free(os);
    cJSON_free(ns);
out:
    cJSON_Delete(o);
    cJSON_Delete(n);
    return ok;
}

static inline bool rw_one_splice(const unsigned char *ob, size_t ol, const unsigned char *nb,
                                 size_t nl)
{
    size_t pre = 0, suf = 0;
    while (pre < ol && pre < nl && ob[pre] == nb[pre])
        pre++;
    while (suf < ol - pre && suf < nl - pre && ob[ol - 1 - suf] == nb[nl - 1 - suf])
        suf++;
    return nl - pre - suf <= RW_MAX_SPLICE;
}

static inline bool rw_dropped(const unsigned char *line, size_t n)
{
    static const char *const names[] = { "content-length", "transfer-encoding",
                                         "accept-encoding", "content-encoding" };
    const unsigned char *colon = memchr(line, ':', n);
    if (!colon)
        return false;
    size_t k = (size_t)(colon - line);
    while (k && (line[k - 1] == ' ' || line[k - 1] == '\t'))
        k--;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (k == strlen(names[i]) && strncasecmp((const char *)line, names[i], k) == 0)
            return true;
    return false;
}

/* The client's head without the replaced headers (and their folded lines). */
static inline void rw_filter_head(const unsigned char *h, size_t n, struct ak_buf *out)
{
    size_t i = 0;
    while (i < n && (h[i] == '\r' || h[i] == '\n'))
        i++;
    ak_buf_append(out, h, i, 0);
    bool first = true, dropping = false;
    while (i < n) {
        const unsigned char *nl = memchr(h + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - h) + 1 : n;
        bool folded = !first && (h[i] == ' ' || h[i] == '\t');
        if (!folded)
            dropping = !first && rw_dropped(h + i, end - i);
        if (!dropping)
            ak_buf_append(out, h + i, end - i, 0);
        first = false;
        i = end;
    }
}

/* The rewritten head without its one added Content-Length line (the one before the last). */
static inline bool rw_unadd_head(const unsigned char *h, size_t n, struct ak_buf *out)
{
    size_t last = 0, prev = 0;
    for (size_t k = n - 1; k > 0; k--)
        if (h[k - 1] == '\n') {
            last = k;
            break;
        }
    for (size_t k = last ? last - 1 : 0; k > 0; k--)
        if (h[k - 1] == '\n') {
            prev = k;
            break;
        }
    static const char cl[] = "Content-Length: ";
    if (!last || last - prev < sizeof cl - 1 || memcmp(h + prev, cl, sizeof cl - 1) != 0)
        return false;
    ak_buf_append(out, h, prev, 0);
    ak_buf_append(out, h + last, n - last, 0);
    return true;
}

static inline enum rw_verdict rw_check(const unsigned char *msg, size_t len, size_t max_body,
                                       char *why, size_t whylen)
{
    enum rw_verdict v = RW_NOT_DONE;
    struct ak_reqparser *p = ak_reqparser_new(AK_PROV_OPENAI, max_body), *q = NULL;
    struct ak_buf out = { 0 }, oh = { 0 }, nh = { 0 };
    size_t used = 0, ol = 0, nl = 0;
    if (!p || ak_reqparser_feed(p, msg, len, &used) != AK_REQ_DONE)
        goto out;
    v = RW_NOT_REWRITTEN;
    if (!ak_reqparser_rewrite_include_usage(p, &out))
        goto out;
    v = RW_BAD;
    q = ak_reqparser_new(AK_PROV_OPENAI, max_body + RW_MAX_SPLICE + 64);
    size_t qused = 0;
    if (!q || ak_reqparser_feed(q, out.data, out.len, &qused) != AK_REQ_DONE || qused != out.len) {
        rw_bad(why, whylen, "the rewritten request is not one complete request");
        goto out;
    }
    const struct ak_xreq *a = ak_reqparser_request(p), *b = ak_reqparser_request(q);
    const unsigned char *ob = ak_reqparser_body(p, &ol), *nb = ak_reqparser_body(q, &nl);
    if (!b->include_usage || !rw_same_request(a, b)) {
        rw_bad(why, whylen, "the rewritten request reads differently");
        goto out;
    }
    if (!rw_one_splice(ob, ol, nb, nl) || !rw_same_json(ob, ol, nb, nl)) {
        rw_bad(why, whylen, "the body changed beyond the one splice");
        goto out;
    }
    /* the head check, when the client's body is the last bytes as sent (no coding, chunks) */
    if (used >= ol && memcmp(msg + used - ol, ob, ol) == 0 && out.len >= nl) {
        rw_filter_head(msg, used - ol, &oh);
        if (!rw_unadd_head(out.data, out.len - nl, &nh) || oh.len != nh.len ||
            memcmp(oh.data, nh.data, oh.len) != 0) {
            rw_bad(why, whylen, "the head changed beyond the replaced headers");
            goto out;
        }
    }
    v = RW_OK;
out:
    ak_buf_free(&out);
    ak_buf_free(&oh);
    ak_buf_free(&nh);
    ak_reqparser_free(p);
    ak_reqparser_free(q);
    return v;
}

#endif
