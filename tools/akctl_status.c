/*
 * akctl_status.c - `akctl status`: for every known agent and every shared budget, the
 * current period's spend against the limit in force, calls and suspension, as an aligned
 * table (coloured on a terminal) or as the JSON document of DESIGN.md. The figures are
 * gathered by core/status.c, which the dashboard's /api/status serves too.
 */
#include "tools/akctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define PERCENT_WARN 70.0          /* yellow from here */
#define CELL 64
#define AGENTS_TEXT 512           /* the AGENTS cell of a shared budget */

static void money_cell(int64_t micros, bool present, char *buf, size_t len)
{
    if (present)
        ak_usd_format(micros, buf, len);
    else
        snprintf(buf, len, "-");
}

static void percent_cell(double pct, char *buf, size_t len)
{
    if (pct < 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.1f%%", pct);
}

static enum ak_err agent_table_add(struct akctl_table *t, const struct ak_status_agent *r)
{
    char spent[CELL], limit[CELL], pct[CELL], calls[CELL];
    bool has_limit = r->budget.set;
    money_cell(r->st.spent_micros, true, spent, sizeof spent);
    money_cell(r->budget.limit_micros, has_limit, limit, sizeof limit);
    percent_cell(r->percent, pct, sizeof pct);
    snprintf(calls, sizeof calls, "%lld", (long long)r->st.calls);
    const char *cells[] = {
        r->name, has_limit ? ak_period_type_name(r->budget.type) : "-", r->st.period, spent,
        limit, pct, calls, r->suspended ? "SUSPENDED" : "active", r->reason[0] ? r->reason : "-",
    };
    enum akctl_color color = r->suspended ? AKCTL_RED
                             : r->percent >= PERCENT_WARN ? AKCTL_YELLOW : AKCTL_PLAIN;
    return akctl_table_add(t, color, cells);
}

static enum ak_err shared_table_add(struct akctl_table *t, const struct ak_status_shared *r)
{
    char spent[CELL], limit[CELL], pct[CELL], calls[CELL];
    char agents[AGENTS_TEXT] = "";
    size_t used = 0;
    money_cell(r->st.spent_micros, true, spent, sizeof spent);
    money_cell(r->budget.limit_micros, r->budget.set, limit, sizeof limit);
    percent_cell(r->percent, pct, sizeof pct);
    snprintf(calls, sizeof calls, "%lld", (long long)r->st.calls);
    for (size_t i = 0; i < r->sb->n_agents && used < sizeof agents; i++) {
        int n = snprintf(agents + used, sizeof agents - used, "%s%s", i ? "," : "", r->sb->agents[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    const char *cells[] = {
        r->sb->name, r->budget.set ? ak_period_type_name(r->budget.type) : "-", r->st.period,
        spent, limit, pct, calls, agents[0] ? agents : "-",
    };
    enum akctl_color color = r->percent >= PERCENT_WARN ? AKCTL_YELLOW : AKCTL_PLAIN;
    return akctl_table_add(t, color, cells);
}

/* ---- fleet budgets: this host's figures beside the fleet's ---- */

static enum ak_err fleet_table_add(struct akctl_table *t, const char *kind, const char *name,
                                   const struct ak_budget *b, const struct ak_status_fleet *f)
{
    char hs[CELL], hl[CELL], fs[CELL], fl[CELL], lim[CELL], hosts[CELL], label[CELL * 2];
    money_cell(f->local.spent, true, hs, sizeof hs);
    money_cell(f->local.leased, true, hl, sizeof hl);
    money_cell(f->spent, f->seen, fs, sizeof fs);
    money_cell(f->claimed, f->seen, fl, sizeof fl);
    money_cell(b->limit_micros, b->set, lim, sizeof lim);
    if (f->seen)
        snprintf(hosts, sizeof hosts, "%d", f->holders);
    else
        snprintf(hosts, sizeof hosts, "-");
    snprintf(label, sizeof label, "%s %s", kind, name);
    const char *redis = f->local.down ? "unreachable" : f->seen ? "ok" : "not synced";
    const char *cells[] = { label, f->local.period, hs, hl, fs, fl, lim, hosts, redis };
    return akctl_table_add(t, f->local.down ? AKCTL_RED : AKCTL_PLAIN, cells);
}

static bool status_has_fleet(const struct ak_status *s)
{
    for (size_t i = 0; i < s->names.n; i++)
        if (s->agents[i].fleet.on)
            return true;
    for (size_t i = 0; i < s->n_shared; i++)
        if (s->shared[i].fleet.on)
            return true;
    return false;
}

static enum ak_err status_print_fleet(struct akctl *ctx, const struct ak_status *s)
{
    static const char *const head[] = {
        "FLEET BUDGET", "PERIOD", "HOST SPENT", "HOST LEASED", "FLEET SPENT", "FLEET LEASED",
        "LIMIT", "HOSTS", "REDIS",
    };
    struct akctl_table t;
    if (!status_has_fleet(s))
        return AK_OK;
    akctl_table_init(&t, AK_ARRAY_LEN(head));
    enum ak_err rc = akctl_table_add(&t, AKCTL_PLAIN, head);
    for (size_t i = 0; i < s->names.n && rc == AK_OK; i++)
        if (s->agents[i].fleet.on)
            rc = fleet_table_add(&t, "agent", s->agents[i].name, &s->agents[i].budget,
                                 &s->agents[i].fleet);
    for (size_t i = 0; i < s->n_shared && rc == AK_OK; i++)
        if (s->shared[i].fleet.on)
            rc = fleet_table_add(&t, "shared", s->shared[i].sb->name, &s->shared[i].budget,
                                 &s->shared[i].fleet);
    if (rc == AK_OK) {
        fputc('\n', stdout);
        akctl_table_print(&t, stdout, ctx->color);
    }
    akctl_table_free(&t);
    return rc;
}

static int status_print_json(struct akctl *ctx, const struct ak_status *s)
{
    int code = AKCTL_EXIT_OK;
    cJSON *root = ak_status_json(s, ctx->state_dir);
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    if (!text)
        code = akctl_fail("out of memory");
    else
        printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
    return code;
}

static int status_print_table(struct akctl *ctx, const struct ak_status *s)
{
    static const char *const agent_head[] = {
        "AGENT", "BUDGET", "PERIOD", "SPENT", "LIMIT", "USED", "CALLS", "STATE", "REASON",
    };
    static const char *const shared_head[] = {
        "SHARED BUDGET", "BUDGET", "PERIOD", "SPENT", "LIMIT", "USED", "CALLS", "AGENTS",
    };
    struct akctl_table t;
    enum ak_err rc = AK_OK;
    if (s->all.suspended)
        printf("%sALL AGENTS SUSPENDED: %s%s\n\n", ctx->color ? "\033[31m" : "", s->all.reason,
               ctx->color ? "\033[0m" : "");
    akctl_table_init(&t, AK_ARRAY_LEN(agent_head));
    rc = akctl_table_add(&t, AKCTL_PLAIN, agent_head);
    for (size_t i = 0; i < s->names.n && rc == AK_OK; i++)
        rc = agent_table_add(&t, &s->agents[i]);
    if (rc == AK_OK)
        akctl_table_print(&t, stdout, ctx->color);
    akctl_table_free(&t);
    if (rc == AK_OK && s->n_shared > 0) {
        akctl_table_init(&t, AK_ARRAY_LEN(shared_head));
        rc = akctl_table_add(&t, AKCTL_PLAIN, shared_head);
        for (size_t i = 0; i < s->n_shared && rc == AK_OK; i++)
            rc = shared_table_add(&t, &s->shared[i]);
        if (rc == AK_OK) {
            fputc('\n', stdout);
            akctl_table_print(&t, stdout, ctx->color);
        }
        akctl_table_free(&t);
    }
    if (rc == AK_OK)
        rc = status_print_fleet(ctx, s);
    return rc == AK_OK ? AKCTL_EXIT_OK : akctl_fail("status: %s", ak_strerror(rc));
}

int akctl_cmd_status(struct akctl *ctx, int argc, char **argv)
{
    static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, { 0, 0, 0, 0 } };
    bool json = false;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, AKCTL_OPTSTRING, opts, NULL)) != -1) {
        if (c != 'j')
            return akctl_opt_error("status", c, argv);
        json = true;
    }
    if (optind < argc)
        return akctl_usage("status", "unexpected argument '%s'", argv[optind]);
    int code = akctl_ledger(ctx);
    if (code != AKCTL_EXIT_OK)
        return code;
    struct ak_status s;
    enum ak_err rc = ak_status_gather(ctx->cfg, ctx->ledger, ak_now_ms(), &s);
    if (rc != AK_OK)
        code = akctl_fail("status: %s", ak_strerror(rc));
    else
        code = json ? status_print_json(ctx, &s) : status_print_table(ctx, &s);
    ak_status_free(&s);
    return code;
}
