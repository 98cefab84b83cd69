/*
 * period.h - budget periods. Daily and monthly periods turn at 00:00 UTC; total never turns.
 * A period is named by a key: "2026-11-22" (daily), "2026-11" (monthly), "total".
 */
#ifndef AK_PERIOD_H
#define AK_PERIOD_H

#include "core/config.h"

#define AK_PERIOD_KEY_LEN 16

void ak_period_key(enum ak_period_type type, int64_t now_ms, char out[AK_PERIOD_KEY_LEN]);
/* When the period containing now_ms ends (ms since the epoch); 0 for total. */
int64_t ak_period_reset_ms(enum ak_period_type type, int64_t now_ms);
/* Formats ms since the epoch as RFC 3339 UTC with milliseconds: 2026-11-22T08:00:00.000Z */
void ak_time_format(int64_t ms, char *buf, size_t len);
/* Parses RFC 3339 ("2026-11-22T08:00:00Z", with optional .mmm) or a date "2026-11-22". */
bool ak_time_parse(const char *s, int64_t *ms);
/* A time given as RFC 3339, a date, or an age before now_ms ("90s", "15m", "2h", "7d"):
 * `akctl events --since` and the dashboard's ?since= read it the same way. */
bool ak_since_parse(const char *s, int64_t now_ms, int64_t *ms);

#endif
