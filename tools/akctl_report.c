/*
 * akctl_report.c - `akctl report`: totals summed from the event records, grouped by agent,
 * model or UTC day: calls that reached the provider, blocked calls, input and output tokens
 * and cost; an aligned table with a total line, or CSV with a header.
 */
#include "tools/akctl.h"

#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"

#define DAY_KEY_LEN 10            /* "2026-11-22" out of an RFC 3339 time */
#define TIME_TEXT 32
#define CELL 64

enum group_by { BY_AGENT = 0, BY_MODEL, BY_DAY };
static const char *const group_names[] = { [BY_AGENT] = "agent", [BY_MODEL] = "model", [BY_DAY] = "day" };

struct group {
    char key[AK_EV_NAME];
    int64_t calls, blocked, input_tokens, output_tokens, cost_micros;
};

struct report {
    enum group_by by;
    bool has_since;
    int64_t since_ms;
    struct group *groups;
    size_t n, cap;
    enum ak_err rc;
};

static struct group *group_get(struct report *r, const char *key)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->groups[i].key, key) == 0)
            return &r->groups[i];
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct group *g = realloc(r->groups, cap * sizeof *g);
        if (!g)
            return NULL;
        r->groups = g;
        r->cap = cap;
    }
    struct group *g = &r->groups[r->n++];
    memset(g, 0, sizeof *g);
    snprintf(g->key, sizeof g->key, "%s", key);
    return g;
}

static bool decision_blocked(enum ak_decision d)
{
    return d == AK_DEC_BLOCKED_BUDGET || d == AK_DEC_BLOCKED_SUSPENDED ||
           d == AK_DEC_BLOCKED_GUARDRAIL;
}

static void group_add(struct group *total, const struct group *g)
{
    total->calls += g->calls;
    total->blocked += g->blocked;
    total->input_tokens += g->input_tokens;
    total->output_tokens += g->output_tokens;
    total->cost_micros += g->cost_micros;
}

static int report_on_event(uint64_t seq, const char *json, size_t len,
                           const struct ak_event *ev, void *ud)
{
    struct report *r = ud;
    char day[TIME_TEXT];
    const char *key;
    if (r->has_since && ev->ts_ms < r->since_ms)
        return 0;
    switch (r->by) {
    case BY_MODEL: key = ev->model[0] ? ev->model : "(unknown)"; break;
    case BY_DAY:
        ak_time_format(ev->ts_ms, day, sizeof day);
        day[DAY_KEY_LEN] = '\0';
        key = day;
        break;
    case BY_AGENT:
    default: key = ev->agent; break;
    }
    struct group *g = group_get(r, key);
    if (!g) {
        r->rc = AK_ERR_NOMEM;
        return 1;
    }
    struct group one = {
        .calls = decision_blocked(ev->decision) ? 0 : 1,
        .blocked = decision_blocked(ev->decision) ? 1 : 0,
        .input_tokens = ev->usage.input_tokens, .output_tokens = ev->usage.output_tokens,
        .cost_micros = ev->cost_micros,
    };
    group_add(g, &one);
    return 0;
}

static int group_cmp(const void *a, const void *b)
{
    return strcmp(((const struct group *)a)->key, ((const struct group *)b)->key);
}

/* A CSV field, quoted when it holds a comma, quote or line break. */
static void csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    fputc('"', stdout);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', stdout);
        fputc(*s, stdout);
    }
    fputc('"', stdout);
}

static void report_print_csv(const struct report *r)
{
    printf("%s,calls,blocked,input_tokens,output_tokens,cost_usd\n", group_names[r->by]);
    for (size_t i = 0; i < r->n; i++) {
        const struct group *g = &r->groups[i];
        csv_field(g->key);
        printf(",%lld,%lld,%lld,%lld,%.6f\n", (long long)g->calls, (long long)g->blocked,
               (long long)g->input_tokens, (long long)g->output_tokens, akctl_usd(g->cost_micros));
    }
}

static enum ak_err report_row(struct akctl_table *t, const struct group *g)
{
    char calls[CELL], blocked[CELL], in[CELL], out[CELL], cost[CELL];
    snprintf(calls, sizeof calls, "%lld", (long long)g->calls);
    snprintf(blocked, sizeof blocked, "%lld", (long long)g->blocked);
    snprintf(in, sizeof in, "%lld", (long long)g->input_tokens);
    snprintf(out, sizeof out, "%lld", (long long)g->output_tokens);
    ak_usd_format(g->cost_micros, cost, sizeof cost);
    const char *cells[] = { g->key, calls, blocked, in, out, cost };
    return akctl_table_add(t, AKCTL_PLAIN, cells);
}

static enum ak_err report_print_table(const struct report *r)
{
    char head[CELL];
    struct akctl_table t;
    struct group total = { .key = "TOTAL" };
    snprintf(head, sizeof head, "%s", group_names[r->by]);
    for (char *p = head; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    const char *cells[] = { head, "CALLS", "BLOCKED", "INPUT TOKENS", "OUTPUT TOKENS", "COST" };
    akctl_table_init(&t, AK_ARRAY_LEN(cells));
    enum ak_err rc = akctl_table_add(&t, AKCTL_PLAIN, cells);
    for (size_t i = 0; i < r->n && rc == AK_OK; i++) {
        rc = report_row(&t, &r->groups[i]);
        group_add(&total, &r->groups[i]);
    }
    if (rc == AK_OK)
        rc = report_row(&t, &total);
    if (rc == AK_OK)
        akctl_table_print(&t, stdout, false);
    akctl_table_free(&t);
    return rc;
}

static int report_parse(int argc, char **argv, struct report *r, bool *csv)
{
    static const struct option opts[] = {
        { "by", required_argument, NULL, 'b' },
        { "csv", no_argument, NULL, 'c' },
        { "since", required_argument, NULL, 's' },
        { 0, 0, 0, 0 },
    };
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, AKCTL_OPTSTRING, opts, NULL)) != -1) {
        switch (c) {
        case 'c': *csv = true; break;
        case 'b': {
            size_t i = 0;
            while (i < AK_ARRAY_LEN(group_names) && strcmp(group_names[i], optarg) != 0)
                i++;
            if (i == AK_ARRAY_LEN(group_names))
                return akctl_usage("report", "--by takes agent, model or day, not '%s'", optarg);
            r->by = (enum group_by)i;
            break;
        }
        case 's':
            if (akctl_opt_since("report", optarg, &r->since_ms) != AKCTL_EXIT_OK)
                return AKCTL_EXIT_USAGE;
            r->has_since = true;
            break;
        default: return akctl_opt_error("report", c, argv);
        }
    }
    if (optind < argc)
        return akctl_usage("report", "unexpected argument '%s'", argv[optind]);
    return AKCTL_EXIT_OK;
}

int akctl_cmd_report(struct akctl *ctx, int argc, char **argv)
{
    struct report r = { .by = BY_AGENT };
    bool csv = false;
    uint64_t after = 0;
    size_t unreadable = 0;
    int code = report_parse(argc, argv, &r, &csv);
    if (code != AKCTL_EXIT_OK)
        return code;
    code = akctl_ledger(ctx);
    if (code != AKCTL_EXIT_OK)
        return code;
    enum ak_err rc = akctl_events_each(ctx->ledger, &after, report_on_event, &r, &unreadable);
    if (rc == AK_OK)
        rc = r.rc;
    if (rc == AK_OK) {
        if (r.n > 1)
            qsort(r.groups, r.n, sizeof *r.groups, group_cmp);
        if (csv)
            report_print_csv(&r);
        else
            rc = report_print_table(&r);
    }
    if (unreadable > 0)
        fprintf(stderr, "akctl: report: %zu unreadable records skipped\n", unreadable);
    if (rc != AK_OK)
        code = akctl_fail("report: %s", ak_strerror(rc));
    free(r.groups);
    return code;
}
