/*
 * template.h - alert message text. A template is plain text with placeholders:
 *   {agent_name} {pct} {spent_fmt} {budget_fmt} {remaining_fmt} {period} {resets_at}
 *   {severity} {budget_type} {reason} {threshold} (the alert's, in percent) {skipped} (lower
 *   thresholds crossed in the same pass, which this one alert stands for)
 * Unknown placeholders are left as written. Without a template the text is a sentence such
 * as "agentkavach: agent research-bot has used 85% of its daily budget (alert at 80%; $42.50 of
 * $50.00, $7.50 left; period 2026-11-22, resets 2026-11-23T00:00:00.000Z)".
 */
#ifndef AKC_TEMPLATE_H
#define AKC_TEMPLATE_H

#include "collector/alert.h"
#include "core/buf.h"

#define AKC_FMT_LEN 48

/* The values behind the placeholders, formatted once. */
struct akc_alert_fmt {
    char pct[AKC_FMT_LEN];        /* "85" (percent, rounded down so "100" means reached) */
    char threshold[AKC_FMT_LEN];  /* "70": the rule's threshold in percent */
    char spent[AKC_FMT_LEN];      /* "$42.50" */
    char budget[AKC_FMT_LEN];
    char remaining[AKC_FMT_LEN];  /* never below $0.00 */
    char resets_at[AKC_FMT_LEN];  /* RFC 3339, or "never" for total budgets */
};

void akc_alert_format(const struct akc_alert *a, struct akc_alert_fmt *f);
/* Renders `tmpl` (NULL or "" = the built-in sentence) into out (reset first). */
enum ak_err akc_template_render(const struct akc_alert *a, const char *tmpl, struct ak_buf *out);
/* The text for a channel: its own template, else the rule's, else the built-in one.
 * Returns a malloc'd NUL-terminated string, or NULL on OOM. */
char *akc_alert_text(const struct akc_alert *a, const struct ak_channel *ch);

#endif
