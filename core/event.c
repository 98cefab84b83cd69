/*
 * event.c - the event record of DESIGN.md ("Event record") as JSON, with cJSON.
 *
 * ak_event_to_json writes the contract's field names in the contract's order; empty
 * customer, reason and key_fp are JSON null; "prompt" appears only when there is one.
 * ak_event_from_json is its exact inverse (cost_usd back to integer micro-USD, rounded).
 * Event ids are UUID v4 from getrandom(2).
 */
#include "core/event.h"

#include "core/period.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define UUID_BYTES 16
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

static void event_random(unsigned char b[UUID_BYTES])
{
    size_t got = 0;
    while (got < UUID_BYTES) {
        ssize_t n = getrandom(b + got, UUID_BYTES - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ak_warn("getrandom failed (%s); event id from clock and pid", strerror(errno));
            event_id_fallback(b);
            return;
        }
        got += (size_t)n;
    }
}

void ak_event_new_id(char out[40])
{
    unsigned char b[UUID_BYTES];
    event_random(b);
    b[UUID_VERSION_BYTE] = (unsigned char)((b[UUID_VERSION_BYTE] & 0x0f) | UUID_VERSION_4);
    b[UUID_VARIANT_BYTE] = (unsigned char)((b[UUID_VARIANT_BYTE] & 0x3f) | UUID_VARIANT_RFC4122);
    snprintf(out, 40,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

/* ---- to JSON ---- */

/* Adds a string, or null when it is empty. false on OOM. */
static bool event_add_text_or_null(cJSON *o, const char *name, const char *s)
{
    if (s[0] == '\0')
        return cJSON_AddNullToObject(o, name) != NULL;
    return cJSON_AddStringToObject(o, name, s) != NULL;
}

/* Integers and money are written as raw text: cJSON would print them through a double
 * (%1.15g plus a round-trip check), the slowest part of an event on the call's path. */
static bool event_add_int(cJSON *o, const char *name, int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)v);
    return cJSON_AddRawToObject(o, name, num) != NULL;
}

/* micro-USD as an exact decimal: 328 -> 0.000328, 1500000 -> 1.5 */
static bool event_add_usd(cJSON *o, const char *name, int64_t micros)
{
    char num[32];
    const char *sign = micros < 0 ? "-" : "";
    uint64_t m = micros < 0 ? (uint64_t)0 - (uint64_t)micros : (uint64_t)micros;
    int n = snprintf(num, sizeof num, "%s%llu.%06llu", sign, (unsigned long long)(m / AK_MICROS_PER_USD),
                     (unsigned long long)(m % AK_MICROS_PER_USD));
    while (n > 0 && num[n - 1] == '0')
        num[--n] = '\0';
    if (n > 0 && num[n - 1] == '.')
        num[--n] = '\0';
    return cJSON_AddRawToObject(o, name, num) != NULL;
}

static bool event_fill_json(cJSON *o, const struct ak_event *ev)
{
    char ts[TS_TEXT_LEN];
    ak_time_format(ev->ts_ms, ts, sizeof ts);
    return cJSON_AddStringToObject(o, "event_id", ev->event_id) &&
           cJSON_AddStringToObject(o, "ts", ts) &&
           cJSON_AddStringToObject(o, "agent", ev->agent) &&
           event_add_text_or_null(o, "customer", ev->customer) &&
           cJSON_AddStringToObject(o, "provider", ak_provider_name(ev->provider)) &&
           cJSON_AddStringToObject(o, "host", ev->host) &&
           cJSON_AddStringToObject(o, "operation", ev->operation) &&
           cJSON_AddStringToObject(o, "model", ev->model) &&
           cJSON_AddBoolToObject(o, "stream", ev->stream) &&
           event_add_int(o, "input_tokens", ev->usage.input_tokens) &&
           event_add_int(o, "output_tokens", ev->usage.output_tokens) &&
           event_add_int(o, "cached_input_tokens", ev->usage.cached_input_tokens) &&
           event_add_int(o, "cache_write_tokens", ev->usage.cache_write_tokens) &&
           event_add_int(o, "reasoning_tokens", ev->usage.reasoning_tokens) &&
           event_add_usd(o, "cost_usd", ev->cost_micros) &&
           cJSON_AddStringToObject(o, "cost_source", ak_cost_source_name(ev->cost_source)) &&
           event_add_int(o, "status", ev->status) &&
           cJSON_AddStringToObject(o, "decision", ak_decision_name(ev->decision)) &&
           event_add_text_or_null(o, "reason", ev->reason) &&
           event_add_int(o, "duration_ms", ev->duration_ms) &&
           event_add_int(o, "pid", ev->pid) &&
           cJSON_AddStringToObject(o, "exe", ev->exe) &&
           event_add_text_or_null(o, "key_fp", ev->key_fp) &&
           (!ev->prompt || cJSON_AddStringToObject(o, "prompt", ev->prompt));
}

char *ak_event_to_json(const struct ak_event *ev)
{
    char *out = NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        goto out;
    if (!event_fill_json(o, ev))
        goto out;
    out = cJSON_PrintUnformatted(o);
out:
    cJSON_Delete(o);
    return out;
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
        (err = event_get_text(o, "key_fp", ev->key_fp, sizeof ev->key_fp, true)))
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
