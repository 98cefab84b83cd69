/*
 * alert.h - one alert as the channels see it, and the channel interface.
 *
 * An alert is either a budget threshold crossed (kind budget: fired once per threshold and
 * period) or a notice about a refused call (kind guardrail or suspended, with a cooldown).
 * Message text: the channel's `template`, else the rule's, else the built-in sentence;
 * placeholders are listed in template.h.
 */
#ifndef AKC_ALERT_H
#define AKC_ALERT_H

#include "collector/http.h"
#include "core/config.h"
#include "core/ledger.h"

#include <cjson/cJSON.h>

enum akc_alert_kind { AKC_ALERT_BUDGET = 0, AKC_ALERT_GUARDRAIL, AKC_ALERT_SUSPENDED };

#define AKC_DEDUP_LEN 480
#define AKC_SKIPPED_LEN 128
#define AKC_PERCENT 100.0

struct akc_alert {
    enum akc_alert_kind kind;
    enum ak_scope scope;
    const char *name;             /* the agent, or the shared budget */
    const struct ak_shared_budget *shared; /* set for scope shared (kill suspends its agents) */
    bool has_budget;              /* false: a notice for an agent without a budget */
    enum ak_period_type type;
    double threshold;             /* the rule's threshold (budget alerts): the highest crossed */
    char skipped[AKC_SKIPPED_LEN];/* lower thresholds crossed in the same pass ("50%, 70%") */
    double pct;                   /* spent / limit, 1.0 = 100 % */
    bool exhausted;               /* the budget refused a call this period (pct is then 1.0) */
    int64_t spent_micros, limit_micros;
    char period[AK_PERIOD_KEY_LEN];
    int64_t resets_at_ms;         /* 0 for total budgets */
    const char *reason;           /* the refusal's reason (notices); NULL otherwise */
    const char *rule_template;    /* the rule's template, or NULL */
    char dedup_key[AKC_DEDUP_LEN];/* one incident per budget, threshold and period */
    int64_t now_ms;
};

/* What a channel may use besides the alert. */
struct akc_chan_ctx {
    const struct ak_config *cfg;
    struct ak_ledger *ledger;
};

const char *akc_alert_kind_name(enum akc_alert_kind k);  /* "budget" | "guardrail" | "suspended" */
const char *akc_scope_name(enum ak_scope s);             /* "agent" | "shared" */
/* PagerDuty-style severity: warning below 90 %, error up to 100 %, critical from 100 %;
 * notices: error for a guardrail refusal, critical for a suspension. */
const char *akc_alert_severity(const struct akc_alert *a);

/* Adds the alert's fields (agent, percent, spent, limit, remaining, period, resets_at ...)
 * to a JSON object: the webhook body, PagerDuty custom_details. */
bool akc_alert_fields_json(const struct akc_alert *a, cJSON *obj);

/* Delivers to one channel. `name` is the rule's channel name: a configured channel, or
 * the built-in "kill". */
enum akc_outcome akc_channel_send(const char *name, const struct akc_alert *a,
                                  const struct akc_chan_ctx *ctx);
/* --check: true when the channel is usable; one line of detail in msg. */
bool akc_channel_check(const struct ak_channel *ch, char *msg, size_t len);

/* Posts a channel's JSON body and logs the outcome once (rate-limited per channel). */
enum akc_outcome akc_channel_post(const struct ak_channel *ch, const char *kind, const char *url,
                                  const char *const *headers, const char *body);

/* One function per channel file. */
enum akc_outcome akc_slack_send(const struct ak_channel *ch, const struct akc_alert *a);
enum akc_outcome akc_pagerduty_send(const struct ak_channel *ch, const struct akc_alert *a);
enum akc_outcome akc_webhook_send(const struct ak_channel *ch, const struct akc_alert *a);
enum akc_outcome akc_email_send(const struct ak_channel *ch, const struct akc_alert *a);
enum akc_outcome akc_kill_send(const struct akc_alert *a, const struct akc_chan_ctx *ctx);

#define AKC_PAGERDUTY_DEFAULT_URL "https://events.pagerduty.com/v2/enqueue"

#endif
