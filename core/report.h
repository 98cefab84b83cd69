/*
 * report.h - totals summed from the event records, grouped by agent, model, provider, UTC
 * day or UTC hour: calls that reached the provider, refused calls, unmetered calls, tokens
 * and cost. `akctl report` prints them; the dashboard's /api/report serves them as JSON
 * (spend over time, the model and provider breakdown), from this one code.
 * Operators' actions (decision "control") are not calls and are not counted.
 */
#ifndef AK_REPORT_H
#define AK_REPORT_H

#include <cjson/cJSON.h>

#include "core/event.h"
#include "core/ledger.h"

enum ak_report_by { AK_REPORT_AGENT = 0, AK_REPORT_MODEL, AK_REPORT_PROVIDER, AK_REPORT_DAY,
                    AK_REPORT_HOUR };

const char *ak_report_by_name(enum ak_report_by by);    /* "agent" ... "hour" */
bool ak_report_by_parse(const char *s, enum ak_report_by *out);
/* "agent, model, provider, day or hour", for usage messages */
#define AK_REPORT_BY_CHOICES "agent, model, provider, day or hour"

struct ak_report_group {
    char key[AK_EV_NAME];         /* the agent, model, provider, "2026-11-22" or "2026-11-22T13" */
    int64_t calls, blocked, unmetered, input_tokens, output_tokens, cost_micros;
};

struct ak_report {
    enum ak_report_by by;
    const char *agent;            /* only this agent's calls; NULL = all */
    bool has_since;
    int64_t since_ms;
    struct ak_report_group *groups;
    size_t n, cap;
};

/* Counts one event (when it passes the filters). */
enum ak_err ak_report_add(struct ak_report *r, const struct ak_event *ev);
/* Reads every retained event of the ledger into r, then sorts the groups by key.
 * *unreadable counts records that are not valid events (skipped). */
enum ak_err ak_report_scan(struct ak_ledger *l, struct ak_report *r, size_t *unreadable);
/* The same for n reports in one pass over the events (parsing them is what costs: about
 * 12 ms per 1,000 records). */
enum ak_err ak_report_scan_many(struct ak_ledger *l, struct ak_report *rs, size_t n,
                                size_t *unreadable);
void ak_report_sort(struct ak_report *r);
void ak_report_group_add(struct ak_report_group *total, const struct ak_report_group *g);
/* {"by":..,"groups":[{"key","calls","blocked","unmetered","input_tokens","output_tokens",
 *  "cost_usd"}]}; NULL on OOM. */
cJSON *ak_report_json(const struct ak_report *r);
void ak_report_free(struct ak_report *r);

#endif
