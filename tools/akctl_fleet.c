/*
 * akctl_fleet.c - `akctl fleet`: for every fleet-scoped budget, the hosts that hold (or held)
 * a lease this period, as the collector last saw them in Redis, with this host's own lease
 * and spend from the ledger. The figures come from core/status.c (akctl never talks to Redis).
 */
#include "tools/akctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define CELL 64

struct fleet_row {
    const char *kind, *name;
    const struct ak_budget *budget;
    const struct ak_status_fleet *f;
};

static cJSON *fleet_row_json(const struct fleet_row *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *hosts = o ? cJSON_AddArrayToObject(o, "hosts") : NULL;
    if (!hosts) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(o, "scope", r->kind);
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddStringToObject(o, "period", r->f->local.period);
    cJSON_AddNumberToObject(o, "limit_usd", akctl_usd(r->budget->limit_micros));
    cJSON_AddNumberToObject(o, "spent_usd", akctl_usd(r->f->spent));
    cJSON_AddNumberToObject(o, "leased_usd", akctl_usd(r->f->claimed));
    cJSON_AddNumberToObject(o, "free_usd", akctl_usd(r->f->free));
    cJSON_AddBoolToObject(o, "synced", r->f->seen);
    cJSON_AddBoolToObject(o, "redis_down", r->f->local.down);
    for (size_t i = 0; i < r->f->n_hosts; i++) {
        const struct ak_status_fleet_host *h = &r->f->hosts[i];
        cJSON *j = cJSON_CreateObject();
        if (!j)
            break;
        cJSON_AddStringToObject(j, "host", h->host);
        cJSON_AddNumberToObject(j, "leased_usd", akctl_usd(h->lease));
        cJSON_AddNumberToObject(j, "spent_usd", akctl_usd(h->spent));
        cJSON_AddBoolToObject(j, "alive", h->alive);
        cJSON_AddBoolToObject(j, "this_host", strcmp(h->host, r->f->host) == 0);
        cJSON_AddItemToArray(hosts, j);
    }
    return o;
}

static enum ak_err fleet_row_table(const struct fleet_row *r, struct akctl_table *t)
{
    char label[CELL * 2], lease[CELL], spent[CELL];
    snprintf(label, sizeof label, "%s %s", r->kind, r->name);
    if (!r->f->seen) {
        const char *cells[] = { label, r->f->local.period, "-", "-", "-",
                                r->f->local.down ? "Redis unreachable" : "not synced yet" };
        return akctl_table_add(t, AKCTL_YELLOW, cells);
    }
    enum ak_err rc = AK_OK;
    for (size_t i = 0; i < r->f->n_hosts && rc == AK_OK; i++) {
        const struct ak_status_fleet_host *h = &r->f->hosts[i];
        bool me = strcmp(h->host, r->f->host) == 0;
        ak_usd_format(h->lease, lease, sizeof lease);
        ak_usd_format(h->spent, spent, sizeof spent);
        const char *state = me ? "this host" : h->alive ? "alive" : "silent (lease reclaimed)";
        const char *cells[] = { label, r->f->local.period, h->host, lease, spent, state };
        rc = akctl_table_add(t, h->alive ? AKCTL_PLAIN : AKCTL_YELLOW, cells);
    }
    return rc;
}

static size_t fleet_rows(const struct ak_status *s, struct fleet_row *rows, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < s->names.n && n < max; i++)
        if (s->agents[i].fleet.on)
            rows[n++] = (struct fleet_row){ "agent", s->agents[i].name, &s->agents[i].budget,
                                            &s->agents[i].fleet };
    for (size_t i = 0; i < s->n_shared && n < max; i++)
        if (s->shared[i].fleet.on)
            rows[n++] = (struct fleet_row){ "shared", s->shared[i].sb->name,
                                            &s->shared[i].budget, &s->shared[i].fleet };
    return n;
}

static int fleet_print_json(const struct fleet_row *rows, size_t n, const char *host)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = root ? cJSON_AddArrayToObject(root, "budgets") : NULL;
    int code = AKCTL_EXIT_OK;
    if (arr) {
        cJSON_AddStringToObject(root, "host", host);
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, fleet_row_json(&rows[i]));
    }
    char *text = arr ? cJSON_PrintUnformatted(root) : NULL;
    if (!text)
        code = akctl_fail("out of memory");
    else
        printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
    return code;
}

static int fleet_print_table(struct akctl *ctx, const struct fleet_row *rows, size_t n)
{
    static const char *const head[] = { "FLEET BUDGET", "PERIOD", "HOST", "LEASED", "SPENT", "STATE" };
    struct akctl_table t;
    akctl_table_init(&t, AK_ARRAY_LEN(head));
    enum ak_err rc = akctl_table_add(&t, AKCTL_PLAIN, head);
    for (size_t i = 0; i < n && rc == AK_OK; i++)
        rc = fleet_row_table(&rows[i], &t);
    if (rc == AK_OK)
        akctl_table_print(&t, stdout, ctx->color);
    akctl_table_free(&t);
    return rc == AK_OK ? AKCTL_EXIT_OK : akctl_fail("fleet: %s", ak_strerror(rc));
}

int akctl_cmd_fleet(struct akctl *ctx, int argc, char **argv)
{
    static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, { 0, 0, 0, 0 } };
    bool json = false;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, AKCTL_OPTSTRING, opts, NULL)) != -1) {
        if (c != 'j')
            return akctl_opt_error("fleet", c, argv);
        json = true;
    }
    if (optind < argc)
        return akctl_usage("fleet", "unexpected argument '%s'", argv[optind]);
    int code = akctl_ledger(ctx);
    if (code != AKCTL_EXIT_OK)
        return code;
    struct ak_status s;
    enum ak_err rc = ak_status_gather(ctx->cfg, ctx->ledger, ak_now_ms(), &s);
    size_t n = 0;
    struct fleet_row *rows = rc == AK_OK ? calloc(s.names.n + s.n_shared + 1, sizeof *rows) : NULL;
    if (rc != AK_OK || !rows)
        code = akctl_fail("fleet: %s", ak_strerror(rc != AK_OK ? rc : AK_ERR_NOMEM));
    else if (!ctx->cfg->fleet.redis_url)
        code = akctl_fail("fleet: no fleet section in the configuration (fleet.redis.url)");
    else {
        n = fleet_rows(&s, rows, s.names.n + s.n_shared);
        const char *host = n ? rows[0].f->host : "";
        code = json ? fleet_print_json(rows, n, host) : fleet_print_table(ctx, rows, n);
    }
    free(rows);
    ak_status_free(&s);
    return code;
}
