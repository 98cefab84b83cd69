/*
 * wire_util.h - helpers shared by the shim wire tests (test_xreq, test_xresp, test_sse,
 * test_decode): a deterministic PRNG, feeding a parser whole / one byte at a time / in
 * random pieces, and building HTTP/1.1 messages (Content-Length or chunked). Static inline
 * so that each test binary takes only what it uses.
 */
#ifndef WIRE_UTIL_H
#define WIRE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "engine/exchange.h"

enum wu_split { WU_WHOLE = 0, WU_BYTES, WU_RANDOM };
#define WU_SPLITS 3
#define WU_MAX_PIECE 97

static inline uint32_t wu_rand(uint32_t *s)
{
    uint32_t x = *s ? *s : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static inline size_t wu_piece(enum wu_split mode, uint32_t *seed, size_t left)
{
    size_t n = mode == WU_WHOLE ? left : mode == WU_BYTES ? 1 : 1 + wu_rand(seed) % WU_MAX_PIECE;
    return n < left ? n : left;
}

/* Feeds until the parser leaves MORE; *used = bytes it consumed. */
static inline enum ak_req_state wu_feed_req(struct ak_reqparser *p, const char *s, size_t len,
                                            enum wu_split mode, uint32_t seed, size_t *used)
{
    enum ak_req_state st = AK_REQ_MORE;
    size_t off = 0;
    while (off < len && st == AK_REQ_MORE) {
        size_t n = wu_piece(mode, &seed, len - off), c = 0;
        st = ak_reqparser_feed(p, (const unsigned char *)s + off, n, &c);
        off += c;
    }
    *used = off;
    return st;
}

/* Feeds until DONE or ERROR; when transforming, the client's bytes collect in out. */
static inline enum ak_resp_state wu_feed_resp(struct ak_respparser *p, const char *s, size_t len,
                                              enum wu_split mode, uint32_t seed, size_t *used,
                                              struct ak_buf *out)
{
    enum ak_resp_state st = AK_RESP_MORE;
    size_t off = 0;
    while (off < len && st == AK_RESP_MORE) {
        size_t n = wu_piece(mode, &seed, len - off), c = 0;
        st = ak_respparser_feed(p, (const unsigned char *)s + off, n, &c, out);
        off += c;
    }
    *used = off;
    return st;
}

/* head: status line and header lines, each ending in \r\n, without the blank line. */
static inline char *wu_http_cl(const char *head, const char *body, size_t *len)
{
    size_t bl = strlen(body), cap = strlen(head) + bl + 64;
    char *m = malloc(cap);
    *len = (size_t)snprintf(m, cap, "%sContent-Length: %zu\r\n\r\n%s", head, bl, body);
    return m;
}

/* Chunked, chunk sizes cycling through sizes[] (0-terminated); trailer may be "". */
static inline char *wu_http_chunked(const char *head, const char *body, const size_t *sizes,
                                    const char *trailer, size_t *len)
{
    struct ak_buf b = { 0 };
    size_t bl = strlen(body), off = 0, k = 0;
    ak_buf_printf(&b, "%sTransfer-Encoding: chunked\r\n\r\n", head);
    while (off < bl) {
        size_t n = sizes[k] ? sizes[k] : bl;
        k = sizes[k + 1] ? k + 1 : 0;
        if (n > bl - off)
            n = bl - off;
        ak_buf_printf(&b, "%zx\r\n", n);
        ak_buf_append(&b, body + off, n, 0);
        ak_buf_append(&b, "\r\n", 2, 0);
        off += n;
    }
    ak_buf_printf(&b, "0\r\n%s\r\n", trailer);
    ak_buf_append(&b, "", 1, 0);
    *len = b.len - 1;
    return (char *)b.data;
}

#endif
