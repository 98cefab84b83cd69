/*
 * jarray.h - splits a JSON array that arrives in pieces into its top-level elements
 * (Gemini streamGenerateContent without alt=sse: "[{...},\r\n{...}]" delivered
 * incrementally). Only string and nesting state is tracked; each element is handed to a
 * callback as soon as it is complete, and at most one element (max_elem bytes) is held.
 */
#ifndef AK_JARRAY_H
#define AK_JARRAY_H

#include "core/buf.h"

typedef enum ak_err (*ak_jarray_fn)(void *ud, const unsigned char *elem, size_t len);

struct ak_jarray {
    size_t max_elem;
    struct ak_buf elem;
    int depth;
    bool in_str, esc;
    bool skipping;                   /* the current element is over max_elem */
    bool oversize;                   /* some element was skipped */
};

void ak_jarray_init(struct ak_jarray *j, size_t max_elem);
enum ak_err ak_jarray_feed(struct ak_jarray *j, const unsigned char *p, size_t n,
                           ak_jarray_fn fn, void *ud);
void ak_jarray_free(struct ak_jarray *j);

#endif
