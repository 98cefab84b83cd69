/*
 * policy.h - which budgets are in force, computed in one place for the engine (before and
 * after a call), the collector (alert thresholds) and akctl (status, the dashboard's API).
 *
 * An agent's own budget: its `akctl budget set` override (in its ledger flags), else the
 * config's agents.NAME.budget, into which the loader has already filled `defaults.budget`
 * when the agent left it out (`budget: none` opts out), else, for an agent the config does
 * not list, `defaults.budget`. A shared budget: its `akctl budget set --shared` override,
 * else the config's. A call counts against its agent's own budget (counted even when there
 * is no limit) and every shared budget that lists the agent.
 */
#ifndef AK_POLICY_H
#define AK_POLICY_H

#include "core/config.h"
#include "core/ledger.h"

enum ak_budget_source {
    AK_BUDGET_SRC_NONE = 0,       /* no limit */
    AK_BUDGET_SRC_OVERRIDE,       /* akctl budget set */
    AK_BUDGET_SRC_CONFIG,         /* the agent's (or shared budget's) own entry */
    AK_BUDGET_SRC_DEFAULT,        /* defaults.budget */
};

const char *ak_budget_source_name(enum ak_budget_source s); /* "none" | "override" | ... */

/* The agent's own budget in force; `f` is its flags as read (NULL = none read). */
enum ak_budget_source ak_policy_agent_budget(const struct ak_config *cfg, const char *agent,
                                             const struct ak_agent_flags *f,
                                             struct ak_budget *out);
/* A shared budget in force; `l` may be NULL (then the config's). */
enum ak_budget_source ak_policy_shared_budget(const struct ak_config *cfg, struct ak_ledger *l,
                                              const struct ak_shared_budget *sb,
                                              struct ak_budget *out);
bool ak_policy_shared_has(const struct ak_shared_budget *sb, const char *agent);

/* The ledger's view of a budget in force (limit -1 when there is none; the period type of a
 * budget without a limit is daily). */
struct ak_budget_ref ak_policy_ref(enum ak_scope scope, const char *name,
                                   const struct ak_budget *b, int64_t max_calls);

/* The same, with a fleet-scoped budget marked as such (fleet.on_fleet_error decides how). */
struct ak_budget_ref ak_policy_ref_in(const struct ak_config *cfg, enum ak_scope scope,
                                      const char *name, const struct ak_budget *b,
                                      int64_t max_calls);

/* The budgets a call by `agent` counts against, own first; returns how many were written.
 * Names point into `agent` and the config. `l` may be NULL (no shared overrides). */
size_t ak_policy_budgets(const struct ak_config *cfg, struct ak_ledger *l, const char *agent,
                         const struct ak_agent_flags *f, struct ak_budget_ref *out, size_t max);

#endif
