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

/* Copies at most n bytes of src (stopping at its NUL) into dst[size], truncated to size - 1
 * and always terminated: snprintf(dst, size, "%.*s", n, src) without the formatter, for the
 * per-call paths. Returns the length written. */
size_t ak_str_copy_n(char *dst, size_t size, const char *src, size_t n);
static inline size_t ak_str_copy(char *dst, size_t size, const char *src)
{
    return ak_str_copy_n(dst, size, src, (size_t)-1);
}

#endif
