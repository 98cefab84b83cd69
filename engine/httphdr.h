/*
 * httphdr.h - assembling HTTP header fields from http_parser's split callbacks, for the
 * request and response parsers of the shim. A field name or value can arrive in pieces (the
 * bytes are split anywhere); this joins them and hands each complete field to a callback.
 * It also counts the head's size so that an enormous head is refused, not buffered.
 */
#ifndef AK_HTTPHDR_H
#define AK_HTTPHDR_H

#include "core/buf.h"

/* A request or response head larger than this is not HTTP we want to hold. */
#define AK_HDR_MAX_HEAD (64 * 1024)

struct ak_hdr {
    struct ak_buf name;
    struct ak_buf value;
    bool in_value;
    size_t head_bytes;
};

typedef void (*ak_hdr_fn)(void *ud, const char *name, size_t nlen, const char *value,
                          size_t vlen);

/* Each returns AK_ERR_FULL once the head is over AK_HDR_MAX_HEAD. */
enum ak_err ak_hdr_count(struct ak_hdr *h, size_t len);
enum ak_err ak_hdr_field(struct ak_hdr *h, const char *at, size_t len, ak_hdr_fn fn, void *ud);
enum ak_err ak_hdr_value(struct ak_hdr *h, const char *at, size_t len);
/* At the end of the head: delivers the last field. */
void ak_hdr_flush(struct ak_hdr *h, ak_hdr_fn fn, void *ud);
void ak_hdr_reset(struct ak_hdr *h);
void ak_hdr_free(struct ak_hdr *h);

/* Case-insensitive equality of a header name with a lower-case literal. */
bool ak_hdr_name_is(const char *name, size_t nlen, const char *want);
/* Copies a value without surrounding blanks into out (NUL-terminated, truncated). */
void ak_hdr_copy_value(const char *value, size_t vlen, char *out, size_t outlen);

#endif
