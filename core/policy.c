/*
 * policy.c - the budgets in force (see policy.h). The one place that says which limit
 * applies to an agent or a shared budget: the engine, the collector and akctl all ask here,
 * so a refusal, an alert and `akctl status` can never disagree about the limit.
 */
#include "core/policy.h"

#include <string.h>

static const char *const source_names[] = {
    [AK_BUDGET_SRC_NONE] = "none", [AK_BUDGET_SRC_OVERRIDE] = "override",
    [AK_BUDGET_SRC_CONFIG] = "config", [AK_BUDGET_SRC_DEFAULT] = "default",
};

const char *ak_budget_source_name(enum ak_budget_source s)
{
    return (unsigned)s < AK_ARRAY_LEN(source_names) ? source_names[s] : "none";
}

enum ak_budget_source ak_policy_agent_budget(const struct ak_config *cfg, const char *agent,
                                             const struct ak_agent_flags *f,
                                             struct ak_budget *out)
{
    const struct ak_agent_cfg *a = ak_config_agent(cfg, agent);
    memset(out, 0, sizeof *out);
    if (f && f->has_budget_override) {
        if (!f->budget_override.set)
            return AK_BUDGET_SRC_NONE;
        *out = f->budget_override;   /* the limit is overridden, the scope stays the config's */
        out->scope = a ? a->budget.scope : cfg ? cfg->defaults.budget.scope : AK_BUDGET_HOST;
        return AK_BUDGET_SRC_OVERRIDE;
    }
    if (a) {
        if (!a->budget.set)
            return AK_BUDGET_SRC_NONE;   /* `budget: none`, or no default to inherit */
        *out = a->budget;
        return a->budget_inherited ? AK_BUDGET_SRC_DEFAULT : AK_BUDGET_SRC_CONFIG;
    }
    if (cfg && cfg->defaults.budget.set) {
        *out = cfg->defaults.budget;
        return AK_BUDGET_SRC_DEFAULT;
    }
    return AK_BUDGET_SRC_NONE;
}

enum ak_budget_source ak_policy_shared_budget(const struct ak_config *cfg, struct ak_ledger *l,
                                              const struct ak_shared_budget *sb,
                                              struct ak_budget *out)
{
    bool has = false;
    (void)cfg;
    memset(out, 0, sizeof *out);
    if (l && ak_ledger_shared_budget_get(l, sb->name, &has, out) == AK_OK && has) {
        out->scope = sb->budget.scope;
        return out->set ? AK_BUDGET_SRC_OVERRIDE : AK_BUDGET_SRC_NONE;
    }
    memset(out, 0, sizeof *out);
    if (!sb->budget.set)
        return AK_BUDGET_SRC_NONE;
    *out = sb->budget;
    return AK_BUDGET_SRC_CONFIG;
}

bool ak_policy_shared_has(const struct ak_shared_budget *sb, const char *agent)
{
    for (size_t i = 0; i < sb->n_agents; i++)
        if (strcmp(sb->agents[i], agent) == 0)
            return true;
    return false;
}

struct ak_budget_ref ak_policy_ref(enum ak_scope scope, const char *name,
                                   const struct ak_budget *b, int64_t max_calls)
{
    return (struct ak_budget_ref){
        .scope = scope, .name = name,
        .type = b->set ? b->type : AK_PERIOD_DAILY,
        .limit_micros = b->set ? b->limit_micros : -1,
        .max_calls = max_calls,
    };
}

/* A fleet-scoped budget with a limit is held against this host's lease (core/ledger.h). */
static void ref_scope(const struct ak_config *cfg, const struct ak_budget *b,
                      struct ak_budget_ref *ref)
{
    if (b->set && b->scope == AK_BUDGET_FLEET)
        ref->fleet = cfg && cfg->fleet.on_error == AK_FLEET_OPEN ? AK_REF_FLEET_OPEN
                                                                 : AK_REF_FLEET_HOLD;
}

struct ak_budget_ref ak_policy_ref_in(const struct ak_config *cfg, enum ak_scope scope,
                                      const char *name, const struct ak_budget *b,
                                      int64_t max_calls)
{
    struct ak_budget_ref ref = ak_policy_ref(scope, name, b, max_calls);
    ref_scope(cfg, b, &ref);
    return ref;
}

size_t ak_policy_budgets(const struct ak_config *cfg, struct ak_ledger *l, const char *agent,
                         const struct ak_agent_flags *f, struct ak_budget_ref *out, size_t max)
{
    size_t n = 0;
    struct ak_budget b;
    if (max == 0)
        return 0;
    ak_policy_agent_budget(cfg, agent, f, &b);
    out[n++] = ak_policy_ref_in(cfg, AK_SCOPE_AGENT, agent, &b,
                                ak_config_agent_or_default(cfg, agent)->guardrails.max_calls);
    for (size_t i = 0; cfg && i < cfg->n_shared && n < max; i++) {
        const struct ak_shared_budget *sb = &cfg->shared[i];
        if (!ak_policy_shared_has(sb, agent))
            continue;
        ak_policy_shared_budget(cfg, l, sb, &b);
        out[n++] = ak_policy_ref_in(cfg, AK_SCOPE_SHARED, sb->name, &b, 0);
    }
    return n;
}
