/*
 * event.c - the event record of DESIGN.md ("Event record") as JSON.
 *
 * ak_event_to_json writes the contract's field names in the contract's order; empty
 * customer, reason and key_fp are JSON null; "prompt" and "actor" appear only when set.
 * ak_event_from_json (cJSON) is its exact inverse (cost_usd back to integer micro-USD).
 * Event ids are UUID v4 from getrandom(2).
 */
#include "core/event.h"

#include "core/buf.h"
#include "core/period.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define UUID_BYTES 16
#define USD_DECIMALS 6            /* micro-USD */
#define JW_START_CAP 1024         /* an event without a prompt fits */
#define JW_KEY_MAX 32             /* longest member name written */
#define UUID_VERSION_BYTE 6
#define UUID_VARIANT_BYTE 8
#define UUID_VERSION_4 0x40
#define UUID_VARIANT_RFC4122 0x80
#define TS_TEXT_LEN 32
#define HALF 0.5

/* ---- names ---- */

static const char *const decision_names[] = {
    [AK_DEC_ALLOWED] = "allowed",
    [AK_DEC_BLOCKED_BUDGET] = "blocked_budget",
    [AK_DEC_BLOCKED_SUSPENDED] = "blocked_suspended",
    [AK_DEC_BLOCKED_GUARDRAIL] = "blocked_guardrail",
    [AK_DEC_UNMETERED] = "unmetered",
    [AK_DEC_CONTROL] = "control",
};

static const char *const cost_source_names[] = {
    [AK_COST_USAGE] = "usage",
    [AK_COST_ESTIMATE] = "estimate",
    [AK_COST_UNPRICED] = "unpriced",
};

const char *ak_decision_name(enum ak_decision d)
{
    if ((size_t)d >= AK_ARRAY_LEN(decision_names))
        return "unmetered";
    return decision_names[d];
}

bool ak_decision_parse(const char *s, enum ak_decision *out)
{
    for (size_t i = 0; s && i < AK_ARRAY_LEN(decision_names); i++) {
        if (strcmp(s, decision_names[i]) == 0) {
            *out = (enum ak_decision)i;
            return true;
        }
    }
    return false;
}

const char *ak_cost_source_name(enum ak_cost_source s)
{
    if ((size_t)s >= AK_ARRAY_LEN(cost_source_names))
        return "unpriced";
    return cost_source_names[s];
}

bool ak_cost_source_parse(const char *s, enum ak_cost_source *out)
{
    for (size_t i = 0; s && i < AK_ARRAY_LEN(cost_source_names); i++) {
        if (strcmp(s, cost_source_names[i]) == 0) {
            *out = (enum ak_cost_source)i;
            return true;
        }
    }
    return false;
}

static const char *const plane_names[] = { "inproc", "egress" };

const char *ak_plane_name(enum ak_plane p)
{
    if ((size_t)p >= AK_ARRAY_LEN(plane_names))
        return "inproc";
    return plane_names[p];
}

bool ak_plane_parse(const char *s, enum ak_plane *out)
{
    for (size_t i = 0; s && i < AK_ARRAY_LEN(plane_names); i++) {
        if (strcmp(s, plane_names[i]) == 0) {
            *out = (enum ak_plane)i;
            return true;
        }
    }
    return false;
}

/* ---- ids ---- */

/* Last resort when the kernel has no randomness for us: unique per process and moment. */
static void event_id_fallback(unsigned char b[UUID_BYTES])
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t a = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    uint64_t c = ((uint64_t)getpid() << 32) ^ (uint64_t)__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    memcpy(b, &a, sizeof a);
    memcpy(b + sizeof a, &c, sizeof c);
}

static void event_random(unsigned char *b, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(b + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ak_warn("getrandom failed (%s); event id from clock and pid", strerror(errno));
            for (size_t i = 0; i + UUID_BYTES <= len; i += UUID_BYTES)
                event_id_fallback(b + i);
            return;
        }
        got += (size_t)n;
    }
}

/* Random bytes are drawn from the kernel RANDOM_POOL at a time (one getrandom per 16 ids, not
 * one per call). The pool is per thread and emptied in a forked child, which must never
 * reuse its parent's bytes. */
#define RANDOM_POOL (16 * UUID_BYTES)

static __thread struct {
    unsigned char bytes[RANDOM_POOL];
    size_t left;
} pool;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_forget(void) { pool.left = 0; }
static void pool_init(void) { pthread_atfork(NULL, NULL, pool_forget); }

static void event_id_bytes(unsigned char b[UUID_BYTES])
{
    pthread_once(&pool_once, pool_init);
    if (pool.left < UUID_BYTES) {
        event_random(pool.bytes, sizeof pool.bytes);
        pool.left = sizeof pool.bytes;
    }
    memcpy(b, pool.bytes + sizeof pool.bytes - pool.left, UUID_BYTES);
    memset(pool.bytes + sizeof pool.bytes - pool.left, 0, UUID_BYTES);
    pool.left -= UUID_BYTES;
}

void ak_event_new_id(char out[40])
{
    unsigned char b[UUID_BYTES];
    event_id_bytes(b);
    b[UUID_VERSION_BYTE] = (unsigned char)((b[UUID_VERSION_BYTE] & 0x0f) | UUID_VERSION_4);
    b[UUID_VARIANT_BYTE] = (unsigned char)((b[UUID_VARIANT_BYTE] & 0x3f) | UUID_VARIANT_RFC4122);
    /* 8-4-4-4-12 hex digits, written by hand (snprintf cost 6 k instructions a call) */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < UUID_BYTES; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

/* ---- to JSON ----
 * Written directly into a buffer rather than through a cJSON tree: an event is serialised on
 * every metered call, inside the agent's process, and building and printing a tree (a malloc
 * per member, numbers through double formatting) cost more than the rest of the record.
 * cJSON still reads events back (ak_event_from_json), which checks what is written here. */

struct jw {
    struct ak_buf b;
    bool first;
    bool ok;
};

/* Appends; the buffer starts at JW_START_CAP (an event fits), so this is mostly a memcpy. */
static inline void jw_raw(struct jw *w, const char *s, size_t n)
{
    if (w->ok && w->b.len + n <= w->b.cap) {
        memcpy(w->b.data + w->b.len, s, n);
        w->b.len += n;
    } else if (w->ok && ak_buf_append(&w->b, s, n, 0) != AK_OK) {
        w->ok = false;
    }
}

/* ,"name": (or {"name": first) in one append. */
static void jw_key(struct jw *w, const char *name)
{
    char k[JW_KEY_MAX + 4];
    size_t n = strlen(name);
    if (n > JW_KEY_MAX) {
        w->ok = false;
        return;
    }
    k[0] = w->first ? '{' : ',';
    k[1] = '"';
    memcpy(k + 2, name, n);
    k[n + 2] = '"';
    k[n + 3] = ':';
    w->first = false;
    jw_raw(w, k, n + 4);
}

/* A JSON string with the escapes RFC 8259 requires. */
static void jw_string(struct jw *w, const char *s)
{
    const char *run = s;
    jw_raw(w, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (c == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else if (c == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else if (c < 0x20)
            snprintf(esc, sizeof esc, "\\u%04x", c);
        else
            continue;
        jw_raw(w, run, (size_t)(p - run));
        jw_raw(w, esc, strlen(esc));
        run = p + 1;
    }
    jw_raw(w, run, strlen(run));
    jw_raw(w, "\"", 1);
}

static void jw_str(struct jw *w, const char *name, const char *s)
{
    jw_key(w, name);
    jw_string(w, s);
}

/* A string, or null when it is empty. */
static void jw_str_or_null(struct jw *w, const char *name, const char *s)
{
    jw_key(w, name);
    if (s[0])
        jw_string(w, s);
    else
        jw_raw(w, "null", 4);
}

/* Decimal text of v, written backwards from the end of buf; returns where it starts
 * (snprintf costs about 20 times as much, eight times per event). */
static char *jw_digits(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

static void jw_int(struct jw *w, const char *name, int64_t v)
{
    char num[24];
    char *end = num + sizeof num;
    char *p = jw_digits(v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, end);
    if (v < 0)
        *--p = '-';
    jw_key(w, name);
    jw_raw(w, p, (size_t)(end - p));
}

/* micro-USD as an exact decimal, never an exponent: 328 -> 0.000328, 1500000 -> 1.5 */
static void jw_usd(struct jw *w, const char *name, int64_t micros)
{
    char num[32];
    uint64_t m = micros < 0 ? (uint64_t)0 - (uint64_t)micros : (uint64_t)micros;
    char *end = num + sizeof num;
    uint64_t frac = m % AK_MICROS_PER_USD;
    for (int i = 0; i < USD_DECIMALS; i++) {   /* the six decimals, zero-padded */
        *--end = (char)('0' + frac % 10);
        frac /= 10;
    }
    *--end = '.';
    char *p = jw_digits(m / AK_MICROS_PER_USD, end);
    if (micros < 0)
        *--p = '-';
    size_t n = (size_t)(num + sizeof num - p);
    while (n > 0 && p[n - 1] == '0')
        n--;
    if (n > 0 && p[n - 1] == '.')
        n--;
    jw_key(w, name);
    jw_raw(w, p, n);
}

char *ak_event_to_json(const struct ak_event *ev)
{
    struct jw w = { .first = true, .ok = true };
    char ts[TS_TEXT_LEN];
    w.b.data = malloc(JW_START_CAP);
    w.b.cap = w.b.data ? JW_START_CAP : 0;
    ak_time_format(ev->ts_ms, ts, sizeof ts);
    jw_str(&w, "event_id", ev->event_id);
    jw_str(&w, "ts", ts);
    jw_str(&w, "agent", ev->agent);
    jw_str_or_null(&w, "customer", ev->customer);
    jw_str(&w, "provider", ak_provider_name(ev->provider));
    jw_str(&w, "host", ev->host);
    jw_str(&w, "operation", ev->operation);
    jw_str(&w, "model", ev->model);
    jw_key(&w, "stream");
    jw_raw(&w, ev->stream ? "true" : "false", ev->stream ? 4 : 5);
    jw_int(&w, "input_tokens", ev->usage.input_tokens);
    jw_int(&w, "output_tokens", ev->usage.output_tokens);
    jw_int(&w, "cached_input_tokens", ev->usage.cached_input_tokens);
    jw_int(&w, "cache_write_tokens", ev->usage.cache_write_tokens);
    jw_int(&w, "reasoning_tokens", ev->usage.reasoning_tokens);
    jw_usd(&w, "cost_usd", ev->cost_micros);
    jw_str(&w, "cost_source", ak_cost_source_name(ev->cost_source));
    jw_int(&w, "status", ev->status);
    jw_str(&w, "decision", ak_decision_name(ev->decision));
    jw_str_or_null(&w, "reason", ev->reason);
    jw_int(&w, "duration_ms", ev->duration_ms);
    jw_int(&w, "pid", ev->pid);
    jw_str(&w, "exe", ev->exe);
    jw_str_or_null(&w, "key_fp", ev->key_fp);
    jw_str(&w, "plane", ak_plane_name(ev->plane));
    if (ev->prompt)
        jw_str(&w, "prompt", ev->prompt);
    if (ev->actor[0])
        jw_str(&w, "actor", ev->actor);
    jw_raw(&w, "}", 2);           /* with the terminating NUL */
    if (!w.ok) {
        ak_buf_free(&w.b);
        return NULL;
    }
    return (char *)w.b.data;      /* the buffer's memory is the malloc'd string */
}

/* ---- from JSON ---- */

/* Copies a string member into a fixed buffer; null/absent allowed only when `nullable`. */
static enum ak_err event_get_text(const cJSON *o, const char *name, char *dst, size_t cap,
                                  bool nullable)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (nullable && (!it || cJSON_IsNull(it))) {
        dst[0] = '\0';
        return AK_OK;
    }
    if (!cJSON_IsString(it) || !it->valuestring)
        return AK_ERR_PARSE;
    size_t n = strlen(it->valuestring);
    if (n >= cap)
        return AK_ERR_PARSE;
    memcpy(dst, it->valuestring, n + 1);
    return AK_OK;
}

static enum ak_err event_get_number(const cJSON *o, const char *name, double *v)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(it))
        return AK_ERR_PARSE;
    *v = it->valuedouble;
    return AK_OK;
}

static enum ak_err event_get_int(const cJSON *o, const char *name, int64_t *v)
{
    double d;
    enum ak_err err = event_get_number(o, name, &d);
    if (err == AK_OK)
        *v = (int64_t)(d < 0 ? d - HALF : d + HALF);
    return err;
}

static enum ak_err event_get_enums(const cJSON *o, struct ak_event *ev)
{
    char text[AK_EV_NAME];
    enum ak_err err = event_get_text(o, "provider", text, sizeof text, false);
    if (err != AK_OK)
        return err;
    ev->provider = ak_provider_parse(text);
    err = event_get_text(o, "cost_source", text, sizeof text, false);
    if (err != AK_OK || !ak_cost_source_parse(text, &ev->cost_source))
        return AK_ERR_PARSE;
    err = event_get_text(o, "decision", text, sizeof text, false);
    if (err != AK_OK || !ak_decision_parse(text, &ev->decision))
        return AK_ERR_PARSE;
    /* records written before the egress plane existed have no plane: they were in-process */
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(o, "plane");
    if (pl && !(cJSON_IsString(pl) && ak_plane_parse(pl->valuestring, &ev->plane)))
        return AK_ERR_PARSE;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "stream");
    if (!cJSON_IsBool(st))
        return AK_ERR_PARSE;
    ev->stream = cJSON_IsTrue(st);
    return AK_OK;
}

static enum ak_err event_get_texts(const cJSON *o, struct ak_event *ev)
{
    char ts[TS_TEXT_LEN];
    enum ak_err err = AK_OK;
    if ((err = event_get_text(o, "event_id", ev->event_id, sizeof ev->event_id, false)) ||
        (err = event_get_text(o, "ts", ts, sizeof ts, false)) ||
        (err = event_get_text(o, "agent", ev->agent, sizeof ev->agent, false)) ||
        (err = event_get_text(o, "customer", ev->customer, sizeof ev->customer, true)) ||
        (err = event_get_text(o, "host", ev->host, sizeof ev->host, false)) ||
        (err = event_get_text(o, "operation", ev->operation, sizeof ev->operation, false)) ||
        (err = event_get_text(o, "model", ev->model, sizeof ev->model, false)) ||
        (err = event_get_text(o, "reason", ev->reason, sizeof ev->reason, true)) ||
        (err = event_get_text(o, "exe", ev->exe, sizeof ev->exe, false)) ||
        (err = event_get_text(o, "key_fp", ev->key_fp, sizeof ev->key_fp, true)) ||
        (err = event_get_text(o, "actor", ev->actor, sizeof ev->actor, true)))
        return err;
    if (!ak_time_parse(ts, &ev->ts_ms))
        return AK_ERR_PARSE;
    return AK_OK;
}

static enum ak_err event_get_numbers(const cJSON *o, struct ak_event *ev)
{
    int64_t status = 0, pid = 0;
    double cost = 0;
    enum ak_err err = AK_OK;
    if ((err = event_get_int(o, "input_tokens", &ev->usage.input_tokens)) ||
        (err = event_get_int(o, "output_tokens", &ev->usage.output_tokens)) ||
        (err = event_get_int(o, "cached_input_tokens", &ev->usage.cached_input_tokens)) ||
        (err = event_get_int(o, "cache_write_tokens", &ev->usage.cache_write_tokens)) ||
        (err = event_get_int(o, "reasoning_tokens", &ev->usage.reasoning_tokens)) ||
        (err = event_get_number(o, "cost_usd", &cost)) ||
        (err = event_get_int(o, "status", &status)) ||
        (err = event_get_int(o, "duration_ms", &ev->duration_ms)) ||
        (err = event_get_int(o, "pid", &pid)))
        return err;
    double micros = cost * (double)AK_MICROS_PER_USD;
    ev->cost_micros = (int64_t)(micros < 0 ? micros - HALF : micros + HALF);
    ev->status = (int)status;
    ev->pid = (int)pid;
    return AK_OK;
}

static enum ak_err event_get_prompt(const cJSON *o, struct ak_event *ev)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, "prompt");
    if (!it || cJSON_IsNull(it))
        return AK_OK;
    if (!cJSON_IsString(it) || !it->valuestring)
        return AK_ERR_PARSE;
    ev->prompt = strdup(it->valuestring);
    return ev->prompt ? AK_OK : AK_ERR_NOMEM;
}

enum ak_err ak_event_from_json(const char *json, size_t len, struct ak_event *ev)
{
    enum ak_err err = AK_ERR_PARSE;
    memset(ev, 0, sizeof *ev);
    cJSON *o = json ? cJSON_ParseWithLength(json, len) : NULL;
    if (!cJSON_IsObject(o))
        goto out;
    if ((err = event_get_texts(o, ev)) || (err = event_get_enums(o, ev)) ||
        (err = event_get_numbers(o, ev)) || (err = event_get_prompt(o, ev)))
        goto out;
    err = AK_OK;
out:
    if (err != AK_OK)
        ak_event_clear(ev);
    cJSON_Delete(o);
    return err;
}

void ak_event_clear(struct ak_event *ev)
{
    if (!ev)
        return;
    free(ev->prompt);
    ev->prompt = NULL;
}
