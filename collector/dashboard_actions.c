/*
 * dashboard_actions.c - what the dashboard can change, each one ledger call as akctl makes it
 * (tools/akctl_admin.c), so the shim sees it on its next flags check:
 *   POST /api/agents/NAME/suspend   {"reason": "...", "now": true}   (now: cut streams in flight)
 *   POST /api/agents/NAME/resume    {"reason": "..."}
 *   POST /api/agents/NAME/reset     {"reason": "..."}
 *   POST /api/agents/NAME/budget    {"type": "daily|monthly|total", "limit_usd": 5, "reason": ...}
 *                                   {"type": "default"} drops the override (the config's again)
 *   POST /api/shared/NAME/budget    the same for a shared budget
 *   POST /api/all/suspend|resume    the host-wide stop ("*", as `akctl suspend --all`); resume
 *                                   lifts it and every agent's own suspension
 * Bodies are JSON objects; a body that is not, an unknown key, a wrong type, an unknown agent
 * or shared budget gets a 4xx with one sentence. Every action done is recorded as an event
 * (decision "control", operation = the action, reason = why, actor = "dashboard PEER").
 */
#include "collector/dashboard_impl.h"

#include "core/event.h"
#include "core/status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_MAX_LEN (AK_EV_NAME - 1)   /* it becomes the event's agent */
#define USD_TEXT 32
#define LIMIT_USD_MAX 1e9
#define DEFAULT_SUSPEND_REASON "suspended from the dashboard"
#define ACTOR_NAME "dashboard"

enum act { ACT_SUSPEND = 0, ACT_RESUME, ACT_RESET, ACT_BUDGET };
static const char *const act_names[] = {
    [ACT_SUSPEND] = "suspend", [ACT_RESUME] = "resume", [ACT_RESET] = "reset",
    [ACT_BUDGET] = "budget",
};

/* What the body asked for. */
struct act_req {
    enum act act;
    bool shared;
    char name[NAME_MAX_LEN + 1];
    char reason[AK_REASON_LEN];
    bool now;
    bool all;                     /* the host-wide stop */
    struct ak_budget budget;      /* !set: back to the configured budget */
    char done[AK_EV_REASON];      /* what was done, for the reply and the event */
};

/* ---- the body ---- */

static const char *body_key_check(const cJSON *o, enum act act)
{
    for (const cJSON *it = o->child; it; it = it->next) {
        const char *k = it->string;
        bool ok = strcmp(k, "reason") == 0 || (act == ACT_SUSPEND && strcmp(k, "now") == 0) ||
                  (act == ACT_BUDGET && (strcmp(k, "type") == 0 || strcmp(k, "limit_usd") == 0));
        if (!ok)
            return k;
    }
    return NULL;
}

static const char *body_budget(const cJSON *o, struct ak_budget *b)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(o, "limit_usd");
    char text[USD_TEXT];
    memset(b, 0, sizeof *b);
    if (!cJSON_IsString(type))
        return "\"type\" must be \"daily\", \"monthly\", \"total\" or \"default\"";
    if (strcmp(type->valuestring, "default") == 0)
        return limit ? "\"limit_usd\" does not go with \"type\": \"default\"" : NULL;
    if (strcmp(type->valuestring, "daily") == 0)
        b->type = AK_PERIOD_DAILY;
    else if (strcmp(type->valuestring, "monthly") == 0)
        b->type = AK_PERIOD_MONTHLY;
    else if (strcmp(type->valuestring, "total") == 0)
        b->type = AK_PERIOD_TOTAL;
    else
        return "\"type\" must be \"daily\", \"monthly\", \"total\" or \"default\"";
    if (!cJSON_IsNumber(limit) || !isfinite(limit->valuedouble) || limit->valuedouble < 0 ||
        limit->valuedouble > LIMIT_USD_MAX)
        return "\"limit_usd\" must be a number of USD, 0 or more";
    snprintf(text, sizeof text, "%.6f", limit->valuedouble);
    if (!ak_usd_parse(text, &b->limit_micros))
        return "\"limit_usd\" must be a number of USD, 0 or more";
    b->set = true;
    return NULL;
}

/* Reads the body into q; NULL on success, else what is wrong. */
#define WHY_LEN 128

static const char *body_parse(const struct ak_buf *body, struct act_req *q, char why[WHY_LEN])
{
    cJSON *o = body->len ? cJSON_ParseWithLength((const char *)body->data, body->len)
                         : cJSON_CreateObject();
    const char *err = NULL;
    if (!cJSON_IsObject(o)) {
        err = "the body is not a JSON object";
        goto out;
    }
    const char *bad = body_key_check(o, q->act);
    if (bad) {
        snprintf(why, WHY_LEN, "unknown key \"%.60s\" for %s", bad, act_names[q->act]);
        err = why;
        goto out;
    }
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(o, "reason");
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(o, "now");
    if (reason && (!cJSON_IsString(reason) || strlen(reason->valuestring) >= AK_REASON_LEN)) {
        err = "\"reason\" must be a string shorter than 200 bytes";
        goto out;
    }
    if (reason)
        snprintf(q->reason, sizeof q->reason, "%s", reason->valuestring);
    if (now && !cJSON_IsBool(now)) {
        err = "\"now\" must be true or false";
        goto out;
    }
    q->now = cJSON_IsTrue(now);
    if (q->act == ACT_BUDGET)
        err = body_budget(o, &q->budget);
out:
    cJSON_Delete(o);
    return err;
}

/* ---- the path ---- */

/* "agents/NAME/ACTION", "shared/NAME/budget" or "all/suspend|resume" into q; false when it
 * names no action. */
static bool path_parse(const char *rest, struct act_req *q)
{
    if (strcmp(rest, "all/suspend") == 0 || strcmp(rest, "all/resume") == 0) {
        q->all = true;
        q->act = rest[strlen("all/")] == 's' ? ACT_SUSPEND : ACT_RESUME;
        snprintf(q->name, sizeof q->name, "%s", AK_AGENT_ALL);
        return true;
    }
    q->shared = strncmp(rest, "shared/", strlen("shared/")) == 0;
    const char *name = strchr(rest, '/') + 1;
    const char *slash = strchr(name, '/');
    if (!slash || slash == name || (size_t)(slash - name) > NAME_MAX_LEN)
        return false;
    memcpy(q->name, name, (size_t)(slash - name));
    q->name[slash - name] = '\0';
    for (size_t i = 0; i < AK_ARRAY_LEN(act_names); i++) {
        if (strcmp(slash + 1, act_names[i]) == 0) {
            q->act = (enum act)i;
            return !q->shared || q->act == ACT_BUDGET;
        }
    }
    return false;
}

static bool agent_known(struct akc *c, const char *name)
{
    struct ak_strs all = { 0 };
    bool known = ak_status_agents(c->cfg, c->ledger, &all) == AK_OK && ak_strs_has(&all, name);
    ak_strs_free(&all);
    return known;
}

/* ---- doing it ---- */

static void budget_text(const struct ak_budget *b, char *out, size_t len)
{
    char usd[USD_TEXT];
    if (!b->set) {
        snprintf(out, len, "override removed: the configured budget applies");
        return;
    }
    ak_usd_format(b->limit_micros, usd, sizeof usd);
    snprintf(out, len, "%s budget set to %s", ak_period_type_name(b->type), usd);
}

#define WHAT_LEN (AK_EV_REASON - AK_REASON_LEN - 2)   /* what was done, then ": " reason */

static enum ak_err act_do(struct akc *c, struct act_req *q, int64_t now)
{
    char what[WHAT_LEN];
    enum ak_err rc;
    switch (q->act) {
    case ACT_SUSPEND:
        if (!q->reason[0])
            snprintf(q->reason, sizeof q->reason, "%s", DEFAULT_SUSPEND_REASON);
        rc = ak_ledger_suspend(c->ledger, q->name, q->reason, true, q->now, NULL, now);
        snprintf(what, sizeof what, "%ssuspended%s", q->all ? "all agents " : "",
                 q->now ? " (streams cut)" : "");
        break;
    case ACT_RESUME:
        rc = ak_ledger_resume(c->ledger, q->name);
        if (rc == AK_ERR_NOTFOUND)          /* not suspended: nothing to lift */
            rc = AK_OK;
        snprintf(what, sizeof what, "%sresumed", q->all ? "all agents " : "");
        break;
    case ACT_RESET:
        rc = ak_ledger_reset(c->ledger, q->name, now);
        snprintf(what, sizeof what, "spend for the current period reset to $0.00");
        break;
    case ACT_BUDGET:
    default:
        rc = q->shared ? ak_ledger_set_shared_budget(c->ledger, q->name, &q->budget)
                       : ak_ledger_set_budget(c->ledger, q->name, &q->budget);
        budget_text(&q->budget, what, sizeof what);
        break;
    }
    snprintf(q->done, sizeof q->done, "%s%s%s", what, q->reason[0] ? ": " : "", q->reason);
    return rc;
}

/* The action as an event record: who (the dashboard and the peer), what, why. */
static enum ak_err act_record(struct akc *c, const struct akd_req *r, const struct act_req *q,
                              int64_t now)
{
    struct ak_event ev;
    memset(&ev, 0, sizeof ev);
    ak_event_new_id(ev.event_id);
    ev.ts_ms = now;
    snprintf(ev.agent, sizeof ev.agent, "%s", q->name);
    snprintf(ev.operation, sizeof ev.operation, "%s%s", q->shared ? "shared_" : "",
             act_names[q->act]);
    snprintf(ev.host, sizeof ev.host, "%s", ACTOR_NAME);
    snprintf(ev.reason, sizeof ev.reason, "%s", q->done);
    snprintf(ev.actor, sizeof ev.actor, "%s %s", ACTOR_NAME, r->peer);
    ev.decision = AK_DEC_CONTROL;
    ev.cost_source = AK_COST_USAGE;
    ev.pid = (int)getpid();
    ssize_t n = readlink("/proc/self/exe", ev.exe, sizeof ev.exe - 1);
    ev.exe[n > 0 ? n : 0] = '\0';
    char *json = ak_event_to_json(&ev);
    if (!json)
        return AK_ERR_NOMEM;
    struct ak_commit cm = { .event_json = json, .event_len = strlen(json), .now_ms = now };
    enum ak_err rc = ak_ledger_commit(c->ledger, &cm, NULL);
    free(json);
    return rc;
}

static enum MHD_Result act_reply(struct akd_req *r, const struct act_req *q)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddBoolToObject(o, "ok", true);
        cJSON_AddStringToObject(o, q->shared ? "shared_budget" : "agent", q->name);
        cJSON_AddStringToObject(o, "action", act_names[q->act]);
        cJSON_AddStringToObject(o, "message", q->done);
    }
    return akd_json(r, MHD_HTTP_OK, o);
}

enum MHD_Result akd_api_action(struct akd_req *r, const char *rest)
{
    struct akc *c = r->d->c;
    struct act_req q;
    char why[WHY_LEN];
    memset(&q, 0, sizeof q);
    if (!path_parse(rest, &q))
        return akd_error(r, MHD_HTTP_NOT_FOUND, "expected POST /api/agents/NAME/suspend|resume|"
                         "reset|budget, /api/shared/NAME/budget or /api/all/suspend|resume");
    const char *bad = body_parse(&r->body, &q, why);
    if (bad)
        return akd_error(r, MHD_HTTP_BAD_REQUEST, "%s", bad);
    pthread_rwlock_rdlock(&c->cfg_lock);
    bool known = q.all || (q.shared ? ak_config_shared(c->cfg, q.name) != NULL
                                    : strcmp(q.name, AK_AGENT_ALL) != 0 && agent_known(c, q.name));
    pthread_rwlock_unlock(&c->cfg_lock);
    if (!known)
        return akd_error(r, MHD_HTTP_NOT_FOUND, "unknown %s '%s' (not configured, never seen)",
                         q.shared ? "shared budget" : "agent", q.name);
    int64_t now = ak_now_ms();
    enum ak_err rc = act_do(c, &q, now);
    if (rc != AK_OK)
        return akd_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s %s: %s", act_names[q.act], q.name,
                         ak_strerror(rc));
    ak_warn("dashboard: %s %s by %s", q.name, q.done, r->peer);
    rc = act_record(c, r, &q, now);
    if (rc != AK_OK)
        return akd_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s %s done, but its event could not "
                         "be recorded: %s", act_names[q.act], q.name, ak_strerror(rc));
    return act_reply(r, &q);
}
