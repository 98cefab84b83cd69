/*
 * akctl_fleet.c - `akctl fleet`: for every fleet-scoped budget, the hosts that hold (or held)
 * a lease this period, as the collector last saw them in Redis, with this host's own lease
 * and spend from the ledger. The figures come from core/status.c and the JSON from
 * core/status_fleet.c, which the dashboard's /api/fleet serves too (akctl never talks to Redis).
 */
#include "tools/akctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define CELL 64

static enum ak_err fleet_row_table(const struct ak_status_fleet_row *r, struct akctl_table *t)
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

static int fleet_print_json(const struct ak_status *s)
{
    cJSON *root = ak_status_fleet_json(s);
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    int code = AKCTL_EXIT_OK;
    if (!text)
        code = akctl_fail("out of memory");
    else
        printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
    return code;
}

static int fleet_print_table(struct akctl *ctx, const struct ak_status_fleet_row *rows, size_t n)
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
    struct ak_status_fleet_row *rows =
        rc == AK_OK ? calloc(s.names.n + s.n_shared + 1, sizeof *rows) : NULL;
    if (rc != AK_OK || !rows)
        code = akctl_fail("fleet: %s", ak_strerror(rc != AK_OK ? rc : AK_ERR_NOMEM));
    else if (!ctx->cfg->fleet.redis_url)
        code = akctl_fail("fleet: no fleet section in the configuration (fleet.redis.url)");
    else if (json)
        code = fleet_print_json(&s);
    else {
        n = ak_status_fleet_rows(&s, rows, s.names.n + s.n_shared);
        code = fleet_print_table(ctx, rows, n);
    }
    free(rows);
    ak_status_free(&s);
    return code;
}
