/*
 * jarray.c - incremental top-level splitting of a JSON array (see jarray.h).
 */
#include "engine/jarray.h"

#include <string.h>

#define JA_ELEM_DEPTH 2          /* inside "[": depth 1; inside an element: 2 and more */
#define JA_MAX_DEPTH 100000      /* deeper than this is garbage, not a response */

void ak_jarray_init(struct ak_jarray *j, size_t max_elem)
{
    memset(j, 0, sizeof *j);
    j->max_elem = max_elem;
}

void ak_jarray_free(struct ak_jarray *j)
{
    ak_buf_free(&j->elem);
}

static enum ak_err ja_keep(struct ak_jarray *j, const unsigned char *p, size_t n)
{
    if (j->skipping || !n)
        return AK_OK;
    enum ak_err err = ak_buf_append(&j->elem, p, n, j->max_elem);
    if (err == AK_ERR_FULL) {
        j->skipping = true;
        j->oversize = true;
        ak_buf_reset(&j->elem);
        err = AK_OK;
    }
    return err;
}

static enum ak_err ja_end(struct ak_jarray *j, ak_jarray_fn fn, void *ud)
{
    enum ak_err err = AK_OK;
    if (!j->skipping)
        err = fn(ud, j->elem.data, j->elem.len);
    j->skipping = false;
    ak_buf_reset(&j->elem);
    return err;
}

enum ak_err ak_jarray_feed(struct ak_jarray *j, const unsigned char *p, size_t n,
                           ak_jarray_fn fn, void *ud)
{
    size_t start = 0;                    /* first byte of p in the current element */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (j->in_str) {
            if (j->esc)
                j->esc = false;
            else if (c == '\\')
                j->esc = true;
            else if (c == '"')
                j->in_str = false;
            continue;
        }
        if (c == '"') {
            j->in_str = true;
        } else if (c == '{' || c == '[') {
            if (++j->depth == JA_ELEM_DEPTH)
                start = i;
            if (j->depth > JA_MAX_DEPTH)
                return AK_ERR_PARSE;
        } else if ((c == '}' || c == ']') && j->depth > 0) {
            if (j->depth-- == JA_ELEM_DEPTH) {
                enum ak_err err = ja_keep(j, p + start, i + 1 - start);
                if (err == AK_OK)
                    err = ja_end(j, fn, ud);
                if (err != AK_OK)
                    return err;
            }
        }
    }
    if (j->depth >= JA_ELEM_DEPTH)
        return ja_keep(j, p + start, n - start);
    return AK_OK;
}
