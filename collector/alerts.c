/*
 * alerts.c - the alert engine (see alerts.h): budget thresholds with per-period dedupe,
 * and refusal notices with a cooldown. Channels back off on their own schedule when they
 * fail, so one dead channel neither floods its endpoint nor delays the others.
 */
#include "collector/alerts.h"
#include "collector/alert.h"
#include "collector/backoff.h"
#include "collector/exporter.h"
#include "collector/logrl.h"
#include "core/event.h"
#include "core/policy.h"
#include "core/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALERTS_CHAN_STATES 32
#define ALERTS_NOTICES_MAX 64
#define ALERTS_KEY_LEN 400
#define ALERTS_VAL_LEN 32
#define ALERTS_SCAN_ROUNDS 20
#define ALERTS_STALE_MS (10LL * 60 * 1000) /* older refusals are history, not news */
#define ALERTS_RULES_MAX 32   /* rules per budget looked at in one pass */

struct chan_state {
    char name[AK_EV_NAME];
    struct akc_backoff bo;
};

struct notice {
    char agent[AK_EV_NAME];
    enum akc_alert_kind kind;
    char reason[AK_EV_REASON];
};

struct akc_alerts {
    struct chan_state chans[ALERTS_CHAN_STATES];
    size_t n_chans;
    struct notice notices[ALERTS_NOTICES_MAX];
    size_t n_notices;
};

struct alerts_run {
    struct akc_alerts *al;
    const struct ak_config *cfg;
    struct ak_ledger *l;
    int64_t now_ms;
    bool force;
    bool pending;
};

enum ak_err akc_alerts_new(struct akc_alerts **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? AK_OK : AK_ERR_NOMEM;
}

void akc_alerts_free(struct akc_alerts *al) { free(al); }

static struct chan_state *chan_state(struct akc_alerts *al, const char *name)
{
    for (size_t i = 0; i < al->n_chans; i++)
        if (strcmp(al->chans[i].name, name) == 0)
            return &al->chans[i];
    if (al->n_chans == ALERTS_CHAN_STATES)
        return &al->chans[ALERTS_CHAN_STATES - 1]; /* share the last slot: pacing stays sane */
    struct chan_state *c = &al->chans[al->n_chans++];
    snprintf(c->name, sizeof c->name, "%s", name);
    return c;
}

/* Sends to one channel, honouring its backoff; true when delivered. */
static bool alerts_send(struct alerts_run *r, const char *chan, const struct akc_alert *a)
{
    struct chan_state *cs = chan_state(r->al, chan);
    if (!r->force && !akc_backoff_ready(&cs->bo, r->now_ms))
        return false;
    struct akc_chan_ctx ctx = { .cfg = r->cfg, .ledger = r->l };
    if (akc_channel_send(chan, a, &ctx) == AKC_DELIVERED) {
        akc_backoff_ok(&cs->bo);
        return true;
    }
    akc_backoff_fail(&cs->bo, r->now_ms);
    return false;
}

static bool meta_has(struct ak_ledger *l, const char *key)
{
    char val[ALERTS_VAL_LEN];
    return ak_ledger_meta_get(l, key, val, sizeof val) == AK_OK;
}

static enum ak_err meta_put_now(struct ak_ledger *l, const char *key, int64_t now_ms)
{
    char val[ALERTS_VAL_LEN];
    snprintf(val, sizeof val, "%lld", (long long)now_ms);
    return ak_ledger_meta_put(l, key, val);
}

/* ---- budget thresholds ---- */

/* Fills the budget part of an alert; false when there is no spend limit to compare with. */
static bool alert_budget_state(struct alerts_run *r, struct akc_alert *a, const struct ak_budget *b)
{
    struct ak_budget_state st;
    if (!b->set || b->limit_micros <= 0)
        return false;
    struct ak_budget_ref ref = { .scope = a->scope, .name = a->name, .type = b->type,
                                 .limit_micros = b->limit_micros, .max_calls = 0 };
    enum ak_err err = ak_ledger_budget_get(r->l, &ref, r->now_ms, &st);
    if (err != AK_OK && err != AK_ERR_NOTFOUND) {
        akc_log_limited(AK_LOG_WARN, "alerts-budget", "alerts: cannot read the budget of %s: %s",
                        a->name, ak_strerror(err));
        return false;
    }
    if (err == AK_ERR_NOTFOUND) {
        memset(&st, 0, sizeof st);
        ak_period_key(b->type, r->now_ms, st.period);
        st.resets_at_ms = ak_period_reset_ms(b->type, r->now_ms);
    }
    a->has_budget = true;
    a->type = b->type;
    a->spent_micros = st.spent_micros;
    a->limit_micros = b->limit_micros;
    a->pct = (double)st.spent_micros / (double)b->limit_micros;
    snprintf(a->period, sizeof a->period, "%s", st.period);
    /* reservations keep spend under the limit: a budget that refused a call is at 100 % */
    char key[ALERTS_KEY_LEN];
    snprintf(key, sizeof key, AK_META_EXHAUSTED_FMT, akc_scope_name(a->scope), a->name, a->period);
    if (a->pct < 1.0 && meta_has(r->l, key)) {
        a->pct = 1.0;
        a->exhausted = true;
    }
    a->resets_at_ms = st.resets_at_ms;
    return true;
}

/* The dedupe key of one rule in one period: "alert:<scope>:<name>:<threshold>:<period>". */
static void rule_key(const struct akc_alert *a, const struct ak_alert_rule *rule, char *key,
                     size_t len)
{
    snprintf(key, len, "alert:%s:%s:%g:%s", akc_scope_name(a->scope), a->name, rule->threshold,
             a->period);
}

static bool rule_has_channel(const struct ak_alert_rule *rule, const char *chan)
{
    for (size_t i = 0; i < rule->n_channels; i++)
        if (strcmp(rule->channels[i], chan) == 0)
            return true;
    return false;
}

static bool chan_done(struct alerts_run *r, const char *key, const char *chan)
{
    char chan_key[ALERTS_KEY_LEN + AK_EV_NAME];
    snprintf(chan_key, sizeof chan_key, "%s:%s", key, chan);
    return meta_has(r->l, key) || meta_has(r->l, chan_key);
}

static enum ak_err chan_mark(struct alerts_run *r, const char *key, const char *chan)
{
    char chan_key[ALERTS_KEY_LEN + AK_EV_NAME];
    snprintf(chan_key, sizeof chan_key, "%s:%s", key, chan);
    return meta_put_now(r->l, chan_key, r->now_ms);
}

/* One channel's share of the crossed rules: those that name it and have not reached it yet.
 * Thresholds crossed together go out as one alert naming the highest, the others listed as
 * skipped; all of them are then done for this channel. */
static enum ak_err fire_channel(struct alerts_run *r, struct akc_alert *a, const char *chan,
                                const struct ak_alert_rule *rules, const bool *crossed, size_t n)
{
    char key[ALERTS_KEY_LEN];
    const struct ak_alert_rule *top = NULL;
    size_t used = 0;
    a->skipped[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!crossed[i] || !rule_has_channel(&rules[i], chan))
            continue;
        rule_key(a, &rules[i], key, sizeof key);
        if (chan_done(r, key, chan))
            continue;
        if (!top || rules[i].threshold > top->threshold)
            top = &rules[i];
    }
    if (!top)
        return AK_OK;
    for (size_t i = 0; i < n; i++) {   /* the lower ones this alert stands for */
        rule_key(a, &rules[i], key, sizeof key);
        if (!crossed[i] || &rules[i] == top || !rule_has_channel(&rules[i], chan) ||
            chan_done(r, key, chan) || rules[i].threshold > top->threshold)
            continue;
        int k = snprintf(a->skipped + used, sizeof a->skipped - used, "%s%g%%", used ? ", " : "",
                         rules[i].threshold * AKC_PERCENT);
        if (k > 0 && (size_t)k < sizeof a->skipped - used)
            used += (size_t)k;
    }
    a->threshold = top->threshold;
    a->rule_template = top->template;
    rule_key(a, top, a->dedup_key, sizeof a->dedup_key);
    if (!alerts_send(r, chan, a)) {
        r->pending = true;
        return AK_OK;
    }
    enum ak_err err = AK_OK;
    for (size_t i = 0; i < n && err == AK_OK; i++) {
        rule_key(a, &rules[i], key, sizeof key);
        if (crossed[i] && rule_has_channel(&rules[i], chan) && rules[i].threshold <= top->threshold)
            err = chan_mark(r, key, chan);
    }
    return err;
}

/* A rule is done when every one of its channels has it. */
static enum ak_err rules_settle(struct alerts_run *r, const struct akc_alert *a,
                                const struct ak_alert_rule *rules, const bool *crossed, size_t n)
{
    char key[ALERTS_KEY_LEN];
    enum ak_err err = AK_OK;
    for (size_t i = 0; i < n && err == AK_OK; i++) {
        rule_key(a, &rules[i], key, sizeof key);
        if (!crossed[i] || meta_has(r->l, key))
            continue;
        bool all = true;
        for (size_t c = 0; c < rules[i].n_channels && all; c++)
            all = chan_done(r, key, rules[i].channels[c]);
        if (!all)
            continue;
        ak_info("alert fired: %s", key);
        err = meta_put_now(r->l, key, r->now_ms);
    }
    return err;
}

static enum ak_err fire_rules(struct alerts_run *r, struct akc_alert *a,
                              const struct ak_alert_rule *rules, size_t n)
{
    bool crossed[ALERTS_RULES_MAX];
    bool any = false;
    char key[ALERTS_KEY_LEN];
    if (n > ALERTS_RULES_MAX)
        n = ALERTS_RULES_MAX;
    for (size_t i = 0; i < n; i++) {
        rule_key(a, &rules[i], key, sizeof key);
        crossed[i] = a->pct >= rules[i].threshold && !meta_has(r->l, key);
        any |= crossed[i];
    }
    if (!any)
        return AK_OK;
    enum ak_err err = AK_OK;
    for (size_t i = 0; i < n && err == AK_OK; i++) {     /* each channel once, in rule order */
        for (size_t c = 0; c < rules[i].n_channels && err == AK_OK; c++) {
            const char *chan = rules[i].channels[c];
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = crossed[j] && rule_has_channel(&rules[j], chan);
            if (crossed[i] && !seen)
                err = fire_channel(r, a, chan, rules, crossed, n);
        }
    }
    return err == AK_OK ? rules_settle(r, a, rules, crossed, n) : err;
}

static enum ak_err alerts_budget(struct alerts_run *r, enum ak_scope scope, const char *name,
                                 const struct ak_shared_budget *shared, const struct ak_budget *b,
                                 const struct ak_alert_rule *rules, size_t n)
{
    struct akc_alert a;
    memset(&a, 0, sizeof a);
    a.kind = AKC_ALERT_BUDGET;
    a.scope = scope;
    a.name = name;
    a.shared = shared;
    a.now_ms = r->now_ms;
    if (n == 0 || !alert_budget_state(r, &a, b))
        return AK_OK;
    return fire_rules(r, &a, rules, n);
}

/* Every agent the config lists or the ledger knows, with its rules (a listed agent has
 * inherited any it left out from defaults; an unlisted one follows defaults). */
static enum ak_err alerts_budgets(struct alerts_run *r)
{
    const struct ak_config *cfg = r->cfg;
    struct ak_strs names = { 0 };
    enum ak_err err = ak_status_agents(cfg, r->l, &names);
    for (size_t i = 0; err == AK_OK && i < names.n; i++) {
        const struct ak_agent_cfg *ag = ak_config_agent_or_default(cfg, names.v[i]);
        struct ak_agent_flags fl;
        struct ak_budget b;
        if (ag->n_alerts == 0)
            continue;
        if (ak_ledger_agent_get(r->l, names.v[i], &fl) != AK_OK)
            memset(&fl, 0, sizeof fl);
        ak_policy_agent_budget(cfg, names.v[i], &fl, &b);
        err = alerts_budget(r, AK_SCOPE_AGENT, names.v[i], NULL, &b, ag->alerts, ag->n_alerts);
    }
    ak_strs_free(&names);
    for (size_t i = 0; err == AK_OK && i < cfg->n_shared; i++) {
        const struct ak_shared_budget *s = &cfg->shared[i];
        struct ak_budget b;
        ak_policy_shared_budget(cfg, r->l, s, &b);
        err = alerts_budget(r, AK_SCOPE_SHARED, s->name, s, &b, s->alerts, s->n_alerts);
    }
    return err;
}

/* ---- refusal notices ---- */

static void notice_add(struct akc_alerts *al, const char *agent, enum akc_alert_kind kind,
                       const char *reason)
{
    struct notice *n = NULL;
    for (size_t i = 0; i < al->n_notices && !n; i++)
        if (al->notices[i].kind == kind && strcmp(al->notices[i].agent, agent) == 0)
            n = &al->notices[i];
    if (!n && al->n_notices == ALERTS_NOTICES_MAX) {
        akc_log_limited(AK_LOG_WARN, "alerts-notices", "alerts: too many refusal notices waiting; "
                        "dropping the one for %s", agent);
        return;
    }
    if (!n) {
        n = &al->notices[al->n_notices++];
        snprintf(n->agent, sizeof n->agent, "%s", agent);
        n->kind = kind;
    }
    snprintf(n->reason, sizeof n->reason, "%s", reason); /* the latest reason wins */
}

static int notice_scan(uint64_t seq, const char *json, size_t len, void *ud)
{
    struct alerts_run *r = ud;
    struct ak_event ev;
    if (!memmem(json, len, "blocked_guardrail", strlen("blocked_guardrail")) &&
        !memmem(json, len, "blocked_suspended", strlen("blocked_suspended")))
        return 0;
    if (ak_event_from_json(json, len, &ev) != AK_OK)
        return 0;
    if ((ev.decision == AK_DEC_BLOCKED_GUARDRAIL || ev.decision == AK_DEC_BLOCKED_SUSPENDED) &&
        ev.ts_ms >= r->now_ms - ALERTS_STALE_MS)
        notice_add(r->al, ev.agent, ev.decision == AK_DEC_BLOCKED_SUSPENDED ? AKC_ALERT_SUSPENDED
                                                                            : AKC_ALERT_GUARDRAIL,
                   ev.reason);
    ak_event_clear(&ev);
    return 0;
}

struct scan_last {
    struct alerts_run *r;
    uint64_t last;
    size_t n;
};

static int notice_scan_track(uint64_t seq, const char *json, size_t len, void *ud)
{
    struct scan_last *s = ud;
    s->last = seq;
    s->n++;
    return notice_scan(seq, json, len, s->r);
}

static enum ak_err notices_read(struct alerts_run *r)
{
    uint64_t cur = 0;
    enum ak_err err = ak_ledger_cursor_get(r->l, AKC_ALERTS_CURSOR, &cur);
    if (err == AK_ERR_NOTFOUND)
        err = AK_OK;
    for (int i = 0; err == AK_OK && i < ALERTS_SCAN_ROUNDS; i++) {
        struct scan_last s = { .r = r, .last = cur };
        err = ak_ledger_events_scan(r->l, cur, AKC_BATCH_MAX, notice_scan_track, &s);
        if (err == AK_ERR_NOTFOUND)
            err = AK_OK;
        if (err != AK_OK || s.n == 0)
            break;
        cur = s.last;
        err = ak_ledger_cursor_set(r->l, AKC_ALERTS_CURSOR, cur);
    }
    return err;
}

/* The agent's rule with the highest threshold, or NULL. */
static const struct ak_alert_rule *highest_rule(const struct ak_agent_cfg *ag)
{
    const struct ak_alert_rule *best = NULL;
    for (size_t i = 0; i < ag->n_alerts; i++)
        if (!best || ag->alerts[i].threshold > best->threshold)
            best = &ag->alerts[i];
    return best;
}

/* true when the notice is done with (delivered, in cooldown, or nobody to tell). */
static bool notice_deliver(struct alerts_run *r, const struct notice *n)
{
    char key[ALERTS_KEY_LEN], val[ALERTS_VAL_LEN];
    const struct ak_agent_cfg *ag = ak_config_agent_or_default(r->cfg, n->agent);
    const struct ak_alert_rule *rule = highest_rule(ag);
    if (!rule)
        return true;
    snprintf(key, sizeof key, "alertcd:%s:%s", n->agent, akc_alert_kind_name(n->kind));
    int64_t cooldown_ms = (int64_t)(r->cfg->alert_cooldown_s > 0 ? r->cfg->alert_cooldown_s : 0) * AK_MS_PER_S;
    if (ak_ledger_meta_get(r->l, key, val, sizeof val) == AK_OK &&
        r->now_ms - strtoll(val, NULL, 10) < cooldown_ms)
        return true;
    struct akc_alert a;
    memset(&a, 0, sizeof a);
    a.kind = n->kind;
    a.scope = AK_SCOPE_AGENT;
    a.name = n->agent;
    a.reason = n->reason;
    a.now_ms = r->now_ms;
    a.rule_template = rule->template;
    struct ak_agent_flags fl;
    struct ak_budget b;
    if (ak_ledger_agent_get(r->l, n->agent, &fl) != AK_OK)
        memset(&fl, 0, sizeof fl);
    ak_policy_agent_budget(r->cfg, n->agent, &fl, &b);
    (void)alert_budget_state(r, &a, &b);
    snprintf(a.dedup_key, sizeof a.dedup_key, "%s:%s", key, a.period[0] ? a.period : "none");
    bool all = true;
    for (size_t i = 0; i < rule->n_channels; i++)
        if (!alerts_send(r, rule->channels[i], &a))
            all = false;
    if (!all)
        return false;
    if (meta_put_now(r->l, key, r->now_ms) != AK_OK)
        akc_log_limited(AK_LOG_WARN, "alerts-meta", "alerts: cannot record the cooldown of %s", key);
    return true;
}

static enum ak_err alerts_notices(struct alerts_run *r)
{
    enum ak_err err = notices_read(r);
    struct akc_alerts *al = r->al;
    size_t keep = 0;
    for (size_t i = 0; i < al->n_notices; i++) {
        if (notice_deliver(r, &al->notices[i]))
            continue;
        al->notices[keep++] = al->notices[i];
        r->pending = true;
    }
    al->n_notices = keep;
    return err;
}

enum ak_err akc_alerts_run(struct akc_alerts *al, const struct ak_config *cfg,
                           struct ak_ledger *l, int64_t now_ms, bool force, bool *pending)
{
    struct alerts_run r = { .al = al, .cfg = cfg, .l = l, .now_ms = now_ms, .force = force };
    enum ak_err err = alerts_budgets(&r);
    enum ak_err err2 = alerts_notices(&r);
    *pending = r.pending;
    return err != AK_OK ? err : err2;
}
