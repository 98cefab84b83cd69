/*
 * dashboard_api.c - the dashboard's read-only API:
 *   GET /api/status                 the JSON of `akctl status --json` (core/status.c)
 *   GET /api/events?agent=&since=&limit=&after=
 *                                   the latest matching event records (oldest first), as stored
 *   GET /api/report?by=agent|model|provider|day|hour[,...]&agent=&since=
 *                                   totals from the event records (core/report.c); several
 *                                   groupings come from one pass over the events
 *   GET /api/health                 exporters (cursor, behind, failures), alerts sent, outbox
 * Every one reads the same core functions as akctl, so the page and akctl cannot disagree.
 */
#include "collector/dashboard_impl.h"

#include "core/event.h"
#include "core/period.h"
#include "core/report.h"
#include "core/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_DEFAULT 100
#define EVENTS_MAX 1000
#define EVENTS_WINDOW 2000            /* records read per step when walking back */
#define ALERT_PREFIX "alert:"
#define NOTICE_PREFIX "alertcd:"
#define TIME_TEXT 32

/* ---- helpers ---- */

static bool parse_count(const char *s, long max, long *out)
{
    char *end = NULL;
    if (!s || !*s || *s == '-')
        return false;
    long v = strtol(s, &end, 10);
    if (*end || v <= 0 || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_seq(const char *s, uint64_t *out)
{
    char *end = NULL;
    if (!s || !*s || *s == '-')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return false;
    *out = v;
    return true;
}

static cJSON *time_json(int64_t ms)
{
    char ts[TIME_TEXT];
    if (ms <= 0)
        return cJSON_CreateNull();
    ak_time_format(ms, ts, sizeof ts);
    return cJSON_CreateString(ts);
}

/* ---- status ---- */

enum MHD_Result akd_api_status(struct akd_req *r)
{
    struct akc *c = r->d->c;
    struct ak_status s;
    pthread_rwlock_rdlock(&c->cfg_lock);
    enum ak_err rc = ak_status_gather(c->cfg, c->ledger, ak_now_ms(), &s);
    cJSON *json = rc == AK_OK ? ak_status_json(&s, c->state_dir) : NULL;
    pthread_rwlock_unlock(&c->cfg_lock);
    ak_status_free(&s);
    if (rc != AK_OK)
        return akd_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "status: %s", ak_strerror(rc));
    return akd_json(r, MHD_HTTP_OK, json);
}

/* ---- events ---- */

struct ev_window {
    const char *agent;
    bool has_since;
    int64_t since_ms;
    char **found;                 /* matching records of this window, in order */
    size_t n, cap;
    uint64_t hi;                  /* records above this belong to a later window */
    bool keep_prompts;            /* privacy.save_prompts: else a stored prompt is dropped */
    bool nomem;
};

static int ev_window_on(uint64_t seq, const char *json, size_t len, void *ud)
{
    struct ev_window *w = ud;
    struct ak_event ev;
    if (seq > w->hi)
        return 1;
    if (ak_event_from_json(json, len, &ev) != AK_OK)
        return 0;
    bool match = (!w->agent || strcmp(ev.agent, w->agent) == 0) &&
                 (!w->has_since || ev.ts_ms >= w->since_ms);
    ak_event_clear(&ev);
    if (!match)
        return 0;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : EVENTS_DEFAULT;
        char **v = realloc(w->found, cap * sizeof *v);
        if (!v) {
            w->nomem = true;
            return 1;
        }
        w->found = v;
        w->cap = cap;
    }
    if (!(w->found[w->n] = strndup(json, len))) {
        w->nomem = true;
        return 1;
    }
    w->n++;
    return 0;
}

static void ev_window_clear(struct ev_window *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->found[i]);
    w->n = 0;
}

/* Prepends the newest `room` records of the window to out (kept oldest first). */
static bool ev_prepend(cJSON *out, struct ev_window *w, long room)
{
    size_t take = w->n < (size_t)room ? w->n : (size_t)room;
    for (size_t k = 0; k < take; k++) {
        const char *json = w->found[w->n - 1 - k];
        cJSON *item = cJSON_Parse(json);
        if (item && !w->keep_prompts)
            cJSON_DeleteItemFromObjectCaseSensitive(item, "prompt");
        if (!item || !cJSON_InsertItemInArray(out, 0, item)) {
            cJSON_Delete(item);
            return false;
        }
    }
    return true;
}

/* Walks back from the newest record in windows until `limit` matches or the start. */
static enum ak_err events_latest(struct ak_ledger *l, struct ev_window *w, uint64_t after,
                                 long limit, cJSON *out)
{
    uint64_t last = 0;
    enum ak_err rc = ak_ledger_events_last_seq(l, &last);
    if (rc == AK_ERR_NOTFOUND)
        return AK_OK;
    long have = 0;
    for (uint64_t hi = last; rc == AK_OK && hi > after && have < limit;) {
        uint64_t lo = hi > after + EVENTS_WINDOW ? hi - EVENTS_WINDOW : after;
        w->hi = hi;
        ev_window_clear(w);
        rc = ak_ledger_events_scan(l, lo, EVENTS_WINDOW, ev_window_on, w);
        if (rc == AK_OK && w->nomem)
            rc = AK_ERR_NOMEM;
        if (rc == AK_OK && !ev_prepend(out, w, limit - have))
            rc = AK_ERR_NOMEM;
        have += (long)w->n;
        hi = lo;
    }
    return rc;
}

enum MHD_Result akd_api_events(struct akd_req *r)
{
    struct ev_window w = { .agent = akd_arg(r, "agent") };
    long limit = EVENTS_DEFAULT;
    uint64_t after = 0;
    const char *since = akd_arg(r, "since"), *lim = akd_arg(r, "limit"), *aft = akd_arg(r, "after");
    if (w.agent && !*w.agent)
        w.agent = NULL;
    if (since && *since) {
        if (!ak_since_parse(since, ak_now_ms(), &w.since_ms))
            return akd_error(r, MHD_HTTP_BAD_REQUEST, "since: '%s' is not a time (RFC 3339, a "
                             "date or 15m/2h/7d)", since);
        w.has_since = true;
    }
    if (lim && !parse_count(lim, EVENTS_MAX, &limit))
        return akd_error(r, MHD_HTTP_BAD_REQUEST, "limit: a number from 1 to %d", EVENTS_MAX);
    if (aft && !parse_seq(aft, &after))
        return akd_error(r, MHD_HTTP_BAD_REQUEST, "after: a sequence number");
    pthread_rwlock_rdlock(&r->d->c->cfg_lock);
    w.keep_prompts = r->d->c->cfg->save_prompts;
    pthread_rwlock_unlock(&r->d->c->cfg_lock);
    cJSON *out = cJSON_CreateArray();
    enum ak_err rc = out ? events_latest(r->d->c->ledger, &w, after, limit, out) : AK_ERR_NOMEM;
    ev_window_clear(&w);
    free(w.found);
    if (rc != AK_OK) {
        cJSON_Delete(out);
        return akd_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "events: %s", ak_strerror(rc));
    }
    return akd_json(r, MHD_HTTP_OK, out);
}

/* ---- report ---- */

#define REPORTS_MAX 5             /* one of each grouping */
#define BY_TEXT 64

/* by=hour or by=hour,model,provider: the groupings asked for (each once); 0 when bad. */
static size_t report_bys(const char *by, enum ak_report_by out[REPORTS_MAX])
{
    char text[BY_TEXT];
    size_t n = 0;
    if (!by || !*by) {
        out[0] = AK_REPORT_AGENT;
        return 1;
    }
    if (strlen(by) >= sizeof text)
        return 0;
    memcpy(text, by, strlen(by) + 1);
    for (char *save = NULL, *t = strtok_r(text, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        enum ak_report_by b;
        if (n == REPORTS_MAX || !ak_report_by_parse(t, &b))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (out[i] == b)
                return 0;
        out[n++] = b;
    }
    return n;
}

/* One grouping: {"by", "groups"}; several (by=a,b): {"reports": {"a": {...}, "b": {...}}}. */
static cJSON *reports_json(struct ak_report *reps, size_t n, size_t unreadable)
{
    cJSON *root = n == 1 ? ak_report_json(&reps[0]) : cJSON_CreateObject();
    cJSON *all = n == 1 || !root ? NULL : cJSON_AddObjectToObject(root, "reports");
    for (size_t i = 0; all && i < n; i++) {
        cJSON *one = ak_report_json(&reps[i]);
        if (!one || !cJSON_AddItemToObject(all, ak_report_by_name(reps[i].by), one)) {
            cJSON_Delete(one);
            cJSON_Delete(root);
            return NULL;
        }
    }
    if (root && n > 1 && !all) {
        cJSON_Delete(root);
        return NULL;
    }
    if (root)
        cJSON_AddNumberToObject(root, "unreadable", (double)unreadable);
    return root;
}

enum MHD_Result akd_api_report(struct akd_req *r)
{
    struct ak_report reps[REPORTS_MAX];
    enum ak_report_by bys[REPORTS_MAX];
    const char *agent = akd_arg(r, "agent"), *since = akd_arg(r, "since");
    size_t unreadable = 0, n = report_bys(akd_arg(r, "by"), bys);
    int64_t since_ms = 0;
    if (n == 0)
        return akd_error(r, MHD_HTTP_BAD_REQUEST, "by: one or more (comma-separated) of "
                         AK_REPORT_BY_CHOICES);
    if (since && *since && !ak_since_parse(since, ak_now_ms(), &since_ms))
        return akd_error(r, MHD_HTTP_BAD_REQUEST, "since: '%s' is not a time", since);
    memset(reps, 0, sizeof reps);
    for (size_t i = 0; i < n; i++) {
        reps[i].by = bys[i];
        reps[i].agent = agent && *agent ? agent : NULL;
        reps[i].has_since = since && *since;
        reps[i].since_ms = since_ms;
    }
    enum ak_err rc = ak_report_scan_many(r->d->c->ledger, reps, n, &unreadable);
    cJSON *json = rc == AK_OK ? reports_json(reps, n, unreadable) : NULL;
    for (size_t i = 0; i < n; i++)
        ak_report_free(&reps[i]);
    if (rc != AK_OK)
        return akd_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "report: %s", ak_strerror(rc));
    return akd_json(r, MHD_HTTP_OK, json);
}

/* ---- health: exporters, alerts, outbox ---- */

static cJSON *exporters_json(struct akd *d, uint64_t last, int64_t now)
{
    struct akd_exporter_health ex[AKD_MAX_EXPORTERS];
    size_t n;
    pthread_mutex_lock(&d->mu);
    n = d->n_ex;
    memcpy(ex, d->ex, sizeof ex);
    pthread_mutex_unlock(&d->mu);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        char cursor_name[AKC_EXPORTER_NAME + sizeof AKC_CURSOR_PREFIX];
        uint64_t cur = 0;
        int len = snprintf(cursor_name, sizeof cursor_name, "%s%.*s", AKC_CURSOR_PREFIX,
                           AKC_EXPORTER_NAME - 1, ex[i].name);
        if (len > 0 && (size_t)len < sizeof cursor_name)
            (void)ak_ledger_cursor_get(d->c->ledger, cursor_name, &cur);
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            break;
        }
        cJSON_AddStringToObject(o, "name", ex[i].name);
        cJSON_AddStringToObject(o, "kind", ex[i].kind);
        cJSON_AddNumberToObject(o, "delivered_seq", (double)cur);
        cJSON_AddNumberToObject(o, "behind", (double)(last > cur ? last - cur : 0));
        cJSON_AddNumberToObject(o, "failures", ex[i].failures);
        cJSON_AddStringToObject(o, "state", ex[i].failures ? "failing"
                                            : last > cur ? "behind" : "delivered");
        cJSON_AddItemToObject(o, "retry_at", ex[i].failures && ex[i].next_ms > now
                                                 ? time_json(ex[i].next_ms) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "last_export", time_json(ex[i].last_export_ms));
    }
    return arr;
}

/* alert:<scope>:<name>:<threshold>:<period> = when it fired; with ":<channel>" = when that
 * channel had it. A parent key sorts just before its channels. */
struct alerts_list {
    cJSON *arr;
    cJSON *last;                  /* the latest whole alert */
};

static void alert_on_meta(const char *key, const char *val, void *ud)
{
    struct alerts_list *al = ud;
    const char *last_key = al->last ? cJSON_GetStringValue(cJSON_GetObjectItem(al->last, "key")) : NULL;
    size_t ll = last_key ? strlen(last_key) : 0;
    int64_t ms = strtoll(val, NULL, 10);
    if (last_key && strncmp(key, last_key, ll) == 0 && key[ll] == ':') {
        cJSON *chans = cJSON_GetObjectItem(al->last, "channels");
        cJSON_AddItemToArray(chans, cJSON_CreateString(key + ll + 1));
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(al->arr, o)) {
        cJSON_Delete(o);
        return;
    }
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddItemToObject(o, "sent_at", time_json(ms));
    cJSON_AddArrayToObject(o, "channels");
    al->last = o;
}

static void notice_on_meta(const char *key, const char *val, void *ud)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(ud, o)) {
        cJSON_Delete(o);
        return;
    }
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddItemToObject(o, "sent_at", time_json(strtoll(val, NULL, 10)));
}

enum MHD_Result akd_api_health(struct akd_req *r)
{
    struct akc *c = r->d->c;
    uint64_t last = 0, pending = 0;
    int64_t now = ak_now_ms();
    (void)ak_ledger_events_last_seq(c->ledger, &last);
    (void)ak_ledger_outbox_pending(c->ledger, &pending);
    cJSON *root = cJSON_CreateObject();
    struct alerts_list al = { .arr = cJSON_CreateArray() };
    cJSON *notices = cJSON_CreateArray();
    if (!root || !al.arr || !notices) {
        cJSON_Delete(al.arr);
        cJSON_Delete(notices);
        cJSON_Delete(root);
        return akd_json(r, MHD_HTTP_OK, NULL);
    }
    (void)ak_ledger_meta_each(c->ledger, ALERT_PREFIX, alert_on_meta, &al);
    (void)ak_ledger_meta_each(c->ledger, NOTICE_PREFIX, notice_on_meta, notices);
    cJSON_AddNumberToObject(root, "last_seq", (double)last);
    cJSON_AddNumberToObject(root, "outbox_pending", (double)pending);
    cJSON_AddItemToObject(root, "exporters", exporters_json(r->d, last, now));
    cJSON_AddItemToObject(root, "alerts", al.arr);
    cJSON_AddItemToObject(root, "notices", notices);
    pthread_rwlock_rdlock(&c->cfg_lock);
    cJSON_AddBoolToObject(root, "save_prompts", c->cfg->save_prompts);
    cJSON_AddStringToObject(root, "mode", c->cfg->mode == AK_MODE_ENFORCE   ? "enforce"
                                          : c->cfg->mode == AK_MODE_MONITOR ? "monitor"
                                                                            : "off");
    pthread_rwlock_unlock(&c->cfg_lock);
    cJSON_AddItemToObject(root, "now", time_json(now));
    return akd_json(r, MHD_HTTP_OK, root);
}
