/*
 * status.h - the state of every agent and shared budget, as `akctl status` prints it and the
 * dashboard's /api/status serves it: one gathering, one JSON shape (DESIGN.md), so the two
 * can never disagree. Limits come from core/policy.c.
 */
#ifndef AK_STATUS_H
#define AK_STATUS_H

#include <cjson/cJSON.h>

#include "core/policy.h"
#include "core/strs.h"

#define AK_STATUS_REASON (AK_REASON_LEN + 32)

/* A fleet-scoped budget: this host's lease (ledger) and the fleet's last figures as the
 * collector saw them in Redis (ledger meta "fleet:<agent|shared>:<name>"; the tools never talk
 * to Redis). */
#define AK_STATUS_FLEET_HOSTS 64
#define AK_STATUS_HOST_LEN 128
struct ak_status_fleet_host {
    char host[AK_STATUS_HOST_LEN];
    int64_t lease, spent;
    bool alive;
};
struct ak_status_fleet {
    bool on;                      /* the budget has scope: fleet */
    struct ak_fleet_local local;  /* this host's record */
    bool seen;                    /* the collector has synced it with Redis */
    char host[AK_STATUS_HOST_LEN];/* this host's name in Redis */
    int64_t spent, claimed, free; /* the fleet's: committed, leased (or spent), unleased */
    int holders;                  /* hosts holding an unspent lease */
    int64_t updated_ms;
    struct ak_status_fleet_host hosts[AK_STATUS_FLEET_HOSTS];
    size_t n_hosts;
};

struct ak_status_agent {
    const char *name;             /* points into ak_status.names */
    struct ak_budget budget;      /* in force */
    enum ak_budget_source source;
    struct ak_budget_state st;
    bool suspended;
    char reason[AK_STATUS_REASON];
    double percent;               /* < 0: no limit */
    struct ak_status_fleet fleet;
};

struct ak_status_shared {
    const struct ak_shared_budget *sb;
    struct ak_budget budget;      /* in force */
    enum ak_budget_source source;
    struct ak_budget_state st;
    double percent;
    struct ak_status_fleet fleet;
};

struct ak_status {
    struct ak_strs names;         /* every known agent, sorted */
    struct ak_status_agent *agents;
    struct ak_status_shared *shared;
    size_t n_shared;
    struct ak_agent_flags all;    /* the host-wide stop */
    struct ak_ledger_stats counters;
};

/* Every agent the config lists or the ledger knows (budgets, flags), sorted, without "*". */
enum ak_err ak_status_agents(const struct ak_config *cfg, struct ak_ledger *l, struct ak_strs *out);
enum ak_err ak_status_gather(const struct ak_config *cfg, struct ak_ledger *l, int64_t now_ms,
                             struct ak_status *out);
/* The JSON of `akctl status --json`; NULL on OOM. */
cJSON *ak_status_json(const struct ak_status *s, const char *state_dir);
void ak_status_free(struct ak_status *s);
/* The fleet side of one budget (fleet.on false for a host budget). */
enum ak_err ak_status_fleet_get(struct ak_ledger *l, const struct ak_budget_ref *ref,
                                int64_t now_ms, struct ak_status_fleet *out);
/* spent as a percentage of limit; -1 when limit < 0 (none). */
double ak_status_percent(int64_t spent, int64_t limit);

#endif
