/*
 * report.c - grouping event records into totals (see report.h). Groups are found by a
 * linear search: a report has tens to a few thousand keys.
 */
#include "core/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/period.h"

#define DAY_KEY_LEN 10            /* "2026-11-22" out of an RFC 3339 time */
#define HOUR_KEY_LEN 13           /* "2026-11-22T13" */
#define TIME_TEXT 32
#define SCAN_BATCH 1000
#define GROUPS_FIRST 16

static const char *const by_names[] = {
    [AK_REPORT_AGENT] = "agent", [AK_REPORT_MODEL] = "model", [AK_REPORT_PROVIDER] = "provider",
    [AK_REPORT_DAY] = "day", [AK_REPORT_HOUR] = "hour",
};

const char *ak_report_by_name(enum ak_report_by by)
{
    return (size_t)by < AK_ARRAY_LEN(by_names) ? by_names[by] : "agent";
}

bool ak_report_by_parse(const char *s, enum ak_report_by *out)
{
    for (size_t i = 0; s && i < AK_ARRAY_LEN(by_names); i++) {
        if (strcmp(s, by_names[i]) == 0) {
            *out = (enum ak_report_by)i;
            return true;
        }
    }
    return false;
}

static struct ak_report_group *group_get(struct ak_report *r, const char *key)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->groups[i].key, key) == 0)
            return &r->groups[i];
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : GROUPS_FIRST;
        struct ak_report_group *g = realloc(r->groups, cap * sizeof *g);
        if (!g)
            return NULL;
        r->groups = g;
        r->cap = cap;
    }
    struct ak_report_group *g = &r->groups[r->n++];
    memset(g, 0, sizeof *g);
    snprintf(g->key, sizeof g->key, "%s", key);
    return g;
}

static bool decision_blocked(enum ak_decision d)
{
    return d == AK_DEC_BLOCKED_BUDGET || d == AK_DEC_BLOCKED_SUSPENDED ||
           d == AK_DEC_BLOCKED_GUARDRAIL;
}

void ak_report_group_add(struct ak_report_group *total, const struct ak_report_group *g)
{
    total->calls += g->calls;
    total->blocked += g->blocked;
    total->unmetered += g->unmetered;
    total->input_tokens += g->input_tokens;
    total->output_tokens += g->output_tokens;
    total->cost_micros += g->cost_micros;
}

static const char *event_key(const struct ak_report *r, const struct ak_event *ev, char *buf,
                             size_t len)
{
    switch (r->by) {
    case AK_REPORT_MODEL: return ev->model[0] ? ev->model : "(unknown)";
    case AK_REPORT_PROVIDER: return ak_provider_name(ev->provider);
    case AK_REPORT_DAY:
    case AK_REPORT_HOUR:
        ak_time_format(ev->ts_ms, buf, len);
        buf[r->by == AK_REPORT_DAY ? DAY_KEY_LEN : HOUR_KEY_LEN] = '\0';
        return buf;
    case AK_REPORT_AGENT:
    default: return ev->agent;
    }
}

enum ak_err ak_report_add(struct ak_report *r, const struct ak_event *ev)
{
    char buf[TIME_TEXT];
    if (!ak_event_is_call(ev) || (r->has_since && ev->ts_ms < r->since_ms) ||
        (r->agent && strcmp(ev->agent, r->agent) != 0))
        return AK_OK;
    struct ak_report_group *g = group_get(r, event_key(r, ev, buf, sizeof buf));
    if (!g)
        return AK_ERR_NOMEM;
    bool blocked = decision_blocked(ev->decision);
    struct ak_report_group one = {
        .calls = blocked ? 0 : 1, .blocked = blocked ? 1 : 0,
        .unmetered = ev->decision == AK_DEC_UNMETERED ? 1 : 0,
        .input_tokens = ev->usage.input_tokens, .output_tokens = ev->usage.output_tokens,
        .cost_micros = ev->cost_micros,
    };
    ak_report_group_add(g, &one);
    return AK_OK;
}

struct scan_run {
    struct ak_report *rs;
    size_t n;
    size_t *unreadable;
    uint64_t after;
    size_t seen;
    enum ak_err rc;
};

static int scan_on_record(uint64_t seq, const char *json, size_t len, void *ud)
{
    struct scan_run *s = ud;
    struct ak_event ev;
    s->seen++;
    s->after = seq;
    if (ak_event_from_json(json, len, &ev) != AK_OK) {
        if (s->unreadable)
            (*s->unreadable)++;
        return 0;
    }
    for (size_t i = 0; i < s->n && s->rc == AK_OK; i++)
        s->rc = ak_report_add(&s->rs[i], &ev);
    ak_event_clear(&ev);
    return s->rc != AK_OK;
}

enum ak_err ak_report_scan(struct ak_ledger *l, struct ak_report *r, size_t *unreadable)
{
    return ak_report_scan_many(l, r, 1, unreadable);
}

enum ak_err ak_report_scan_many(struct ak_ledger *l, struct ak_report *rs, size_t n,
                                size_t *unreadable)
{
    struct scan_run s = { .rs = rs, .n = n, .unreadable = unreadable };
    do {
        s.seen = 0;
        enum ak_err rc = ak_ledger_events_scan(l, s.after, SCAN_BATCH, scan_on_record, &s);
        if (rc != AK_OK)
            return rc;
    } while (s.seen > 0 && s.rc == AK_OK);
    for (size_t i = 0; s.rc == AK_OK && i < n; i++)
        ak_report_sort(&rs[i]);
    return s.rc;
}

static int group_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ak_report_group *)a)->key, ((const struct ak_report_group *)b)->key);
}

void ak_report_sort(struct ak_report *r)
{
    if (r->n > 1)
        qsort(r->groups, r->n, sizeof *r->groups, group_cmp);
}

static cJSON *group_json(const struct ak_report_group *g)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "key", g->key);
    cJSON_AddNumberToObject(o, "calls", (double)g->calls);
    cJSON_AddNumberToObject(o, "blocked", (double)g->blocked);
    cJSON_AddNumberToObject(o, "unmetered", (double)g->unmetered);
    cJSON_AddNumberToObject(o, "input_tokens", (double)g->input_tokens);
    cJSON_AddNumberToObject(o, "output_tokens", (double)g->output_tokens);
    cJSON_AddNumberToObject(o, "cost_usd", (double)g->cost_micros / (double)AK_MICROS_PER_USD);
    return o;
}

cJSON *ak_report_json(const struct ak_report *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *groups = cJSON_AddArrayToObject(root, "groups");
    if (!root || !groups || !cJSON_AddStringToObject(root, "by", ak_report_by_name(r->by))) {
        cJSON_Delete(root);
        return NULL;
    }
    for (size_t i = 0; i < r->n; i++) {
        cJSON *g = group_json(&r->groups[i]);
        if (!g || !cJSON_AddItemToArray(groups, g)) {
            cJSON_Delete(g);
            cJSON_Delete(root);
            return NULL;
        }
    }
    return root;
}

void ak_report_free(struct ak_report *r)
{
    free(r->groups);
    r->groups = NULL;
    r->n = r->cap = 0;
}
