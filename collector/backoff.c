/*
 * backoff.c - exponential backoff with jitter (see backoff.h).
 */
#include "collector/backoff.h"

#include <stdlib.h>
#include <sys/random.h>

#define BACKOFF_MAX_SHIFT 16     /* 2^16 s is far beyond the cap: stop doubling there */

static uint32_t backoff_random(void)
{
    uint32_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint32_t)random();
    return r;
}

int64_t akc_backoff_fail(struct akc_backoff *b, int64_t now_ms)
{
    unsigned shift = b->failures < BACKOFF_MAX_SHIFT ? b->failures : BACKOFF_MAX_SHIFT;
    int64_t d = (int64_t)AKC_BACKOFF_BASE_MS << shift;
    if (d > AKC_BACKOFF_CAP_MS)
        d = AKC_BACKOFF_CAP_MS;
    int64_t half = d / 2;
    int64_t delay = half + (int64_t)(backoff_random() % (uint32_t)(half + 1));
    b->failures++;
    b->next_ms = now_ms + delay;
    return delay;
}

void akc_backoff_ok(struct akc_backoff *b)
{
    b->failures = 0;
    b->next_ms = 0;
}
