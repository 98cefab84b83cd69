/*
 * status_fleet.c - the fleet-scoped budgets of a gathered status (core/status.h) as rows and
 * as the JSON of `akctl fleet --json`, which the dashboard's /api/fleet serves too: per budget,
 * this host's lease and spend and every host the collector last saw in Redis.
 */
#include "core/status.h"

#include <stdlib.h>
#include <string.h>

static double usd(int64_t micros)
{
    return (double)micros / (double)AK_MICROS_PER_USD;
}

size_t ak_status_fleet_rows(const struct ak_status *s, struct ak_status_fleet_row *rows, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < s->names.n && n < max; i++)
        if (s->agents[i].fleet.on)
            rows[n++] = (struct ak_status_fleet_row){ "agent", s->agents[i].name,
                                                      &s->agents[i].budget, &s->agents[i].fleet };
    for (size_t i = 0; i < s->n_shared && n < max; i++)
        if (s->shared[i].fleet.on)
            rows[n++] = (struct ak_status_fleet_row){ "shared", s->shared[i].sb->name,
                                                      &s->shared[i].budget, &s->shared[i].fleet };
    return n;
}

static cJSON *fleet_host_json(const struct ak_status_fleet *f, const struct ak_status_fleet_host *h)
{
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    cJSON_AddStringToObject(j, "host", h->host);
    cJSON_AddNumberToObject(j, "leased_usd", usd(h->lease));
    cJSON_AddNumberToObject(j, "spent_usd", usd(h->spent));
    cJSON_AddBoolToObject(j, "alive", h->alive);
    cJSON_AddBoolToObject(j, "this_host", strcmp(h->host, f->host) == 0);
    return j;
}

static cJSON *fleet_row_json(const struct ak_status_fleet_row *r)
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
    cJSON_AddNumberToObject(o, "limit_usd", usd(r->budget->limit_micros));
    cJSON_AddNumberToObject(o, "spent_usd", usd(r->f->spent));
    cJSON_AddNumberToObject(o, "leased_usd", usd(r->f->claimed));
    cJSON_AddNumberToObject(o, "free_usd", usd(r->f->free));
    cJSON_AddBoolToObject(o, "synced", r->f->seen);
    cJSON_AddBoolToObject(o, "redis_down", r->f->local.down);
    for (size_t i = 0; i < r->f->n_hosts; i++) {
        cJSON *j = fleet_host_json(r->f, &r->f->hosts[i]);
        if (!j || !cJSON_AddItemToArray(hosts, j)) {
            cJSON_Delete(j);
            break;
        }
    }
    return o;
}

cJSON *ak_status_fleet_json(const struct ak_status *s)
{
    size_t max = s->names.n + s->n_shared;
    struct ak_status_fleet_row *rows = calloc(max + 1, sizeof *rows);
    cJSON *root = rows ? cJSON_CreateObject() : NULL;
    cJSON *arr = root ? cJSON_AddArrayToObject(root, "budgets") : NULL;
    if (!arr)
        goto fail;
    size_t n = ak_status_fleet_rows(s, rows, max);
    for (size_t i = 0; i < n; i++) {
        cJSON *o = fleet_row_json(&rows[i]);
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            goto fail;
        }
    }
    if (!cJSON_AddStringToObject(root, "host", n ? rows[0].f->host : ""))
        goto fail;
    free(rows);
    return root;
fail:
    free(rows);
    cJSON_Delete(root);
    return NULL;
}
