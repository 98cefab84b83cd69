/*
 * logrl.h - rate-limited problem logging for the collector: one line per problem, never a
 * flood. A repeat of the same problem (same key) within AKC_LOG_REPEAT_MS is counted, not
 * printed; the next line printed for that key says how many repeats were suppressed.
 */
#ifndef AKC_LOGRL_H
#define AKC_LOGRL_H

#include "core/ak.h"

#define AKC_LOG_REPEAT_MS (10LL * 60 * 1000)

/* Logs at lvl unless `key` was logged within AKC_LOG_REPEAT_MS. */
void akc_log_limited(enum ak_log_level lvl, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Forgets `key`, so that the next problem under it is logged at once (after a recovery). */
void akc_log_clear(const char *key);

#endif
