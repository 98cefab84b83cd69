/*
 * h2wire.h - HTTP/2 on the wire, for h2.c (h2wire.c): frame and flag numbers, frames built
 * and taken apart, header lists decoded with nghttp2's HPACK inflater, re-encoded with a
 * deflater, written as HTTP/1.1 header lines, and the HPACK literals of a synthetic answer.
 * Pure code: no connection state, no engine.
 */
#ifndef AK_H2WIRE_H
#define AK_H2WIRE_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/ak.h"
#include "core/buf.h"

#define FH_LEN 9                       /* frame header */
#define F_DATA 0x0
#define F_HEADERS 0x1
#define F_PRIORITY 0x2
#define F_RST_STREAM 0x3
#define F_SETTINGS 0x4
#define F_PUSH_PROMISE 0x5
#define F_PING 0x6
#define F_GOAWAY 0x7
#define F_WINDOW_UPDATE 0x8
#define F_CONTINUATION 0x9
#define FL_END_STREAM 0x1
#define FL_ACK 0x1
#define FL_END_HEADERS 0x4
#define FL_PADDED 0x8
#define FL_PRIORITY 0x20
#define PRIO_LEN 5
struct hfield {
    char *name, *value;
    size_t nlen, vlen;
    uint8_t flags;                     /* NGHTTP2_NV_FLAG_NO_INDEX is kept on re-encoding */
};

struct hlist {
    struct hfield *f;
    size_t n, cap;
};

#define MAX_FRAME 16384                /* SETTINGS_MAX_FRAME_SIZE's floor: always allowed */
#define SID_MASK 0x7fffffffu

static inline uint32_t h2w_be24(const unsigned char *p)
{
    return (uint32_t)p[0] << 16 | p[1] << 8 | p[2];
}
static inline uint32_t h2w_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void h2w_hlist_free(struct hlist *l);
/* The value of the first field called `name`, or NULL. */
const char *h2w_hlist_get(const struct hlist *l, const char *name);
/* Decodes one complete header block into `out`; false when HPACK is broken. */
bool h2w_hpack_inflate(nghttp2_hd_inflater *inf, const unsigned char *in, size_t len,
                       struct hlist *out);
/* A field that cannot be written into an HTTP/1.1 head as it is (CR, LF, NUL). */
bool h2w_field_unsafe(const char *s, size_t n);
/* The regular fields of a list as HTTP/1.1 header lines (pseudo-headers, framing and
 * connection fields left out); false when one cannot be written. */
bool h2w_head_fields(const struct hlist *l, struct ak_buf *b);
enum ak_err h2w_frame_put(struct ak_buf *b, uint8_t type, uint8_t flags, uint32_t sid,
                          const unsigned char *p, size_t n);
/* A header block as HEADERS (+ CONTINUATION) frames of at most MAX_FRAME bytes; flags keeps
 * END_STREAM; prio (PRIO_LEN bytes) or NULL. */
enum ak_err h2w_block_put(struct ak_buf *b, uint32_t sid, uint8_t flags, const unsigned char *prio,
                          const unsigned char *blk, size_t n);
/* Re-encodes a header list with `def` and frames it as h2w_block_put does. */
enum ak_err h2w_block_reencode(nghttp2_hd_deflater *def, const struct hlist *l, uint32_t sid,
                               uint8_t flags, const unsigned char *prio, struct ak_buf *b);
/* HEADERS (:status 429, content-type, content-length, x-should-retry: false; literals without
 * indexing, so the receiver's dynamic table is untouched) and DATA with END_STREAM. */
enum ak_err h2w_refusal_frames(struct ak_buf *out, uint32_t sid, const char *body, size_t blen);
enum ak_err h2w_window_update_put(struct ak_buf *b, uint32_t sid, uint32_t inc);
/* The header block fragment of a HEADERS or PUSH_PROMISE payload (padding, priority and
 * promised id taken off; *prio points at the priority or is NULL); false when the lengths
 * do not add up. */
bool h2w_block_fragment(uint8_t type, uint8_t flags, const unsigned char *p, size_t n,
                        const unsigned char **frag, size_t *flen, const unsigned char **prio);
/* The content of a DATA payload, padding off; false when malformed. */
bool h2w_data_content(uint8_t flags, const unsigned char *p, size_t n,
                      const unsigned char **c, size_t *cl);

#endif
