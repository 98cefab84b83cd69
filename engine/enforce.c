/*
 * enforce.c - the decision taken before a call leaves the process.
 *
 * In order: a suspension of this agent or of every agent ("*"); the guardrails that can be
 * judged from the request (max_tokens_per_call, max_runtime, loop detection, unknown models
 * when pricing.unknown_model is block); then one ledger transaction that reserves the call's
 * worst-case cost (input estimate + output limit at the output price) against every budget
 * the agent counts against, and checks max_calls, or says which budget would break. The real
 * cost replaces the reservation when the reply ends (meter.c), so processes sharing a budget
 * cannot overspend it together.
 *
 * In monitor mode the same verdict is reached and recorded ("would refuse: ..."), but the
 * call goes out. After each commit, spend velocity and error storms may suspend the agent.
 */
#include "engine/engine.h"
#include "core/notify.h"
#include "core/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>


static const struct ak_agent_cfg *agent_cfg(const char *agent)
{
    return ak_config_agent_or_default(eng.cfg, agent);
}

/* The budgets a call counts against (core/policy.c); `f` is the agent's flags as read for
 * this call. */
static size_t budgets_for(const char *agent, const struct ak_agent_flags *f,
                          struct ak_budget_ref *out, size_t max)
{
    return ak_policy_budgets(eng.cfg, eng.ledger, agent, f, out, max);
}

static void verdict(struct enforce_result *out, enum ak_decision d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void verdict(struct enforce_result *out, enum ak_decision d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    out->decision = d;
}

/* The agent's flags say suspended (the ledger reports a host-wide stop on every agent). A
 * budget-caused suspension lifts by itself once the period that caused it has turned. */
static bool check_suspended(const struct eng_who *who, struct ak_ledger *l,
                            struct ak_agent_flags *f, int64_t now, struct enforce_result *out)
{
    if (!f->suspended)
        return false;
    struct ak_agent_flags all;
    bool host_wide = ak_ledger_agent_get(l, AK_AGENT_ALL, &all) == AK_OK && all.suspended;
    if (host_wide) {
        verdict(out, AK_DEC_BLOCKED_SUSPENDED,
                "all agents on this host are suspended (%s); lift with: akctl resume --all",
                all.reason[0] ? all.reason : "emergency stop");
        return true;
    }
    if (!f->manual && f->period[0]) {
        struct ak_budget b;
        ak_policy_agent_budget(eng.cfg, who->agent, f, &b);
        char cur[AK_PERIOD_KEY_LEN];
        ak_period_key(b.set ? b.type : AK_PERIOD_DAILY, now, cur);
        if (strcmp(cur, f->period) != 0) {
            ak_ledger_resume(l, who->agent);
            ak_info("agent '%s': the budget period turned; suspension lifted", who->agent);
            f->suspended = false;
            return false;
        }
    }
    verdict(out, AK_DEC_BLOCKED_SUSPENDED, "agent '%s' is suspended (%s); lift with: akctl resume %s",
            who->agent, f->reason[0] ? f->reason : "no reason given", who->agent);
    return true;
}

static bool check_loop(const struct eng_who *who, struct ak_ledger *l,
                       const struct ak_guardrails *g, uint64_t hash, struct enforce_result *out)
{
    struct ak_history_entry h[AK_HISTORY_MAX];
    size_t n = 0;
    if (g->loop_window <= 0 || g->loop_max_repeats <= 0 || !hash ||
        ak_ledger_history(l, who->agent, h, AK_HISTORY_MAX, &n) != AK_OK)
        return false;
    size_t window = (size_t)g->loop_window - 1;   /* this call is the last of the window */
    int same = 1;
    for (size_t i = n > window ? n - window : 0; i < n; i++)
        same += h[i].body_hash == hash;
    if (same <= g->loop_max_repeats)
        return false;
    verdict(out, AK_DEC_BLOCKED_GUARDRAIL,
            "loop_detection: the same request %d times within %d calls of agent '%s'",
            same, g->loop_window, who->agent);
    return true;
}

static bool check_guardrails(struct ak_ledger *l, const struct enforce_call *call, int64_t now,
                             struct enforce_result *out)
{
    const struct eng_who *who = call->who;
    const struct ak_guardrails *g = &agent_cfg(who->agent)->guardrails;
    const struct ak_xreq *rq = call->req;
    if (g->max_tokens_per_call > 0 && rq->max_output_tokens > g->max_tokens_per_call) {
        verdict(out, AK_DEC_BLOCKED_GUARDRAIL, "max_tokens_per_call: the call asks for %lld tokens, the limit of agent '%s' is %lld",
                (long long)rq->max_output_tokens, who->agent, (long long)g->max_tokens_per_call);
        return true;
    }
    if (g->max_runtime_s > 0 && now - who->start_ms > g->max_runtime_s * AK_MS_PER_S) {
        verdict(out, AK_DEC_BLOCKED_GUARDRAIL, "max_runtime: process %d of agent '%s' has run longer than %lld s",
                who->pid, who->agent, (long long)g->max_runtime_s);
        return true;
    }
    if (!call->priced && eng.cfg->unknown_model == AK_UNKNOWN_BLOCK) {
        verdict(out, AK_DEC_BLOCKED_GUARDRAIL, "unknown model '%s' has no price (pricing.unknown_model: block)",
                rq->model);
        return true;
    }
    return check_loop(who, l, g, rq->body_hash, out);
}

/* The input side of a reservation must be an upper bound, or calls in flight together can
 * overspend a shared budget: the estimate (about 4 bytes a token) is doubled and padded for
 * the per-message tokens the provider adds. Measured against the mock's counts it errs from
 * -25 % (very short prompts) to +199 % (CJK), see tests/integration/enforce/estimate.c. */
#define RESERVE_INPUT_FACTOR 2
#define RESERVE_INPUT_PAD 16

static int64_t worst_case(const struct enforce_call *call)
{
    if (!call->priced)
        return 0;
    const struct ak_xreq *rq = call->req;
    int64_t out = rq->max_output_tokens > 0 ? rq->max_output_tokens : call->price.max_output_tokens;
    int64_t n = rq->n_choices > 0 ? rq->n_choices : 1;
    if (rq->operation == AK_OP_EMBEDDINGS)
        out = 0;
    int64_t input = rq->input_estimate * RESERVE_INPUT_FACTOR + RESERVE_INPUT_PAD;
    return ak_price_worst_case(&call->price, input, out * n);
}

static void budget_refusal(const char *agent, const struct ak_budget_ref *b,
                           const struct ak_reserve_result *rr, int64_t amount,
                           struct enforce_result *out)
{
    char lim[32], spent[32], held[32], want[32];
    const char *type = ak_period_type_name(b->type);
    const char *who = b->scope == AK_SCOPE_AGENT ? "agent" : "shared budget";
    if (rr->failed_on_calls) {
        verdict(out, AK_DEC_BLOCKED_GUARDRAIL, "max_calls: %s '%s' made %lld of %lld calls this %s period",
                who, b->name, (long long)rr->state.calls, (long long)b->max_calls, type);
        return;
    }
    ak_usd_format(b->limit_micros, lim, sizeof lim);
    ak_usd_format(rr->state.spent_micros, spent, sizeof spent);
    ak_usd_format(rr->state.reserved_micros, held, sizeof held);
    ak_usd_format(amount, want, sizeof want);
    if (b->scope == AK_SCOPE_AGENT)
        verdict(out, AK_DEC_BLOCKED_BUDGET,
                "%s budget of agent '%s' (%s) would be exceeded: spent %s, in flight %s, this call up to %s; raise it with: akctl budget set %s --%s USD",
                type, b->name, lim, spent, held, want, b->name, type);
    else
        verdict(out, AK_DEC_BLOCKED_BUDGET,
                "%s shared budget '%s' (%s) would be exceeded by a call of agent '%s': spent %s, in flight %s, this call up to %s; raise it with: akctl budget set --shared %s --%s USD",
                type, b->name, lim, agent, spent, held, want, b->name, type);
}

/* A refusal means the budget is exhausted (for 1.0 alert rules, kill included) only when
 * little is left: a single call asking for a huge max_tokens is refused at any level of
 * spend, and must not set off the kill switch on its own. */
#define EXHAUSTED_LEFT_DIVISOR 10   /* less than a tenth of the limit left */

/* Tells the collector that this budget refused a call in its period (see core/ledger.h). */
static void mark_exhausted(struct ak_ledger *l, const struct ak_budget_ref *b,
                           const struct ak_budget_state *st)
{
    char key[AK_EV_NAME + 64], val[8];
    const char *period = st->period;
    if (b->limit_micros - st->spent_micros - st->reserved_micros >= b->limit_micros / EXHAUSTED_LEFT_DIVISOR)
        return;
    snprintf(key, sizeof key, AK_META_EXHAUSTED_FMT, b->scope == AK_SCOPE_AGENT ? "agent" : "shared",
             b->name, period);
    if (ak_ledger_meta_get(l, key, val, sizeof val) != AK_OK)
        ak_ledger_meta_put(l, key, "1");
}

/* ---- fleet budgets: waiting for a top-up ----
 * A fleet budget refuses when this host's lease is short. When the fleet had room at the last
 * sync, the call asks the collector for a top-up (the want in the ledger, then a poke), looks
 * every FLEET_RETRY_MS (a read) and tries again when the collector wrote, until it fits or
 * fleet.lease.wait_ms has passed: a call is refused only when the fleet as a whole cannot
 * cover it, and never waits longer than that. */
#define FLEET_RETRY_MS 2
#define FLEET_REPOKE_MS 20

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * AK_MS_PER_S + ts.tv_nsec / AK_NS_PER_MS;
}

static void poke_collector(void)
{
    if (eng.cfg->collector_socket && eng.cfg->collector_socket[0])
        ak_notify_collector_at(eng.cfg->collector_socket);
    else
        ak_notify_collector(eng.state_dir);
}

static bool lease_short(enum ak_err e, const struct ak_reserve_result *rr)
{
    return e == AK_ERR_LIMIT && rr->failed >= 0 && rr->failed_on_lease && rr->lease_may_grow;
}

/* Did the collector write anything since `last` (a read: waiting calls take no write lock)? */
static bool lease_changed(struct ak_ledger *l, const struct ak_budget_ref *b, int64_t now_ms,
                          struct ak_fleet_local *last)
{
    struct ak_fleet_local cur;
    if (ak_ledger_fleet_get(l, b, now_ms, &cur) != AK_OK)
        return true;
    bool changed = cur.leased != last->leased || cur.fleet_free != last->fleet_free ||
                   cur.lease_until_ms != last->lease_until_ms || cur.down != last->down ||
                   cur.want < last->want;
    *last = cur;
    return changed;
}

static enum ak_err reserve_wait_lease(struct ak_ledger *l, struct ak_reserve *r,
                                      struct ak_reserve_result *rr, enum ak_err e)
{
    int64_t start = mono_ms(), last_poke = 0, asked = 0;
    struct timespec nap = { .tv_sec = 0, .tv_nsec = FLEET_RETRY_MS * AK_NS_PER_MS };
    struct ak_fleet_local last = { .leased = -1 };
    while (lease_short(e, rr) && mono_ms() - start < eng.cfg->fleet.wait_ms) {
        const struct ak_budget_ref *b = &r->budgets[rr->failed];
        int64_t now = mono_ms();
        if (rr->lease_target > asked &&
            ak_ledger_fleet_want(l, b, r->now_ms, rr->lease_target) == AK_OK)
            asked = rr->lease_target;
        if (!last_poke || now - last_poke >= FLEET_REPOKE_MS) {
            poke_collector();
            last_poke = now;
        }
        if (last.leased < 0)
            lease_changed(l, b, r->now_ms, &last);   /* the state the want was written on */
        nanosleep(&nap, NULL);
        if (lease_changed(l, b, r->now_ms, &last))
            e = ak_ledger_reserve(l, r, rr);
    }
    if (e == AK_ERR_LIMIT && rr->failed_on_lease) {   /* decide: a lease never synced = down */
        r->fleet_final = true;
        e = ak_ledger_reserve(l, r, rr);
    }
    return e;
}

static void fleet_flag(const struct ak_budget_ref *b, struct enforce_result *out)
{
    verdict(out, AK_DEC_ALLOWED,
            "fleet budget %s '%s' not enforced across hosts: Redis cannot be reached and this "
            "host's lease is spent (fleet.on_fleet_error: open)",
            b->scope == AK_SCOPE_AGENT ? "of agent" : "shared", b->name);
}

static void lease_refusal(const char *agent, const struct ak_budget_ref *b,
                          const struct ak_reserve_result *rr, int64_t amount,
                          struct enforce_result *out)
{
    char lim[32], lease[32], want[32];
    ak_usd_format(b->limit_micros, lim, sizeof lim);
    ak_usd_format(rr->leased_micros, lease, sizeof lease);
    ak_usd_format(amount, want, sizeof want);
    verdict(out, AK_DEC_BLOCKED_BUDGET,
            "%s fleet budget '%s' (%s across hosts) cannot cover a call of agent '%s' up to %s: "
            "this host's lease %s is spent and %s",
            ak_period_type_name(b->type), b->name, lim, agent, want, lease,
            rr->lease_may_grow ? "no top-up came in time"
            : rr->fleet_free_micros >= rr->lease_target - rr->leased_micros
                ? "the fleet cannot be reached (fleet.on_fleet_error: hold)"
                : "the fleet has too little left to lease");
}

static void reserve(struct ak_ledger *l, const struct ak_agent_flags *f,
                    const struct enforce_call *call, int64_t now, struct enforce_result *out)
{
    struct ak_budget_ref *budgets = out->budgets;
    size_t n = out->n_budgets = budgets_for(call->who->agent, f, out->budgets, ENF_MAX_BUDGETS);
    struct ak_reserve r = {
        .agent = call->who->agent, .budgets = budgets, .n_budgets = n,
        .amount_micros = worst_case(call), .pid = call->who->pid, .now_ms = now,
    };
    struct ak_reserve_result rr;
    enum ak_err e = ak_ledger_reserve(l, &r, &rr);
    if (e == AK_ERR_LIMIT) {
        size_t reclaimed = 0;     /* a dead process may still hold part of the budget */
        if (ak_ledger_reclaim_dead(l, &reclaimed) == AK_OK && reclaimed > 0)
            e = ak_ledger_reserve(l, &r, &rr);
    }
    if (e == AK_ERR_LIMIT && rr.failed_on_lease)
        e = reserve_wait_lease(l, &r, &rr, e);
    if (e == AK_OK) {
        out->res_id = rr.res_id;
        if (rr.fleet_open > 0 && (size_t)rr.fleet_open <= n)
            fleet_flag(&budgets[rr.fleet_open - 1], out);
    } else if (e == AK_ERR_LIMIT && rr.failed_on_lease && (size_t)rr.failed < n) {
        lease_refusal(call->who->agent, &budgets[rr.failed], &rr, r.amount_micros, out);
    } else if (e == AK_ERR_LIMIT && rr.failed >= 0 && (size_t)rr.failed < n) {
        budget_refusal(call->who->agent, &budgets[rr.failed], &rr, r.amount_micros, out);
        if (!rr.failed_on_calls)
            mark_exhausted(l, &budgets[rr.failed], &rr.state);
    } else if (eng.cfg->on_error == AK_ON_ERROR_CLOSED) {
        verdict(out, AK_DEC_BLOCKED_GUARDRAIL, "the budget check failed (%s) and on_error is closed",
                ak_strerror(e));
    } else {
        /* on_error: open: the call goes out unreserved; its event says why, its cost counts */
        if (e == AK_ERR_BUSY)
            verdict(out, AK_DEC_UNMETERED, "ledger busy for more than %u ms: not checked against "
                    "budgets (on_error: open)", eng.cfg->ledger_wait_ms);
        else
            verdict(out, AK_DEC_UNMETERED, "the budget check failed (%s): not checked against "
                    "budgets (on_error: open)", ak_strerror(e));
        if (atomic_exchange(&eng.ledger_trouble_said, true))
            ;                     /* said once, until a commit goes through again */
        else if (e != AK_ERR_BUSY)
            ak_warn("budget check failed (%s); calls go out unchecked (on_error: open; said once "
                    "until the ledger works again)", ak_strerror(e));
        else
            ak_warn("the ledger's write lock is held by another process: calls go out unreserved "
                    "(on_error: open) and are recorded when it is free again (said once per stall)");
    }
}

void enforce_decide(const struct enforce_call *call, struct enforce_result *out)
{
    const char *agent = call->who->agent;
    memset(out, 0, sizeof *out);
    out->decision = AK_DEC_ALLOWED;
    if (eng.config_error[0]) {
        verdict(out, AK_DEC_UNMETERED, "%s", eng.config_error);
        out->n_budgets = budgets_for(agent, NULL, out->budgets, ENF_MAX_BUDGETS);
        return;
    }
    struct ak_ledger *l = engine_ledger();
    if (!l) {
        if (eng.cfg->on_error == AK_ON_ERROR_CLOSED)
            verdict(out, AK_DEC_BLOCKED_GUARDRAIL, "agentkavach cannot open its ledger and on_error is closed");
        return;
    }
    int64_t now = ak_now_ms();
    struct ak_agent_flags f;
    if (ak_ledger_agent_get(l, agent, &f) != AK_OK)
        memset(&f, 0, sizeof f);   /* unreadable flags: the budget check below still runs */
    if (!check_suspended(call->who, l, &f, now, out) && !check_guardrails(l, call, now, out))
        reserve(l, &f, call, now, out);
    if (!out->n_budgets)   /* refused before the budgets were looked at (or monitor mode) */
        out->n_budgets = budgets_for(agent, &f, out->budgets, ENF_MAX_BUDGETS);
    if (out->decision != AK_DEC_ALLOWED && eng.cfg->mode == AK_MODE_MONITOR) {
        static const char prefix[] = "would refuse: ";
        char why[AK_EV_REASON - sizeof prefix + 1];
        size_t n = strnlen(out->reason, sizeof why - 1);   /* cut to fit after the prefix */
        memcpy(why, out->reason, n);
        why[n] = '\0';
        snprintf(out->reason, sizeof out->reason, "%s%s", prefix, why);
        out->decision = AK_DEC_ALLOWED;
    }
}

void enforce_unchecked(const struct eng_who *who, const char *reason, struct enforce_result *out)
{
    struct ak_agent_flags f;
    struct ak_ledger *l = engine_ledger();
    memset(out, 0, sizeof *out);
    if (!l || ak_ledger_agent_get(l, who->agent, &f) != AK_OK)
        memset(&f, 0, sizeof f);
    verdict(out, AK_DEC_UNMETERED, "%s", reason);
    out->n_budgets = budgets_for(who->agent, &f, out->budgets, ENF_MAX_BUDGETS);
}

void enforce_release(uint64_t res_id)
{
    if (res_id && eng.ledger)
        ak_ledger_release(eng.ledger, res_id);
}

static void suspend_for(const char *agent, struct ak_ledger *l, const char *why, int64_t now)
{
    if (ak_ledger_suspend(l, agent, why, true, false, "", now) == AK_OK)
        ak_info("agent '%s' suspended: %s; lift with: akctl resume %s", agent, why, agent);
}

void enforce_after_commit(const struct eng_who *who, int64_t now)
{
    const struct ak_guardrails *g = &agent_cfg(who->agent)->guardrails;
    struct ak_ledger *l = eng.ledger;
    if (!l || (!g->spend_rate_micros && !g->max_errors_count))
        return;
    struct ak_history_entry h[AK_HISTORY_MAX];
    size_t n = 0;
    if (ak_ledger_history(l, who->agent, h, AK_HISTORY_MAX, &n) != AK_OK)
        return;
    int64_t spent = 0;
    int errors = 0;
    for (size_t i = 0; i < n; i++) {
        if (g->spend_rate_micros && h[i].ts_ms > now - g->spend_rate_per_s * AK_MS_PER_S)
            spent += h[i].cost_micros;
        if (g->max_errors_count && h[i].is_error && h[i].ts_ms > now - g->max_errors_per_s * AK_MS_PER_S)
            errors++;
    }
    char why[AK_REASON_LEN];
    if (g->spend_rate_micros && spent > g->spend_rate_micros) {
        char a[32], b[32];
        ak_usd_format(spent, a, sizeof a);
        ak_usd_format(g->spend_rate_micros, b, sizeof b);
        snprintf(why, sizeof why, "max_spend_rate: %s spent within %d s (limit %s)", a, g->spend_rate_per_s, b);
        suspend_for(who->agent, l, why, now);
    } else if (g->max_errors_count && errors >= g->max_errors_count) {
        snprintf(why, sizeof why, "max_errors: %d failed calls within %d s", errors, g->max_errors_per_s);
        suspend_for(who->agent, l, why, now);
    }
}
