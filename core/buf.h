/*
 * buf.h - a growable byte buffer with a hard cap. Used wherever bytes are held or rebuilt.
 */
#ifndef AK_BUF_H
#define AK_BUF_H

#include "core/ak.h"

struct ak_buf {
    unsigned char *data;
    size_t len;
    size_t cap;
};

/* Appends; AK_ERR_FULL when len would exceed max (0 = no cap), AK_ERR_NOMEM on OOM. */
enum ak_err ak_buf_append(struct ak_buf *b, const void *p, size_t n, size_t max);
enum ak_err ak_buf_printf(struct ak_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes. */
void ak_buf_consume(struct ak_buf *b, size_t n);
static inline void ak_buf_reset(struct ak_buf *b) { b->len = 0; }
void ak_buf_free(struct ak_buf *b);

#endif
