/*
 * channel.c - what all alert channels share: the dispatcher from a rule's channel name to
 * the channel file that speaks its protocol, the alert's common JSON fields, severity,
 * and the --check verdict for each configured channel.
 */
#include "collector/alert.h"
#include "collector/logrl.h"
#include "collector/template.h"
#include "core/period.h"

#include <stdio.h>
#include <string.h>

#define KILL_CHANNEL "kill"
#define SEVERITY_ERROR_AT 0.9
#define SEVERITY_CRITICAL_AT 1.0
#define PCT_SCALE 100.0
#define CHANNEL_MSG_LEN 256

const char *akc_alert_kind_name(enum akc_alert_kind k)
{
    switch (k) {
    case AKC_ALERT_BUDGET: return "budget";
    case AKC_ALERT_GUARDRAIL: return "guardrail";
    case AKC_ALERT_SUSPENDED: return "suspended";
    }
    return "budget";
}

const char *akc_scope_name(enum ak_scope s) { return s == AK_SCOPE_SHARED ? "shared" : "agent"; }

const char *akc_alert_severity(const struct akc_alert *a)
{
    if (a->kind == AKC_ALERT_SUSPENDED)
        return "critical";
    if (a->kind == AKC_ALERT_GUARDRAIL)
        return "error";
    if (a->pct >= SEVERITY_CRITICAL_AT)
        return "critical";
    return a->pct >= SEVERITY_ERROR_AT ? "error" : "warning";
}

static bool json_usd(cJSON *obj, const char *key, int64_t micros)
{
    return cJSON_AddNumberToObject(obj, key, (double)micros / AK_MICROS_PER_USD) != NULL;
}

bool akc_alert_fields_json(const struct akc_alert *a, cJSON *obj)
{
    struct akc_alert_fmt f;
    akc_alert_format(a, &f);
    int64_t left = a->limit_micros - a->spent_micros;
    bool ok = cJSON_AddStringToObject(obj, "kind", akc_alert_kind_name(a->kind)) &&
              cJSON_AddStringToObject(obj, "scope", akc_scope_name(a->scope)) &&
              cJSON_AddStringToObject(obj, a->scope == AK_SCOPE_SHARED ? "shared_budget" : "agent",
                                      a->name) &&
              cJSON_AddStringToObject(obj, "severity", akc_alert_severity(a)) &&
              cJSON_AddStringToObject(obj, "dedup_key", a->dedup_key);
    if (ok && a->kind == AKC_ALERT_BUDGET)
        ok = cJSON_AddNumberToObject(obj, "threshold", a->threshold) != NULL &&
             (!a->skipped[0] || cJSON_AddStringToObject(obj, "skipped_thresholds", a->skipped));
    if (ok && a->reason)
        ok = cJSON_AddStringToObject(obj, "reason", a->reason) != NULL;
    if (ok && a->has_budget)
        ok = cJSON_AddNumberToObject(obj, "percent", a->pct * PCT_SCALE) &&
             json_usd(obj, "spent_usd", a->spent_micros) &&
             json_usd(obj, "limit_usd", a->limit_micros) &&
             json_usd(obj, "remaining_usd", left > 0 ? left : 0) &&
             cJSON_AddStringToObject(obj, "budget_type", ak_period_type_name(a->type)) &&
             cJSON_AddStringToObject(obj, "period", a->period) &&
             cJSON_AddStringToObject(obj, "resets_at", f.resets_at);
    return ok;
}

static bool check_field(const char *v, const char *field, const char *type, char *msg, size_t len);

/* Required fields present? (An unset ${VAR} leaves them empty.) */
static bool channel_complete(const struct ak_channel *ch, char *msg, size_t len)
{
    switch (ch->type) {
    case AK_CHAN_SLACK: return check_field(ch->url, "webhook_url", "slack", msg, len);
    case AK_CHAN_PAGERDUTY: return check_field(ch->routing_key, "routing_key", "pagerduty", msg, len);
    case AK_CHAN_WEBHOOK: return check_field(ch->url, "url", "webhook", msg, len);
    case AK_CHAN_EMAIL:
        if (!check_field(ch->smtp_url, "smtp_url", "email", msg, len) ||
            !check_field(ch->from, "from", "email", msg, len))
            return false;
        if (ch->n_to == 0) {
            snprintf(msg, len, "email channel: to is empty");
            return false;
        }
        return true;
    case AK_CHAN_KILL: break;
    }
    return true;
}

enum akc_outcome akc_channel_send(const char *name, const struct akc_alert *a,
                                  const struct akc_chan_ctx *ctx)
{
    char msg[CHANNEL_MSG_LEN];
    const struct ak_channel *ch = ak_config_channel(ctx->cfg, name);
    if (!ch) {
        if (strcmp(name, KILL_CHANNEL) == 0)
            return akc_kill_send(a, ctx);
        akc_log_limited(AK_LOG_ERROR, name, "alert channel %s is not configured", name);
        return AKC_REJECTED;
    }
    if (!channel_complete(ch, msg, sizeof msg)) {
        /* documented: an incomplete channel is reported by --check and skipped here */
        akc_log_limited(AK_LOG_WARN, name, "channel %s skipped: %s", name, msg);
        return AKC_DELIVERED;
    }
    switch (ch->type) {
    case AK_CHAN_SLACK: return akc_slack_send(ch, a);
    case AK_CHAN_PAGERDUTY: return akc_pagerduty_send(ch, a);
    case AK_CHAN_WEBHOOK: return akc_webhook_send(ch, a);
    case AK_CHAN_EMAIL: return akc_email_send(ch, a);
    case AK_CHAN_KILL: return akc_kill_send(a, ctx);
    }
    return AKC_REJECTED;
}

static bool check_field(const char *v, const char *field, const char *type, char *msg, size_t len)
{
    if (v && *v)
        return true;
    snprintf(msg, len, "%s channel: %s is empty", type, field);
    return false;
}

static bool check_url(const char *url, char *msg, size_t len)
{
    char err[256];
    if (!akc_http_probe(url, err, sizeof err)) {
        snprintf(msg, len, "%s unreachable: %s", url, err);
        return false;
    }
    snprintf(msg, len, "%s reachable", url);
    return true;
}

bool akc_channel_check(const struct ak_channel *ch, char *msg, size_t len)
{
    if (!channel_complete(ch, msg, len))
        return false;
    switch (ch->type) {
    case AK_CHAN_SLACK:
    case AK_CHAN_WEBHOOK:
        return check_url(ch->url, msg, len);
    case AK_CHAN_PAGERDUTY:
        return check_url(ch->events_url && *ch->events_url ? ch->events_url
                                                           : AKC_PAGERDUTY_DEFAULT_URL, msg, len);
    case AK_CHAN_EMAIL:
        return check_url(ch->smtp_url, msg, len);
    case AK_CHAN_KILL:
        break;
    }
    snprintf(msg, len, "kill: suspends the agent in the ledger");
    return true;
}

enum akc_outcome akc_channel_post(const struct ak_channel *ch, const char *kind, const char *url,
                                  const char *const *headers, const char *body)
{
    struct akc_http_result res;
    enum akc_outcome out = akc_http_post_json(url, headers, body, strlen(body), &res);
    if (out != AKC_DELIVERED)
        akc_log_limited(AK_LOG_WARN, ch->name, "%s channel %s: %s", kind, ch->name, res.error);
    else
        akc_log_clear(ch->name);
    return out;
}
