/*
 * ledger_fleet.c - this host's side of a fleet budget (see "fleet budgets" in ledger.h): the
 * lease fields of the budget record, the check a reservation makes against them, and the
 * small transactions by which akcollector grants, withdraws or marks the lease and the engine
 * asks for more.
 *
 * The lease lives in the budget's own record (the long layout of ledger_impl.h), so a
 * reservation against a fleet budget reads and writes exactly what one against a host budget
 * does: one record, in the call's one transaction. Only the limit it compares with differs.
 */
#include "core/ledger_impl.h"

#include <string.h>

/* ---- the record ---- */

bool ledger_budget_decode(const MDB_val *data, struct ledger_budget_rec *rec)
{
    if (data->mv_size != sizeof *rec && data->mv_size != LEDGER_BUDGET_SHORT_SIZE)
        return false;
    memset(rec, 0, sizeof *rec);
    memcpy(rec, data->mv_data, data->mv_size);
    return rec->version == LEDGER_REC_VERSION;
}

size_t ledger_budget_size(const struct ledger_budget_rec *rec)
{
    bool fleet = rec->fleet_down || rec->leased || rec->lease_until_ms || rec->fleet_free ||
                 rec->want;
    return fleet ? sizeof *rec : LEDGER_BUDGET_SHORT_SIZE;
}

/* ---- the check inside a reservation ---- */

static bool lease_never_synced(const struct ledger_budget_rec *rec)
{
    return rec->lease_until_ms == 0 && !rec->fleet_down;
}

bool ledger_fleet_over(const struct ak_budget_ref *b, size_t i,
                       const struct ledger_budget_rec *rec, const struct ak_reserve *r,
                       struct ak_reserve_result *res)
{
    int64_t need = rec->spent + rec->reserved + r->amount_micros;
    if (b->limit_micros < 0)
        return false;                          /* no limit: counted only */
    if (need > b->limit_micros)
        return true;                           /* more than the whole fleet may spend */
    bool valid = rec->lease_until_ms >= r->now_ms;
    int64_t lease = valid ? rec->leased : 0;   /* an expired lease may be someone else's now */
    if (need <= lease)
        return false;
    bool never = lease_never_synced(rec);
    bool unreachable = rec->fleet_down || (!never && !valid) || (never && r->fleet_final);
    if (unreachable && b->fleet == AK_REF_FLEET_OPEN) {
        if (!res->fleet_open)
            res->fleet_open = (int)i + 1;
        return false;
    }
    res->failed_on_lease = true;
    res->lease_target = need;
    res->leased_micros = lease;
    res->fleet_free_micros = rec->fleet_free;
    res->lease_may_grow = !unreachable && (never || rec->fleet_free >= need - lease);
    return true;
}

/* ---- the collector's and the engine's transactions ---- */

static void local_fill(const struct ak_budget_ref *b, int64_t now_ms,
                       const struct ledger_budget_rec *rec, struct ak_fleet_local *out)
{
    memset(out, 0, sizeof *out);
    ak_period_key(b->type, now_ms, out->period);
    out->spent = rec->spent;
    out->reserved = rec->reserved;
    out->calls = rec->calls;
    out->leased = rec->leased;
    out->lease_until_ms = rec->lease_until_ms;
    out->fleet_free = rec->fleet_free;
    out->want = rec->want;
    out->down = rec->fleet_down != 0;
}

enum fleet_op { FLEET_GET, FLEET_SYNC, FLEET_DOWN, FLEET_SHRINK, FLEET_WANT };

struct fleet_ctx {
    enum fleet_op op;
    const struct ak_budget_ref *b;
    int64_t now_ms, leased, fleet_free, until_ms, want;
    struct ak_fleet_local *out;
};

static void fleet_apply(struct fleet_ctx *c, struct ledger_budget_rec *rec)
{
    switch (c->op) {
    case FLEET_GET:
        break;
    case FLEET_SYNC:
        if (rec->want && (rec->want <= c->want || rec->want <= c->leased))
            rec->want = 0;                     /* considered: granted, or the fleet is short */
        rec->leased = c->leased;
        rec->fleet_free = c->fleet_free;
        rec->lease_until_ms = c->until_ms;
        rec->fleet_down = 0;
        break;
    case FLEET_DOWN:
        rec->fleet_down = 1;
        rec->want = 0;
        break;
    case FLEET_SHRINK:
        rec->leased = rec->spent + rec->reserved;
        rec->want = 0;
        break;
    case FLEET_WANT:
        if (c->want > rec->want)
            rec->want = c->want;
        break;
    }
}

static enum ak_err fleet_fn(struct ak_ledger *l, MDB_txn *txn, void *vctx)
{
    struct fleet_ctx *c = vctx;
    struct ledger_budget_rec rec;
    enum ak_err err = ledger_budget_get_rec(l, txn, c->b, c->now_ms, &rec);
    if (err != AK_OK)
        return err;
    fleet_apply(c, &rec);
    if (c->out)
        local_fill(c->b, c->now_ms, &rec, c->out);
    if (c->op == FLEET_GET)
        return AK_OK;
    rec.type = (uint8_t)c->b->type;
    return ledger_budget_put_rec(l, txn, c->b, c->now_ms, &rec);
}

static enum ak_err fleet_run(struct ak_ledger *l, struct fleet_ctx *c)
{
    if (!c->b || !ledger_budget_refs_ok(c->b, 1))
        return AK_ERR_INVAL;
    return c->op == FLEET_GET ? ledger_read(l, fleet_fn, c) : ledger_write(l, fleet_fn, c);
}

enum ak_err ak_ledger_fleet_get(struct ak_ledger *l, const struct ak_budget_ref *b,
                                int64_t now_ms, struct ak_fleet_local *out)
{
    if (!out)
        return AK_ERR_INVAL;
    struct fleet_ctx c = { .op = FLEET_GET, .b = b, .now_ms = now_ms, .out = out };
    return fleet_run(l, &c);
}

enum ak_err ak_ledger_fleet_sync(struct ak_ledger *l, const struct ak_budget_ref *b,
                                 int64_t now_ms, int64_t leased, int64_t fleet_free,
                                 int64_t until_ms, int64_t want_seen)
{
    if (leased < 0 || fleet_free < 0)
        return AK_ERR_INVAL;
    struct fleet_ctx c = { .op = FLEET_SYNC, .b = b, .now_ms = now_ms, .leased = leased,
                           .fleet_free = fleet_free, .until_ms = until_ms, .want = want_seen };
    return fleet_run(l, &c);
}

enum ak_err ak_ledger_fleet_down(struct ak_ledger *l, const struct ak_budget_ref *b,
                                 int64_t now_ms)
{
    struct fleet_ctx c = { .op = FLEET_DOWN, .b = b, .now_ms = now_ms };
    return fleet_run(l, &c);
}

enum ak_err ak_ledger_fleet_shrink(struct ak_ledger *l, const struct ak_budget_ref *b,
                                   int64_t now_ms, struct ak_fleet_local *kept)
{
    struct ak_fleet_local tmp;
    struct fleet_ctx c = { .op = FLEET_SHRINK, .b = b, .now_ms = now_ms,
                           .out = kept ? kept : &tmp };
    return fleet_run(l, &c);
}

enum ak_err ak_ledger_fleet_want(struct ak_ledger *l, const struct ak_budget_ref *b,
                                 int64_t now_ms, int64_t target)
{
    struct fleet_ctx c = { .op = FLEET_WANT, .b = b, .now_ms = now_ms, .want = target };
    return fleet_run(l, &c);
}
