/*
 * backoff.h - retry pacing for everything the collector delivers (each exporter, each alert
 * channel): exponential backoff with jitter, base 1 s, cap 60 s. The n-th consecutive
 * failure waits a random time in [d/2, d] where d = min(cap, base * 2^(n-1)), so that many
 * collectors retrying one endpoint do not hit it in step.
 */
#ifndef AKC_BACKOFF_H
#define AKC_BACKOFF_H

#include "core/ak.h"

#define AKC_BACKOFF_BASE_MS 1000
#define AKC_BACKOFF_CAP_MS 60000

struct akc_backoff {
    unsigned failures;
    int64_t next_ms;              /* do not try before this; 0 = now */
};

static inline bool akc_backoff_ready(const struct akc_backoff *b, int64_t now_ms)
{
    return now_ms >= b->next_ms;
}
/* Records a failure at now_ms and schedules the next attempt; returns the delay chosen. */
int64_t akc_backoff_fail(struct akc_backoff *b, int64_t now_ms);
void akc_backoff_ok(struct akc_backoff *b);

#endif
