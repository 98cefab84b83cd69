/*
 * chan_pagerduty.c - PagerDuty Events API v2 "enqueue": a trigger with routing_key,
 * dedup_key (one incident per budget, threshold and period), and a payload with summary
 * (at most 1024 characters), source (this host), severity by percent and custom_details.
 * 202 is success; 429 and 5xx are retried; 400 is a permanent refusal.
 */
#include "collector/alert.h"
#include "collector/logrl.h"
#include "collector/template.h"
#include "core/period.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PD_SUMMARY_MAX 1024
#define PD_DEDUP_MAX 255
#define PD_HOST_MAX 256
#define PD_TIME_LEN 40

static bool pd_payload(cJSON *root, const struct ak_channel *ch, const struct akc_alert *a,
                       const char *text)
{
    char host[PD_HOST_MAX], source[PD_HOST_MAX + 16], ts[PD_TIME_LEN], summary[PD_SUMMARY_MAX + 1];
    char dedup[PD_DEDUP_MAX + 1];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    snprintf(source, sizeof source, "agentkavach@%s", host);
    snprintf(summary, sizeof summary, "%s", text);
    size_t dn = strnlen(a->dedup_key, PD_DEDUP_MAX);
    memcpy(dedup, a->dedup_key, dn);
    dedup[dn] = '\0';
    ak_time_format(a->now_ms, ts, sizeof ts);
    cJSON *p, *details;
    return cJSON_AddStringToObject(root, "routing_key", ch->routing_key) &&
           cJSON_AddStringToObject(root, "event_action", "trigger") &&
           cJSON_AddStringToObject(root, "dedup_key", dedup) &&
           cJSON_AddStringToObject(root, "client", "agentkavach") &&
           (p = cJSON_AddObjectToObject(root, "payload")) &&
           cJSON_AddStringToObject(p, "summary", summary) &&
           cJSON_AddStringToObject(p, "source", source) &&
           cJSON_AddStringToObject(p, "severity", akc_alert_severity(a)) &&
           cJSON_AddStringToObject(p, "timestamp", ts) &&
           cJSON_AddStringToObject(p, "component", a->name) &&
           cJSON_AddStringToObject(p, "group", akc_scope_name(a->scope)) &&
           cJSON_AddStringToObject(p, "class", akc_alert_kind_name(a->kind)) &&
           (details = cJSON_AddObjectToObject(p, "custom_details")) &&
           akc_alert_fields_json(a, details);
}

enum akc_outcome akc_pagerduty_send(const struct ak_channel *ch, const struct akc_alert *a)
{
    enum akc_outcome out = AKC_RETRY;
    const char *url = ch->events_url && *ch->events_url ? ch->events_url : AKC_PAGERDUTY_DEFAULT_URL;
    char *body = NULL, *text = akc_alert_text(a, ch);
    cJSON *root = cJSON_CreateObject();
    if (!ch->routing_key || !*ch->routing_key) {
        akc_log_limited(AK_LOG_ERROR, ch->name, "pagerduty channel %s: routing_key is empty", ch->name);
        out = AKC_REJECTED;
        goto out;
    }
    if (!text || !root || !pd_payload(root, ch, a, text) || !(body = cJSON_PrintUnformatted(root)))
        goto out;
    out = akc_channel_post(ch, "pagerduty", url, NULL, body);
out:
    cJSON_Delete(root);
    free(body);
    free(text);
    return out;
}
