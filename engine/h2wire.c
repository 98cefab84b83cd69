/*
 * h2wire.c - HTTP/2 frames and HPACK header lists for h2.c (see h2wire.h). The HPACK state
 * lives in the caller's nghttp2 inflaters and deflater; the synthetic answer uses only the
 * static table and literals without indexing, so it changes no one's dynamic table.
 */
#include "engine/h2wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- header lists ---- */

void h2w_hlist_free(struct hlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->f[i].name);
        free(l->f[i].value);
    }
    free(l->f);
    memset(l, 0, sizeof *l);
}

static bool h2w_hlist_add(struct hlist *l, const nghttp2_nv *nv)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct hfield *f = realloc(l->f, cap * sizeof *f);
        if (!f)
            return false;
        l->f = f;
        l->cap = cap;
    }
    struct hfield *h = &l->f[l->n];
    h->name = malloc(nv->namelen + 1);
    h->value = malloc(nv->valuelen + 1);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        return false;
    }
    memcpy(h->name, nv->name, nv->namelen);
    h->name[nv->namelen] = '\0';
    memcpy(h->value, nv->value, nv->valuelen);
    h->value[nv->valuelen] = '\0';
    h->nlen = nv->namelen;
    h->vlen = nv->valuelen;
    h->flags = nv->flags & NGHTTP2_NV_FLAG_NO_INDEX;
    l->n++;
    return true;
}

const char *h2w_hlist_get(const struct hlist *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->f[i].name, name) == 0)
            return l->f[i].value;
    return NULL;
}

/* Decodes one complete header block; false when HPACK is broken. */
bool h2w_hpack_inflate(nghttp2_hd_inflater *inf, const unsigned char *in, size_t len,
                          struct hlist *out)
{
    static const unsigned char empty[1];
    if (!in)
        in = empty;               /* an empty block (no buffer yet) */
    for (;;) {
        nghttp2_nv nv;
        int fl = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &fl, in, len, 1);
        if (rv < 0)
            return false;
        in += rv;
        len -= (size_t)rv;
        if ((fl & NGHTTP2_HD_INFLATE_EMIT) && !h2w_hlist_add(out, &nv))
            return false;
        if (fl & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(inf);
            return true;
        }
        if (rv == 0 && len == 0)
            return false;
    }
}

/* A field that cannot be written into an HTTP/1.1 head as it is. */
bool h2w_field_unsafe(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return true;
    return false;
}

static bool h2w_skip_field(const char *name)
{
    static const char *const skip[] = { "content-length", "transfer-encoding", "connection",
                                        "host", "expect", "keep-alive", "upgrade", NULL };
    if (name[0] == ':')
        return true;
    for (int i = 0; skip[i]; i++)
        if (strcmp(name, skip[i]) == 0)
            return true;
    return false;
}

/* The fields of a block as HTTP/1.1 header lines; false when one cannot be. */
bool h2w_head_fields(const struct hlist *l, struct ak_buf *b)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct hfield *f = &l->f[i];
        if (h2w_skip_field(f->name))
            continue;
        if (h2w_field_unsafe(f->name, f->nlen) || h2w_field_unsafe(f->value, f->vlen) ||
            ak_buf_printf(b, "%s: %s\r\n", f->name, f->value) != AK_OK)
            return false;
    }
    return true;
}

/* ---- frames out ---- */

enum ak_err h2w_frame_put(struct ak_buf *b, uint8_t type, uint8_t flags, uint32_t sid,
                             const unsigned char *p, size_t n)
{
    unsigned char fh[FH_LEN] = {
        (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n, type, flags,
        (unsigned char)(sid >> 24 & 0x7f), (unsigned char)(sid >> 16), (unsigned char)(sid >> 8),
        (unsigned char)sid,
    };
    enum ak_err e = ak_buf_append(b, fh, sizeof fh, 0);
    return e == AK_OK && n ? ak_buf_append(b, p, n, 0) : e;
}

/* A header block as HEADERS (+ CONTINUATION) frames of at most MAX_FRAME bytes. */
enum ak_err h2w_block_put(struct ak_buf *b, uint32_t sid, uint8_t flags, const unsigned char *prio,
                             const unsigned char *blk, size_t n)
{
    unsigned char first[MAX_FRAME];
    size_t pl = prio ? PRIO_LEN : 0;
    size_t take = n < MAX_FRAME - pl ? n : MAX_FRAME - pl;
    if (prio)
        memcpy(first, prio, PRIO_LEN);
    memcpy(first + pl, blk, take);
    uint8_t fl = (uint8_t)((flags & FL_END_STREAM) | (prio ? FL_PRIORITY : 0) |
                           (take == n ? FL_END_HEADERS : 0));
    enum ak_err e = h2w_frame_put(b, F_HEADERS, fl, sid, first, pl + take);
    for (size_t off = take; e == AK_OK && off < n;) {
        size_t k = n - off < MAX_FRAME ? n - off : MAX_FRAME;
        e = h2w_frame_put(b, F_CONTINUATION, off + k == n ? FL_END_HEADERS : 0, sid, blk + off, k);
        off += k;
    }
    return e;
}

/* Re-encodes a client block for the server (no dynamic table: see the opening comment). */
enum ak_err h2w_block_reencode(nghttp2_hd_deflater *def, const struct hlist *l, uint32_t sid,
                               uint8_t flags, const unsigned char *prio, struct ak_buf *b)
{
    enum ak_err e = AK_ERR_NOMEM;
    nghttp2_nv *nva = calloc(l->n ? l->n : 1, sizeof *nva);
    unsigned char *enc = NULL;
    if (!nva)
        goto out;
    for (size_t i = 0; i < l->n; i++)
        nva[i] = (nghttp2_nv){ (uint8_t *)l->f[i].name, (uint8_t *)l->f[i].value,
                               l->f[i].nlen, l->f[i].vlen, l->f[i].flags };
    size_t bound = nghttp2_hd_deflate_bound(def, nva, l->n);
    enc = malloc(bound ? bound : 1);
    if (!enc)
        goto out;
    ssize_t n = nghttp2_hd_deflate_hd(def, enc, bound, nva, l->n);
    if (n < 0) {
        e = AK_ERR_INTERNAL;
        goto out;
    }
    e = h2w_block_put(b, sid, flags, prio, enc, (size_t)n);
out:
    free(nva);
    free(enc);
    return e;
}

/* HPACK integer with an N-bit prefix (RFC 7541 5.1). */
static enum ak_err h2w_hpack_int(struct ak_buf *b, uint8_t first, int bits, size_t v)
{
    size_t max = ((size_t)1 << bits) - 1;
    unsigned char tmp[16];
    size_t k = 0;
    if (v < max) {
        tmp[k++] = (unsigned char)(first | v);
    } else {
        tmp[k++] = (unsigned char)(first | max);
        for (v -= max; v >= 128; v >>= 7)
            tmp[k++] = (unsigned char)(v % 128 + 128);
        tmp[k++] = (unsigned char)v;
    }
    return ak_buf_append(b, tmp, k, 0);
}

static enum ak_err h2w_hpack_str(struct ak_buf *b, const char *s)
{
    size_t n = strlen(s);
    enum ak_err e = h2w_hpack_int(b, 0, 7, n);   /* no Huffman */
    return e == AK_OK ? ak_buf_append(b, s, n, 0) : e;
}

/* Literal without indexing: name from the static table (idx > 0) or given. */
static enum ak_err h2w_hpack_lit(struct ak_buf *b, size_t idx, const char *name, const char *value)
{
    enum ak_err e = h2w_hpack_int(b, 0, 4, idx);
    if (e == AK_OK && !idx)
        e = h2w_hpack_str(b, name);
    return e == AK_OK ? h2w_hpack_str(b, value) : e;
}

#define HPACK_STATUS 8                 /* static table: :status */
#define HPACK_CONTENT_LENGTH 28
#define HPACK_CONTENT_TYPE 31

/* The synthetic answer to a refused stream: HEADERS and DATA, END_STREAM. */
enum ak_err h2w_refusal_frames(struct ak_buf *out, uint32_t sid, const char *body, size_t blen)
{
    struct ak_buf blk = { 0 };
    char clen[24];
    snprintf(clen, sizeof clen, "%zu", blen);
    enum ak_err e = h2w_hpack_lit(&blk, HPACK_STATUS, NULL, "429");
    if (e == AK_OK)
        e = h2w_hpack_lit(&blk, HPACK_CONTENT_TYPE, NULL, "application/json");
    if (e == AK_OK)
        e = h2w_hpack_lit(&blk, HPACK_CONTENT_LENGTH, NULL, clen);
    if (e == AK_OK)
        e = h2w_hpack_lit(&blk, 0, "x-should-retry", "false");
    if (e == AK_OK)
        e = h2w_block_put(out, sid, 0, NULL, blk.data, blk.len);
    for (size_t off = 0; e == AK_OK && (off < blen || blen == 0);) {
        size_t k = blen - off < MAX_FRAME ? blen - off : MAX_FRAME;
        e = h2w_frame_put(out, F_DATA, off + k == blen ? FL_END_STREAM : 0, sid,
                      (const unsigned char *)body + off, k);
        off += k;
        if (blen == 0)
            break;
    }
    ak_buf_free(&blk);
    return e;
}

enum ak_err h2w_window_update_put(struct ak_buf *b, uint32_t sid, uint32_t inc)
{
    unsigned char p[4] = { (unsigned char)(inc >> 24 & 0x7f), (unsigned char)(inc >> 16),
                           (unsigned char)(inc >> 8), (unsigned char)inc };
    return h2w_frame_put(b, F_WINDOW_UPDATE, 0, sid, p, sizeof p);
}

/* The header block fragment of a HEADERS or PUSH_PROMISE payload (padding, priority and
 * promised id taken off); false when the lengths do not add up. */
bool h2w_block_fragment(uint8_t type, uint8_t flags, const unsigned char *p, size_t n,
                           const unsigned char **frag, size_t *flen, const unsigned char **prio)
{
    size_t pad = 0, skip = 0;
    if (flags & FL_PADDED) {
        if (n < 1)
            return false;
        pad = p[0];
        skip = 1;
    }
    *prio = NULL;
    if (type == F_HEADERS && (flags & FL_PRIORITY)) {
        *prio = p + skip;
        skip += PRIO_LEN;
    }
    if (type == F_PUSH_PROMISE)
        skip += 4;
    if (skip + pad > n)
        return false;
    *frag = p + skip;
    *flen = n - skip - pad;
    return true;
}

/* Content of a DATA payload, padding off; false when malformed. */
bool h2w_data_content(uint8_t flags, const unsigned char *p, size_t n,
                         const unsigned char **c, size_t *cl)
{
    size_t pad = 0, skip = 0;
    if (flags & FL_PADDED) {
        if (n < 1)
            return false;
        pad = p[0];
        skip = 1;
    }
    if (skip + pad > n)
        return false;
    *c = p + skip;
    *cl = n - skip - pad;
    return true;
}

