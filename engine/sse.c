/*
 * sse.c - server-sent-events splitting (see sse.h). Lines are found with memchr('\n'),
 * the fast path of perf-anchors.md; a line complete inside one feed is used in place.
 */
#include "engine/sse.h"

#include <string.h>

#define SSE_FIELD_DATA "data"
#define SSE_FIELD_EVENT "event"

void ak_sse_init(struct ak_sse *s, size_t max_event, bool keep_raw)
{
    memset(s, 0, sizeof *s);
    s->max_event = max_event ? max_event : AK_SSE_MAX_EVENT;
    s->keep_raw = keep_raw;
}

void ak_sse_free(struct ak_sse *s)
{
    ak_buf_free(&s->line);
    ak_buf_free(&s->data);
    ak_buf_free(&s->raw);
}

static void sse_clear_event(struct ak_sse *s)
{
    ak_buf_reset(&s->data);
    ak_buf_reset(&s->raw);
    s->name[0] = '\0';
    s->has_data = false;
    s->event_bytes = 0;
}

static enum ak_err sse_spill(struct ak_sse *s, const unsigned char *p, size_t n, ak_sse_fn fn,
                             void *ud)
{
    if (!s->keep_raw || !n)
        return AK_OK;
    struct ak_sse_event ev = { .kind = AK_SSE_SPILL, .name = "", .raw = p, .raw_len = n };
    return fn(ud, &ev);
}

/* Enters skip mode: the event so far is dropped (and, with keep_raw, spilled). */
static enum ak_err sse_go_oversize(struct ak_sse *s, ak_sse_fn fn, void *ud)
{
    enum ak_err err = sse_spill(s, s->raw.data, s->raw.len, fn, ud);
    s->oversize = true;
    s->skipping = true;
    s->skip_partial = s->line.len > 0;
    ak_buf_reset(&s->line);
    sse_clear_event(s);
    return err;
}

/* Accounts the raw bytes of the current event; may switch to skip mode. */
static enum ak_err sse_raw(struct ak_sse *s, const unsigned char *p, size_t n, ak_sse_fn fn,
                           void *ud)
{
    if (s->skipping)
        return sse_spill(s, p, n, fn, ud);
    s->event_bytes += n;
    if (s->event_bytes > s->max_event) {
        enum ak_err err = sse_go_oversize(s, fn, ud);
        if (err != AK_OK)
            return err;
        return sse_spill(s, p, n, fn, ud);
    }
    if (!s->keep_raw)
        return AK_OK;
    enum ak_err err = ak_buf_append(&s->raw, p, n, 0);
    return err;
}

static enum ak_err sse_dispatch(struct ak_sse *s, ak_sse_fn fn, void *ud)
{
    enum ak_err err = AK_OK;
    if (s->skipping) {
        s->skipping = false;
    } else if (s->has_data || (s->keep_raw && s->raw.len)) {
        struct ak_sse_event ev = {
            .kind = AK_SSE_EVENT, .name = s->name, .data = s->data.data,
            .data_len = s->data.len, .has_data = s->has_data,
            .raw = s->raw.data, .raw_len = s->raw.len,
        };
        err = fn(ud, &ev);
    }
    sse_clear_event(s);
    return err;
}

static bool sse_field_is(const unsigned char *line, size_t flen, const char *name)
{
    return strlen(name) == flen && memcmp(line, name, flen) == 0;
}

/* A line; cr: it ended in \r (a \n may follow and still belongs to this event). */
static enum ak_err sse_line(struct ak_sse *s, const unsigned char *line, size_t len, bool cr,
                            ak_sse_fn fn, void *ud)
{
    if (len == 0 && cr) {
        s->dispatch_pending = true;
        return AK_OK;
    }
    if (len == 0)
        return sse_dispatch(s, fn, ud);
    if (s->skipping || line[0] == ':')
        return AK_OK;
    const unsigned char *colon = memchr(line, ':', len);
    size_t flen = colon ? (size_t)(colon - line) : len;
    const unsigned char *val = colon ? colon + 1 : line + len;
    size_t vlen = len - (size_t)(val - line);
    if (vlen && *val == ' ') {
        val++;
        vlen--;
    }
    if (sse_field_is(line, flen, SSE_FIELD_DATA)) {
        enum ak_err err = AK_OK;
        if (s->has_data)
            err = ak_buf_append(&s->data, "\n", 1, 0);
        if (err == AK_OK)
            err = ak_buf_append(&s->data, val, vlen, 0);
        s->has_data = true;
        return err;
    }
    if (sse_field_is(line, flen, SSE_FIELD_EVENT)) {
        size_t n = vlen < AK_SSE_NAME - 1 ? vlen : AK_SSE_NAME - 1;
        memcpy(s->name, val, n);
        s->name[n] = '\0';
    }
    return AK_OK;
}

/* One line, or the end of one: [p, p+len) and, when eol, a line end follows. */
static enum ak_err sse_segment(struct ak_sse *s, const unsigned char *p, size_t len, bool eol,
                               bool cr, ak_sse_fn fn, void *ud)
{
    if (s->skipping) {
        bool blank = eol && len == 0 && !s->skip_partial;
        s->skip_partial = !eol && (s->skip_partial || len > 0);
        return blank ? sse_line(s, p, 0, cr, fn, ud) : AK_OK;
    }
    if (!eol)
        return ak_buf_append(&s->line, p, len, 0);
    if (s->line.len == 0)
        return sse_line(s, p, len, cr, fn, ud);
    enum ak_err err = ak_buf_append(&s->line, p, len, 0);
    if (err == AK_OK)
        err = sse_line(s, s->line.data, s->line.len, cr, fn, ud);
    ak_buf_reset(&s->line);
    return err;
}

enum ak_err ak_sse_finish(struct ak_sse *s, ak_sse_fn fn, void *ud)
{
    if (!s->dispatch_pending)
        return AK_OK;
    s->dispatch_pending = false;
    return sse_dispatch(s, fn, ud);
}

enum ak_err ak_sse_feed(struct ak_sse *s, const unsigned char *p, size_t n, ak_sse_fn fn,
                        void *ud)
{
    size_t i = 0;
    enum ak_err err = AK_OK;
    while (i < n && err == AK_OK) {
        if (s->cr_pending) {
            s->cr_pending = false;
            if (p[i] == '\n') {
                err = sse_raw(s, p + i, 1, fn, ud);
                i++;
            }
            if (err == AK_OK)
                err = ak_sse_finish(s, fn, ud);
            continue;
        }
        const unsigned char *nl = memchr(p + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - p) : n;
        const unsigned char *cr_at = memchr(p + i, '\r', end - i);
        if (cr_at)
            end = (size_t)(cr_at - p);
        bool eol = end < n;
        err = sse_raw(s, p + i, end - i + (eol ? 1 : 0), fn, ud);
        if (err != AK_OK)
            break;
        bool cr = eol && p[end] == '\r';
        err = sse_segment(s, p + i, end - i, eol, cr, fn, ud);
        s->cr_pending = cr;
        i = eol ? end + 1 : n;
    }
    return err;
}
