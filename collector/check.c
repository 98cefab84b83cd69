/*
 * check.c - `akcollector --check`: validates the configuration and says, one line each,
 * whether the state directory, every exporter and every alert channel is usable: required
 * fields present, HTTP/SMTP endpoints reachable (a TCP connect with a short timeout), and
 * every channel named by an alert rule configured, the fleet's Redis answering. Exit 0 when
 * all is well, 1 otherwise.
 */
#include "collector/alert.h"
#include "collector/collector.h"
#include "collector/dashboard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_MSG_LEN 512
#define KILL_CHANNEL "kill"

static void check_line(bool ok, const char *what, const char *detail, bool *all)
{
    printf("%-28s %s%s%s\n", what, ok ? "ok" : "FAIL", detail && *detail ? ": " : "",
           detail ? detail : "");
    if (!ok)
        *all = false;
}

static void check_rules(const struct ak_config *cfg, const char *where,
                        const struct ak_alert_rule *rules, size_t n, bool *all)
{
    char what[CHECK_MSG_LEN], msg[CHECK_MSG_LEN];
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < rules[i].n_channels; k++) {
            const char *ch = rules[i].channels[k];
            if (ak_config_channel(cfg, ch) || strcmp(ch, KILL_CHANNEL) == 0)
                continue;
            snprintf(what, sizeof what, "rule %s", where);
            snprintf(msg, sizeof msg, "threshold %g names channel %s, which is not configured",
                     rules[i].threshold, ch);
            check_line(false, what, msg, all);
        }
}

static void check_state(const char *state_dir, bool *all)
{
    struct ak_ledger *l = NULL;
    char msg[CHECK_MSG_LEN];
    uint64_t pending = 0;
    enum ak_err err = ak_ledger_open(state_dir, &l);
    if (err == AK_OK && ak_ledger_outbox_pending(l, &pending) == AK_OK)
        snprintf(msg, sizeof msg, "%s (%llu events waiting)", state_dir, (unsigned long long)pending);
    else
        snprintf(msg, sizeof msg, "%s: %s", state_dir, ak_strerror(err));
    check_line(err == AK_OK, "state_dir", msg, all);
    if (l) {
        struct ak_ledger_stats st;
        ak_ledger_stats(l, &st);
        snprintf(msg, sizeof msg, "internal_errors %llu, map_grows %llu, pruned_undelivered %llu, "
                 "map %zu bytes", (unsigned long long)st.internal_errors,
                 (unsigned long long)st.map_grows, (unsigned long long)st.pruned_undelivered,
                 st.map_size);
        /* informational: a count above zero is worth a look, not a failed check */
        printf("%-28s %s\n", "counters", msg);
        ak_ledger_close(l);
    }
}

static void check_exporters(const struct ak_config *cfg, const char *state_dir, bool *all)
{
    struct akc_exporter **ex = NULL;
    size_t n = 0;
    char what[CHECK_MSG_LEN], msg[CHECK_MSG_LEN];
    enum ak_err err = akc_exporters_build(cfg, state_dir, &ex, &n);
    if (err != AK_OK) {
        check_line(false, "exporters", ak_strerror(err), all);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        msg[0] = '\0';
        bool ok = ex[i]->ops->check(ex[i], msg, sizeof msg);
        snprintf(what, sizeof what, "exporter %s", ex[i]->name);
        check_line(ok, what, msg, all);
    }
    akc_exporters_free(ex, n);
}

/* fleet: Redis reachable (and the password accepted) within connect_timeout_ms. The URL is not
 * printed: it may carry the password. */
static void check_fleet(const struct ak_config *cfg, bool *all)
{
    struct akc_redis *r = NULL;
    char msg[CHECK_MSG_LEN];
    if (!cfg->fleet.redis_url)
        return;
    if (akc_redis_new(&r) != AK_OK) {
        check_line(false, "fleet redis", "out of memory", all);
        return;
    }
    bool ok = akc_redis_ready(r, &cfg->fleet);
    snprintf(msg, sizeof msg, "%s within %d ms (host_id %s)", ok ? "reachable" : "not reachable",
             cfg->fleet.connect_timeout_ms, cfg->fleet.host_id ? cfg->fleet.host_id : "(host name)");
    check_line(ok, "fleet redis", msg, all);
    akc_redis_free(r);
}

int akc_run_check(const struct akc_opts *o)
{
    struct ak_config *cfg = NULL;
    char err[AK_CONFIG_ERRLEN], what[CHECK_MSG_LEN], msg[CHECK_MSG_LEN];
    bool all = true;
    err[0] = '\0';
    if (ak_config_resolve(o->config, &cfg, err, sizeof err) != AK_OK) {
        check_line(false, "config", err[0] ? err : "cannot be loaded", &all);
        return EXIT_FAILURE;
    }
    check_line(true, "config", cfg->path ? cfg->path : "(built-in defaults)", &all);
    const char *state_dir = o->state_dir ? o->state_dir : ak_config_state_dir(cfg);
    check_state(state_dir, &all);
    check_exporters(cfg, state_dir, &all);
    check_line(akc_dash_check(cfg, msg, sizeof msg), "dashboard", msg, &all);
    check_fleet(cfg, &all);
    for (size_t i = 0; i < cfg->n_channels; i++) {
        msg[0] = '\0';
        bool ok = akc_channel_check(&cfg->channels[i], msg, sizeof msg);
        snprintf(what, sizeof what, "channel %s", cfg->channels[i].name);
        check_line(ok, what, msg, &all);
    }
    check_rules(cfg, "defaults.alerts", cfg->defaults.alerts, cfg->defaults.n_alerts, &all);
    for (size_t i = 0; i < cfg->n_agents; i++) {
        snprintf(what, sizeof what, "agents.%s.alerts", cfg->agents[i].name);
        check_rules(cfg, what, cfg->agents[i].alerts, cfg->agents[i].n_alerts, &all);
    }
    for (size_t i = 0; i < cfg->n_shared; i++) {
        snprintf(what, sizeof what, "shared_budgets.%s.alerts", cfg->shared[i].name);
        check_rules(cfg, what, cfg->shared[i].alerts, cfg->shared[i].n_alerts, &all);
    }
    ak_config_free(cfg);
    return all ? EXIT_SUCCESS : EXIT_FAILURE;
}
