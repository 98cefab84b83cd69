/*
 * alerts.h - the alert engine, run after each drain.
 *
 * Budget thresholds: for every agent and shared budget with alert rules (agents.X.alerts,
 * shared_budgets.Y.alerts, and defaults.alerts for agents the config does not list), the
 * percent spent of the current period (effective limit: an `akctl budget set` override in
 * the ledger, else the config) is compared with each rule; each threshold crossed fires
 * once per period. The dedupe key "alert:<scope>:<name>:<threshold>:<period>" is kept in
 * ledger meta, written only after every channel of the rule delivered (each channel's own
 * success is kept too, so a retry goes only to the channels that failed). Restarts
 * therefore neither repeat nor lose an alert.
 *
 * Refusal notices: events with decision blocked_guardrail or blocked_suspended, read after
 * the ledger cursor "alerts", alert the channels of the agent's highest-threshold rule, at
 * most once per alert_cooldown_s per agent and kind (the last time is kept in ledger meta
 * "alertcd:<agent>:<kind>"). Undelivered notices are retried while the collector runs.
 */
#ifndef AKC_ALERTS_H
#define AKC_ALERTS_H

#include "core/config.h"
#include "core/ledger.h"

#define AKC_ALERTS_CURSOR "alerts"

struct akc_alerts;

enum ak_err akc_alerts_new(struct akc_alerts **out);
void akc_alerts_free(struct akc_alerts *al);

/* One pass. `force` ignores channel backoff (--once). *pending is set when some alert
 * could not be delivered yet. */
enum ak_err akc_alerts_run(struct akc_alerts *al, const struct ak_config *cfg,
                           struct ak_ledger *l, int64_t now_ms, bool force, bool *pending);

#endif
