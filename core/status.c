/*
 * status.c - every agent's and shared budget's current period against the limit in force
 * (see status.h). Gathered once, then printed by akctl as a table or served as JSON.
 */
#include "core/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PERCENT_FULL 100.0

double ak_status_percent(int64_t spent, int64_t limit)
{
    if (limit < 0)
        return -1.0;
    if (limit == 0)
        return spent > 0 ? PERCENT_FULL : 0.0;
    return (double)spent * PERCENT_FULL / (double)limit;
}

/* ---- known agents ---- */

struct collect {
    struct ak_strs *out;
    enum ak_err rc;
};

static void collect_add(struct collect *c, const char *name)
{
    if (c->rc == AK_OK && name && strcmp(name, AK_AGENT_ALL) != 0)
        c->rc = ak_strs_add_unique(c->out, name);
}

static void collect_budget(enum ak_scope scope, const char *name, enum ak_period_type type,
                           const struct ak_budget_state *st, void *ud)
{
    if (scope == AK_SCOPE_AGENT)
        collect_add(ud, name);
}

static void collect_flags(const char *agent, const struct ak_agent_flags *f, void *ud)
{
    collect_add(ud, agent);
}

enum ak_err ak_status_agents(const struct ak_config *cfg, struct ak_ledger *l, struct ak_strs *out)
{
    struct collect c = { out, AK_OK };
    for (size_t i = 0; i < cfg->n_agents; i++)
        collect_add(&c, cfg->agents[i].name);
    enum ak_err rc = ak_ledger_budgets_each(l, collect_budget, &c);
    if (rc == AK_OK)
        rc = ak_ledger_agents_each(l, collect_flags, &c);
    if (rc == AK_OK)
        rc = c.rc;
    ak_strs_sort(out);
    return rc;
}

/* ---- the fleet side ---- */

#define FLEET_META_MAX 16384
#define FLEET_KEY_MAX 300

static int64_t json_i64(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static void fleet_hosts_parse(const cJSON *arr, struct ak_status_fleet *out)
{
    const cJSON *h;
    cJSON_ArrayForEach(h, arr) {
        if (out->n_hosts == AK_STATUS_FLEET_HOSTS)
            break;
        struct ak_status_fleet_host *d = &out->hosts[out->n_hosts++];
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(h, "host");
        snprintf(d->host, sizeof d->host, "%s", cJSON_IsString(name) ? name->valuestring : "?");
        d->lease = json_i64(h, "lease");
        d->spent = json_i64(h, "spent");
        d->alive = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "alive"));
    }
}

/* The snapshot counts only when it is of the current period. */
static void fleet_snapshot_parse(const char *text, struct ak_status_fleet *out)
{
    cJSON *o = cJSON_Parse(text);
    const cJSON *period = o ? cJSON_GetObjectItemCaseSensitive(o, "period") : NULL;
    if (cJSON_IsString(period) && strcmp(period->valuestring, out->local.period) == 0) {
        const cJSON *host = cJSON_GetObjectItemCaseSensitive(o, "host");
        out->seen = true;
        snprintf(out->host, sizeof out->host, "%s", cJSON_IsString(host) ? host->valuestring : "");
        out->spent = json_i64(o, "spent");
        out->claimed = json_i64(o, "claimed");
        out->free = json_i64(o, "free");
        out->holders = (int)json_i64(o, "holders");
        out->updated_ms = json_i64(o, "updated_at_ms");
        fleet_hosts_parse(cJSON_GetObjectItemCaseSensitive(o, "hosts"), out);
    }
    cJSON_Delete(o);
}

enum ak_err ak_status_fleet_get(struct ak_ledger *l, const struct ak_budget_ref *ref,
                                int64_t now_ms, struct ak_status_fleet *out)
{
    char key[FLEET_KEY_MAX];
    memset(out, 0, sizeof *out);
    if (!ref->fleet)
        return AK_OK;
    out->on = true;
    enum ak_err rc = ak_ledger_fleet_get(l, ref, now_ms, &out->local);
    if (rc != AK_OK)
        return rc;
    char *text = malloc(FLEET_META_MAX);
    if (!text)
        return AK_ERR_NOMEM;
    snprintf(key, sizeof key, AK_META_FLEET_FMT, ref->scope == AK_SCOPE_AGENT ? "agent" : "shared",
             ref->name);
    if (ak_ledger_meta_get(l, key, text, FLEET_META_MAX) == AK_OK)
        fleet_snapshot_parse(text, out);
    free(text);
    return AK_OK;
}

/* ---- gathering ---- */

static enum ak_err flags_get(struct ak_ledger *l, const char *agent, struct ak_agent_flags *f)
{
    enum ak_err rc = ak_ledger_agent_get(l, agent, f);
    if (rc == AK_ERR_NOTFOUND) {
        memset(f, 0, sizeof *f);
        rc = AK_OK;
    }
    return rc;
}

static enum ak_err agent_fill(const struct ak_config *cfg, struct ak_ledger *l, const char *agent,
                              const struct ak_agent_flags *all, int64_t now,
                              struct ak_status_agent *row)
{
    struct ak_agent_flags f;
    enum ak_err rc = flags_get(l, agent, &f);
    if (rc != AK_OK)
        return rc;
    memset(row, 0, sizeof *row);
    row->name = agent;
    row->source = ak_policy_agent_budget(cfg, agent, &f, &row->budget);
    struct ak_budget_ref ref = ak_policy_ref_in(cfg, AK_SCOPE_AGENT, agent, &row->budget, 0);
    rc = ak_ledger_budget_get(l, &ref, now, &row->st);
    if (rc == AK_OK)
        rc = ak_status_fleet_get(l, &ref, now, &row->fleet);
    if (rc != AK_OK)
        return rc;
    row->percent = ak_status_percent(row->st.spent_micros, ref.limit_micros);
    if (f.suspended) {
        row->suspended = true;
        snprintf(row->reason, sizeof row->reason, "%s", f.reason);
    } else if (all->suspended) {
        row->suspended = true;
        snprintf(row->reason, sizeof row->reason, "all agents suspended: %s", all->reason);
    }
    return AK_OK;
}

static enum ak_err shared_fill(const struct ak_config *cfg, struct ak_ledger *l,
                               const struct ak_shared_budget *sb, int64_t now,
                               struct ak_status_shared *row)
{
    memset(row, 0, sizeof *row);
    row->sb = sb;
    row->source = ak_policy_shared_budget(cfg, l, sb, &row->budget);
    struct ak_budget_ref ref = ak_policy_ref_in(cfg, AK_SCOPE_SHARED, sb->name, &row->budget, 0);
    enum ak_err rc = ak_ledger_budget_get(l, &ref, now, &row->st);
    if (rc == AK_OK)
        rc = ak_status_fleet_get(l, &ref, now, &row->fleet);
    row->percent = ak_status_percent(row->st.spent_micros, ref.limit_micros);
    return rc;
}

enum ak_err ak_status_gather(const struct ak_config *cfg, struct ak_ledger *l, int64_t now_ms,
                             struct ak_status *s)
{
    memset(s, 0, sizeof *s);
    enum ak_err rc = ak_status_agents(cfg, l, &s->names);
    if (rc == AK_OK)
        rc = flags_get(l, AK_AGENT_ALL, &s->all);
    if (rc != AK_OK)
        return rc;
    s->agents = calloc(s->names.n + 1, sizeof *s->agents);
    s->shared = calloc(cfg->n_shared + 1, sizeof *s->shared);
    if (!s->agents || !s->shared)
        return AK_ERR_NOMEM;
    for (size_t i = 0; i < s->names.n && rc == AK_OK; i++)
        rc = agent_fill(cfg, l, s->names.v[i], &s->all, now_ms, &s->agents[i]);
    for (size_t i = 0; i < cfg->n_shared && rc == AK_OK; i++, s->n_shared++)
        rc = shared_fill(cfg, l, &cfg->shared[i], now_ms, &s->shared[i]);
    ak_ledger_stats(l, &s->counters);
    return rc;
}

void ak_status_free(struct ak_status *s)
{
    ak_strs_free(&s->names);
    free(s->agents);
    free(s->shared);
    memset(s, 0, sizeof *s);
}

/* ---- JSON (the shape is DESIGN.md's) ---- */

static double usd(int64_t micros)
{
    return (double)micros / (double)AK_MICROS_PER_USD;
}

/* period, spent_usd, limit_usd, percent, calls: the fields agents and shared budgets share. */
static void json_spend(cJSON *o, const struct ak_budget_state *st, const struct ak_budget *b,
                       double percent)
{
    cJSON_AddStringToObject(o, "period", st->period);
    cJSON_AddNumberToObject(o, "spent_usd", usd(st->spent_micros));
    if (b->set)
        cJSON_AddNumberToObject(o, "limit_usd", usd(b->limit_micros));
    else
        cJSON_AddNullToObject(o, "limit_usd");
    if (percent >= 0)
        cJSON_AddNumberToObject(o, "percent", percent);
    else
        cJSON_AddNullToObject(o, "percent");
    cJSON_AddNumberToObject(o, "calls", (double)st->calls);
    cJSON_AddStringToObject(o, "budget_type", b->set ? ak_period_type_name(b->type) : "none");
    cJSON_AddNumberToObject(o, "reserved_usd", usd(st->reserved_micros));
}

/* "scope", and for a fleet budget "fleet": this host's lease beside the fleet's figures. */
static void json_fleet(cJSON *o, const struct ak_status_fleet *f, int64_t limit)
{
    cJSON_AddStringToObject(o, "scope", f->on ? "fleet" : "host");
    if (!f->on)
        return;
    cJSON *j = cJSON_AddObjectToObject(o, "fleet");
    if (!j)
        return;
    cJSON_AddNumberToObject(j, "host_spent_usd", usd(f->local.spent));
    cJSON_AddNumberToObject(j, "host_leased_usd", usd(f->local.leased));
    cJSON_AddNumberToObject(j, "limit_usd", usd(limit));
    cJSON_AddBoolToObject(j, "redis_down", f->local.down);
    if (!f->seen) {
        cJSON_AddNullToObject(j, "spent_usd");
        cJSON_AddNullToObject(j, "leased_usd");
        cJSON_AddNullToObject(j, "hosts_holding");
        return;
    }
    char ts[AK_PERIOD_KEY_LEN * 3];
    ak_time_format(f->updated_ms, ts, sizeof ts);
    cJSON_AddStringToObject(j, "host", f->host);
    cJSON_AddNumberToObject(j, "spent_usd", usd(f->spent));
    cJSON_AddNumberToObject(j, "leased_usd", usd(f->claimed));
    cJSON_AddNumberToObject(j, "free_usd", usd(f->free));
    cJSON_AddNumberToObject(j, "hosts_holding", f->holders);
    cJSON_AddStringToObject(j, "updated_at", ts);
    cJSON *hosts = cJSON_AddArrayToObject(j, "hosts");
    for (size_t i = 0; hosts && i < f->n_hosts; i++) {
        cJSON *h = cJSON_CreateObject();
        if (!h)
            break;
        cJSON_AddStringToObject(h, "host", f->hosts[i].host);
        cJSON_AddNumberToObject(h, "leased_usd", usd(f->hosts[i].lease));
        cJSON_AddNumberToObject(h, "spent_usd", usd(f->hosts[i].spent));
        cJSON_AddBoolToObject(h, "alive", f->hosts[i].alive);
        cJSON_AddItemToArray(hosts, h);
    }
}

static cJSON *agent_json(const struct ak_status_agent *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "agent", r->name);
    json_spend(o, &r->st, &r->budget, r->percent);
    cJSON_AddBoolToObject(o, "suspended", r->suspended);
    if (r->reason[0])
        cJSON_AddStringToObject(o, "reason", r->reason);
    else
        cJSON_AddNullToObject(o, "reason");
    cJSON_AddStringToObject(o, "budget_source", ak_budget_source_name(r->source));
    json_fleet(o, &r->fleet, r->budget.limit_micros);
    return o;
}

static cJSON *shared_json(const struct ak_status_shared *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *agents = cJSON_CreateArray();
    if (!o || !agents) {
        cJSON_Delete(o);
        cJSON_Delete(agents);
        return NULL;
    }
    cJSON_AddStringToObject(o, "name", r->sb->name);
    json_spend(o, &r->st, &r->budget, r->percent);
    for (size_t i = 0; i < r->sb->n_agents; i++)
        cJSON_AddItemToArray(agents, cJSON_CreateString(r->sb->agents[i]));
    cJSON_AddItemToObject(o, "agents", agents);
    cJSON_AddStringToObject(o, "budget_source", ak_budget_source_name(r->source));
    json_fleet(o, &r->fleet, r->budget.limit_micros);
    return o;
}

/* The "cannot happen" paths and the map's own events, host-wide (core/ledger.h). */
static cJSON *counters_json(const struct ak_ledger_stats *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "internal_errors", (double)c->internal_errors);
    cJSON_AddNumberToObject(o, "map_grows", (double)c->map_grows);
    cJSON_AddNumberToObject(o, "pruned_undelivered", (double)c->pruned_undelivered);
    cJSON_AddNumberToObject(o, "map_size", (double)c->map_size);
    return o;
}

cJSON *ak_status_json(const struct ak_status *s, const char *state_dir)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *agents = cJSON_AddArrayToObject(root, "agents");
    cJSON *shared = cJSON_AddArrayToObject(root, "shared_budgets");
    if (!root || !agents || !shared) {
        cJSON_Delete(root);
        return NULL;
    }
    for (size_t i = 0; i < s->names.n; i++)
        cJSON_AddItemToArray(agents, agent_json(&s->agents[i]));
    for (size_t i = 0; i < s->n_shared; i++)
        cJSON_AddItemToArray(shared, shared_json(&s->shared[i]));
    cJSON_AddBoolToObject(root, "all_suspended", s->all.suspended);
    if (s->all.suspended)
        cJSON_AddStringToObject(root, "all_suspended_reason", s->all.reason);
    if (state_dir)
        cJSON_AddStringToObject(root, "state_dir", state_dir);
    cJSON_AddItemToObject(root, "counters", counters_json(&s->counters));
    return root;
}
