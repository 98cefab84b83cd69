/*
 * sse.h - a server-sent-events splitter for streamed LLM responses. Lines may end in \n,
 * \r\n or \r (split anywhere across feeds); ':' comment lines are ignored; "data:" lines are
 * joined with \n; "event:" names the event. Memory is bounded: an event longer than
 * max_event bytes is skipped (oversize is set) and never buffered whole.
 *
 * With keep_raw the splitter also hands back each event's exact bytes (from its first byte
 * to the end of its blank line), so a transform can re-emit every event it keeps unchanged;
 * the bytes of an oversize event are spilled as they come instead of being held.
 */
#ifndef AK_SSE_H
#define AK_SSE_H

#include "core/buf.h"

#define AK_SSE_MAX_EVENT (1024 * 1024)
#define AK_SSE_NAME 64

enum ak_sse_kind {
    AK_SSE_EVENT,        /* a complete event (with keep_raw: also a run of blank lines) */
    AK_SSE_SPILL,        /* keep_raw: raw bytes of an oversize event, to be passed on */
};

struct ak_sse_event {
    enum ak_sse_kind kind;
    const char *name;                /* "" when the event had no "event:" line */
    const unsigned char *data;       /* joined data lines, not NUL-terminated */
    size_t data_len;
    bool has_data;                   /* at least one data: line */
    const unsigned char *raw;        /* keep_raw only */
    size_t raw_len;
};

/* Returning anything but AK_OK stops the feed with that value. */
typedef enum ak_err (*ak_sse_fn)(void *ud, const struct ak_sse_event *ev);

struct ak_sse {
    size_t max_event;
    bool keep_raw;
    struct ak_buf line;              /* an incomplete line */
    struct ak_buf data;
    struct ak_buf raw;
    char name[AK_SSE_NAME];
    bool has_data;
    bool cr_pending;                 /* last byte was \r: a following \n belongs to it */
    bool dispatch_pending;           /* a blank line ended in \r: dispatch after its \n */
    bool skipping;                   /* inside an oversize event */
    bool skip_partial;               /* skipping: the current line has bytes already */
    bool oversize;                   /* some event was skipped */
    size_t event_bytes;
};

void ak_sse_init(struct ak_sse *s, size_t max_event, bool keep_raw);
enum ak_err ak_sse_feed(struct ak_sse *s, const unsigned char *p, size_t n, ak_sse_fn fn,
                        void *ud);
/* The stream ended: delivers an event whose blank line ended in a lone \r. */
enum ak_err ak_sse_finish(struct ak_sse *s, ak_sse_fn fn, void *ud);
void ak_sse_free(struct ak_sse *s);

#endif
