/*
 * akctl_status.c - `akctl status`: for every known agent and every shared budget, the
 * current period's spend against its effective limit, calls and suspension, as an aligned
 * table (coloured on a terminal) or as the JSON document of DESIGN.md.
 */
#include "tools/akctl.h"

#include <cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define PERCENT_WARN 70.0          /* yellow from here */
#define PERCENT_FULL 100.0
#define CELL 64
#define AGENTS_TEXT 512           /* the AGENTS cell of a shared budget */

enum budget_source { SRC_NONE = 0, SRC_OVERRIDE, SRC_CONFIG, SRC_DEFAULT };
static const char *const source_names[] = {
    [SRC_NONE] = "none", [SRC_OVERRIDE] = "override", [SRC_CONFIG] = "config",
    [SRC_DEFAULT] = "default",
};

struct status_row {
    const char *name;
    struct ak_budget budget;
    enum budget_source source;
    struct ak_budget_state st;
    bool suspended;
    char reason[AK_REASON_LEN + 32];
    double percent;                /* < 0: no limit */
};

/* Override > agents.NAME.budget > defaults.budget. */
static enum budget_source effective_budget(const struct ak_config *cfg, const char *agent,
                                           const struct ak_agent_flags *f, struct ak_budget *out)
{
    const struct ak_agent_cfg *a = ak_config_agent(cfg, agent);
    memset(out, 0, sizeof *out);
    if (f->has_budget_override && f->budget_override.set) {
        *out = f->budget_override;
        return SRC_OVERRIDE;
    }
    if (a && a->budget.set) {
        *out = a->budget;
        return SRC_CONFIG;
    }
    if (cfg->defaults.budget.set) {
        *out = cfg->defaults.budget;
        return SRC_DEFAULT;
    }
    return SRC_NONE;
}

static double percent_of(int64_t spent, int64_t limit)
{
    if (limit < 0)
        return -1.0;
    if (limit == 0)
        return spent > 0 ? PERCENT_FULL : 0.0;
    return (double)spent * PERCENT_FULL / (double)limit;
}

static enum ak_err flags_get(struct ak_ledger *l, const char *agent, struct ak_agent_flags *f)
{
    memset(f, 0, sizeof *f);
    enum ak_err rc = ak_ledger_agent_get(l, agent, f);
    if (rc == AK_ERR_NOTFOUND) {
        memset(f, 0, sizeof *f);
        rc = AK_OK;
    }
    return rc;
}

static enum ak_err row_fill(struct akctl *ctx, const char *agent, const struct ak_agent_flags *all,
                            int64_t now, struct status_row *row)
{
    struct ak_agent_flags f;
    enum ak_err rc = flags_get(ctx->ledger, agent, &f);
    if (rc != AK_OK)
        return rc;
    memset(row, 0, sizeof *row);
    row->name = agent;
    row->source = effective_budget(ctx->cfg, agent, &f, &row->budget);
    struct ak_budget_ref ref = {
        .scope = AK_SCOPE_AGENT, .name = agent,
        .type = row->source != SRC_NONE ? row->budget.type : AK_PERIOD_DAILY,
        .limit_micros = row->source != SRC_NONE ? row->budget.limit_micros : -1,
    };
    rc = ak_ledger_budget_get(ctx->ledger, &ref, now, &row->st);
    if (rc != AK_OK)
        return rc;
    row->percent = percent_of(row->st.spent_micros, ref.limit_micros);
    if (f.suspended) {
        row->suspended = true;
        snprintf(row->reason, sizeof row->reason, "%s", f.reason);
    } else if (all->suspended) {
        row->suspended = true;
        snprintf(row->reason, sizeof row->reason, "all agents suspended: %s", all->reason);
    }
    return AK_OK;
}

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

static enum ak_err agent_table_add(struct akctl_table *t, const struct status_row *r)
{
    char spent[CELL], limit[CELL], pct[CELL], calls[CELL];
    bool has_limit = r->source != SRC_NONE;
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

/* period, spent_usd, limit_usd, percent, calls: the fields agents and shared budgets share. */
static void json_spend(cJSON *o, const struct ak_budget_state *st, bool has_limit,
                       int64_t limit_micros, double percent)
{
    cJSON_AddStringToObject(o, "period", st->period);
    cJSON_AddNumberToObject(o, "spent_usd", akctl_usd(st->spent_micros));
    if (has_limit)
        cJSON_AddNumberToObject(o, "limit_usd", akctl_usd(limit_micros));
    else
        cJSON_AddNullToObject(o, "limit_usd");
    if (percent >= 0)
        cJSON_AddNumberToObject(o, "percent", percent);
    else
        cJSON_AddNullToObject(o, "percent");
    cJSON_AddNumberToObject(o, "calls", (double)st->calls);
}

static cJSON *agent_json(const struct status_row *r)
{
    cJSON *o = cJSON_CreateObject();
    bool has_limit = r->source != SRC_NONE;
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "agent", r->name);
    json_spend(o, &r->st, has_limit, r->budget.limit_micros, r->percent);
    cJSON_AddBoolToObject(o, "suspended", r->suspended);
    if (r->reason[0])
        cJSON_AddStringToObject(o, "reason", r->reason);
    else
        cJSON_AddNullToObject(o, "reason");
    cJSON_AddStringToObject(o, "budget_type", has_limit ? ak_period_type_name(r->budget.type) : "none");
    cJSON_AddStringToObject(o, "budget_source", source_names[r->source]);
    cJSON_AddNumberToObject(o, "reserved_usd", akctl_usd(r->st.reserved_micros));
    return o;
}

struct shared_row {
    const struct ak_shared_budget *sb;
    struct ak_budget_state st;
    double percent;
};

static enum ak_err shared_fill(struct akctl *ctx, const struct ak_shared_budget *sb, int64_t now,
                               struct shared_row *row)
{
    struct ak_budget_ref ref = {
        .scope = AK_SCOPE_SHARED, .name = sb->name, .type = sb->budget.type,
        .limit_micros = sb->budget.set ? sb->budget.limit_micros : -1,
    };
    memset(row, 0, sizeof *row);
    row->sb = sb;
    enum ak_err rc = ak_ledger_budget_get(ctx->ledger, &ref, now, &row->st);
    row->percent = percent_of(row->st.spent_micros, ref.limit_micros);
    return rc;
}

static enum ak_err shared_table_add(struct akctl_table *t, const struct shared_row *r)
{
    char spent[CELL], limit[CELL], pct[CELL], calls[CELL];
    char agents[AGENTS_TEXT] = "";
    size_t used = 0;
    money_cell(r->st.spent_micros, true, spent, sizeof spent);
    money_cell(r->sb->budget.limit_micros, r->sb->budget.set, limit, sizeof limit);
    percent_cell(r->percent, pct, sizeof pct);
    snprintf(calls, sizeof calls, "%lld", (long long)r->st.calls);
    for (size_t i = 0; i < r->sb->n_agents && used < sizeof agents; i++) {
        int n = snprintf(agents + used, sizeof agents - used, "%s%s", i ? "," : "", r->sb->agents[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    const char *cells[] = {
        r->sb->name, ak_period_type_name(r->sb->budget.type), r->st.period, spent, limit, pct,
        calls, agents[0] ? agents : "-",
    };
    enum akctl_color color = r->percent >= PERCENT_WARN ? AKCTL_YELLOW : AKCTL_PLAIN;
    return akctl_table_add(t, color, cells);
}

static cJSON *shared_json(const struct shared_row *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *agents = cJSON_CreateArray();
    if (!o || !agents) {
        cJSON_Delete(o);
        cJSON_Delete(agents);
        return NULL;
    }
    cJSON_AddStringToObject(o, "name", r->sb->name);
    json_spend(o, &r->st, r->sb->budget.set, r->sb->budget.limit_micros, r->percent);
    for (size_t i = 0; i < r->sb->n_agents; i++)
        cJSON_AddItemToArray(agents, cJSON_CreateString(r->sb->agents[i]));
    cJSON_AddItemToObject(o, "agents", agents);
    cJSON_AddStringToObject(o, "budget_type", ak_period_type_name(r->sb->budget.type));
    return o;
}

/* The whole report: rows computed once, then printed as JSON or tables. */
struct status {
    struct akctl_strs agents;
    struct status_row *rows;
    struct shared_row *shared;
    size_t n_shared;
    struct ak_agent_flags all;
};

static enum ak_err status_gather(struct akctl *ctx, struct status *s)
{
    int64_t now = ak_now_ms();
    enum ak_err rc = akctl_agents_collect(ctx, &s->agents);
    if (rc == AK_OK)
        rc = flags_get(ctx->ledger, AK_AGENT_ALL, &s->all);
    if (rc != AK_OK)
        return rc;
    s->rows = calloc(s->agents.n + 1, sizeof *s->rows);
    s->shared = calloc(ctx->cfg->n_shared + 1, sizeof *s->shared);
    if (!s->rows || !s->shared)
        return AK_ERR_NOMEM;
    for (size_t i = 0; i < s->agents.n && rc == AK_OK; i++)
        rc = row_fill(ctx, s->agents.v[i], &s->all, now, &s->rows[i]);
    for (size_t i = 0; i < ctx->cfg->n_shared && rc == AK_OK; i++, s->n_shared++)
        rc = shared_fill(ctx, &ctx->cfg->shared[i], now, &s->shared[i]);
    return rc;
}

static void status_free(struct status *s)
{
    akctl_strs_free(&s->agents);
    free(s->rows);
    free(s->shared);
}

static int status_print_json(struct akctl *ctx, const struct status *s)
{
    int code = AKCTL_EXIT_OK;
    char *text = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *agents = cJSON_AddArrayToObject(root, "agents");
    cJSON *shared = cJSON_AddArrayToObject(root, "shared_budgets");
    if (!root || !agents || !shared) {
        code = akctl_fail("out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->agents.n; i++)
        cJSON_AddItemToArray(agents, agent_json(&s->rows[i]));
    for (size_t i = 0; i < s->n_shared; i++)
        cJSON_AddItemToArray(shared, shared_json(&s->shared[i]));
    cJSON_AddBoolToObject(root, "all_suspended", s->all.suspended);
    if (s->all.suspended)
        cJSON_AddStringToObject(root, "all_suspended_reason", s->all.reason);
    cJSON_AddStringToObject(root, "state_dir", ctx->state_dir);
    text = cJSON_PrintUnformatted(root);
    if (!text) {
        code = akctl_fail("out of memory");
        goto out;
    }
    printf("%s\n", text);
out:
    free(text);
    cJSON_Delete(root);
    return code;
}

static int status_print_table(struct akctl *ctx, const struct status *s)
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
    for (size_t i = 0; i < s->agents.n && rc == AK_OK; i++)
        rc = agent_table_add(&t, &s->rows[i]);
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
    struct status s = { 0 };
    enum ak_err rc = status_gather(ctx, &s);
    if (rc != AK_OK)
        code = akctl_fail("status: %s", ak_strerror(rc));
    else
        code = json ? status_print_json(ctx, &s) : status_print_table(ctx, &s);
    status_free(&s);
    return code;
}
