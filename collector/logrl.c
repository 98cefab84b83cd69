/*
 * logrl.c - rate-limited logging (see logrl.h). A small fixed table of recent problem keys;
 * when it is full the oldest entry is reused, which at worst prints one extra line.
 */
#include "collector/logrl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LOGRL_SLOTS 64
#define LOGRL_KEY 96

struct logrl_slot {
    char key[LOGRL_KEY];
    int64_t last_ms;
    unsigned suppressed;
};

static struct logrl_slot slots[LOGRL_SLOTS];

static struct logrl_slot *logrl_find(const char *key, bool create)
{
    struct logrl_slot *oldest = &slots[0];
    for (size_t i = 0; i < LOGRL_SLOTS; i++) {
        if (slots[i].key[0] && strncmp(slots[i].key, key, LOGRL_KEY - 1) == 0)
            return &slots[i];
        if (slots[i].last_ms < oldest->last_ms)
            oldest = &slots[i];
    }
    if (!create)
        return NULL;
    memset(oldest, 0, sizeof *oldest);
    snprintf(oldest->key, sizeof oldest->key, "%s", key);
    return oldest;
}

void akc_log_limited(enum ak_log_level lvl, const char *key, const char *fmt, ...)
{
    if (!ak_log_enabled(lvl))
        return;
    int64_t now = ak_now_ms();
    struct logrl_slot *s = logrl_find(key, true);
    if (s->last_ms && now - s->last_ms < AKC_LOG_REPEAT_MS) {
        s->suppressed++;
        return;
    }
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->suppressed)
        ak_log(lvl, "%s (%u similar messages suppressed)", msg, s->suppressed);
    else
        ak_log(lvl, "%s", msg);
    s->last_ms = now;
    s->suppressed = 0;
}

void akc_log_clear(const char *key)
{
    struct logrl_slot *s = logrl_find(key, false);
    if (s)
        memset(s, 0, sizeof *s);
}
