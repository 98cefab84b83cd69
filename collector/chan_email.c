/*
 * chan_email.c - e-mail through an SMTP relay (libcurl smtp:// or smtps://): a plain-text
 * message with the alert sentence and one line per fact.
 */
#include "collector/alert.h"
#include "collector/logrl.h"
#include "collector/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMAIL_SUBJECT_LEN 256

static enum ak_err email_body(const struct akc_alert *a, const char *text, struct ak_buf *b)
{
    struct akc_alert_fmt f;
    akc_alert_format(a, &f);
    enum ak_err err = ak_buf_printf(b, "%s\n\n", text);
    if (err == AK_OK && a->has_budget)
        err = ak_buf_printf(b, "%s: %s\nPercent: %s%%\nSpent: %s\nLimit: %s\nRemaining: %s\n"
                               "Budget: %s, period %s, resets %s\n",
                            a->scope == AK_SCOPE_SHARED ? "Shared budget" : "Agent", a->name,
                            f.pct, f.spent, f.budget, f.remaining, ak_period_type_name(a->type),
                            a->period, f.resets_at);
    if (err == AK_OK)
        err = ak_buf_printf(b, "Severity: %s\n", akc_alert_severity(a));
    if (err == AK_OK)
        err = ak_buf_append(b, "", 1, 0);
    return err;
}

enum akc_outcome akc_email_send(const struct ak_channel *ch, const struct akc_alert *a)
{
    enum akc_outcome out = AKC_RETRY;
    struct akc_http_result res;
    struct akc_alert_fmt f;
    struct ak_buf body = { 0 };
    char subject[EMAIL_SUBJECT_LEN];
    char *text = akc_alert_text(a, ch);
    if (!text || email_body(a, text, &body) != AK_OK)
        goto out;
    akc_alert_format(a, &f);
    if (a->kind == AKC_ALERT_BUDGET)
        snprintf(subject, sizeof subject, "[agentkavach] %s at %s%% of its %s budget", a->name,
                 f.pct, ak_period_type_name(a->type));
    else
        snprintf(subject, sizeof subject, "[agentkavach] %s: call refused (%s)", a->name,
                 akc_alert_kind_name(a->kind));
    out = akc_smtp_send(ch->smtp_url, ch->from, ch->to, ch->n_to, subject,
                        (const char *)body.data, &res);
    if (out != AKC_DELIVERED)
        akc_log_limited(AK_LOG_WARN, ch->name, "email channel %s: %s", ch->name, res.error);
    else
        akc_log_clear(ch->name);
out:
    ak_buf_free(&body);
    free(text);
    return out;
}
