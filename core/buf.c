/*
 * buf.c - growable byte buffer (see buf.h).
 */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 256

enum ak_err ak_buf_append(struct ak_buf *b, const void *p, size_t n, size_t max)
{
    if (n == 0)
        return AK_OK;
    if (max && b->len + n > max)
        return AK_ERR_FULL;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d)
            return AK_ERR_NOMEM;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return AK_OK;
}

enum ak_err ak_buf_printf(struct ak_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return AK_ERR_INVAL;
    if ((size_t)n < sizeof small)
        return ak_buf_append(b, small, (size_t)n, 0);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return AK_ERR_NOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    enum ak_err err = ak_buf_append(b, big, (size_t)n, 0);
    free(big);
    return err;
}

void ak_buf_consume(struct ak_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

size_t ak_str_copy_n(char *dst, size_t size, const char *src, size_t n)
{
    if (size == 0)
        return 0;
    size_t len = src ? strnlen(src, n < size - 1 ? n : size - 1) : 0;
    memcpy(dst, src ? src : "", len);
    dst[len] = '\0';
    return len;
}

void ak_buf_free(struct ak_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
