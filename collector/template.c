/*
 * template.c - alert message text and the formatted values behind it (see template.h).
 */
#include "collector/template.h"
#include "core/period.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCT_SCALE 100.0

void akc_alert_format(const struct akc_alert *a, struct akc_alert_fmt *f)
{
    int64_t left = a->limit_micros - a->spent_micros;
    snprintf(f->pct, sizeof f->pct, "%.0f", floor(a->pct * PCT_SCALE));
    snprintf(f->threshold, sizeof f->threshold, "%g", a->threshold * PCT_SCALE);
    ak_usd_format(a->spent_micros, f->spent, sizeof f->spent);
    ak_usd_format(a->limit_micros, f->budget, sizeof f->budget);
    ak_usd_format(left > 0 ? left : 0, f->remaining, sizeof f->remaining);
    if (a->resets_at_ms > 0)
        ak_time_format(a->resets_at_ms, f->resets_at, sizeof f->resets_at);
    else
        snprintf(f->resets_at, sizeof f->resets_at, "never");
}

static const char *scope_word(const struct akc_alert *a)
{
    return a->scope == AK_SCOPE_SHARED ? "shared budget" : "agent";
}

static enum ak_err template_default(const struct akc_alert *a, const struct akc_alert_fmt *f,
                                    struct ak_buf *out)
{
    const char *type = ak_period_type_name(a->type);
    switch (a->kind) {
    case AKC_ALERT_BUDGET: {
        enum ak_err err;
        if (a->exhausted)     /* reservations keep spend under the limit: say what happened */
            err = ak_buf_printf(out, "agentkavach: %s %s has exhausted its %s budget (alert at %s%%): "
                                "a call that could exceed it was refused (%s of %s spent; period %s, "
                                "resets %s)", scope_word(a), a->name, type, f->threshold, f->spent,
                                f->budget, a->period, f->resets_at);
        else
            err = ak_buf_printf(out, "agentkavach: %s %s has used %s%% of its %s budget (alert at "
                                "%s%%; %s of %s, %s left; period %s, resets %s)", scope_word(a),
                                a->name, f->pct, type, f->threshold, f->spent, f->budget,
                                f->remaining, a->period, f->resets_at);
        if (err == AK_OK && a->skipped[0])
            err = ak_buf_printf(out, "; also crossed: %s", a->skipped);
        return err;
    }
    case AKC_ALERT_GUARDRAIL:
    case AKC_ALERT_SUSPENDED:
        break;
    }
    enum ak_err err = ak_buf_printf(out, "agentkavach: agent %s: a call was refused (%s): %s",
                                    a->name, a->kind == AKC_ALERT_SUSPENDED ? "agent suspended"
                                                                             : "guardrail",
                                    a->reason && *a->reason ? a->reason : "no reason given");
    if (err == AK_OK && a->has_budget)
        err = ak_buf_printf(out, " (%s budget: %s of %s spent, period %s)", type, f->spent,
                            f->budget, a->period);
    return err;
}

/* The value of placeholder `name` (without braces), or NULL when unknown. */
static const char *template_value(const struct akc_alert *a, const struct akc_alert_fmt *f,
                                  const char *name, size_t n)
{
    static const struct { const char *name; int which; } keys[] = {
        { "agent_name", 0 }, { "pct", 1 }, { "spent_fmt", 2 }, { "budget_fmt", 3 },
        { "remaining_fmt", 4 }, { "period", 5 }, { "resets_at", 6 }, { "severity", 7 },
        { "budget_type", 8 }, { "reason", 9 }, { "threshold", 10 }, { "skipped", 11 },
    };
    for (size_t i = 0; i < AK_ARRAY_LEN(keys); i++) {
        if (strlen(keys[i].name) != n || strncmp(keys[i].name, name, n) != 0)
            continue;
        switch (keys[i].which) {
        case 0: return a->name;
        case 1: return f->pct;
        case 2: return f->spent;
        case 3: return f->budget;
        case 4: return f->remaining;
        case 5: return a->period;
        case 6: return f->resets_at;
        case 7: return akc_alert_severity(a);
        case 8: return ak_period_type_name(a->type);
        case 10: return f->threshold;
        case 11: return a->skipped;
        default: return a->reason ? a->reason : "";
        }
    }
    return NULL;
}

enum ak_err akc_template_render(const struct akc_alert *a, const char *tmpl, struct ak_buf *out)
{
    struct akc_alert_fmt f;
    enum ak_err err = AK_OK;
    akc_alert_format(a, &f);
    ak_buf_reset(out);
    if (!tmpl || !*tmpl)
        return template_default(a, &f, out);
    for (const char *p = tmpl; *p && err == AK_OK;) {
        const char *close = *p == '{' ? strchr(p + 1, '}') : NULL;
        const char *v = close ? template_value(a, &f, p + 1, (size_t)(close - p - 1)) : NULL;
        if (v) {
            err = ak_buf_append(out, v, strlen(v), 0);
            p = close + 1;
        } else {
            err = ak_buf_append(out, p, 1, 0);
            p++;
        }
    }
    return err;
}

char *akc_alert_text(const struct akc_alert *a, const struct ak_channel *ch)
{
    struct ak_buf b = { 0 };
    const char *tmpl = ch && ch->template && *ch->template ? ch->template : a->rule_template;
    if (akc_template_render(a, tmpl, &b) != AK_OK || ak_buf_append(&b, "", 1, 0) != AK_OK) {
        ak_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}
