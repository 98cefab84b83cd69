/*
 * chan_slack.c - Slack incoming webhook: {"text": ..., "blocks": [...]}. `text` is the
 * notification/fallback line; the blocks show the agent, percent, spent, limit, remaining,
 * period and reset time. mrkdwn text is escaped (&, <, >) so that names cannot ping.
 */
#include "collector/alert.h"
#include "collector/logrl.h"
#include "collector/template.h"
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLACK_SECTION_MAX 2900    /* Slack cuts section text near 3000 characters */

static char *slack_escape(const char *s)
{
    struct ak_buf b = { 0 };
    enum ak_err err = AK_OK;
    for (; *s && err == AK_OK && b.len < SLACK_SECTION_MAX; s++) {
        if (*s == '&')
            err = ak_buf_append(&b, "&amp;", 5, 0);
        else if (*s == '<')
            err = ak_buf_append(&b, "&lt;", 4, 0);
        else if (*s == '>')
            err = ak_buf_append(&b, "&gt;", 4, 0);
        else
            err = ak_buf_append(&b, s, 1, 0);
    }
    if (err == AK_OK)
        err = ak_buf_append(&b, "", 1, 0);
    if (err != AK_OK) {
        ak_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

static bool slack_text_obj(cJSON *parent, const char *key, const char *type, const char *text)
{
    cJSON *t = cJSON_AddObjectToObject(parent, key);
    return t && cJSON_AddStringToObject(t, "type", type) && cJSON_AddStringToObject(t, "text", text);
}

static bool slack_field(cJSON *fields, const char *label, const char *value)
{
    struct ak_buf b = { 0 };
    char *v = slack_escape(value);
    cJSON *f = cJSON_CreateObject();
    bool ok = v && f && ak_buf_printf(&b, "*%s*\n%s", label, v) == AK_OK &&
              ak_buf_append(&b, "", 1, 0) == AK_OK && cJSON_AddStringToObject(f, "type", "mrkdwn") &&
              cJSON_AddStringToObject(f, "text", (const char *)b.data);
    if (f)
        cJSON_AddItemToArray(fields, f);
    free(v);
    ak_buf_free(&b);
    return ok;
}

static bool slack_blocks(cJSON *root, const struct akc_alert *a, const char *text)
{
    struct akc_alert_fmt f;
    akc_alert_format(a, &f);
    cJSON *blocks = cJSON_AddArrayToObject(root, "blocks");
    cJSON *header = cJSON_CreateObject(), *section = cJSON_CreateObject(), *facts = cJSON_CreateObject();
    char *esc = slack_escape(text);
    char pct[AKC_FMT_LEN + 2], thr[AKC_FMT_LEN + 2];
    bool ok = false;
    if (!blocks || !header || !section || !facts || !esc)
        goto out;
    cJSON_AddItemToArray(blocks, header);
    cJSON_AddItemToArray(blocks, section);
    header = section = NULL;
    cJSON *h = cJSON_GetArrayItem(blocks, 0), *s = cJSON_GetArrayItem(blocks, 1);
    ok = cJSON_AddStringToObject(h, "type", "header") &&
         slack_text_obj(h, "text", "plain_text", a->kind == AKC_ALERT_BUDGET ? "agentkavach budget alert"
                                                                             : "agentkavach refused a call") &&
         cJSON_AddStringToObject(s, "type", "section") && slack_text_obj(s, "text", "mrkdwn", esc);
    if (!ok || !a->has_budget)
        goto out;
    cJSON_AddItemToArray(blocks, facts);
    cJSON *fields = cJSON_AddArrayToObject(facts, "fields");
    snprintf(pct, sizeof pct, "%s%%", f.pct);
    snprintf(thr, sizeof thr, "%s%%", f.threshold);
    ok = cJSON_AddStringToObject(facts, "type", "section") && fields &&
         slack_field(fields, a->scope == AK_SCOPE_SHARED ? "Shared budget" : "Agent", a->name) &&
         slack_field(fields, "Percent", pct) &&
         (a->kind != AKC_ALERT_BUDGET || slack_field(fields, "Threshold", thr)) &&
         slack_field(fields, "Spent", f.spent) &&
         slack_field(fields, "Limit", f.budget) && slack_field(fields, "Remaining", f.remaining) &&
         slack_field(fields, "Period", a->period) && slack_field(fields, "Resets at", f.resets_at);
    facts = NULL;
out:
    cJSON_Delete(header);
    cJSON_Delete(section);
    cJSON_Delete(facts);
    free(esc);
    return ok;
}

enum akc_outcome akc_slack_send(const struct ak_channel *ch, const struct akc_alert *a)
{
    enum akc_outcome out = AKC_RETRY;
    char *body = NULL, *text = akc_alert_text(a, ch);
    cJSON *root = cJSON_CreateObject();
    if (!text || !root || !cJSON_AddStringToObject(root, "text", text) || !slack_blocks(root, a, text) ||
        !(body = cJSON_PrintUnformatted(root)))
        goto out;
    out = akc_channel_post(ch, "slack", ch->url, NULL, body);
out:
    cJSON_Delete(root);
    free(body);
    free(text);
    return out;
}
