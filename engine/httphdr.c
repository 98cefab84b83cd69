/*
 * httphdr.c - header field assembly and head size accounting (see httphdr.h).
 */
#include "engine/httphdr.h"

#include <string.h>
#include <strings.h>

enum ak_err ak_hdr_count(struct ak_hdr *h, size_t len)
{
    h->head_bytes += len;
    return h->head_bytes > AK_HDR_MAX_HEAD ? AK_ERR_FULL : AK_OK;
}

static void hdr_deliver(struct ak_hdr *h, ak_hdr_fn fn, void *ud)
{
    if (h->in_value && h->name.len)
        fn(ud, (const char *)h->name.data, h->name.len,
           h->value.len ? (const char *)h->value.data : "", h->value.len);
    ak_buf_reset(&h->name);
    ak_buf_reset(&h->value);
    h->in_value = false;
}

enum ak_err ak_hdr_field(struct ak_hdr *h, const char *at, size_t len, ak_hdr_fn fn, void *ud)
{
    enum ak_err err = ak_hdr_count(h, len);
    if (err != AK_OK)
        return err;
    if (h->in_value)
        hdr_deliver(h, fn, ud);
    return ak_buf_append(&h->name, at, len, AK_HDR_MAX_HEAD);
}

enum ak_err ak_hdr_value(struct ak_hdr *h, const char *at, size_t len)
{
    enum ak_err err = ak_hdr_count(h, len);
    if (err != AK_OK)
        return err;
    h->in_value = true;
    return ak_buf_append(&h->value, at, len, AK_HDR_MAX_HEAD);
}

void ak_hdr_flush(struct ak_hdr *h, ak_hdr_fn fn, void *ud)
{
    hdr_deliver(h, fn, ud);
}

void ak_hdr_reset(struct ak_hdr *h)
{
    ak_buf_reset(&h->name);
    ak_buf_reset(&h->value);
    h->in_value = false;
    h->head_bytes = 0;
}

void ak_hdr_free(struct ak_hdr *h)
{
    ak_buf_free(&h->name);
    ak_buf_free(&h->value);
    h->in_value = false;
    h->head_bytes = 0;
}

bool ak_hdr_name_is(const char *name, size_t nlen, const char *want)
{
    return strlen(want) == nlen && strncasecmp(name, want, nlen) == 0;
}

static bool hdr_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void ak_hdr_copy_value(const char *value, size_t vlen, char *out, size_t outlen)
{
    if (!outlen)
        return;
    while (vlen && hdr_blank(*value)) {
        value++;
        vlen--;
    }
    while (vlen && hdr_blank(value[vlen - 1]))
        vlen--;
    if (vlen >= outlen)
        vlen = outlen - 1;
    memcpy(out, value, vlen);
    out[vlen] = '\0';
}
