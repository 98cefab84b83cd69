/*
 * fleet.c - akcollector's half of fleet budgets: each pass, for every fleet-scoped budget in
 * force (agents' own and shared), it reads this host's record (spent, in flight, lease) and
 * calls Redis when there is something to say: a new committed total to push, a lease below
 * low_water x chunk, a waiting call's want, a heartbeat due (the lease must be refreshed
 * before lease.ttl / 2, and the host's alive key before lease.ttl). What Redis answers is
 * written back to the ledger: the lease (valid for ttl / 2), the fleet's unleased rest, and a
 * snapshot for akctl in ledger meta.
 *
 * Order makes every failure safe: a lease grows in Redis first, then in the ledger (a lost
 * reply leaves lease idle in Redis, picked up at the next pass); it shrinks in the ledger
 * first, then in Redis. Redis out of reach: the ledger is marked down, the lease stands until
 * its time, nothing is pushed; the totals go whole when Redis is back, so nothing is lost or
 * counted twice.
 */
#include "collector/fleet.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/policy.h"
#include "core/status.h"

#define HEARTBEAT_MAX_MS 1000          /* at most this long between two calls per budget */
#define HEARTBEAT_TTL_DIVISOR 3        /* ... and three per lease.ttl */
#define LEASE_VALID_TTL_DIVISOR 2      /* a lease holds for ttl / 2 after Redis confirmed it */
#define KEY_GRACE_MS (7 * AK_MS_PER_DAY)   /* a period's hash outlives it by a week */
#define KEY_MAX 600
#define META_KEY_MAX 300
#define HOST_ID_MAX 128

struct fleet_entry {
    enum ak_scope scope;
    char *name;
    enum ak_period_type type;
    int64_t limit;
    uint8_t mode;                 /* enum ak_ref_fleet */
    char period[AK_PERIOD_KEY_LEN];
    int64_t period_now_ms;        /* a time inside `period` */
    int64_t pushed_spent;         /* -1: nothing pushed yet */
    int64_t last_sync_mono;       /* 0: never */
    int64_t last_free;
    char *snapshot;               /* the meta JSON last written */
    bool seen;                    /* in force at this pass */
};

struct akc_fleet {
    struct akc_redis *redis;
    char host[HOST_ID_MAX];
    struct fleet_entry *e;
    size_t n, cap;
};

enum ak_err akc_fleet_new(const struct ak_config *cfg, struct akc_fleet **out)
{
    struct akc_fleet *f = calloc(1, sizeof *f);
    if (!f)
        return AK_ERR_NOMEM;
    if (akc_redis_new(&f->redis) != AK_OK) {
        free(f);
        return AK_ERR_NOMEM;
    }
    if (cfg->fleet.host_id && cfg->fleet.host_id[0])
        snprintf(f->host, sizeof f->host, "%s", cfg->fleet.host_id);
    else if (gethostname(f->host, sizeof f->host) != 0 || !f->host[0])
        snprintf(f->host, sizeof f->host, "unknown-host");
    f->host[sizeof f->host - 1] = '\0';
    *out = f;
    return AK_OK;
}

void akc_fleet_free(struct akc_fleet *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->e[i].name);
        free(f->e[i].snapshot);
    }
    free(f->e);
    akc_redis_free(f->redis);
    free(f);
}

/* ---- which budgets ---- */

static struct fleet_entry *entry_find(struct akc_fleet *f, enum ak_scope scope, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->e[i].scope == scope && strcmp(f->e[i].name, name) == 0)
            return &f->e[i];
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct fleet_entry *ne = realloc(f->e, cap * sizeof *ne);
        if (!ne)
            return NULL;
        f->e = ne;
        f->cap = cap;
    }
    struct fleet_entry *e = &f->e[f->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name)))
        return NULL;
    e->scope = scope;
    e->pushed_spent = -1;
    f->n++;
    return e;
}

static void entry_note(struct akc_fleet *f, const struct ak_budget_ref *ref)
{
    if (!ref->fleet || ref->limit_micros < 0)
        return;
    struct fleet_entry *e = entry_find(f, ref->scope, ref->name);
    if (!e)
        return;
    e->type = ref->type;
    e->limit = ref->limit_micros;
    e->mode = ref->fleet;
    e->seen = true;
}

static void agent_note(struct akc_fleet *f, const struct ak_config *cfg, struct ak_ledger *l,
                       const char *agent)
{
    struct ak_agent_flags fl;
    struct ak_budget b;
    if (ak_ledger_agent_get(l, agent, &fl) != AK_OK)
        memset(&fl, 0, sizeof fl);
    ak_policy_agent_budget(cfg, agent, &fl, &b);
    struct ak_budget_ref ref = ak_policy_ref_in(cfg, AK_SCOPE_AGENT, agent, &b, 0);
    entry_note(f, &ref);
}

/* Every fleet budget in force: listed agents', shared ones, and, when defaults.budget is a
 * fleet budget, every agent the ledger knows. */
static void budgets_collect(struct akc_fleet *f, const struct ak_config *cfg, struct ak_ledger *l)
{
    for (size_t i = 0; i < f->n; i++)
        f->e[i].seen = false;
    if (cfg->defaults.budget.set && cfg->defaults.budget.scope == AK_BUDGET_FLEET) {
        struct ak_strs names = { 0 };
        if (ak_status_agents(cfg, l, &names) == AK_OK)
            for (size_t i = 0; i < names.n; i++)
                agent_note(f, cfg, l, names.v[i]);
        ak_strs_free(&names);
    } else {
        for (size_t i = 0; i < cfg->n_agents; i++)
            agent_note(f, cfg, l, cfg->agents[i].name);
    }
    for (size_t i = 0; i < cfg->n_shared; i++) {
        struct ak_budget b;
        ak_policy_shared_budget(cfg, l, &cfg->shared[i], &b);
        struct ak_budget_ref ref = ak_policy_ref_in(cfg, AK_SCOPE_SHARED, cfg->shared[i].name, &b, 0);
        entry_note(f, &ref);
    }
}

static struct ak_budget_ref entry_ref(const struct fleet_entry *e)
{
    return (struct ak_budget_ref){ .scope = e->scope, .name = e->name, .type = e->type,
                                   .limit_micros = e->limit, .fleet = e->mode };
}

static const char *scope_word(enum ak_scope s)
{
    return s == AK_SCOPE_AGENT ? "agent" : "shared";
}

static void redis_key(const struct ak_config *cfg, const struct fleet_entry *e, const char *period,
                      char *out, size_t len)
{
    snprintf(out, len, "%sb:%c:%s:%s", cfg->fleet.key_prefix ? cfg->fleet.key_prefix : "",
             e->scope == AK_SCOPE_AGENT ? 'a' : 's', e->name, period);
}

/* ---- the snapshot for akctl ---- */

static void snapshot_write(struct ak_ledger *l, struct fleet_entry *e, const char *host,
                           const struct akc_fleet_view *v, int64_t now_ms)
{
    char key[META_KEY_MAX];
    cJSON *o = cJSON_CreateObject(), *hosts = cJSON_CreateArray();
    if (!o || !hosts) {
        cJSON_Delete(o);
        cJSON_Delete(hosts);
        return;
    }
    cJSON_AddStringToObject(o, "period", e->period);
    cJSON_AddStringToObject(o, "host", host);
    cJSON_AddNumberToObject(o, "limit", (double)e->limit);
    cJSON_AddNumberToObject(o, "spent", (double)v->spent);
    cJSON_AddNumberToObject(o, "claimed", (double)v->claimed);
    cJSON_AddNumberToObject(o, "free", (double)v->free);
    cJSON_AddNumberToObject(o, "holders", v->holders);
    for (size_t i = 0; i < v->n_hosts; i++) {
        cJSON *h = cJSON_CreateObject();
        if (!h)
            continue;
        cJSON_AddStringToObject(h, "host", v->hosts[i].host);
        cJSON_AddNumberToObject(h, "lease", (double)v->hosts[i].lease);
        cJSON_AddNumberToObject(h, "spent", (double)v->hosts[i].spent);
        cJSON_AddBoolToObject(h, "alive", v->hosts[i].alive);
        cJSON_AddItemToArray(hosts, h);
    }
    cJSON_AddItemToObject(o, "hosts", hosts);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return;
    if (e->snapshot && strcmp(e->snapshot, text) == 0) {
        free(text);
        return;
    }
    /* updated_at is left out of the comparison: a heartbeat alone writes nothing */
    snprintf(key, sizeof key, AK_META_FLEET_FMT, scope_word(e->scope), e->name);
    cJSON *stamped = cJSON_Parse(text);
    if (stamped) {
        cJSON_AddNumberToObject(stamped, "updated_at_ms", (double)now_ms);
        char *out = cJSON_PrintUnformatted(stamped);
        if (out && ak_ledger_meta_put(l, key, out) == AK_OK) {
            free(e->snapshot);
            e->snapshot = text;
            text = NULL;
        }
        free(out);
        cJSON_Delete(stamped);
    }
    free(text);
}

/* ---- one budget ---- */

static int64_t heartbeat_ms(const struct ak_config *cfg)
{
    int64_t hb = (int64_t)cfg->fleet.ttl_s * AK_MS_PER_S / HEARTBEAT_TTL_DIVISOR;
    return hb < HEARTBEAT_MAX_MS ? hb : HEARTBEAT_MAX_MS;
}

static int64_t key_ttl(const struct fleet_entry *e, int64_t now_ms)
{
    int64_t reset = ak_period_reset_ms(e->type, now_ms);
    return reset > now_ms ? reset - now_ms + KEY_GRACE_MS : 0;
}

/* What to ask Redis for: a top-up to a whole chunk below low water, and a waiting call's
 * want (all or nothing). */
static void ask_size(const struct ak_config *cfg, const struct fleet_entry *e,
                     const struct ak_fleet_local *loc, bool due, int64_t *chunk, int64_t *need)
{
    int64_t eff = loc->leased > loc->spent ? loc->leased : loc->spent;
    int64_t headroom = eff - loc->spent - loc->reserved;
    int64_t low = (int64_t)((double)cfg->fleet.chunk_micros * cfg->fleet.low_water);
    bool worth = due || e->last_sync_mono == 0 || e->last_free > 0;
    *chunk = headroom <= low && worth ? cfg->fleet.chunk_micros - headroom : 0;
    *need = loc->want > eff ? loc->want - eff : 0;
}

static void entry_down(struct ak_ledger *l, const struct ak_budget_ref *ref,
                       const struct ak_fleet_local *loc, int64_t now_ms)
{
    if (!loc->down)
        ak_ledger_fleet_down(l, ref, now_ms);
}

static void entry_sync(struct akc_fleet *f, const struct ak_config *cfg, struct ak_ledger *l,
                       struct fleet_entry *e, int64_t now_ms)
{
    struct ak_budget_ref ref = entry_ref(e);
    struct ak_fleet_local loc;
    char key[KEY_MAX], alive[KEY_MAX + HOST_ID_MAX], alive_prefix[KEY_MAX];
    if (ak_ledger_fleet_get(l, &ref, now_ms, &loc) != AK_OK)
        return;
    int64_t mono = akc_fleet_mono_ms();
    bool due = e->last_sync_mono == 0 || mono - e->last_sync_mono >= heartbeat_ms(cfg);
    int64_t chunk = 0, need = 0;
    ask_size(cfg, e, &loc, due, &chunk, &need);
    if (!due && !chunk && !need && loc.spent == e->pushed_spent)
        return;
    if (!akc_redis_ready(f->redis, &cfg->fleet)) {
        entry_down(l, &ref, &loc, now_ms);
        return;
    }
    redis_key(cfg, e, loc.period, key, sizeof key);
    snprintf(alive_prefix, sizeof alive_prefix, "%salive:", cfg->fleet.key_prefix);
    snprintf(alive, sizeof alive, "%s%s", alive_prefix, f->host);
    struct akc_fleet_ask a = {
        .key = key, .alive_key = alive, .alive_prefix = alive_prefix, .host = f->host,
        .limit = e->limit, .spent = loc.spent, .lease_local = loc.leased, .ask_chunk = chunk,
        .ask_need = need, .alive_ttl_ms = (int64_t)cfg->fleet.ttl_s * AK_MS_PER_S,
        .key_ttl_ms = key_ttl(e, now_ms),
    };
    struct akc_fleet_view *v = malloc(sizeof *v);
    if (!v)
        return;
    if (akc_redis_acquire(f->redis, &a, v) != AK_OK) {
        entry_down(l, &ref, &loc, now_ms);
        free(v);
        return;
    }
    int64_t until = now_ms + (int64_t)cfg->fleet.ttl_s * AK_MS_PER_S / LEASE_VALID_TTL_DIVISOR;
    if (ak_ledger_fleet_sync(l, &ref, now_ms, v->lease, v->free, until, loc.want) == AK_OK) {
        e->pushed_spent = loc.spent;
        e->last_sync_mono = mono;
        e->last_free = v->free;
        snapshot_write(l, e, f->host, v, now_ms);
    }
    free(v);
}

/* Gives back what the lease of e's remembered period holds beyond spent + in flight. */
static void entry_release(struct akc_fleet *f, const struct ak_config *cfg, struct ak_ledger *l,
                          struct fleet_entry *e)
{
    struct ak_budget_ref ref = entry_ref(e);
    struct ak_fleet_local kept;
    char key[KEY_MAX];
    int64_t left = 0;
    if (!e->period[0] || ak_ledger_fleet_shrink(l, &ref, e->period_now_ms, &kept) != AK_OK)
        return;
    if (!akc_redis_ready(f->redis, &cfg->fleet))
        return;   /* Redis reclaims it after the TTL */
    redis_key(cfg, e, e->period, key, sizeof key);
    if (akc_redis_release(f->redis, key, f->host, kept.spent, kept.spent + kept.reserved,
                          &left) == AK_OK)
        ak_info("fleet: %s budget '%s' (%s): lease given back, %lld micro-USD kept",
                scope_word(e->scope), e->name, e->period, (long long)left);
}

void akc_fleet_pass(struct akc_fleet *f, const struct ak_config *cfg, struct ak_ledger *l,
                    int64_t now_ms, int *wait_ms)
{
    if (!f || !cfg->fleet.redis_url)
        return;
    budgets_collect(f, cfg, l);
    for (size_t i = 0; i < f->n; i++) {
        struct fleet_entry *e = &f->e[i];
        char period[AK_PERIOD_KEY_LEN];
        if (!e->seen)
            continue;
        ak_period_key(e->type, now_ms, period);
        if (e->period[0] && strcmp(period, e->period) != 0) {
            entry_release(f, cfg, l, e);           /* the period turned */
            e->pushed_spent = -1;
            e->last_sync_mono = 0;
        }
        snprintf(e->period, sizeof e->period, "%s", period);
        e->period_now_ms = now_ms;
        entry_sync(f, cfg, l, e, now_ms);
    }
    int hb = (int)heartbeat_ms(cfg);
    if (f->n && hb < *wait_ms)
        *wait_ms = hb;
}

void akc_fleet_stop(struct akc_fleet *f, const struct ak_config *cfg, struct ak_ledger *l,
                    int64_t now_ms)
{
    if (!f || !cfg->fleet.redis_url)
        return;
    for (size_t i = 0; i < f->n; i++)
        if (f->e[i].seen)
            entry_release(f, cfg, l, &f->e[i]);
}
