/*
 * chan_kill.c - the "kill" channel: suspends the agent in the ledger (manual = false, so it
 * lifts when the period that caused it turns), with the reason "alert threshold X reached".
 * For a shared budget every agent of that budget is suspended. The shim refuses the
 * agent's next call. Notices about refused calls never suspend anyone.
 */
#include "collector/alert.h"
#include "collector/logrl.h"

#include <stdio.h>

static enum akc_outcome kill_one(const char *agent, const struct akc_alert *a,
                                 const struct akc_chan_ctx *ctx)
{
    char reason[AK_REASON_LEN];
    snprintf(reason, sizeof reason, "alert threshold %g reached", a->threshold);
    enum ak_err err = ak_ledger_suspend(ctx->ledger, agent, reason, false, false, a->period, a->now_ms);
    if (err != AK_OK) {
        akc_log_limited(AK_LOG_ERROR, "kill", "kill channel: cannot suspend %s: %s", agent,
                        ak_strerror(err));
        return AKC_RETRY;
    }
    ak_warn("agent %s suspended: %s (%s budget, period %s)", agent, reason,
            akc_scope_name(a->scope), a->period);
    return AKC_DELIVERED;
}

enum akc_outcome akc_kill_send(const struct akc_alert *a, const struct akc_chan_ctx *ctx)
{
    if (a->kind != AKC_ALERT_BUDGET)
        return AKC_DELIVERED;
    if (a->scope == AK_SCOPE_AGENT)
        return kill_one(a->name, a, ctx);
    enum akc_outcome out = AKC_DELIVERED;
    for (size_t i = 0; a->shared && i < a->shared->n_agents; i++)
        if (kill_one(a->shared->agents[i], a, ctx) != AKC_DELIVERED)
            out = AKC_RETRY;
    return out;
}
