/*
 * period.c - budget period keys and turnover times, all in UTC.
 */
#include "core/period.h"
#include "core/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static void utc_tm(int64_t ms, struct tm *tm)
{
    time_t t = (time_t)(ms / AK_MS_PER_S);
    gmtime_r(&t, tm);
}

const char *ak_period_type_name(enum ak_period_type t)
{
    switch (t) {
    case AK_PERIOD_DAILY: return "daily";
    case AK_PERIOD_MONTHLY: return "monthly";
    case AK_PERIOD_TOTAL: return "total";
    }
    return "daily";
}

#define PERIOD_TYPES 3

/* A key depends only on the UTC day, and is asked for on every ledger transaction: each
 * thread keeps the last day's keys (gmtime_r and snprintf cost more than the rest of a
 * budget check). */
static __thread struct {
    int64_t day;
    bool valid;
    char key[AK_PERIOD_KEY_LEN];
} key_cache[PERIOD_TYPES];

static void period_key_compute(enum ak_period_type type, int64_t now_ms, char out[AK_PERIOD_KEY_LEN]);

void ak_period_key(enum ak_period_type type, int64_t now_ms, char out[AK_PERIOD_KEY_LEN])
{
    int64_t day = now_ms >= 0 ? now_ms / AK_MS_PER_DAY : (now_ms - AK_MS_PER_DAY + 1) / AK_MS_PER_DAY;
    unsigned t = (unsigned)type;
    if (t < PERIOD_TYPES && key_cache[t].valid && key_cache[t].day == day) {
        memcpy(out, key_cache[t].key, AK_PERIOD_KEY_LEN);
        return;
    }
    period_key_compute(type, now_ms, out);
    if (t < PERIOD_TYPES) {
        key_cache[t].day = day;
        key_cache[t].valid = true;
        memcpy(key_cache[t].key, out, AK_PERIOD_KEY_LEN);
    }
}

static void period_key_compute(enum ak_period_type type, int64_t now_ms, char out[AK_PERIOD_KEY_LEN])
{
    struct tm tm;
    utc_tm(now_ms, &tm);
    switch (type) {
    case AK_PERIOD_DAILY:
        snprintf(out, AK_PERIOD_KEY_LEN, "%04u-%02u-%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
                 (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u);
        return;
    case AK_PERIOD_MONTHLY:
        snprintf(out, AK_PERIOD_KEY_LEN, "%04u-%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
                 (unsigned)(tm.tm_mon + 1) % 100u);
        return;
    case AK_PERIOD_TOTAL:
        break;
    }
    snprintf(out, AK_PERIOD_KEY_LEN, "total");
}

int64_t ak_period_reset_ms(enum ak_period_type type, int64_t now_ms)
{
    struct tm tm;
    utc_tm(now_ms, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    switch (type) {
    case AK_PERIOD_DAILY:
        tm.tm_mday += 1;
        break;
    case AK_PERIOD_MONTHLY:
        tm.tm_mday = 1;
        tm.tm_mon += 1;
        break;
    case AK_PERIOD_TOTAL:
        return 0;
    }
    return (int64_t)timegm(&tm) * AK_MS_PER_S; /* timegm normalises day/month overflow */
}

#define TS_SECONDS_LEN 19          /* "2026-11-22T08:00:00" */

/* Every event carries a timestamp: each thread keeps the text of the last second. */
static __thread struct {
    int64_t sec;
    bool valid;
    char text[TS_SECONDS_LEN + 1];
} ts_cache;

void ak_time_format(int64_t ms, char *buf, size_t len)
{
    int64_t frac = ms % AK_MS_PER_S;
    if (frac < 0)
        frac += AK_MS_PER_S;
    int64_t sec = (ms - frac) / AK_MS_PER_S;
    if (!ts_cache.valid || ts_cache.sec != sec) {
        struct tm tm;
        utc_tm(ms - frac, &tm);
        snprintf(ts_cache.text, sizeof ts_cache.text, "%04u-%02u-%02uT%02u:%02u:%02u",
                 (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
                 (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
                 (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u);
        ts_cache.sec = sec;
        ts_cache.valid = true;
    }
    /* "<seconds>.mmmZ" without the formatter (once per event) */
    char tail[] = { '.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                    (char)('0' + frac % 10), 'Z', '\0' };
    size_t n = ak_str_copy(buf, len, ts_cache.text);
    if (n < len)
        ak_str_copy(buf + n, len - n, tail);
}

bool ak_time_parse(const char *s, int64_t *ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int msec = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3)
        return false;
    const char *p = s + n;
    if (*p == 'T' || *p == ' ') {
        int m = 0;
        if (sscanf(p + 1, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &m) != 3)
            return false;
        p += 1 + m;
        if (*p == '.') {
            int digits = 0;
            for (p++; *p >= '0' && *p <= '9'; p++, digits++)
                if (digits < 3)
                    msec = msec * 10 + (*p - '0');
            for (; digits < 3; digits++)
                msec *= 10;
        }
        if (*p == 'Z')
            p++;
    }
    if (*p != '\0')
        return false;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ms = (int64_t)timegm(&tm) * AK_MS_PER_S + msec;
    return true;
}


bool ak_since_parse(const char *s, int64_t now_ms, int64_t *ms)
{
    if (ak_time_parse(s, ms))
        return true;
    char *end = NULL;
    if (!s || !*s || *s == '-')
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || end[0] == '\0' || end[1] != '\0')
        return false;
    int64_t unit;
    switch (*end) {
    case 's': unit = 1; break;
    case 'm': unit = AK_S_PER_MIN; break;
    case 'h': unit = AK_S_PER_HOUR; break;
    case 'd': unit = AK_S_PER_DAY; break;
    default: return false;
    }
    *ms = now_ms - (int64_t)v * unit * AK_MS_PER_S;
    return true;
}
