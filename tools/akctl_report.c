/*
 * akctl_report.c - `akctl report`: totals summed from the event records (core/report.c, which
 * the dashboard's /api/report serves too), grouped by agent, model, provider, UTC day or hour:
 * calls that reached the provider, blocked calls, input and output tokens and cost; an
 * aligned table with a total line, or CSV with a header.
 */
#include "tools/akctl.h"

#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/report.h"

#define CELL 64

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

static void report_print_csv(const struct ak_report *r)
{
    printf("%s,calls,blocked,input_tokens,output_tokens,cost_usd\n", ak_report_by_name(r->by));
    for (size_t i = 0; i < r->n; i++) {
        const struct ak_report_group *g = &r->groups[i];
        csv_field(g->key);
        printf(",%lld,%lld,%lld,%lld,%.6f\n", (long long)g->calls, (long long)g->blocked,
               (long long)g->input_tokens, (long long)g->output_tokens, akctl_usd(g->cost_micros));
    }
}

static enum ak_err report_row(struct akctl_table *t, const struct ak_report_group *g)
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

static enum ak_err report_print_table(const struct ak_report *r)
{
    char head[CELL];
    struct akctl_table t;
    struct ak_report_group total = { .key = "TOTAL" };
    snprintf(head, sizeof head, "%s", ak_report_by_name(r->by));
    for (char *p = head; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    const char *cells[] = { head, "CALLS", "BLOCKED", "INPUT TOKENS", "OUTPUT TOKENS", "COST" };
    akctl_table_init(&t, AK_ARRAY_LEN(cells));
    enum ak_err rc = akctl_table_add(&t, AKCTL_PLAIN, cells);
    for (size_t i = 0; i < r->n && rc == AK_OK; i++) {
        rc = report_row(&t, &r->groups[i]);
        ak_report_group_add(&total, &r->groups[i]);
    }
    if (rc == AK_OK)
        rc = report_row(&t, &total);
    if (rc == AK_OK)
        akctl_table_print(&t, stdout, false);
    akctl_table_free(&t);
    return rc;
}

static int report_parse(int argc, char **argv, struct ak_report *r, bool *csv)
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
        case 'b':
            if (!ak_report_by_parse(optarg, &r->by))
                return akctl_usage("report", "--by takes " AK_REPORT_BY_CHOICES ", not '%s'", optarg);
            break;
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
    struct ak_report r = { .by = AK_REPORT_AGENT };
    bool csv = false;
    size_t unreadable = 0;
    int code = report_parse(argc, argv, &r, &csv);
    if (code != AKCTL_EXIT_OK)
        return code;
    code = akctl_ledger(ctx);
    if (code != AKCTL_EXIT_OK)
        return code;
    enum ak_err rc = ak_report_scan(ctx->ledger, &r, &unreadable);
    if (rc == AK_OK) {
        if (csv)
            report_print_csv(&r);
        else
            rc = report_print_table(&r);
    }
    if (unreadable > 0)
        fprintf(stderr, "akctl: report: %zu unreadable records skipped\n", unreadable);
    if (rc != AK_OK)
        code = akctl_fail("report: %s", ak_strerror(rc));
    ak_report_free(&r);
    return code;
}
